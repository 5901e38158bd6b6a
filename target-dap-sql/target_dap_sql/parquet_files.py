"""Parquet BATCH files (the Singer SDK's `parquet` encoding): checked, then read by DuckDB.

A file's footer is read first (DuckDB's types of its columns, no rows): a file that is
not Parquet, that lacks a column of the stream, or whose column has a type that cannot
hold the column's values
(a DOUBLE for an integer column, a VARCHAR for a boolean) is refused with the file and
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

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import duckdb

from target_dap_sql.columns import TABLE_VERSION, Kind
from target_dap_sql.dialects.base import LINE
from target_dap_sql.errors import TargetError
from target_dap_sql.identifiers import standard_literal as literal
from target_dap_sql.identifiers import standard_quote as quote

if TYPE_CHECKING:
    from target_dap_sql.spool import Field

# Footers are read by DuckDB, the reader of the rows too: pyarrow would cost every
# process about 60 MB of RSS for its import alone (measured), and only the PostgreSQL
# dialect needs it (ADBC's bulk load).
_INTEGERS = {Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT}
_INTEGER_TYPES = {
    f"{sign}{size}INT" for sign in ("", "U") for size in ("TINY", "SMALL", "BIG", "HUGE")
} | {"INTEGER", "UINTEGER"}
_NESTED_TYPE = re.compile(r"^(STRUCT|MAP|UNION)\(|\[\d*\]$")
_LIST_OF_STRUCTS = re.compile(r"^STRUCT\(.*\)\[\d*\]$")
_NULL_TYPE = '"NULL"'  # a column whose every value is null (pyarrow's null type)


def _is_integer(db_type: str) -> bool:
    return db_type in _INTEGER_TYPES


def _is_number(db_type: str) -> bool:
    return _is_integer(db_type) or db_type in ("FLOAT", "DOUBLE") or db_type.startswith("DECIMAL")


def _is_timestamp(db_type: str) -> bool:
    return db_type.startswith("TIMESTAMP")


def _is_time(db_type: str) -> bool:
    return db_type.startswith("TIME") and not _is_timestamp(db_type)


def _is_text(db_type: str) -> bool:
    return db_type == "VARCHAR"  # dictionary-encoded strings read as VARCHAR too


# Which of DuckDB's types of a file's column a column of each kind takes (besides the
# null type, which any column takes); JSON columns take anything: nested values become
# JSON, scalars JSON scalars. Other kinds take text.
_ACCEPTS: dict[Kind, tuple[Callable[[str], bool], ...]] = {
    **{kind: (_is_integer,) for kind in _INTEGERS},
    Kind.DOUBLE: (_is_number,),
    Kind.DECIMAL: (_is_number,),
    Kind.BOOLEAN: ("BOOLEAN".__eq__,),
    Kind.TIMESTAMP: (_is_timestamp, "DATE".__eq__, _is_text),
    Kind.DATE: ("DATE".__eq__, _is_timestamp, _is_text),
    Kind.TIME: (_is_time, _is_text),
}
_TEXT_LIKE = (_is_text,)


@functools.cache
def _footer_database() -> duckdb.DuckDBPyConnection:
    database = duckdb.connect(":memory:", config={"threads": 1})
    database.execute("SET GLOBAL TimeZone = 'UTC'")
    return database


def _reader() -> duckdb.DuckDBPyConnection:
    """A cursor of the process's footer reader: an in-memory DuckDB of one thread, in
    UTC (a cursor is a connection of its own, so loader threads never share one)."""
    return _footer_database().cursor()


def _first_line(error: duckdb.Error) -> str:
    return str(error).splitlines()[0]


def is_nested(db_type: str) -> bool:
    return bool(_NESTED_TYPE.search(db_type))


class ParquetFile:
    """One Parquet BATCH file: its columns by name, checked against a stream's fields."""

    def __init__(self, path: Path, *, label: str, line: int | None = None) -> None:
        self.path = path
        self.label = label  # the stream and table, for errors
        self.line = line  # of the BATCH message
        try:
            with _reader() as reader:
                described = reader.execute(
                    f"DESCRIBE SELECT * FROM read_parquet({literal(str(path))})"
                ).fetchall()
        except duckdb.Error as error:
            raise TargetError(
                f"{label}, BATCH file {path.name}: not a readable Parquet file "
                f"({_first_line(error)})",
                line=line,
            ) from error
        self.names: list[str] = [str(row[0]) for row in described]
        # DuckDB's type of each column, as read_parquet reads it (`BIGINT`, `DECIMAL(9,2)`)
        self.types: dict[str, str] = {str(row[0]): str(row[1]) for row in described}

    def check(self, fields: Sequence[Field]) -> None:
        """Refuse the file when a field's column is missing or of a type it cannot hold."""
        for field in fields:
            db_type = self.types.get(field.source)
            if db_type is None:
                raise TargetError(
                    f"{self.label}, BATCH file {self.path.name}: the file has no column "
                    f"{field.source!r}, which the stream's schema has",
                    line=self.line,
                )
            if db_type == _NULL_TYPE or field.kind == Kind.JSON:
                continue
            accepted = _ACCEPTS.get(field.kind, _TEXT_LIKE)
            if not any(test(db_type) for test in accepted):
                raise TargetError(
                    f"{self.label}, BATCH file {self.path.name}, column {field.source!r}: the file "
                    f"holds {db_type}, which cannot hold the column's values "
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
            column, read_as = alias[field.source], self.types[field.source]
            if is_nested(read_as) or field.kind == Kind.JSON:  # a JSON column's value
                column, read_as = _json(column, read_as), "JSON"
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
        with _reader() as reader:
            found = reader.execute(
                f"SELECT sum(num_rows) FROM parquet_file_metadata({literal(str(path))})"
            ).fetchall()
    except duckdb.Error:
        return 0
    return int(found[0][0] or 0)


def _json(column: str, db_type: str) -> str:
    """DuckDB's JSON of a Parquet value, objects without null members.

    A struct holds every member the schema declares, so an object the source sent
    without some member reads back with it null; a JSON merge patch onto `{}` drops null
    members (at every depth of objects), which gives the object as the source sent it
    (the same as a RECORD's) unless the source sent a member null explicitly. Objects in
    a list are treated so one level down.
    """
    if db_type.startswith("STRUCT(") and db_type.endswith(")"):  # not a list of them
        return f"json_merge_patch('{{}}', to_json({column}))"
    if _LIST_OF_STRUCTS.match(db_type):
        item = "json_merge_patch('{}', to_json(x))"
        return f"to_json(list_transform({column}, lambda x: {item}))"
    return f"to_json({column})"


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a Parquet BATCH file as records (the SDK path: validation, maps), with
    date-times, dates, times, uuids and decimals as a RECORD message carries them (ISO
    strings, strings and numbers)."""
    try:
        with _reader() as reader:
            reader.execute(f"SELECT * FROM read_parquet({literal(str(path))})")
            names = [str(column[0]) for column in reader.description or []]
            while rows := reader.fetchmany(10_000):
                for row in rows:
                    yield {name: _as_json(value) for name, value in zip(names, row, strict=True)}
    except duckdb.Error as error:
        raise TargetError(
            f"BATCH file {path.name}: not a readable Parquet file ({_first_line(error)})"
        ) from error


def _as_json(value: Any) -> Any:
    if isinstance(value, dict):  # a struct's members
        return {name: _as_json(member) for name, member in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    convert = _JSON_SCALARS.get(type(value))
    return convert(value) if convert else value


# a decimal as a RECORD's JSON number (a float, as the SDK's validator takes it)
_JSON_SCALARS: dict[type, Callable[[Any], Any]] = {UUID: str, Decimal: float}
