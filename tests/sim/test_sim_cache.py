"""`dap-sim serve --cache-dir`: a second server over the same dataset serves cached files.

The benchmark restarts the simulator over a 1-million-row table; producing its files takes
minutes, so they are kept in a cache keyed by everything that decides their bytes.
"""

from __future__ import annotations

from pathlib import Path

from dap_sim.testing import SimServer, start_sim
from sim_client import DapClient


def _client(sim: SimServer) -> DapClient:
    return DapClient(sim.base_url, sim.client_id, sim.client_secret)


def _snapshot_bytes(client: DapClient, table: str) -> list[bytes]:
    return client.query("canvas", table, {"format": "jsonl"})[1]


def test_a_second_server_serves_the_cached_files(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    options = {"job_latency": 0.0, "rate_limit_factor": 0.0, "rows_per_file": 1000}
    with start_sim(tmp_path / "a", scale=3000, cache_dir=str(cache), **options) as first:
        produced = _snapshot_bytes(_client(first), "submissions")
        assert first.stats()["production_cache_hits"] == 0
    assert len(produced) == 3  # 3000 rows in files of 1000
    with start_sim(tmp_path / "b", scale=3000, cache_dir=str(cache), **options) as second:
        client = _client(second)
        assert _snapshot_bytes(client, "submissions") == produced
        assert second.stats()["production_cache_hits"] == 1
        # another query (here another format) is produced, not taken from the cache
        client.query("canvas", "submissions", {"format": "tsv"})
        assert second.stats()["production_cache_hits"] == 1
        second.advance(schema_changes=[], churn=["submissions:0.1:0"])
        changed = _snapshot_bytes(client, "submissions")
        assert second.stats()["production_cache_hits"] == 1  # a new epoch: a new key
        assert changed != produced
