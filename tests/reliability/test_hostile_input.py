"""Hostile and broken input to target-dap-sql, on PostgreSQL and DuckDB.

Every case is a file in hostile/ holding the tail of a run, its bad line last. The test
loads `previous_run` (an earlier run), then runs the CLI on `same_run_prefix` (two
records that fill a batch, so they commit, and a STATE), the case, and
`never_loaded_suffix`. A refused case must exit 1 with one clear line naming the input
line and the stream, leave both earlier loads exactly as they were, load nothing after
the bad line and pass on no STATE after it. A case the target deliberately accepts must
load as documented (docs-draft/hostile.md), suffix included.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from target_dap_sql.errors import TargetError
from target_dap_sql.identifiers import standard_quote as quote
from target_dap_sql.spool import MAX_RECORD_BYTES

from tests.target import conftest as target_fixtures
from tests.target.harness import Database
from tests.target.test_errors import CLI, error_line

db = target_fixtures.db  # the target tests' fixture: a PostgreSQL database, a DuckDB file

HOSTILE = Path(__file__).parent / "hostile"
COURSES = "canvas.courses"


def case_data(name: str) -> bytes:
    return (HOSTILE / f"{name}.singer").read_bytes()


def run_target(
    config: dict[str, object], data: bytes, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """The CLI on raw bytes: some cases are not valid UTF-8."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    done = subprocess.run(
        [CLI, "--config", str(config_file)],
        input=data,
        capture_output=True,
        timeout=300,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode(errors="replace")
    )


def line_count(data: bytes) -> int:
    return len(data.splitlines())


def courses(db: Database) -> dict[int, tuple[object, ...]]:
    """canvas.courses as text, so that every value compares (even year 10000)."""
    columns = ("name", "workflow_state", "seats", "starts_at", "_dap_ts", "_sdc_deleted_at")
    selected = ", ".join(db.as_text(f'"{c}"') for c in columns)
    rows = db.query(f"SELECT id, {selected} FROM {db.table(COURSES)} ORDER BY id")
    return {int(row[0]): tuple(row[1:]) for row in rows}


def single_value(db: Database, sql: str) -> object:
    rows = db.query(sql)
    assert len(rows) == 1, rows
    return rows[0][0]


def course_value(db: Database, column: str, course_id: int = 6) -> object:
    return single_value(
        db, f"SELECT {db.as_text(quote(column))} FROM {db.table(COURSES)} WHERE id = {course_id}"
    )


@dataclass(frozen=True)
class Refused:
    """Exit 1; the error line holds `words` and names `stream` (None: the line names none)."""

    words: tuple[str, ...]
    stream: str | None = "canvas-courses"


@dataclass(frozen=True)
class Loaded:
    """Exit 0; `check` asserts what the case documents."""

    check: Callable[[Database, str], None]


def _stored_as(column: str, expected: str) -> Loaded:
    def check(db: Database, stderr: str) -> None:
        assert course_value(db, column) == expected

    return Loaded(check)


def _one_row_in(schema: str, table: str, column: str, expected: object) -> Loaded:
    """An injected name is a name: its table exists with the record, and nothing else ran."""

    def check(db: Database, stderr: str) -> None:
        sql = f"SELECT {quote(column)} FROM {db.table(f'{schema}.{table}')}"
        assert single_value(db, sql) == expected

    return Loaded(check)


def _nul_removed_or_kept(db: Database, stderr: str) -> None:
    if db.kind == "postgresql":  # text cannot hold NUL: removed, and said where
        assert course_value(db, "name") == "Physics"
        assert "column 'name', input line 5: removed NUL characters" in stderr
    else:
        assert course_value(db, "name") == "Phy\x00sics"


def _object_as_json_text(db: Database, stderr: str) -> None:
    assert json.loads(str(course_value(db, "name"))) == {"first": "Phy", "last": "sics"}


def _extra_field_ignored(db: Database, stderr: str) -> None:
    assert course_value(db, "name") == "Physics"
    assert "surprise" not in db.columns(COURSES)


def _column_widened_to_json(db: Database, stderr: str) -> None:
    assert json.loads(str(course_value(db, "seats"))) == {"min": 5, "max": 60}
    assert json.loads(str(course_value(db, "seats", course_id=1))) == 10  # old rows kept


def _unknown_type_as_json(db: Database, stderr: str) -> None:
    value = single_value(db, f"SELECT {db.as_text('x')} FROM {db.table('canvas.strange')}")
    assert value in ("anything", '"anything"')


INJECTED = 'x" text); DROP TABLE canvas.courses; --'
INJECTED_KEY = 'k"; DROP TABLE canvas.courses; --'
INJECTED_ENUM = "x'); DROP TABLE canvas.courses; --"

