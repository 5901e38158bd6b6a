"""Gzip with ISA-L (three times zlib's speed on DAP files) where it is installed: DAP files
inflated into blocks of whole JSONL lines, and the compressor of gzip BATCH files.

Inflating is the largest cost per record after the JSON itself, so the faster library
matters; both have zlib's interface, and zlib is the fallback on platforms without
ISA-L wheels. RECORD mode (`tap_dap.api.decoding`) and BATCH mode
(`tap_dap.singer.batches`) both cut a file into line blocks here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tap_dap.errors import DownloadError

try:
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - platforms without isal wheels
    import zlib as _zlib  # type: ignore[no-redef]

GZIP = 31  # wbits: a gzip header and trailer, CRC checked

#: What a broken gzip stream raises.
InflateError: type[Exception] = _zlib.error  # type: ignore[assignment]

#: Compressed bytes inflated at a time: about 150 KiB of JSONL, a block that stays in the
#: CPU caches while it is encoded. (Bounding the output instead costs a copy of the rest
#: of the input on every call.)
READ_BYTES = 32 * 1024


def inflater() -> Any:
    """A new decompressor for one gzip member."""
    return _zlib.decompressobj(GZIP)


def deflater(level: int) -> Any:
    """A new gzip compressor (for BATCH files)."""
    return _zlib.compressobj(level, _zlib.DEFLATED, GZIP)


class LineInflater:
    """Turns the compressed bytes of one file, fed in order, into blocks of whole lines.

    A file may hold several gzip members one after another; `complete` says whether the
    bytes fed so far end exactly at the end of a member (else the file was cut short).
    """

    def __init__(self, describe: str) -> None:
        self._describe = describe
        self._inflate = inflater()
        self._pending = b""
        self.fed = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The whole lines that `data` completes (each block ends in a newline); a broken
        gzip stream is a `DownloadError` naming the file (`describe`)."""
        self.fed += len(data)
        while data:
            try:
                out = self._inflate.decompress(data)
            except InflateError as error:
                raise DownloadError(f"{self._describe}: not a valid gzip file ({error})") from None
            data = b""
            if self._inflate.eof and self._inflate.unused_data.strip(b"\0"):
                data = self._inflate.unused_data  # another gzip member follows
                self._inflate = inflater()
            pending = self._pending + out if self._pending else out
            cut = pending.rfind(b"\n") + 1
            if cut:
                yield pending[:cut]
                self._pending = pending[cut:]
            else:
                self._pending = pending

    @property
    def complete(self) -> bool:
        """Whether the input so far is whole (an empty file holds no records)."""
        return self._inflate.eof or self.fed == 0

    def rest(self) -> bytes | None:
        """After the last byte: a last line without its newline, as a block, if any."""
        return self._pending + b"\n" if self._pending.strip() else None
