"""Credentials, access tokens (JWT with ``exp``) and pre-signed object URLs.

Tokens and URL signatures are HMAC-signed with a key that lives only in the server
process. Secrets never appear in error messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import jwt

from dap_sim import errors

TOKEN_SCOPE = "urn:dap:query"  # noqa: S105 - a scope name, not a secret
_EXPIRES = "X-Dap-Sim-Expires"
_SIGNATURE = "X-Dap-Sim-Signature"


class Authority:
    """Logs clients in, checks bearer tokens and signs object URLs."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._key = secrets.token_bytes(32)
        self._revoked: set[str] = set()
        self._lock = threading.Lock()

    # -- login ---------------------------------------------------------------------------

    def login(self, authorization: str | None, form_body: str, ttl: float) -> dict[str, Any]:
        """The body of ``POST /ids/auth/login``: HTTP Basic credentials, client_credentials."""
        client_id, client_secret = _basic_credentials(authorization)
        id_ok = hmac.compare_digest(client_id.encode(), self._client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self._client_secret.encode())
        if not (id_ok and secret_ok):
            raise errors.authentication("invalid client credentials (client id or secret)")
        grant = parse_qs(form_body).get("grant_type", [""])[0]
        if grant != "client_credentials":
            raise errors.validation_at(
                "grant_type must be client_credentials", form_body, "grant_type"
            )
        now = int(time.time())
        lifetime = max(1, round(ttl))
        claims = {
            "iss": "dap-sim",
            "sub": client_id,
            "aud": "dap",
            "scope": TOKEN_SCOPE,
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        token = jwt.encode(claims, self._key, algorithm="HS256")
        return {
            "access_token": token,
            "expires_in": lifetime,
            "scope": TOKEN_SCOPE,
            "token_type": "Bearer",
        }

    # -- bearer tokens -------------------------------------------------------------------

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The claims of a valid bearer token; raises a 401 ApiError otherwise."""
        if not authorization or not authorization.startswith("Bearer "):
            raise errors.authentication("missing bearer token: log in at /ids/auth/login")
        token = authorization[len("Bearer ") :].strip()
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=["HS256"], audience="dap"
            )
        except jwt.ExpiredSignatureError:
            raise errors.authentication("access token expired: log in again") from None
        except jwt.InvalidTokenError:
            raise errors.authentication("invalid access token") from None
        with self._lock:
            if claims["jti"] in self._revoked:
                raise errors.authentication("access token expired: log in again")
        return claims

    def revoke(self, authorization: str | None) -> None:
        """Treat the presented token as expired from now on (the expired-token fault)."""
        if authorization and authorization.startswith("Bearer "):
            try:
                claims = jwt.decode(
                    authorization[7:].strip(),
                    options={"verify_signature": False, "verify_exp": False},
                )
            except jwt.InvalidTokenError:
                return
            with self._lock:
                self._revoked.add(str(claims.get("jti")))

    # -- pre-signed URLs -----------------------------------------------------------------

    def _signature(self, path: str, expires: int) -> str:
        message = f"{path}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def presign(self, base_url: str, path: str, expires: int) -> str:
        return (
            f"{base_url}{path}?{_EXPIRES}={expires}&{_SIGNATURE}={self._signature(path, expires)}"
        )

    def check_presigned(self, path: str, query: str) -> None:
        """Raise a 403 unless ``query`` carries a valid, unexpired signature for ``path``."""
        params = parse_qs(query)
        try:
            expires = int(params[_EXPIRES][0])
            signature = params[_SIGNATURE][0]
        except (KeyError, ValueError):
            raise errors.access_denied("missing or malformed URL signature") from None
        if not hmac.compare_digest(signature, self._signature(path, expires)):
            raise errors.access_denied("URL signature does not match")
        if expires < time.time():
            raise errors.access_denied("pre-signed URL has expired: request a new one")


def _basic_credentials(authorization: str | None) -> tuple[str, str]:
    if not authorization or not authorization.startswith("Basic "):
        raise errors.authentication("missing HTTP Basic credentials (client id and secret)")
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise errors.authentication("malformed HTTP Basic credentials") from None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep:
        raise errors.authentication("malformed HTTP Basic credentials")
    return client_id, client_secret
