"""Reads Singer messages from bytes, counting input lines for error messages.

A RECORD line is decoded with msgspec into its envelope only: the record stays raw JSON
bytes (`msgspec.Raw`) on its way to the spool file, and goes straight to the target's
record handler, past the SDK's per-message dispatch (the hot path: one call per record).
Other messages are parsed in full by orjson. Any failure while handling a line is
reported with that line's number.
"""

from __future__ import annotations

import json
import sys
import typing as t
from collections import Counter
from decimal import Decimal

import msgspec
import orjson
from singer_sdk.exceptions import SingerSDKError
from singer_sdk.singerlib.encoding.base import GenericSingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_dap_sql.errors import TargetError

RecordHandler = t.Callable[[str, msgspec.Raw, "int | None"], None]


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
        # Set by the target when no setting needs the SDK's per-record path.
        self.record_handler: RecordHandler | None = None

    @property
    def default_input(self) -> t.IO[bytes]:
        return sys.stdin.buffer

    def deserialize_json(self, line: bytes) -> dict[str, t.Any]:
        """One message as a dict; a RECORD's `record` stays raw JSON bytes."""
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
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            try:  # orjson refuses integers beyond 64 bits; the standard parser does not
                message = json.loads(line, parse_float=Decimal)
            except ValueError:
                raise TargetError(f"not a valid Singer message: {error}") from error
        if not isinstance(message, dict) or "type" not in message:
            raise TargetError("not a valid Singer message: no `type`")
        return message

    def process_lines(
        self,
        file_input: t.IO[bytes] | None,
        callbacks: dict[str, t.Callable[[dict[str, t.Any]], None]],
    ) -> t.Counter[str]:
        stats: Counter[str] = Counter()
        records = 0
        on_record = self.record_handler
        for number, line in enumerate(file_input or self.default_input, 1):
            self.line_number = number
            try:
                if on_record is not None:
                    try:
                        envelope = _decode_envelope(line)
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        envelope = None  # an empty line, or an error deserialize_json names
                    if envelope is not None and envelope.type == "RECORD" and envelope.record:
                        if envelope.stream is None:
                            raise TargetError("RECORD message without `stream`")
                        on_record(envelope.stream, envelope.record, envelope.version)
                        records += 1
                        continue
                if not line.strip():
                    continue
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
        stats["RECORD"] += records
        return stats
