"""Reads Singer messages from bytes, counting input lines for error messages.

For a database that reads JSON itself (DuckDB), a RECORD line is decoded with msgspec
into its envelope only: the record stays raw JSON bytes (`msgspec.Raw`) on its way to the
staging file. For one that takes rows (PostgreSQL), the line is parsed once, in full, by
orjson. Either way a RECORD goes straight to the target's record handler, past the SDK's
per-message dispatch (the hot path: one call per record). Any failure while handling a
line is reported with that line's number.
"""

from __future__ import annotations

import json
import logging
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


class _Envelope(msgspec.Struct):
    type: str
    stream: str | None = None
    record: msgspec.Raw = msgspec.Raw(b"")
    version: int | None = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
logger = logging.getLogger("target_dap_sql")
RecordHandler = t.Callable[[str, t.Any, "int | None"], None]


def contains_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


def without_nul(value: t.Any) -> t.Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


class SingerLineReader(GenericSingerReader[bytes]):
    """Line-numbered Singer reader with a raw fast path for RECORD messages."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.raw_records = True  # set by the target from its dialect
        self.strip_nul = False  # likewise: PostgreSQL text cannot hold NUL characters
        # Set by the target when no setting needs the SDK's per-record path.
        self.record_handler: RecordHandler | None = None
        self._nul_warned: set[tuple[str, str]] = set()

    @property
    def default_input(self) -> t.IO[bytes]:
        return sys.stdin.buffer

    def deserialize_json(self, line: bytes) -> dict[str, t.Any]:
        """One message as a dict; with `raw_records`, a RECORD's `record` is raw JSON bytes."""
        if not self.raw_records:
            return self._parse(line)
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
        return self._parse(line)

    def _parse(self, line: bytes | str) -> dict[str, t.Any]:
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            try:  # orjson refuses integers beyond 64 bits; the standard parser does not
                message = json.loads(line, parse_float=Decimal)
            except ValueError:
                raise TargetError(f"not a valid Singer message: {error}") from error
        if not isinstance(message, dict) or "type" not in message:
            raise TargetError("not a valid Singer message: no `type`")
        if message["type"] == "RECORD":
            if not isinstance(message.get("record"), dict) or "stream" not in message:
                raise TargetError("RECORD message without `stream` or `record`")
            # `--input FILE` gives text lines, stdin bytes.
            marker: t.Any = "\\u0000" if isinstance(line, str) else b"\\u0000"
            if self.strip_nul and marker in line:
                self._strip_nul(message)
        return message

    def _strip_nul(self, message: dict[str, t.Any]) -> None:
        """Drop NUL characters from a record's values, saying where (once per column)."""
        record = message["record"]
        for key, value in record.items():
            if contains_nul(value):
                record[key] = without_nul(value)
                if (message["stream"], key) not in self._nul_warned:
                    self._nul_warned.add((message["stream"], key))
                    logger.warning(
                        "stream %r, column %r, input line %d: removed NUL characters, which "
                        "the database cannot store (reported once per column)",
                        message["stream"],
                        key,
                        self.line_number,
                    )

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
                if on_record is not None and self.raw_records:
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
                if on_record is not None and kind == "RECORD":
                    on_record(message["stream"], message["record"], message.get("version"))
                    records += 1
                    continue
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
