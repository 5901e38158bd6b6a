"""One sync run, planned before it emits.

At the first stream's turn the tap knows every selected stream and its bookmark. The plan
then submits all their jobs (`tap_dap.plan.jobs`), downloads each finished job's files into
the spool (`tap_dap.api.downloads`), and decodes a table's files (`tap_dap.api.decoding`), or
writes them as batch files (`tap_dap.singer.batches`), when its stream, run by the SDK one after
another, asks for them. A table whose job is slow holds back nobody else's downloads;
memory stays bounded (decoded blocks wait in short queues, downloaded files on disk
within a budget).
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tap_dap.api.client import DapClient, Job
from tap_dap.api.decoding import DecodedFile, DecodePool
from tap_dap.api.downloads import Downloader, DownloadPool, DownloadTask, ObjectUrls, SpoolFile
from tap_dap.api.retry import RetryPolicy
from tap_dap.api.session import new_session
from tap_dap.errors import RunFailedError, TapDapError
from tap_dap.plan.bookmarks import SNAPSHOT, Bookmark
from tap_dap.plan.jobs import JobScheduler, JobTracker, TableRef
from tap_dap.settings import Settings
from tap_dap.singer.batches import BatchFileResult, BatchFileTask, BatchPool

logger = logging.getLogger("tap-dap.planner")

_Started = TypeVar("_Started")


@dataclass(frozen=True)
class PlannedTable:
    """A selected stream and where its bookmark stands."""

    ref: TableRef
    bookmark: Bookmark


class RunPlan:
    """The jobs, downloads and decoding of every selected table of one run."""

    def __init__(self, client: DapClient, settings: Settings, tables: Sequence[PlannedTable]):
        self.client = client
        self.settings = settings
        self.spool_dir = Path(tempfile.mkdtemp(prefix="tap-dap-spool-", dir=settings.spool_dir))
        session = new_session(settings.verify, pool_size=settings.max_concurrent_downloads + 4)
        self.downloader = Downloader(
            session, RetryPolicy.for_downloads(settings.max_retries), settings.request_timeout
        )
        self.download_pool = DownloadPool(
            self.downloader, settings.max_concurrent_downloads, settings.spool_max_bytes
        )
        self.decode_pool = DecodePool(settings.decode_workers, max_refetches=settings.max_retries)
        self.batch_pool = (
            BatchPool(settings.decode_workers, max_refetches=settings.max_retries)
            if settings.batch is not None
            else None
        )
        self.scheduler = JobScheduler(client, settings, on_ready=self._job_ready)
        self._tables = {table.ref.stream: TableRun(self, table) for table in tables}
        self._open = set(self._tables)
        self.failures: dict[str, TapDapError] = {}
        self._closed = False

    def start(self) -> None:
        """Submit every table's job, in emit order."""
        logger.info("planned %d table(s); submitting their jobs", len(self._tables))
        self.scheduler.start([table.tracker for table in self._tables.values()])

    def __contains__(self, stream: str) -> bool:
        return stream in self._open

    def table(self, stream: str) -> TableRun:
        """The run of one stream."""
        return self._tables[stream]

    def finish(self, stream: str, error: TapDapError | None) -> None:
        """A stream is done (or failed); the plan closes after the last one."""
        self._tables[stream].discard_files()
        self._open.discard(stream)
        if error is not None:
            self.failures[stream] = error
        if not self._open:
            self.close()

    def raise_failures(self) -> None:
        """After the run: one error that names every failed table, if any failed."""
        if self.failures:
            lines = "; ".join(
                text if text.startswith(stream) else f"{stream}: {text}"
                for stream, text in ((name, str(err)) for name, err in self.failures.items())
            )
            raise RunFailedError(
                f"{len(self.failures)} of {len(self._tables)} table(s) failed, the others "
                f"were emitted in full: {lines}"
            )

    def close(self) -> None:
        """Stop every thread and remove the spool."""
        if self._closed:
            return
        self._closed = True
        self.scheduler.close()
        self.download_pool.close()
        self.decode_pool.close()
        if self.batch_pool is not None:
            self.batch_pool.close()
        for table in self._tables.values():
            table.discard_files()
        shutil.rmtree(self.spool_dir, ignore_errors=True)

    def _job_ready(self, tracker: JobTracker) -> None:
        job = tracker.job
        if job is not None:
            self._tables[tracker.ref.stream].prefetch(job)


