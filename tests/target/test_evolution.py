"""Schema changes evolve the table in place, never losing data nor breaking a view."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from target_dap_sql.errors import TargetError

from tests.target.harness import Database, fixture, messages

TABLE = "canvas.evolving"


def with_views(db: Database) -> None:
    """A view on every column of the table, and a view on that view."""
    view, view2, table = (db.table(t) for t in (f"{TABLE}_view", f"{TABLE}_view2", TABLE))
    db.execute(f"CREATE VIEW {view} AS SELECT id, count, state, gone FROM {table}")
    db.execute(f"CREATE VIEW {view2} AS SELECT id, count FROM {view}")


def check_views(db: Database) -> None:
    assert len(db.query(f"SELECT * FROM {db.table(f'{TABLE}_view')}")) == 3
    assert len(db.query(f"SELECT * FROM {db.table(f'{TABLE}_view2')}")) == 3


@pytest.mark.parametrize(
    "step",
    [
        "new_column",
        "new_enum_value",
        "new_enum_column",
        "not_null_relaxed",
        "int32_to_int64",
        "column_dropped",
    ],
)
def test_evolution_step_under_dependent_views(db: Database, step: str) -> None:
    db.load(fixture("evolve_base"))
    with_views(db)
    db.load(fixture(f"evolve_{step}"))
    check_views(db)
    rows = {r["id"]: r for r in db.rows(TABLE)}
    assert rows[1]["gone"] == "kept"  # existing data is never lost
    columns = db.columns(TABLE)
    if step == "new_column":
        assert rows[3]["extra"] == "new"
        assert rows[1]["extra"] is None
    elif step == "new_enum_value":
        assert rows[3]["state"] == "c"
    elif step == "new_enum_column":
        assert rows[3]["kind"] == "y"
    elif step == "not_null_relaxed":
        assert rows[3]["count"] is None
        assert columns["count"][1] is True
    elif step == "int32_to_int64":
        assert rows[3]["count"] == 2**40
        assert columns["count"][0] == "bigint"
    elif step == "column_dropped":
        assert "gone" in columns
        assert columns["gone"][1] is True  # kept, made nullable
        assert rows[3]["gone"] is None


def test_incompatible_change_names_table_column_and_types(db: Database) -> None:
    db.load(fixture("evolve_base"))
    with pytest.raises(TargetError) as raised:
        db.load(fixture("evolve_incompatible_type"))
    message = str(raised.value).lower()
    assert ".".join(db.place(TABLE)) in message
    assert "column uid" in message
    assert ("char(36)" if db.kind == "mariadb" else "uuid") in message  # the database's type
    assert "bigint" in message
    assert len(db.rows(TABLE)) == 2  # committed data intact


def test_schema_change_mid_stream_keeps_record_order(db: Database) -> None:
    state = db.load(fixture("evolve_mid_stream"), batch_size_rows=1000)
    rows = db.rows(TABLE)
    assert [(r["id"], r["gone"], r["extra"]) for r in rows] == [(1, "new", "e")]
    assert state[-1] == {"at": "after"}


def test_same_schema_twice_changes_nothing(db: Database) -> None:
    db.load(fixture("evolve_base"))
    before = db.columns(TABLE)
    db.load(fixture("evolve_base"))
    assert db.columns(TABLE) == before


def test_key_column_widens(db: Database) -> None:
    """DuckDB cannot ALTER a primary key column's type: the table is rebuilt instead."""
    db.load(fixture("key_int32"))
    view = db.table("canvas.keyed_view")
    db.execute(f"CREATE VIEW {view} AS SELECT id, name FROM {db.table('canvas.keyed')}")
    db.load(fixture("key_int64"))
    assert db.columns("canvas.keyed")["id"][0] == "bigint"
    assert db.query(f"SELECT id, name FROM {view} ORDER BY id") == [
        (1, "a2"),
        (2**40, "big"),
    ]
    db.load(fixture("key_int64"))  # the primary key survived the rebuild: still upserts
    assert len(db.rows("canvas.keyed", ["id"])) == 2


# DAP adds a required field with a default; the rows already loaded must read the default.
DEFAULTS = {
    "priority": ({"type": "integer", "format": "int32", "default": 3}, 3, 7),
    "is_template": ({"type": "boolean", "default": True}, True, False),
    "locale": ({"type": "string", "default": "en's"}, "en's", "fr"),
    "review_state": (
        {"type": "string", "enum": ["draft", "approved"], "default": "draft"},
        "draft",
        "approved",
    ),
    "synced_at": (
        {"type": "string", "format": "date-time", "default": "2024-05-06T07:08:09.5+02:00"},
        "2024-05-06 05:08:09.5",
        "2025-01-01 00:00:00",
    ),
}


def with_required_defaults() -> bytes:
    """evolve_base's stream, its schema grown by DEFAULTS, and one new row using them."""
    lines = fixture("evolve_base").splitlines()
    schema = orjson.loads(lines[0])
    for name, (prop, _, _) in DEFAULTS.items():
        schema["schema"]["properties"][name] = prop
    schema["schema"]["properties"]["odd"] = {"type": "integer", "default": "not a number"}
    record = {
        "_dap_ts": "2024-02-01T00:00:00Z",
        "_sdc_deleted_at": None,
        "id": 3,
        "count": 1,
        "state": "a",
        "gone": "g",
        "uid": None,
        "odd": 1,
        **{name: new for name, (_, _, new) in DEFAULTS.items()},
    }
    record["synced_at"] = "2025-01-01T00:00:00Z"
    return messages(
        schema, {"type": "RECORD", "stream": "canvas-evolving", "record": record, "version": 1}
    )


def test_a_required_column_with_a_default_fills_the_rows_already_loaded(db: Database) -> None:
    db.load(fixture("evolve_base"))
    db.load(with_required_defaults())
    rows = {r["id"]: r for r in db.rows(TABLE)}
    columns = db.columns(TABLE)
    for name, (_, default, new) in DEFAULTS.items():
        assert columns[name][1] is False, f"{name} is NOT NULL: the schema requires it"
        for old in (1, 2):
            assert text_of(rows[old][name]) == text_of(default), (name, rows[old][name])
        assert text_of(rows[3][name]) == text_of(new), (name, rows[3][name])
    assert columns["odd"][1] is True  # a default of the wrong type is ignored
    assert rows[1]["odd"] is None
    # a later change keeps the defaults (MySQL restates the whole column on MODIFY)
    db.load(fixture("evolve_column_dropped"))
    assert db.columns(TABLE)["priority"][1] is True  # left the schema: made nullable
    db.execute(
        f"INSERT INTO {db.table(TABLE)} (id, count, state, _dap_ts) "
        "VALUES (9, 1, 'a', '2024-01-01 00:00:00')"
    )
    added = db.rows(TABLE, order="id DESC")[0]
    assert text_of(added["priority"]) == "3"
    assert text_of(added["locale"]) == "en's"


def text_of(value: object) -> str:
    """A value as comparable text across databases (booleans as 1/0, instants in UTC)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, str) and value[:4].isdigit() and ":" in value:
        return datetime.fromisoformat(value).isoformat(sep=" ")
    return str(value)
