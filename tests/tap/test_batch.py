"""BATCH mode (the SDK's standard `batch_config`): one batch file per DAP file, holding
exactly the records RECORD mode emits, with the same STATE after each file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dap_sim.testing import SimServer
from tap_harness import TAP, Replica, batch_config, final_records_equal_truth, run_tap, sim_config

STREAMS = ["canvas-accounts", "canvas-submissions"]


def without_table_version(value: Any) -> Any:
    """A STATE value without the table versions (a snapshot's is the time it started)."""
    if isinstance(value, dict):
        return {k: without_table_version(v) for k, v in value.items() if k != "table_version"}
    return value


def states(run: Any) -> list[Any]:
    return [without_table_version(m["value"]) for m in run.of_type("STATE")]


@pytest.fixture
def sim(dap_sim_factory: Callable[..., SimServer]) -> SimServer:
    return dap_sim_factory(rows_per_file=300)  # several files per table


def test_batch_files_hold_the_record_mode_records_with_the_same_states(
    sim: SimServer, tmp_path: Path
) -> None:
    config = sim_config(sim, tables=["accounts", "submissions"])
    records = run_tap(tmp_path / "record", config)
    root = tmp_path / "batches"
    batches = run_tap(
        tmp_path / "batch", {**config, "batch_config": batch_config(root, prefix="run1-")}
    )
    assert not batches.of_type("RECORD")
    assert states(batches) == states(records)
    for stream in STREAMS:
        assert batches.records(stream) == records.records(stream)
        assert batches.of_type("SCHEMA", stream) == records.of_type("SCHEMA", stream)
        messages = batches.of_type("BATCH", stream)
        counted = [
            m["value"]["bookmarks"][stream]["job"]["files_emitted"]
            for m in batches.of_type("STATE")
            if "job" in m["value"]["bookmarks"].get(stream, {})
        ]
        assert len(messages) == max(counted)  # one BATCH per file
        (activate,) = batches.of_type("ACTIVATE_VERSION", stream)
        for index, message in enumerate(messages):
            assert message["encoding"] == {"format": "jsonl", "compression": "gzip"}
            assert message["version"] == activate["version"]  # the snapshot's table version
            (url,) = message["manifest"]
            assert url.startswith(f"{root.as_uri()}/run1-{stream}--")
            assert url.endswith(f"-{index:05d}.jsonl.gz")
        own = [m["type"] for m in batches.messages if m.get("stream") == stream]
        assert own == ["SCHEMA"] + ["BATCH"] * len(messages) + ["ACTIVATE_VERSION"]
        # the STATE right after each BATCH counts its file
        after = [
            batches.messages[i + 1]["value"]["bookmarks"][stream]["job"]["files_emitted"]
            for i, m in enumerate(batches.messages)
            if m["type"] == "BATCH" and m["stream"] == stream
        ]
        assert after == list(range(1, len(messages) + 1))
    assert len(batches.of_type("BATCH", "canvas-submissions")) > 1
    assert not list(root.glob("*.part"))


def test_deletes_and_increments_go_out_uncompressed_when_asked(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = dap_sim_factory(scale=40_000, rows_per_file=2_000)  # an epoch deletes rows
    config = sim_config(sim, tables=["submissions"])
    batch = {**config, "batch_config": batch_config(tmp_path / "b", compression="none")}
    first = run_tap(tmp_path / "0", batch)
    sim.advance(schema_changes=[])
    increment = run_tap(tmp_path / "1", batch, state=first.state)
    as_records = run_tap(tmp_path / "1r", config, state=first.state)
    stream = "canvas-submissions"
    assert increment.records(stream) == as_records.records(stream)
    deletes = [r for r in increment.records(stream) if r["_sdc_deleted_at"] is not None]
    assert deletes
    for record in deletes:
        assert set(record) == {"id", "_dap_ts", "_sdc_deleted_at"}
        assert record["_sdc_deleted_at"] == record["_dap_ts"]
    for message in increment.of_type("BATCH", stream):
        assert message["encoding"]["compression"] == "none"
        assert message["manifest"][0].endswith(".jsonl")
        # an increment carries the table version of the snapshot before it, as RECORDs do
        assert message["version"] == first.bookmark(stream)["table_version"]
    assert not increment.of_type("ACTIVATE_VERSION")
    replica = Replica().apply(first).apply(increment)
    final_records_equal_truth(replica, sim, stream)


@pytest.mark.parametrize(
    ("batch", "complaint"),
    [
        (
            {"encoding": {"format": "parquet"}, "storage": {"root": "file:///tmp"}},
            "'parquet' is not one of ['jsonl'] in config['batch_config']['encoding']['format']",
        ),
        (
            {"encoding": {"format": "jsonl"}, "storage": {"root": "s3://bucket/dap"}},
            "only local file:// roots are supported",
        ),
        ({"encoding": {"format": "jsonl"}}, "batch_config.storage.root is not set"),
    ],
)
def test_an_unsupported_batch_config_is_one_clear_line(
    dap_sim: SimServer, tmp_path: Path, batch: dict[str, Any], complaint: str
) -> None:
    config = sim_config(dap_sim, tables=["accounts"], batch_config=batch)
    run = run_tap(tmp_path, config, check=False)
    assert run.returncode == 1
    assert complaint in run.stderr
    assert "Traceback" not in run.stderr


def test_about_lists_batch_config_and_the_batch_capability() -> None:
    done = subprocess.run([TAP, "--about", "--format", "json"], capture_output=True, check=True)
    about = json.loads(done.stdout)
    assert "batch" in about["capabilities"]
    batch = about["settings"]["properties"]["batch_config"]["properties"]
    assert set(batch) == {"encoding", "storage"}
