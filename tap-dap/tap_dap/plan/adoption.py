"""Adopting a database that the official DAP CLI (`dap initdb` / `dap syncdb`) filled.

The official client keeps, per table it loaded, a row in its meta-table
(`instructure_dap.table_sync` on PostgreSQL, `instructure_dap__table_sync` on MySQL): the
`timestamp` to pass as the next incremental query's `since` and the `schema_version` it
loaded. A table that has no bookmark yet but a row there starts from that row, with an
increment instead of a snapshot, so nothing is reloaded.

The meta-tables are read, never written: the official client can take over again.
Everything is checked before the run asks DAP for anything: a meta-table of a client
version we do not know, or a table it lists that the database lacks, ends the run with
a message naming it, and no bookmark is taken from it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from tap_dap.errors import ConfigError
from tap_dap.plan.bookmarks import Bookmark

logger = logging.getLogger("tap-dap")

#: The meta-table's layout version (its `database_version` table) that instructure-dap-client
#: 2.x writes, up to 2.3.1 at least; another version may mean other columns or meanings.
KNOWN_META_VERSIONS = frozenset({1})
#: The columns of `table_sync` that the official client 2.3.1 creates.
TABLE_SYNC_COLUMNS = frozenset(
    {
        "id",
        "source_namespace",
        "source_table",
        "timestamp",
        "schema_version",
        "target_schema",
        "target_table",
        "schema_description_format",
        "schema_description",
    }
)


@dataclass(frozen=True)
class OfficialTable:
    """One table the official client loaded: a row of its `table_sync`."""

    namespace: str
    table: str
    synced_until: datetime  # UTC: the next `since`
    schema_version: int
    where: str  # the table in the database, as a user names it

    def bookmark(self) -> Bookmark:
        """The bookmark to start from: an increment from the official client's `until`."""
        return Bookmark(
            position=self.synced_until.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            schema_version=self.schema_version,
        )


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def official_bookmarks(
    url: str, wanted: Collection[tuple[str, str]]
) -> dict[tuple[str, str], Bookmark]:
    """Bookmarks for those of `wanted` (namespace, table) that the official client loaded.

    Raises `ConfigError` naming the database (never its password) and what to do when the
    database cannot be read, holds no meta-table of a known version, or lacks a table that
    its meta-table lists.
    """
    with _meta_database(url) as meta:
        tables = meta.official_tables()
        adopted = {(t.namespace, t.table): t for t in tables if (t.namespace, t.table) in wanted}
        missing = [t.where for t in adopted.values() if not meta.table_exists(t)]
    if missing:
        raise ConfigError(
            f"adopt_from {redacted(url)}: the official client's meta-table lists "
            f"{', '.join(sorted(missing))}, which the database does not hold; restore the "
            "table, or delete its row from the meta-table so that tap-dap takes a snapshot"
        )
    for table in adopted.values():
        logger.info(
            "%s.%s: adopted from the official client's %s; starting with an increment since %s",
            table.namespace,
            table.table,
            table.where,
            table.bookmark().position,
        )
    return {key: table.bookmark() for key, table in adopted.items()}


