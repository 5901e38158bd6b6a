"""Singer JSON schema -> a dialect-neutral column model.

Each property becomes one `Column` with a logical `Kind`; the dialects turn kinds into
type names. The rules follow DAP's type shapes (see the README) and stay generic, so a
foreign tap's schema maps the same way:

- integer: format int16/int32/int64 -> SMALLINT/INTEGER/BIGINT (no format: BIGINT);
  integer enums stay integers.
- number: `multipleOf` -> DECIMAL (exact), otherwise DOUBLE.
- string: format date-time/date/time/uuid/ipv4/ipv6 -> TIMESTAMP/DATE/TIME/UUID/IP;
  string enums -> ENUM (or TEXT with `enum_as: text`); every other string is TEXT, and
  `maxLength` is ignored on purpose: a longer value must never fail a load.
- `anyOf`/`oneOf`: null alternatives make the column nullable; alternatives that are all
  strings of format ipv4/ipv6 -> IP; all strings (e.g. DAP's oversized-text marker) -> TEXT.
- objects, arrays, and mixtures that no scalar type holds -> JSON.

Nullability: a column is nullable when its type admits null; key columns never are.

Defaults: a property's `default` (DAP gives one to a required field it adds to a table)
is kept when it is a value of the column's kind, so that the rows already in the table
take it when the column is added; any other default is ignored with a warning.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

logger = logging.getLogger("target_dap_sql")

DELETED_AT = "_sdc_deleted_at"
TABLE_VERSION = "_sdc_table_version"
BATCHED_AT = "_sdc_batched_at"
STAGED_VALUE = "{staged}"  # where a `Column.conversion` reads the staged value


class Kind(enum.Enum):
    """Logical column types; order inside a family matters for widening (see evolution)."""

    SMALLINT = "smallint"
    INTEGER = "integer"
    BIGINT = "bigint"
    DECIMAL = "decimal"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"
    TIME = "time"
    UUID = "uuid"
    IP = "ip"
    ENUM = "enum"
    TEXT = "text"
    VARCHAR = "varchar"  # a bounded string column read back from a table we did not create
    JSON = "json"
    OTHER = "other"  # a database type we did not create (read back from an existing table)


@dataclass(frozen=True)
class Column:
    """One column as the stream wants it (or as the database has it)."""

    name: str
    kind: Kind
    nullable: bool = True
    comment: str | None = None
    # ENUM members, in schema order; of an array (JSON) of a string enum, its items' (an
    # array column of an enum type, written through a conversion, takes new ones too)
    members: tuple[str, ...] = ()
    scale: int | None = None  # DECIMAL digits after the point, where the schema says
    db_type: str | None = None  # the database's own type name, for columns read back
    default: Any = None  # the schema's default, a value of `kind` (see `column_default`)
    db_default: str | None = None  # the database's own default expression, where it keeps one
    length: int | None = None  # VARCHAR: the most characters the column holds (None: no limit)
    # SQL that turns a staged value (`STAGED_VALUE`, of `kind`) into `db_type`: set on a
    # column of a type the target does not create that its dialect writes the stream's
    # values into (see `Dialect.conversion`)
    conversion: str | None = None

    def describe(self) -> str:
        """The type as a user reads it in an error message."""
        return self.db_type or self.kind.value

    def converted(self, staged: str) -> str:
        """SQL of the staged value ``staged`` in the column's own type (as it is where
        the column has no conversion)."""
        return staged if self.conversion is None else self.conversion.replace(STAGED_VALUE, staged)


@dataclass(frozen=True)
class TableSpec:
    """The table a stream wants: qualified name, columns in schema order, key."""

    schema: str
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    stream: str = ""
    column_index: Mapping[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_index", {c.name: c for c in self.columns})

    @property
    def display_name(self) -> str:
        return f"{self.schema}.{self.name}"


_STRING_FORMATS = {
    "date-time": Kind.TIMESTAMP,
    "date": Kind.DATE,
    "time": Kind.TIME,
    "uuid": Kind.UUID,
    "ipv4": Kind.IP,
    "ipv6": Kind.IP,
}
_INTEGER_FORMATS = {"int16": Kind.SMALLINT, "int32": Kind.INTEGER, "int64": Kind.BIGINT}
_SCALAR_TYPES = {"string", "integer", "number", "boolean"}


def _types_of(prop: Mapping[str, Any]) -> list[str]:
    declared = prop.get("type")
    if declared is None:
        if "const" in prop:
            return ["string"] if isinstance(prop["const"], str) else []
        return []
    return [declared] if isinstance(declared, str) else list(declared)


def _alternatives(prop: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    for word in ("anyOf", "oneOf"):
        if isinstance(prop.get(word), list):
            return list(prop[word])
    return None


def _is_null(prop: Mapping[str, Any]) -> bool:
    return _types_of(prop) == ["null"]


def _decimal_scale(multiple_of: Any) -> int | None:
    exponent = Decimal(str(multiple_of)).normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _scalar_kind(  # noqa: PLR0911 - one return per JSON type
    prop: Mapping[str, Any], type_name: str, enum_as_text: bool
) -> Column:
    """Kind of a property with exactly one non-null JSON type."""
    members = [m for m in prop.get("enum", []) if m is not None]
    if type_name == "integer":
        return Column("", _INTEGER_FORMATS.get(prop.get("format", ""), Kind.BIGINT))
    if type_name == "number":
        if "multipleOf" in prop:
            return Column("", Kind.DECIMAL, scale=_decimal_scale(prop["multipleOf"]))
        return Column("", Kind.DOUBLE)
    if type_name == "boolean":
        return Column("", Kind.BOOLEAN)
    if type_name == "string":
        if members and all(isinstance(m, str) for m in members) and not enum_as_text:
            return Column("", Kind.ENUM, members=tuple(members))
        return Column("", _STRING_FORMATS.get(prop.get("format", ""), Kind.TEXT))
    items = prop.get("items")
    if type_name == "array" and isinstance(items, Mapping) and _types_of(items) == ["string"]:
        members = [m for m in items.get("enum", []) if isinstance(m, str)]
        return Column("", Kind.JSON, members=tuple(members))
    return Column("", Kind.JSON)


def _shape(  # noqa: PLR0911 - one return per schema shape
    prop: Mapping[str, Any], enum_as_text: bool
) -> tuple[Column, bool]:
    """(column without name, nullable) for one JSON schema property."""
    alternatives = _alternatives(prop)
    if alternatives is not None:
        nullable = any(_is_null(a) for a in alternatives) or "null" in _types_of(prop)
        real = [a for a in alternatives if not _is_null(a)]
        if len(real) == 1:
            column, inner_nullable = _shape(real[0], enum_as_text)
            return column, nullable or inner_nullable
        if real and all(_types_of(a) == ["string"] for a in real):
            formats = {a.get("format") for a in real}
            kind = Kind.IP if formats <= {"ipv4", "ipv6"} else Kind.TEXT
            return Column("", kind), nullable
        return Column("", Kind.JSON), nullable
    types = _types_of(prop)
    nullable = not types or "null" in types or None in prop.get("enum", [])
    real_types = [t for t in types if t != "null"]
    if len(real_types) == 1:
        return _scalar_kind(prop, real_types[0], enum_as_text), nullable
    if set(real_types) == {"integer", "number"}:
        return Column("", Kind.DECIMAL), nullable
    if real_types and set(real_types) <= _SCALAR_TYPES:
        return Column("", Kind.TEXT), nullable
    return Column("", Kind.JSON), nullable


_INTEGER_KINDS = frozenset(_INTEGER_FORMATS.values())
_PARSED_STRINGS: dict[Kind, Callable[[str], object]] = {
    Kind.TIMESTAMP: datetime.fromisoformat,
    Kind.DATE: date.fromisoformat,
    Kind.TIME: time.fromisoformat,
}


def column_default(column: Column, value: Any) -> Any:
    """`value` if it is a value of the column's kind (a schema `default`), else None."""
    if value is None or column.kind == Kind.OTHER:
        return None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    fits = {
        Kind.BOOLEAN: isinstance(value, bool),
        Kind.DECIMAL: is_number,
        Kind.DOUBLE: is_number,
        Kind.ENUM: value in column.members,
        Kind.JSON: True,
    }.get(column.kind)
    if fits is None and column.kind in _INTEGER_KINDS:
        fits = isinstance(value, int) and not isinstance(value, bool)
    if fits is None:
        fits = isinstance(value, str)
        parse = _PARSED_STRINGS.get(column.kind)
        if fits and parse is not None:
            try:
                parse(value)
            except ValueError:
                fits = False
    return value if fits else None


