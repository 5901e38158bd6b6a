"""Error responses in the shapes of the DAP API description.

Every error is ``{"error": {"type", "uuid", "message", ...}}`` with the extra members its
kind requires (``location`` for validation, ``id``/``kind`` for not-found, ``since``/
``until`` for range errors); a gateway timeout carries only a ``message``.
"""

from __future__ import annotations

import uuid
from typing import Any


class ApiError(Exception):
    """An HTTP error response; raise it anywhere in a request handler."""

    def __init__(
        self, status: int, error: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.body = {"error": error}
        self.headers = headers or {}


def _error(error_type: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": error_type, "uuid": str(uuid.uuid4()), "message": message, **extra}


def authentication(message: str) -> ApiError:
    return ApiError(401, _error("AuthenticationError", message))


def not_found(kind: str, identifier: str, message: str) -> ApiError:
    return ApiError(404, _error("ObjectNotFound", message, id=identifier, kind=kind))


def validation(message: str, line: int = 1, column: int = 1, character: int = 1) -> ApiError:
    location = {"line": line, "column": column, "character": character}
    return ApiError(400, _error("ValidationError", message, location=location))


def validation_at(message: str, text: str, needle: str) -> ApiError:
    """A validation error located where ``needle`` first occurs in the request body."""
    index = max(0, text.find(needle))
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return validation(message, line, column, index + 1)


def out_of_range(message: str, since: str, until: str) -> ApiError:
    return ApiError(400, _error("OutOfRangeError", message, since=since, until=until))


def snapshot_required(message: str, since: str, until: str) -> ApiError:
    return ApiError(400, _error("SnapshotRequiredError", message, since=since, until=until))


def processing_error(message: str) -> dict[str, Any]:
    """The ProcessingError object of a failed job or a 500 response."""
    return _error("ProcessingError", message)


def server_error(status: int, message: str) -> ApiError:
    if status == 504:
        return ApiError(504, {"message": message})
    return ApiError(status, processing_error(message))


def too_many_requests(message: str, retry_after: int) -> ApiError:
    return ApiError(
        429, _error("TooManyRequests", message), headers={"Retry-After": str(retry_after)}
    )


def access_denied(message: str) -> ApiError:
    """What an object store answers for a bad or expired pre-signed URL."""
    return ApiError(403, _error("AccessDenied", message))
