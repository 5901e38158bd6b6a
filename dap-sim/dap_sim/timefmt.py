"""UTC timestamps as integer milliseconds, and their ISO-8601 forms with a ``Z``.

Rows carry many timestamps, so formatting is on the hot path: the date part is cached per
day and the time of day is assembled with integer arithmetic.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

_DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=8192)
def _day_prefix(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%dT")


_TIME_OF_DAY = tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400))


def iso_seconds(ms: int) -> str:
    """``2024-06-30T10:11:12Z`` (data columns: whole seconds)."""
    day, rest = divmod(ms, _DAY_MS)
    return f"{_day_prefix(day)}{_TIME_OF_DAY[rest // 1000]}Z"


def iso_millis(ms: int) -> str:
    """``2024-06-30T10:11:12.123Z`` (commit timestamps and job times)."""
    day, rest = divmod(ms, _DAY_MS)
    seconds, millis = divmod(rest, 1000)
    return f"{_day_prefix(day)}{_TIME_OF_DAY[seconds]}.{millis:03d}Z"


def iso_date(ms: int) -> str:
    return _day_prefix(ms // _DAY_MS)[:-1]


def parse_iso(text: str) -> int:
    """Milliseconds of an ISO-8601 timestamp that names its zone (``Z`` or an offset).

    Microseconds are truncated to milliseconds, which is exact for every timestamp
    dap-sim hands out. Raises ValueError for a zone-less or malformed timestamp.
    """
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone (add Z or +00:00)")
    delta = parsed - _EPOCH
    return delta.days * _DAY_MS + delta.seconds * 1000 + delta.microseconds // 1000
