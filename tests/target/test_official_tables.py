"""Increments loaded into tables that the official DAP CLI (`dap initdb`) created.

The tables come from the official client's own DDL (instructure-dap-client 2.3.1, kept in
tests/official_cli/): `timestamp` without time zone (MySQL `datetime`), `varchar(n)`,
MySQL `tinyint` booleans, the enum type `canvas.courses__workflow_state` (MySQL: an inline
ASCII `ENUM`), and rows as the official client writes them, under a view. tap-dap's stream
of `courses` then loads into them: the official types stay (a `varchar` becomes text only
for a longer value), the target's columns are added without rewriting the table, and
upserts, deletes and a later snapshot behave as on the target's own tables.

The official types the target writes through a conversion: MariaDB's `binary(16)` uuids
and IP addresses (`canvas_logs.web_logs`, whose key is a uuid), compared byte for byte
with the official client's encoding (`uuid.UUID.bytes`, `ipaddress` `packed`), and
PostgreSQL's arrays of DAP's array fields (`assignments.submission_types`, an array of an
enum type; `developer_keys.redirect_uris`, `varchar(255)[]`).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from dap_sim.catalog import envelope, reference_schema
from tap_dap.singer.schema import translate
from target_dap_sql.errors import TargetError

from tests.conftest import OFFICIAL_DDL, database_url_for
from tests.target.harness import Database, actual_value, expected_value, messages

TABLE = "canvas.courses"
VIEW = "canvas.course_names"
STREAM = "canvas-courses"
METADATA = ("_dap_ts", "_sdc_deleted_at", "_sdc_table_version", "_sdc_batched_at")
TS = "2024-03-01T12:00:00Z"


@pytest.fixture(params=["postgresql", "mariadb"])  # the official client's databases here
def official(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Database:
    """A database as `dap initdb` left it: `canvas.courses`, three rows and a view."""
    db = Database(database_url_for(request.param, request, tmp_path_factory.mktemp("db")))
    official_ddl(db, TABLE)
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


def official_ddl(db: Database, table: str) -> None:
    """Create a table (and its enum types) with the official client's own statements."""
    ddl = "postgresql" if db.kind == "postgresql" else "mysql"
    for statement in (OFFICIAL_DDL / f"{table}.{ddl}.sql").read_text().split(";\n"):
        if statement.strip():
            db.execute(statement)


def schema_message(table: str) -> dict[str, Any]:
    """tap-dap's SCHEMA message for a DAP table (`namespace.table`)."""
    namespace, name = table.split(".")
    stream = translate(envelope(reference_schema(namespace, name)), 1, f"{namespace}-{name}")
    return {
        "type": "SCHEMA",
        "stream": f"{namespace}-{name}",
        "schema": stream.schema,
        "key_properties": stream.key_properties,
    }


def courses_schema(*new_states: str) -> dict[str, Any]:
    """tap-dap's SCHEMA message for `canvas.courses` (DAP adding ``new_states`` to the enum)."""
    message = schema_message(TABLE)
    states = message["schema"]["properties"]["workflow_state"]
    states["enum"] = [*states["enum"], *new_states]
    return message


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
    # Official types that take the stream's values only through a conversion, here sent
    # plain text, which the target converts into neither: a PostgreSQL array (DAP arrays
    # such as developer_keys.redirect_uris) and MySQL's binary(16) (DAP uuids)
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
    schema = {
        "type": "SCHEMA",
        "stream": "canvas-lti_resource_links",
        "schema": {
            "properties": {"id": {"type": "integer"}, "lookup": {"type": ["string", "null"]}}
        },
        "key_properties": ["id"],
    }
    record = {"type": "RECORD", "stream": "canvas-lti_resource_links", "record": {"id": 2}}
    with pytest.raises(TargetError) as raised:
        db.load(messages(schema, record))
    message = str(raised.value)
    assert ".".join(db.place(table)) in message
    assert "column lookup" in message
    assert named in message
    assert "does not write text values" in message
    assert "nothing was changed" in message
    assert set(db.columns(table)) == {"id", "lookup"}  # nothing added
    assert [row["id"] for row in db.rows(table)] == [1]


# -- official types written through a conversion ----------------------------------------