CASES: dict[str, Refused | Loaded | dict[str, Refused | Loaded]] = {
    # Lines that are not Singer messages
    "truncated_json": Refused(("not a valid Singer message",)),
    "not_json": Refused(("not a valid Singer message",), stream=None),
    "json_array_line": Refused(("not a JSON object with a `type`",)),
    "json_scalar_line": Refused(("not a JSON object with a `type`",), stream=None),
    "message_without_type": Refused(("not a JSON object with a `type`",)),
    "unknown_message_type": Refused(("unknown Singer message type 'UPSERT'",)),
    "invalid_utf8": Refused(("not valid UTF-8",)),
    "lone_surrogate": Refused(("surrogate",)),
    "nan_literal": Refused(("not a valid Singer message",)),
    "deeply_nested_value": Refused(("depth limit exceeded",)),
    # Messages with fields of the wrong kind
    "record_is_array": Refused(("`record` must be a JSON object",)),
    "record_is_string": Refused(("`record` must be a JSON object",)),
    "record_missing": Refused(("`record` must be a JSON object",)),
    "stream_not_a_string": Refused(("RECORD message without a `stream` name",), stream=None),
    "record_version_not_an_integer": Refused(("`version` must be an integer",)),
    "activate_version_not_an_integer": Refused(("`version` must be an integer",)),
    "schema_missing": Refused(("`schema` must be a JSON schema object",)),
    "schema_not_an_object": Refused(("`schema` must be a JSON schema object",)),
    "key_properties_not_a_list": Refused(("`key_properties` must be a list of field names",)),
    "state_without_value": Refused(("STATE message: no `value`",), stream=None),
    "batch_missing_file": Refused(("canvas-courses-0001.jsonl.gz",)),
    # Streams and names the target cannot use
    "record_for_unknown_stream": Refused(("before its SCHEMA",), stream="canvas-no_such_table"),
    "activate_version_unknown_stream": Refused(("before its SCHEMA",), stream="canvas-nowhere"),
    "empty_stream_name": Refused(("empty table name",), stream=""),
    "nul_in_stream_name": Refused(("NUL character",), stream="canvas-cour\x00ses"),
    "nul_in_column_name": Refused(("NUL character",), stream="canvas-nul_column"),
    # Keys
    "missing_key": Refused(("no value for key property 'id'",)),
    "null_key": Refused(("no value for key property 'id'",)),
    "key_property_not_in_schema": Refused(("key properties ['uuid'] are not in the schema",)),
    "key_change_on_existing_table": Refused(("differs from the table's primary key (id)",)),
    # Values the column cannot hold
    "string_in_integer_column": Refused(("column 'seats'",)),
    "int32_overflow": Refused(("column 'seats'",)),
    "float_in_integer_column": Refused(("column 'seats'",)),
    "enum_value_not_allowed": Refused(("column 'workflow_state'",)),
    "invalid_timestamp": Refused(("column 'starts_at'",)),
    "timestamp_year_294277": Refused(("column 'starts_at'",)),
    "incompatible_type_change": Refused(("column starts_at", "no lossless change")),
    # Deliberately accepted
    "duplicate_keys_in_one_batch": _stored_as("name", "second"),  # the last record wins
    "nul_in_value": Loaded(_nul_removed_or_kept),
    "boolean_in_integer_column": _stored_as("seats", "1"),  # both databases cast it
    "object_in_string_column": Loaded(_object_as_json_text),
    "extra_field_not_in_schema": Loaded(_extra_field_ignored),
    "type_widened_to_json": Loaded(_column_widened_to_json),
    "unknown_json_type": Loaded(_unknown_type_as_json),
    "timestamp_year_10000": {
        "postgresql": _stored_as("starts_at", "10000-01-01 00:00:00+00"),
        "duckdb": _stored_as("starts_at", "10000-01-01 00:00:00+00"),
        "mariadb": Refused(("column 'starts_at'", "years 1000 to 9999")),  # DATETIME's range
    },
    "sql_injection_in_value": _stored_as("name", "'); DROP TABLE canvas.courses; --"),
    "sql_injection_in_stream_name": _one_row_in(
        "canvas", 'courses"; DROP TABLE canvas.courses; --', "name", "Physics"
    ),
    "sql_injection_in_schema_name": _one_row_in(
        'canvas"; DROP SCHEMA canvas CASCADE; ', "-x-courses", "name", "Physics"
    ),
    "sql_injection_in_column_name": _one_row_in("canvas", "injected", INJECTED, "v"),
    "sql_injection_in_key_property": _one_row_in("canvas", "injected_key", INJECTED_KEY, 1),
    "sql_injection_in_enum_value": _one_row_in(
        "canvas", "injected_enum", "e", "x'); DROP TABLE canvas.courses; --"
    ),
    # Where the databases differ, each as documented
    "duplicate_json_member": {
        "postgresql": _stored_as("name", "second"),  # the last member wins, as in orjson
        "duckdb": Refused(('has duplicate key "name"',)),  # DuckDB's JSON reader refuses
        "mariadb": Refused(('has duplicate key "name"',)),  # the same reader
    },
    "enormous_integer": {
        "postgresql": Refused(("number is infinity",)),  # the line does not parse
        "duckdb": Refused(("column 'seats'", "not a whole number that fits INTEGER")),
        "mariadb": Refused(("column 'seats'", "not a whole number that fits INTEGER")),
    },
    "timestamp_year_0": {
        "postgresql": Refused(("column 'starts_at'", "out of range")),  # it has no year 0
        "duckdb": _stored_as("starts_at", "0001-01-01 (BC) 00:00:00+00"),  # ISO 8601 year 0
        "mariadb": _stored_as("starts_at", "0000-01-01 00:00:00.000000"),  # MariaDB has year 0
    },
}


