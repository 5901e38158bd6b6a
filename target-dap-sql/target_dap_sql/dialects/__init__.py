"""Databases the target writes to; each dialect answers DDL, types, staging and merges."""

from __future__ import annotations

from target_dap_sql.database_url import DatabaseUrl
from target_dap_sql.dialects.base import Dialect, LoadOptions


def open_dialect(url: DatabaseUrl, options: LoadOptions) -> Dialect:
    """Connect to the database that `url` names."""
    if url.scheme == "postgresql":
        from target_dap_sql.dialects.postgres import PostgresDialect  # noqa: PLC0415

        return PostgresDialect(url, options)
    from target_dap_sql.dialects.duckdb import DuckDBDialect  # noqa: PLC0415

    return DuckDBDialect(url, options)
