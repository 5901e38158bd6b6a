"""DAP JSONL -> Parquet batch files (tap_dap.singer.parquet_batches, through
tap_dap.singer.batches): the columns and their types, deletes and snapshots without meta,
row groups, and hostile lines, each refused naming the file, the line and the field with
no file left behind."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tap_dap.api.decoding import LineBlock
from tap_dap.errors import RecordDecodeError
from tap_dap.singer import parquet_batches
from tap_dap.singer.batches import (
    BatchFileTask,
    NoParquetTypeError,
    parquet_layout,
    write_batch_file,
)
from tap_dap.singer.parquet_batches import arrow_type
from tap_dap.singer.schema import METADATA_PROPERTIES

DESCRIBE = "canvas-x: job J, file 1 of 1 (object O)"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "format": "int64"},
        "attempt": {"type": ["integer", "null"], "format": "int32"},
        "score": {"type": ["number", "null"], "format": "float64"},
        "points": {"type": ["number", "null"], "multipleOf": 0.01},
        "ok": {"type": ["boolean", "null"]},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "day": {"type": ["string", "null"], "format": "date"},
        "state": {"type": "string", "enum": ["active", "deleted"]},
        "rules": {
            "type": ["object", "null"],
            "properties": {
                "n": {"type": ["integer", "null"], "format": "int32"},
                "ids": {"type": "array", "items": {"type": "integer", "format": "int32"}},
            },
            "additionalProperties": False,
        },
        "ip": {
            "anyOf": [
                {"type": "string", "format": "ipv4"},
                {"type": "string", "format": "ipv6"},
                {"type": "null"},
            ]
        },
        **METADATA_PROPERTIES,
    },
}
UPSERT = (
    b'{"key":{"id":1},"value":{"attempt":2,"score":0.5,"points":36.73,"ok":true,'
    b'"created_at":"2024-05-06T07:08:09Z","day":"2024-05-06","state":"active",'
    b'"rules":{"n":1,"ids":[3,4]},"ip":"10.0.0.1","unknown":{"a":1}},'
    b'"meta":{"ts":"2024-05-06T07:08:09.123Z","action":"U"}}\n'
)
DELETE = b'{"meta":{"action":"D","ts":"2024-05-07T00:00:00Z"},"key":{"id":2}}\n'
SPARSE = b'{"key":{"id":3},"value":{"state":"deleted"},"meta":{"ts":"2024-05-08T00:00:00Z"}}\n'
NO_META = b'{"key":{"id":4},"value":{"state":"active"}}\n'
GOOD = UPSERT + SPARSE  # lines 1 and 2 (a hostile line below is line 3)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def write(
    tmp_path: Path,
    data: bytes | list[LineBlock],
    *,
    schema: dict[str, Any] = SCHEMA,
    version: int | None = 7,
    default_ts: str | None = None,
    gzip: bool = False,
) -> Path:
    """Write DAP lines as a Parquet batch file the way BATCH mode does; its path."""
    target = tmp_path / "out.parquet"
    blocks = [LineBlock(data, 1)] if isinstance(data, bytes) else data
    task = BatchFileTask(
        target=target,
        gzip=gzip,
        dropped_fields=(),
        default_ts=default_ts,
        describe=DESCRIBE,
        parquet=parquet_layout(schema, ["id"]),
        version=version,
    )
    result = write_batch_file(iter(blocks), task)
    assert result.path == target
    return target


def test_columns_are_the_record_properties_with_their_types(tmp_path: Path) -> None:
    path = write(tmp_path, UPSERT + DELETE + SPARSE)
    table = pq.read_table(path)
    assert table.schema.names == [*SCHEMA["properties"], "_sdc_table_version"]
    assert dict(zip(table.schema.names, table.schema.types, strict=True)) == {
        "id": pa.int64(),
        "attempt": pa.int32(),
        "score": pa.float64(),
        "points": pa.decimal128(38, 2),
        "ok": pa.bool_(),
        "created_at": pa.timestamp("us", tz="UTC"),
        "day": pa.date32(),
        "state": pa.string(),
        "rules": pa.struct([("n", pa.int32()), ("ids", pa.list_(pa.int32()))]),
        "ip": pa.string(),
        "_dap_ts": pa.timestamp("us", tz="UTC"),
        "_sdc_deleted_at": pa.timestamp("us", tz="UTC"),
        "_sdc_table_version": pa.int64(),
    }
    upsert, delete, sparse = table.to_pylist()
    assert upsert == {
        "id": 1,
        "attempt": 2,
        "score": 0.5,
        "points": Decimal("36.73"),
        "ok": True,
        "created_at": utc("2024-05-06T07:08:09Z"),
        "day": date(2024, 5, 6),
        "state": "active",
        "rules": {"n": 1, "ids": [3, 4]},
        "ip": "10.0.0.1",
        "_dap_ts": utc("2024-05-06T07:08:09.123Z"),
        "_sdc_deleted_at": None,
        "_sdc_table_version": 7,
    }
    ts = utc("2024-05-07T00:00:00Z")
    assert {k: v for k, v in delete.items() if v is not None} == {
        "id": 2,
        "_dap_ts": ts,
        "_sdc_deleted_at": ts,
        "_sdc_table_version": 7,
    }
    assert sparse["state"] == "deleted"
    assert sparse["attempt"] is None
    assert sparse["_sdc_deleted_at"] is None


def test_a_delete_is_its_key_alone_whatever_else_dap_sent(tmp_path: Path) -> None:
    line = (
        b'{"key":{"id":5},"value":{"state":"active"},'
        b'"meta":{"ts":"2024-05-07T00:00:00Z","action":"D"}}\n'
    )
    (row,) = pq.read_table(write(tmp_path, UPSERT + line)).to_pylist()[1:]
    assert row["state"] is None
    assert row["_sdc_deleted_at"] == row["_dap_ts"]


def test_a_snapshot_line_without_meta_is_as_of_the_jobs_at(tmp_path: Path) -> None:
    path = write(tmp_path, NO_META, default_ts="2024-06-30T00:00:00Z", version=None)
    (row,) = pq.read_table(path).to_pylist()
    assert row["_dap_ts"] == utc("2024-06-30T00:00:00Z")
    assert row["_sdc_table_version"] is None


def test_deselected_fields_are_no_columns(tmp_path: Path) -> None:
    properties = {k: v for k, v in SCHEMA["properties"].items() if k not in ("score", "rules")}
    path = write(tmp_path, UPSERT, schema={**SCHEMA, "properties": properties})
    assert pq.read_table(path).schema.names == [*properties, "_sdc_table_version"]


def test_a_large_file_is_written_in_several_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_batches, "CHUNK_BYTES", 10_000)
    monkeypatch.setattr(parquet_batches, "ROW_GROUP_BYTES", 20_000)
    lines = [UPSERT.replace(b'"id":1', b'"id":%d' % n) for n in range(1, 1001)]
    blocks = [LineBlock(b"".join(lines[i : i + 50]), i + 1) for i in range(0, 1000, 50)]
    path = write(tmp_path, blocks, gzip=True)
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups > 3
    assert parquet.metadata.row_group(0).column(0).compression == "GZIP"
    assert pq.read_table(path).column("id").to_pylist() == list(range(1, 1001))


def test_a_line_longer_than_a_chunk_is_one_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DAP text can run to megabytes: a line longer than Arrow's block (and than a chunk)."""
    monkeypatch.setattr(parquet_batches, "CHUNK_BYTES", 100_000)
    text = "x" * (3 << 20)
    big = b'{"key":{"id":9},"value":{"state":"%s"},"meta":{"ts":"2024-05-06T00:00:00Z"}}\n'
    path = write(tmp_path, [LineBlock(GOOD, 1), LineBlock(big % text.encode(), 3)])
    assert pq.read_table(path).column("state").to_pylist() == ["active", "deleted", text]


