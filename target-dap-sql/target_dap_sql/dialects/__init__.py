"""The databases the target writes to: one registry from URL scheme to dialect module.

Each dialect is one module of this package (see `base` for what a dialect provides);
it is imported only when a `database_url` names it.
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from target_dap_sql.database_url import DatabaseUrl
from target_dap_sql.dialects.base import Dialect, LoadOptions
from target_dap_sql.errors import TargetError

# scheme -> (module, class); the first scheme of a module is the one the docs show
_REGISTRY: dict[str, tuple[str, str]] = {
    "postgresql": ("postgres", "PostgresDialect"),
    "postgres": ("postgres", "PostgresDialect"),
    "postgresql+psycopg": ("postgres", "PostgresDialect"),
    "postgresql+psycopg2": ("postgres", "PostgresDialect"),
    "duckdb": ("duckdb", "DuckDBDialect"),
    "mysql": ("mysql", "MySQLDialect"),
    "mariadb": ("mysql", "MySQLDialect"),
}
SUPPORTED = (
    "postgresql://user:password@host:port/database, duckdb:///path/to/file.duckdb or "
    "mysql://user:password@host:port/database (also mariadb://)"
)


def supported_schemes() -> list[str]:
    return sorted(_REGISTRY)


def _dialect_class(scheme: str) -> type[Dialect]:
    module, name = _REGISTRY[scheme]
    dialect: type[Dialect] = getattr(
        importlib.import_module(f"target_dap_sql.dialects.{module}"), name
    )
    return dialect


def parse_database_url(url: str) -> DatabaseUrl:
    """Parse and check a `database_url`; errors never show the password."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise TargetError(
            f"database_url is not a URL ({type(error).__name__}); use {SUPPORTED}"
        ) from error
    scheme = parts.scheme.lower()
    if scheme not in _REGISTRY:
        # Echo only the scheme: text that is not a URL cannot be redacted reliably.
        raise TargetError(
            f"database_url has an unsupported scheme {scheme or '(none)'!r}; supported: "
            f"{', '.join(supported_schemes())} ({SUPPORTED})"
        )
    return _dialect_class(scheme).parse_url(url, parts)


def dialect_class_for(url: DatabaseUrl) -> type[Dialect]:
    """The dialect class for a parsed database URL."""
    return _dialect_class(url.scheme)


def open_dialect(url: DatabaseUrl, options: LoadOptions) -> Dialect:
    """Connect to the database that `url` names."""
    return dialect_class_for(url)(url, options)
