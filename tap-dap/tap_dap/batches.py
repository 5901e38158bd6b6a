"""BATCH mode: each downloaded DAP file becomes one batch file of records, written in parallel.

A batch file holds the records RECORD mode would emit, one JSON object a line and without
the message envelope (`tap_dap.records` splices both from the same raw JSON), gzip
compressed or not. The CPU work of a file (inflate, splice, deflate) runs in a worker
process, so two files go through two cores: in one process the splicing would hold the
GIL for every file at once. A thread per file in flight waits for the download to
complete, hands the file to a process, and downloads the rest again if the process
found the file cut short; the stream then emits one BATCH message per file, in order.

A file is written under a temporary name and renamed once complete, so a manifest never
names a partial file. Names are fixed by stream, job and file number: a run that resumes
a job rewrites the same file, identical, instead of leaving another copy behind.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tap_dap.downloads import RestOfFile, SpoolFile
from tap_dap.inflate import READ_BYTES, LineInflater, deflater
from tap_dap.records import RecordEncoder, encode_lines
from tap_dap.settings import BatchSettings

#: ISA-L's level 1: about the speed of level 0 with a file a fifth smaller.
GZIP_LEVEL = 1
#: Bytes gathered before a write to the batch file (its buffer).
WRITE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BatchFileTask:
    """One DAP file to turn into a batch file (sent to a worker process: plain data only)."""

    source: Path
    target: Path
    gzip: bool
    dropped_fields: tuple[str, ...]
    default_ts: str | None
    describe: str


@dataclass(frozen=True)
class BatchFileResult:
    """What a batch file holds; `complete` is False when the DAP file was cut short."""

    records: int
    deletes: int
    complete: bool = True


def batch_path(batch: BatchSettings, stream: str, job_id: str, index: int) -> Path:
    """The batch file of a job's file."""
    suffix = ".jsonl.gz" if batch.gzip else ".jsonl"
    job = re.sub(r"[^A-Za-z0-9_.-]", "_", job_id)
    return batch.root / f"{batch.prefix}{stream}--{job}-{index:05d}{suffix}"


def write_batch_file(task: BatchFileTask) -> BatchFileResult:
    """Write the batch file of one downloaded DAP file (runs in a worker process)."""
    encoder = RecordEncoder(None, dropped_fields=task.dropped_fields, default_ts=task.default_ts)
    lines = LineInflater(task.describe)
    deflate = deflater(GZIP_LEVEL) if task.gzip else None
    records = deletes = lines_done = 0
    task.target.parent.mkdir(parents=True, exist_ok=True)
    partial = task.target.with_name(task.target.name + ".part")
    with task.source.open("rb") as source, partial.open("wb", buffering=WRITE_BYTES) as out:

        def add(block: bytes) -> None:
            nonlocal records, deletes, lines_done
            encoded = encode_lines(encoder, block, lines_done + 1, task.describe)
            lines_done += block.count(b"\n")
            records += encoded.records
            deletes += encoded.deletes
            out.write(deflate.compress(encoded.data) if deflate is not None else encoded.data)

        while data := source.read(READ_BYTES):
            for block in lines.feed(data):
                add(block)
        if lines.complete:
            last = lines.rest()
            if last is not None:
                add(last)
            if deflate is not None:
                out.write(deflate.flush())
    if not lines.complete:
        partial.unlink()
        return BatchFileResult(records, deletes, complete=False)
    partial.replace(task.target)
    return BatchFileResult(records, deletes)


def _ready() -> None:
    """A no-op that makes a worker process start (and import) before the first file."""


class BatchPool:
    """Turns downloaded files into batch files, `workers` at a time, in worker processes."""

    def __init__(self, workers: int, max_refetches: int) -> None:
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="tap-dap-batch")
        # spawn, not fork: the tap runs threads, and a forked child may inherit held locks
        self._processes = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn")
        )
        self._processes.submit(_ready)  # start the workers while the jobs are waited for
        self._max_refetches = max_refetches

    def submit(
        self, spool: SpoolFile, refetch: Callable[[SpoolFile], None], task: BatchFileTask
    ) -> Future[BatchFileResult]:
        """Write the batch file of `spool` once its download is complete."""
        return self._threads.submit(self._run, spool, refetch, task)

    def close(self) -> None:
        """Drop queued files and stop the worker processes."""
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._processes.shutdown(wait=False, cancel_futures=True)

    def _run(
        self, spool: SpoolFile, refetch: Callable[[SpoolFile], None], task: BatchFileTask
    ) -> BatchFileResult:
        rest = RestOfFile(spool, refetch, task.describe, self._max_refetches)
        while True:
            spool.wait_complete()
            result = self._processes.submit(write_batch_file, task).result()
            if result.complete:
                return result
            rest.download()
