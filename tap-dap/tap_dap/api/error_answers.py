"""DAP's error answers (`{"error": {"type", "uuid", "message", ...}}`) as the typed errors of
`tap_dap.errors`: what callers catch (a snapshot is required, a job is gone, a token was
refused) is decided here, from the error type and the HTTP status."""

from __future__ import annotations

import requests

from tap_dap.errors import (
    AuthenticationError,
    DapApiError,
    NotFoundError,
    OutOfRangeError,
    RateLimitedError,
    ServerError,
    SnapshotRequiredError,
)


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