def test_an_empty_file_is_a_parquet_file_without_rows(tmp_path: Path) -> None:
    table = pq.read_table(write(tmp_path, []))
    assert table.num_rows == 0
    assert table.schema.names[-1] == "_sdc_table_version"


def test_duckdb_reads_the_columns_typed(tmp_path: Path) -> None:
    """What a SQL target's bulk reader sees: each column in its own type, timestamps as
    instants, no parsing left to do."""
    path = write(tmp_path, UPSERT + DELETE)
    with duckdb.connect() as db:
        db.execute("SET TimeZone = 'UTC'")
        columns = db.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        types = {name: kind for name, kind, *_ in columns}
        (row,) = db.execute(
            f"SELECT points, created_at, day, rules.ids FROM read_parquet('{path}') WHERE id = 1"
        ).fetchall()
    assert types["id"] == "BIGINT"
    assert types["attempt"] == "INTEGER"
    assert types["points"] == "DECIMAL(38,2)"
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["day"] == "DATE"
    assert types["rules"] == "STRUCT(n INTEGER, ids INTEGER[])"
    assert row == (Decimal("36.73"), utc("2024-05-06T07:08:09Z"), date(2024, 5, 6), [3, 4])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": ["integer", "null"], "format": "int16"}, pa.int16()),
        ({"type": "integer"}, pa.int64()),
        ({"type": "integer", "enum": [200, 404]}, pa.int64()),
        ({"type": "number", "multipleOf": 0.001}, pa.decimal128(38, 3)),
        ({"type": "number", "multipleOf": 1}, pa.decimal128(38, 0)),
        ({"type": ["string", "null"], "format": "uuid"}, pa.string()),
        ({"type": "array", "items": {"type": "string", "enum": ["a"]}}, pa.list_(pa.string())),
        ({"type": ["object", "null"]}, None),  # no declared members
        ({"type": "object", "properties": {"a": {"type": "string"}}}, None),  # open
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, None),
        ({"type": ["integer", "number"]}, None),
        ({"type": "array"}, None),
        ({}, None),
    ],
)
def test_arrow_types_of_schema_shapes(spec: dict[str, Any], expected: pa.DataType | None) -> None:
    assert arrow_type(spec) == expected


