"""The one exception type the CLI turns into a single clear line (and a non-zero exit)."""

from __future__ import annotations

from singer_sdk.exceptions import MissingKeyPropertiesError, RecordsWithoutSchemaException


class TargetError(Exception):
    """A failure the user can act on: names the stream, column and input line where known.

    The input line and stream are attached late: the reader knows the line (and stream)
    of the message being handled; a failed batch knows the line of the offending record.
    """

    def __init__(self, message: str, *, line: int | None = None, stream: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.stream = stream

    def __str__(self) -> str:
        where = [] if self.line is None else [f"input line {self.line}"]
        if self.stream is not None and repr(self.stream) not in self.message:
            where.append(f"stream {self.stream!r}")
        return ": ".join([*where, self.message])


class RecordBeforeSchemaError(TargetError, RecordsWithoutSchemaException):
    """A RECORD (or ACTIVATE_VERSION) for a stream whose SCHEMA has not arrived."""


class MissingKeyError(TargetError, MissingKeyPropertiesError):
    """A record without a value for one of its stream's key properties."""
