"""Run target-dap-sql on Singer input and read tables back, the same way for both databases.

`Database.load` runs the Target class in-process (fast; the CLI is exercised by the error
tests); `Database.rows` reads a table back through the database's own client;
`assert_round_trip` checks that every value of a stream comes back equal to what the
Singer record said, with each JSON schema type shape compared in its natural Python form.
The lead's test over every DAP table schema can call it with tap-dap's translation.
"""

from __future__ import annotations

import datetime
import decimal
import io
import ipaddress
import json
import uuid
from collections.abc import Iterable, Mapping
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import orjson
import psycopg
import pymysql
from psycopg.types import TypeInfo
from psycopg.types.array import register_array
from pymysql.constants import FIELD_TYPE
from target_dap_sql.target import TargetDapSql

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    """A `.singer` fixture file's bytes."""
    return (FIXTURES / f"{name}.singer").read_bytes()


def messages(*items: Mapping[str, Any]) -> bytes:
    """Singer lines from message dicts."""
    return b"".join(orjson.dumps(dict(item)) + b"\n" for item in items)


class Database:
    """One test database: its URL, a loader and a reader.

    Tables are named as streams name them (`canvas.accounts`); `table()` gives the SQL of
    one in this database (on MySQL `canvas__accounts` in the URL's database). MySQL
    sessions of the harness use ANSI_QUOTES, so tests quote names with double quotes on
    every database.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("duckdb"):
            self.kind, self.default_schema = "duckdb", "main"
        elif url.startswith(("mysql", "mariadb")):
            self.kind, self.default_schema = "mariadb", ""  # no schemas inside a database
        else:
            self.kind, self.default_schema = "postgresql", "public"

    def config(self, **settings: Any) -> dict[str, Any]:
        return {"database_url": self.url, **settings}

    def load(self, data: bytes, **settings: Any) -> list[dict[str, Any]]:
        """Run the target on `data`; return the STATE values it wrote to stdout."""
        target = TargetDapSql(config=self.config(**settings), validate_config=True)
        out = io.StringIO()
        try:
            with redirect_stdout(out):
                try:
                    target.listen(io.BytesIO(data))  # type: ignore[arg-type]
                finally:
                    target.close()  # the merge worker writes the last STATE messages
        finally:
            self.emitted = [json.loads(line) for line in out.getvalue().splitlines() if line]
        return self.emitted

    def place(self, table: str) -> tuple[str, str]:
        """(schema, table) of a stream's `schema.table` in this database."""
        schema, name = table.split(".", 1)
        if self.kind == "mariadb":
            return self.url.rsplit("/", 1)[1], f"{schema}__{name}" if schema else name
        return schema, name

    def table(self, table: str) -> str:
        """A stream's `schema.table` as SQL (double-quoted) in this database."""
        schema, name = (part.replace('"', '""') for part in self.place(table))
        return f'"{name}"' if self.kind == "mariadb" else f'"{schema}"."{name}"'

    def as_text(self, value: str) -> str:
        """SQL of ``value`` cast to text."""
        return f"CAST({value} AS {'CHAR' if self.kind == 'mariadb' else 'VARCHAR'})"

    def session(self) -> pymysql.connections.Connection:  # type: ignore[type-arg]
        """A MySQL session of the harness (ANSI_QUOTES, UTC, autocommit)."""
        parts = urlsplit(self.url)
        connection = pymysql.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            database=parts.path.lstrip("/"),
            charset="utf8mb4",
            autocommit=True,
        )
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION sql_mode = 'ANSI_QUOTES', time_zone = '+00:00'")
        return connection

    def _fetch(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        if self.kind == "duckdb":
            path = self.url.split("://", 1)[1][1:]
            with duckdb.connect(path) as connection:
                cursor = connection.execute(sql)
                names = [d[0] for d in cursor.description or []]
                return names, cursor.fetchall()
        if self.kind == "mariadb":
            with self.session() as connection, connection.cursor() as cursor:
                cursor.execute(sql)
                if not cursor.description:
                    return [], []
                names = [d[0] for d in cursor.description]
                return names, [_from_mysql(cursor.description, row) for row in cursor.fetchall()]
        with psycopg.connect(self.url) as connection:
            _enum_arrays_as_lists(connection)
            cursor = connection.execute(sql.encode())
            names = [d.name for d in cursor.description or []]
            return names, cursor.fetchall() if cursor.description else []

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self._fetch(sql)[1]

    def execute(self, sql: str) -> None:
        if self.kind == "duckdb":
            path = self.url.split("://", 1)[1][1:]
            with duckdb.connect(path) as connection:
                connection.execute(sql)
            return
        if self.kind == "mariadb":
            with self.session() as connection, connection.cursor() as cursor:
                cursor.execute(sql)
            return
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(sql.encode())

    def columns(self, table: str) -> dict[str, tuple[str, bool]]:
        """{column: (type name, nullable)} as the database reports them."""
        schema, name = self.place(table)
        rows = self.query(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            f"WHERE table_schema = '{schema}' AND table_name = '{name}' ORDER BY ordinal_position"
        )
        return {r[0]: (str(r[1]).lower(), r[2] in ("YES", True)) for r in rows}

    def rows(
        self, table: str, columns: Iterable[str] = ("*",), order: str = "id"
    ) -> list[dict[str, Any]]:
        selected = ", ".join(c if c == "*" else f'"{c}"' for c in columns)
        names, rows = self._fetch(f"SELECT {selected} FROM {self.table(table)} ORDER BY {order}")
        return [dict(zip(names, row, strict=True)) for row in rows]


def _enum_arrays_as_lists(connection: psycopg.Connection[Any]) -> None:
    """Read arrays of enum types (the official DAP client's, such as
    `assignments.submission_types`) as lists, as other arrays: psycopg gives the text of
    arrays of types it was not told of. Their elements stay strings, as enums do."""
    enums = connection.execute(
        "SELECT format('%I.%I', n.nspname, t.typname), t.oid, t.typarray FROM pg_type t "
        "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'e'"
    )
    for name, oid, array_oid in enums.fetchall():
        register_array(TypeInfo(name, oid, array_oid), connection)


def _from_mysql(description: Any, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A MySQL row in the Python forms PostgreSQL gives: booleans, aware UTC datetimes
    (DATETIME holds UTC), times of day."""
    values: list[Any] = []
    for (_, type_code, _, size, *_), value in zip(description, row, strict=True):
        if value is None:
            values.append(value)
        elif type_code == FIELD_TYPE.TINY and size == 1:
            values.append(bool(value))
        elif isinstance(value, datetime.datetime):
            values.append(value.replace(tzinfo=datetime.UTC))
        elif isinstance(value, datetime.timedelta):
            values.append((datetime.datetime.min + value).time())
        else:
            values.append(value)
    return tuple(values)


def _non_null(prop: Mapping[str, Any]) -> Mapping[str, Any]:
    for word in ("anyOf", "oneOf"):
        if word in prop:
            real = [p for p in prop[word] if p.get("type") != "null"]
            return real[0] if len(real) == 1 else {word: real}
    return prop


def expected_value(prop: Mapping[str, Any], value: Any) -> Any:  # noqa: PLR0911
    """What a database should give back for a Singer value of this schema shape."""
    if value is None:
        return None
    prop = _non_null(prop)
    alternatives = prop.get("anyOf") or prop.get("oneOf")
    if alternatives:
        if {a.get("format") for a in alternatives} <= {"ipv4", "ipv6"}:
            return str(ipaddress.ip_address(value))
        return value
    fmt = prop.get("format")
    if isinstance(value, str):
        if fmt == "date-time":
            return datetime.datetime.fromisoformat(value)
        if fmt == "date":
            return datetime.date.fromisoformat(value)
        if fmt == "uuid":
            return str(uuid.UUID(value))
        if fmt in ("ipv4", "ipv6"):
            return str(ipaddress.ip_address(value))
    if "multipleOf" in prop:
        return decimal.Decimal(str(value))
    return value


def _is_ip(prop: Mapping[str, Any]) -> bool:
    prop = _non_null(prop)
    alternatives = prop.get("anyOf") or prop.get("oneOf") or [prop]
    return {a.get("format") for a in alternatives} <= {"ipv4", "ipv6"}


def _official_binary(prop: Mapping[str, Any], value: bytes) -> str:
    """The text of a uuid or IP address the official DAP client stored as bytes (MySQL
    `binary(16)`, `binary(4)`): a uuid's 16 bytes in its text's order; an IPv4 address's
    4 bytes, which a binary(16) pads with 12 zero bytes; an IPv6 address's 16 bytes."""
    if not _is_ip(prop):
        return str(uuid.UUID(bytes=value))
    if len(value) == 4 or value[4:] == bytes(12):  # so an IPv6 `x:y::` reads as IPv4 too
        return str(ipaddress.IPv4Address(value[:4]))
    return str(ipaddress.IPv6Address(value))


def actual_value(prop: Mapping[str, Any], value: Any) -> Any:
    """A value read back, in the form `expected_value` uses."""
    if isinstance(value, bytes):
        value = _official_binary(prop, value)
    if value is not None and _is_ip(prop):  # DuckDB keeps the text, inet normalizes
        return str(ipaddress.ip_address(str(value).split("/")[0]))
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(value.ip)
    types = _non_null(prop).get("type")
    types = set(types) if isinstance(types, list) else {types}
    if isinstance(value, str) and types & {"object", "array"}:
        return json.loads(value)
    return value


def assert_round_trip(
    db: Database,
    table: str,
    schema: Mapping[str, Any],
    records: list[dict[str, Any]],
    key: str = "id",
) -> None:
    """Every record's every value came back equal (records: one per key, last wins)."""
    stored = {
        str(actual_value(schema["properties"][key], row[key])): row
        for row in db.rows(table, order=f'"{key}"')
    }
    latest = {str(record[key]): record for record in records}
    assert sorted(stored) == sorted(latest), f"{table}: keys differ"
    for record_key, record in latest.items():
        for name, prop in schema["properties"].items():
            want = expected_value(prop, record.get(name))
            got = actual_value(prop, stored[record_key][name])
            assert got == want, f"{table} key {record_key} column {name}: {got!r} != {want!r}"