def test_a_schema_with_untyped_columns_names_them() -> None:
    properties = {**SCHEMA["properties"], "extra": {}, "blob": {"type": "object"}}
    with pytest.raises(NoParquetTypeError) as caught:
        parquet_layout({"properties": properties}, ["id"])
    assert caught.value.columns == ("extra", "blob")


OF_SCHEMA = "not a DAP record of the stream's schema"
HOSTILE = {
    "not JSON": (
        b'{"key":{"id":9},"value":{"attempt":1}\n',
        f"{OF_SCHEMA} (JSON parse error: Missing a comma or '}}' after an object member.)",
    ),
    "null": (b"null\n", "not a DAP record (it has no key)"),
    "an array": (b"[1, 2]\n", "not a DAP record (not a JSON object)"),
    "no key": (
        b'{"value":{"attempt":1},"meta":{"ts":"2024-05-06T00:00:00Z"}}\n',
        "not a DAP record (it has no key)",
    ),
    "a null key field": (
        b'{"key":{"id":null},"meta":{"ts":"2024-05-06T00:00:00Z"}}\n',
        "not a DAP record (its key has no id)",
    ),
    "int32 overflow": (
        b'{"key":{"id":9},"value":{"attempt":3000000000}}\n',
        f"{OF_SCHEMA} (value.attempt: Failed to convert JSON to int32, couldn't parse:3000000000)",
    ),
    "a string key": (
        b'{"key":{"id":"9"}}\n',
        f"{OF_SCHEMA} (key.id: JSON parse error: Column(/key/id) changed from number to string)",
    ),
    "more digits than multipleOf": (
        b'{"key":{"id":9},"value":{"points":1.005}}\n',
        f"{OF_SCHEMA} (value.points: Failed to convert JSON to decimal128(38, 2): "
        "1.005 requires scale 3)",
    ),
    "a bad timestamp": (
        b'{"key":{"id":9},"value":{"created_at":"yesterday"}}\n',
        f"{OF_SCHEMA} (value.created_at: Failed to convert JSON to timestamp[us, tz=UTC], "
        "couldn't parse:yesterday)",
    ),
    "a bad date": (
        b'{"key":{"id":9},"value":{"day":"2024-13-01"},"meta":{"ts":"2024-05-06T00:00:00Z"}}\n',
        f"{OF_SCHEMA} (value.day: Failed to parse string: '2024-13-01' as a scalar of type date32",
    ),
    "invalid UTF-8": (
        b'{"key":{"id":9},"value":{"state":"\xff"}}\n',
        f"{OF_SCHEMA} (value.state: Column 0: In chunk 0: Invalid: Struct child array #0 "
        "invalid: Invalid: Invalid UTF8 sequence",
    ),
    "a value that is no object": (
        b'{"key":{"id":9},"value":"text"}\n',
        f"{OF_SCHEMA} (value: JSON parse error: Column(/value) changed from object to string)",
    ),
    "a nested type": (
        b'{"key":{"id":9},"value":{"rules":{"ids":"3"}}}\n',
        f"{OF_SCHEMA} (value.rules: JSON parse error: Column(/value/rules/ids) changed "
        "from array to string)",
    ),
    "meta without ts": (
        b'{"key":{"id":9},"meta":{"action":"U"}}\n',
        "not a DAP record (meta has no ts)",
    ),
    "no meta, no job time": (
        b'{"key":{"id":9}}\n',
        "not a DAP record (the record has no meta.ts)",
    ),
}


