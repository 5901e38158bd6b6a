"""PostgreSQL for the benchmark: a database per run, copies of loaded ones, and the COPY floor."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

_BLOCK = 1 << 20


class Postgres:
    """Creates and drops the benchmark's databases on one server (all named ``bench_*``)."""

    name = "PostgreSQL"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._base = admin_url.rsplit("/", 1)[0]
        self.created: list[str] = []

    def url(self, name: str) -> str:
        return f"{self._base}/{name}"

    def create(self, label: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given); returns its name."""
        name = f"bench_{label}_{uuid.uuid4().hex[:6]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(statement)
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop(name)

    def count(self, database: str, table: str, *, live_only: bool) -> int:
        """Rows of ``schema.table``; ``live_only`` skips rows marked deleted (_sdc_deleted_at)."""
        schema, name = table.split(".")
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(name)
        )
        if live_only:
            query += sql.SQL(" WHERE _sdc_deleted_at IS NULL")
        with psycopg.connect(self.url(database)) as connection:
            row = connection.execute(query).fetchone()
        return int(row[0]) if row else 0

    def schema_rows(self, database: str, schema: str, *, live_only: bool) -> int:
        """Rows of every table of a schema (live only where the table marks deletes)."""
        with psycopg.connect(self.url(database)) as connection:
            tables = connection.execute(
                "SELECT table_name, bool_or(column_name = '_sdc_deleted_at')"
                " FROM information_schema.columns WHERE table_schema = %s"
                " GROUP BY table_name",
                (schema,),
            ).fetchall()
        return sum(
            self.count(database, f"{schema}.{name}", live_only=live_only and marks)
            for name, marks in tables
        )

    def export_tsv(self, database: str, table: str, path: Path) -> None:
        """The table's rows as PostgreSQL text-format COPY data in a local file."""
        with psycopg.connect(self.url(database)) as connection, path.open("wb") as out:
            query = sql.SQL("COPY {} TO STDOUT").format(_qualified(table))
            with connection.cursor().copy(query) as copy:
                for block in copy:
                    out.write(block)

    def copy_floor(self, database: str, table: str, path: Path) -> float:
        """Seconds to COPY the file into an empty twin of ``table`` (keys and indexes too)."""
        twin = f"{table}_copy_floor"
        with psycopg.connect(self.url(database)) as connection:
            connection.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                    _qualified(twin), _qualified(table)
                )
            )
            connection.commit()
            start = time.perf_counter()
            query = sql.SQL("COPY {} FROM STDIN").format(_qualified(twin))
            with connection.cursor().copy(query) as copy, path.open("rb") as source:
                while block := source.read(_BLOCK):
                    copy.write(block)
            connection.commit()
            seconds = time.perf_counter() - start
            connection.execute(sql.SQL("DROP TABLE {}").format(_qualified(twin)))
            connection.commit()
        return seconds


def _qualified(table: str) -> sql.Composed:
    schema, name = table.split(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
