"""MariaDB (or MySQL) for the benchmark: a database per run, and the rows a load left.

MySQL has no schemas inside a database: a table `canvas.submissions` is
`canvas__submissions` in the run's database, the name target-dap-sql and the official
DAP client both give it.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
import pymysql.cursors
from target_dap_sql.dialects.mysql import LOAD_CSV  # the CSV as the target loads it


class MariaDBUnavailableError(RuntimeError):
    """No connection to the server; the message names it (never the password) and the way out."""


class MariaDB:
    """Creates and drops the benchmark's databases on one server (all named ``bench_*``)."""

    name = "MariaDB"

    def __init__(self, admin_url: str) -> None:
        parts = urlsplit(admin_url)
        self._connect_args = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""),
        }
        self._base = f"{parts.scheme}://{parts.netloc}"  # any database in the URL is ignored
        self._address = f"{self._connect_args['host']}:{self._connect_args['port']}"
        self.created: list[str] = []

    def url(self, name: str) -> str:
        return f"{self._base}/{name}"

    def _connect(
        self, database: str | None = None, **options: Any
    ) -> pymysql.connections.Connection:
        try:
            return pymysql.connect(
                **self._connect_args,
                database=database,
                autocommit=True,
                connect_timeout=5,
                **options,
            )
        except pymysql.err.OperationalError as error:
            raise MariaDBUnavailableError(
                f"cannot connect to MariaDB at {self._address} ({error.args[-1]}): "
                "start it, point --mysql at one, or pass --no-mariadb"
            ) from error

    def create(self, label: str) -> str:
        """A new, empty database; returns its name."""
        name = f"bench_{label}_{uuid.uuid4().hex[:6]}"
        with self._connect() as admin, admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        with self._connect() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop(name)

    def count(self, database: str, table: str, *, live_only: bool) -> int:
        """Rows of ``schema.table`` (``schema__table``); ``live_only`` skips rows marked
        deleted (_sdc_deleted_at)."""
        query = f"SELECT count(*) FROM `{_table(table)}`"
        if live_only:
            query += " WHERE _sdc_deleted_at IS NULL"
        with self._connect(database) as connection, connection.cursor() as cursor:
            cursor.execute(query)
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    # -- the LOAD DATA floor: the server's fastest bulk load of the same rows ---------------

    def export_csv(self, database: str, table: str, path: Path) -> None:
        """Every row of ``schema.table`` as CSV that LOAD DATA reads back unchanged: values
        as the server prints them, all quoted, NULL bare (untimed, row by row)."""
        with (
            self._connect(database, conv={}) as connection,  # every value as the server's text
            connection.cursor(pymysql.cursors.SSCursor) as cursor,
            path.open("w", encoding="utf-8", newline="") as out,
        ):
            cursor.execute(f"SELECT * FROM `{_table(table)}`")
            for row in cursor:
                out.write(",".join(_csv_field(value) for value in row) + "\n")

    def load_floor(self, database: str, table: str, path: Path) -> float:
        """Seconds to LOAD DATA LOCAL the file into an empty twin of the table (its key
        too), in one statement and one commit."""
        twin = f"{_table(table)}_load_floor"
        with (
            self._connect(database, local_infile=True) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(f"CREATE TABLE `{twin}` LIKE `{_table(table)}`")
            connection.autocommit(False)
            start = time.perf_counter()
            loaded = cursor.execute(
                f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE `{twin}` {LOAD_CSV}"
            )
            warnings = cursor.warning_count
            connection.commit()
            seconds = time.perf_counter() - start
            connection.autocommit(True)
            cursor.execute(f"DROP TABLE `{twin}`")
        if warnings or not loaded:
            raise RuntimeError(f"the LOAD DATA floor loaded {loaded} rows, {warnings} warnings")
        return seconds


def _table(table: str) -> str:
    return table.replace(".", "__")


def _csv_field(value: str | None) -> str:
    return "NULL" if value is None else '"' + value.replace('"', '""') + '"'
