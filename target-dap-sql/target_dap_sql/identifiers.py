"""Table and column names: from stream ids, kept within database limits, and the SQL
standard's quoting of names and strings.

Names are always quoted, so any character is allowed except NUL (which no database
accepts in an identifier). A name longer than the database allows would be cut silently
by PostgreSQL and could collide with another one; we shorten it ourselves, keeping a
hash of the full name so that the result is stable across runs.
"""

from __future__ import annotations

import hashlib

from target_dap_sql.errors import TargetError


def standard_quote(name: str) -> str:
    """An identifier quoted the SQL standard's way (a dialect's `quote` may differ)."""
    return '"' + name.replace('"', '""') + '"'


def standard_literal(text: str) -> str:
    """A string literal the SQL standard's way (a dialect's `literal` may differ)."""
    return "'" + text.replace("'", "''") + "'"


def fit_name(name: str, max_bytes: int | None, *, what: str) -> str:
    """Return `name` unchanged or shortened to `max_bytes` UTF-8 bytes with a hash tail."""
    if not name:
        raise TargetError(f"empty {what} name")
    if "\x00" in name:
        raise TargetError(f"{what} name {name!r} contains a NUL character")
    encoded = name.encode()
    if max_bytes is None or len(encoded) <= max_bytes:
        return name
    tail = "_" + hashlib.sha1(encoded, usedforsecurity=False).hexdigest()[:8]
    head = encoded[: max_bytes - len(tail)].decode(errors="ignore")
    return head + tail


def split_stream_id(stream_id: str, default_schema: str) -> tuple[str, str]:
    """`canvas-accounts` -> (`canvas`, `accounts`); a stream without `-` uses the default.

    This is the convention SQL targets share (tap-dap names streams `{namespace}-{table}`).
    """
    schema, dash, table = stream_id.partition("-")
    if not dash or not schema or not table:
        return default_schema, stream_id
    return schema, table