def test_every_case_file_has_an_expectation_and_there_are_at_least_30() -> None:
    files = {path.stem for path in HOSTILE.glob("*.singer")}
    helpers = {"previous_run", "same_run_prefix", "never_loaded_suffix"}
    assert files - helpers == set(CASES)
    assert sum(1 for outcome in CASES.values() if not isinstance(outcome, Loaded)) >= 30


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input(
    db: Database,
    tmp_path: Path,
    case: str,
) -> None:
    outcome = CASES[case]
    if isinstance(outcome, dict):
        outcome = outcome[db.kind]

    assert db.load(case_data("previous_run")) == [
        {"bookmarks": {"canvas-courses": {"replication_key_value": "previous-run"}}}
    ]
    before = courses(db)
    prefix, hostile = case_data("same_run_prefix"), case_data(case)
    data = prefix + hostile + case_data("never_loaded_suffix")
    result = run_target(db.config(batch_size_rows=2), data, tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    states = [
        json.loads(line)["bookmarks"]["canvas-courses"]["replication_key_value"]
        for line in result.stdout.splitlines()
    ]
    after = courses(db)
    assert {i: after[i] for i in (1, 2, 3)} == before  # the previous run's rows, unchanged
    _, state, _, *rest = before[1]  # as course 1, but for name and seats
    assert after[4] == ("Biology", state, "40", *rest)  # this run's committed batch, whole
    assert after[5] == ("Chemistry", state, "50", *rest)

    if isinstance(outcome, Loaded):
        assert result.returncode == 0, result.stderr
        assert states == ["same-run", "after-the-bad-line"]
        assert {98, 99} <= set(after)
        outcome.check(db, result.stderr)
        return

    assert result.returncode == 1, result.stderr
    message = error_line(result)
    bad_line = line_count(prefix) + line_count(hostile)
    assert f"input line {bad_line}:" in message
    if outcome.stream is not None:
        assert f"stream {outcome.stream!r}" in message
    for word in outcome.words:
        assert word in message
    assert states == ["same-run"]  # no bookmark beyond the bad line
    assert set(after) == {1, 2, 3, 4, 5}  # nothing after it


def test_an_enormous_value_loads(db: Database) -> None:
    """A 24 MB string (DuckDB's JSON reader takes objects up to 32 MB) loads whole."""
    size = 24 * 1024 * 1024
    record = json.loads(case_data("same_run_prefix").splitlines()[1])
    record["record"]["name"] = "x" * size
    data = case_data("previous_run") + json.dumps(record).encode() + b"\n"
    db.load(data)
    sql = f"SELECT length(name) FROM {db.table(COURSES)} WHERE id = 4"
    assert single_value(db, sql) == size


def test_a_record_beyond_duckdbs_reader_is_refused_naming_its_line(tmp_path: Path) -> None:
    """The largest record DuckDB's reader takes loads; one byte more is refused up front,
    naming its line (DuckDB itself named neither line nor stream, only a staging file)."""
    db = Database(f"duckdb:///{tmp_path / 'big.duckdb'}")
    prefix = json.loads(case_data("same_run_prefix").splitlines()[1])

    def with_name_making_record_bytes(total: int) -> bytes:
        prefix["record"]["name"] = ""
        empty = len(json.dumps(prefix["record"], separators=(",", ":")))
        prefix["record"]["name"] = "x" * (total - empty)
        return json.dumps(prefix, separators=(",", ":")).encode() + b"\n"

    db.load(case_data("previous_run") + with_name_making_record_bytes(MAX_RECORD_BYTES))
    assert single_value(db, "SELECT length(name) FROM canvas.courses WHERE id = 4") > 33_000_000
    data = case_data("previous_run") + with_name_making_record_bytes(MAX_RECORD_BYTES + 1)
    with pytest.raises(TargetError, match="more than DuckDB's JSON reader takes") as caught:
        db.load(data)
    assert caught.value.line == line_count(case_data("previous_run")) + 1
