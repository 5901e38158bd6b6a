"""Per-endpoint rate limits over a sliding window of accepted requests.

DESIGN.md lists the limits per minute: create job 5, list tables 5, get job 500, schema
500, object URLs 200. The documentation does not say whether the create-job limit counts
per table or per account, so both exist (per table by default). A factor scales every
limit (0 turns them off) and the window can be shortened for tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

BASE_LIMITS = {
    "create_job": 5,
    "list_tables": 5,
    "get_job": 500,
    "schema": 500,
    "object_urls": 200,
}


class RateLimiter:
    def __init__(self, *, factor: float, window: float, create_job_per: str) -> None:
        if create_job_per not in ("table", "account"):
            raise ValueError(f"create_job_per must be 'table' or 'account', not {create_job_per!r}")
        self.factor = factor
        self.window = window
        self.create_job_per = create_job_per
        self._accepted: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def limit(self, endpoint: str) -> int | None:
        base = BASE_LIMITS.get(endpoint)
        if base is None or self.factor <= 0:
            return None
        return max(1, math.floor(base * self.factor))

    def admit(self, endpoint: str, account: str, table: str | None = None) -> float | None:
        """Record an accepted request and return None, or the seconds to wait (a 429)."""
        limit = self.limit(endpoint)
        if limit is None:
            return None
        bucket = account
        if endpoint == "create_job" and self.create_job_per == "table" and table is not None:
            bucket = f"{account}/{table}"
        now = time.monotonic()
        with self._lock:
            accepted = self._accepted.setdefault((endpoint, bucket), deque())
            while accepted and accepted[0] <= now - self.window:
                accepted.popleft()
            if len(accepted) >= limit:
                return accepted[0] + self.window - now
            accepted.append(now)
            return None
