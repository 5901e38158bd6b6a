"""The shared fixture starts a working simulator (what the tap and target tests rely on)."""

from __future__ import annotations

from dap_sim.testing import SimServer
from sim_client import DapClient, apply


def test_fixture_serves_a_snapshot_equal_to_the_dump(dap_sim: SimServer) -> None:
    client = DapClient(dap_sim.base_url, dap_sim.client_id, dap_sim.client_secret)
    job, lines = client.records("canvas", "accounts", {})
    state: dict[int, dict[str, object]] = {}
    apply(state, lines, "id")
    assert [state[k] for k in sorted(state)] == dap_sim.dump("canvas", "accounts")
    assert job["schema_version"] == 1
    assert dap_sim.stats()["requests"]["create_job"] == 1
