"""Parquet BATCH files that are not what the stream says: a clear error naming the file
(and the column, and the record where one value is at fault), and nothing of that file
committed, while the files before it stay loaded."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from target_dap_sql.errors import TargetError

from tests.target.harness import Database, messages
from tests.target.test_batch import as_batch, schema_message, snapshot, state

STREAM = "s-submissions"


def load_after_a_good_file(db: Database, folder: Path, bad: Path) -> TargetError:
    """Load a good BATCH (10 rows, then a STATE), then one naming ``bad``: the error."""
    good = as_batch(STREAM, snapshot(range(10), seed=1), 1, folder, gzipped=False, parquet=True)
    broken = {**good, "manifest": [bad.as_uri()]}
    with pytest.raises(TargetError) as caught:
        db.load(messages(schema_message(STREAM), good, state(1), broken, state(2)))
    assert db.emitted == [{"step": 1}]  # the bookmark stops before the bad file
    assert sorted(row["id"] for row in db.rows("s.submissions", ["id"])) == list(range(10))
    return caught.value


def write(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


@pytest.fixture
def valid_file(tmp_path: Path) -> Path:
    """A Parquet file of 5 other rows, as tap-dap would write it."""
    folder = tmp_path / "valid"
    folder.mkdir()
    batch = as_batch(
        STREAM, snapshot(range(20, 25), seed=2), 1, folder, gzipped=False, files=1, parquet=True
    )
    return Path(batch["manifest"][0].removeprefix("file://"))


def test_a_file_that_is_not_parquet(db: Database, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.parquet"
    bad.write_bytes(b'{"id": 1}\n' * 100)
    error = load_after_a_good_file(db, tmp_path, bad)
    assert "garbage.parquet" in str(error)
    assert "not a readable Parquet file" in str(error)


def test_a_truncated_file(db: Database, tmp_path: Path, valid_file: Path) -> None:
    bad = tmp_path / "truncated.parquet"
    data = valid_file.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    error = load_after_a_good_file(db, tmp_path, bad)
    assert "truncated.parquet" in str(error)
    assert "not a readable Parquet file" in str(error)


def test_a_file_without_a_column_of_the_schema(
    db: Database, tmp_path: Path, valid_file: Path
) -> None:
    bad = write(tmp_path / "no-attempt.parquet", pq.read_table(valid_file).drop(["attempt"]))
    error = load_after_a_good_file(db, tmp_path, bad)
    assert "no-attempt.parquet" in str(error)
    assert "the file has no column 'attempt'" in str(error)


def test_a_column_of_a_type_that_cannot_hold_its_values(
    db: Database, tmp_path: Path, valid_file: Path
) -> None:
    table = pq.read_table(valid_file)
    index = table.schema.get_field_index("attempt")
    as_text = pa.array([str(v) for v in table.column(index).to_pylist()], pa.string())
    bad = write(tmp_path / "text-attempt.parquet", table.set_column(index, "attempt", as_text))
    error = load_after_a_good_file(db, tmp_path, bad)
    assert "text-attempt.parquet" in str(error)
    assert "column 'attempt'" in str(error)
    assert "holds VARCHAR" in str(error)


def test_a_value_too_large_for_its_column_names_the_record(
    db: Database, tmp_path: Path, valid_file: Path
) -> None:
    """`attempt` is an int32 column; an int64 file column is taken where values fit."""
    table = pq.read_table(valid_file)
    index = table.schema.get_field_index("attempt")
    values = [1, 2, 2**40, 4, 5]
    wide = table.set_column(index, "attempt", pa.array(values, pa.int64()))
    bad = write(tmp_path / "wide-attempt.parquet", wide)
    error = load_after_a_good_file(db, tmp_path, bad)
    message = str(error)
    assert "column 'attempt'" in message
    assert "batch file wide-attempt.parquet record 3" in message
    # DuckDB's reader names the value; PostgreSQL's cast in the merge says it is too large
    assert str(2**40) in message or "out of range" in message


def test_wider_integers_and_extra_columns_load(
    db: Database, tmp_path: Path, valid_file: Path
) -> None:
    """Another writer's Parquet: int64 for an int32 column, and a column the stream lacks."""
    table = pq.read_table(valid_file)
    index = table.schema.get_field_index("attempt")
    table = table.set_column(index, "attempt", pa.array([1, 2, 3, 4, None], pa.int64()))
    table = table.append_column("not_in_schema", pa.array(["x"] * 5))
    other = write(tmp_path / "other-writer.parquet", table)
    batch = {
        "type": "BATCH",
        "stream": STREAM,
        "encoding": {"format": "parquet", "compression": "none"},
        "manifest": [other.as_uri()],
        "version": 1,
    }
    db.load(messages(schema_message(STREAM), batch))
    attempts = {r["id"]: r["attempt"] for r in db.rows("s.submissions", ["id", "attempt"])}
    assert attempts == {20: 1, 21: 2, 22: 3, 23: 4, 24: None}


def test_nul_characters_are_removed_where_the_database_cannot_store_them(
    db: Database, tmp_path: Path, valid_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As from RECORD messages: PostgreSQL's text holds no NUL; the others keep it."""
    table = pq.read_table(valid_file)
    index = table.schema.get_field_index("grade")
    grades = pa.array(["A\x00+", "B", None, "C", "D"], pa.string())
    nul = write(tmp_path / "nul.parquet", table.set_column(index, "grade", grades))
    batch = {
        "type": "BATCH",
        "stream": STREAM,
        "encoding": {"format": "parquet", "compression": "none"},
        "manifest": [nul.as_uri()],
        "version": 1,
    }
    db.load(messages(schema_message(STREAM), batch))
    stored = {r["id"]: r["grade"] for r in db.rows("s.submissions", ["id", "grade"])}
    expected = "A+" if db.kind == "postgresql" else "A\x00+"
    assert stored == {20: expected, 21: "B", 22: None, 23: "C", 24: "D"}
    if db.kind == "postgresql":
        assert "removed NUL characters" in caplog.text
