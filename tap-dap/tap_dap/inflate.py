"""The gzip inflater: ISA-L's (three times zlib's speed on DAP files) where it is installed.

Inflating is the largest cost per record after the JSON itself, so the faster library
matters; both have zlib's interface, and zlib is the fallback on platforms without
ISA-L wheels.
"""

from __future__ import annotations

from typing import Any

try:
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - platforms without isal wheels
    import zlib as _zlib  # type: ignore[no-redef]

GZIP = 31  # wbits: a gzip header and trailer, CRC checked

#: What a broken gzip stream raises.
InflateError: type[Exception] = _zlib.error  # type: ignore[assignment]


def inflater() -> Any:
    """A new decompressor for one gzip member."""
    return _zlib.decompressobj(GZIP)
