"""Spooled batches: records as raw JSON in a file, BATCH files as they came, read by DuckDB.

Per record the target does the least Python it can: the record's raw JSON bytes go to a
spool file, wrapped with their input line and table version (`{"l":..,"v":..,"r":..}`).
DuckDB's JSON reader (C++, parallel) then types the whole batch at once and DuckDB merges
straight from it. A BATCH message's files (JSON lines, maybe gzip) need no Python at all:
DuckDB reads them where they are, each record ordered by (file, row) after the records
before it. (PostgreSQL stages through binary COPY instead; it shares the BATCH bookkeeping.)
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import duckdb
import orjson

from target_dap_sql.columns import TABLE_VERSION
from target_dap_sql.dialects.base import LINE, LoadTable, Stage
from target_dap_sql.errors import TargetError
from target_dap_sql.identifiers import quote

# Rows of a BATCH message are ordered (and found again for errors) by a position past
# every input line number: file index and row in the file packed into one BIGINT.
_FILE_SHIFT = 40
_BATCH_BASE = 1 << 62
_LINE_IN_ERROR = re.compile(r"in line (\d+)")
# DuckDB's reader takes a JSON object up to twice its maximum_object_size (a line of
# 33,554,383 bytes failed, measured) and then names neither line nor stream: a spooled
# record beyond that is refused as it arrives instead.
_MAX_OBJECT = 16_777_216
MAX_RECORD_BYTES = 2 * _MAX_OBJECT - 1024  # room for the wrapper of input line and version
# What a strict integer read raises (DuckDB's error()): field index, position, value.
_NOT_AN_INTEGER = "target-dap-sql: not an integer"
_NOT_AN_INTEGER_ERROR = re.compile(_NOT_AN_INTEGER + r": field (\d+) position (\d+) value (.*)")


def literal(text: str) -> str:
    """A SQL string literal (DuckDB and PostgreSQL quote the same way)."""
    return "'" + text.replace("'", "''") + "'"


def local_path(url: str) -> Path:
    """A BATCH manifest entry (`file:///...` or a plain path) as a local path."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return Path(unquote(parts.path if parts.scheme else url))
    raise TargetError(
        f"BATCH file {url!r}: only local files (file://) are supported; "
        "let the tap write its batch files to a local directory"
    )


@dataclass(frozen=True)
class BatchFiles:
    """The files of one BATCH message and what the message said about them."""

    line: int
    version: int | None
    paths: tuple[Path, ...]
    compression: str  # "gzip" or "none"


@dataclass(frozen=True)
class Field:
    """A record field as the reader types it: source key, column name, DuckDB type.

    An integer column (``integer`` set) is read as text and converted strictly: DuckDB's
    reader and casts round a fraction (1.5 becomes 2), which would change data silently.
    """

    source: str
    name: str
    read_type: str
    integer: bool = False

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

    @property
    def reads_as(self) -> str:
        """The type DuckDB's JSON reader parses the field as."""
        return "VARCHAR" if self.integer else self.read_type