def _file_safe(name: str) -> str:
    """A job id as part of a file name (DAP's are UUIDs; nothing else is assumed)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


class TableRun:
    """What one stream consumes: its job, then its files as RECORD blocks."""

    def __init__(self, plan: RunPlan, planned: PlannedTable) -> None:
        self._plan = plan
        self.ref = planned.ref
        self.bookmark = planned.bookmark
        resume = planned.bookmark.job
        since = (
            None if resume is not None and resume.kind == SNAPSHOT else planned.bookmark.position
        )
        self.tracker = JobTracker(planned.ref, since=since, resume=resume)
        self._lock = threading.Lock()
        self._urls: dict[str, ObjectUrls] = {}
        self._spools: dict[tuple[str, int], SpoolFile] = {}

    def wait_job(self, report: Callable[[Job | None, float], None]) -> Job:
        """Block until this table's job is complete; raises if it cannot be had."""
        self._plan.download_pool.set_on_deck(self.ref.order)
        return self.tracker.wait(report)

    def restart(self, reason: str) -> None:
        """The job expired mid-download: drop its files and ask again."""
        self.discard_files()
        self._plan.scheduler.restart(self.tracker, reason)

    def skip_for(self, job: Job) -> int:
        """Files of `job` a previous run already emitted (0 unless it was resuming this job)."""
        resume = self.bookmark.job
        if resume is None or resume.id != job.id or resume.files_emitted > len(job.objects):
            return 0
        done = resume.files_emitted
        if done and job.objects[done - 1] != resume.last_object:
            logger.warning(
                "%s: job %s lists its files differently than before: starting it over",
                self.ref.stream,
                job.id,
            )
            return 0
        return done

    def prefetch(self, job: Job) -> None:
        """Queue the downloads of the files this run will emit (called once the job is ready)."""
        skip = self.skip_for(job)
        with self._lock:
            urls = self._urls.setdefault(
                job.id, ObjectUrls(self._plan.client, job.id, job.objects[skip:])
            )
            for index in range(skip, len(job.objects)):
                if (job.id, index) in self._spools:
                    continue
                spool = SpoolFile(
                    self._plan.spool_dir / f"{_file_safe(job.id)}-{index}.gz",
                    job.objects[index],
                    on_grow=self._plan.download_pool.grew,
                )
                self._spools[(job.id, index)] = spool
                self._plan.download_pool.submit(
                    DownloadTask(priority=(self.ref.order, index), spool=spool, urls=urls)
                )

    def files(self, job: Job) -> Iterator[tuple[str, str, DecodedFile]]:
        """The files still to emit, in order, as blocks of lines (RECORD mode)."""
        pool = self._plan.decode_pool
        return self._in_order(
            job, lambda index, spool, refetch, describe: pool.submit(spool, refetch, describe)
        )

    def batch_files(
        self, job: Job, task_for: Callable[[int, str], BatchFileTask]
    ) -> Iterator[tuple[str, str, Future[BatchFileResult]]]:
        """The files still to emit, in order, as batch files (BATCH mode); `task_for`
        says how to write file number `index`."""
        pool = self._plan.batch_pool
        assert pool is not None, "batch files of a run without batch_config"
        return self._in_order(
            job,
            lambda index, spool, refetch, describe: pool.submit(
                spool, refetch, task_for(index, describe)
            ),
        )

    def _in_order(
        self,
        job: Job,
        start: Callable[[int, SpoolFile, Callable[[SpoolFile], None], str], _Started],
    ) -> Iterator[tuple[str, str, _Started]]:
        """The files still to emit, in order, each started (decoding or being written as a
        batch) as soon as its turn comes near.

        A file's spool is removed once the caller moves on to the next one.
        """
        self.prefetch(job)
        first = self.skip_for(job)
        lookahead = self._plan.settings.decode_workers
        started: dict[int, _Started] = {}
        urls = self._urls[job.id]

        def refetch(spool: SpoolFile) -> None:
            urls.invalidate(spool.object_id)
            self._plan.downloader.fetch(spool, urls)

        def describe(index: int) -> str:
            return (
                f"{self.ref.stream}: job {job.id}, file {index + 1} of {len(job.objects)} "
                f"(object {job.objects[index]})"
            )

        for index in range(first, len(job.objects)):
            for ahead in range(index, min(index + lookahead + 1, len(job.objects))):
                if ahead not in started:
                    started[ahead] = start(
                        ahead, self._spools[(job.id, ahead)], refetch, describe(ahead)
                    )
            yield job.objects[index], describe(index), started.pop(index)
            self._release(job.id, index)

    def discard_files(self) -> None:
        """Cancel and remove every file of this table still queued or on disk."""
        with self._lock:
            spools = list(self._spools.values())
            self._spools.clear()
            self._urls.clear()
        for spool in spools:
            self._plan.download_pool.freed(spool.discard())

    def _release(self, job_id: str, index: int) -> None:
        with self._lock:
            spool = self._spools.pop((job_id, index), None)
        if spool is not None:
            self._plan.download_pool.freed(spool.discard())
