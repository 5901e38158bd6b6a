"""Parquet BATCH files (the Singer SDK's `parquet` encoding): checked, then read by DuckDB.

A file's footer is read first (pyarrow, no rows): a file that is not Parquet, that lacks
a column of the stream, or whose column has a type that cannot hold the column's values
(a double for an integer column, a string for a boolean) is refused with the file and
the column named, before any of its rows is loaded. DuckDB's `read_parquet` then reads
the rows where they lie, in C++: no Python touches a row. A value the column's type
cannot take (an int64 beyond an INTEGER column, a string that is no date) is refused by
the same strict check as a JSON value (`spool.Field.checked`), naming column and row.

Columns are found by name; a file's columns the stream does not have are ignored, as a
record's extra properties are. Each row's table version is the BATCH message's
`version`, else the file's own `_sdc_table_version` column (tap-dap writes both), else
none.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from target_dap_sql.columns import TABLE_VERSION, Kind
from target_dap_sql.dialects.base import LINE
from target_dap_sql.errors import TargetError
from target_dap_sql.identifiers import standard_literal as literal
from target_dap_sql.identifiers import standard_quote as quote

if TYPE_CHECKING:
    from target_dap_sql.spool import Field

_INTEGERS = {Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT}
_STRINGS = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
_NUMBERS = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
_NESTED = (pa.types.is_struct, pa.types.is_list, pa.types.is_large_list, pa.types.is_map)
# Which Arrow types a column of each kind takes (besides null, which any column takes);
# JSON columns take anything: nested values become JSON, scalars JSON scalars.
_ACCEPTS: dict[Kind, tuple[Any, ...]] = {
    **{kind: (pa.types.is_integer,) for kind in _INTEGERS},
    Kind.DOUBLE: _NUMBERS,
    Kind.DECIMAL: _NUMBERS,
    Kind.BOOLEAN: (pa.types.is_boolean,),
    Kind.TIMESTAMP: (pa.types.is_timestamp, pa.types.is_date, *_STRINGS),
    Kind.DATE: (pa.types.is_date, pa.types.is_timestamp, *_STRINGS),
    Kind.TIME: (pa.types.is_time, *_STRINGS),
}
_TEXT_LIKE = (*_STRINGS, pa.types.is_dictionary)
# The DuckDB type `read_parquet` gives a column of these Arrow types (no cast needed when
# it is the field's read type)
_DUCKDB_TYPES = {
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.timestamp("us", "UTC"): "TIMESTAMP WITH TIME ZONE",
}


def is_nested(arrow_type: pa.DataType) -> bool:
    return any(test(arrow_type) for test in _NESTED)


class ParquetFile:
    """One Parquet BATCH file: its columns by name, checked against a stream's fields."""

    def __init__(self, path: Path, *, label: str, line: int | None = None) -> None:
        self.path = path
        self.label = label  # the stream and table, for errors
        self.line = line  # of the BATCH message
        try:
            self.schema = pq.read_schema(path)
        except (OSError, pa.ArrowException) as error:
            raise TargetError(
                f"{label}, BATCH file {path.name}: not a readable Parquet file ({error})",
                line=line,
            ) from error
        self.names: list[str] = list(self.schema.names)
        self.types = {f.name: f.type for f in self.schema}

    def check(self, fields: Sequence[Field]) -> None:
        """Refuse the file when a field's column is missing or of a type it cannot hold."""
        for field in fields:
            arrow_type = self.types.get(field.source)
            if arrow_type is None:
                raise TargetError(
                    f"{self.label}, BATCH file {self.path.name}: the file has no column "
                    f"{field.source!r}, which the stream's schema has",
                    line=self.line,
                )
            if pa.types.is_null(arrow_type) or field.kind == Kind.JSON:
                continue
            accepted = _ACCEPTS.get(field.kind, _TEXT_LIKE)
            if not any(test(arrow_type) for test in accepted):
                raise TargetError(
                    f"{self.label}, BATCH file {self.path.name}, column {field.source!r}: the file "
                    f"holds {arrow_type}, which cannot hold the column's values "
                    f"({field.kind.value})",
                    line=self.line,
                )

    def select(self, fields: Sequence[Field], *, base: int, version: int | None) -> str:
        """DuckDB's SELECT of position (``base`` + row), table version and every field.

        Columns are aliased by position (`c0`, ...): a file column named like DuckDB's
        row-number column cannot clash.
        """
        alias = {name: f"c{i}" for i, name in enumerate(self.names)}
        row = "n"
        if version is not None:
            table_version = f"{int(version)}::BIGINT"
        elif TABLE_VERSION in alias:
            table_version = f"TRY_CAST({alias[TABLE_VERSION]} AS BIGINT)"
        else:
            table_version = "NULL::BIGINT"
        values = []
        for index, field in enumerate(fields):
            column, arrow_type = alias[field.source], self.types[field.source]
            read_as = _DUCKDB_TYPES.get(arrow_type)
            if is_nested(arrow_type) or field.kind == Kind.JSON:  # a JSON column's value
                column, read_as = _json(column, arrow_type), "JSON"
            exact = read_as == field.read_type
            values.append(field.checked(column, f"{base} + {row}", index, exact=exact))
        aliases = ", ".join([*alias.values(), row])
        return (
            f"SELECT {base} + {row} AS {quote(LINE)}, "
            f"{table_version} AS {quote(TABLE_VERSION)}, {', '.join(values)} "
            f"FROM read_parquet({literal(str(self.path))}, file_row_number = true) "
            f"AS p({aliases})"
        )


def row_count(path: Path) -> int:
    """Rows of a Parquet file by its footer; 0 for a file that has none (the merge names
    what is wrong with it)."""
    try:
        return int(pq.read_metadata(path).num_rows)
    except (OSError, pa.ArrowException):
        return 0


def _json(column: str, arrow_type: pa.DataType) -> str:
    """DuckDB's JSON of a Parquet value, objects without null members.

    A struct holds every member the schema declares, so an object the source sent
    without some member reads back with it null; a JSON merge patch onto `{}` drops null
    members (at every depth of objects), which gives the object as the source sent it
    (the same as a RECORD's) unless the source sent a member null explicitly. Objects in
    a list are treated so one level down.
    """
    if pa.types.is_struct(arrow_type):
        return f"json_merge_patch('{{}}', to_json({column}))"
    if (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)) and (
        pa.types.is_struct(arrow_type.value_type)
    ):
        item = "json_merge_patch('{}', to_json(x))"
        return f"to_json(list_transform({column}, lambda x: {item}))"
    return f"to_json({column})"


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a Parquet BATCH file as records (the SDK path: validation, maps), with
    date-times, dates and times as the ISO strings a RECORD message carries."""
    try:
        file = pq.ParquetFile(path)
        for batch in file.iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                yield {name: _as_json(value) for name, value in row.items()}
    except (OSError, pa.ArrowException) as error:
        raise TargetError(
            f"BATCH file {path.name}: not a readable Parquet file ({error})"
        ) from error


def _as_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return value
