"""BATCH mode: each downloaded DAP file becomes one batch file of records, written in parallel.

A JSONL batch file holds the records RECORD mode would emit, one JSON object a line and
without the message envelope (`tap_dap.singer.records` splices both from the same raw
JSON), gzip compressed or not. A Parquet batch file holds them as typed columns
(`tap_dap.singer.parquet_batches`, imported only then: pyarrow costs RECORD and JSONL
runs nothing). A writer thread per file in flight follows the file while it downloads
(`tap_dap.api.decoding.spool_lines`), and the stream emits one BATCH message per file, in
order, once the file is written.

Threads, not processes: ISA-L inflates and deflates without the GIL, so on two cores the
GIL-bound splicing (about a third of the work) does not bound the speed; worker processes
measured no faster here, cost a second of imports each at start and outlive a killed tap.

A file is written under a temporary name and renamed once complete, so a manifest never
names a partial file. Names are fixed by stream, job and file number: a run that resumes
a job rewrites the same file, identical, instead of leaving another copy behind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from singer_sdk.singerlib import Message, SingerMessageType

from tap_dap.api.decoding import LineBlock, spool_lines
from tap_dap.api.downloads import SpoolFile
from tap_dap.api.gzip_codec import deflater
from tap_dap.settings import BatchSettings
from tap_dap.singer.records import RecordEncoder, encode_lines

if TYPE_CHECKING:
    from tap_dap.singer.parquet_batches import ParquetLayout

#: ISA-L's level 1: as fast as level 0 on DAP files, with files a sixth smaller.
GZIP_LEVEL = 1
#: The write buffer of a batch file.
WRITE_BYTES = 1024 * 1024


class NoParquetTypeError(ValueError):
    """Columns of a stream schema with no Parquet type Arrow's JSON reader can fill."""

    def __init__(self, columns: Sequence[str]) -> None:
        super().__init__(", ".join(columns))
        self.columns = tuple(columns)


@dataclass(frozen=True)
class BatchFileTask:
    """How to write one DAP file as a batch file."""

    target: Path
    gzip: bool
    dropped_fields: tuple[str, ...]  # JSONL: value fields to leave out
    default_ts: str | None
    describe: str
    parquet: ParquetLayout | None = None  # Parquet of this layout, else JSONL
    version: int | None = None  # Parquet: the table version its rows carry


@dataclass(frozen=True)
class BatchFileResult:
    """A written batch file and what it holds."""

    path: Path
    records: int
    deletes: int


@dataclass
class BatchMessage(Message):
    """The SDK's BATCH message; `version` as in RECORD messages (the snapshot's table version)."""

    stream: str
    encoding: dict[str, str]
    manifest: list[str]
    version: int | None = None

    def __post_init__(self) -> None:
        self.type = SingerMessageType.BATCH


def batch_encoding(*, parquet: bool, gzip: bool) -> dict[str, str]:
    """The `encoding` member of a BATCH message."""
    return {"format": "parquet" if parquet else "jsonl", "compression": "gzip" if gzip else "none"}


def batch_path(
    batch: BatchSettings, stream: str, job_id: str, index: int, *, parquet: bool
) -> Path:
    """The batch file of a job's file, with the SDK's suffixes (`.parquet.gz` for Parquet
    with gzip pages, as the SDK names them)."""
    suffix = (".parquet" if parquet else ".jsonl") + (".gz" if batch.gzip else "")
    job = re.sub(r"[^A-Za-z0-9_.-]", "_", job_id)
    return batch.root / f"{batch.prefix}{stream}--{job}-{index:05d}{suffix}"


def parquet_layout(schema: Mapping[str, Any], key_properties: Sequence[str]) -> ParquetLayout:
    """How a stream's files become Parquet; `NoParquetTypeError` if some column cannot."""
    from tap_dap.singer import parquet_batches  # noqa: PLC0415 - pyarrow in Parquet mode only

    return parquet_batches.ParquetLayout.of(schema, key_properties)


def write_batch_file(blocks: Iterable[LineBlock], task: BatchFileTask) -> BatchFileResult:
    """Write the line blocks of one DAP file as a batch file."""
    task.target.parent.mkdir(parents=True, exist_ok=True)
    partial = task.target.with_name(task.target.name + ".part")
    try:
        if task.parquet is None:
            records, deletes = _write_jsonl(blocks, partial, task)
        else:
            from tap_dap.singer import parquet_batches  # noqa: PLC0415 - as parquet_layout

            counts = parquet_batches.write_parquet_file(
                blocks,
                partial,
                task.parquet,
                gzip=task.gzip,
                version=task.version,
                default_ts=task.default_ts,
                describe=task.describe,
            )
            records, deletes = counts.records, counts.deletes
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(task.target)
    return BatchFileResult(task.target, records, deletes)


def _write_jsonl(blocks: Iterable[LineBlock], path: Path, task: BatchFileTask) -> tuple[int, int]:
    """The records as JSON lines, gzip compressed or not; (records, deletes)."""
    encoder = RecordEncoder(None, dropped_fields=task.dropped_fields, default_ts=task.default_ts)
    deflate = deflater(GZIP_LEVEL) if task.gzip else None
    records = deletes = 0
    with path.open("wb", buffering=WRITE_BYTES) as out:
        for lines in blocks:
            encoded = encode_lines(encoder, lines.data, lines.first_line, task.describe)
            records += encoded.records
            deletes += encoded.deletes
            out.write(deflate.compress(encoded.data) if deflate else encoded.data)
        if deflate is not None:
            out.write(deflate.flush())
    return records, deletes


class BatchPool:
    """Threads that write batch files, in the order they were submitted (the emit order)."""

    def __init__(self, workers: int, max_refetches: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="tap-dap-batch")
        self._max_refetches = max_refetches

    def submit(
        self, spool: SpoolFile, refetch: Callable[[SpoolFile], None], task: BatchFileTask
    ) -> Future[BatchFileResult]:
        """Start writing the batch file of a file (it may still be downloading)."""
        blocks = spool_lines(spool, refetch, task.describe, self._max_refetches)
        return self._executor.submit(write_batch_file, blocks, task)

    def close(self) -> None:
        """Drop queued files; running ones stop at their next block (their files are discarded)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
