"""BATCH files in the SDK's `parquet` encoding: a DAP file as one typed Parquet file, with
no Python code per record.

A DAP file's JSONL (`{"key": {...}, "value": {...}, "meta": {"ts", "action"}}` a line,
inflated into blocks of whole lines by `tap_dap.api.decoding`) is cut into chunks of about
`CHUNK_BYTES`. Arrow's JSON reader (C++) parses each chunk against an explicit schema
built from the stream's Singer schema (`key`, `value` and `meta` as structs; members not
in it, such as deselected fields, are skipped); Arrow compute flattens key and value into
the record's columns, takes `_dap_ts` from meta.ts (the job's `at` where a snapshot leaves
meta out) and `_sdc_deleted_at` from it on deletes, and the chunk is written as one row
group. The columns are the properties a RECORD message carries, in schema order, then
`_sdc_table_version` (see `TABLE_VERSION`).

Types (`arrow_type`), chosen for what a SQL target loads fastest and what any Parquet
reader takes as it is (the SDK's targets read with `pyarrow.parquet`):

- integer: int16/int32/int64 by DAP's `format` (int64 without one); integer enums alike.
- number: float64; with `multipleOf` (DAP's exact decimals) decimal128(38, scale), the
  scale from `multipleOf` as the target's NUMERIC has it: exact, and a decimal to DuckDB,
  to PostgreSQL drivers and to Python (`Decimal`), where text would need a cast and a
  double would not be exact. A value with more digits than the scale breaks the schema's
  `multipleOf` and is refused, not rounded.
- boolean: bool.
- date-time: timestamp, microseconds, UTC (Parquet TIMESTAMP(MICROS, isAdjustedToUTC)):
  PostgreSQL's and DuckDB's own precision, so no value is cut and none needs converting;
  milliseconds would cut sub-millisecond values, nanoseconds end in the year 2262.
- date: date32. Every other string (uuid, ipv4/ipv6, enums, text): string. Enums are not
  dictionary-typed: Parquet dictionary-encodes string columns anyway, and every reader
  takes a plain string column.
- object with declared members and no others: struct; array with declared items: list.
  Arrow's reader cannot keep an object as JSON text; a struct keeps its members' types.

A column with none of these types (an object open to undeclared members, a mixed `anyOf`,
no type at all; no DAP table has one today) cannot be parsed by Arrow: `ParquetLayout.of`
raises `NoParquetTypeError` naming it.

Only when Arrow refuses a chunk does Python look at single lines: the bad line is found by
bisecting the chunk with Arrow, so the error names the file, the line and the field, as
JSONL mode's errors do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

# The system allocator, not Arrow's default mimalloc, which keeps what each thread freed:
# with two files converting at once the tap's RSS stayed 50 MB higher (235 MB against 185)
# for the same CPU time. Arrow's C++ reads this when it is first imported; the tap imports
# it nowhere else, and a user's own choice wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from tap_dap.api.decoding import LineBlock
from tap_dap.errors import RecordDecodeError
from tap_dap.singer.batches import NoParquetTypeError
from tap_dap.singer.schema import DAP_TS, DELETED_AT

#: Decompressed JSON parsed at a time: Arrow's reader is as fast on 4 MiB as on 32 MiB,
#: and holds several times the chunk while it parses.
CHUNK_BYTES = 4 * 1024 * 1024
#: Arrow data written as one row group (about 23,000 submissions rows): larger groups made
#: files only 3% smaller, and each file converting holds its group twice (the parsed
#: chunks, then the writer's pages), so two at once stay near 180 MB of RSS.
ROW_GROUP_BYTES = 16 * 1024 * 1024
#: The column holding the BATCH message's `version` (the table version of the stream's
#: snapshot, null if none): the SDK's targets read no `version` from a BATCH message, and
#: without it in the rows their ACTIVATE_VERSION would take every row for an old one.
TABLE_VERSION = "_sdc_table_version"
#: The Parquet codec for `batch_config.encoding.compression` gzip (True) or none, as the
#: SDK writes them: gzip pages, or pyarrow's default (snappy).
CODECS = {True: "gzip", False: "snappy"}
#: zlib's fastest level for gzip pages: Arrow's default takes 3.5 times the CPU for
#: files 3% smaller.
GZIP_PAGE_LEVEL = 1

TIMESTAMP = pa.timestamp("us", tz="UTC")
_INTEGERS = {"int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64()}
_STRING_FORMATS = {"date-time": TIMESTAMP, "date": pa.date32()}
_DECIMAL_PRECISION = 38
_META = pa.struct([pa.field("ts", TIMESTAMP), pa.field("action", pa.string())])
_SECTIONS = ("key", "value", "meta")
_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")
_ROW_SUFFIX = re.compile(r" in row \d+$")
NOT_AN_OBJECT = "not a DAP record (not a JSON object)"


def arrow_type(spec: Mapping[str, Any]) -> pa.DataType | None:  # noqa: PLR0911 - one per type
    """The Parquet column type of a Singer schema property, None if it has none."""
    alternatives = spec.get("anyOf") or spec.get("oneOf")
    if alternatives is not None:
        real = [a for a in alternatives if a.get("type") not in ("null", ["null"])]
        if real and all(a.get("type") == "string" for a in real):
            return pa.string()  # DAP's IPv4-or-IPv6 addresses
        return None
    declared = spec.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or ())
    types = [name for name in types if name != "null"]
    if len(types) != 1:
        return None
    kind = types[0]
    if kind == "integer":
        return _INTEGERS.get(spec.get("format", ""), pa.int64())
    if kind == "number":
        return _decimal(spec["multipleOf"]) if "multipleOf" in spec else pa.float64()
    if kind == "boolean":
        return pa.bool_()
    if kind == "string":
        return _STRING_FORMATS.get(spec.get("format", ""), pa.string())
    if kind == "object":
        return _struct(spec)
    if kind == "array" and isinstance(spec.get("items"), Mapping):
        item = arrow_type(spec["items"])
        return pa.list_(item) if item is not None else None
    return None


def _decimal(multiple_of: Any) -> pa.DataType | None:
    exponent = Decimal(str(multiple_of)).normalize().as_tuple().exponent
    scale = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return pa.decimal128(_DECIMAL_PRECISION, scale) if scale <= _DECIMAL_PRECISION else None


def _struct(spec: Mapping[str, Any]) -> pa.DataType | None:
    """A closed object with declared members (a struct would drop any other member)."""
    members = spec.get("properties")
    if not isinstance(members, Mapping) or not members:
        return None
    if spec.get("additionalProperties") is not False:
        return None
    fields = [(name, arrow_type(member)) for name, member in members.items()]
    if any(kind is None for _, kind in fields):
        return None
    return pa.struct([pa.field(name, kind) for name, kind in fields])


def _read_type(file_type: pa.DataType) -> pa.DataType:
    """What the JSON reader fills for a column type: dates as text (it parses none)."""
    if pa.types.is_date32(file_type):
        return pa.string()
    if pa.types.is_struct(file_type):
        return pa.struct([field.with_type(_read_type(field.type)) for field in file_type])
    if pa.types.is_list(file_type):
        return pa.list_(_read_type(file_type.value_type))
    return file_type


@dataclass(frozen=True)
class ParquetLayout:
    """How one stream's DAP lines become the columns of its Parquet files."""

    read_schema: pa.Schema  # key, value, meta: what Arrow's JSON reader fills
    file_schema: pa.Schema  # the record's columns, then _sdc_table_version

    @classmethod
    def of(cls, schema: Mapping[str, Any], key_properties: Sequence[str]) -> ParquetLayout:
        """The layout of a stream schema (its selected properties); `NoParquetTypeError`
        names the columns Arrow cannot parse."""
        types = {
            name: arrow_type(spec)
            for name, spec in (schema.get("properties") or {}).items()
            if name not in (DAP_TS, DELETED_AT)
        }
        untyped = [name for name, kind in types.items() if kind is None]
        if untyped:
            raise NoParquetTypeError(untyped)
        keys = [pa.field(name, types[name], nullable=False) for name in key_properties]
        values = [
            pa.field(name, kind) for name, kind in types.items() if name not in key_properties
        ]
        return cls(
            read_schema=pa.schema(
                [
                    pa.field("key", _read_struct(keys)),
                    pa.field("value", _read_struct(values)),
                    pa.field("meta", _META),
                ]
            ),
            file_schema=pa.schema(
                [
                    *keys,
                    *values,
                    pa.field(DAP_TS, TIMESTAMP, nullable=False),
                    pa.field(DELETED_AT, TIMESTAMP),
                    pa.field(TABLE_VERSION, pa.int64()),
                ]
            ),
        )


