"""MariaDB (or MySQL) for the benchmark: a database per run, and the rows a load left.

MySQL has no schemas inside a database: a table `canvas.submissions` is
`canvas__submissions` in the run's database, the name target-dap-sql and the official
DAP client both give it.
"""

from __future__ import annotations

import uuid
from urllib.parse import unquote, urlsplit

import pymysql


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

    def _connect(self, database: str | None = None) -> pymysql.connections.Connection:
        try:
            return pymysql.connect(
                **self._connect_args, database=database, autocommit=True, connect_timeout=5
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
        query = f"SELECT count(*) FROM `{table.replace('.', '__')}`"
        if live_only:
            query += " WHERE _sdc_deleted_at IS NULL"
        with self._connect(database) as connection, connection.cursor() as cursor:
            cursor.execute(query)
            row = cursor.fetchone()
        return int(row[0]) if row else 0
