"""When each row exists, changes and dies, answered in O(1) per row from hashes.

Rows are numbered by ordinal (1, 2, ...). Ordinals up to ``n0`` exist at epoch 0; each
epoch appends new ordinals at a fixed rate, so "which rows exist at epoch k" is a range.
Updates are periodic per row (a hashed period and phase), deletions happen once at a
hashed epoch, so the last change of a row up to any epoch is arithmetic, not a search.
Commit timestamps (``meta.ts``) of epoch ``e`` lie in ``(clock(e-1), clock(e)]``:
inserts and updates in the first half of the window, deletions in the second, so a row
inserted and deleted in one epoch is inserted first.

A churn (``dap-sim advance --churn``) additionally updates and deletes hashed fractions of
the rows existing before its epoch, for benchmarks that need a known change volume.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dap_sim.hashing import EPOCH_MULTIPLIER, GOLDEN, MASK64, mix64, salt
from dap_sim.sizing import EPOCH_MS, ChangeProfile

_HALF = EPOCH_MS // 2
_INSERT_LAG_MS = 5_000
_EPOCH0_COMMIT_LAG_MS = 600_000
DELETED = -1  # content epoch reported for a row that is gone


# (content epoch or DELETED, meta.ts, created ms, updated ms); the last two are 0 for a delete
RowState = tuple[int, int, int, int]
_PPM = 1_000_000


@dataclass(frozen=True)
class Churn:
    """In ``epoch``, update ``updated`` and delete ``deleted`` (fractions) of the older rows."""

    epoch: int
    updated: float
    deleted: float


class Lifecycle:
    """Existence, versions and commit times of one table's rows."""

    def __init__(
        self,
        *,
        seed: int,
        lifecycle_name: str,
        update_name: str,
        n0: int,
        profile: ChangeProfile,
        start_ms: int,
        created_span_ms: int,
        churns: Sequence[Churn] = (),
    ) -> None:
        self.n0 = n0
        self.profile = profile
        self.start_ms = start_ms
        self.created_span_ms = created_span_ms
        self._life_salt = salt(seed, "life", lifecycle_name)
        self._update_salt = salt(seed, "update", update_name)
        self._ts_salt = salt(seed, "ts", update_name)
        self._rate = n0 * profile.insert_ppm
        same = profile.same_epoch_delete_permille
        self._same_epoch_cut = same
        self._delete_cut = same + profile.delete_permille
        classes = []
        cumulative = 0
        for share, period in profile.update_periods:
            cumulative += share
            classes.append((cumulative, period))
        self._update_classes = tuple(classes)
        # (epoch, delete cut, update cut) in millionths of the churn hash, epochs ascending
        self._churns = tuple(
            (c.epoch, round(c.deleted * _PPM), round((c.deleted + c.updated) * _PPM))
            for c in sorted(churns, key=lambda c: c.epoch)
        )
        self._churn_salt = salt(seed, "churn", lifecycle_name)
        self._stable = bytearray()
        self._stable_lock = threading.Lock()

    # -- existence -----------------------------------------------------------------------

    def count(self, epoch: int) -> int:
        """Ordinals 1..count(epoch) have been inserted by the end of ``epoch``."""
        return self.n0 + (self._rate * epoch) // 1_000_000

    def insert_epoch(self, ordinal: int) -> int:
        if ordinal <= self.n0:
            return 0
        return -(-(ordinal - self.n0) * 1_000_000 // self._rate)

    def delete_epoch(self, ordinal: int, insert_epoch: int) -> int | None:
        natural = self._natural_delete_epoch(ordinal, insert_epoch)
        for epoch, delete_cut, _ in self._churns:
            if natural is not None and epoch >= natural:
                break
            if epoch > insert_epoch and self._churn_share(ordinal, epoch) < delete_cut:
                return epoch
        return natural

    def _natural_delete_epoch(self, ordinal: int, insert_epoch: int) -> int | None:
        h = mix64(self._life_salt ^ (ordinal * GOLDEN))
        share = h % 1000
        if share < self._same_epoch_cut:
            return insert_epoch if insert_epoch > 0 else None
        if share < self._delete_cut:
            return insert_epoch + 1 + (h >> 20) % self.profile.delete_span
        return None

    def _churn_share(self, ordinal: int, epoch: int) -> int:
        """Where a row falls in a churn epoch: below the delete cut it goes, then updates."""
        h = mix64(self._churn_salt ^ (ordinal * GOLDEN) ^ ((epoch * EPOCH_MULTIPLIER) & MASK64))
        return h % _PPM

    def _stable_flags(self, count: int) -> bytearray:
        """Per ordinal (index ordinal - 1), 1 for a row that is never deleted.

        Computed once per process and extended as epochs add rows: foreign-key picks run
        several times per generated row and must not hash each candidate again.
        """
        flags = self._stable
        if len(flags) < count:
            with self._stable_lock:
                cut, life_salt = self._delete_cut, self._life_salt
                flags.extend(
                    mix64(life_salt ^ (ordinal * GOLDEN)) % 1000 >= cut
                    for ordinal in range(len(flags) + 1, count + 1)
                )
        return flags

    def stable_picker(self) -> Callable[[int, int], int]:
        """A fast chooser ``(hash, epoch) -> ordinal`` of never-deleted rows existing at epoch.

        Foreign keys point only at such rows, so they never dangle (churn deletions aside:
        other tables' rows must not change when a churn is added, as DAP's would not).
        """
        n0, rate, stable_flags = self.n0, self._rate, self._stable_flags

        def pick(h: int, epoch: int) -> int:
            count = n0 + (rate * epoch) // 1_000_000
            flags = stable_flags(count)
            ordinal = h % count  # zero-based
            for _ in range(64):
                if flags[ordinal]:
                    break
                ordinal = (ordinal + 1) % count
            return ordinal + 1

        return pick

    # -- versions ------------------------------------------------------------------------

    def last_update(self, ordinal: int, insert_epoch: int, epoch: int) -> int:
        """The epoch of the row's latest insert or update up to ``epoch``."""
        last = self._natural_last_update(ordinal, insert_epoch, epoch)
        for churn_epoch, delete_cut, update_cut in reversed(self._churns):
            if churn_epoch <= last:
                break
            if churn_epoch <= epoch and churn_epoch > insert_epoch:
                share = self._churn_share(ordinal, churn_epoch)
                if delete_cut <= share < update_cut:
                    return churn_epoch
        return last

    def _natural_last_update(self, ordinal: int, insert_epoch: int, epoch: int) -> int:
        u = mix64(self._update_salt ^ (ordinal * GOLDEN))
        share = u % 1000
        for cut, period in self._update_classes:
            if share < cut:
                last = epoch - (epoch + (u >> 20) % period) % period
                return last if last > insert_epoch else insert_epoch
        return insert_epoch

    # -- timestamps ----------------------------------------------------------------------

    def _window_start(self, epoch: int) -> int:
        return self.start_ms + (epoch - 1) * EPOCH_MS

    def _hash(self, ordinal: int, epoch: int, kind: int) -> int:
        return mix64(
            self._ts_salt ^ (ordinal * GOLDEN) ^ ((epoch * EPOCH_MULTIPLIER) & MASK64) ^ kind
        )

    def created_ms(self, ordinal: int, insert_epoch: int) -> int:
        if insert_epoch == 0:
            span = self.created_span_ms
            step = max(1, span // self.n0)
            created = (
                self.start_ms - span + (span * (ordinal - 1)) // self.n0
                + self._hash(ordinal, 0, 1) % step
            )  # fmt: skip
            return min(created, self.start_ms - 2_000)
        ts = self.version_ts(ordinal, insert_epoch)
        return ts - self._hash(ordinal, insert_epoch, 2) % _INSERT_LAG_MS

    def updated_ms(self, ordinal: int, content_epoch: int, created_ms: int) -> int:
        """The row's own ``updated_at`` for the version of ``content_epoch``."""
        if content_epoch == 0:
            h = self._hash(ordinal, 0, 3)
            if h % 10 < 6:
                return created_ms
            room = max(0, self.start_ms - created_ms - _EPOCH0_COMMIT_LAG_MS)
            return created_ms + (h >> 8) % (room + 1)
        ts = self.version_ts(ordinal, content_epoch)
        return max(created_ms, ts - self._hash(ordinal, content_epoch, 4) % _INSERT_LAG_MS)

    def version_ts(self, ordinal: int, content_epoch: int, updated_ms: int = 0) -> int:
        """``meta.ts`` of an insert or update made in ``content_epoch``.

        For epoch 0 the commit follows the row's ``updated_ms`` by a little.
        """
        if content_epoch == 0:
            lag = self._hash(ordinal, 0, 5) % _EPOCH0_COMMIT_LAG_MS
            return min(updated_ms + lag, self.start_ms)
        return (
            self._window_start(content_epoch)
            + 1
            + self._hash(ordinal, content_epoch, 6) % (_HALF - 1)
        )

    def delete_ts(self, ordinal: int, epoch: int) -> int:
        return self._window_start(epoch) + _HALF + 1 + self._hash(ordinal, epoch, 7) % (_HALF - 1)

    def reload_ts(self, ordinal: int, epoch: int) -> int:
        return self._window_start(epoch) + 1 + self._hash(ordinal, epoch, 8) % (EPOCH_MS - 1)

    # -- scans ---------------------------------------------------------------------------

    def state(self, ordinal: int, epoch: int, reload_epoch: int | None) -> RowState:
        """The row's latest change as seen at ``epoch`` (requires ordinal <= count(epoch))."""
        inserted = self.insert_epoch(ordinal)
        deleted = self.delete_epoch(ordinal, inserted)
        if deleted is not None and deleted <= epoch:
            return DELETED, self.delete_ts(ordinal, deleted), 0, 0
        content = self.last_update(ordinal, inserted, epoch)
        created = self.created_ms(ordinal, inserted)
        updated = self.updated_ms(ordinal, content, created)
        if reload_epoch is not None and reload_epoch > content:
            ts = self.reload_ts(ordinal, reload_epoch)
        else:
            ts = self.version_ts(ordinal, content, updated)
        return content, ts, created, updated