def record(schema: Mapping[str, Any], key: Any, **values: Any) -> dict[str, Any]:
    """A RECORD of a SCHEMA message's stream as tap-dap writes it: every field whose type
    admits no null filled in (integers 0, booleans false, enums their last member, arrays
    empty, strings "x", date-times TS), ``values`` over them."""
    filled: dict[str, Any] = {}
    for name, prop in schema["schema"]["properties"].items():
        types = prop.get("type")
        if not isinstance(types, str):
            continue  # nullable, or an anyOf / oneOf: set it in ``values`` where needed
        if "enum" in prop:
            filled[name] = prop["enum"][-1]
        elif types == "string":
            filled[name] = TS if prop.get("format") == "date-time" else "x"
        else:
            filled[name] = {"integer": 0, "boolean": False, "array": []}.get(types)
    fields = {**filled, "id": key, "_dap_ts": TS, "_sdc_deleted_at": None, **values}
    return {"type": "RECORD", "stream": schema["stream"], "record": fields}


def delete_of(schema: Mapping[str, Any], key: Any) -> dict[str, Any]:
    """tap-dap's RECORD of a delete: the key and the metadata only."""
    fields = {"id": key, "_dap_ts": TS, "_sdc_deleted_at": TS}
    return {"type": "RECORD", "stream": schema["stream"], "record": fields}


WEB_LOGS = "canvas_logs.web_logs"
SESSION = "bf6363cf-bee1-4371-bc11-8fd4b21bd183"


def request_id(n: int) -> str:
    return f"0e5707c0-794e-4e80-9aeb-{n:012x}"


def official_uuid(text: str) -> bytes:
    """A uuid as the official client stores it in MySQL's binary(16): `uuid.UUID.bytes`."""
    return uuid.UUID(text).bytes


def official_ip(text: str, size: int = 16) -> bytes:
    """An IP address as the official client stores it in MySQL's binary(n): `packed`
    (4 bytes for IPv4, 16 for IPv6), which the column pads with zero bytes."""
    return ipaddress.ip_address(text).packed.ljust(size, b"\0")


@pytest.fixture
def web_logs(mariadb_url: str) -> Database:
    """canvas_logs.web_logs as `dap initdb` creates it on MariaDB (binary(16) uuid key,
    binary(16) IP address, nullable binary(16) session uuid), with two official rows."""
    db = Database(mariadb_url)
    official_ddl(db, WEB_LOGS)
    rows = [(1, "75.46.19.12", SESSION), (2, "2001:db8:370a:5566:148a:eda2:445d:7a2", None)]
    for n, ip, session in rows:
        session_sql = f"X'{official_uuid(session).hex()}'" if session else "NULL"
        db.execute(
            f"INSERT INTO {db.table(WEB_LOGS)} (id, timestamp, url, http_method, http_status, "
            "http_version, remote_ip, interaction_micros, participated, session_id) VALUES "
            f"(X'{official_uuid(request_id(n)).hex()}', '2024-02-01 08:00:00', '/courses', 'GET', "
            f"200, '1.1', X'{official_ip(ip).hex()}', 1500, 1, {session_sql})"
        )
    return db


def stored_web_logs(db: Database) -> dict[bytes, dict[str, Any]]:
    return {row["id"]: row for row in db.rows(WEB_LOGS)}


def addresses(db: Database) -> dict[bytes, bytes]:
    return {key: row["remote_ip"] for key, row in stored_web_logs(db).items()}


def binary_types(db: Database) -> dict[str, Any]:
    schema, name = db.place(WEB_LOGS)
    return dict(
        db.query(
            "SELECT column_name, CONCAT(column_type, ' ', is_nullable) FROM "
            f"information_schema.columns WHERE table_schema = '{schema}' AND table_name = "
            f"'{name}' AND column_type LIKE 'binary%'"
        )
    )


