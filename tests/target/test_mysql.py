"""What only MySQL and MariaDB need: where tables go, text keys, collation (on MariaDB)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from target_dap_sql.dialects.base import LoadTable, Stage
from target_dap_sql.dialects.mysql import MySQLDialect
from target_dap_sql.errors import TargetError

from tests.conftest import mysql_admin_connection
from tests.target.harness import Database, messages


@pytest.fixture
def mariadb(mariadb_url: str) -> Database:
    return Database(mariadb_url)


def keyed_stream(stream: str, key_type: dict[str, object]) -> dict[str, object]:
    schema = {"type": "object", "properties": {"k": key_type, "v": {"type": ["string", "null"]}}}
    return {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": ["k"]}


def record(stream: str, key: object, value: str) -> dict[str, object]:
    return {"type": "RECORD", "stream": stream, "record": {"k": key, "v": value}}


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace of this test's own, whose database is dropped afterwards."""
    name = f"ns_{uuid.uuid4().hex[:10]}"
    yield name
    with mysql_admin_connection() as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def test_namespaces_can_be_databases(mariadb: Database, namespace: str) -> None:
    stream = f"{namespace}-courses"
    data = messages(keyed_stream(stream, {"type": "integer"}), record(stream, 1, "a"))
    mariadb.load(data)  # the default: the official client's names
    assert mariadb.query(f'SELECT k, v FROM "{namespace}__courses"') == [(1, "a")]
    mariadb.load(data, mysql_namespace_as="database")  # database `ns_...` created
    assert mariadb.query(f'SELECT k, v FROM "{namespace}"."courses"') == [(1, "a")]


def test_text_keys_keep_case_and_spaces_apart(mariadb: Database) -> None:
    stream = "canvas-text_keyed"
    keys = ["a", "A", "a ", "ä"]
    mariadb.load(
        messages(
            keyed_stream(stream, {"type": "string"}),
            *(record(stream, key, f"value of {key!r}") for key in keys),
        )
    )
    rows = mariadb.rows("canvas.text_keyed", order='"v"')
    assert sorted(r["k"] for r in rows) == sorted(keys)


def test_a_text_key_longer_than_the_column_is_refused_not_cut(mariadb: Database) -> None:
    stream = "canvas-long_keyed"
    data = messages(
        keyed_stream(stream, {"type": "string"}),
        record(stream, "fits", "first"),
        record(stream, "x" * 769, "too long"),  # a single text key column holds 768
    )
    with pytest.raises(TargetError, match="column 'k'") as raised:
        mariadb.load(data)
    assert raised.value.line == 3
    assert mariadb.rows("canvas.long_keyed", order='"k"') == []  # nothing of the batch


def _batches(stream: str, *batches: list[tuple[int, str | None]]) -> bytes:
    records = [record(stream, key, value) for batch in batches for key, value in batch]
    return messages(keyed_stream(stream, {"type": "integer"}), *records)


@pytest.fixture
def staged_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the batches that go through a staging table (and not straight in)."""
    counted: list[int] = []
    load_stage = MySQLDialect.load_stage

    def counting(self: MySQLDialect, table: LoadTable, stage: Stage) -> str:
        counted.append(stage.size)
        return load_stage(self, table, stage)

    monkeypatch.setattr(MySQLDialect, "load_stage", counting)
    return counted


def test_an_initial_load_goes_straight_into_the_table(
    mariadb: Database, staged_batches: list[int]
) -> None:
    mariadb.load(
        _batches("canvas-direct", [(1, "a"), (2, "b")], [(3, "c"), (4, None)]), batch_size_rows=2
    )
    assert staged_batches == []
    rows = mariadb.rows("canvas.direct", order='"k"')
    assert [(r["k"], r["v"]) for r in rows] == [(1, "a"), (2, "b"), (3, "c"), (4, None)]
    assert all(r["_sdc_batched_at"] is not None for r in rows)


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        # a key of an earlier batch: the direct load is undone, the batch upserted
        ([[(1, "a"), (2, "b")], [(3, "c"), (1, "A")]], {1: "A", 2: "b", 3: "c"}),
        # a key twice in one batch: the last one wins
        ([[(1, "a"), (1, "A")]], {1: "A"}),
    ],
)
def test_a_batch_the_direct_load_cannot_take_is_staged(
    mariadb: Database,
    staged_batches: list[int],
    batches: list[list[tuple[int, str]]],
    expected: dict[int, str],
) -> None:
    mariadb.load(_batches("canvas-redone", *batches), batch_size_rows=2)
    assert staged_batches == [2]
    rows = mariadb.rows("canvas.redone", order='"k"')
    assert {r["k"]: r["v"] for r in rows} == expected
