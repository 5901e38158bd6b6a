"""The one retry policy (tap_dap.api.retry): what differs between the API client, the login
and the downloads is a parameter of it. The fault tests (test_faults.py and
tests/reliability) show the same through real runs against dap-sim."""

from __future__ import annotations

import requests
from tap_dap.api.retry import MAX_RETRY_AFTER, RetryPolicy


def answer(status: int, retry_after: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


def test_failures_beyond_the_retries_give_up() -> None:
    attempts = RetryPolicy.for_api(retries=2).start()
    assert attempts.failed() is not None
    assert attempts.failed(answer(503)) is not None
    assert attempts.failed() is None
    assert attempts.count == 3


def test_a_retry_after_is_waited_as_told_and_capped() -> None:
    attempts = RetryPolicy.for_login(retries=5).start()
    assert attempts.failed(answer(503, "7")) == 7
    assert attempts.throttled(answer(429, "100000")) == MAX_RETRY_AFTER
    assert attempts.failed(answer(503, "soon")) is not None  # nonsense: back off instead


def test_the_api_waits_out_429s_within_its_patience_not_its_retries() -> None:
    now = [0.0]
    policy = RetryPolicy(0, throttle_patience=60, clock=lambda: now[0])
    attempts = policy.start()
    for _ in range(5):
        assert attempts.throttled(answer(429, "10")) == 10
        now[0] += 10
    assert attempts.throttled(answer(429, "10")) == 10  # 50 s waited, 60 s with this one
    now[0] += 10
    assert attempts.throttled(answer(429, "10")) is None
    assert attempts.failures == 0


def test_the_login_counts_a_429_as_a_failure() -> None:
    attempts = RetryPolicy.for_login(retries=1).start()
    assert attempts.throttled(answer(429, "1")) == 1
    assert attempts.throttled(answer(429, "1")) is None


def test_a_download_that_progressed_starts_its_retries_over() -> None:
    attempts = RetryPolicy.for_downloads(retries=1).start()
    for _ in range(10):  # cut after some bytes each time: never gives up
        assert attempts.failed(progressed=True) is not None
    assert attempts.failed() is not None
    assert attempts.failed() is None


def test_renewals_are_bounded_per_policy() -> None:
    api = RetryPolicy.for_api(retries=6).start()
    assert api.renewed()
    assert not api.renewed()  # a second 401: the token is not the problem
    downloads = RetryPolicy.for_downloads(retries=3).start()
    assert [downloads.renewed() for _ in range(4)] == [True, True, True, False]