def test_uuids_and_ip_addresses_go_into_the_official_binary_columns(web_logs: Database) -> None:
    db = web_logs
    schema = schema_message(WEB_LOGS)
    before = binary_types(db)
    mapped, upper = "::ffff:1.2.3.4", request_id(3).upper()
    db.load(
        messages(
            schema,
            record(schema, request_id(1), remote_ip="2001:db8::1", session_id=None),
            record(schema, upper, remote_ip=mapped, session_id=SESSION, url="/login"),
            record(schema, request_id(4), remote_ip="10.0.0.255"),
            delete_of(schema, request_id(2)),
        )
    )
    assert (
        binary_types(db)
        == before
        == {
            "id": "binary(16) NO",
            "remote_ip": "binary(16) NO",
            "session_id": "binary(16) YES",
        }
    )
    rows = stored_web_logs(db)
    assert set(rows) == {official_uuid(request_id(n)) for n in (1, 2, 3, 4)}
    updated = rows[official_uuid(request_id(1))]  # an official row, found by its key's bytes
    assert updated["remote_ip"] == official_ip("2001:db8::1")
    assert updated["session_id"] is None
    assert updated["_sdc_batched_at"] is not None
    new = rows[official_uuid(request_id(3))]  # the uuid's text was upper case
    assert (new["remote_ip"], new["session_id"]) == (official_ip(mapped), official_uuid(SESSION))
    assert rows[official_uuid(request_id(4))]["remote_ip"] == official_ip("10.0.0.255")
    deleted_row = rows[official_uuid(request_id(2))]  # soft: marked, the official bytes kept
    assert deleted_row["_sdc_deleted_at"] is not None
    assert deleted_row["remote_ip"] == official_ip("2001:db8:370a:5566:148a:eda2:445d:7a2")
    ip_prop = schema["schema"]["properties"]["remote_ip"]
    # the harness reads them back as the addresses the stream sent
    assert actual_value(ip_prop, new["remote_ip"]) == expected_value(ip_prop, mapped)
    assert actual_value(ip_prop, rows[official_uuid(request_id(4))]["remote_ip"]) == "10.0.0.255"

    # A later batch: hard deletes find the rows by their binary key, repeated keys upsert
    db.load(
        messages(
            schema,
            delete_of(schema, request_id(3)),
            record(schema, request_id(4), remote_ip="10.0.0.1"),
            record(schema, request_id(4), remote_ip="10.0.0.2", session_id=SESSION),
        ),
        hard_delete=True,
    )
    rows = stored_web_logs(db)
    assert official_uuid(request_id(3)) not in rows
    again = rows[official_uuid(request_id(4))]
    assert (again["remote_ip"], again["session_id"]) == (
        official_ip("10.0.0.2"),
        official_uuid(SESSION),
    )


def test_a_first_load_into_an_emptied_official_binary_table(web_logs: Database) -> None:
    """An empty table takes a batch of new keys by LOAD DATA straight into it: its SET
    converts the uuids and addresses there too."""
    db = web_logs
    db.execute(f"DELETE FROM {db.table(WEB_LOGS)}")
    schema = schema_message(WEB_LOGS)
    sent = {5: "192.168.1.20", 6: "2001:db8:59b4:ff0b:c0ff:d478:66ba:33", 7: "::1"}
    db.load(
        messages(
            schema,
            *(
                record(schema, request_id(n), remote_ip=ip, session_id=SESSION if n == 6 else None)
                for n, ip in sent.items()
            ),
        )
    )
    rows = stored_web_logs(db)
    assert {k: row["remote_ip"] for k, row in rows.items()} == {
        official_uuid(request_id(n)): official_ip(ip) for n, ip in sent.items()
    }
    assert [row["session_id"] for _, row in sorted(rows.items())] == [
        None,
        official_uuid(SESSION),
        None,
    ]


@pytest.mark.parametrize("emptied", [False, True])
def test_a_value_that_is_not_an_ip_address_fails_naming_column_and_line(
    web_logs: Database, emptied: bool
) -> None:
    """`INET6_ATON` gives NULL for what is not an address: the batch fails instead of
    storing NULL, on the staged path and on the direct load into an emptied table."""
    db = web_logs
    if emptied:
        db.execute(f"DELETE FROM {db.table(WEB_LOGS)}")
    before = addresses(db)
    schema = schema_message(WEB_LOGS)
    with pytest.raises(TargetError) as raised:
        db.load(
            messages(
                schema,
                record(schema, request_id(8), remote_ip="10.1.2.3"),
                record(schema, request_id(9), remote_ip="10.1.2"),
            )
        )
    message = str(raised.value)
    assert "column 'remote_ip'" in message
    assert raised.value.line == 3
    assert "binary(16)" in message
    assert addresses(db) == before


