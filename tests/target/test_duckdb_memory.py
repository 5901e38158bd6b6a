"""DuckDB's memory limit when `duckdb_memory_limit` is unset: small for Parquet files, raised
for records, and a batch that runs out of memory under the small limit is redone under the
large one instead of failing the load (target_dap_sql/duckdb_memory.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb
import pytest
from target_dap_sql.batch_files import BatchFiles, BatchFilesStage
from target_dap_sql.duckdb_memory import FILES_LIMIT, RECORDS_LIMIT, DuckDBMemory
from target_dap_sql.errors import TargetError

from tests.target.harness import Database, messages
from tests.target.parquet_data import write_parquet_file

STREAM = "m-notes"
SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "body": {"type": ["string", "null"]},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
# One row group of 100 MB of text (a few KB of Parquet): DuckDB's reader needs 128 MiB at
# once for it, more than FILES_LIMIT holds (measured: "failed to allocate data of size
# 128.0 MiB").
ROWS, BODY_BYTES = 40, 2_500_000


def wide_batch(folder: Path) -> list[dict[str, Any]]:
    records = [{"id": i, "body": f"{i:02d}" * (BODY_BYTES // 2)} for i in range(ROWS)]
    path = folder / "wide.parquet"
    return [
        {"type": "SCHEMA", "stream": STREAM, "schema": SCHEMA, "key_properties": ["id"]},
        {
            "type": "BATCH",
            "stream": STREAM,
            "encoding": {"format": "parquet", "compression": "none"},
            "manifest": [write_parquet_file(path, records, SCHEMA)],
        },
        {"type": "STATE", "value": {"step": 1}},
    ]


def test_a_batch_beyond_the_parquet_limit_is_redone_with_more_memory(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="target_dap_sql"):
        db.load(messages(*wide_batch(tmp_path)))
    assert f"ran out of memory under {FILES_LIMIT}; redoing the batch" in caplog.text
    assert db.emitted == [{"step": 1}]
    rows = db.rows("m.notes", ["id", "body"])
    assert sorted(row["id"] for row in rows) == list(range(ROWS))
    assert all(row["body"] == f"{row['id']:02d}" * (BODY_BYTES // 2) for row in rows)


def test_a_limit_that_is_set_is_kept(db: Database, tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="Out of Memory") as caught:
        db.load(messages(*wide_batch(tmp_path)), duckdb_memory_limit=FILES_LIMIT)
    assert "m.notes" in str(caught.value) or "m__notes" in str(caught.value)
    assert db.emitted == []


class _Batch(BatchFilesStage):
    def __init__(self, *, records: int = 0, files: tuple[str, ...] = ()) -> None:
        super().__init__(None, delete_batch_files=False)  # type: ignore[arg-type]
        self.lines.extend(range(records))
        for format_ in files:
            self.batches.append(BatchFiles(1, None, (Path("f"),), "none", format_))

    def add(self, line: int, version: int | None, record: Any) -> None:
        raise NotImplementedError


def limit_of(connection: duckdb.DuckDBPyConnection) -> str:
    return str(connection.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])


def test_the_limit_rises_for_records_and_json_files_and_never_falls() -> None:
    memory = DuckDBMemory(None)
    connection = duckdb.connect(":memory:", config={"memory_limit": memory.limit})
    small = limit_of(connection)
    memory.fit(connection, _Batch(files=("parquet", "parquet")))
    assert (memory.limit, limit_of(connection)) == (FILES_LIMIT, small)
    memory.fit(connection, _Batch(files=("parquet", "jsonl")))
    assert memory.limit == RECORDS_LIMIT
    large = limit_of(connection)
    assert large != small
    memory.fit(connection, _Batch(files=("parquet",)))
    assert limit_of(connection) == large
    assert not memory.grow_after(connection, duckdb.OutOfMemoryException("again"))


def test_records_raise_the_limit_of_a_reader_not_open_yet() -> None:
    memory = DuckDBMemory(None)
    memory.fit(None, _Batch(records=3))
    assert memory.limit == RECORDS_LIMIT


def test_only_running_out_of_memory_earns_a_redo() -> None:
    memory = DuckDBMemory(None)
    assert not memory.grow_after(None, duckdb.ConstraintException("Duplicate key"))
    wrapped = TargetError("s.t: failed")
    wrapped.__cause__ = duckdb.OutOfMemoryException("Out of Memory Error")
    assert memory.grow_after(None, wrapped)
    assert memory.limit == RECORDS_LIMIT


def test_a_set_limit_never_moves() -> None:
    memory = DuckDBMemory("96MB")
    memory.fit(None, _Batch(records=3))
    assert not memory.grow_after(None, duckdb.OutOfMemoryException("Out of Memory Error"))
    assert memory.limit == "96MB"
