"""`make demo`: the main job offline. For now: a demo dataset, dap-sim, and its table list.

It will grow into the whole pipeline (dap-sim -> tap-dap -> target-dap-sql into DuckDB).
"""

from __future__ import annotations

import sys
from pathlib import Path

import requests
from tap_dap.sim.sizing import DEFAULT_SCALE
from tap_dap.sim.testing import ensure_dataset, start_sim

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"


def main() -> int:
    print(f"==> dataset: {DEMO_DIR} (dap-sim generate, default seed and scale)")
    ensure_dataset(DEMO_DIR, scale=DEFAULT_SCALE)
    with start_sim(DEMO_DIR, job_latency=0.0) as sim:
        print(f"==> dap-sim serving at {sim.base_url} (client id {sim.client_id})")
        session = requests.Session()
        login = session.post(
            f"{sim.base_url}/ids/auth/login",
            auth=(sim.client_id, sim.client_secret),
            data={"grant_type": "client_credentials"},
            timeout=30,
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for namespace in ("canvas", "canvas_logs"):
            response = session.get(
                f"{sim.base_url}/dap/query/{namespace}/table", headers=headers, timeout=30
            )
            response.raise_for_status()
            tables = response.json()["tables"]
            print(f"==> {namespace}: {len(tables)} tables")
            print("    " + ", ".join(tables))
    print("==> dap-sim stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