class BatchFilesStage(Stage):
    """A stage that also takes BATCH files; their rows are ordered (and found again for
    errors) by position: file and row within the BATCH message, after every input line."""

    def __init__(self, table: LoadTable, *, delete_batch_files: bool) -> None:
        super().__init__()
        self.table = table
        self.batches: list[BatchFiles] = []
        self.delete_batch_files = delete_batch_files
        self._merged_files: list[Path] = []  # BATCH files to delete after the commit

    def add_files(self, batch: BatchFiles) -> None:
        self.batches.append(batch)

    @property
    def empty(self) -> bool:
        return not self.lines and not self.batches

    def describe(self) -> str:
        files = sum(len(b.paths) for b in self.batches)
        return f"{super().describe()}, {files} BATCH files" if files else super().describe()

    def reset(self) -> None:
        super().reset()
        if self.delete_batch_files:
            self._merged_files += [p for b in self.batches for p in b.paths]
        self.batches = []

    def after_commit(self) -> None:
        files, self._merged_files = self._merged_files, []
        for path in files:
            path.unlink(missing_ok=True)

    # -- where a staged row came from -------------------------------------------------------

    def input_line(self, staged_row: int) -> int | None:
        position = super().input_line(staged_row)
        if position is not None:
            return self.line_of(position)
        return self.batches[0].line if self.batches else None

    def line_of(self, position: int) -> int:
        """The input line of a staged row's position (a BATCH row: its message's line)."""
        return position if position < _BATCH_BASE else self._batch_of(position).line

    def where(self, position: int) -> str:
        """`, batch file F record N` for a row of a BATCH file, else nothing."""
        if position < _BATCH_BASE:
            return ""
        offset = position - _BATCH_BASE
        index, row = offset >> _FILE_SHIFT, offset & ((1 << _FILE_SHIFT) - 1)
        paths = [p for b in self.batches for p in b.paths]
        name = paths[index].name if index < len(paths) else "?"
        return f", batch file {name} record {row + 1}"

    def _batch_of(self, position: int) -> BatchFiles:
        index = (position - _BATCH_BASE) >> _FILE_SHIFT
        for batch in self.batches:
            if index < len(batch.paths):
                return batch
            index -= len(batch.paths)
        return self.batches[-1]

    def file_rows(self, batch: BatchFiles) -> Iterator[tuple[int, bytes]]:
        """(position, raw JSON) of each record of an added BATCH's files, read in Python."""
        first = sum(len(b.paths) for b in self.batches[: self.batches.index(batch)])
        try:
            for index, (row, text) in file_lines(batch):
                yield _BATCH_BASE + ((first + index) << _FILE_SHIFT) + row, text
        except TargetError as error:
            raise TargetError(f"{self.table.label()}: {error.message}", line=batch.line) from error


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
        """A SELECT per BATCH file, in message and file order."""
        parts = []
        index = 0
        columns = "{" + ", ".join(f"{literal(f.source)}: {literal(f.reads_as)}" for f in fields)
        columns += "}"
        # Positional aliases: a field named like the ordinality column cannot clash.
        aliases = ", ".join([*(f"c{i}" for i in range(len(fields))), "n"])
        for batch in self.batches:
            version = "NULL" if batch.version is None else str(int(batch.version))
            for path in batch.paths:
                base = _BATCH_BASE + (index << _FILE_SHIFT) - 1
                values = ", ".join(
                    f.select(f"c{i}", f"{base} + n", i) for i, f in enumerate(fields)
                )
                parts.append(
                    f"SELECT {base} + n AS {quote(LINE)}, "
                    f"{version}::BIGINT AS {quote(TABLE_VERSION)}, {values} FROM "
                    f"read_json({literal(str(path))}, format = 'newline_delimited', "
                    f"compression = {literal(batch.compression)}, columns = {columns}, "
                    f"maximum_object_size = {_MAX_OBJECT}) WITH ORDINALITY AS b({aliases})"
                )
                index += 1
        return parts

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
        message = str(error).splitlines()[0]
        strict = _NOT_AN_INTEGER_ERROR.search(message)
        if strict is not None:
            field, position = fields[int(strict.group(1))], int(strict.group(2))
            return TargetError(
                f"{self.table.label()}, column {field.source!r}{self.where(position)}: "
                f"{strict.group(3)} is not a whole number that fits {field.read_type}",
                line=self.line_of(position),
            )
        match = _LINE_IN_ERROR.search(str(error))
        if match is None or self.batches:
            line = self.batches[0].line if self.batches else None
            return TargetError(f"{self.table.label()}: {message}", line=line)
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


def file_lines(batch: BatchFiles) -> Iterator[tuple[int, tuple[int, bytes]]]:
    """(file index, (row, line)) of every line of a BATCH message's files, in order."""
    for index, path in enumerate(batch.paths):
        opener: Any = gzip.open if batch.compression == "gzip" else open
        try:
            with opener(path, "rb") as file:
                for row, text in enumerate(file):
                    yield index, (row, text)
        except OSError as error:
            raise TargetError(f"BATCH file {path}: {error}", line=batch.line) from error


def batch_records(batch: BatchFiles) -> Iterator[dict[str, Any]]:
    """The records of a BATCH message's files, parsed (the SDK path: validation, maps)."""
    for _, (_, text) in file_lines(batch):
        if text.strip():
            try:
                yield orjson.loads(text)
            except orjson.JSONDecodeError as error:
                raise TargetError(f"a BATCH file: not JSON: {error}", line=batch.line) from error
