"""BATCH mode (the SDK's standard `batch_config`): one batch file per DAP file, JSONL or
Parquet, holding exactly the records RECORD mode emits, with the same STATE after each
file."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dap_sim.testing import SimServer
from singer_sdk import BatchSink, Target
from singer_sdk import typing as th
from tap_harness import (
    TAP,
    Replica,
    batch_config,
    discover,
    final_records_equal_truth,
    run_tap,
    select,
    sim_config,
    typed_record,
)

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


#: (format, compression) -> the file name suffix, the SDK's own for each
SUFFIXES = {
    ("jsonl", "gzip"): ".jsonl.gz",
    ("parquet", "gzip"): ".parquet.gz",
    ("parquet", "none"): ".parquet",
}


@pytest.mark.parametrize(("file_format", "compression"), list(SUFFIXES))
def test_batch_files_hold_the_record_mode_records_with_the_same_states(
    sim: SimServer, tmp_path: Path, file_format: str, compression: str
) -> None:
    config = sim_config(sim, tables=["accounts", "submissions"])
    records = run_tap(tmp_path / "record", config)
    root = tmp_path / "batches"
    settings = batch_config(root, compression, prefix="run1-", file_format=file_format)
    batches = run_tap(tmp_path / "batch", {**config, "batch_config": settings})
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
            assert message["encoding"] == {"format": file_format, "compression": compression}
            assert message["version"] == activate["version"]  # the snapshot's table version
            (url,) = message["manifest"]
            assert url.startswith(f"{root.as_uri()}/run1-{stream}--")
            assert url.endswith(f"-{index:05d}{SUFFIXES[file_format, compression]}")
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


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_deletes_and_increments_go_out_uncompressed_when_asked(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path, file_format: str
) -> None:
    sim = dap_sim_factory(scale=40_000, rows_per_file=2_000)  # an epoch deletes rows
    config = sim_config(sim, tables=["submissions"])
    settings = batch_config(tmp_path / "b", compression="none", file_format=file_format)
    batch = {**config, "batch_config": settings}
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
        assert message["manifest"][0].endswith(f".{file_format}")
        # an increment carries the table version of the snapshot before it, as RECORDs do
        assert message["version"] == first.bookmark(stream)["table_version"]
    assert not increment.of_type("ACTIVATE_VERSION")
    replica = Replica().apply(first).apply(increment)
    final_records_equal_truth(replica, sim, stream)


@pytest.mark.parametrize(
    ("batch", "complaint"),
    [
        (
            {"encoding": {"format": "avro"}, "storage": {"root": "file:///tmp"}},
            "'avro' is not one of ['jsonl', 'parquet'] in "
            "config['batch_config']['encoding']['format']",
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


def test_batch_messages_false_sends_records_whatever_batch_config_says(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    """meltano.yml's tap-dap--records: a batch_config it inherits, and RECORD messages."""
    config = sim_config(dap_sim, tables=["accounts"])
    root = tmp_path / "batches"
    batch = batch_config(root, "none", prefix="x-", file_format="parquet")
    records = run_tap(tmp_path / "record", config)
    run = run_tap(tmp_path / "off", {**config, "batch_config": batch, "batch_messages": False})
    assert not run.of_type("BATCH")
    assert run.records("canvas-accounts") == records.records("canvas-accounts")
    assert not root.exists() or not list(root.iterdir())


def test_about_lists_batch_config_and_the_batch_capability() -> None:
    done = subprocess.run([TAP, "--about", "--format", "json"], capture_output=True, check=True)
    about = json.loads(done.stdout)
    assert "batch" in about["capabilities"]
    batch = about["settings"]["properties"]["batch_config"]["properties"]
    assert set(batch) == {"encoding", "storage"}


#: Columns of DAP tables and the Parquet type each gets from its Singer schema
ARROW_TYPES: dict[str, dict[str, pa.DataType]] = {
    "canvas-submissions": {
        "id": pa.int64(),
        "attempt": pa.int32(),
        "score": pa.float64(),
        "points_deducted": pa.decimal128(38, 2),  # multipleOf 0.01
        "excused": pa.bool_(),
        "submitted_at": pa.timestamp("us", tz="UTC"),
        "workflow_state": pa.string(),  # an enum
        "resource_link_lookup_uuid": pa.string(),
        "_dap_ts": pa.timestamp("us", tz="UTC"),
        "_sdc_deleted_at": pa.timestamp("us", tz="UTC"),
        "_sdc_table_version": pa.int64(),
    },
    "canvas-assignment_groups": {
        "rules": pa.struct(
            [
                ("drop_highest", pa.int32()),
                ("drop_lowest", pa.int32()),
                ("never_drop", pa.list_(pa.int32())),
            ]
        ),
    },
    "canvas-calendar_events": {"all_day_date": pa.date32()},
    "canvas-learning_outcomes": {"calculation_int": pa.int16()},
    "canvas_logs-web_logs": {"remote_ip": pa.string(), "http_status": pa.int64()},
}


