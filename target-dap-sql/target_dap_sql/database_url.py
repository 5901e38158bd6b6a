"""`database_url` setting: a parsed URL, and how to print it safely.

Which schemes exist and how each is checked is the dialects' business
(`dialects.parse_database_url`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed `database_url`; `redacted` is the only form that may be printed.

    `scheme` is the registry's canonical scheme of the dialect (e.g. `postgresql`).
    """

    scheme: str
    url: str
    path: Path | None

    @property
    def redacted(self) -> str:
        return redact(self.url)


def redact(text: str) -> str:
    """Replace the password of any URL in `text` by `***`."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
