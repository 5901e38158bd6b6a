"""Databases the target writes to; each dialect answers DDL, types, staging and merges."""

from __future__ import annotations

from target_dap_sql.database_url import DatabaseUrl
from target_dap_sql.dialects.base import Dialect, LoadOptions


def dialect_class_for(url: DatabaseUrl) -> type[Dialect]:
    """The dialect class for a database URL (imported only when used)."""
    if url.scheme == "postgresql":
        from target_dap_sql.dialects.postgres import PostgresDialect  # noqa: PLC0415

        return PostgresDialect
    from target_dap_sql.dialects.duckdb import DuckDBDialect  # noqa: PLC0415

    return DuckDBDialect


def open_dialect(url: DatabaseUrl, options: LoadOptions) -> Dialect:
    """Connect to the database that `url` names."""
    return dialect_class_for(url)(url, options)