def _read_struct(fields: Sequence[pa.Field]) -> pa.DataType:
    return pa.struct([pa.field(f.name, _read_type(f.type)) for f in fields])


@dataclass(frozen=True)
class ParquetCounts:
    """What a written Parquet file holds."""

    records: int
    deletes: int


def write_parquet_file(
    blocks: Iterable[LineBlock],
    path: Path,
    layout: ParquetLayout,
    *,
    gzip: bool,
    version: int | None,
    default_ts: str | None,
    describe: str,
) -> ParquetCounts:
    """Write the line blocks of one DAP file to `path` as Parquet, a row group per chunk;
    a line that is not a DAP record of the layout is a `RecordDecodeError`."""
    converter = _ChunkConverter(layout, version, default_ts, describe)
    options: dict[str, Any] = {"compression": CODECS[gzip]}
    if gzip:
        options["compression_level"] = GZIP_PAGE_LEVEL
    records = deletes = 0
    group: list[pa.Table] = []
    group_bytes = 0
    with pq.ParquetWriter(str(path), layout.file_schema, **options) as writer:
        for chunk in _chunks(blocks):
            table, chunk_deletes = converter.convert(chunk)
            records += table.num_rows
            deletes += chunk_deletes
            group.append(table)
            group_bytes += table.nbytes
            if group_bytes >= ROW_GROUP_BYTES:
                writer.write_table(pa.concat_tables(group))
                group, group_bytes = [], 0
        if group:
            writer.write_table(pa.concat_tables(group))
    return ParquetCounts(records, deletes)


