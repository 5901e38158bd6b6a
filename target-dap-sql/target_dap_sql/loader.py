"""Two database connections and one merge worker: batch N merges while batch N+1 stages.

The SDK drains a sink synchronously; here a drain only seals the batch's stage and hands
its merge to a single background thread, so reading input, staging and merging overlap
(Python on one core, the database on the other). Each connection ("lane") has its own
stages; a sink alternates lanes batch by batch. Order is kept because one thread runs
every merge in the order the drains happened, and everything that must see committed
data waits for that thread first (DDL, version sweeps) or runs on it (STATE: a bookmark
never leaves before the rows it covers are committed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from target_dap_sql.columns import TableSpec
from target_dap_sql.database_url import DatabaseUrl
from target_dap_sql.dialects import open_dialect
from target_dap_sql.dialects.base import Dialect, LoadOptions, LoadTable, Stage, logger

LANES = 2


class Loader:
    """The target's databases connections and its merge worker."""

    def __init__(self, url: DatabaseUrl, options: LoadOptions) -> None:
        self.lanes: list[Dialect] = []
        try:
            for _ in range(LANES):
                self.lanes.append(open_dialect(url, options))
        except BaseException:
            self.close()
            raise
        self.main = self.lanes[0]
        for lane in self.lanes[1:]:
            lane.memory = self.main.memory
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge")
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()
        self._failed = False  # set by the worker at the first merge that fails

    @property
    def default_schema(self) -> str:
        return self.main.default_schema

    def prepare_table(self, spec: TableSpec) -> tuple[LoadTable, list[Stage]]:
        """Create or evolve the table (after every queued merge), and a stage per lane."""
        self.wait()
        table = self.main.prepare_table(spec)
        return table, [lane.open_stage(table) for lane in self.lanes]

    def merge(self, table: LoadTable, lane_number: int, stage: Stage) -> None:
        """Seal the stage now (COPY errors surface here) and merge it in the background."""
        self.raise_failure()
        lane = self.lanes[lane_number]
        lane.seal(stage)
        lane.idle.clear()
        stage.ready.clear()
        self._submit(self._merge, lane, table, stage)

    def after_merges(self, action: Callable[[], None]) -> None:
        """Run ``action`` once every merge queued so far is committed, unless one failed.

        It runs on the merge worker, so the caller reads on meanwhile: emitting a STATE
        this way no longer stalls reading for a whole merge after every file of a tap.
        """
        self.raise_failure()
        self._submit(self._unless_failed, action)

    def _unless_failed(self, action: Callable[[], None]) -> None:
        if not self._failed:
            action()

    def _submit(self, work: Callable[..., None], *args: object) -> None:
        future = self._worker.submit(work, *args)
        with self._lock:
            self._pending = [f for f in self._pending if not f.done() or f.exception()]
            self._pending.append(future)

    def _merge(self, lane: Dialect, table: LoadTable, stage: Stage) -> None:
        try:
            if self._failed:  # records after a failed batch must not commit before it
                return
            what, start = stage.describe(), time.perf_counter()
            try:
                lane.merge(table, stage)
            except BaseException:
                self._failed = True
                raise
            logger.info(
                "Merged %s into %s in %.2f s",
                what,
                table.spec.display_name,
                time.perf_counter() - start,
            )
        finally:
            stage.ready.set()
            lane.idle.set()

    def raise_failure(self) -> None:
        """Raise the error of a background merge that failed, if any."""
        with self._lock:
            failed = [f for f in self._pending if f.done() and f.exception()]
        if failed:
            failed[0].result()

    def wait(self) -> None:
        """Block until every queued merge is committed; raise the first failure."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result()
        with self._lock:
            self._pending = [f for f in self._pending if f not in pending]

    def sweep_versions(self, table: LoadTable, version: int) -> None:
        self.wait()
        self.main.sweep_versions(table, version)

    def drop_stages(self, table: LoadTable, stages: list[Stage]) -> None:
        self.wait()
        for lane, stage in zip(self.lanes, stages, strict=True):
            lane.drop_stage(table, stage)

    def close(self) -> None:
        """Stop the worker (letting a running merge finish) and close the connections."""
        worker = getattr(self, "_worker", None)
        if worker is not None:
            worker.shutdown(wait=True)
        for lane in self.lanes:
            lane.close()
        self.lanes = []
