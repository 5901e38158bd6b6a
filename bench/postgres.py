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

    def count_ids(self, database: str, table: str, ids: list[int]) -> int:
        """Rows of ``schema.table`` whose `id` is one of ``ids``."""
        schema, name = table.split(".")
        query = sql.SQL("SELECT count(*) FROM {}.{} WHERE id = ANY(%s)").format(
            sql.Identifier(schema), sql.Identifier(name)
        )
        with psycopg.connect(self.url(database)) as connection:
            row = connection.execute(query, (ids,)).fetchone()
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

    def export_tsv(
        self, database: str, table: str, path: Path, *, changed_since: str | None = None
    ) -> int:
        """The table's rows as PostgreSQL text-format COPY data in a local file; returns
        how many. ``changed_since`` (an ISO timestamp): only the rows an increment since
        then wrote, upserted (`_dap_ts` later) or marked deleted (`_sdc_deleted_at` later)."""
        rows: sql.Composable = sql.SQL("SELECT * FROM {}").format(_qualified(table))
        if changed_since is not None:
            since = sql.Literal(changed_since)
            rows += sql.SQL(" WHERE _dap_ts > {} OR _sdc_deleted_at > {}").format(since, since)
        exported = 0
        with psycopg.connect(self.url(database)) as connection, path.open("wb") as out:
            query = sql.SQL("COPY ({}) TO STDOUT").format(rows)
            with connection.cursor().copy(query) as copy:
                for block in copy:
                    out.write(block)
                    exported += bytes(block).count(b"\n")
        return exported

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

    def increment_floor(self, database: str, table: str, path: Path) -> float:
        """Seconds to apply the changed rows in ``path`` (COPY data of the table's own
        columns, deletes marked by `_sdc_deleted_at`) as plain SQL at its best, over one
        connection: COPY into a temporary table, one INSERT ... ON CONFLICT DO UPDATE of
        the live rows, one UPDATE marking the deleted ones (target-dap-sql's default soft
        delete: the other columns stay), one commit."""
        with psycopg.connect(self.url(database)) as connection:
            columns, key = _columns_and_key(connection, table)
            names = [sql.Identifier(column) for column in columns]
            match = sql.SQL(" AND ").join(
                sql.SQL("t.{0} = d.{0}").format(sql.Identifier(column)) for column in key
            )
            upsert = sql.SQL(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM changes"
                " WHERE _sdc_deleted_at IS NULL ON CONFLICT ({key}) DO UPDATE SET {updates}"
            ).format(
                table=_qualified(table),
                columns=sql.SQL(", ").join(names),
                key=sql.SQL(", ").join(sql.Identifier(column) for column in key),
                updates=sql.SQL(", ").join(
                    sql.SQL("{0} = excluded.{0}").format(name)
                    for name, column in zip(names, columns, strict=True)
                    if column not in key
                ),
            )
            soft_delete = sql.SQL(
                "UPDATE {table} AS t SET _sdc_deleted_at = d._sdc_deleted_at,"
                " _sdc_table_version = d._sdc_table_version,"
                " _sdc_batched_at = d._sdc_batched_at"
                " FROM changes AS d WHERE d._sdc_deleted_at IS NOT NULL AND {match}"
            ).format(table=_qualified(table), match=match)
            start = time.perf_counter()
            connection.execute(
                sql.SQL("CREATE TEMPORARY TABLE changes (LIKE {}) ON COMMIT DROP").format(
                    _qualified(table)
                )
            )
            with connection.cursor().copy("COPY changes FROM STDIN") as copy, path.open("rb") as f:
                while block := f.read(_BLOCK):
                    copy.write(block)
            connection.execute(upsert)
            connection.execute(soft_delete)
            connection.commit()
            return time.perf_counter() - start


def _columns_and_key(
    connection: psycopg.Connection[tuple[str]], table: str
) -> tuple[list[str], list[str]]:
    """The table's columns in order, and its primary key's."""
    schema, name = table.split(".")
    columns = connection.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, name),
    ).fetchall()
    key = connection.execute(
        "SELECT k.column_name FROM information_schema.table_constraints AS c"
        " JOIN information_schema.key_column_usage AS k USING"
        " (constraint_schema, constraint_name, table_schema, table_name)"
        " WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = %s"
        " AND c.table_name = %s ORDER BY k.ordinal_position",
        (schema, name),
    ).fetchall()
    if not key:
        raise RuntimeError(f"{table} has no primary key: the increment floor upserts by it")
    return [row[0] for row in columns], [row[0] for row in key]


def _qualified(table: str) -> sql.Composed:
    schema, name = table.split(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
