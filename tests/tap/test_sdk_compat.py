"""The Singer SDK still has, and still means, each private or final member tap-dap uses
(`tap_dap.sdk_compat`). Run this on a new SDK release before raising the bound on it."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from singer_sdk import Stream
from singer_sdk.helpers._state import write_starting_replication_value
from tap_dap.sdk_compat import (
    FINAL_OVERRIDES,
    SdkMember,
    TapWithAfterRun,
    drop_starting_marker,
    replace_schema,
)


def _parameters(function: Any) -> str:
    """A signature without annotations: names, kinds and defaults are what overrides rely on."""
    signature = inspect.signature(function)
    return str(
        signature.replace(
            parameters=[
                parameter.replace(annotation=inspect.Parameter.empty)
                for parameter in signature.parameters.values()
            ],
            return_annotation=inspect.Signature.empty,
        )
    )


@pytest.mark.parametrize("member", FINAL_OVERRIDES, ids=lambda member: member.name)
def test_each_overridden_final_method_is_as_tap_dap_knows_it(member: SdkMember) -> None:
    where = f"singer_sdk {member.owner.__name__}.{member.name}"
    assert hasattr(member.owner, member.name), f"{where} is gone ({member.reason})"
    sdk_method = getattr(member.owner, member.name)
    assert _parameters(sdk_method) == member.parameters, (
        f"{where} changed its signature to {_parameters(sdk_method)}"
    )
    assert getattr(sdk_method, "__final__", False), (
        f"{where} is no longer final: override it the ordinary way ({member.reason})"
    )
    ours = getattr(TapWithAfterRun, member.name)
    assert _parameters(ours) == member.parameters, f"TapWithAfterRun.{member.name} differs"


class _Tap(TapWithAfterRun):
    name = "tap-sdk-compat"
    config_jsonschema = {"type": "object", "properties": {}}  # noqa: RUF012
    after_runs = 0

    def discover_streams(self) -> list[Stream]:
        return [_Stream(self, schema={"properties": {"id": {"type": "integer"}}})]

    def after_run(self) -> None:
        self.after_runs += 1


class _Stream(Stream):
    name = "things"

    def get_records(self, context: Any) -> list[dict[str, Any]]:
        return [{"id": 1}]


def test_after_run_follows_a_sync_and_a_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    tap = _Tap(config={}, validate_config=False)
    tap.sync_all()
    assert tap.after_runs == 1, "singer_sdk Tap.sync_all: after_run did not run"
    tap.run_sync_dry_run(dry_run_record_limit=1)
    assert tap.after_runs == 2, "singer_sdk Tap.run_sync_dry_run: after_run did not run"
    capsys.readouterr()


def test_replace_schema_changes_the_schema_the_stream_reports() -> None:
    stream = _Tap(config={}, validate_config=False).streams["things"]
    schema = {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
    replace_schema(stream, schema)
    assert stream.schema == schema, "singer_sdk Stream.schema no longer reads Stream._schema"


def test_drop_starting_marker_removes_what_the_sdk_writes() -> None:
    state = {"replication_key_value": "2024-01-01T00:00:00Z"}
    write_starting_replication_value(state, "2024-01-01T00:00:00Z")
    assert len(state) == 2, "singer_sdk write_starting_replication_value wrote no marker"
    drop_starting_marker(state)
    assert state == {"replication_key_value": "2024-01-01T00:00:00Z"}, (
        "singer_sdk helpers._state.STARTING_MARKER is not the key it writes"
    )
