"""Query jobs: waiting -> running -> complete | failed, deduplicated, expiring.

A job starts producing its files as soon as it is created; it reports ``waiting`` for the
first third of its latency, then ``running`` until both the latency has passed and the
files are written. The same query (table, format, mode, since, until) at the same epoch
returns the live job instead of a new one, as the API description says. Expired jobs
answer 404 and their files are deleted.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dap_sim import errors
from dap_sim.production import ProducedFile
from dap_sim.timefmt import iso_millis

QueryKey = tuple[Any, ...]


@dataclass
class Job:
    id: str
    key: QueryKey
    namespace: str
    table: str
    epoch: int
    schema_version: int
    directory: Path
    created: float  # wall clock, seconds
    expires: float
    latency: float
    at_ms: int | None = None  # snapshot
    since_ms: int | None = None  # incremental
    until_ms: int | None = None
    failure: dict[str, Any] | None = None  # a ProcessingError object
    production: Future[list[ProducedFile]] | None = None
    _files: list[ProducedFile] | None = field(default=None, repr=False)

    def status(self, now: float) -> str:
        if self.failure is not None:
            return "failed"
        elapsed = now - self.created
        if elapsed < self.latency / 3:
            return "waiting"
        if elapsed < self.latency or self.production is None or not self.production.done():
            return "running"
        error = self.production.exception()
        if error is not None:
            self.failure = errors.processing_error(
                f"job {self.id} for {self.namespace}.{self.table} failed: {error}"
            )
            return "failed"
        return "complete"

    @property
    def files(self) -> list[ProducedFile]:
        if self._files is None:
            assert self.production is not None
            self._files = self.production.result()
        return self._files

    def object_ids(self) -> list[str]:
        return [f"{self.id}/{produced.name}" for produced in self.files]

    def body(self, now: float) -> dict[str, Any]:
        """The job as ``POST .../data`` and ``GET /dap/job/{id}`` describe it."""
        status = self.status(now)
        body: dict[str, Any] = {
            "id": self.id,
            "status": status,
            "expires_at": iso_millis(int(self.expires * 1000)),
        }
        if status == "failed":
            body["error"] = self.failure
        elif status == "complete":
            body["objects"] = [{"id": object_id} for object_id in self.object_ids()]
            body["schema_version"] = self.schema_version
            if self.at_ms is not None:
                body["at"] = iso_millis(self.at_ms)
            else:
                assert self.since_ms is not None
                assert self.until_ms is not None
                body["since"] = iso_millis(self.since_ms)
                body["until"] = iso_millis(self.until_ms)
        return body

    def terminal(self, now: float) -> bool:
        return self.status(now) in ("complete", "failed")


class JobRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[QueryKey, str] = {}
        self._lock = threading.Lock()
        self.created = 0
        # {"canvas.accounts": {"snapshot": 1, "incremental": 2}}: which queries a client made
        self.created_by_table: dict[str, Counter[str]] = defaultdict(Counter)

    def find_live(self, key: QueryKey, now: float) -> Job | None:
        """The live, not failed job for the same query, if any."""
        with self._lock:
            job_id = self._by_key.get(key)
            job = self._jobs.get(job_id) if job_id else None
        if job is None or job.expires <= now or job.status(now) == "failed":
            return None
        return job

    def new_job(
        self,
        key: QueryKey,
        *,
        namespace: str,
        table: str,
        epoch: int,
        schema_version: int,
        kind: str,
        ttl: float,
        latency: float,
        now: float,
    ) -> Job:
        job_id = str(uuid.uuid4())
        job = Job(
            id=job_id,
            key=key,
            namespace=namespace,
            table=table,
            epoch=epoch,
            schema_version=schema_version,
            directory=self.root / job_id,
            created=now,
            expires=now + ttl,
            latency=latency,
        )
        with self._lock:
            self._jobs[job_id] = job
            self._by_key[key] = job_id
            self.created += 1
            self.created_by_table[f"{namespace}.{table}"][kind] += 1
        return job

    def get(self, job_id: str, now: float) -> Job:
        """A live job, or a 404 ApiError (unknown or expired)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.expires <= now:
            raise errors.not_found("job", job_id, f"job {job_id} does not exist or has expired")
        return job

    def expire(self, job_id: str, now: float) -> None:
        """Let a job expire now (its files are deleted at the next sweep)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job.expires = min(job.expires, now)

    def sweep(self, now: float) -> None:
        """Forget expired jobs whose files are written, and delete their files."""
        with self._lock:
            expired = [
                j
                for j in self._jobs.values()
                if j.expires <= now and (j.production is None or j.production.done())
            ]
            for job in expired:
                del self._jobs[job.id]
                if self._by_key.get(job.key) == job.id:
                    del self._by_key[job.key]
        for job in expired:
            shutil.rmtree(job.directory, ignore_errors=True)

    def wait(self, job: Job, timeout: float) -> None:
        """Block up to ``timeout`` seconds for the job to reach a terminal state."""
        deadline = time.time() + timeout
        while not job.terminal(time.time()):
            remaining = deadline - time.time()
            if remaining <= 0:
                return
            time.sleep(min(0.02, remaining))
