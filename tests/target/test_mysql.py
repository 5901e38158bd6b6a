"""What only MySQL and MariaDB need: where tables go, text keys, collation (on MariaDB)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
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
