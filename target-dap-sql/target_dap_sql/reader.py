"""Reads Singer messages from bytes, counting input lines for error messages.

A RECORD line is decoded with msgspec into its envelope only: the record itself stays
raw JSON bytes (`msgspec.Raw`), which a dialect either writes to its staging file
untouched (DuckDB) or parses once into a row (PostgreSQL). Every other message is
parsed in full. Any failure while handling a line is reported with that line's number.
"""

from __future__ import annotations

import sys
import typing as t
from collections import Counter

import msgspec
import orjson
from singer_sdk.exceptions import SingerSDKError
from singer_sdk.singerlib.encoding.base import GenericSingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_dap_sql.errors import TargetError


class _Envelope(msgspec.Struct):
    type: str
    stream: str | None = None
    record: msgspec.Raw = msgspec.Raw(b"")
    version: int | None = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode


class SingerLineReader(GenericSingerReader[bytes]):
    """Line-numbered Singer reader with a raw fast path for RECORD messages."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0

    @property
    def default_input(self) -> t.IO[bytes]:
        return sys.stdin.buffer

    def deserialize_json(self, line: bytes) -> dict[str, t.Any]:
        """One message as a dict; for RECORD, `record` holds the raw JSON bytes."""
        try:
            envelope = _decode_envelope(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise TargetError(f"not a valid Singer message: {error}") from error
        if envelope.type == "RECORD":
            if envelope.stream is None or not envelope.record:
                raise TargetError("RECORD message without `stream` or `record`")
            return {
                "type": "RECORD",
                "stream": envelope.stream,
                "record": envelope.record,
                "version": envelope.version,
            }
        message: dict[str, t.Any] = orjson.loads(line)
        return message

    def process_lines(
        self,
        file_input: t.IO[bytes] | None,
        callbacks: dict[str, t.Callable[[dict[str, t.Any]], None]],
    ) -> t.Counter[str]:
        stats: Counter[str] = Counter()
        for number, line in enumerate(file_input or self.default_input, 1):
            self.line_number = number
            if not line.strip():
                continue
            try:
                message = self.deserialize_json(line)
                kind = message["type"]
                callback = callbacks.get(kind)
                if callback is None:
                    raise TargetError(f"unknown Singer message type {kind!r}")
                callback(message)
            except TargetError as error:
                if error.line is None:
                    error.line = number
                raise
            except (SingerSDKError, InvalidInputLine) as error:
                error.add_note(f"input line {number}")
                raise
            stats[kind] += 1
        return stats
