"""Upserts, deletes, table versions and load methods, read back as a user would."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from tests.target.harness import Database, fixture, messages

COURSES = "canvas.courses"


def names(db: Database, *, live_only: bool = False) -> dict[int, str | None]:
    rows = db.rows(COURSES, ["id", "name", "_sdc_deleted_at"])
    return {r["id"]: r["name"] for r in rows if not (live_only and r["_sdc_deleted_at"])}


def deleted(db: Database) -> set[int]:
    return {r["id"] for r in db.rows(COURSES, ["id", "_sdc_deleted_at"]) if r["_sdc_deleted_at"]}


def test_snapshot_loads_with_state_after_commit(db: Database) -> None:
    state = db.load(fixture("courses_snapshot"))
    assert names(db) == {1: "Math", 2: "Art", 3: "History"}
    assert state == [
        {"bookmarks": {"canvas-courses": {"replication_key_value": "2024-01-01T00:00:00Z"}}}
    ]
    row = db.rows(COURSES, ["_sdc_table_version", "_sdc_batched_at", "_dap_ts"])[0]
    assert row["_sdc_table_version"] == 1
    assert row["_sdc_batched_at"] is not None


def test_duplicate_keys_in_one_batch_keep_the_last(db: Database) -> None:
    db.load(fixture("courses_duplicate_keys"))
    assert names(db) == {1: "third", 2: "Art", 3: "y"}


def test_soft_delete_marks_row_and_keeps_columns(db: Database) -> None:
    db.load(fixture("courses_snapshot"))
    db.load(fixture("courses_deletes"))
    rows = {r["id"]: r for r in db.rows(COURSES)}
    assert set(rows) == {1, 2, 3}  # key 99 was never seen: nothing to mark, no NOT NULL error
    assert rows[2]["_sdc_deleted_at"] is not None
    assert rows[2]["name"] == "Art"
    assert rows[2]["account_id"] == 12
    assert rows[1]["_sdc_deleted_at"] is None


def test_hard_delete_removes_row(db: Database) -> None:
    db.load(fixture("courses_snapshot"), hard_delete=True)
    db.load(fixture("courses_deletes"), hard_delete=True)
    assert names(db) == {1: "Math", 3: "History"}


def test_resurrection_clears_deleted_at(db: Database) -> None:
    db.load(fixture("courses_snapshot"))
    db.load(fixture("courses_resurrection"))
    assert names(db) == {1: "Math again", 2: "Art", 3: "History"}
    assert deleted(db) == set()


@pytest.mark.parametrize("hard_delete", [False, True])
def test_insert_and_delete_in_one_batch_equals_two_batches(db: Database, hard_delete: bool) -> None:
    db.load(fixture("courses_insert_then_delete"), hard_delete=hard_delete)
    if hard_delete:
        assert names(db) == {}
    else:
        assert names(db) == {7: "Brief"}
        assert deleted(db) == {7}


def test_activate_version_soft_marks_older_rows(db: Database) -> None:
    db.load(fixture("courses_snapshot"))
    db.load(fixture("courses_snapshot_v2"))
    assert names(db) == {1: "Math v2", 2: "Art", 3: "History v2"}
    assert deleted(db) == {2}


def test_activate_version_hard_removes_older_rows(db: Database) -> None:
    db.load(fixture("courses_snapshot"), hard_delete=True)
    db.load(fixture("courses_snapshot_v2"), hard_delete=True)
    assert names(db) == {1: "Math v2", 3: "History v2"}


def test_activate_version_before_records(db: Database) -> None:
    """SDK taps send ACTIVATE_VERSION first: older rows go, the new version's rows stay."""
    db.load(fixture("courses_snapshot"), hard_delete=True)
    db.load(fixture("courses_activate_version_first"), hard_delete=True)
    assert names(db) == {3: "History v3"}


