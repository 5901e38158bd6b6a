"""Small HTTP helpers shared by the API client, the login and the downloads."""

from __future__ import annotations

import email.utils
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from tap_dap.errors import (
    AuthenticationError,
    ConfigError,
    DapApiError,
    NotFoundError,
    OutOfRangeError,
    RateLimitedError,
    ServerError,
    SnapshotRequiredError,
)

if TYPE_CHECKING:
    from requests.sessions import _Settings

MAX_RETRY_AFTER = 300.0
_VERIFY_FAILED = re.compile(r"certificate verify failed: ([^(]+?) \(_ssl")


class _Session(requests.Session):
    """A session whose own `verify` (ca_bundle, verify_tls: false) wins over the environment.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's `verify` on every
    request (psf/requests#3829): the settings would be silently ignored where they are set.
    """

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings


def new_session(verify: bool | str, pool_size: int) -> requests.Session:
    """A session with a connection pool big enough for every worker thread."""
    session = _Session()
    session.verify = verify
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "tap-dap"
    return session


def certificate_error(error: Exception, url: str) -> ConfigError | None:
    """A TLS certificate that cannot be verified: a setting to change, not a network blip."""
    if not isinstance(error, requests.exceptions.SSLError):
        return None
    match = _VERIFY_FAILED.search(str(error))
    problem = f"certificate verify failed: {match.group(1)}" if match else "TLS handshake failed"
    parts = urlsplit(url)
    return ConfigError(
        f"the TLS certificate of {parts.scheme}://{parts.netloc} could not be verified "
        f"({problem}): set ca_bundle to the PEM file of the CA that signed it, or "
        "verify_tls: false to skip the check (insecure)"
    )


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
