"""BATCH messages: their files, and the bookkeeping every dialect's stage shares for them.

A BATCH message names local files of JSON lines (maybe gzip), each line a record. Their
rows are ordered after the records before them and found again for error messages by a
position past every input line number: file index and row in the file packed into one
BIGINT. How the rows reach the database is each dialect's business; this module only
knows the files.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from target_dap_sql import parquet_files
from target_dap_sql.dialects.base import LoadTable, Stage
from target_dap_sql.errors import TargetError

FILE_SHIFT = 40
BATCH_BASE = 1 << 62


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
    compression: str  # of JSON lines: "gzip" or "none" (Parquet compresses within the file)
    format: str = "jsonl"  # or "parquet"


class BatchFilesStage(Stage):
    """A stage that also takes BATCH files; their rows are ordered (and found again for
    errors) by position: file and row within the BATCH message, after every input line."""

    def __init__(self, table: LoadTable, *, delete_batch_files: bool) -> None:
        super().__init__()
        self.table = table
        self.batches: list[BatchFiles] = []
        self.parquet_rows = 0  # rows of the batches' Parquet files
        self.delete_batch_files = delete_batch_files
        self._merged_files: list[Path] = []  # BATCH files to delete after the commit

    def add_files(self, batch: BatchFiles) -> None:
        self.batches.append(batch)
        if batch.format == "parquet":  # known from the footers, for progress and metrics
            self.parquet_rows += sum(parquet_files.row_count(path) for path in batch.paths)

    @property
    def empty(self) -> bool:
        return not self.lines and not self.batches

    @property
    def parquet(self) -> bool:
        """Whether the batch holds Parquet files (each dialect loads them at the merge)."""
        return any(batch.format == "parquet" for batch in self.batches)

    @property
    def reads_json(self) -> bool:
        """Whether the batch holds records or JSON lines files (not only Parquet)."""
        return bool(self.lines) or any(batch.format != "parquet" for batch in self.batches)

    def describe(self) -> str:
        files = sum(len(b.paths) for b in self.batches)
        if not files:
            return super().describe()
        rows = f" ({self.parquet_rows:,} rows)" if self.parquet else ""
        return f"{super().describe()}, {files} BATCH files{rows}"

    def reset(self) -> None:
        super().reset()
        if self.delete_batch_files:
            self._merged_files += [p for b in self.batches for p in b.paths]
        self.batches = []
        self.parquet_rows = 0

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
        return position if position < BATCH_BASE else self._batch_of(position).line

    def where(self, position: int) -> str:
        """`, batch file F record N` for a row of a BATCH file, else nothing."""
        if position < BATCH_BASE:
            return ""
        offset = position - BATCH_BASE
        index, row = offset >> FILE_SHIFT, offset & ((1 << FILE_SHIFT) - 1)
        paths = [p for b in self.batches for p in b.paths]
        name = paths[index].name if index < len(paths) else "?"
        return f", batch file {name} record {row + 1}"

    def _batch_of(self, position: int) -> BatchFiles:
        index = (position - BATCH_BASE) >> FILE_SHIFT
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
                yield BATCH_BASE + ((first + index) << FILE_SHIFT) + row, text
        except TargetError as error:
            raise TargetError(f"{self.table.label()}: {error.message}", line=batch.line) from error


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
    if batch.format == "parquet":
        for path in batch.paths:
            try:
                yield from parquet_files.records(path)
            except TargetError as error:
                raise TargetError(error.message, line=batch.line) from error
        return
    for _, (_, text) in file_lines(batch):
        if text.strip():
            try:
                yield orjson.loads(text)
            except orjson.JSONDecodeError as error:
                raise TargetError(f"a BATCH file: not JSON: {error}", line=batch.line) from error
