"""Table contents at any epoch: snapshots, changes since a timestamp, and the true state.

Everything here is computed from the dataset description; the same inputs give the same
records in the server, in worker processes and in tests, which is what makes
``snapshot(k) + changes(k, k+n) == snapshot(k+n)`` hold by construction. (Where a schema
change in between added a required column with a default, the ``+`` includes what DAP asks
of a replica: the rows it holds take the default; changes carry only the changed rows.)
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from dap_sim import catalog, sizing
from dap_sim.dataset import Dataset
from dap_sim.hashing import GOLDEN, mix64, salt
from dap_sim.lifecycle import DELETED, Lifecycle
from dap_sim.values import RowModel, key_maker

_DUPLICATE_ONE_IN = 5_000  # web_logs snapshots repeat about one key in this many


class Record(NamedTuple):
    key: Any
    values: dict[str, Any] | None  # None for a delete
    ts_ms: int
    action: str  # "U" or "D"


class World:
    """All tables of one dataset, with their lifecycles and row models cached."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._tables: dict[tuple[str, str], TableModel] = {}
        self._lifecycles: dict[tuple[str, str], Lifecycle] = {}

    def lifecycle(self, namespace: str, table: str) -> Lifecycle:
        cached = self._lifecycles.get((namespace, table))
        if cached is None:
            d = self.dataset
            shared = sizing.SHARED_LIFECYCLE.get(table, table)
            cached = Lifecycle(
                seed=d.seed,
                lifecycle_name=f"{namespace}.{shared}",
                update_name=f"{namespace}.{table}",
                n0=d.base_rows[namespace][shared],
                profile=sizing.change_profile(namespace, table),
                start_ms=d.start_ms,
                created_span_ms=sizing.history_ms(namespace),
                churns=d.churns_of(namespace, shared),
            )
            self._lifecycles[(namespace, table)] = cached
        return cached

    def table(self, namespace: str, table: str) -> TableModel:
        cached = self._tables.get((namespace, table))
        if cached is None:
            if table not in catalog.table_names(namespace):
                raise KeyError(f"unknown table {namespace}.{table}")
            cached = TableModel(self, namespace, table)
            self._tables[(namespace, table)] = cached
        return cached