def test_append_only_keeps_every_record(db: Database) -> None:
    db.load(fixture("courses_duplicate_keys"), load_method="append-only")
    db.load(fixture("courses_snapshot"), load_method="append-only")
    rows = db.rows(COURSES, ["id", "name"], order="id, _sdc_batched_at, name")
    assert len(rows) == 9
    assert sorted(r["name"] for r in rows if r["id"] == 1) == ["Math", "first", "second", "third"]


def test_overwrite_replaces_the_table_each_run(db: Database) -> None:
    db.load(fixture("courses_snapshot"), load_method="overwrite")
    db.load(fixture("courses_duplicate_keys"), load_method="overwrite")
    assert names(db) == {1: "third", 2: "Art", 3: "y"}
    db.load(fixture("courses_snapshot_v2"), load_method="overwrite")
    assert names(db) == {1: "Math v2", 3: "History v2"}


def test_batches_of_one_give_the_same_result(db: Database) -> None:
    db.load(fixture("courses_snapshot"), batch_size_rows=1)
    db.load(fixture("courses_duplicate_keys"), batch_size_rows=1)
    db.load(fixture("courses_deletes"), batch_size_rows=1)
    assert names(db) == {1: "third", 2: "Art", 3: "y"}
    assert deleted(db) == {2}


def test_foreign_tap_stream_without_key_loads(db: Database) -> None:
    state = db.load(fixture("foreign_no_key"))
    table = f"{db.default_schema}.users"
    rows = db.rows(table, ["login", "score", "tags", "profile"], order="login")
    assert [r["login"] for r in rows] == ["ann", "bob"]
    assert rows[0]["score"] == 1.5
    assert state == [{"users": "done"}]
    db.load(fixture("foreign_no_key"))  # no key: appended again
    assert len(db.rows(table, ["login"], order="login")) == 4


def test_default_target_schema_setting(db: Database) -> None:
    db.load(fixture("foreign_no_key"), default_target_schema="imported")
    assert len(db.rows("imported.users", ["login"], order="login")) == 2


def test_validate_records_path_gives_the_same_rows(db: Database) -> None:
    db.load(fixture("courses_snapshot"), validate_records=True)
    db.load(fixture("courses_deletes"), validate_records=True)
    assert names(db) == {1: "Math", 2: "Art", 3: "History"}
    assert deleted(db) == {2}


def test_missing_value_for_not_null_column_relaxes_it(db: Database) -> None:
    """A property outside `required` may be absent (JSON Schema): the column learns it."""
    db.load(fixture("courses_snapshot"))
    db.load(fixture("courses_missing_required_value"))
    rows = {r["id"]: r for r in db.rows(COURSES)}
    assert rows[3]["name"] == "x"
    assert rows[3]["workflow_state"] is None
    assert db.columns(COURSES)["workflow_state"][1] is True


def test_nul_characters(db: Database) -> None:
    """PostgreSQL cannot store NUL in text: it is removed (with a warning); DuckDB keeps it."""
    db.load(fixture("courses_nul_character"))
    name = {r["id"]: r["name"] for r in db.rows(COURSES, ["id", "name"])}[3]
    assert name == ("ab" if db.kind == "postgresql" else "a\x00b")


def test_composite_key(db: Database) -> None:
    db.load(fixture("composite_key"))
    rows = db.rows("s.pairs", ["a", "b", "v", "_sdc_deleted_at"], order="a, b")
    assert [(r["a"], r["b"], r["v"], r["_sdc_deleted_at"] is not None) for r in rows] == [
        (1, "x", "second", False),
        (1, "y", "other", False),
        (2, "x", "gone", True),
    ]


def test_values_of_another_json_type_are_converted(db: Database) -> None:
    """A foreign tap that sends "7" for an integer or 12 for a string still loads."""
    db.load(fixture("foreign_loose_types"))
    rows = db.rows("s.loose", ["id", "n", "f", "s", "d"])
    assert [r["n"] for r in rows] == [7, 5, None]
    assert [r["f"] for r in rows] == [1.5, 3.0, None]
    assert [r["s"] for r in rows] == ["12", "true", "plain"]
    assert [float(r["d"]) for r in rows] == [2.125, 7.0, 0.5]


