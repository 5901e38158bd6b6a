"""Merge statements in PostgreSQL's SQL, which DuckDB speaks as well.

`INSERT ... ON CONFLICT DO UPDATE` for upserts, `DISTINCT ON` for the last record of a
repeated key, `UPDATE ... FROM` and `DELETE ... USING` for deletes, `ALTER COLUMN ...
DROP NOT NULL`. PostgreSQL and DuckDB both inherit these; a database that lacks them
(MySQL: `ON DUPLICATE KEY UPDATE`, multi-table `UPDATE`/`DELETE`; SQL Server: `MERGE`)
implements the same methods of `Dialect` its own way.
"""

from __future__ import annotations

from target_dap_sql.columns import BATCHED_AT, DELETED_AT, TABLE_VERSION, Column
from target_dap_sql.dialects.base import LINE, Dialect, LoadTable


class PostgresStyleMerge(Dialect):
    """The merge statements of `Dialect` in PostgreSQL's SQL."""

    def relax_not_null(self, qualified: str, column: Column) -> None:
        name = self.quote(column.name)
        self.execute(f"ALTER TABLE {qualified} ALTER COLUMN {name} DROP NOT NULL")

    def keys_repeat(self, table: LoadTable, staged: str) -> bool:
        keys = ", ".join(self.quote(k) for k in table.key)
        key_tuple = keys if len(table.key) == 1 else f"({keys})"
        return bool(
            self.execute(f"SELECT count(*) <> count(DISTINCT {key_tuple}) FROM {staged}")[0][0]
        )

    def upsert(self, table: LoadTable, staged: str, *, deduplicate: bool) -> None:
        q = self.quote
        keys = ", ".join(q(k) for k in table.key)
        columns, insert = self.insert_select(table)
        updates = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in columns if c not in table.key)
        live = f"{q(DELETED_AT)} IS NULL"
        # Sorting for DISTINCT ON is most of a merge; a batch whose keys are all distinct
        # (the usual case) needs none.
        source = (
            f"(SELECT DISTINCT ON ({keys}) * FROM {staged} WHERE {live} "
            f"ORDER BY {keys}, {q(LINE)} DESC)"
            if deduplicate
            else f"(SELECT * FROM {staged} WHERE {live})"
        )
        self.execute(f"{insert} FROM {source} AS d ON CONFLICT ({keys}) DO UPDATE SET {updates}")

    def apply_deletes(self, table: LoadTable, staged: str, *, deduplicate: bool) -> None:
        q = self.quote
        keys = ", ".join(q(k) for k in table.key)
        deleted = f"{q(DELETED_AT)} IS NOT NULL"
        # Only the columns a delete writes: sorting whole rows cost a quarter of a merge.
        wanted = ", ".join(q(c) for c in (*table.key, DELETED_AT, TABLE_VERSION, LINE))
        latest = (
            f"(SELECT * FROM (SELECT DISTINCT ON ({keys}) {wanted} FROM {staged} "
            f"ORDER BY {keys}, {q(LINE)} DESC) AS last WHERE {deleted})"
            if deduplicate
            else f"(SELECT {wanted} FROM {staged} WHERE {deleted})"
        )
        latest = self.joinable(latest)
        match = " AND ".join(f"t.{q(k)} = d.{q(k)}" for k in table.key)
        if self.options.hard_delete:
            self.execute(f"DELETE FROM {table.qualified} AS t USING {latest} AS d WHERE {match}")
        else:
            self.execute(
                f"UPDATE {table.qualified} AS t SET {q(DELETED_AT)} = d.{q(DELETED_AT)}, "
                f"{q(TABLE_VERSION)} = d.{q(TABLE_VERSION)}, "
                f"{q(BATCHED_AT)} = CURRENT_TIMESTAMP FROM {latest} AS d WHERE {match}"
            )

    def joinable(self, rows: str) -> str:
        """The relation of ``rows`` (a subquery) that a statement is about to join to a
        table, in a form the database's planner can size."""
        return rows