@pytest.mark.parametrize("refused", ["::1", "10.1.2"])
def test_an_ipv4_column_holds_4_bytes_and_refuses_what_is_no_ipv4_address(
    mariadb_url: str, refused: str
) -> None:
    """A DAP field of format ipv4 alone is binary(4) in the official client's tables. A
    nullable column too refuses what `INET6_ATON` cannot convert, rather than take NULL."""
    db = Database(mariadb_url)
    table = "canvas.hosts"
    db.execute(
        f"CREATE TABLE {db.table(table)} (id bigint NOT NULL, address binary(4), PRIMARY KEY (id))"
    )
    properties = {
        "id": {"type": "integer"},
        "address": {"type": ["string", "null"], "format": "ipv4"},
    }
    schema = {
        "type": "SCHEMA",
        "stream": "canvas-hosts",
        "schema": {"properties": properties},
        "key_properties": ["id"],
    }

    def host(key: int, address: str | None) -> dict[str, Any]:
        return {
            "type": "RECORD",
            "stream": "canvas-hosts",
            "record": {"id": key, "address": address},
        }

    db.load(messages(schema, host(1, "10.20.30.40"), host(2, None)))
    assert [row["address"] for row in db.rows(table)] == [official_ip("10.20.30.40", 4), None]
    with pytest.raises(TargetError) as raised:
        db.load(messages(schema, host(3, refused)))
    assert "column 'address'" in str(raised.value)
    assert raised.value.line == 2
    assert [row["id"] for row in db.rows(table)] == [1, 2]


ASSIGNMENTS, DEVELOPER_KEYS = "canvas.assignments", "canvas.developer_keys"


@pytest.fixture
def arrays(postgres_url: str) -> Database:
    """canvas.assignments (`submission_types`, an array of the enum type
    `canvas.assignments__submission_types`) and canvas.developer_keys (`redirect_uris`,
    `varchar(255)[]`) as `dap initdb` creates them on PostgreSQL, with an official row each."""
    db = Database(postgres_url)
    for table in (ASSIGNMENTS, DEVELOPER_KEYS):
        official_ddl(db, table)
        schema = schema_message(table)
        columns = db.columns(table)
        official = {k: v for k, v in record(schema, 1)["record"].items() if k in columns}
        official["submission_types" if table == ASSIGNMENTS else "redirect_uris"] = (
            ["online_quiz", "online_upload"] if table == ASSIGNMENTS else ["https://a.example/"]
        )
        names = ", ".join(f'"{name}"' for name in official)
        values = ", ".join(_pg_literal(value) for value in official.values())
        db.execute(f"INSERT INTO {db.table(table)} ({names}) VALUES ({values})")
    return db


def _pg_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):  # an array literal; the column's type takes it as it is
        return "'{" + ",".join(f'"{element}"' for element in value) + "}'"
    return "'" + str(value).replace("'", "''") + "'"


def array_types(db: Database) -> dict[str, tuple[Any, ...]]:
    return {
        str(row[0]): tuple(row[1:])
        for row in db.query(
            "SELECT attrelid::regclass || '.' || attname, format_type(atttypid, atttypmod), "
            "attnotnull FROM pg_attribute WHERE attrelid IN ('canvas.assignments'::regclass, "
            "'canvas.developer_keys'::regclass) AND atttypid IN (SELECT oid FROM pg_type "
            "WHERE typcategory = 'A')"
        )
    }


def arrays_of(db: Database, table: str) -> dict[int, Any]:
    column = "submission_types" if table == ASSIGNMENTS else "redirect_uris"
    return {row["id"]: row[column] for row in db.rows(table)}