def test_stream_maps_go_through_the_sdk_path(db: Database) -> None:
    maps = {"canvas-courses": {"account_id": "__NULL__", "name": "name.upper()"}}
    db.load(fixture("courses_snapshot"), stream_maps=maps)
    assert names(db) == {1: "MATH", 2: "ART", 3: "HISTORY"}
    assert "account_id" not in db.columns(COURSES)


def test_duckdb_file_named_like_its_schema(tmp_path: Path) -> None:
    """canvas.duckdb holding schema canvas: DuckDB's catalog and the schema share a name."""
    path = tmp_path / "canvas.duckdb"
    db = Database(f"duckdb:///{path}")
    db.load(fixture("courses_snapshot"))
    db.load(fixture("evolve_base"))
    db.load(fixture("evolve_new_enum_value"))
    db.load(fixture("courses_deletes"))
    with duckdb.connect(str(path)) as connection:
        courses = connection.execute(
            "SELECT id, _sdc_deleted_at IS NOT NULL FROM canvas.canvas.courses ORDER BY id"
        ).fetchall()
        states = connection.execute("SELECT DISTINCT state FROM canvas.canvas.evolving").fetchall()
    assert [row[0] for row in courses] == [1, 2, 3]
    assert any(row[1] for row in courses)
    assert ("c",) in states


def test_duplicate_keys_in_a_later_batch_keep_the_last(db: Database) -> None:
    """Also into a table that already has rows (where the merge uses ON CONFLICT)."""
    db.load(fixture("courses_snapshot"))
    db.load(fixture("courses_duplicate_keys"))
    assert names(db) == {1: "third", 2: "Art", 3: "y"}


_COURSE_NAMES = {
    "type": "SCHEMA",
    "stream": "canvas-courses",
    "key_properties": ["id"],
    "schema": {
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        "required": ["id", "name"],
    },
}


def _named(batches: list[list[tuple[int, str | None]]]) -> list[dict[str, object]]:
    return [
        {"type": "RECORD", "stream": "canvas-courses", "record": {"id": i, "name": n}}
        for batch in batches
        for i, n in batch
    ]


def test_a_key_from_an_earlier_batch_of_the_same_run_is_updated(db: Database) -> None:
    """Into a table empty at the start, batches of new keys go in as plain INSERTs until
    a batch repeats an earlier batch's key: that one (and every later one) still upserts."""
    batches = [[(1, "a"), (2, "b")], [(3, "c"), (4, "d")], [(5, "e"), (2, "B")], [(1, "A")]]
    db.load(messages(_COURSE_NAMES, *_named(batches)), batch_size_rows=2)
    assert names(db) == {1: "A", 2: "B", 3: "c", 4: "d", 5: "e"}


def test_a_repeated_key_batch_that_also_relaxes_a_column(db: Database) -> None:
    """DuckDB redoes such a batch from the start (a failed INSERT voids its transaction,
    the NOT NULL change with it): the change must be made again, not remembered."""
    batches = [[(1, "a"), (2, "b")], [(3, None), (1, "A")], [(4, None), (5, "e")]]
    db.load(messages(_COURSE_NAMES, *_named(batches)), batch_size_rows=2)
    assert names(db) == {1: "A", 2: "b", 3: None, 4: None, 5: "e"}
    assert db.columns(COURSES)["name"][1] is True


def test_a_duckdb_batch_is_also_bounded_by_bytes(tmp_path: Path) -> None:
    """Wide rows merge before `batch_size_rows` is reached, so DuckDB's reader never needs
    more memory than its limit: each STATE then follows its committed record at once."""
    db = Database(f"duckdb:///{tmp_path / 'wide.duckdb'}")
    lines = fixture("courses_snapshot").splitlines(keepends=True)
    schema, records = lines[0], [line for line in lines if b'"RECORD"' in line]
    data = schema + b"".join(
        record + messages({"type": "STATE", "value": {"after": i}})
        for i, record in enumerate(records)
    )
    assert db.load(data) == [{"after": 2}]  # one batch: only the last STATE is passed on
    db = Database(f"duckdb:///{tmp_path / 'narrow.duckdb'}")
    assert db.load(data, batch_size_bytes=1) == [{"after": 0}, {"after": 1}, {"after": 2}]
    assert names(db) == {1: "Math", 2: "Art", 3: "History"}


