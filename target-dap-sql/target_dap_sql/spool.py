"""The JSON spool: records kept as raw JSON in a file and typed in bulk by DuckDB's reader.

Per record the target does the least Python it can: the record's raw JSON bytes go to a
spool file, wrapped with their input line and table version (`{"l":..,"v":..,"r":..}`).
DuckDB's JSON reader (C++, parallel) then types the whole batch at once, with each
column's type and strict integers, and names the line and column of a value that does
not fit. A BATCH message's files (JSON lines, maybe gzip) need no Python at all: DuckDB
reads them where they are, each record ordered by (file, row) after the records before it.

The DuckDB dialect merges straight from what the reader gives; a dialect of another
database can use the same reader (an in-memory DuckDB) to turn a batch into a bulk-load
file for its own server. The SQL here is DuckDB's, whichever database is loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson

from target_dap_sql.batch_files import BATCH_BASE, FILE_SHIFT, BatchFilesStage
from target_dap_sql.columns import TABLE_VERSION, Kind
from target_dap_sql.dialects.base import LINE, LoadOptions, LoadTable
from target_dap_sql.duckdb_memory import DuckDBMemory
from target_dap_sql.errors import TargetError
from target_dap_sql.identifiers import standard_literal as literal
from target_dap_sql.identifiers import standard_quote as quote
from target_dap_sql.parquet_files import ParquetFile

_LINE_IN_ERROR = re.compile(r"in line (\d+)")
# DuckDB's reader takes a JSON object up to twice its maximum_object_size (a line of
# 33,554,383 bytes failed, measured) and then names neither line nor stream: a spooled
# record beyond that is refused as it arrives instead.
_MAX_OBJECT = 16_777_216
MAX_RECORD_BYTES = 2 * _MAX_OBJECT - 1024  # room for the wrapper of input line and version
# What a strict integer read raises (DuckDB's error()): field index, position, value.
_NOT_AN_INTEGER = "target-dap-sql: not an integer"
_NOT_AN_INTEGER_ERROR = re.compile(_NOT_AN_INTEGER + r": field (\d+) position (\d+) value (.*)")
# What a checked cast of a typed (Parquet) value raises: the same parts.
_NOT_CONVERTED = "target-dap-sql: does not convert"
_NOT_CONVERTED_ERROR = re.compile(_NOT_CONVERTED + r": field (\d+) position (\d+) value (.*)")


def memory_reader(
    options: LoadOptions, memory: DuckDBMemory, *, ordered: bool, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads batches for another database (in UTC), within
    ``memory``'s limit; ``ordered`` keeps rows in input order (slower: DuckDB's threads
    then wait for each other); ``threads`` (default: the `duckdb_threads` setting)."""
    reader = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": memory.limit,
            "threads": threads or options.duckdb_threads,
            "preserve_insertion_order": ordered,
        },
    )
    reader.execute("SET TimeZone = 'UTC'")
    return reader


