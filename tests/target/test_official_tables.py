"""Increments loaded into tables that the official DAP CLI (`dap initdb`) created.

The tables come from the official client's own DDL (instructure-dap-client 2.3.1, kept in
tests/official_cli/): `timestamp` without time zone (MySQL `datetime`), `varchar(n)`,
MySQL `tinyint` booleans, the enum type `canvas.courses__workflow_state` (MySQL: an inline
ASCII `ENUM`), and rows as the official client writes them, under a view. tap-dap's stream
of `courses` then loads into them: the official types stay (a `varchar` becomes text only
for a longer value), the target's columns are added without rewriting the table, and
upserts, deletes and a later snapshot behave as on the target's own tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from dap_sim.catalog import envelope, reference_schema
from tap_dap.singer.schema import translate
from target_dap_sql.errors import TargetError

from tests.conftest import OFFICIAL_DDL, database_url_for
from tests.target.harness import Database, messages

TABLE = "canvas.courses"
VIEW = "canvas.course_names"
STREAM = "canvas-courses"
METADATA = ("_dap_ts", "_sdc_deleted_at", "_sdc_table_version", "_sdc_batched_at")
TS = "2024-03-01T12:00:00Z"


@pytest.fixture(params=["postgresql", "mariadb"])  # the official client's databases here
def official(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Database:
    """A database as `dap initdb` left it: `canvas.courses`, three rows and a view."""
    db = Database(database_url_for(request.param, request, tmp_path_factory.mktemp("db")))
    ddl = "postgresql" if db.kind == "postgresql" else "mysql"
    for statement in (OFFICIAL_DDL / f"canvas.courses.{ddl}.sql").read_text().split(";\n"):
        if statement.strip():
            db.execute(statement)
    db.execute(
        f"INSERT INTO {db.table(TABLE)} (id, created_at, updated_at, workflow_state, "
        "account_id, allow_student_organized_groups, enrollment_term_id, template, "
        "homeroom_course, sync_enrollments_from_homeroom, name, course_code, is_public, "
        "settings) VALUES "
        "(1, '2023-01-10 08:00:00', '2023-01-10 08:00:00', 'available', 1, TRUE, 1, FALSE, "
        "FALSE, FALSE, 'Algebra', 'ALG-1', TRUE, '{\"hide_final_grade\": \"true\"}'), "
        "(2, '2023-01-11 08:00:00', '2023-01-11 08:00:00', 'available', 1, TRUE, 1, FALSE, "
        "FALSE, FALSE, 'Biology', 'BIO-1', FALSE, NULL), "
        "(3, '2023-01-12 08:00:00', '2023-01-12 08:00:00', 'completed', 1, FALSE, 1, FALSE, "
        "FALSE, FALSE, 'Chemistry', 'CHE-1', NULL, NULL)"
    )
    db.execute(
        f"CREATE VIEW {db.table(VIEW)} AS SELECT id, name, course_code, workflow_state, "
        f"updated_at FROM {db.table(TABLE)}"
    )
    return db


def courses_schema(*new_states: str) -> dict[str, Any]:
    """tap-dap's SCHEMA message for `canvas.courses` (DAP adding ``new_states`` to the enum)."""
    stream = translate(envelope(reference_schema("canvas", "courses")), 1, STREAM)
    states = stream.schema["properties"]["workflow_state"]
    states["enum"] = [*states["enum"], *new_states]
    return {
        "type": "SCHEMA",
        "stream": STREAM,
        "schema": stream.schema,
        "key_properties": stream.key_properties,
    }


def course(key: int, version: int | None = None, **values: Any) -> dict[str, Any]:
    """A RECORD of a course as tap-dap writes it (the required fields filled in)."""
    record = {
        "id": key,
        "created_at": "2023-01-10T08:00:00Z",
        "updated_at": TS,
        "workflow_state": "available",
        "account_id": 1,
        "allow_student_organized_groups": True,
        "enrollment_term_id": 1,
        "template": False,
        "homeroom_course": False,
        "sync_enrollments_from_homeroom": False,
        "_dap_ts": TS,
        "_sdc_deleted_at": None,
        **values,
    }
    message = {"type": "RECORD", "stream": STREAM, "record": record}
    return message if version is None else {**message, "version": version}


def deleted(key: int) -> dict[str, Any]:
    """tap-dap's RECORD of a delete: the key and the metadata only."""
    record = {"id": key, "_dap_ts": TS, "_sdc_deleted_at": TS}
    return {"type": "RECORD", "stream": STREAM, "record": record}


def column_types(db: Database) -> dict[str, tuple[Any, ...]]:
    """Each column's full type as the database states it (PostgreSQL: with the enum's
    members; MySQL: with character set, collation, nullability and comment)."""
    schema, name = db.place(TABLE)
    if db.kind == "postgresql":
        rows = db.query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "(SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e "
            "WHERE e.enumtypid = a.atttypid) FROM pg_attribute a "
            f"WHERE a.attrelid = '{schema}.{name}'::regclass AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum"
        )
    else:
        rows = db.query(
            "SELECT column_name, column_type, is_nullable, character_set_name, "
            "collation_name, column_comment FROM information_schema.columns "
            f"WHERE table_schema = '{schema}' AND table_name = '{name}' "
            "ORDER BY ordinal_position"
        )
    return {str(row[0]): tuple(row[1:]) for row in rows}


