"""Spool file -> gzip -> blocks of whole JSONL lines, in decode threads.

A decode thread follows its spool file as the download grows it, so a file is decoded
while it downloads (`spool_lines`; BATCH mode's writer threads read files the same way).
The inflater releases the GIL, so inflating runs on one core while the main thread turns
the previous blocks into RECORD messages (`tap_dap.singer.records`) on another. Blocks are small
(about 150 KiB: they stay in the CPU caches) and wait in a short queue per file: memory
stays flat whatever the size of the file.

A file that ends inside its gzip stream (a truncated object) is downloaded again from
where it stopped; because an object's bytes never change, decoding simply continues and
no line is emitted twice.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tap_dap.api.downloads import FileCancelledError, SpoolFile
from tap_dap.api.gzip_codec import READ_BYTES, LineInflater
from tap_dap.errors import DownloadError

QUEUE_BLOCKS = 32


@dataclass(frozen=True)
class LineBlock:
    """Whole lines of a file; `first_line` counts from 1 within the file."""

    data: bytes
    first_line: int


@dataclass(frozen=True)
class _End:
    """The last item of a file's queue."""


class DecodedFile:
    """The line blocks of one file, in order, as its decode thread inflates them."""

    def __init__(self, spool: SpoolFile) -> None:
        self.spool = spool
        self._queue: queue.Queue[LineBlock | _End | BaseException] = queue.Queue(QUEUE_BLOCKS)

    def blocks(self) -> Iterator[LineBlock]:
        """The blocks until the end of the file; raises what broke the file."""
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def put(self, item: LineBlock | _End | BaseException) -> None:
        """Hand an item to the reader; gives up once the file is discarded."""
        while True:
            if self.spool.cancelled:
                raise FileCancelledError(self.spool.object_id)
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


class DecodePool:
    """Threads that decode files in the order they were submitted (the emit order).

    Submission order is the emit order, so the file being emitted is always decoding or
    decoded: threads busy with later files (waiting on full queues) cannot starve it.
    """

    def __init__(self, workers: int, max_refetches: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="tap-dap-decode")
        self._max_refetches = max_refetches

    def submit(
        self, spool: SpoolFile, refetch: Callable[[SpoolFile], None], describe: str
    ) -> DecodedFile:
        """Start decoding a file; `describe` names it in errors (table, job, object)."""
        decoded = DecodedFile(spool)
        self._executor.submit(self._run, decoded, refetch, describe)
        return decoded

    def close(self) -> None:
        """Drop queued files; running ones stop at their next block (their files are discarded)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(
        self, decoded: DecodedFile, refetch: Callable[[SpoolFile], None], describe: str
    ) -> None:
        try:
            for block in spool_lines(decoded.spool, refetch, describe, self._max_refetches):
                decoded.put(block)
            decoded.put(_End())
        except FileCancelledError:
            return
        except BaseException as error:  # handed to the thread that emits the file
            try:
                decoded.put(error)
            except FileCancelledError:
                return


def spool_lines(
    spool: SpoolFile,
    refetch: Callable[[SpoolFile], None],
    describe: str,
    max_refetches: int,
) -> Iterator[LineBlock]:
    """The line blocks of a spool file, following it while it downloads; a file cut short
    is downloaded again from where it stopped (`refetch`), up to `max_refetches` times."""
    lines = LineInflater(describe)
    lines_done = 0
    refetches = 0
    spool.wait_beyond(0)  # the file exists from its first byte (or its end) on
    with spool.path.open("rb") as handle:
        while True:
            size = spool.wait_beyond(lines.fed)
            if size > lines.fed:
                for block in lines.feed(handle.read(min(size - lines.fed, READ_BYTES))):
                    yield LineBlock(block, lines_done + 1)
                    lines_done += block.count(b"\n")
                continue
            if lines.complete:
                break
            refetches += 1
            if refetches > max_refetches:
                raise DownloadError(
                    f"{describe}: the file ends inside its gzip stream (truncated at byte "
                    f"{lines.fed}) after {refetches} downloads"
                )
            spool.reopen()
            refetch(spool)
            spool.finish()
    last = lines.rest()
    if last is not None:
        yield LineBlock(last, lines_done + 1)
