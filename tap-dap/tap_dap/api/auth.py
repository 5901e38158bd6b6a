"""The DAP access token: log in with the client credentials, refresh before it expires.

One token serves every thread. It is renewed ahead of its expiry (a fifth of its life,
at most a minute early) and again whenever the API answers 401, for example after the
identity service revoked it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable

import requests

from tap_dap.api.error_answers import error_from_response
from tap_dap.api.retry import RetryPolicy
from tap_dap.api.session import certificate_error
from tap_dap.errors import ConfigError, DapApiError, ServerError

LOGIN_PATH = "/ids/auth/login"
EARLY_REFRESH_MAX = 60.0
#: Statuses of the login endpoint that mean "these credentials are not accepted".
_REFUSED = {400, 401, 403}


class TokenProvider:
    """Thread-safe holder of the current access token."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        credentials: Callable[[], tuple[str, str]],
        *,
        retry: RetryPolicy,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._url = base_url + LOGIN_PATH
        self._credentials = credentials
        self._retry = retry
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.logins = 0

    def token(self) -> str:
        """A token that is valid for a while yet."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, lifetime = self._login()
                self._renew_at = self._clock() + lifetime - min(EARLY_REFRESH_MAX, lifetime / 5)
            return self._token

    @property
    def current(self) -> str | None:
        """The token in use, if any (for log redaction)."""
        return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (the API refused it), unless another thread already renewed it."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _login(self) -> tuple[str, float]:
        client_id, client_secret = self._credentials()
        attempts = self._retry.start()
        while True:
            try:
                response = self._session.post(
                    self._url,
                    auth=(client_id, client_secret),
                    data={"grant_type": "client_credentials"},
                    timeout=self._timeout,
                )
            except self._retry.transient as error:
                untrusted = certificate_error(error, self._url)
                if untrusted is not None:
                    raise untrusted from error
                delay = attempts.failed()
                if delay is None:
                    raise ServerError(
                        status=0,
                        endpoint="login",
                        error_type=type(error).__name__,
                        message=f"cannot reach {self._url}; check base_url",
                    ) from error
                self._retry.sleep(delay)
                continue
            status = response.status_code
            if status in _REFUSED:
                refusal = error_from_response(response, "login")
                raise ConfigError(
                    f"DAP refused the credentials (HTTP {status} {refusal.error_type}): "
                    "check client_id and client_secret (or DAP_CLIENT_ID and DAP_CLIENT_SECRET)"
                )
            if status == 429 or status >= 500:
                delay = attempts.throttled(response) if status == 429 else attempts.failed(response)
                if delay is None:
                    raise error_from_response(response, "login")
                self._retry.sleep(delay)
                continue
            if status >= 400:
                raise error_from_response(response, "login")
            self.logins += 1
            return _parse_token(response)


def _parse_token(response: requests.Response) -> tuple[str, float]:
    """The token and its remaining life: `expires_in`, or less if its JWT `exp` says so
    (`exp` has whole seconds, so a token can expire up to a second before `expires_in`)."""
    try:
        body = response.json()
        token = str(body["access_token"])
        lifetime = float(body.get("expires_in") or 3600)
    except (ValueError, KeyError, TypeError) as error:
        raise DapApiError(
            status=response.status_code,
            endpoint="login",
            error_type="UnexpectedAnswer",
            message="the login answer has no access_token; check base_url",
        ) from error
    expires = _jwt_expiry(token)
    if expires is not None:
        lifetime = min(lifetime, expires - time.time())
    return token, max(lifetime, 1.0)


def _jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (not verified: only to time the renewal), if it has one."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
