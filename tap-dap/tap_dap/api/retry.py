"""Backoff between attempts: exponential with full jitter, capped.

Jitter keeps several threads (or several taps) that failed together from retrying in
lockstep against a recovering server.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import requests

#: Network trouble worth another attempt: refused or reset connections, timeouts, cut bodies.
TRANSIENT_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class Backoff:
    """How often and how patiently to retry one operation."""

    retries: int
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))
