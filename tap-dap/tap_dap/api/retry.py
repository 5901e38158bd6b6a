"""When to try a request again: which network errors are transient, the backoff between
attempts (exponential with full jitter, capped), and the server's own `Retry-After`.

Jitter keeps several threads (or several taps) that failed together from retrying in
lockstep against a recovering server.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import requests

#: A longer `Retry-After` is cut to this: the request is asked again after it at the latest.
MAX_RETRY_AFTER = 300.0

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


def retry_after_seconds(response: requests.Response) -> float | None:
    """The Retry-After header (seconds or HTTP date) as seconds, capped, or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
