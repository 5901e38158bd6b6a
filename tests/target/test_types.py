"""Every DAP type shape is written and read back equal, on PostgreSQL and DuckDB."""

from __future__ import annotations

import datetime
import json
import random

import pytest

from tests.target.harness import Database, assert_round_trip, fixture, messages
from tests.target.singer_data import dap_tables, load_dap_table, sample_record, singer_lines


def _stream(data: bytes) -> tuple[dict, list[dict]]:
    lines = [json.loads(line) for line in data.splitlines()]
    schema = next(m["schema"] for m in lines if m["type"] == "SCHEMA")
    return schema, [m["record"] for m in lines if m["type"] == "RECORD"]


def test_every_type_shape_round_trips(db: Database) -> None:
    data = fixture("types")
    state = db.load(data)
    schema, records = _stream(data)
    assert_round_trip(db, "canvas.type_shapes", schema, records)
    assert state == [
        {"bookmarks": {"canvas-type_shapes": {"replication_key_value": "2024-03-01T00:00:00Z"}}}
    ]


def test_column_types_and_nullability(db: Database) -> None:
    db.load(fixture("types"))
    columns = db.columns("canvas.type_shapes")
    types = {name: type_name for name, (type_name, _) in columns.items()}
    nullable = {name: null for name, (_, null) in columns.items()}
    assert types["id"] == "bigint"
    assert types["i32"] == ("int" if db.kind == "mariadb" else "integer")
    assert types["i16"] == "smallint"
    assert types["status"] in ("bigint",)  # integer enums stay integers
    assert nullable["id"] is False
    assert nullable["state"] is False  # type without null: NOT NULL
    assert nullable["_dap_ts"] is False
    assert nullable["kind"] is True
    if db.kind == "postgresql":
        assert types["f64"] == "double precision"
        assert types["dec"] == "numeric"
        assert types["at"] == "timestamp with time zone"
        assert types["uid"] == "uuid"
        assert types["ip"] == "inet"
        assert types["short"] == "text"  # maxLength never bounds the column
        assert types["settings"] == "jsonb"
        assert types["state"] == "user-defined"
        enum = db.query("SELECT enum_range(NULL::canvas.type_shapes__state)::text")[0][0]
        assert enum == "{__dap_unspecified__,active,deleted}"
        comment = db.query("SELECT col_description('canvas.type_shapes'::regclass, 12)")
        assert comment == [("A required enum",)]
    elif db.kind == "mariadb":
        assert types["f64"] == "double"
        assert types["dec"] == "decimal"
        assert types["at"] == "datetime"  # UTC
        assert types["uid"] == "char"
        assert types["ip"] == "varchar"
        assert types["short"] == "longtext"  # maxLength never bounds the column
        assert types["settings"] == "longtext"  # MariaDB's JSON: LONGTEXT CHECK json_valid
        assert types["state"] == "enum"
        schema, name = db.place("canvas.type_shapes")
        enum, comment = db.query(
            "SELECT column_type, column_comment FROM information_schema.columns WHERE "
            f"table_schema = '{schema}' AND table_name = '{name}' AND column_name = 'state'"
        )[0]
        assert enum == "enum('__dap_unspecified__','active','deleted')"
        assert comment == "A required enum"
    else:
        assert types["uid"] == "uuid"
        assert types["short"] == "varchar"
        assert types["settings"] == "json"
        assert types["state"].startswith("enum")


def test_enum_as_text(db: Database) -> None:
    db.load(fixture("types"), enum_as="text")
    columns = db.columns("canvas.type_shapes")
    assert columns["state"][0] in ("text", "varchar", "longtext")


def test_every_dap_reference_table_round_trips(db: Database) -> None:
    """All reference table schemas in one run: three records each, every value checked."""
    rnd = random.Random(7)
    tables = dap_tables()
    streams = {}
    data = b""
    for path in tables:
        schema, key = load_dap_table(path)
        stream = f"{path.parent.name}-{path.stem}"
        records = [sample_record(schema, i, rnd, key_name=key[0]) for i in range(3)]
        streams[stream] = (schema, records, key[0])
        data += b"".join(singer_lines(stream, schema, key, iter(records)))
    db.load(data)
    for stream, (schema, records, key_name) in streams.items():
        assert_round_trip(db, stream.replace("-", ".", 1), schema, records, key=key_name)
    assert len(streams) >= 90


@pytest.mark.parametrize("value", ["a\u0000b"])
def test_nul_character_is_stored_by_duckdb(tmp_path, value: str) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"duckdb:///{tmp_path / 'nul.duckdb'}")
    db.load(
        messages(
            {
                "type": "SCHEMA",
                "stream": "t",
                "schema": {
                    "properties": {"id": {"type": "integer"}, "s": {"type": ["string", "null"]}}
                },
                "key_properties": ["id"],
            },
            {"type": "RECORD", "stream": "t", "record": {"id": 1, "s": value}},
        )
    )
    assert db.rows("main.t", ["s"]) == [{"s": value}]


def test_date_time_without_offset_means_utc(db: Database) -> None:
    db.load(
        messages(
            {
                "type": "SCHEMA",
                "stream": "s-naive",
                "key_properties": ["id"],
                "schema": {
                    "properties": {
                        "id": {"type": "integer"},
                        "at": {"type": ["string", "null"], "format": "date-time"},
                    }
                },
            },
            {
                "type": "RECORD",
                "stream": "s-naive",
                "record": {"id": 1, "at": "2024-06-01T12:00:00"},
            },
        )
    )
    at = db.rows("s.naive", ["at"])[0]["at"]
    assert at == datetime.datetime(2024, 6, 1, 12, tzinfo=datetime.UTC)


_COUNTS = {
    "type": "SCHEMA",
    "stream": "s-counts",
    "key_properties": ["id"],
    "schema": {
        "properties": {
            "id": {"type": "integer"},
            "n": {"type": ["integer", "null"], "format": "int32"},
        }
    },
}


def _count(id_: int, n: object) -> dict:
    return {"type": "RECORD", "stream": "s-counts", "record": {"id": id_, "n": n}}


def test_integer_columns_take_every_spelling_of_a_whole_number(db: Database) -> None:
    spellings = [7, 2.0, 1e3, "12", True, None, -2147483648]
    db.load(messages(_COUNTS, *(_count(i, n) for i, n in enumerate(spellings))))
    found = [row["n"] for row in db.rows("s.counts", ["id", "n"])]
    assert found == [7, 2, 1000, 12, 1, None, -2147483648]


@pytest.mark.parametrize("bad", [1.5, 0.00001, 2147483648, "twelve", [1]])
def test_integer_columns_refuse_what_is_not_a_whole_number_in_range(
    db: Database, bad: object
) -> None:
    # DuckDB's own reader would round 1.5 to 2 and 0.00001 to 0: the data would change
    data = messages(_COUNTS, _count(1, 5), _count(2, bad))
    with pytest.raises(Exception, match=r"input line 3.*s-counts.*column 'n'"):
        db.load(data)
