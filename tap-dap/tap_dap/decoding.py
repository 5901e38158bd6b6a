"""Spool file -> gzip -> blocks of whole lines -> RECORD bytes, in decode threads.

A decode thread follows its spool file as the download grows it, so a file is decoded
while it downloads. zlib and the file reads release the GIL, so decoding overlaps with
the main thread's writes to stdout. Blocks are small (128 KiB of JSONL: they stay in
the CPU caches) and wait in a short queue per file: memory stays flat whatever the file.

A file that ends inside its gzip stream (a truncated object) is downloaded again from
where it stopped; because an object's bytes never change, decoding simply continues and
no line is emitted twice.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tap_dap.downloads import FileCancelledError, SpoolFile
from tap_dap.errors import DownloadError, RecordDecodeError
from tap_dap.records import EncodedBlock, LineError, RecordEncoder

BLOCK_BYTES = 128 * 1024
READ_BYTES = 256 * 1024
QUEUE_BLOCKS = 16
GZIP = 31  # zlib wbits: gzip header and trailer, CRC checked


@dataclass(frozen=True)
class _End:
    """The last item of a file's queue."""


class DecodedFile:
    """The RECORD blocks of one file, in order, as its decode thread makes them."""

    def __init__(self, spool: SpoolFile) -> None:
        self.spool = spool
        self._queue: queue.Queue[EncodedBlock | _End | BaseException] = queue.Queue(QUEUE_BLOCKS)

    def blocks(self) -> Iterator[EncodedBlock]:
        """The blocks until the end of the file; raises what broke the file."""
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def put(self, item: EncodedBlock | _End | BaseException) -> None:
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
        self._closed = threading.Event()

    def submit(
        self,
        spool: SpoolFile,
        encoder: RecordEncoder,
        refetch: Callable[[SpoolFile], None],
        describe: str,
    ) -> DecodedFile:
        """Start decoding a file; `describe` names it in errors (table, job, object)."""
        decoded = DecodedFile(spool)
        self._executor.submit(self._run, decoded, encoder, refetch, describe)
        return decoded

    def close(self) -> None:
        """Drop queued files; running ones stop at their next block (their files are discarded)."""
        self._closed.set()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(
        self,
        decoded: DecodedFile,
        encoder: RecordEncoder,
        refetch: Callable[[SpoolFile], None],
        describe: str,
    ) -> None:
        try:
            _decode(decoded, encoder, refetch, describe, self._max_refetches)
            decoded.put(_End())
        except FileCancelledError:
            return
        except BaseException as error:  # handed to the thread that emits the file
            try:
                decoded.put(error)
            except FileCancelledError:
                return


def _decode(
    decoded: DecodedFile,
    encoder: RecordEncoder,
    refetch: Callable[[SpoolFile], None],
    describe: str,
    max_refetches: int,
) -> None:
    spool = decoded.spool
    inflater = zlib.decompressobj(GZIP)
    pending = b""
    lines_done = 0
    position = 0
    refetches = 0

    def emit(block: bytes) -> None:
        nonlocal lines_done
        try:
            encoded = encoder.encode(block)
        except LineError as error:
            raise RecordDecodeError(
                f"{describe}, line {lines_done + error.line}: not a DAP record ({error.reason})"
            ) from None
        lines_done += block.count(b"\n")
        decoded.put(encoded)

    with spool.path.open("rb") as handle:
        while True:
            size = spool.wait_beyond(position)
            if size > position:
                data = handle.read(min(size - position, READ_BYTES))
                position += len(data)
                while data:
                    try:
                        out = inflater.decompress(data, BLOCK_BYTES)
                    except zlib.error as error:
                        raise DownloadError(
                            f"{describe}: not a valid gzip file ({error})"
                        ) from None
                    data = inflater.unconsumed_tail
                    if inflater.eof and inflater.unused_data.strip(b"\0"):
                        data = inflater.unused_data  # another gzip member follows
                        inflater = zlib.decompressobj(GZIP)
                    pending += out
                    cut = pending.rfind(b"\n") + 1
                    if cut:
                        emit(pending[:cut])
                        pending = pending[cut:]
                continue
            if inflater.eof or position == 0:
                break  # the whole gzip stream (an empty object holds no records)
            refetches += 1
            if refetches > max_refetches:
                raise DownloadError(
                    f"{describe}: the file ends inside its gzip stream (truncated at byte "
                    f"{position}) after {refetches} downloads"
                )
            spool.reopen()
            refetch(spool)
            spool.finish()
        if pending.strip():
            emit(pending + b"\n")