_DECLARED_LENGTH = re.compile(r"\((\d+)\)")


def declared_length(type_name: str) -> int | None:
    """The n of a bounded string type as the database names it (`character varying(255)`,
    `varchar(255)`): the `length` of a VARCHAR column read back."""
    match = _DECLARED_LENGTH.search(type_name)
    return int(match.group(1)) if match else None


def utc_datetime(text: str) -> datetime:
    """An ISO 8601 date-time in UTC (without an offset: already UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def column_from_property(
    name: str, prop: Mapping[str, Any], *, is_key: bool, enum_as_text: bool
) -> Column:
    """One Singer schema property -> one Column."""
    shape, nullable = _shape(prop, enum_as_text)
    description = prop.get("description")
    column = Column(
        name=name,
        kind=shape.kind,
        nullable=nullable and not is_key,
        comment=description if isinstance(description, str) else None,
        members=shape.members,
        scale=shape.scale,
    )
    default = column_default(column, prop.get("default"))
    return column if default is None else replace(column, default=default)


def metadata_columns(present: Mapping[str, Column]) -> list[Column]:
    """The `_sdc_*` columns every table gets, unless the stream already sends them.

    `_sdc_deleted_at` comes from the records (set = a delete); `_sdc_table_version` from
    the RECORD messages' `version`; `_sdc_batched_at` is set by the merge, once per batch.
    """
    wanted = [
        Column(DELETED_AT, Kind.TIMESTAMP, comment="Set when the source deleted the row."),
        Column(TABLE_VERSION, Kind.BIGINT, comment="Singer table version of the last load."),
        Column(BATCHED_AT, Kind.TIMESTAMP, comment="When the target last wrote the row."),
    ]
    return [c for c in wanted if c.name not in present]


def table_spec(
    *,
    stream: str,
    schema_name: str,
    table_name: str,
    json_schema: Mapping[str, Any],
    key_properties: Sequence[str],
    enum_as_text: bool,
) -> TableSpec:
    """The table for a stream's SCHEMA message (names not yet fitted to the database)."""
    properties: Mapping[str, Any] = json_schema.get("properties") or {}
    keys = tuple(key_properties)
    columns: dict[str, Column] = {}
    for name, prop in properties.items():
        column = column_from_property(
            name,
            prop if isinstance(prop, Mapping) else {},
            is_key=name in keys,
            enum_as_text=enum_as_text,
        )
        if name in {DELETED_AT, TABLE_VERSION, BATCHED_AT}:
            column = Column(
                name,
                Kind.TIMESTAMP if name != TABLE_VERSION else Kind.BIGINT,
                comment=column.comment,
            )
        elif (
            isinstance(prop, Mapping) and prop.get("default") is not None and column.default is None
        ):
            logger.warning(
                "Stream %s, column %s: the schema's default %r is not a %s value; the column "
                "gets no default",
                stream,
                name,
                prop["default"],
                column.kind.value,
            )
        columns[name] = column
    columns.update({c.name: c for c in metadata_columns(columns)})
    return TableSpec(
        schema=schema_name,
        name=table_name,
        columns=tuple(columns.values()),
        key=keys,
        stream=stream,
    )