def test_deletes_look_their_keys_up_instead_of_scanning_the_table(postgres_url: str) -> None:
    """A soft delete in a large increment reads the deleted rows, not the whole table.

    Rows derived from the staging table have no statistics; PostgreSQL then took the
    batch for nearly all deletes and hashed the entire table on every batch.
    """
    db = Database(postgres_url)
    schema = {
        "type": "SCHEMA",
        "stream": "s-big",
        "key_properties": ["id"],
        "schema": {"properties": {"id": {"type": "integer"}, "n": {"type": "integer"}}},
    }

    def record(i: int, *, deleted: bool = False) -> dict[str, object]:
        body: dict[str, object] = {"id": i, "n": i}
        if deleted:
            body = {"id": i, "_sdc_deleted_at": "2024-05-01T00:00:00Z"}
        return {"type": "RECORD", "stream": "s-big", "record": body}

    db.load(messages(schema, *(record(i) for i in range(40_000))))
    increment = [record(i) for i in range(20_000)] + [record(i, deleted=True) for i in range(20)]
    before = _rows_read_by_scans(db)
    db.load(messages(schema, *increment), batch_size_rows=30_000)
    assert _rows_read_by_scans(db) - before < 1_000  # the whole table is 40,000
    assert len(db.rows("s.big", ["id"])) == 40_000
    assert deleted_count(db, "s.big") == 20


def _rows_read_by_scans(db: Database) -> int:
    """Rows that sequential scans of s.big have read (the target's sessions have ended)."""
    db.execute("SELECT pg_stat_force_next_flush()")
    found = db.query(
        "SELECT seq_tup_read FROM pg_stat_user_tables WHERE schemaname = 's' AND relname = 'big'"
    )
    return int(found[0][0])


def deleted_count(db: Database, table: str) -> int:
    return sum(1 for r in db.rows(table, ["_sdc_deleted_at"]) if r["_sdc_deleted_at"])


def _versioned(*items: tuple[int, str, int] | int) -> list[dict[str, object]]:
    """Records (id, name, version) and ACTIVATE_VERSION messages (a bare version)."""
    stream = "canvas-courses"
    return [
        {"type": "ACTIVATE_VERSION", "stream": stream, "version": item}
        if isinstance(item, int)
        else {
            "type": "RECORD",
            "stream": stream,
            "record": {"id": item[0], "name": item[1]},
            "version": item[2],
        }
        for item in items
    ]


@pytest.mark.parametrize("batch_size_rows", [1, 100])
def test_a_second_version_in_the_run_that_filled_the_table_sweeps_the_first(
    db: Database, batch_size_rows: int
) -> None:
    """A table empty at the start of a run needs no sweep while it holds one version
    (skipped); once a second one is loaded, activating it sweeps the first as always."""
    data = messages(_COURSE_NAMES, *_versioned(1, (1, "a", 1), (2, "b", 1), 1, 2, (1, "A", 2), 2))
    db.load(data, batch_size_rows=batch_size_rows)
    assert names(db) == {1: "A", 2: "b"}
    assert deleted(db) == {2}


def test_a_snapshot_into_an_empty_table_is_not_swept(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="target_dap_sql"):
        db.load(messages(_COURSE_NAMES, *_versioned(5, (1, "a", 5), (2, "b", 5), 5)))
    assert "ACTIVATE_VERSION 5 finds no older rows" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="target_dap_sql"):  # it has rows now
        db.load(messages(_COURSE_NAMES, *_versioned(6, (1, "A", 6), 6)))
    assert "finds no older rows" not in caplog.text
    assert names(db, live_only=True) == {1: "A"}