class _MetaDatabase:
    """The official client's meta-tables in one database (PostgreSQL or MySQL)."""

    def __init__(self, url: str, query: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]):
        self.url = url
        self.query = query

    # Where each database keeps things, and how it quotes a name: overridden by MySQL
    version_table = "instructure_dap.database_version"
    sync_table = "instructure_dap.table_sync"
    quote_char = '"'

    def quote(self, name: str) -> str:
        return self.quote_char + name + self.quote_char

    def columns_of(self, table: str) -> set[str]:
        schema, name = table.split(".")
        rows = self.query(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (schema, name),
        )
        return {str(row[0]) for row in rows}

    def official_tables(self) -> list[OfficialTable]:
        columns = self.columns_of(self.sync_table)
        if not columns:
            raise ConfigError(
                f"adopt_from {redacted(self.url)}: there is no {self.sync_table} table; point "
                "adopt_from at the database that `dap initdb` filled (the --connection-string "
                "given to the official client)"
            )
        versions = (
            {int(row[0]) for row in self.query(f"SELECT version FROM {self.version_table}", ())}
            if self.columns_of(self.version_table)
            else set()
        )
        if not versions or not versions <= KNOWN_META_VERSIONS or columns != TABLE_SYNC_COLUMNS:
            raise ConfigError(
                f"adopt_from {redacted(self.url)}: {self.sync_table} comes from an official "
                f"client version tap-dap does not know (database_version "
                f"{sorted(versions) or 'empty'}, columns {', '.join(sorted(columns))}); tap-dap "
                "reads the meta-tables of instructure-dap-client 2.x (database_version 1). "
                "Without adopt_from the tables get new snapshots"
            )
        rows = self.query(
            f"SELECT source_namespace, source_table, {self.quote('timestamp')}, schema_version, "
            f"target_schema, target_table FROM {self.sync_table}",
            (),
        )
        return [
            OfficialTable(
                namespace=str(namespace),
                table=str(table),
                synced_until=_as_utc(synced),
                schema_version=int(version),
                where=self.where(schema, target),
            )
            for namespace, table, synced, version, schema, target in rows
        ]

    def where(self, schema: str | None, table: str) -> str:
        return f"{schema}.{table}" if schema else table

    def table_exists(self, table: OfficialTable) -> bool:
        schema, name = table.where.split(".")
        rows = self.query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (schema, name),
        )
        return bool(rows)


class _MySQLMetaDatabase(_MetaDatabase):
    """MySQL has no schemas inside a database: names carry the schema as a prefix."""

    def __init__(
        self,
        url: str,
        database: str,
        query: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]],
    ):
        super().__init__(url, query)
        self.database = database

    version_table = "instructure_dap__database_version"
    sync_table = "instructure_dap__table_sync"
    quote_char = "`"

    def columns_of(self, table: str) -> set[str]:
        return super().columns_of(f"{self.database}.{table}")

    def where(self, schema: str | None, table: str) -> str:
        return f"{schema}__{table}" if schema else table  # canvas__accounts

    def table_exists(self, table: OfficialTable) -> bool:
        rows = self.query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (self.database, table.where),
        )
        return bool(rows)


def _as_utc(value: Any) -> datetime:
    """The meta-table's timestamp (a zone-less UTC `timestamp` / `datetime`) as aware UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_DRIVERS = {"postgresql": ("psycopg", "postgresql"), "mysql": ("pymysql", "mysql")}
_SCHEMES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}


def _driver(database: str, url: str) -> Any:
    module, extra = _DRIVERS[database]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"adopt_from {redacted(url)}: reading a {database} database needs tap-dap's "
            f"'{extra}' extra (pip install 'tap-dap[{extra}]'; in Meltano, add [{extra}] to "
            "tap-dap's pip_url and run meltano install)"
        ) from None


@contextmanager
def _meta_database(url: str) -> Iterator[_MetaDatabase]:
    parts = urlsplit(url)
    database = _SCHEMES.get(parts.scheme.split("+")[0])
    if database is None:
        raise ConfigError(
            f"adopt_from {redacted(url)}: the official client's database must be "
            "postgresql://user:password@host:port/database or mysql://... (mariadb://...)"
        )
    driver = _driver(database, url)
    try:
        if database == "postgresql":
            connection = driver.connect(parts._replace(scheme="postgresql").geturl())
            connection.read_only = True
            meta: _MetaDatabase = _MetaDatabase(url, _cursor_query(connection))
        else:
            connection = driver.connect(**_mysql_arguments(parts))
            meta = _MySQLMetaDatabase(
                url, unquote(parts.path.lstrip("/")), _cursor_query(connection)
            )
    except driver.Error as error:
        raise ConfigError(
            f"adopt_from {redacted(url)}: cannot read the database: {_without(url, error)}"
        ) from None
    try:
        yield meta
    except driver.Error as error:
        raise ConfigError(
            f"adopt_from {redacted(url)}: reading the official client's meta-table failed: "
            f"{_without(url, error)}"
        ) from None
    finally:
        connection.close()


def _cursor_query(connection: Any) -> Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]:
    def query(sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters or None)
            return list(cursor.fetchall())

    return query


def _mysql_arguments(parts: SplitResult) -> Mapping[str, Any]:
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.lstrip("/")),
        "charset": "utf8mb4",
    }


def _without(url: str, error: Exception) -> str:
    """A driver's message, never holding the password."""
    text = str(error).strip()
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text