class TableModel:
    def __init__(self, world: World, namespace: str, table: str) -> None:
        self.world = world
        self.namespace = namespace
        self.table = table
        dataset = world.dataset
        self.lifecycle = world.lifecycle(namespace, table)
        flat = dataset.flat_schema(namespace, table, 1)
        self.key_column = catalog.key_column(flat)
        self.key = key_maker(
            flat["properties"][self.key_column], salt(dataset.seed, "key", namespace, table)
        )
        self._bump_epochs = dataset.version_epochs(namespace, table)[1:]
        self._retention = sizing.retention_ms(namespace)
        self._duplicate_salt = (
            salt(dataset.seed, "duplicate", namespace, table) if self._retention else None
        )

    # -- versions ------------------------------------------------------------------------

    def version_at(self, epoch: int) -> int:
        return 1 + bisect.bisect_right(self._bump_epochs, epoch)

    @functools.cache  # noqa: B019 - one model per version, living as long as the table
    def model(self, version: int) -> RowModel:
        return RowModel(
            seed=self.world.dataset.seed,
            namespace=self.namespace,
            table=self.table,
            flat=self.world.dataset.flat_schema(self.namespace, self.table, version),
            lifecycle_of=lambda target: self.world.lifecycle("canvas", target),
        )

    def value_columns(self, epoch: int) -> tuple[str, ...]:
        return self.model(self.version_at(epoch)).value_columns

    @functools.cache  # noqa: B019
    def _dropped(self, old_version: int, new_version: int) -> frozenset[str]:
        if old_version == new_version:
            return frozenset()
        return frozenset(self.model(old_version).value_columns) - set(
            self.model(new_version).value_columns
        )

    @functools.cache  # noqa: B019
    def _defaulted(self, old_version: int, new_version: int) -> tuple[tuple[str, Any], ...]:
        """Columns added with a default after ``old_version``: as DAP has it, a row last
        written before such a column came reads its default from then on."""
        old = set(self.model(old_version).value_columns)
        return tuple(
            (column, default)
            for column, default in self.model(new_version).defaults.items()
            if column not in old
        )

    # -- rows ----------------------------------------------------------------------------

    def _shown(self, epoch: int) -> Callable[[int, int, int, int], dict[str, Any]]:
        """``(ordinal, content epoch, created, updated) -> values`` in the schema of ``epoch``."""
        shown_version = self.version_at(epoch)
        if not self._bump_epochs:
            return self.model(1).values

        def values(ordinal: int, content_epoch: int, created: int, updated: int) -> dict[str, Any]:
            version = self.version_at(content_epoch)
            row = self.model(version).values(ordinal, content_epoch, created, updated)
            for column in self._dropped(version, shown_version):
                row.pop(column, None)
            row.update(self._defaulted(version, shown_version))
            return row

        return values

    def _reload_epoch(self, epoch: int) -> int | None:
        return self.world.dataset.last_reload(self.namespace, self.table, epoch)

    def retention_floor(self, epoch: int) -> int | None:
        """The oldest commit time still kept at ``epoch`` (None: everything is kept)."""
        if self._retention is None:
            return None
        return self.world.dataset.clock_ms(epoch) - self._retention

    def ordinal_count(self, epoch: int) -> int:
        return self.lifecycle.count(epoch)

    def snapshot(self, epoch: int, first: int = 1, last: int | None = None) -> Iterator[Record]:
        """Live rows of ordinals first..last at ``epoch``, in ordinal order."""
        last = min(self.lifecycle.count(epoch), last or self.lifecycle.count(epoch))
        floor = self.retention_floor(epoch)
        floor = -1 if floor is None else floor
        duplicate_salt = self._duplicate_salt
        state, key, values = self.lifecycle.state, self.key, self._shown(epoch)
        reload_epoch = self._reload_epoch(epoch)
        for ordinal in range(first, last + 1):
            content, ts, created, updated = state(ordinal, epoch, reload_epoch)
            if content == DELETED or ts <= floor:
                continue
            record = Record(key(ordinal), values(ordinal, content, created, updated), ts, "U")
            yield record
            if duplicate_salt is not None and (
                mix64(duplicate_salt ^ (ordinal * GOLDEN)) % _DUPLICATE_ONE_IN == 0
            ):
                yield record

    def changes(
        self,
        epoch: int,
        since_ms: int,
        until_ms: int,
        first: int = 1,
        last: int | None = None,
    ) -> Iterator[Record]:
        """The latest version of each row whose last change lies in (since, until]."""
        last = min(self.lifecycle.count(epoch), last or self.lifecycle.count(epoch))
        state, key, values = self.lifecycle.state, self.key, self._shown(epoch)
        reload_epoch = self._reload_epoch(epoch)
        for ordinal in range(first, last + 1):
            content, ts, created, updated = state(ordinal, epoch, reload_epoch)
            if not since_ms < ts <= until_ms:
                continue
            if content == DELETED:
                yield Record(key(ordinal), None, ts, "D")
            else:
                yield Record(key(ordinal), values(ordinal, content, created, updated), ts, "U")


def dump(dataset: Dataset, namespace: str, table: str) -> list[dict[str, Any]]:
    """The current true state: one object per live row, key and values side by side, sorted."""
    model = World(dataset).table(namespace, table)
    rows: dict[Any, dict[str, Any]] = {}
    for record in model.snapshot(dataset.epoch):
        assert record.values is not None
        rows[record.key] = {model.key_column: record.key, **record.values}
    return [rows[key] for key in sorted(rows)]