def storage_id(db: Database) -> int:
    """The table's storage: a new one means the table was rewritten (PostgreSQL's
    relfilenode; InnoDB's table id, which a rebuild changes and an instant ADD keeps)."""
    schema, name = db.place(TABLE)
    if db.kind == "postgresql":
        return int(
            db.query(f"SELECT relfilenode FROM pg_class WHERE oid = '{TABLE}'::regclass")[0][0]
        )
    mariadb = "mariadb" in str(db.query("SELECT VERSION()")[0][0]).lower()
    innodb = "INNODB_SYS_TABLES" if mariadb else "INNODB_TABLES"
    return int(
        db.query(
            f"SELECT table_id FROM information_schema.{innodb} WHERE name = '{schema}/{name}'"
        )[0][0]
    )


def utc(value: datetime | None) -> datetime | None:
    """A date-time read back, as UTC (PostgreSQL's `timestamp` comes without zone)."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def by_id(db: Database, relation: str = TABLE) -> dict[int, dict[str, Any]]:
    return {row["id"]: row for row in db.rows(relation)}


def changed_types(before: Mapping[str, tuple[Any, ...]], db: Database) -> dict[str, Any]:
    """The official columns whose type is not as it was, with their type now."""
    after = column_types(db)
    return {name: after[name] for name, was in before.items() if after[name] != was}


def test_increment_keeps_official_types_and_adds_columns_without_rewrite(
    official: Database,
) -> None:
    db = official
    before, storage = column_types(db), storage_id(db)
    db.load(
        messages(
            courses_schema("archived"),
            course(1, name="Algebra II", updated_at="2024-03-01T12:00:00+02:00", is_public=False),
            course(4, name="Drama", workflow_state="archived", course_code="x" * 255),
            deleted(2),
        )
    )

    changed = changed_types(before, db)
    assert set(changed) == {"workflow_state"}  # only the enum grew, as DAP's did
    if db.kind == "postgresql":
        assert changed["workflow_state"][0] == "canvas.courses__workflow_state"
        assert changed["workflow_state"][2].endswith(",archived")
    else:
        column_type, nullable, charset, collation, comment = changed["workflow_state"]
        assert column_type.endswith(",'archived')")
        assert (nullable, charset, collation) == ("NO", "ascii", "ascii_bin")
        assert comment == "Life-cycle state for the course."
    added = db.columns(TABLE)
    assert all(added[name][1] for name in METADATA)  # added, nullable
    assert storage_id(db) == storage  # the official rows were not rewritten

    rows = by_id(db)
    assert rows[1]["name"] == "Algebra II"
    assert utc(rows[1]["updated_at"]) == datetime(2024, 3, 1, 10, tzinfo=UTC)  # UTC, not cut
    assert rows[1]["is_public"] in (False, 0)
    assert rows[1]["_sdc_deleted_at"] is None
    assert rows[2]["name"] == "Biology"  # soft delete: marked, columns kept
    assert utc(rows[2]["_sdc_deleted_at"]) == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert rows[3]["name"] == "Chemistry"  # an official row the increment left alone
    assert rows[3]["_sdc_batched_at"] is None
    assert rows[4]["workflow_state"] == "archived"
    assert rows[4]["course_code"] == "x" * 255  # fits: the column stays varchar(255)

    view = by_id(db, VIEW)
    assert [view[k]["name"] for k in sorted(view)] == [
        "Algebra II",
        "Biology",
        "Chemistry",
        "Drama",
    ]


def test_varchar_becomes_text_only_for_a_longer_value(official: Database) -> None:
    db = official
    before, storage = column_types(db), storage_id(db)
    fits = "ü" * 255  # 255 characters, 510 bytes: a varchar(255) holds it
    longer = "Course code " + "ş" * 300
    db.load(messages(courses_schema(), course(1, name=fits)))
    assert changed_types(before, db) == {}

    db.load(messages(courses_schema(), course(5, course_code=longer, name=fits)))
    changed = changed_types(before, db)
    assert set(changed) == {"course_code"}
    if db.kind == "postgresql":
        assert changed["course_code"][0] == "text"
        assert storage_id(db) == storage  # varchar -> text needs no rewrite on PostgreSQL
    else:
        was, now = before["course_code"], changed["course_code"]
        assert now[0] == "longtext"
        assert now[1:] == was[1:]  # nullability, character set, collation, comment kept
    rows = by_id(db)
    assert rows[5]["course_code"] == longer  # whole, never cut
    assert rows[1]["name"] == rows[5]["name"] == fits
    assert by_id(db, VIEW)[5]["course_code"] == longer  # the view was kept


def test_a_first_load_into_an_emptied_official_table_widens_before_its_bulk_insert(
    official: Database,
) -> None:
    """An empty table takes a batch of new keys by plain INSERT (MySQL: LOAD DATA straight
    into the table, checked by DuckDB first): the check widens the column there too."""
    db = official
    db.execute(f"DELETE FROM {db.table(TABLE)}")
    longer = "z" * 256
    db.load(
        messages(
            courses_schema(),
            course(7, course_code=longer, created_at="2024-01-01T23:30:00-05:00"),
            course(8, name="Physics"),
        )
    )
    rows = by_id(db)
    assert rows[7]["course_code"] == longer
    assert utc(rows[7]["created_at"]) == datetime(2024, 1, 2, 4, 30, tzinfo=UTC)
    assert rows[8]["name"] == "Physics"
    assert column_types(db)["course_code"][0] in ("text", "longtext")
    assert column_types(db)["name"][0] in ("character varying(255)", "varchar(255)")


def test_widening_commits_with_its_batch_or_carries_on_after_a_failure(
    official: Database,
) -> None:
    """A batch that fails after its column was widened: PostgreSQL undoes both; MySQL has
    committed the ALTER by itself, and the next run loads into the widened column."""
    db = official
    db.execute(
        f"ALTER TABLE {db.table(TABLE)} ADD CONSTRAINT positive_account CHECK (account_id > 0)"
    )
    longer = "y" * 300
    with pytest.raises(TargetError):
        db.load(messages(courses_schema(), course(6, course_code=longer, account_id=-1)))
    widened = column_types(db)["course_code"][0]
    assert widened == ("character varying(255)" if db.kind == "postgresql" else "longtext")
    assert 6 not in by_id(db)

    db.load(messages(courses_schema(), course(6, course_code=longer)))
    assert by_id(db)[6]["course_code"] == longer
    assert column_types(db)["course_code"][0] in ("text", "longtext")
    assert by_id(db, VIEW)[6]["course_code"] == longer


@pytest.mark.parametrize("hard_delete", [False, True])
def test_deletes_and_a_later_snapshot_sweep_official_rows(
    official: Database, hard_delete: bool
) -> None:
    db = official
    before = column_types(db)
    db.load(messages(courses_schema(), deleted(2), course(1, version=3)), hard_delete=hard_delete)
    rows = by_id(db)
    if hard_delete:
        assert 2 not in rows
    else:
        assert rows[2]["_sdc_deleted_at"] is not None

    # A new snapshot holds courses 1 and 4: the official row 3 (no table version) goes.
    db.load(
        messages(
            courses_schema(),
            course(1, version=7, name="Algebra"),
            course(4, version=7, name="Drama"),
            {"type": "ACTIVATE_VERSION", "stream": STREAM, "version": 7},
        ),
        hard_delete=hard_delete,
    )
    rows = by_id(db)
    live = {k for k, row in rows.items() if row["_sdc_deleted_at"] is None}
    assert live == {1, 4}
    assert {rows[k]["_sdc_table_version"] for k in live} == {7}
    assert set(rows) == ({1, 4} if hard_delete else {1, 2, 3, 4})
    assert changed_types(before, db) == {}
    assert set(by_id(db, VIEW)) == set(rows)


def test_a_column_type_the_target_cannot_write_fails_before_any_change(
    official: Database,
) -> None:
    db = official
    # Official types the target does not write: PostgreSQL arrays (DAP arrays such as
    # developer_keys.redirect_uris) and MySQL's binary(16) (DAP uuids such as
    # lti_resource_links.lookup_uuid)
    ddl_type, named = (
        ("varchar(255)[]", "character varying(255)[]")
        if db.kind == "postgresql"
        else ("binary(16)", "binary(16)")
    )
    table = "canvas.lti_resource_links"
    db.execute(
        f"CREATE TABLE {db.table(table)} (id bigint NOT NULL, lookup {ddl_type}, PRIMARY KEY (id))"
    )
    db.execute(f"INSERT INTO {db.table(table)} (id) VALUES (1)")
    lookup = (
        {"type": ["array", "null"], "items": {"type": "string", "maxLength": 255}}
        if db.kind == "postgresql"
        else {"type": ["string", "null"], "format": "uuid"}
    )
    schema = {
        "type": "SCHEMA",
        "stream": "canvas-lti_resource_links",
        "schema": {"properties": {"id": {"type": "integer"}, "lookup": lookup}},
        "key_properties": ["id"],
    }
    record = {"type": "RECORD", "stream": "canvas-lti_resource_links", "record": {"id": 2}}
    with pytest.raises(TargetError) as raised:
        db.load(messages(schema, record))
    message = str(raised.value)
    assert ".".join(db.place(table)) in message
    assert "column lookup" in message
    assert named in message
    assert "nothing was changed" in message
    assert set(db.columns(table)) == {"id", "lookup"}  # nothing added
    assert [row["id"] for row in db.rows(table)] == [1]
