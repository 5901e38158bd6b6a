"""BATCH messages load exactly what the same records as RECORD messages load.

Two streams of one schema go into one database: `rec-*` as RECORD messages, `bat-*` as
BATCH messages over JSON-lines files (gzip and plain) or Parquet files holding the very
same records, with the same table versions, STATE, duplicate keys across files, deletes
and ACTIVATE_VERSION. Both tables must end equal, row by row and column by column.
"""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.target.harness import Database, actual_value, messages
from tests.target.parquet_data import write_parquet_file
from tests.target.singer_data import DAP_SCHEMAS, load_dap_table, sample_record

SCHEMA, KEY = load_dap_table(DAP_SCHEMAS / "canvas" / "submissions.json")


def snapshot(keys: range, seed: int, *, long_strings: bool = True) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    return [sample_record(SCHEMA, key, rnd, long_strings=long_strings) for key in keys]


def increment(seed: int) -> list[dict[str, Any]]:
    """Changed rows, a key twice (the later wins), and deletes carrying only key and ts."""
    rnd = random.Random(seed)
    changed = [sample_record(SCHEMA, key, rnd) for key in (3, 5, 5, 250)]
    deletes = [
        {"id": key, "_dap_ts": "2024-06-01T00:00:00Z", "_sdc_deleted_at": "2024-06-01T00:00:00Z"}
        for key in (7, 8)
    ]
    return changed + deletes


def write_batch_file(path: Path, records: list[dict[str, Any]], *, gzipped: bool) -> str:
    data = b"".join(orjson.dumps(record) + b"\n" for record in records)
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path.as_uri()


def schema_message(stream: str) -> dict[str, Any]:
    return {"type": "SCHEMA", "stream": stream, "schema": SCHEMA, "key_properties": KEY}


def as_records(stream: str, records: list[dict[str, Any]], version: int) -> list[dict[str, Any]]:
    return [
        {"type": "RECORD", "stream": stream, "record": record, "version": version}
        for record in records
    ]


def as_batch(
    stream: str,
    records: list[dict[str, Any]],
    version: int,
    folder: Path,
    *,
    gzipped: bool,
    files: int = 2,
    parquet: bool = False,
    schema: dict[str, Any] = SCHEMA,
) -> dict[str, Any]:
    """One BATCH message over `files` files holding the records in order (JSON lines, or
    Parquet typed by the schema as tap-dap writes it)."""
    size = -(-len(records) // files)
    first = len(list(folder.iterdir()))
    manifest = []
    for i in range(files):
        part = records[i * size : (i + 1) * size]
        if parquet:
            path = folder / f"{stream}-{first + i}.parquet"
            manifest.append(write_parquet_file(path, part, schema, gzipped=gzipped))
        else:
            path = folder / f"{stream}-{first + i}.jsonl{'.gz' if gzipped else ''}"
            manifest.append(write_batch_file(path, part, gzipped=gzipped))
    compression = "gzip" if gzipped else "none"
    return {
        "type": "BATCH",
        "stream": stream,
        "encoding": {"format": "parquet" if parquet else "jsonl", "compression": compression},
        "manifest": manifest,
        "version": version,
    }


def rows(db: Database, table: str) -> list[dict[str, Any]]:
    """Rows without the target's own clock: when written, when a version sweep marked it."""
    found = []
    for row in db.rows(table, order="id"):
        row.pop("_sdc_batched_at")
        deleted = row["_sdc_deleted_at"]
        if deleted is not None and deleted.year != 2024:
            row["_sdc_deleted_at"] = "swept by ACTIVATE_VERSION"
        found.append(row)
    return found


def state(n: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"step": n}}


@pytest.mark.parametrize(
    ("gzipped", "parquet"),
    [(True, False), (False, False), (False, True), (True, True)],
    ids=["jsonl-gzip", "jsonl", "parquet", "parquet-gzip"],
)
def test_batch_equals_record_input(
    db: Database, tmp_path: Path, gzipped: bool, parquet: bool
) -> None:
    first = snapshot(range(300), seed=1)
    first.append(dict(first[10], grade="last one wins"))  # a key twice in a snapshot
    second = snapshot(range(0, 300, 2), seed=2)
    changes = increment(seed=3)
    record_input = [
        schema_message("rec-submissions"),
        *as_records("rec-submissions", first, 1),
        state(1),
        {"type": "ACTIVATE_VERSION", "stream": "rec-submissions", "version": 1},
        *as_records("rec-submissions", second, 2),
        {"type": "ACTIVATE_VERSION", "stream": "rec-submissions", "version": 2},
        *as_records("rec-submissions", changes, 2),
        state(2),
    ]
    batch_input = [
        schema_message("bat-submissions"),
        as_batch("bat-submissions", first, 1, tmp_path, gzipped=gzipped, parquet=parquet),
        state(1),
        {"type": "ACTIVATE_VERSION", "stream": "bat-submissions", "version": 1},
        as_batch("bat-submissions", second, 2, tmp_path, gzipped=gzipped, files=3, parquet=parquet),
        {"type": "ACTIVATE_VERSION", "stream": "bat-submissions", "version": 2},
        as_batch(
            "bat-submissions", changes, 2, tmp_path, gzipped=gzipped, files=1, parquet=parquet
        ),
        state(2),
    ]
    assert db.load(messages(*record_input), batch_size_rows=120)[-1] == {"step": 2}
    # Each BATCH merges at once, so each STATE leaves as soon as the batch before it is in.
    assert db.load(messages(*batch_input), batch_size_rows=120) == [{"step": 1}, {"step": 2}]
    by_record, by_batch = rows(db, "rec.submissions"), rows(db, "bat.submissions")
    assert len(by_batch) == 300
    assert by_batch == by_record
    # odd keys swept by version 2, keys 3 and 5 back, key 8 deleted (7 already was)
    assert sum(1 for row in by_batch if row["_sdc_deleted_at"] is not None) == 150 - 2 + 1
    assert next(row for row in by_batch if row["id"] == 5)["grade"] == changes[2]["grade"]