def test_json_arrays_go_into_the_official_array_columns(arrays: Database) -> None:
    db = arrays
    before = array_types(db)
    assignments, keys = schema_message(ASSIGNMENTS), schema_message(DEVELOPER_KEYS)
    uris = ["https://b.example/cb?x=1,2", 'a "quoted" {brace}', "ü" * 255, "", "NULL"]
    db.load(
        messages(
            assignments,
            keys,
            record(assignments, 1, submission_types=["online_upload", "none", "online_upload"]),
            record(assignments, 2, submission_types=[]),
            record(assignments, 3, submission_types=["wiki_page"]),
            record(keys, 1, redirect_uris=uris),
            record(keys, 2, redirect_uris=["https://c.example/"]),
        )
    )
    assert (
        array_types(db)
        == before
        == {
            "canvas.assignments.submission_types": ("canvas.assignments__submission_types[]", True),
            "canvas.developer_keys.redirect_uris": ("character varying(255)[]", True),
        }
    )
    assert arrays_of(db, ASSIGNMENTS) == {
        1: ["online_upload", "none", "online_upload"],  # in order, repeats kept
        2: [],  # empty stays empty
        3: ["wiki_page"],
    }
    assert arrays_of(db, DEVELOPER_KEYS) == {1: uris, 2: ["https://c.example/"]}

    db.load(
        messages(
            assignments,
            delete_of(assignments, 3),
            record(assignments, 4, submission_types=None),  # the column takes NULL
            record(assignments, 2, submission_types=["not_graded"]),
        )
    )
    stored = {row["id"]: row for row in db.rows(ASSIGNMENTS)}
    assert stored[3]["_sdc_deleted_at"] is not None
    assert stored[3]["submission_types"] == ["wiki_page"]
    assert stored[4]["submission_types"] is None  # NULL, not an empty array
    assert stored[2]["submission_types"] == ["not_graded"]
    assert array_types(db)["canvas.assignments.submission_types"][1] is False  # relaxed


def test_a_new_value_of_an_array_of_enums_joins_the_official_enum_type(arrays: Database) -> None:
    """DAP adds a value to the enum of an array's items: the official enum type gets it,
    as a scalar enum column's would, and the array column keeps its type."""
    db = arrays
    before = array_types(db)
    assignments = schema_message(ASSIGNMENTS)
    items = assignments["schema"]["properties"]["submission_types"]["items"]
    items["enum"] = [*items["enum"], "peer_review_quiz"]
    db.load(messages(assignments, record(assignments, 9, submission_types=["peer_review_quiz"])))
    assert arrays_of(db, ASSIGNMENTS)[9] == ["peer_review_quiz"]
    members = db.query("SELECT enum_range(NULL::canvas.assignments__submission_types)::text")
    assert str(members[0][0]).endswith(",peer_review_quiz}")
    assert array_types(db) == before


def test_a_first_load_into_an_emptied_official_array_table(arrays: Database) -> None:
    """An empty table takes a batch of new keys by a plain INSERT from the staged rows."""
    db = arrays
    db.execute(f"DELETE FROM {db.table(ASSIGNMENTS)}")
    assignments = schema_message(ASSIGNMENTS)
    db.load(
        messages(
            assignments,
            record(assignments, 7, submission_types=["on_paper", "online_quiz"]),
            record(assignments, 8, submission_types=[]),
        )
    )
    assert arrays_of(db, ASSIGNMENTS) == {7: ["on_paper", "online_quiz"], 8: []}


def test_an_array_element_the_column_does_not_hold_fails_naming_column_and_line(
    arrays: Database,
) -> None:
    """A value outside the enum type fails naming its column and line; a longer element
    than varchar(255) fails rather than being cut."""
    db = arrays
    assignments, keys = schema_message(ASSIGNMENTS), schema_message(DEVELOPER_KEYS)
    with pytest.raises(TargetError) as raised:
        db.load(
            messages(
                assignments,
                record(assignments, 5, submission_types=["on_paper"]),
                record(assignments, 6, submission_types=["on_paper", "carrier_pigeon"]),
            )
        )
    assert "column 'submission_types'" in str(raised.value)
    assert "carrier_pigeon" in str(raised.value)
    assert raised.value.line == 3
    with pytest.raises(TargetError) as raised:
        db.load(messages(keys, record(keys, 3, redirect_uris=["https://d.example/", "x" * 256])))
    assert "column 'redirect_uris'" in str(raised.value)
    assert "character varying(255)" in str(raised.value)
    assert raised.value.line == 2
    assert arrays_of(db, ASSIGNMENTS) == {1: ["online_quiz", "online_upload"]}
    assert arrays_of(db, DEVELOPER_KEYS) == {1: ["https://a.example/"]}
