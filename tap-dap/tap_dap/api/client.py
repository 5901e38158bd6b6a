"""The DAP Query API: one requests session, the endpoints, retries and rate limits.

Every request passes through `_call`: it waits for room in its endpoint's rate window,
sends the bearer token, and follows the API's retry policy (`tap_dap.api.retry`): it
logs in again once on 401, waits out 429 answers as told (holding the endpoint's window
back meanwhile), and retries connection errors and 5xx answers with backoff. Endpoints
answer parsed JSON or typed errors (`tap_dap.errors`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tap_dap.api.auth import TokenProvider
from tap_dap.api.error_answers import error_from_response
from tap_dap.api.ratelimit import RateLimiter
from tap_dap.api.retry import RetryPolicy
from tap_dap.api.session import new_session
from tap_dap.errors import DapApiError, ServerError
from tap_dap.settings import Settings

logger = logging.getLogger("tap-dap.client")


@dataclass(frozen=True)
class VersionedSchema:
    """A table's DAP schema and its version."""

    schema: Mapping[str, Any]
    version: int


@dataclass(frozen=True)
class Job:
    """A DAP query job as the API describes it."""

    id: str
    status: str
    objects: tuple[str, ...] = ()
    schema_version: int | None = None
    at: str | None = None
    since: str | None = None
    until: str | None = None
    expires_at: str | None = None
    error: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        """Parse a job answer (TableJob, CompleteSnapshotJob, CompleteIncrementalJob, FailedJob)."""
        return cls(
            id=str(data["id"]),
            status=str(data["status"]),
            objects=tuple(str(item["id"]) for item in data.get("objects") or ()),
            schema_version=data.get("schema_version"),
            at=data.get("at"),
            since=data.get("since"),
            until=data.get("until"),
            expires_at=data.get("expires_at"),
            error=data.get("error"),
        )


class DapClient:
    """The endpoints of the DAP Query API, safe to share between threads."""

    def __init__(self, settings: Settings, limiter: RateLimiter | None = None) -> None:
        self._base = settings.base_url
        self._timeout = settings.request_timeout
        self._retry = RetryPolicy.for_api(settings.max_retries)
        self._limiter = limiter or RateLimiter(settings.rate_limits, settings.create_job_scope)
        self.session = new_session(settings.verify, pool_size=8)
        self.auth = TokenProvider(
            self.session,
            self._base,
            settings.credentials,
            retry=RetryPolicy.for_login(settings.max_retries),
            timeout=self._timeout,
        )
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    # The endpoints

    def list_tables(self, namespace: str) -> list[str]:
        """Names of the tables of a namespace."""
        body = self._call("GET", f"/dap/query/{quote(namespace)}/table", endpoint="list_tables")
        return [str(name) for name in body["tables"]]

    def get_schema(self, namespace: str, table: str) -> VersionedSchema:
        """The table's current schema and version."""
        body = self._call(
            "GET", f"/dap/query/{quote(namespace)}/table/{quote(table)}/schema", "get_schema"
        )
        return VersionedSchema(schema=body["schema"], version=int(body["version"]))

    def create_job(self, namespace: str, table: str, query: Mapping[str, Any]) -> Job:
        """Start a snapshot (no `since`) or incremental query job."""
        body = self._call(
            "POST",
            f"/dap/query/{quote(namespace)}/table/{quote(table)}/data",
            "create_job",
            table=f"{namespace}.{table}",
            json=dict(query),
        )
        return Job.from_json(body)

    def get_job(self, job_id: str) -> Job:
        """A job's current status."""
        return Job.from_json(self._call("GET", f"/dap/job/{quote(job_id)}", "get_job"))

    def object_urls(self, object_ids: Sequence[str]) -> dict[str, str]:
        """Pre-signed URLs for objects of a complete job (they live about 15 minutes)."""
        body = self._call(
            "POST",
            "/dap/object/url",
            "object_urls",
            json=[{"id": object_id} for object_id in object_ids],
        )
        return {str(key): str(value["url"]) for key, value in body["urls"].items()}

    # The one request path

    def _call(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        table: str | None = None,
        json: Any = None,
    ) -> Any:
        window = self._limiter.window(endpoint, table)
        attempts = self._retry.start()
        while True:
            token = self.auth.token()
            try:
                with window.slot():
                    self._count(self.requests, endpoint)
                    response = self.session.request(
                        method,
                        self._base + path,
                        json=json,
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=self._timeout,
                    )
            except self._retry.transient as error:
                delay = attempts.failed()
                if delay is None:
                    raise ServerError(
                        status=0,
                        endpoint=endpoint,
                        error_type=type(error).__name__,
                        message=f"no answer from {self._base} after {attempts.count} attempts",
                    ) from error
                self._retry.sleep(delay)
                continue
            status = response.status_code
            if status == 401 and attempts.renewed():
                self.auth.invalidate(token)
                continue
            if status == 429:
                self._count(self.throttled, endpoint)
                delay = attempts.throttled(response)
                if delay is None:
                    raise error_from_response(response, endpoint)
                logger.warning("DAP rate limit hit on %s: waiting %.1f s", endpoint, delay)
                window.pause(delay)
                self._retry.sleep(delay)
                continue
            if status >= 500 and (delay := attempts.failed(response)) is not None:
                logger.info("DAP %s answered HTTP %d: retrying", endpoint, status)
                self._retry.sleep(delay)
                continue
            if status >= 400:
                raise error_from_response(response, endpoint)
            try:
                return response.json()
            except ValueError as error:
                raise DapApiError(
                    status=status,
                    endpoint=endpoint,
                    error_type="UnexpectedAnswer",
                    message=f"the answer is not JSON ({response.headers.get('Content-Type')})",
                ) from error

    def _count(self, counter: Counter[str], endpoint: str) -> None:
        with self._count_lock:
            counter[endpoint] += 1

    def usage(self) -> str:
        """Requests per endpoint, 429 answers and logins so far, for the run's last log line."""
        with self._count_lock:
            spent = ", ".join(f"{name} {count}" for name, count in sorted(self.requests.items()))
            throttled = sum(self.throttled.values())
        return (
            f"DAP API requests: {spent or 'none'}; HTTP 429 answers: {throttled}; "
            f"logins: {self.auth.logins}"
        )
