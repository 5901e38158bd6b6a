"""Downloading a job's files: pre-signed URLs, the spool on disk, resume and restart.

A file is downloaded, still gzip-compressed, into a spool file; decoding reads the spool
as it grows (`tap_dap.api.decoding`). The spool is what lets other tables' files download
while an earlier table waits for its job, with memory flat whatever the table size: what
waits, waits on disk, within `spool_max_bytes`.

The bytes of an object never change, so a cut download continues where it stopped
(`Range`, or the full body with the bytes already held skipped) and no byte, hence no
record, is written twice. An expired URL is traded for a fresh one; objects that are
gone mean the job expired (`JobExpiredError`), and its table starts over. How often and
how patiently: the downloads' retry policy (`tap_dap.api.retry`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from tap_dap.api.client import DapClient
from tap_dap.api.retry import RetryPolicy
from tap_dap.errors import DownloadError, JobExpiredError, NotFoundError

logger = logging.getLogger("tap-dap.downloads")

CHUNK_BYTES = 256 * 1024
#: Renew a URL this long after it was issued (DAP's live about 15 minutes).
URL_MAX_AGE = 600.0
#: Objects whose URLs are asked for in one request (the endpoint takes a list).
URL_BATCH = 50
#: Answers of an object store to a URL that is expired, or signed wrongly.
URL_REFUSED = {400, 401, 403, 404, 410}


class FileCancelledError(Exception):
    """The file is no longer wanted (its table restarted, failed or the run ended)."""


class ObjectUrls:
    """The pre-signed URLs of one job's objects, asked for in batches and renewed in time."""

    def __init__(
        self,
        client: DapClient,
        job_id: str,
        objects: Sequence[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._job_id = job_id
        self._objects = list(objects)
        self._clock = clock
        self._urls: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, object_id: str) -> str:
        """A URL for the object that is young enough to finish a download with."""
        with self._lock:
            known = self._urls.get(object_id)
            if known and self._clock() - known[1] < URL_MAX_AGE:
                return known[0]
            batch = self._next_batch(object_id)
            try:
                urls = self._client.object_urls(batch)
            except NotFoundError as error:
                raise JobExpiredError(
                    f"the objects of DAP job {self._job_id} are gone (job expired): {error}"
                ) from error
            now = self._clock()
            self._urls.update({key: (url, now) for key, url in urls.items()})
            if object_id not in urls:
                raise JobExpiredError(
                    f"DAP gave no URL for object {object_id} of job {self._job_id}"
                )
            return urls[object_id]

    def invalidate(self, object_id: str) -> None:
        """Forget a URL the object store refused."""
        with self._lock:
            self._urls.pop(object_id, None)

    def _next_batch(self, object_id: str) -> list[str]:
        """This object and the next ones that lack a fresh URL (they are next in line)."""
        start = self._objects.index(object_id) if object_id in self._objects else 0
        now = self._clock()
        batch = [object_id]
        for other in self._objects[start + 1 :]:
            if len(batch) >= URL_BATCH:
                break
            known = self._urls.get(other)
            if not known or now - known[1] >= URL_MAX_AGE / 2:
                batch.append(other)
        return batch


class SpoolFile:
    """A file on disk that a download appends to while decoding reads it.

    The file is created by the first bytes (or the end of the download), not before: a
    job may have thousands of files waiting, and each open file costs a descriptor.
    """

    def __init__(self, path: Path, object_id: str, on_grow: Callable[[int], None]) -> None:
        self.path = path
        self.object_id = object_id
        self.written = 0
        self.complete = False
        self.cancelled = False
        self.error: BaseException | None = None
        self._on_grow = on_grow
        self._cond = threading.Condition()
        self._handle: IO[bytes] | None = None

    def append(self, data: bytes) -> None:
        """Add downloaded bytes."""
        if self.cancelled:
            raise FileCancelledError(self.object_id)
        if self._handle is None:
            self._handle = self.path.open("ab")
        self._handle.write(data)
        self._handle.flush()
        with self._cond:
            self.written += len(data)
            self._cond.notify_all()
        self._on_grow(len(data))

    def finish(self, error: BaseException | None = None) -> None:
        """The download ended, completely or with `error`."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        elif error is None and not self.cancelled:
            self.path.touch()  # an empty object is an empty file
        with self._cond:
            self.complete = error is None
            self.error = error
            self._cond.notify_all()

    def reopen(self) -> None:
        """The file turned out to be short: more bytes will be appended."""
        with self._cond:
            self.complete = False
            self.error = None

    def wait_beyond(self, offset: int) -> int:
        """Block until bytes beyond `offset` exist or the download ended; the size now."""
        with self._cond:
            while self.written <= offset and not self.complete and self.error is None:
                if self.cancelled:
                    raise FileCancelledError(self.object_id)
                self._cond.wait(timeout=1.0)
            if self.written <= offset and self.error is not None:
                raise self.error
            return self.written

    def discard(self) -> int:
        """Stop using the file and remove it; the bytes it freed."""
        with self._cond:
            self.cancelled = True
            self._cond.notify_all()
        if self._handle is not None:
            self._handle.close()
        self.path.unlink(missing_ok=True)
        return self.written


class Downloader:
    """Fetches one object into a spool file, from wherever the spool stands."""

    def __init__(self, session: requests.Session, retry: RetryPolicy, timeout: float) -> None:
        self._session = session  # never carries the API token: pre-signed URLs need none
        self._retry = retry
        self._timeout = timeout

    def fetch(self, spool: SpoolFile, urls: ObjectUrls) -> None:
        """Append the rest of the object to the spool; returns once the server sent all."""
        attempts = self._retry.start()
        while True:
            before = spool.written
            answer: requests.Response | None = None
            try:
                if self._fetch_once(spool, urls):
                    return
                reason = "the connection ended before the whole file"
            except _UrlRefusedError as refused:
                urls.invalidate(spool.object_id)
                if not attempts.renewed():
                    raise DownloadError(
                        f"object {spool.object_id}: the object store keeps refusing fresh URLs "
                        f"(HTTP {refused.answer.status_code})"
                    ) from None
                continue
            except _ObjectStoreError as error:
                answer = error.answer
                reason = f"HTTP {answer.status_code} from the object store"
            except self._retry.transient as error:
                reason = type(error).__name__
            if answer is not None and answer.status_code == 429:
                delay = attempts.throttled(answer)
            else:
                delay = attempts.failed(answer, progressed=spool.written > before)
            if delay is None:
                raise DownloadError(
                    f"object {spool.object_id}: download failed after {attempts.failures} "
                    f"attempts without progress ({reason}); raise max_retries to be more patient"
                )
            logger.info(
                "object %s: %s at byte %d; resuming", spool.object_id, reason, spool.written
            )
            self._retry.sleep(delay)

    def _fetch_once(self, spool: SpoolFile, urls: ObjectUrls) -> bool:
        """One request; True when the object is now complete in the spool."""
        start = spool.written
        headers = {"Range": f"bytes={start}-"} if start else {}
        url = urls.get(spool.object_id)
        with self._session.get(url, headers=headers, stream=True, timeout=self._timeout) as answer:
            status = answer.status_code
            if status == 416:
                return True  # nothing beyond what we hold
            if status in URL_REFUSED:
                raise _UrlRefusedError(answer)
            if status >= 400:
                raise _ObjectStoreError(answer)
            skip = start if status == 200 else _range_skip(answer, start)
            total = _expected_size(answer, start, status)
            for chunk in answer.raw.stream(CHUNK_BYTES, decode_content=False):
                dropped = min(skip, len(chunk))
                skip -= dropped
                if len(chunk) > dropped:
                    spool.append(chunk[dropped:] if dropped else chunk)
            return total is None or spool.written >= total


class _ObjectStoreError(Exception):
    """The object store answered an error: worth another attempt."""

    def __init__(self, answer: requests.Response) -> None:
        super().__init__(answer.status_code)
        self.answer = answer


class _UrlRefusedError(_ObjectStoreError):
    """The object store refused the URL (expired, or signed wrongly): renew it."""


def _range_skip(answer: requests.Response, start: int) -> int:
    """Bytes to drop from a 206 answer that starts before `start` (it should not)."""
    content_range = answer.headers.get("Content-Range", "")
    try:
        first = int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return 0
    return max(start - first, 0)


def _expected_size(answer: requests.Response, start: int, status: int) -> int | None:
    """The whole object's size, if the answer tells it."""
    content_range = answer.headers.get("Content-Range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = answer.headers.get("Content-Length")
    if length is None:
        return None
    return int(length) + (start if status == 206 else 0)


@dataclass(order=True)
class DownloadTask:
    """A file to download; lower `priority` is emitted sooner."""

    priority: tuple[int, int]
    spool: SpoolFile = field(compare=False)
    urls: ObjectUrls = field(compare=False)


class DownloadPool:
    """Worker threads that download files in the order they will be emitted.

    Files of the table being emitted (and of earlier ones) always go; files further ahead
    wait while the spool holds more than its budget.
    """

    def __init__(self, downloader: Downloader, workers: int, budget_bytes: int) -> None:
        self._downloader = downloader
        self._budget = budget_bytes
        self._heap: list[tuple[DownloadTask, int]] = []
        self._tiebreak = itertools.count()
        self._used = 0
        self._on_deck = -1
        self._closed = False
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._work, name=f"tap-dap-download-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, task: DownloadTask) -> None:
        """Queue a file."""
        with self._cond:
            heapq.heappush(self._heap, (task, next(self._tiebreak)))
            self._cond.notify_all()

    def set_on_deck(self, stream_order: int) -> None:
        """Files of this stream (and earlier ones) download whatever the budget."""
        with self._cond:
            self._on_deck = stream_order
            self._cond.notify_all()

    def grew(self, size: int) -> None:
        """Spool bytes were written."""
        with self._cond:
            self._used += size

    def freed(self, size: int) -> None:
        """Spool bytes were removed."""
        with self._cond:
            self._used -= size
            self._cond.notify_all()

    def close(self) -> None:
        """Stop taking files; running downloads end at their next chunk if cancelled."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _ready(self) -> bool:
        if not self._heap:
            return False
        task = self._heap[0][0]
        return (
            task.spool.cancelled or self._used < self._budget or task.priority[0] <= self._on_deck
        )

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._ready():
                    self._cond.wait()
                if self._closed:
                    return
                task, _ = heapq.heappop(self._heap)
            if task.spool.cancelled:
                continue
            try:
                self._downloader.fetch(task.spool, task.urls)
            except FileCancelledError:
                continue
            except BaseException as error:  # handed to the reader of the file
                task.spool.finish(error)
            else:
                task.spool.finish()