def test_parquet_columns_are_the_record_properties_typed_by_the_schema(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    tables = ["submissions", "assignment_groups", "calendar_events", "learning_outcomes"]
    tables.append("canvas_logs.web_logs")
    settings = batch_config(tmp_path / "b", "none", file_format="parquet")
    config = sim_config(
        dap_sim, namespace=["canvas", "canvas_logs"], tables=tables, batch_config=settings
    )
    run = run_tap(tmp_path, config)
    for stream, expected in ARROW_TYPES.items():
        (schema_message,) = run.of_type("SCHEMA", stream)
        properties = list(schema_message["schema"]["properties"])
        message = run.of_type("BATCH", stream)[0]
        parquet = pq.ParquetFile(message["manifest"][0].removeprefix("file://"))
        arrow = parquet.schema_arrow
        assert arrow.names == [*properties, "_sdc_table_version"]
        assert {name: arrow.field(name).type for name in expected} == expected
        keys = schema_message["key_properties"]
        assert [f.name for f in arrow if not f.nullable] == [*keys, "_dap_ts"]
        codecs = {parquet.metadata.row_group(0).column(i).compression for i in range(len(arrow))}
        assert codecs == {"SNAPPY"}  # pyarrow's default, which the SDK writes for `none`
    assert run.records("canvas-calendar_events")  # typed values came back (tap_harness)


def test_a_singer_sdk_target_reads_the_parquet_files(sim: SimServer, tmp_path: Path) -> None:
    """The SDK's own BATCH reader (what MeltanoLabs' targets inherit) gets the records that
    RECORD mode sends, each with the table version in `_sdc_table_version`."""
    config = sim_config(sim, tables=["accounts", "submissions"])
    records = run_tap(tmp_path / "record", config)
    settings = batch_config(tmp_path / "b", "gzip", file_format="parquet")
    batches = run_tap(tmp_path / "batch", {**config, "batch_config": settings})
    received: dict[str, list[dict[str, Any]]] = defaultdict(list)

    class CollectingSink(BatchSink):
        def process_batch(self, context: dict[str, Any]) -> None:
            received[self.stream_name] += context["records"]

    class CollectingTarget(Target):
        name = "target-collecting"
        config_jsonschema = th.PropertiesList().to_dict()
        default_sink_class = CollectingSink

    lines = "\n".join(json.dumps(message) for message in batches.messages) + "\n"
    CollectingTarget(config={}).listen(file_input=io.StringIO(lines))
    for stream in STREAMS:
        (schema,) = batches.of_type("SCHEMA", stream)
        (activate,) = batches.of_type("ACTIVATE_VERSION", stream)
        assert {row.pop("_sdc_table_version") for row in received[stream]} == {activate["version"]}
        got = [typed_record(row, schema["schema"]) for row in received[stream]]
        assert got == records.records(stream)


def test_a_column_without_a_parquet_type_leaves_its_stream_in_jsonl(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    """An object open to undeclared members has no Arrow type: that stream's files are
    JSONL (which every BATCH target reads too), the others' Parquet."""
    settings = batch_config(tmp_path / "b", "gzip", file_format="parquet")
    config = sim_config(dap_sim, batch_config=settings)
    catalog = select(discover(tmp_path, config), ["canvas-courses", "canvas-accounts"])
    (courses,) = [e for e in catalog["streams"] if e["tap_stream_id"] == "canvas-courses"]
    courses["schema"]["properties"]["settings"] = {"type": ["object", "null"]}
    run = run_tap(tmp_path, config, catalog=catalog)
    assert "canvas-courses: column(s) settings have no Parquet type" in run.stderr
    assert {m["encoding"]["format"] for m in run.of_type("BATCH", "canvas-courses")} == {"jsonl"}
    assert {m["encoding"]["format"] for m in run.of_type("BATCH", "canvas-accounts")} == {"parquet"}
    replica = Replica().apply(run)
    for stream in ("canvas-courses", "canvas-accounts"):
        final_records_equal_truth(replica, dap_sim, stream)


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_a_broken_dap_file_fails_its_table_naming_file_and_line(
    sim: SimServer, tmp_path: Path, file_format: str
) -> None:
    """A DAP file with a line that is not JSON: the table fails at that file, after the
    files before it, naming the file and the line, and leaves no batch file of it; the
    other tables are emitted in full. The same in both encodings."""
    root = tmp_path / "b"
    settings = batch_config(root, "gzip", file_format=file_format)
    config = sim_config(sim, tables=["accounts", "submissions"], batch_config=settings)
    first = run_tap(tmp_path / "0", config)
    (job_id,) = {
        m["value"]["bookmarks"]["canvas-submissions"]["job"]["id"]
        for m in first.of_type("STATE")
        if "job" in m["value"]["bookmarks"].get("canvas-submissions", {})
    }
    files = sorted((sim.data_dir / "jobs" / job_id).iterdir())
    lines = gzip.decompress(files[1].read_bytes()).splitlines(keepends=True)
    lines[4] = b'{"key": {"id": 1}, "value": {"score": 1.5\n'  # cut short: not JSON
    files[1].write_bytes(gzip.compress(b"".join(lines)))
    for path in root.iterdir():
        path.unlink()
    run = run_tap(tmp_path / "1", config, check=False)  # the same live job, now broken
    assert run.returncode == 1
    assert f"canvas-submissions: job {job_id}, file 2 of {len(files)} (object " in run.stderr
    assert "), line 5: not a DAP record" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.of_type("BATCH", "canvas-submissions")) == 1  # the file before it
    assert run.bookmark("canvas-submissions")["job"]["files_emitted"] == 1
    # nothing of the broken file (files after it, written ahead, get no BATCH message)
    written = [path.name for path in root.iterdir() if "submissions" in path.name]
    assert not [name for name in written if "-00001" in name or name.endswith(".part")]
    final_records_equal_truth(Replica().apply(run), sim, "canvas-accounts")
