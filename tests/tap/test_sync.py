"""Snapshots, increments, deletes, schema versions and state chaining against dap-sim."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dap_sim.testing import SimServer
from tap_harness import Replica, discover, final_records_equal_truth, run_tap, sim_config

TABLES = ["accounts", "courses", "submissions", "enrollment_states"]
STREAMS = [f"canvas-{table}" for table in TABLES]


def test_snapshot_emits_every_row_then_activates_the_version(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, sim_config(dap_sim, tables=TABLES))
    assert run.streams() == sorted(STREAMS)  # the SDK syncs streams in name order
    replica = Replica().apply(run)
    for stream in STREAMS:
        final_records_equal_truth(replica, dap_sim, stream)
        kinds = [m["type"] for m in run.messages if m.get("stream") in (stream, None)]
        # SCHEMA first; ACTIVATE_VERSION after the stream's last record
        own = [m["type"] for m in run.messages if m.get("stream") == stream]
        assert own[0] == "SCHEMA"
        assert own[-1] == "ACTIVATE_VERSION"
        assert "RECORD" in kinds
        versions = {m["version"] for m in run.of_type("RECORD", stream)}
        (activated,) = [m["version"] for m in run.of_type("ACTIVATE_VERSION", stream)]
        assert versions == {activated}
        bookmark = run.bookmark(stream)
        assert bookmark["replication_key"] == "_dap_ts"
        assert bookmark["replication_key_value"].endswith("Z")
        assert bookmark["schema_version"] >= 1
        assert bookmark["table_version"] == activated
        assert "job" not in bookmark
    # the key of enrollment_states is enrollment_id, not id
    (schema,) = run.of_type("SCHEMA", "canvas-enrollment_states")
    assert schema["key_properties"] == ["enrollment_id"]


def test_a_state_is_emitted_after_each_file_with_the_files_counted(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = dap_sim_factory(rows_per_file=500)
    run = run_tap(tmp_path, sim_config(sim, tables=["submissions"]))
    stream = "canvas-submissions"
    positions = [i for i, m in enumerate(run.messages) if m["type"] == "STATE"]
    progress = [
        run.messages[i]["value"]["bookmarks"][stream].get("job", {}).get("files_emitted")
        for i in positions
    ]
    counted = [n for n in progress if n is not None]
    assert len(counted) >= 4, progress
    assert counted == sorted(counted)
    assert counted[-1] == counted[0] + len(counted) - 1
    # the bookmark only moves at the end
    values = [
        run.messages[i]["value"]["bookmarks"][stream].get("replication_key_value")
        for i in positions
    ]
    assert values[:-1] == [None] * (len(values) - 1)
    assert values[-1] is not None


def test_increments_chain_and_bring_updates_deletes_and_schema_changes(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path, emit_mode: dict[str, Any]
) -> None:
    dap_sim = dap_sim_factory(scale=40_000)  # big enough for an epoch to delete rows
    config = sim_config(dap_sim, tables=TABLES, **emit_mode)
    first = run_tap(tmp_path / "0", config)
    replica = Replica().apply(first)
    state: dict[str, Any] = first.state
    dap_sim.advance(schema_changes=["canvas.submissions:add_column"])
    second = run_tap(tmp_path / "1", config, state=state)
    replica.apply(second)
    for stream in STREAMS:
        final_records_equal_truth(replica, dap_sim, stream)
        old, new = first.bookmark(stream), second.bookmark(stream)
        assert new["replication_key_value"] > old["replication_key_value"]
        assert new["table_version"] == old["table_version"]  # increments keep the version
        assert not second.of_type("ACTIVATE_VERSION", stream)
    assert second.bookmark("canvas-submissions")["schema_version"] == (
        first.bookmark("canvas-submissions")["schema_version"] + 1
    )
    deletes = [r for s in STREAMS for r in second.records(s) if r["_sdc_deleted_at"] is not None]
    assert deletes, "the epoch should have deleted some rows"
    for record in deletes:
        assert set(record) - {"_dap_ts", "_sdc_deleted_at"} <= {"id", "enrollment_id"}
        assert record["_sdc_deleted_at"] == record["_dap_ts"]
    # the run without a catalog discovered the new schema: its SCHEMA has the new column
    (schema,) = second.of_type("SCHEMA", "canvas-submissions")
    (before,) = first.of_type("SCHEMA", "canvas-submissions")
    assert set(schema["schema"]["properties"]) > set(before["schema"]["properties"])
    dap_sim.advance(schema_changes=[])
    third = run_tap(tmp_path / "2", config, state=second.state)
    replica.apply(third)
    for stream in STREAMS:
        final_records_equal_truth(replica, dap_sim, stream)


def test_a_new_required_column_comes_with_its_default_and_not_null(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    config = sim_config(dap_sim, tables=["submissions"])
    first = run_tap(tmp_path / "0", config)
    replica = Replica().apply(first)
    dap_sim.advance(
        schema_changes=[
            "canvas.submissions:add_required_column:integer",
            "canvas.submissions:add_required_column:enum",
        ]
    )
    second = run_tap(tmp_path / "1", config, state=first.state)
    (schema,) = second.of_type("SCHEMA", "canvas-submissions")
    properties = schema["schema"]["properties"]
    assert properties["retention_days"] == {
        "type": "integer",
        "format": "int32",
        "default": 365,
        "description": "Added by schema evolution (retention_days).",
    }
    assert properties["delivery_mode"]["type"] == "string"
    assert properties["delivery_mode"]["default"] == "on_campus"
    records = second.records("canvas-submissions")
    upserts = [r for r in records if r["_sdc_deleted_at"] is None]
    assert upserts
    assert all(r["delivery_mode"] is not None for r in upserts)
    # a replica that adds the columns with their defaults equals the truth
    replica.apply(second)
    final_records_equal_truth(replica, dap_sim, "canvas-submissions")


def test_an_increment_without_changes_still_moves_the_bookmark(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    config = sim_config(dap_sim, tables=["accounts"])
    first = run_tap(tmp_path / "0", config)
    dap_sim.advance(schema_changes=[])
    second = run_tap(tmp_path / "1", config, state=first.state)
    third = run_tap(tmp_path / "2", config, state=second.state)
    assert third.records("canvas-accounts") == []
    assert (
        third.bookmark("canvas-accounts")["replication_key_value"]
        >= second.bookmark("canvas-accounts")["replication_key_value"]
        > first.bookmark("canvas-accounts")["replication_key_value"]
    )


def test_a_stale_catalog_gets_the_new_schema_before_records_of_the_new_shape(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    config = sim_config(dap_sim, tables=["submissions"])
    catalog = discover(tmp_path, config)  # at schema version 1, and kept as Meltano would
    first = run_tap(tmp_path / "0", config, catalog=catalog)
    replica = Replica().apply(first)
    changed = dap_sim.advance(schema_changes=["canvas.submissions:add_column"])
    second = run_tap(tmp_path / "1", config, catalog=catalog, state=first.state)
    stream = "canvas-submissions"
    kinds = [m["type"] for m in second.messages if m.get("stream") == stream]
    assert kinds[:2] == ["SCHEMA", "SCHEMA"], kinds[:3]  # the catalog's, then the new one
    old, new = (m["schema"]["properties"] for m in second.of_type("SCHEMA", stream))
    assert set(new) - set(old), f"no new column after {changed}"
    assert second.bookmark(stream)["schema_version"] == first.bookmark(stream)["schema_version"] + 1
    replica.apply(second)
    final_records_equal_truth(replica, dap_sim, stream)
    # the next run starts with the stale catalog's SCHEMA again: the new one follows it
    third = run_tap(tmp_path / "2", config, catalog=catalog, state=second.state)
    assert [m["schema"]["properties"] for m in third.of_type("SCHEMA", stream)] == [old, new]
