"""Keep secrets out of the logs, at every level.

Our own messages never hold a secret, but libraries' debug logs do: urllib3 logs each
request line, and for a pre-signed URL the query string is the signature. A filter on
the log handlers scrubs, from every record: the client secret and the access token
(whatever their context), bearer tokens, and URL query strings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*")
_REQUEST_LINE_QUERY = re.compile(r"(\"[A-Z]+ /[^\s?\"]*)\?[^\s\"]*")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")
REDACTED = "<redacted>"
#: Shorter strings would be scrubbed from ordinary words too.
MIN_SECRET_LENGTH = 6


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without secrets, bearer tokens and URL query strings."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    text = _URL_QUERY.sub(r"\1?" + REDACTED, text)
    return _REQUEST_LINE_QUERY.sub(r"\1?" + REDACTED, text)


#: Where the secrets of the taps of this process come from (a token changes over time).
_SOURCES: list[Callable[[], Iterable[str | None]]] = []


class SecretFilter(logging.Filter):
    """Rewrites log records so that no secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the message (and a formatted exception) in place; never drop the record."""
        secrets = [secret for source in _SOURCES for secret in source() if secret]
        message = record.getMessage()
        cleaned = scrub(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text, secrets)
            record.exc_info = None
        return True


def install(secrets: Callable[[], Iterable[str | None]]) -> None:
    """Scrub `secrets()` from every log record that reaches a handler of the root logger."""
    _SOURCES.append(secrets)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, SecretFilter) for existing in handler.filters):
            handler.addFilter(SecretFilter())