@dataclass(frozen=True)
class Field:
    """A record field as the reader types it: source key, column name, DuckDB type, and
    the kind of the column it fills.

    An integer column is read as text and converted strictly: DuckDB's reader and casts
    round a fraction (1.5 becomes 2), which would change data silently.
    """

    source: str
    name: str
    read_type: str
    kind: Kind

    @property
    def integer(self) -> bool:
        return self.kind in (Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT)

    def select(self, value: str, position: str, index: int) -> str:
        """The SQL of this field's column from its read ``value`` (`... AS name`)."""
        if not self.integer:
            return f"{value} AS {quote(self.name)}"
        whole = f"TRY_CAST({value} AS {self.read_type})"
        # Plain digits (nearly every value) take one cast; anything else (2.0, 1e3, true,
        # "7", 1.5, "x") is judged by the second branch, as the PostgreSQL path judges it.
        fast = f"CASE WHEN NOT (contains({value}, '.') OR contains({value}, 'e')) THEN {whole} END"
        number = f"TRY_CAST({value} AS DOUBLE)"
        slow = (
            f"CASE WHEN {value} IS NULL THEN NULL WHEN {value} = 'true' THEN 1 "
            f"WHEN {value} = 'false' THEN 0 WHEN {number} = trunc({number}) "
            f"AND {whole} IS NOT NULL THEN {whole} ELSE error('{_NOT_AN_INTEGER}: field {index} "
            f"position ' || ({position}) || ' value ' || left({value}, 60)) END"
        )
        return f"COALESCE({fast}, ({slow})::{self.read_type}) AS {quote(self.name)}"

    def checked(self, value: str, position: str, index: int, *, exact: bool) -> str:
        """The SQL of this field's column from a typed ``value`` (a Parquet column): as
        it is where its type is ``exact``ly the read type, else cast, and a value the
        cast refuses fails naming field and position (see `read_error`)."""
        if exact:
            return f"{value} AS {quote(self.name)}"
        refused = (
            f"error('{_NOT_CONVERTED}: field {index} position ' || ({position}) || ' value ' "
            f"|| left(CAST({value} AS VARCHAR), 60))"
        )
        return (
            f"CASE WHEN {value} IS NULL THEN NULL ELSE COALESCE(TRY_CAST({value} AS "
            f"{self.read_type}), {refused}) END AS {quote(self.name)}"
        )

    @property
    def reads_as(self) -> str:
        """The type DuckDB's JSON reader parses the field as."""
        return "VARCHAR" if self.integer else self.read_type


class SpoolStage(BatchFilesStage):
    """Records spooled as raw JSON for DuckDB's reader, and maybe BATCH files after them."""

    def __init__(self, path: Path, table: LoadTable, *, delete_batch_files: bool) -> None:
        super().__init__(table, delete_batch_files=delete_batch_files)
        self.path = path
        self.file: IO[bytes] = path.open("wb", buffering=1 << 20)
        self._spooled = 0

    @property
    def spooled_bytes(self) -> int:
        return self._spooled

    def add(self, line: int, version: int | None, record: Any) -> None:
        # A dict comes from the SDK path (validation or stream maps on); msgspec.Raw is a
        # view of the input line.
        if isinstance(record, dict):
            record = orjson.dumps(record, default=str)
        size = len(record)
        if size > MAX_RECORD_BYTES:
            raise TargetError(
                f"{self.table.label()}: a record of {size:,} bytes is more than DuckDB's JSON "
                f"reader takes ({MAX_RECORD_BYTES:,}); load this stream into PostgreSQL, or leave "
                "the oversized value out of it",
                line=line,
            )
        self.lines.append(line)
        head = b'{"l":%d,"v":%s,"r":' % (line, b"null" if version is None else b"%d" % version)
        self.file.write(head)
        self.file.write(record)
        self.file.write(b"}\n")
        self._spooled += size

    def seal(self) -> None:
        self.file.flush()

    def reset(self) -> None:
        super().reset()
        self._spooled = 0
        self.file.close()
        self.file = self.path.open("wb", buffering=1 << 20)

    def close(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)

    def read_sql(self, fields: Sequence[Field]) -> str:
        """One SELECT of LINE (position), table version and every field, in input order."""
        return " UNION ALL ".join([*self._spool_parts(fields), *self._file_parts(fields)])

    def _file_parts(self, fields: Sequence[Field]) -> list[str]:
        return file_parts(self, fields)

    # -- explaining what the reader rejected --------------------------------------------------

    def _spool_parts(self, fields: Sequence[Field]) -> list[str]:
        if not self.lines:
            return []
        struct = ", ".join(f"{quote(f.source)} {f.reads_as}" for f in fields)
        columns = f"{{'l': 'BIGINT', 'v': 'BIGINT', 'r': {literal(f'STRUCT({struct})')}}}"
        values = ", ".join(f.select(f"r.{quote(f.source)}", "l", i) for i, f in enumerate(fields))
        spooled = (
            f"SELECT l AS {quote(LINE)}, v AS {quote(TABLE_VERSION)}, {values} FROM "
            f"read_json({literal(str(self.path))}, format = 'newline_delimited', "
            f"columns = {columns}, maximum_object_size = {_MAX_OBJECT})"
        )
        return [spooled]

    def read_error(
        self, connection: duckdb.DuckDBPyConnection, fields: Sequence[Field], error: Exception
    ) -> TargetError:
        """Name the input line and column of a value DuckDB's reader rejected."""
        match = _LINE_IN_ERROR.search(str(error))
        if match is None or self.batches:
            return read_error(self, fields, error)
        message = str(error).splitlines()[0]
        row = int(match.group(1))
        column = self._failing_column(connection, fields, row)
        where = f", column {column!r}" if column else ""
        return TargetError(f"{self.table.label()}{where}: {message}", line=self.input_line(row))

    def _failing_column(
        self, connection: duckdb.DuckDBPyConnection, fields: Sequence[Field], row: int
    ) -> str | None:
        with self.path.open("rb") as file:
            for number, text in enumerate(file, 1):
                if number == row:
                    try:
                        record: dict[str, Any] = orjson.loads(text)["r"]
                    except orjson.JSONDecodeError:  # integers beyond 64 bits
                        try:
                            record = json.loads(text)["r"]
                        except ValueError:  # beyond Python's digit limit too
                            return None
                    break
            else:
                return None
        for field in fields:
            value = record.get(field.source)
            if value is None:
                continue
            probe = value if isinstance(value, str) else orjson.dumps(value).decode()
            try:
                connection.execute(f"SELECT CAST(? AS {field.reads_as})", [probe])
            except duckdb.Error:
                return field.source
        return None


