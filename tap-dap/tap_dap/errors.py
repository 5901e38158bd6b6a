"""Errors of tap-dap, each naming what failed and, where it helps, what to change.

`TapDapError` is the family the CLI prints as one line (no traceback): a missing setting,
a refused credential, a table that failed. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TapDapError(Exception):
    """An error a user can act on; its message is complete on its own."""


class ConfigError(TapDapError):
    """A setting is missing or wrong."""


class DapApiError(TapDapError):
    """An error answer of the DAP API: `{"error": {"type", "uuid", "message", ...}}`."""

    def __init__(
        self,
        *,
        status: int,
        endpoint: str,
        error_type: str,
        message: str,
        uuid: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.endpoint = endpoint
        self.error_type = error_type
        self.uuid = uuid
        self.details: Mapping[str, Any] = details or {}
        uuid_part = f", error uuid {uuid}" if uuid else ""
        super().__init__(
            f"DAP API {endpoint} answered HTTP {status} {error_type}: {message}{uuid_part}"
        )
        self.api_message = message


class AuthenticationError(DapApiError):
    """The API refused the credentials or the token (401)."""


class NotFoundError(DapApiError):
    """A namespace, table, job or object does not exist or has expired (404)."""


class SnapshotRequiredError(DapApiError):
    """The bookmark is before a reload of the table: only a new snapshot is consistent."""


class OutOfRangeError(DapApiError):
    """The bookmark is older than the table's retention: only a new snapshot helps."""


class ServerError(DapApiError):
    """5xx answers that outlived the retries."""


class RateLimitedError(DapApiError):
    """429 answers that outlived the patience setting."""


class JobFailedError(TapDapError):
    """A query job ended `failed` more often than `job_retries` allows."""

    def __init__(
        self, *, stream: str, job_id: str, error: Mapping[str, Any], attempts: int
    ) -> None:
        self.job_id = job_id
        self.error_type = str(error.get("type", "unknown"))
        self.uuid = str(error.get("uuid", "unknown"))
        super().__init__(
            f"{stream}: DAP job {job_id} failed ({self.error_type}: "
            f"{error.get('message', 'no message')}, error uuid {self.uuid}) "
            f"after {attempts} attempt(s); raise job_retries to try more often"
        )


class JobExpiredError(TapDapError):
    """A job or its objects expired before every file was downloaded."""


class DownloadError(TapDapError):
    """An object could not be downloaded within the retries."""


class RecordDecodeError(TapDapError):
    """A line of a DAP file is not the JSON record it should be."""


class RunFailedError(TapDapError):
    """Some tables failed; the others were emitted in full."""
