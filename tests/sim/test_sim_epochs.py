"""Epoch semantics: a snapshot plus the increments since it equals a later snapshot.

Checked for every table on the computed data (fast), and end to end over HTTP for a few.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from dap_sim import catalog
from dap_sim.dataset import Dataset
from dap_sim.tables import World, dump
from dap_sim.testing import SimServer
from sim_client import DapClient, apply, take_new_defaults

ALL_TABLES = [(ns, t) for ns in catalog.NAMESPACES for t in catalog.table_names(ns)]
Rows = dict[Any, dict[str, Any]]


def _snapshot(dataset: Dataset, namespace: str, table: str) -> Rows:
    model = World(dataset).table(namespace, table)
    return {
        r.key: {model.key_column: r.key, **(r.values or {})} for r in model.snapshot(dataset.epoch)
    }


def _apply_changes(
    rows: Rows, dataset: Dataset, namespace: str, table: str, *, since: int, until: int
) -> int:
    model = World(dataset).table(namespace, table)
    count = 0
    for record in model.changes(dataset.epoch, since, until):
        count += 1
        if record.action == "D":
            rows.pop(record.key, None)
        else:
            rows[record.key] = {model.key_column: record.key, **(record.values or {})}
    return count


def _take_new_defaults(
    rows: Rows, before: Dataset, after: Dataset, namespace: str, table: str
) -> None:
    """A replica fills a new column's default into the rows it holds when the schema
    changes from ``before``'s to ``after``'s."""
    old, new = (
        d.flat_schema(namespace, table, d.schema_version(namespace, table, d.epoch))
        for d in (before, after)
    )
    take_new_defaults(rows, old["properties"], new["properties"])


def _project(rows: Rows, dataset: Dataset, namespace: str, table: str) -> Rows:
    """A replica keeps columns DAP dropped; compare on the columns the schema has now."""
    model = World(dataset).table(namespace, table)
    keep = {model.key_column, *model.value_columns(dataset.epoch)}
    return {k: {c: v for c, v in row.items() if c in keep} for k, row in rows.items()}


@pytest.fixture(scope="module")
def history() -> list[Dataset]:
    """A dataset at epochs 0..4, with schema bumps of every kind along the way."""
    dataset = Dataset.generate(seed=7, scale=3000)
    states = [copy.deepcopy(dataset)]
    forced = [
        None,
        ["canvas.submissions:drop_column", "canvas.courses:add_enum_value"],
        ["canvas.enrollments:add_column", "canvas.users:make_optional"],
        ["canvas_logs.web_logs:add_enum_column", "canvas.submissions:add_column"],
    ]
    for changes in forced:
        dataset.advance(schema_changes=changes)
        states.append(copy.deepcopy(dataset))
    return states


@pytest.mark.parametrize(("namespace", "table"), ALL_TABLES)
def test_snapshot_plus_increments_equals_later_snapshot(
    history: list[Dataset], namespace: str, table: str
) -> None:
    first, last = history[0], history[-1]
    expected = _snapshot(last, namespace, table)
    # one increment over all epochs, asked at the end
    at_once = _snapshot(first, namespace, table)
    _take_new_defaults(at_once, first, last, namespace, table)
    _apply_changes(
        at_once, last, namespace, table, since=first.clock_ms(0), until=last.clock_ms(last.epoch)
    )
    assert _project(at_once, last, namespace, table) == expected
    # one increment per epoch, each asked when that epoch was current
    stepwise = _snapshot(first, namespace, table)
    for previous, current in itertools.pairwise(history):
        since, until = previous.clock_ms(previous.epoch), current.clock_ms(current.epoch)
        _take_new_defaults(stepwise, previous, current, namespace, table)
        _apply_changes(stepwise, current, namespace, table, since=since, until=until)
    assert _project(stepwise, last, namespace, table) == expected
    # and the dump is the same truth
    assert dump(last, namespace, table) == [expected[k] for k in sorted(expected)]


def test_increments_carry_inserts_updates_and_deletes(history: list[Dataset]) -> None:
    first, last = history[0], history[-1]
    model = World(last).table("canvas", "submissions")
    before = _snapshot(first, "canvas", "submissions")
    changes = list(model.changes(last.epoch, first.clock_ms(0), last.clock_ms(last.epoch)))
    deletes = [c for c in changes if c.action == "D"]
    updates = [c for c in changes if c.action == "U" and c.key in before]
    inserts = [c for c in changes if c.action == "U" and c.key not in before]
    assert deletes
    assert updates
    assert inserts
    assert all(c.values is None for c in deletes)
    assert len({c.key for c in changes}) == len(changes), "one record per key"


def test_until_splits_a_range_into_consecutive_increments(history: list[Dataset]) -> None:
    last = history[-1]
    model = World(last).table("canvas", "enrollments")
    start, end = last.clock_ms(0), last.clock_ms(last.epoch)
    middle = (start + end) // 2
    whole = {r.key for r in model.changes(last.epoch, start, end)}
    halves = [r.key for r in model.changes(last.epoch, start, middle)] + [
        r.key for r in model.changes(last.epoch, middle, end)
    ]
    assert sorted(halves) == sorted(whole)


def _value_columns(client: DapClient, namespace: str, table: str) -> dict[str, Any]:
    schema = client.get(f"/dap/query/{namespace}/table/{table}/schema").json()["schema"]
    columns: dict[str, Any] = schema["properties"]["value"]["properties"]
    return columns


@pytest.mark.parametrize(
    ("namespace", "table", "key"),
    [
        ("canvas", "submissions", "id"),
        ("canvas", "enrollment_states", "enrollment_id"),
        ("canvas_logs", "web_logs", "id"),
    ],
)
def test_http_snapshot_then_incrementals_equal_dump(
    dap_sim: SimServer, namespace: str, table: str, key: str
) -> None:
    client = DapClient(dap_sim.base_url, dap_sim.client_id, dap_sim.client_secret)
    job, lines = client.records(namespace, table, {})
    state: Rows = {}
    apply(state, lines, key)
    bookmark = job["at"]
    columns = _value_columns(client, namespace, table)
    for _ in range(3):
        dap_sim.advance(schema_changes=[f"{namespace}.{table}"])
        job, lines = client.records(namespace, table, {"since": bookmark})
        assert job["since"] == bookmark
        assert all(line["meta"]["action"] in ("U", "D") for line in lines)
        before, columns = columns, _value_columns(client, namespace, table)
        take_new_defaults(state, before, columns)
        apply(state, lines, key)
        bookmark = job["until"]
    truth = dap_sim.dump(namespace, table)
    columns = {key: {}, **columns}
    projected = [{c: v for c, v in state[k].items() if c in columns} for k in sorted(state)]
    assert projected == truth