def _chunks(blocks: Iterable[LineBlock]) -> Iterator[LineBlock]:
    """The blocks joined into chunks of about CHUNK_BYTES of whole lines."""
    parts: list[bytes] = []
    size = 0
    first_line = 1
    for block in blocks:
        if not parts:
            first_line = block.first_line
        parts.append(block.data)
        size += len(block.data)
        if size >= CHUNK_BYTES:
            chunk = LineBlock(b"".join(parts), first_line)
            parts.clear()  # before the chunk is converted: one copy of its lines alive
            size = 0
            yield chunk
    if parts:
        yield LineBlock(b"".join(parts), first_line)


class _ChunkConverter:
    """Turns chunks of one file's DAP lines into tables of the layout's file schema."""

    def __init__(
        self, layout: ParquetLayout, version: int | None, default_ts: str | None, describe: str
    ) -> None:
        self._layout = layout
        self._reader = _Reader(layout.read_schema)
        self._version = pa.scalar(version, pa.int64())
        # DAP may leave `meta` out of a snapshot: such a record is as of the job's `at`
        self._default_ts = pa.scalar(default_ts).cast(TIMESTAMP) if default_ts else None
        self._describe = describe

    def convert(self, chunk: LineBlock) -> tuple[pa.Table, int]:
        """The chunk as a table of the file schema, and how many deletes it holds."""
        table = self._parse(chunk)
        key, value, meta = (table.column(section) for section in _SECTIONS)
        keys = key.flatten()
        self._refuse(chunk, pc.is_null(key), "it has no key")
        for field, column in zip(self._layout.read_schema.field("key").type, keys, strict=True):
            self._refuse(chunk, pc.is_null(column), f"its key has no {field.name}")
        ts, action = meta.flatten()
        self._refuse(chunk, pc.and_(pc.is_valid(meta), pc.is_null(ts)), "meta has no ts")
        if self._default_ts is not None:
            ts = pc.coalesce(ts, self._default_ts)
        self._refuse(chunk, pc.is_null(ts), "the record has no meta.ts")
        deleted = pc.fill_null(pc.equal(action, "D"), False)
        deletes: int = pc.sum(deleted).as_py() or 0
        values = value.flatten()
        if deletes and pc.any(pc.and_(deleted, pc.is_valid(value))).as_py():
            # a delete is its key alone, as in RECORD mode, whatever else DAP sent
            values = [pc.if_else(deleted, pa.scalar(None, v.type), v) for v in values]
        schema = self._layout.file_schema
        paths = [
            f"{section}.{field.name}"
            for section in ("key", "value")
            for field in self._layout.read_schema.field(section).type
        ]
        columns = [
            self._typed(chunk, column, field, path)
            for column, field, path in zip([*keys, *values], schema, paths, strict=False)
        ]
        columns += [
            ts,
            pc.if_else(deleted, ts, pa.scalar(None, TIMESTAMP)),
            pa.repeat(self._version, table.num_rows),
        ]
        return pa.Table.from_arrays(columns, schema=schema), deletes

    def _parse(self, chunk: LineBlock) -> pa.Table:
        data = chunk.data
        start = _LEADING_SPACE.match(data)
        end = start.end() if start else 0
        if data[end : end + 1] not in (b"{", b""):
            # refused here: Arrow 26's JSON reader crashes on a first line `null`
            raise self._error(chunk.first_line + data.count(b"\n", 0, end), NOT_AN_OBJECT)
        try:
            return self._reader.read(data)
        except pa.ArrowInvalid as error:
            raise self._error(*_locate(chunk, self._reader, str(error))) from None

    def _typed(self, chunk: LineBlock, column: pa.ChunkedArray, field: pa.Field, path: str) -> Any:
        """A column in its file type: dates parsed from their text (`path`: where the
        line holds it, for errors)."""
        if column.type == field.type:
            return column
        try:
            return column.cast(field.type)
        except pa.ArrowInvalid as error:

            def fails(start: int, stop: int) -> bool:
                return _fails(lambda: column.slice(start, stop - start).cast(field.type))

            row = _first_failing(len(column), fails)
            reason = _not_of_schema(path, str(error))
            raise self._error(_line_of_row(chunk, row or 0), reason) from None

    def _refuse(self, chunk: LineBlock, bad: Any, reason: str) -> None:
        """Refuse the chunk, naming the first row where `bad` holds, if any does."""
        if not pc.any(bad).as_py():
            return
        row = pc.index(bad, True).as_py()
        raise self._error(_line_of_row(chunk, row), f"not a DAP record ({reason})")

    def _error(self, line: int, reason: str) -> RecordDecodeError:
        return RecordDecodeError(f"{self._describe}, line {line}: {reason}")


