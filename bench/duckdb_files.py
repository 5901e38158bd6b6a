"""DuckDB for the benchmark: a new database file per run, and the rows a load left.

The same face as bench.postgres and bench.mariadb (create, url, count, drop), so that
target-dap-sql's rows into DuckDB are run and checked as its rows into the servers are.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb


class DuckDBFiles:
    """Creates and removes the benchmark's DuckDB files in one folder."""

    name = "DuckDB"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.duckdb"

    def url(self, name: str) -> str:
        return f"duckdb:///{self._path(name)}"

    def create(self, label: str) -> str:
        """A name for a new database; target-dap-sql creates its file on first use."""
        return f"bench_{label}_{uuid.uuid4().hex[:6]}"

    def drop(self, name: str) -> None:
        for path in (self._path(name), self.folder / f"{name}.duckdb.wal"):
            path.unlink(missing_ok=True)

    def count(self, database: str, table: str, *, live_only: bool) -> int:
        """Rows of ``schema.table``; ``live_only`` skips rows marked deleted (_sdc_deleted_at)."""
        schema, name = table.split(".")
        query = f'SELECT count(*) FROM "{schema}"."{name}"'
        if live_only:
            query += " WHERE _sdc_deleted_at IS NULL"
        with duckdb.connect(str(self._path(database)), read_only=True) as connection:
            row = connection.execute(query).fetchone()
        return int(row[0]) if row else 0
