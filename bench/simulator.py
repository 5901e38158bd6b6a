"""The benchmark's dap-sim: a server in its own process, and jobs produced before timing.

The simulator writes a job's gzip files in worker processes (about 20 thousand rows/s on
2 cores): if each tool waited for that, the benchmark would measure the simulator. So the
harness creates each query's job before the clock starts and waits until its files are
written; the sim answers the same query with the same live job (as DAP does), and every
tool finds its job complete. Job wait is thereby excluded for every tool alike, and the
production time is reported on its own.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import requests
from dap_sim import catalog
from dap_sim.dataset import Dataset
from dap_sim.tables import World
from dap_sim.testing import SimServer, start_sim

# The official client's queries (dap 2.x, replicator/sql_op_init.py and sql_op_sync.py),
# and tap-dap's: the sim keys live jobs by table, format, mode, since and until.
OFFICIAL_QUERY = {"format": "tsv", "mode": "condensed"}
TAP_QUERY = {"format": "jsonl"}
_DELETE = b'"D"'  # in every delete line of a JSONL job (meta.action), and in a few others


@dataclass
class WarmJob:
    query: dict[str, Any]
    seconds: float  # from creation to complete: the simulator's production time
    records: int | None  # lines in its files (counted for JSONL only)
    at: str | None  # a snapshot's `at`
    deleted_ids: list[int] | None = None  # the `id` of each delete line (counted JSONL)


class Simulator:
    """One dap-sim process over one dataset directory."""

    def __init__(self, data_dir: Path, *, scale: int, seed: int, **options: Any) -> None:
        self.sim: SimServer = start_sim(
            data_dir, scale=scale, seed=seed, in_subprocess=True, **options
        )
        self._session = requests.Session()
        self._token_expires = 0.0

    @property
    def base_url(self) -> str:
        return str(self.sim.base_url)

    def tap_config(self, **extra: Any) -> dict[str, Any]:
        return {
            "base_url": self.sim.base_url,
            "client_id": self.sim.client_id,
            "client_secret": self.sim.client_secret,
            **extra,
        }

    def official_env(self) -> dict[str, str]:
        return {
            "DAP_API_URL": self.sim.base_url,
            "DAP_CLIENT_ID": self.sim.client_id,
            "DAP_CLIENT_SECRET": self.sim.client_secret,
            "DAP_TRACKING": "false",
        }

    def rate_limited(self) -> int:
        """HTTP 429 answers sent so far."""
        return int(self.sim.stats()["rate_limited"])

    def advance(self, churn: list[str]) -> None:
        self.sim.advance(schema_changes=[], churn=churn)

    # -- jobs produced ahead of the clock ----------------------------------------------------

    def _authorize(self) -> None:
        if time.time() < self._token_expires:
            return
        answer = self._session.post(
            f"{self.base_url}/ids/auth/login",
            auth=(self.sim.client_id, self.sim.client_secret),
            data={"grant_type": "client_credentials"},
            timeout=60,
        )
        answer.raise_for_status()
        body = answer.json()
        self._session.headers["Authorization"] = f"Bearer {body['access_token']}"
        self._token_expires = time.time() + float(body.get("expires_in", 3600)) / 2

    def _api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self._authorize()
        answer = self._session.request(method, f"{self.base_url}{path}", timeout=600, **kwargs)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def warm(self, table: str, query: dict[str, Any], *, count: bool) -> WarmJob:
        """Create the job for ``query`` on canvas.``table`` and wait until its files exist."""
        start = time.perf_counter()
        job = self._api("POST", f"/dap/query/canvas/table/{table}/data", json=query)
        while job["status"] not in ("complete", "failed"):
            time.sleep(0.2)
            job = self._api("GET", f"/dap/job/{job['id']}")
        if job["status"] == "failed":
            raise RuntimeError(f"dap-sim job for canvas.{table} {query} failed: {job['error']}")
        seconds = time.perf_counter() - start
        if not count:
            return WarmJob(query, seconds, None, job.get("at"))
        records, deleted_ids = self._count_lines(job)
        return WarmJob(query, seconds, records, job.get("at"), deleted_ids)

    def _count_lines(self, job: dict[str, Any]) -> tuple[int, list[int]]:
        """Lines of a JSONL job's files, and the key `id` of its deletes."""
        object_ids = [item["id"] for item in job["objects"]]
        urls = self._api("POST", "/dap/object/url", json=[{"id": i} for i in object_ids])["urls"]
        lines = 0
        deleted_ids: list[int] = []
        for object_id in object_ids:
            with self._session.get(urls[object_id]["url"], stream=True, timeout=600) as answer:
                answer.raise_for_status()
                with gzip.GzipFile(fileobj=answer.raw) as text:
                    for line in text:
                        lines += 1
                        if _DELETE in line:  # parsed only then: snapshots have none
                            record = orjson.loads(line)
                            if (record.get("meta") or {}).get("action") == "D":
                                deleted_ids.append(record["key"]["id"])
        return lines, deleted_ids

    def close(self) -> None:
        self._session.close()
        self.sim.close()
        shutil.rmtree(self.sim.data_dir / "jobs", ignore_errors=True)


def advance(data_dir: Path) -> list[str]:
    """`dap-sim advance --data DIR` with no option: one epoch of the simulator's own
    inserts, updates and deletes in every table (the seed decides on a schema change, as
    DAP's refreshes sometimes bring one); returns what it printed (the epoch, any bump)."""
    command = [str(Path(sys.executable).parent / "dap-sim"), "advance", "--data", str(data_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    return done.stdout.splitlines()


def changed_rows(data_dir: Path, namespace: str = "canvas") -> int:
    """Rows in the increment from the previous epoch to the current one, over every table
    of ``namespace``: the lines of the incremental jobs a refresh downloads, computed from
    the dataset as the simulator computes them (untimed)."""
    dataset = Dataset.load(data_dir)
    world = World(dataset)
    epoch = dataset.epoch
    since, until = dataset.clock_ms(epoch - 1), dataset.clock_ms(epoch)
    return sum(
        sum(1 for _ in world.table(namespace, table).changes(epoch, since, until))
        for table in catalog.table_names(namespace)
    )