def read_error(stage: BatchFilesStage, fields: Sequence[Field], error: Exception) -> TargetError:
    """A DuckDB reader's error as the column and input line (and BATCH file) it is about."""
    message = str(error).splitlines()[0]
    for pattern, why in (
        (_NOT_AN_INTEGER_ERROR, "is not a whole number that fits"),
        (_NOT_CONVERTED_ERROR, "does not convert to"),
    ):
        strict = pattern.search(message)
        if strict is not None:
            field, position = fields[int(strict.group(1))], int(strict.group(2))
            return TargetError(
                f"{stage.table.label()}, column {field.source!r}{stage.where(position)}: "
                f"{strict.group(3)} {why} {field.read_type}",
                line=stage.line_of(position),
            )
    files = ", ".join(p.name for b in stage.batches for p in b.paths)
    where = f", BATCH file {files}" if files else ""
    line = stage.batches[0].line if stage.batches else None
    return TargetError(f"{stage.table.label()}{where}: {message}", line=line)


def file_parts(stage: BatchFilesStage, fields: Sequence[Field]) -> list[str]:
    """DuckDB's SELECT of each file of a stage's BATCH messages, in message and file order:
    position (see `BatchFilesStage`), table version and every field."""
    parts = []
    index = 0
    columns = "{" + ", ".join(f"{literal(f.source)}: {literal(f.reads_as)}" for f in fields)
    columns += "}"
    # Positional aliases: a field named like the ordinality column cannot clash.
    aliases = ", ".join([*(f"c{i}" for i in range(len(fields))), "n"])
    for batch in stage.batches:
        version = "NULL" if batch.version is None else str(int(batch.version))
        for path in batch.paths:
            if batch.format == "parquet":
                parquet = ParquetFile(path, label=stage.table.label(), line=batch.line)
                parquet.check(fields)
                base = BATCH_BASE + (index << FILE_SHIFT)
                parts.append(parquet.select(fields, base=base, version=batch.version))
                index += 1
                continue
            base = BATCH_BASE + (index << FILE_SHIFT) - 1
            values = ", ".join(f.select(f"c{i}", f"{base} + n", i) for i, f in enumerate(fields))
            parts.append(
                f"SELECT {base} + n AS {quote(LINE)}, "
                f"{version}::BIGINT AS {quote(TABLE_VERSION)}, {values} FROM "
                f"read_json({literal(str(path))}, format = 'newline_delimited', "
                f"compression = {literal(batch.compression)}, columns = {columns}, "
                f"maximum_object_size = {_MAX_OBJECT}) WITH ORDINALITY AS b({aliases})"
            )
            index += 1
    return parts