@pytest.mark.parametrize(("line", "complaint"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_line_is_refused_naming_file_line_and_field(
    tmp_path: Path, line: bytes, complaint: str
) -> None:
    with pytest.raises(RecordDecodeError) as caught:
        write(tmp_path, GOOD + line)
    assert str(caught.value).startswith(f"{DESCRIBE}, line 3: {complaint}")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .part


@pytest.mark.parametrize("first", [b"null", b"  null", b"\n\nnull"])
def test_a_first_line_that_is_no_object_is_refused_not_a_crash(
    tmp_path: Path, first: bytes
) -> None:
    """Arrow 26's JSON reader dies with SIGSEGV on a first line `null`: never given one."""
    with pytest.raises(RecordDecodeError) as caught:
        write(tmp_path, first + b"\n" + GOOD)
    line = first.count(b"\n") + 1
    assert str(caught.value) == f"{DESCRIBE}, line {line}: not a DAP record (not a JSON object)"


def test_line_numbers_count_from_the_start_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_batches, "CHUNK_BYTES", 1000)
    blocks = [LineBlock(GOOD * 10, 1), LineBlock(GOOD + b"\n" + b'{"key":{"id":"x"}}\n', 21)]
    with pytest.raises(RecordDecodeError, match=r", line 24: .*key\.id"):
        write(tmp_path, blocks)


FUZZ = """
import random, sys
from pathlib import Path
from tap_dap.api.decoding import LineBlock
from tap_dap.errors import RecordDecodeError
from tests.tap.test_parquet_batches import GOOD, write
random.seed(15)
TOKENS = [b"null", b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\\\", b"0", b"-1e999"]
TOKENS += [b"\\n", b"true", b"\\xff", b"  "]
refused = 0
for case in range(400):
    data = bytearray(GOOD * 2)
    for _ in range(random.randint(1, 4)):
        at = random.randrange(len(data))
        if random.random() < 0.5:
            del data[at : at + random.randint(1, 8)]
        else:
            data[at:at] = random.choice(TOKENS)
    folder = Path(sys.argv[1]) / str(case)
    folder.mkdir()
    try:
        write(folder, bytes(data) if bytes(data).endswith(b"\\n") else bytes(data) + b"\\n")
    except RecordDecodeError:
        refused += 1
print(refused)
"""


def test_mangled_lines_are_refused_or_written_never_a_crash(tmp_path: Path) -> None:
    """Arrow's reader is C++: random damage to DAP lines must end in a clean refusal (or a
    file), never in a dead process. Run apart, so that a crash fails this test alone."""
    done = subprocess.run(
        [sys.executable, "-c", FUZZ, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout) > 300  # most damage is refused
