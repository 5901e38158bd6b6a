"""The one exception type the CLI turns into a single clear line (and a non-zero exit)."""

from __future__ import annotations

from singer_sdk.exceptions import MissingKeyPropertiesError, RecordsWithoutSchemaException


class TargetError(Exception):
    """A failure the user can act on: names the stream, column and input line where known.

    The input line is attached late: the reader knows the line of the message being
    handled; a failed batch knows the line of the offending record.
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"input line {self.line}: {self.message}"


class RecordBeforeSchemaError(TargetError, RecordsWithoutSchemaException):
    """A RECORD (or ACTIVATE_VERSION) for a stream whose SCHEMA has not arrived."""


class MissingKeyError(TargetError, MissingKeyPropertiesError):
    """A record without a value for one of its stream's key properties."""
