"""DAP JSONL lines -> Singer RECORD messages (or BATCH file lines), as bytes, a block of
lines at a time.

This is the per-record path, so it does the least the protocol needs. DAP values are
already typed to their schema, so key and value are not decoded at all: msgspec finds
their raw JSON text, and the record is spliced from it. Only `meta` is decoded.

    {"key": {"id": 1}, "value": {"a": 2}, "meta": {"ts": "T", "action": "U"}}
    -> {"type":"RECORD","stream":"S","version":V,"record":{"id":1,"a":2,
        "_dap_ts":"T","_sdc_deleted_at":null}}

A BATCH file line is the same record object without the envelope.

A delete (`action` D) keeps only the key fields, `_dap_ts` and `_sdc_deleted_at` = ts.
When the catalog deselects value fields, the value is decoded and re-encoded without
them (the slow path, paid only then).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import msgspec

from tap_dap.errors import RecordDecodeError
from tap_dap.singer.schema import DAP_TS, DELETED_AT


class Meta(msgspec.Struct):
    """The `meta` section of a DAP record."""

    ts: str
    action: str = "U"


class Line(msgspec.Struct):
    """A DAP record with key and value kept as raw JSON."""

    key: msgspec.Raw
    meta: Meta | None = None
    value: msgspec.Raw = msgspec.Raw()


_decode_line = msgspec.json.Decoder(Line).decode
_decode_lines = msgspec.json.Decoder(list[Line]).decode
_decode_object = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_encode = msgspec.json.encode
#: The metadata members as they follow the fields of a record: `,"_dap_ts":`, ...
_TS = b"," + _encode(DAP_TS) + b":"
_DELETED_AT = b"," + _encode(DELETED_AT) + b":"


class LineError(ValueError):
    """A line of a block that is not a DAP record; `line` counts from 1 within the block."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class EncodedBlock:
    """RECORD messages for a block of DAP lines, with what they held."""

    data: bytes
    records: int
    deletes: int


class RecordEncoder:
    """Turns blocks of DAP JSONL into RECORD messages of one stream (`stream` given), or
    into bare record objects, one a line, as BATCH files hold them (`stream` None)."""

    def __init__(
        self,
        stream: str | None,
        version: int | None = None,
        dropped_fields: Collection[str] = (),
        default_ts: str | None = None,
    ) -> None:
        if stream is None:
            self._prefix = b""
            self._end = b"}\n"
        else:
            envelope = {"type": "RECORD", "stream": stream}
            if version is not None:
                envelope["version"] = version  # type: ignore[assignment]
            self._prefix = _encode(envelope)[:-1] + b',"record":'
            self._end = b"}}\n"
        self._not_deleted = _DELETED_AT + b"null" + self._end
        self._dropped = frozenset(dropped_fields)
        # DAP may leave `meta` out of a snapshot ("if output would contain no metadata
        # fields, the section is omitted"): such a record is as of the job's `at`.
        self._default_meta = Meta(ts=default_ts) if default_ts else None

    def encode(self, block: bytes) -> EncodedBlock:
        """Encode a block of complete lines (each ending in a newline).

        The pieces of all records go into one list and are joined once: per record, that
        is the cheapest way to build bytes in Python (no intermediate concatenations).
        """
        lines = self._decode(block)
        prefix = self._prefix
        end = self._end
        not_deleted = self._not_deleted
        dropped = self._dropped
        out: list[bytes] = []
        extend = out.extend
        deletes = 0
        for line in lines:
            meta = line.meta or self._default_meta
            if meta is None:
                number = next(i for i, other in enumerate(lines, 1) if other is line)
                raise LineError(number, "the record has no meta.ts")
            ts = _encode(meta.ts)
            key = bytes(line.key)[:-1]  # the key object without its closing brace
            if meta.action == "D":
                deletes += 1
                extend((prefix, key, _TS, ts, _DELETED_AT, ts, end))
                continue
            value = bytes(line.value)
            if value[:1] != b"{":
                members = b""  # no value object: nothing but the key
            elif dropped:
                members = self._kept_members(value)
            else:
                members = value[1:-1]
            if members.strip():
                extend((prefix, key, b",", members, _TS, ts, not_deleted))
            else:
                extend((prefix, key, _TS, ts, not_deleted))
        return EncodedBlock(b"".join(out), len(lines), deletes)

    @staticmethod
    def _decode(block: bytes) -> list[Line]:
        """All lines in one call (a JSON array is the fastest way through msgspec)."""
        body = block.rstrip(b"\r\n")
        if not body:
            return []
        try:
            return _decode_lines(b"[" + body.replace(b"\n", b",") + b"]")
        except msgspec.DecodeError:
            return _decode_one_by_one(body)

    def _kept_members(self, value: bytes) -> bytes:
        """The members of the value object without the deselected fields."""
        fields = _decode_object(value)
        kept = {name: raw for name, raw in fields.items() if name not in self._dropped}
        return _encode(kept)[1:-1]


def encode_lines(
    encoder: RecordEncoder, data: bytes, first_line: int, describe: str
) -> EncodedBlock:
    """Encode a block of a file whose first line is line `first_line` of the file; a line
    that is not a DAP record is a `RecordDecodeError` naming the file and the line."""
    try:
        return encoder.encode(data)
    except LineError as error:
        raise RecordDecodeError(
            f"{describe}, line {first_line + error.line - 1}: not a DAP record ({error.reason})"
        ) from None


def _decode_one_by_one(body: bytes) -> list[Line]:
    """The line-by-line decode, to name the line that broke the block decode."""
    lines = []
    for number, text in enumerate(body.split(b"\n"), start=1):
        if not text.strip():
            continue
        try:
            lines.append(_decode_line(text))
        except msgspec.DecodeError as error:
            raise LineError(number, str(error)) from None
    return lines