def test_batch_rows_merge_after_the_records_before_them(db: Database, tmp_path: Path) -> None:
    """RECORDs and BATCHes interleave in one stream: input order decides, as always."""
    stream = "s-submissions"
    early, late = snapshot(range(5), seed=4), snapshot(range(5), seed=5)
    db.load(
        messages(
            schema_message(stream),
            *as_records(stream, early[:2], 1),
            as_batch(stream, late, 1, tmp_path, gzipped=True),
            *as_records(stream, early[2:], 1),
        )
    )
    grades = {row["id"]: row["grade"] for row in db.rows("s.submissions", ["id", "grade"])}
    assert grades == {
        0: late[0]["grade"],
        1: late[1]["grade"],
        2: early[2]["grade"],
        3: early[3]["grade"],
        4: early[4]["grade"],
    }


def test_delete_batch_files_after_commit(db: Database, tmp_path: Path) -> None:
    stream = "s-submissions"
    kept, deleted = tmp_path / "kept", tmp_path / "deleted"
    kept.mkdir()
    deleted.mkdir()
    first = as_batch(stream, snapshot(range(10), seed=6), 1, kept, gzipped=False)
    db.load(messages(schema_message(stream), first))
    second = as_batch(stream, snapshot(range(10, 20), seed=7), 1, deleted, gzipped=True)
    db.load(messages(schema_message(stream), second, state(1)), delete_batch_files=True)
    assert len(list(kept.iterdir())) == 2
    assert list(deleted.iterdir()) == []
    assert len(db.rows("s.submissions", ["id"])) == 20


SDK_SCHEMA = {
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "points": {"type": ["number", "null"], "multipleOf": 0.01, "minimum": 0},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "settings": {
            "type": ["object", "null"],
            "properties": {"hide": {"type": "boolean"}, "note": {"type": "string"}},
            "additionalProperties": False,  # a struct in Parquet, as tap-dap writes it
        },
    }
}


@pytest.mark.parametrize("parquet", [False, True], ids=["jsonl", "parquet"])
def test_batch_through_the_sdk_path_with_validation(
    db: Database, tmp_path: Path, parquet: bool
) -> None:
    """`validate_records` reads BATCH files record by record (Parquet values back as
    JSON's: decimals as numbers, date-times as text), and validates them."""
    stream = "s-courses"
    schema = {
        "type": "SCHEMA",
        "stream": stream,
        "schema": SDK_SCHEMA,
        "key_properties": ["id"],
    }
    records = [
        {
            "id": i,
            "name": f"course {i}",
            "points": round(i * 1.25, 2),
            "created_at": f"2024-05-{i + 1:02d}T10:00:00.123000+00:00",
            "settings": {"hide": i % 2 == 0, "note": "x"} if i % 3 else None,
        }
        for i in range(20)
    ]
    write = partial(as_batch, parquet=parquet, schema=SDK_SCHEMA)
    db.load(
        messages(schema, write(stream, records, 1, tmp_path, gzipped=True)), validate_records=True
    )
    columns = ["id", "name", "points", "created_at", "settings"]
    stored = {row["id"]: row for row in db.rows("s.courses", columns)}
    assert {i: (r["name"], r["points"]) for i, r in stored.items()} == {
        r["id"]: (r["name"], pytest.approx(r["points"])) for r in records
    }
    assert stored[3]["created_at"] == datetime(2024, 5, 4, 10, 0, 0, 123000, tzinfo=UTC)
    settings = SDK_SCHEMA["properties"]["settings"]
    assert [actual_value(settings, stored[i]["settings"]) for i in (0, 1, 2)] == [
        None,
        {"hide": False, "note": "x"},
        {"hide": True, "note": "x"},
    ]
    bad = write(
        stream, [{"id": 1, "name": "x", "points": -1.25}], 1, tmp_path, gzipped=False, files=1
    )
    with pytest.raises(Exception, match=r"-1\.25 is less than the minimum of 0"):
        db.load(messages(schema, bad), validate_records=True)


@pytest.mark.parametrize("bad", ["many", 1.5])
def test_bad_value_in_a_batch_file_names_file_and_record(
    db: Database, tmp_path: Path, bad: object
) -> None:
    stream = "s-submissions"
    records = snapshot(range(6), seed=9)
    records[4]["attempt"] = bad
    db_message = as_batch(stream, records, 1, tmp_path, gzipped=True, files=1)
    with pytest.raises(Exception, match=r"input line 2.*s-submissions") as caught:
        db.load(messages(schema_message(stream), db_message))
    assert "attempt" in str(caught.value) or str(bad) in str(caught.value)
