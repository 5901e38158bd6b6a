"""The one retry policy of the API client, the login and the downloads.

What each caller needs, and the parameter of the policy that says it:

- The API client (`client.py`): connection errors and 5xx answers are tried again up to
  `max_retries` times (`retries`). A 429 waits as told and holds back the endpoint's rate
  window meanwhile; throttling is no failure, it is bounded by the time spent waiting
  (`throttle_patience`, 15 minutes). A 401 renews the token and tries again at once, once
  (`renewals`).
- The login (`auth.py`): connection errors, 5xx and 429 answers are tried again up to
  `max_retries` times, a 429 waiting as told (no `throttle_patience`: a 429 is a failure
  like the others). Refused credentials and unverifiable certificates are settings to
  change, never retried.
- The downloads (`downloads.py`): a cut connection, a network error or an error answer of
  the object store is tried again, resuming with `Range` where the file stopped; only
  attempts that got no byte further count (`progressed`), so that a large file on a
  flaky line still arrives. A refused URL (expired) is renewed and tried at once, up to
  `max_retries` times (`renewals`). A download also meets the errors of the raw urllib3
  stream it reads (`transient`).

Each wait is the server's `Retry-After` when it sent one above zero (capped), else an
exponential backoff with full jitter, which keeps threads (or taps) that failed together
from retrying in lockstep against a recovering server.

Libraries: urllib3's `Retry` parses `Retry-After`. Its retry loop does not fit: it runs
inside one request, where the rate windows cannot count the retries, the token cannot be
renewed and a cut body cannot resume. Nor does `backoff`'s: it counts every try from the
first, and a download's budget starts over whenever it progressed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
import urllib3
from urllib3.util import Retry

#: A longer `Retry-After` is cut to this: the request is asked again after it at the latest.
MAX_RETRY_AFTER = 300.0
#: How long a request to the API keeps waiting out 429 answers before it gives up.
MAX_THROTTLED_SECONDS = 900.0
#: Without a `Retry-After`, throttled tries back off at most this many steps (16 s).
_MAX_THROTTLE_STEP = 6

#: Network trouble worth another attempt: refused or reset connections, timeouts, cut bodies.
TRANSIENT_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
#: A download reads the raw urllib3 stream, whose errors requests does not wrap.
TRANSIENT_DOWNLOAD_ERRORS: tuple[type[Exception], ...] = (
    *TRANSIENT_NETWORK_ERRORS,
    urllib3.exceptions.HTTPError,
    OSError,
)

_RETRY_AFTER = Retry()  # only its parser of the header is used


@dataclass(frozen=True)
class RetryPolicy:
    """How patiently one kind of request is tried again (see the module docstring)."""

    #: Failed attempts tried again before giving up (the `max_retries` setting).
    retries: int
    #: Refused credentials (a token, a URL) renewed and tried again at once.
    renewals: int = 0
    #: Seconds of 429 waits a request may spend; None: a 429 is a failure like any other.
    throttle_patience: float | None = None
    transient: tuple[type[Exception], ...] = TRANSIENT_NETWORK_ERRORS
    base: float = 0.5
    cap: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def for_api(cls, retries: int) -> RetryPolicy:
        """The API client's: 429s waited out for a while, a refused token renewed once."""
        return cls(retries, renewals=1, throttle_patience=MAX_THROTTLED_SECONDS)

    @classmethod
    def for_login(cls, retries: int) -> RetryPolicy:
        """The login's: every failure, 429s included, counts against `retries`."""
        return cls(retries)

    @classmethod
    def for_downloads(cls, retries: int) -> RetryPolicy:
        """The downloads': refused URLs renewed, the raw stream's errors retried too."""
        return cls(retries, renewals=retries, transient=TRANSIENT_DOWNLOAD_ERRORS)

    def start(self) -> Attempts:
        """The attempts of one request (or one download)."""
        return Attempts(self)

    def backoff(self, step: int) -> float:
        """Seconds to wait before retry number `step` (1-based): capped, fully jittered."""
        return random.uniform(0, min(self.cap, self.base * 2 ** (step - 1)))


class Attempts:
    """One request's way through its policy: each method is told how an attempt went and
    answers how long to wait before the next one (None: give up)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        #: Attempts so far that did not succeed.
        self.count = 0
        #: Failures counted against the policy's `retries` (since the last progress).
        self.failures = 0
        self._renewals = 0
        self._throttles = 0
        self._throttled_since: float | None = None

    def failed(
        self, answer: requests.Response | None = None, *, progressed: bool = False
    ) -> float | None:
        """A network error (no `answer`) or an error answer worth another attempt;
        `progressed`: the attempt got further than the one before (a download)."""
        self.count += 1
        self.failures = 0 if progressed else self.failures + 1
        if self.failures > self._policy.retries:
            return None
        return _retry_after(answer) or self._policy.backoff(max(self.failures, 1))

    def throttled(self, answer: requests.Response) -> float | None:
        """A 429 answer: wait as told, within the policy's patience for throttling."""
        patience = self._policy.throttle_patience
        if patience is None:
            return self.failed(answer)
        self.count += 1
        self._throttles += 1
        now = self._policy.clock()
        if self._throttled_since is None:
            self._throttled_since = now
        delay = _retry_after(answer) or self._policy.backoff(
            min(self._throttles, _MAX_THROTTLE_STEP)
        )
        return None if now - self._throttled_since + delay > patience else delay

    def renewed(self) -> bool:
        """The server refused a credential the caller has renewed (a token, a URL):
        whether to try again, at once."""
        self.count += 1
        self._renewals += 1
        return self._renewals <= self._policy.renewals


def _retry_after(answer: requests.Response | None) -> float | None:
    """The answer's Retry-After (seconds or an HTTP date) in seconds, capped; None if it
    has none that makes sense."""
    value = answer.headers.get("Retry-After") if answer is not None else None
    if not value:
        return None
    try:
        return min(_RETRY_AFTER.parse_retry_after(value), MAX_RETRY_AFTER)
    except urllib3.exceptions.InvalidHeader:
        return None
