"""`database_url` setting: which database, how to reach it, and how to print it safely."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from target_dap_sql.errors import TargetError

SUPPORTED = "postgresql://user:password@host:port/database or duckdb:///path/to/file.duckdb"


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed `database_url`; `redacted` is the only form that may be printed."""

    scheme: str
    url: str
    path: Path | None

    @property
    def redacted(self) -> str:
        return redact(self.url)


def redact(text: str) -> str:
    """Replace the password of any URL in `text` by `***`."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def parse_database_url(url: str) -> DatabaseUrl:
    """Parse and check a `database_url`; errors never show the password."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise TargetError(
            f"database_url is not a URL ({type(error).__name__}); use {SUPPORTED}"
        ) from error
    scheme = parts.scheme.lower()
    if scheme in {"postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"}:
        if not parts.hostname and "host=" not in parts.query:
            raise TargetError(f"database_url {redact(url)!r} names no host; use {SUPPORTED}")
        normalized = "postgresql://" + url.split("://", 1)[1]
        return DatabaseUrl("postgresql", normalized, None)
    if scheme == "duckdb":
        raw_path = unquote(url.split("://", 1)[1])
        if raw_path.startswith("/"):
            raw_path = raw_path[1:]  # duckdb:///file -> "file"; duckdb:////abs -> "/abs"
        if not raw_path:
            raise TargetError(f"database_url {url!r} names no file; use {SUPPORTED}")
        return DatabaseUrl("duckdb", url, Path(raw_path))
    # Echo only the scheme: text that is not a URL cannot be redacted reliably.
    raise TargetError(
        f"database_url has an unsupported scheme {scheme or '(none)'!r}; use {SUPPORTED}"
    )
