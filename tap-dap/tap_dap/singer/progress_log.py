"""Progress of a table on stderr: the job while it is waited for, files and rows while they
are emitted (with throughput), and one summary line at the end."""

from __future__ import annotations

import logging
import time

from tap_dap.api.client import Job

REPORT_EVERY = 10.0


class ProgressLog:
    """Counts and reports one table's replication."""

    def __init__(self, logger: logging.Logger, stream: str) -> None:
        self._logger = logger
        self._stream = stream
        self._started = time.monotonic()
        self._emit_started: float | None = None
        self._last_report = self._started
        self.records = 0
        self.deletes = 0
        self.files = 0
        self.files_total: int | None = None  # known once the job is complete

    def waiting(self, job: Job | None, seconds: float) -> None:
        """The stream is still waiting for its job."""
        state = f"job {job.id} is {job.status}" if job else "its job is not submitted yet"
        self._logger.info("%s: waiting for DAP, %s (%.0f s)", self._stream, state, seconds)

    def emitting(self, job: Job, kind: str, files_left: int) -> None:
        """The job is complete; its files are being emitted."""
        self._emit_started = time.monotonic()
        self.files_total = self.files + files_left  # this run's files (a resumed job skips some)
        self._logger.info(
            "%s: %s job %s complete after %.1f s, schema version %s: emitting %d file(s)",
            self._stream,
            kind,
            job.id,
            self._emit_started - self._started,
            job.schema_version,
            files_left,
        )

    def block(self, records: int, deletes: int) -> None:
        """A block of records went out."""
        self.records += records
        self.deletes += deletes
        now = time.monotonic()
        if now - self._last_report >= REPORT_EVERY:
            self._last_report = now
            self._logger.info(
                "%s: %d rows so far, %d of %s files done, %.0f rows/s",
                self._stream,
                self.records,
                self.files,
                "?" if self.files_total is None else self.files_total,
                self._rate(now),
            )

    def file_done(self) -> None:
        """A file was emitted completely."""
        self.files += 1

    def summary(self, kind: str, schema_version: int | None, table_version: int | None) -> None:
        """The line that says what the table got."""
        now = time.monotonic()
        self._logger.info(
            "%s: %s done: %d rows (%d deletes) in %d file(s), schema version %s, "
            "table version %s, %.1f s (%.0f rows/s while emitting)",
            self._stream,
            kind,
            self.records,
            self.deletes,
            self.files,
            schema_version,
            table_version,
            now - self._started,
            self._rate(now),
        )

    def _rate(self, now: float) -> float:
        elapsed = now - (self._emit_started or self._started)
        return self.records / elapsed if elapsed > 0 else 0.0
