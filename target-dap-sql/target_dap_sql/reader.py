"""Reads Singer messages from bytes, counting input lines for error messages.

For a database that reads JSON itself (DuckDB), a RECORD line is decoded with msgspec
into its envelope only: the record stays raw JSON bytes (`msgspec.Raw`) on its way to the
staging file. For one that takes rows (PostgreSQL), the line is parsed once, in full, by
orjson. Either way a RECORD goes straight to the target's record handler, past the SDK's
per-message dispatch (the hot path: one call per record). Any failure while handling a
line is reported with that line's number and its stream; the fields the SDK relies on are
checked first, so hostile input ends in one clear line rather than in an error deep
inside the SDK.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import typing as t
from collections import Counter
from decimal import Decimal

import msgspec
import orjson
from singer_sdk.exceptions import SingerSDKError
from singer_sdk.singerlib.encoding import GenericSingerReader
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
_STREAM_FIELD = re.compile(rb'"stream"\s*:\s*("(?:[^"\\]|\\.)*")')
_WITH_STREAM = ("RECORD", "SCHEMA", "ACTIVATE_VERSION", "BATCH")


def stream_hint(line: bytes | str) -> str | None:
    """The `stream` a line names, read from its text: the line may not parse as a whole."""
    raw = line.encode(errors="replace") if isinstance(line, str) else line
    match = _STREAM_FIELD.search(raw)
    if match is None:
        return None
    try:
        name = orjson.loads(match.group(1))
    except orjson.JSONDecodeError:
        return None
    return name if isinstance(name, str) else None


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_message(message: object) -> dict[str, t.Any]:
    """The message, if the fields the SDK relies on are there with their JSON types."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise TargetError("not a valid Singer message: not a JSON object with a `type`")
    kind = message["type"]
    if kind in _WITH_STREAM and not isinstance(message.get("stream"), str):
        raise TargetError(f"{kind} message without a `stream` name (a string)")
    problem = None
    if kind == "RECORD":
        if not isinstance(message.get("record"), dict):
            problem = "`record` must be a JSON object"
        elif message.get("version") is not None and not _is_version(message["version"]):
            problem = "`version` must be an integer"
    elif kind == "SCHEMA":
        schema, keys = message.get("schema"), message.get("key_properties")
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
            problem = "`schema` must be a JSON schema object with `properties`"
        elif keys is not None and not (
            isinstance(keys, list) and all(isinstance(key, str) for key in keys)
        ):
            problem = "`key_properties` must be a list of field names"
    elif kind == "ACTIVATE_VERSION" and not _is_version(message.get("version")):
        problem = "`version` must be an integer"
    elif kind == "STATE" and "value" not in message:
        problem = "no `value`"
    if problem:
        raise TargetError(f"{kind} message: {problem}")
    return message


def is_plain_record(envelope: _Envelope, line: bytes | str) -> bool:
    """A RECORD whose raw JSON may go to the database unparsed: it has a stream, its record
    is an object, and the line is valid UTF-8 (which msgspec does not check inside `Raw`)."""
    if envelope.type != "RECORD" or envelope.stream is None:
        return False
    if bytes(memoryview(envelope.record)[:1]) != b"{":
        return False
    if isinstance(line, str) or line.isascii():
        return True
    try:
        line.decode()
    except UnicodeDecodeError:
        return False
    return True


def _no_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not a JSON number")


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
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            envelope = None
        if envelope is not None and is_plain_record(envelope, line):
            return {
                "type": "RECORD",
                "stream": envelope.stream,
                "record": envelope.record,
                "version": envelope.version,
            }
        # Parse in full: the same checks and words for every database
        return self._parse(line)

    def _parse(self, line: bytes | str) -> dict[str, t.Any]:
        try:
            message = check_message(orjson.loads(line))
        except orjson.JSONDecodeError as error:
            # orjson refuses numbers beyond a double's range; the standard parser takes
            # them (and only them: it would let lone surrogates and NaN through)
            if "number" not in str(error):
                raise TargetError(f"not a valid Singer message: {error}") from error
            try:
                decoded = json.loads(line, parse_float=Decimal, parse_constant=_no_constant)
            except (ValueError, RecursionError):
                raise TargetError(f"not a valid Singer message: {error}") from error
            message = check_message(decoded)
        if message["type"] == "RECORD":
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
        """The SDK's message loop, with line numbers and the RECORD fast path (an SDK seam:
        see sdk_compat.SEAMS); `callbacks` are the target's handlers by message type."""
        stats: Counter[str] = Counter()
        records = 0
        on_record = self.record_handler
        for number, line in enumerate(file_input or self.default_input, 1):
            self.line_number = number
            message: dict[str, t.Any] | None = None
            try:
                if on_record is not None and self.raw_records:
                    try:
                        envelope = _decode_envelope(line)
                    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                        envelope = None  # an empty line, or an error deserialize_json names
                    if envelope is not None and is_plain_record(envelope, line):
                        assert envelope.stream is not None  # is_plain_record checked it
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
                if error.line is None:  # about this line (a failed batch names its own)
                    error.line = number
                    if error.stream is None:
                        error.stream = message.get("stream") if message else stream_hint(line)
                raise
            except (SingerSDKError, InvalidInputLine) as error:
                stream = message.get("stream") if message else stream_hint(line)
                error.add_note(f"input line {number}, stream {stream!r}")
                raise
            stats[kind] += 1
        stats["RECORD"] += records
        return stats
