"""Every private or final singer-sdk member the target uses, in one place, each with why.

singer-sdk may change a private member in any release, and its `@final` members are
not ours to override. The target uses some for speed (RECORD lines go straight to their
sink, past the SDK's per-message dispatch) or for the state order guarantee (a STATE
leaves once, and as soon as, every record before it is committed). The functions below
are the only code that reads or writes the SDK's private attributes. The SDK's private
hooks that the target overrides stay in target.py, sinks.py and reader.py; `SEAMS` lists
them with the rest. tests/target/test_sdk_compat.py checks each seam against the
installed singer-sdk (the member is there, with the parameters we use) and that no other
module uses a private SDK member that is not listed. Raise the upper bound on singer-sdk
in pyproject.toml only after that test passes on the new release.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk import Target
from singer_sdk.singerlib.encoding import GenericSingerReader
from singer_sdk.sinks import Sink

if t.TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Seam:
    """One SDK member that is private or `@final`, how we use it, and why.

    `use`: "attribute" (read or written by the functions below), "call" (a method called
    here, or a public `@final` one called anywhere) or "override" (a private hook our
    subclass overrides, maybe calling the SDK's through `super()`).
    """

    owner: type
    member: str
    use: t.Literal["attribute", "call", "override"]
    reason: str
    #: A method's parameters as we call or override it (annotations aside).
    parameters: str | None = None


SEAMS: tuple[Seam, ...] = (
    # -- the target: its sinks, the STATE it holds, its drains (the functions below) -----
    Seam(
        Target,
        "_sinks_active",
        use="attribute",
        reason="a stream's current sink: per record on the fast path (speed), before a STATE",
    ),
    Seam(
        Target,
        "_sinks_to_clear",
        use="attribute",
        reason="sinks a new SCHEMA retired, not yet drained: a STATE waits for them too",
    ),
    Seam(
        Target,
        "_latest_state",
        use="attribute",
        reason="the STATE the SDK holds for its next drain: written once no sink holds records",
    ),
    Seam(
        Target,
        "_handle_max_record_age",
        use="call",
        parameters="(self)",
        reason="the SDK's 5-minute drain, run per message by the handlers the fast path replaces",
    ),
    Seam(
        Target,
        "drain_one",
        use="call",
        parameters="(self, sink)",
        reason="@final: merges a stream's records now (full, new SCHEMA, ACTIVATE_VERSION, BATCH)",
    ),
    # -- the target's message handlers (target.py) ---------------------------------------
    Seam(
        Target,
        "_process_record_message",
        use="override",
        parameters="(self, message_dict)",
        reason="the SDK path (validation, maps): our error before SCHEMA; the version kept",
    ),
    Seam(
        Target,
        "_process_schema_message",
        use="override",
        parameters="(self, message_dict)",
        reason="merges other streams' records first: their STATE need not wait for the end",
    ),
    Seam(
        Target,
        "_process_state_message",
        use="override",
        parameters="(self, message_dict)",
        reason="writes the STATE at once when no sink holds records (state order)",
    ),
    Seam(
        Target,
        "_process_activate_version_message",
        use="override",
        parameters="(self, message_dict)",
        reason="merges the stream, then sweeps older versions in SQL; refused before SCHEMA",
    ),
    Seam(
        Target,
        "_process_batch_message",
        use="override",
        parameters="(self, message_dict)",
        reason="BATCH files go to the dialect's bulk reader, not record by record (speed)",
    ),
    Seam(
        Target,
        "_write_state_message",
        use="override",
        parameters="(self, state)",
        reason="a STATE leaves only after every record before it is committed (state order)",
    ),
    # -- the sink (sinks.py) -------------------------------------------------------------
    Seam(
        Sink,
        "_remove_sdc_metadata_from_schema",
        use="override",
        parameters="(self)",
        reason="a no-op: a tap's `_sdc_deleted_at` stays (meltano/sdk#3444), a column of ours",
    ),
    Seam(
        Sink,
        "_remove_sdc_metadata_from_record",
        use="override",
        parameters="(self, record)",
        reason="a no-op, as for the schema: a record keeps its `_sdc_*` fields",
    ),
    Seam(
        Sink,
        "tally_record_read",
        use="call",
        parameters="(self, count=1)",
        reason="@final: the fast path counts its records as the SDK path does",
    ),
    # -- the message reader (reader.py) --------------------------------------------------
    Seam(
        GenericSingerReader,
        "process_lines",
        use="override",
        parameters="(self, file_input, callbacks)",
        reason="internal in its docs: line numbers for errors, RECORDs past the callbacks (speed)",
    ),
)


def sinks_by_stream(target: Target) -> dict[str, Sink]:
    """The SDK's own map of stream name to current sink: the same dict for the target's
    life, so the fast path may bind it once."""
    return target._sinks_active


def records_held(target: Target) -> bool:
    """Whether a sink, current or retired by a new SCHEMA, holds records not yet drained."""
    return any(
        sink.current_size for sink in (*target._sinks_active.values(), *target._sinks_to_clear)
    )


def take_held_state(target: Target) -> dict[str, t.Any] | None:
    """The STATE the SDK holds for its next full drain, taken: that drain will not write it."""
    state, target._latest_state = target._latest_state, None
    return state


def record_age_check(target: Target) -> Callable[[], None]:
    """The SDK's drain of every sink once records wait too long, to call after each
    message the target handles itself (bound once: it runs per record)."""
    return target._handle_max_record_age
