"""Producing a job's gzip files, in worker processes when the table is large.

A job is split into chunks of row ordinals; each chunk becomes one or more files of at
most ``rows_per_file`` records, written to a temporary name and renamed when complete,
so a download never sees half a file. Chunks of a large job run in a process pool (the
generation is CPU-bound Python); small jobs run in a thread of the server process.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dap_sim.dataset import Dataset
from dap_sim.formats import encoder_for
from dap_sim.tables import Record, World

if TYPE_CHECKING:  # the cache module imports this one
    from dap_sim.cache import ProductionCache

_BATCH = 2_000  # records encoded and compressed at a time


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to produce a job's files (picklable)."""

    dataset_json: str  # the dataset description the job was created under
    namespace: str
    table: str
    epoch: int
    output_format: str
    mode: str | None
    since_ms: int | None  # None for a snapshot
    until_ms: int | None
    job_dir: str
    rows_per_file: int
    gzip_level: int


@dataclass(frozen=True)
class ProducedFile:
    name: str
    records: int
    size: int


@dataclass(frozen=True)
class _Chunk:
    index: int
    first: int
    last: int


_worlds: dict[str, World] = {}
_worlds_lock = threading.Lock()
_WORLDS_KEPT = 4  # jobs of a few recent epochs may be produced at the same time


def _world(dataset_json: str) -> World:
    """A World per dataset description, cached per process: row models are costly to build."""
    with _worlds_lock:
        world = _worlds.get(dataset_json)
        if world is None:
            world = World(Dataset.from_json(json.loads(dataset_json)))
            _worlds[dataset_json] = world
            while len(_worlds) > _WORLDS_KEPT:
                del _worlds[next(iter(_worlds))]
        return world


def _records(spec: JobSpec, chunk: _Chunk) -> Iterator[Record]:
    table = _world(spec.dataset_json).table(spec.namespace, spec.table)
    if spec.since_ms is None:
        return table.snapshot(spec.epoch, chunk.first, chunk.last)
    assert spec.until_ms is not None
    return table.changes(spec.epoch, spec.since_ms, spec.until_ms, chunk.first, chunk.last)


def produce_chunk(spec: JobSpec, chunk: _Chunk) -> list[ProducedFile]:
    """Write the files of one chunk; the first chunk always writes at least one file."""
    world = _world(spec.dataset_json)
    table = world.table(spec.namespace, spec.table)
    flat = world.dataset.flat_schema(spec.namespace, spec.table, table.version_at(spec.epoch))
    encoder = encoder_for(
        spec.output_format,
        spec.mode,
        flat=flat,
        key_column=table.key_column,
        incremental=spec.since_ms is not None,
    )
    records = _records(spec, chunk)
    produced: list[ProducedFile] = []
    for sub in itertools.count():
        batch = list(itertools.islice(records, min(_BATCH, spec.rows_per_file)))
        if not batch and (produced or chunk.index > 0):
            break
        name = f"part-{chunk.index:05d}-{sub:03d}.{encoder.extension}.gz"
        path = Path(spec.job_dir) / name
        tmp = path.with_name(f".{name}.tmp")
        compressor = zlib.compressobj(spec.gzip_level, zlib.DEFLATED, 31)
        count = 0
        with tmp.open("wb") as out:
            out.write(compressor.compress(encoder.header()))
            while batch:
                out.write(compressor.compress(encoder.encode(batch)))
                count += len(batch)
                room = spec.rows_per_file - count
                batch = list(itertools.islice(records, min(_BATCH, room))) if room > 0 else []
            out.write(compressor.flush())
        tmp.replace(path)
        produced.append(ProducedFile(name, count, path.stat().st_size))
        if count < spec.rows_per_file:
            break
    return produced


class Producer:
    """Runs jobs: small ones in threads, large ones split over worker processes."""

    def __init__(
        self, *, workers: int, inline_rows: int = 50_000, cache: ProductionCache | None = None
    ) -> None:
        self._workers = workers
        self.cache = cache
        self._inline_rows = inline_rows
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dap-sim-job")
        self._processes: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, spec: JobSpec, ordinal_count: int) -> Future[list[ProducedFile]]:
        Path(spec.job_dir).mkdir(parents=True, exist_ok=True)
        return self._threads.submit(self._run, spec, ordinal_count)

    def _run(self, spec: JobSpec, ordinal_count: int) -> list[ProducedFile]:
        cached = self.cache.fetch(spec) if self.cache else None
        if cached is not None:
            return cached
        files = self._produce(spec, ordinal_count)
        if self.cache:
            self.cache.store(spec, files)
        return files

    def _produce(self, spec: JobSpec, ordinal_count: int) -> list[ProducedFile]:
        chunks = _chunks(ordinal_count, spec.rows_per_file, self._workers)
        executor: Executor | None = None
        if self._workers > 0 and ordinal_count > self._inline_rows and len(chunks) > 1:
            executor = self._pool()
        if executor is None:
            results = [produce_chunk(spec, chunk) for chunk in chunks]
        else:
            futures = [executor.submit(produce_chunk, spec, chunk) for chunk in chunks]
            results = [future.result() for future in futures]
        return [produced for files in results for produced in files]

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._processes is None:
                # spawn, not fork: the server process has threads, and a forked child
                # would inherit their locks in whatever state they happen to be.
                context = multiprocessing.get_context("spawn")
                self._processes = ProcessPoolExecutor(self._workers, mp_context=context)
            return self._processes

    def shutdown(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)


def _chunks(ordinal_count: int, rows_per_file: int, workers: int) -> list[_Chunk]:
    """Ordinal ranges of about a file each, but enough of them to keep every worker busy."""
    count = max(ordinal_count, 1)
    size = min(rows_per_file, max(10_000, -(-count // (2 * max(1, workers)))))
    return [
        _Chunk(index, first, min(first + size - 1, count))
        for index, first in enumerate(range(1, count + 1, size))
    ]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
