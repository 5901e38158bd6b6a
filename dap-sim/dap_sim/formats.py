"""Record encoders for the data formats of the DAP API: JSON Lines, TSV and CSV.

Rules from the API description (Data formats, Metadata, Format transformations, Mode):
- JSONL: ``{"key", "value", "meta"}`` per line, nulls omitted; a delete has no ``value``.
- TSV: header row; tab delimited; ``\\N`` for NULL; backslash escapes for control
  characters; booleans ``true``/``false``; nested and variable-cardinality values as JSON.
- CSV: RFC 4180; header row; quoted when needed; ``""`` for an empty string, nothing for
  NULL.
- Headers: ``meta.ts`` (+ ``meta.action`` for incremental queries), ``key.*``, ``value.*``.
  Mode ``expanded`` (the default) spreads fixed nested objects over ``value.a.b`` columns,
  ``condensed`` keeps them as one JSON column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import orjson

from dap_sim.catalog import JsonSchema, resolve_ref
from dap_sim.tables import Record
from dap_sim.timefmt import iso_millis

FORMATS = ("jsonl", "tsv", "csv")
MODES = ("expanded", "condensed")
_TSV_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
)
_CSV_NEEDS_QUOTES = re.compile(r'[",\r\n\t]|^$|^NULL$|^\s|\s$')


class Encoder:
    """Turns records of one job into the bytes of its files (a header, then lines)."""

    extension = "jsonl"

    def __init__(self, *, key_column: str, incremental: bool) -> None:
        self.key_column = key_column
        self.incremental = incremental

    def header(self) -> bytes:
        return b""

    def encode(self, records: Iterable[Record]) -> bytes:
        key_column, incremental = self.key_column, self.incremental
        dumps = orjson.dumps
        lines = []
        for record in records:
            if record.values is None:
                line = {
                    "key": {key_column: record.key},
                    "meta": {"ts": iso_millis(record.ts_ms), "action": "D"},
                }
            elif incremental:
                line = {
                    "key": {key_column: record.key},
                    "value": record.values,
                    "meta": {"ts": iso_millis(record.ts_ms), "action": "U"},
                }
            else:
                line = {
                    "key": {key_column: record.key},
                    "value": record.values,
                    "meta": {"ts": iso_millis(record.ts_ms)},
                }
            lines.append(dumps(line))
        lines.append(b"")
        return b"\n".join(lines)


class TabularEncoder(Encoder):
    """TSV or CSV with the column layout of one schema version.

    Each column gets a converter chosen from its schema type, and free text is escaped
    through a per-column cache: most cells repeat, so escaping is rarely repeated.
    """

    def __init__(
        self,
        *,
        key_column: str,
        incremental: bool,
        properties: dict[str, JsonSchema],
        tsv: bool,
        expanded: bool,
    ) -> None:
        super().__init__(key_column=key_column, incremental=incremental)
        self.extension = "tsv" if tsv else "csv"
        self._delimiter = "\t" if tsv else ","
        self._dialect = _TSV if tsv else _CSV
        self._columns = _value_columns(properties, key_column, expanded, self._dialect)
        self._key_cell = _converter(properties[key_column], self._dialect)

    def labels(self) -> list[str]:
        meta = ["meta.ts", "meta.action"] if self.incremental else ["meta.ts"]
        return [*meta, f"key.{self.key_column}", *(column.label for column in self._columns)]

    def header(self) -> bytes:
        cells = [self._dialect.text(label) for label in self.labels()]
        return (self._delimiter.join(cells) + "\n").encode()

    def encode(self, records: Iterable[Record]) -> bytes:
        delimiter, columns, key_cell = self._delimiter, self._columns, self._key_cell
        deleted_tail = delimiter.join([self._dialect.null] * len(columns))
        # without nested columns spread out (mode condensed), a tighter loop
        flat_columns = None
        if all(column.sub is None for column in columns):
            flat_columns = [(column.name, column.convert) for column in columns]
        incremental = self.incremental
        lines = []
        for record in records:
            head = iso_millis(record.ts_ms)
            if incremental:
                head = f"{head}{delimiter}{record.action}"
            values = record.values
            if values is None:
                tail = deleted_tail
            elif flat_columns is not None:
                get = values.get
                tail = delimiter.join([convert(get(name)) for name, convert in flat_columns])
            else:
                get = values.get
                tail = delimiter.join(
                    [
                        convert(get(name)) if sub is None else convert(_sub_value(get(name), sub))
                        for _, name, sub, convert in columns
                    ]
                )
            lines.append(f"{head}{delimiter}{key_cell(record.key)}{delimiter}{tail}")
        lines.append("")
        return "\n".join(lines).encode()


def encoder_for(
    output_format: str, mode: str | None, *, flat: JsonSchema, key_column: str, incremental: bool
) -> Encoder:
    if output_format == "jsonl":
        return Encoder(key_column=key_column, incremental=incremental)
    return TabularEncoder(
        key_column=key_column,
        incremental=incremental,
        properties=flat["properties"],
        tsv=output_format == "tsv",
        expanded=(mode or "expanded") == "expanded",
    )


class _Dialect:
    """How one tabular format writes NULL and text."""

    def __init__(self, null: str, text: Callable[[str], str]) -> None:
        self.null = null
        self.text = text


def _tsv_text(text: str) -> str:
    return text.translate(_TSV_ESCAPES)


def _csv_text(text: str) -> str:
    if _CSV_NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


_TSV = _Dialect("\\N", _tsv_text)
_CSV = _Dialect("", _csv_text)
_CACHE_LIMIT = 20_000
_PLAIN_FORMATS = ("date-time", "date", "uuid", "ipv4", "ipv6")

Converter = Callable[[Any], str]


class _Column(NamedTuple):
    label: str  # header label, e.g. value.settings.enabled
    name: str  # top-level value column
    sub: str | None  # property of a nested object spread over columns (mode expanded)
    convert: Converter


def _value_columns(
    properties: dict[str, JsonSchema], key_column: str, expanded: bool, dialect: _Dialect
) -> list[_Column]:
    columns: list[_Column] = []
    for name, declared in properties.items():
        if name == key_column:
            continue
        node = resolve_ref(declared)
        if expanded and node.get("type") == "object" and "properties" in node:
            for sub, sub_node in node["properties"].items():
                columns.append(
                    _Column(f"value.{name}.{sub}", name, sub, _converter(sub_node, dialect))
                )
        else:
            columns.append(_Column(f"value.{name}", name, None, _converter(node, dialect)))
    return columns


def _sub_value(parent: Any, sub: str) -> Any:
    return None if parent is None else parent.get(sub)


def _converter(node: JsonSchema, dialect: _Dialect) -> Converter:
    """A value -> cell function specialised for a column's schema type."""
    node = resolve_ref(node)
    null = dialect.null
    kind = node.get("type")
    if kind == "boolean":
        return {True: "true", False: "false", None: null}.__getitem__
    if kind in ("integer", "number"):
        return lambda value: null if value is None else str(value)
    if kind == "string" and "enum" in node:
        return {None: null, **{member: dialect.text(member) for member in node["enum"]}}.__getitem__
    if kind == "string" and node.get("format") in _PLAIN_FORMATS:
        return lambda value: null if value is None else value  # never needs escaping
    if kind == "string" or "oneOf" in node:
        return _cached(dialect.text, null)
    # nested objects (condensed) and arrays: JSON text, then the format's escaping
    return lambda value: null if value is None else dialect.text(orjson.dumps(value).decode())


def _cached(convert: Callable[[str], str], null: str) -> Converter:
    cache: dict[Any, str] = {None: null}

    def cell(value: Any) -> str:
        text = cache.get(value)
        if text is None:
            text = convert(str(value))
            if len(cache) < _CACHE_LIMIT:
                cache[value] = text
        return text

    return cell
