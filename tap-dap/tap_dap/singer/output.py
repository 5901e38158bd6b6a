"""The one owner of stdout: the SDK's messages and our pre-encoded RECORD bytes, in order.

The SDK writes SCHEMA, STATE and ACTIVATE_VERSION through `write_message`; streams write
blocks of RECORD lines through `write_records`. Both go to the same binary stream, so
their order on stdout is the order of the calls, and a STATE never overtakes the records
before it.
"""

from __future__ import annotations

import sys
from typing import IO, Any

import orjson
from singer_sdk.singerlib.encoding import GenericSingerWriter
from singer_sdk.singerlib.encoding.simple import Message


def _default(value: Any) -> Any:
    """Values orjson does not know (Decimal in a schema, say) as JSON-friendly text."""
    return str(value)


#: RECORD bytes gathered before one write: fewer system calls, and fewer times the main
#: thread gives the GIL away to the decode threads and waits to get it back.
FLUSH_BYTES = 1024 * 1024


class SingerOutput(GenericSingerWriter[bytes, Message]):
    """A Singer message writer that also takes ready-made RECORD lines."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def serialize_message(self, message: Message) -> bytes:
        """One Singer message as JSON bytes."""
        return orjson.dumps(message.to_dict(), default=_default)

    def write_message(self, message: Message) -> None:
        """Write one SDK message (SCHEMA, STATE, ACTIVATE_VERSION, ...) after the records
        before it, and flush."""
        self._pending.append(self.format_message(message) + b"\n")
        self.flush()

    def write_records(self, data: bytes) -> None:
        """Queue RECORD lines (newline-terminated); they go out in large writes."""
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write everything queued."""
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
            self._write(data)

    @staticmethod
    def _write(data: bytes) -> None:
        # Looked up on each call: tests and the SDK's runners swap sys.stdout.
        stdout: IO[str] = sys.stdout
        binary: IO[bytes] | None = getattr(stdout, "buffer", None)
        if binary is None:
            stdout.write(data.decode())
            stdout.flush()
            return
        stdout.flush()
        binary.write(data)
        binary.flush()
