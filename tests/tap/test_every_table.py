"""For every table of both namespaces: the snapshot at epoch 0 plus the increments of two
`advance` epochs, applied by key, equals `dap-sim dump` of the final epoch; with RECORD
messages, and with Parquet BATCH files (every DAP column shape typed by Arrow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dap_sim.testing import SimServer
from tap_harness import Replica, batch_config, final_records_equal_truth, run_tap, sim_config


@pytest.mark.parametrize("mode", ["record", "parquet"])
def test_snapshot_plus_two_increments_equals_the_truth_for_every_table(
    dap_sim: SimServer, tmp_path: Path, mode: str
) -> None:
    settings: dict[str, Any] = {}
    if mode == "parquet":
        settings["batch_config"] = batch_config(tmp_path / "b", file_format="parquet")
    config = sim_config(dap_sim, namespace=["canvas", "canvas_logs"], **settings)
    snapshot = run_tap(tmp_path / "0", config)
    streams = snapshot.streams()
    assert len(streams) == 91
    assert "canvas_logs-web_logs" in streams
    replica = Replica().apply(snapshot)
    state = snapshot.state
    for epoch in (1, 2):
        dap_sim.advance()
        increment = run_tap(tmp_path / str(epoch), config, state=state)
        assert not increment.of_type("ACTIVATE_VERSION")
        if mode == "parquet":  # no stream fell back to JSONL
            formats = {m["encoding"]["format"] for m in increment.of_type("BATCH")}
            assert formats == {"parquet"}
        replica.apply(increment)
        state = increment.state
    for stream in streams:
        final_records_equal_truth(replica, dap_sim, stream)
        assert "job" not in state["bookmarks"][stream]
