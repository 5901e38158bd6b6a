"""Query jobs of a whole run: submitted in emit order within the create-job budget, polled
with a growing interval, retried when they fail, switched to a snapshot when DAP says so.

A few threads submit, taking tables in emit order, so that one table whose submission
is retried (or waits for create-job budget) does not hold back the others; one thread
polls, and never waits behind submissions. A table's `JobTracker` is what its stream
waits on.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from tap_dap.api.client import DapClient, Job
from tap_dap.errors import (
    ConfigError,
    JobFailedError,
    NotFoundError,
    OutOfRangeError,
    SnapshotRequiredError,
    TapDapError,
)
from tap_dap.plan.bookmarks import INCREMENTAL, SNAPSHOT, JobProgress
from tap_dap.settings import Settings

logger = logging.getLogger("tap-dap.jobs")

POLL_GROWTH = 1.5
SUBMITTERS = 4
#: How often a waiting stream hears about its job (for the progress log).
WAIT_REPORT_SECONDS = 15.0


@dataclass(frozen=True)
class TableRef:
    """A table of the run, with its place in the emit order."""

    stream: str
    namespace: str
    table: str
    order: int


class JobTracker:
    """One table's job, from submission to complete (or failure), for its stream to wait on."""

    def __init__(self, ref: TableRef, since: str | None, resume: JobProgress | None) -> None:
        self.ref = ref
        self.since = since
        self.resume = resume
        self.failures = 0
        self.job: Job | None = None
        self.error: TapDapError | None = None
        self.submitted_at: float | None = None
        self.last_seen: Job | None = None
        self.generation = 0
        self._cond = threading.Condition()

    @property
    def kind(self) -> str:
        """What the next job asks for."""
        return SNAPSHOT if self.since is None else INCREMENTAL

    def query(self) -> dict[str, Any]:
        """The body of the create-job request."""
        body: dict[str, Any] = {"format": "jsonl"}
        if self.since is not None:
            body["since"] = self.since
        return body

    def wait(self, report: Callable[[Job | None, float], None]) -> Job:
        """Block until the job is complete; `report` hears about the wait now and then."""
        started = time.monotonic()
        with self._cond:
            while self.job is None and self.error is None:
                self._cond.wait(timeout=WAIT_REPORT_SECONDS)
                if self.job is None and self.error is None:
                    report(self.last_seen, time.monotonic() - started)
            if self.error is not None:
                raise self.error
            assert self.job is not None
            return self.job

    def set_ready(self, job: Job) -> None:
        with self._cond:
            self.job = job
            self._cond.notify_all()

    def set_failed(self, error: TapDapError) -> None:
        with self._cond:
            self.error = error
            self._cond.notify_all()

    def reset(self) -> None:
        with self._cond:
            self.job = None
            self.error = None
            self.last_seen = None
            self.generation += 1


