"""Small HTTP helpers shared by the API client, the login and the downloads."""

from __future__ import annotations

import email.utils
import time

import requests
from requests.adapters import HTTPAdapter

from tap_dap.errors import (
    AuthenticationError,
    DapApiError,
    NotFoundError,
    OutOfRangeError,
    RateLimitedError,
    ServerError,
    SnapshotRequiredError,
)

MAX_RETRY_AFTER = 300.0


def new_session(verify: bool | str, pool_size: int) -> requests.Session:
    """A session with a connection pool big enough for every worker thread."""
    session = requests.Session()
    session.verify = verify
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "tap-dap"
    return session


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


def error_from_response(response: requests.Response, endpoint: str) -> DapApiError:
    """The typed error for a DAP error answer (`{"error": {...}}`, or whatever came)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = " ".join(response.text.split())[:200] if response.text else ""
        error = {"message": text or response.reason or "no details"}
    error_type = str(error.get("type") or response.reason or "Error")
    status = response.status_code
    cls: type[DapApiError] = DapApiError
    if "SnapshotRequired" in error_type:
        cls = SnapshotRequiredError
    elif "OutOfRange" in error_type:
        cls = OutOfRangeError
    elif status == 401:
        cls = AuthenticationError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitedError
    elif status >= 500:
        cls = ServerError
    return cls(
        status=status,
        endpoint=endpoint,
        error_type=error_type,
        message=str(error.get("message") or "no message"),
        uuid=str(error["uuid"]) if error.get("uuid") else None,
        details=error,
    )
