"""Every use of a private or final member of the Singer SDK, each with its reason.

tap-dap writes records past the SDK's per-record path (speed) and reports failed tables
after the others were emitted; for that it needs a few seams the SDK does not offer.
This module is the one place that touches them. `tests/tap/test_sdk_compat.py` fails,
naming the member, when the installed SDK lacks one or changed it: raise the singer-sdk
bound in tap-dap/pyproject.toml only once that test passes on the new release.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.helpers._state import STARTING_MARKER


@dataclass(frozen=True)
class SdkMember:
    """A member of an SDK class that tap-dap relies on beyond the SDK's promises."""

    owner: type
    name: str
    #: The signature without annotations, as the SDK declares it today.
    parameters: str
    reason: str


#: Methods the SDK marks final that `TapWithAfterRun` overrides.
FINAL_OVERRIDES = (
    SdkMember(
        Tap,
        "sync_all",
        "(self)",
        "the SDK has no hook after the last stream, and a failed table must be reported "
        "(exit 1) only after every other table was emitted",
    ),
    SdkMember(
        Tap,
        "run_sync_dry_run",
        "(self, dry_run_record_limit=1, streams=None)",
        "the dry run (--test) must fail like a sync when a table failed",
    ),
)


class TapWithAfterRun(Tap):
    """A tap whose `after_run` runs once every selected stream was synced (or dry-run)."""

    def after_run(self) -> None:
        """What to do after the last stream (nothing here)."""

    def sync_all(self) -> None:  # type: ignore[misc]
        """The SDK's sync of every stream, then `after_run` (see `FINAL_OVERRIDES`)."""
        super().sync_all()
        self.after_run()

    def run_sync_dry_run(  # type: ignore[misc]
        self, dry_run_record_limit: int | None = 1, streams: Iterable[Stream] | None = None
    ) -> bool:
        """The SDK's dry run (`--test`), then `after_run` (see `FINAL_OVERRIDES`)."""
        result = super().run_sync_dry_run(dry_run_record_limit, streams)
        self.after_run()
        return result


def replace_schema(stream: Stream, schema: dict[str, Any]) -> None:
    """Give a stream a new schema in the middle of its sync (DAP's schema version changed).

    The SDK fixes a stream's schema when the stream is built and has no setter; its
    `schema` property reads the private `_schema`.
    """
    stream._schema = schema


def drop_starting_marker(state: MutableMapping[str, Any]) -> None:
    """Remove the SDK's private starting-value marker from a stream's state.

    `Stream.sync` writes it for bookmarks taken from records and removes it only after
    the stream; tap-dap's bookmarks come from jobs, and the STATE messages it sends
    during the stream must not carry the marker.
    """
    state.pop(STARTING_MARKER, None)