class JobScheduler:
    """Submits, polls and retries the jobs of every table of the run."""

    def __init__(
        self,
        client: DapClient,
        settings: Settings,
        on_ready: Callable[[JobTracker], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._on_ready = on_ready
        self._clock = clock
        self._to_submit: deque[JobTracker] = deque()
        self._to_poll: list[tuple[float, int, JobTracker, str, float, int]] = []
        self._tiebreak = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._submit_loop, name=f"tap-dap-submit-{n}", daemon=True)
            for n in range(SUBMITTERS)
        ]
        self._threads.append(
            threading.Thread(target=self._poll_loop, name="tap-dap-poll", daemon=True)
        )

    def start(self, trackers: list[JobTracker]) -> None:
        """Queue every table's job in emit order and start working."""
        self._to_submit.extend(trackers)
        for thread in self._threads:
            thread.start()

    def restart(self, tracker: JobTracker, reason: str) -> None:
        """Ask again, ahead of everyone (the stream waits): its job expired mid-download."""
        tracker.failures += 1
        if tracker.failures > self._settings.job_retries:
            tracker.set_failed(
                JobFailedError(
                    stream=tracker.ref.stream,
                    job_id=tracker.job.id if tracker.job else "unknown",
                    error={"type": "JobExpired", "message": reason},
                    attempts=tracker.failures,
                )
            )
            return
        tracker.resume = None
        tracker.reset()
        with self._cond:
            self._to_submit.appendleft(tracker)
            self._cond.notify_all()

    def close(self) -> None:
        """Stop submitting and polling."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # Submitting

    def _submit_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._to_submit:
                    self._cond.wait()
                if self._closed:
                    return
                tracker = self._to_submit.popleft()
            self._guarded(tracker, "submitting its job", partial(self._submit, tracker))

    def _submit(self, tracker: JobTracker) -> None:
        ref = tracker.ref
        if tracker.resume is not None:
            job = self._resumable(tracker, tracker.resume)
            if job is not None:
                self._handle(tracker, job)
                return
            tracker.resume = None
        while True:
            try:
                job = self._client.create_job(ref.namespace, ref.table, tracker.query())
            except (SnapshotRequiredError, OutOfRangeError) as error:
                if tracker.since is None:
                    raise
                if self._settings.on_snapshot_required != "snapshot":
                    raise ConfigError(
                        f"{ref.stream}: DAP needs a new snapshot ({error.error_type}, error "
                        f"uuid {error.uuid}); set on_snapshot_required to 'snapshot' or clear "
                        "the stream's state"
                    ) from error
                logger.warning(
                    "%s: DAP answered %s to an incremental query since %s (error uuid %s): "
                    "taking a new snapshot instead",
                    ref.stream,
                    error.error_type,
                    tracker.since,
                    error.uuid,
                )
                tracker.since = None
                continue
            tracker.submitted_at = self._clock()
            logger.info("%s: %s job %s submitted", ref.stream, tracker.kind, job.id)
            self._handle(tracker, job)
            return

    def _resumable(self, tracker: JobTracker, resume: JobProgress) -> Job | None:
        """The job a previous run was emitting, if DAP still has it complete."""
        try:
            job = self._client.get_job(resume.id)
        except NotFoundError:
            logger.info(
                "%s: job %s of the previous run has expired: starting over",
                tracker.ref.stream,
                resume.id,
            )
            return None
        if job.status == "failed":
            return None
        logger.info(
            "%s: resuming job %s after %d emitted file(s)",
            tracker.ref.stream,
            job.id,
            resume.files_emitted,
        )
        tracker.submitted_at = self._clock()
        return job

    # Polling

    def _poll_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (
                    not self._to_poll or self._to_poll[0][0] > self._clock()
                ):
                    timeout = self._to_poll[0][0] - self._clock() if self._to_poll else None
                    self._cond.wait(timeout=timeout)
                if self._closed:
                    return
                _, _, tracker, job_id, interval, generation = heapq.heappop(self._to_poll)
            if generation != tracker.generation:
                continue  # the table started over meanwhile
            self._guarded(
                tracker, f"polling job {job_id}", partial(self._poll, tracker, job_id, interval)
            )

    def _poll(self, tracker: JobTracker, job_id: str, interval: float) -> None:
        try:
            job = self._client.get_job(job_id)
        except NotFoundError:
            self.restart(tracker, "the job vanished while it was running")
            return
        self._handle(tracker, job, interval)

    @staticmethod
    def _guarded(tracker: JobTracker, doing: str, action: Callable[[], None]) -> None:
        """Run a step for one table; whatever goes wrong fails that table, not the thread."""
        try:
            action()
        except TapDapError as error:
            tracker.set_failed(error)
        except Exception as error:  # a bug: still let the other tables go on
            logger.exception("%s: unexpected error %s", tracker.ref.stream, doing)
            tracker.set_failed(
                TapDapError(f"{tracker.ref.stream}: {type(error).__name__}: {error}")
            )

    def _handle(self, tracker: JobTracker, job: Job, interval: float | None = None) -> None:
        """Act on a job answer: ready, failed (retry), or poll again later."""
        tracker.last_seen = job
        if job.status == "complete":
            tracker.set_ready(job)
            self._on_ready(tracker)
            return
        if job.status == "failed":
            self._failed(tracker, job)
            return
        waited = self._clock() - (tracker.submitted_at or self._clock())
        if waited > self._settings.job_timeout:
            tracker.set_failed(
                TapDapError(
                    f"{tracker.ref.stream}: DAP job {job.id} is still {job.status} after "
                    f"{waited:.0f} s; raise job_timeout to wait longer"
                )
            )
            return
        if interval is None:
            interval = self._settings.poll_interval
        else:
            interval = min(interval * POLL_GROWTH, self._settings.poll_interval_max)
        with self._cond:
            due = self._clock() + interval
            item = (due, next(self._tiebreak), tracker, job.id, interval, tracker.generation)
            heapq.heappush(self._to_poll, item)
            self._cond.notify_all()

    def _failed(self, tracker: JobTracker, job: Job) -> None:
        tracker.failures += 1
        error = dict(job.error or {})
        if tracker.failures > self._settings.job_retries:
            tracker.set_failed(
                JobFailedError(
                    stream=tracker.ref.stream, job_id=job.id, error=error, attempts=tracker.failures
                )
            )
            return
        logger.warning(
            "%s: DAP job %s failed (%s, error uuid %s): submitting it again (%d/%d)",
            tracker.ref.stream,
            job.id,
            error.get("type"),
            error.get("uuid"),
            tracker.failures,
            self._settings.job_retries,
        )
        tracker.resume = None
        tracker.last_seen = None
        with self._cond:
            self._to_submit.appendleft(tracker)
            self._cond.notify_all()
