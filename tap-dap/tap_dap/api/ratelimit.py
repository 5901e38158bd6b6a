"""Client-side rate limits: per-endpoint sliding 60 s windows, so that a normal run never
draws an HTTP 429 from DAP.

A request counts from the moment its answer arrived, not from when it was sent: the
server counts it when it receives it, which is somewhere in between, so counting from the
answer keeps us inside the server's window whatever the latency.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

WINDOW_SECONDS = 60.0


class SlidingWindow:
    """At most `limit` requests in any `window` seconds, shared by all threads."""

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError(f"a rate limit must allow at least one request, not {limit}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._answered: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self._cond = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one request of the budget; blocks until the window has room."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def pause(self, seconds: float) -> None:
        """Hold every request back for a while (the server said Retry-After)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _acquire(self) -> None:
        with self._cond:
            while True:
                now = self._clock()
                while self._answered and self._answered[0] <= now - self.window:
                    self._answered.popleft()
                if now >= self._paused_until and len(self._answered) + self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                wake = self._paused_until
                if self._answered and len(self._answered) + self._in_flight >= self.limit:
                    wake = max(wake, self._answered[0] + self.window)
                # With only requests in flight, their release notifies us.
                self._cond.wait(timeout=max(wake - now, 0.01) if wake > now else 1.0)

    def _release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._answered.append(self._clock())
            self._cond.notify_all()


class RateLimiter:
    """The DAP endpoints' budgets; the create-job budget is per table or per account."""

    def __init__(
        self,
        limits: Mapping[str, int],
        create_job_scope: str = "table",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = dict(limits)
        self._per_table = create_job_scope == "table"
        self._clock = clock
        self._windows: dict[tuple[str, str | None], SlidingWindow] = {}
        self._lock = threading.Lock()

    def window(self, endpoint: str, table: str | None = None) -> SlidingWindow:
        """The window that governs a request to `endpoint` (about `table`, if any)."""
        scope = table if endpoint == "create_job" and self._per_table else None
        with self._lock:
            key = (endpoint, scope)
            if key not in self._windows:
                self._windows[key] = SlidingWindow(self._limits[endpoint], clock=self._clock)
            return self._windows[key]