class _Reader:
    """Arrow's JSON reader with one explicit schema."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._parse = pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        )

    def read(self, data: bytes) -> pa.Table:
        """The lines parsed, their text checked as UTF-8 (which the reader leaves out)."""
        # One thread per file: the tap converts `decode_workers` files at once. The whole
        # chunk as one block: a line longer than a block (1 MiB by default, and DAP text
        # can be longer) would straddle two and be refused; as fast as 1 MiB blocks here.
        options = pa_json.ReadOptions(use_threads=False, block_size=max(len(data), 1))
        table = pa_json.read_json(
            pa.BufferReader(data), read_options=options, parse_options=self._parse
        )
        table.validate(full=True)
        return table


def _locate(chunk: LineBlock, reader: _Reader, message: str) -> tuple[int, str]:
    """(line, reason) of the first line of a refused chunk that Arrow refuses alone. Only
    on the error path: it splits the chunk in Python and bisects it with Arrow."""
    numbered = [
        (number, line)
        for number, line in enumerate(chunk.data.split(b"\n"), start=chunk.first_line)
        if line.strip()
    ]
    for number, line in numbered:
        if not line.lstrip().startswith(b"{"):
            return number, NOT_AN_OBJECT

    def fails(start: int, stop: int) -> bool:
        return _fails(lambda: reader.read(b"\n".join(line for _, line in numbered[start:stop])))

    index = _first_failing(len(numbered), fails)
    if index is None:  # no single line fails: name the chunk
        return chunk.first_line, _not_of_schema("", message)
    number, line = numbered[index]
    # the narrowest part that fails alone: the JSON itself, a section, a field of it
    parts: list[tuple[str, pa.Schema]] = [("", pa.schema([]))]
    for section in _SECTIONS:
        fields = list(reader.schema.field(section).type)
        parts.append((section, pa.schema([pa.field(section, pa.struct([]))])))
        parts += [
            (f"{section}.{field.name}", pa.schema([pa.field(section, pa.struct([field]))]))
            for field in fields
        ]
    for name, schema in parts:
        try:
            _Reader(schema).read(line)
        except pa.ArrowInvalid as error:
            return number, _not_of_schema(name, str(error))
    return number, _not_of_schema("", message)


def _not_of_schema(part: str, message: str) -> str:
    """Arrow's complaint about a part of a line, without its row number (which counts
    within one of Arrow's blocks)."""
    where = f"{part}: " if part else ""
    return (
        f"not a DAP record of the stream's schema ({where}{_ROW_SUFFIX.sub('', message.strip())})"
    )


def _first_failing(count: int, fails: Callable[[int, int], bool]) -> int | None:
    """The first index in range(count) for which `fails(i, i + 1)` holds, found by
    bisection where `fails(start, stop)` says whether some item of the range fails."""
    if not count or not fails(0, count):
        return None
    start, stop = 0, count
    while stop - start > 1:
        middle = (start + stop) // 2
        if fails(start, middle):
            stop = middle
        else:
            start = middle
    return start


def _fails(action: Callable[[], object]) -> bool:
    try:
        action()
    except pa.ArrowInvalid:
        return True
    return False


def _line_of_row(chunk: LineBlock, row: int) -> int:
    """The file line of a row of a chunk (Arrow skips blank lines; only on the error path)."""
    seen = -1
    for number, line in enumerate(chunk.data.split(b"\n"), start=chunk.first_line):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return chunk.first_line
