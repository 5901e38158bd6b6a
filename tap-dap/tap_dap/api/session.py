"""The HTTP session of the API client, the login and the downloads: a connection pool big
enough for every worker thread, TLS verification as the settings say, and a certificate
that cannot be verified reported as the setting to change."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from tap_dap.errors import ConfigError

if TYPE_CHECKING:
    from requests.sessions import _Settings

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
