"""Schema versions, table reloads and retention: what makes a bookmark too old."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dap_sim import evolution
from dap_sim.dataset import Dataset
from dap_sim.testing import SimServer
from dap_sim.timefmt import parse_iso
from sim_client import DapClient, apply, take_new_defaults


@pytest.fixture
def client(dap_sim: SimServer) -> DapClient:
    return DapClient(dap_sim.base_url, dap_sim.client_id, dap_sim.client_secret)


def _schema(client: DapClient, namespace: str, table: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/dap/query/{namespace}/table/{table}/schema").json()
    return body


def _has_keyword(node: Any, keyword: str) -> bool:
    """Whether a schema uses ``keyword`` anywhere (property names do not count)."""
    if isinstance(node, list):
        return any(_has_keyword(item, keyword) for item in node)
    if not isinstance(node, dict):
        return False
    if keyword in node:
        return True
    children = [v for k, v in node.items() if k != "properties"]
    children += list(node.get("properties", {}).values())
    return any(_has_keyword(child, keyword) for child in children)


def test_the_first_advance_of_a_default_dataset_bumps_a_schema() -> None:
    for seed in (42, 1, 2, 3):
        dataset = Dataset.generate(seed=seed)
        assert dataset.advance(), f"seed {seed}: no schema change in the first advance"


def test_later_advances_bump_now_and_then() -> None:
    dataset = Dataset.generate(seed=42)
    bumps = [len(dataset.advance()) for _ in range(30)]
    assert 3 <= sum(1 for b in bumps if b) <= 25


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("add_column", lambda old, new, c: c not in old["properties"] and c in new["properties"]),
        (
            "add_enum_column",
            lambda old, new, c: c not in old["properties"] and "enum" in new["properties"][c],
        ),
        (
            "add_enum_value",
            lambda old, new, c: (
                len(new["properties"][c]["enum"]) == len(old["properties"][c]["enum"]) + 1
            ),
        ),
        (
            "make_optional",
            lambda old, new, c: c in old["required"] and c not in new.get("required", []),
        ),
        ("drop_column", lambda old, new, c: c in old["properties"] and c not in new["properties"]),
        (
            "add_required_column",
            lambda old, new, c: (
                c not in old["properties"]
                and c in new["required"]
                and "default" in new["properties"][c]
            ),
        ),
    ],
)
def test_each_kind_of_schema_change_bumps_the_version(
    client: DapClient,
    dap_sim: SimServer,
    kind: str,
    check: Callable[[dict[str, Any], dict[str, Any], str], bool],
) -> None:
    before = _schema(client, "canvas", "courses")
    result = dap_sim.advance(schema_changes=[f"canvas.courses:{kind}"])
    [bump] = result["schema_bumps"]
    [change] = bump["changes"]
    assert change["kind"] == kind
    after = _schema(client, "canvas", "courses")
    assert after["version"] == before["version"] + 1 == bump["version"]
    old, new = before["schema"]["properties"]["value"], after["schema"]["properties"]["value"]
    assert check(old, new, change["column"])
    # only a new required column comes with a default (DAP's reference schemas have none)
    assert _has_keyword(new, "default") == (kind == "add_required_column")
    job, lines = client.records("canvas", "courses", {})
    assert job["schema_version"] == after["version"]
    for line in lines:
        assert set(line["value"]) <= set(new["properties"])
        assert set(new.get("required", [])) <= set(line["value"])


def test_random_advances_bring_every_kind_of_schema_change() -> None:
    dataset = Dataset.generate(seed=42)
    kinds = {c["kind"] for _ in range(60) for bump in dataset.advance() for c in bump.changes}
    assert kinds == set(evolution.KINDS)


@pytest.mark.parametrize(
    ("variant", "json_type"),
    [("integer", int), ("boolean", bool), ("string", str), ("enum", str)],
)
def test_a_new_required_column_is_served_with_its_default(
    client: DapClient, dap_sim: SimServer, variant: str, json_type: type
) -> None:
    result = dap_sim.advance(schema_changes=[f"canvas.submissions:add_required_column:{variant}"])
    [change] = result["schema_bumps"][0]["changes"]
    column = change["column"]
    value = _schema(client, "canvas", "submissions")["schema"]["properties"]["value"]
    assert column in value["required"]
    node = value["properties"][column]
    default = node["default"]
    assert type(default) is json_type
    assert node["type"] == {int: "integer", bool: "boolean", str: "string"}[json_type]
    assert ("enum" in node) == (variant == "enum")
    if variant == "enum":
        assert default in node["enum"]
        assert "__dap_unspecified__" in node["enum"]
    # the form every other column has: JSON Schema keywords only, a description
    assert set(node) <= {"type", "format", "maxLength", "enum", "default", "description"}


def test_rows_written_before_a_new_required_column_read_its_default(
    client: DapClient, dap_sim: SimServer
) -> None:
    old_schema = _schema(client, "canvas", "submissions")["schema"]
    before, old_lines = client.records("canvas", "submissions", {})
    variants = evolution.VARIANTS["add_required_column"]
    result = dap_sim.advance(
        schema_changes=[f"canvas.submissions:add_required_column:{v}" for v in variants]
    )
    defaults = {c["column"]: c["schema"]["default"] for c in result["schema_bumps"][0]["changes"]}
    assert len(defaults) == len(variants)

    _, lines = client.records("canvas", "submissions", {})
    cut = parse_iso(before["at"])
    unchanged = [line for line in lines if parse_iso(line["meta"]["ts"]) <= cut]
    written = [line for line in lines if parse_iso(line["meta"]["ts"]) > cut]
    assert unchanged
    assert len(written) >= 20
    for line in unchanged:
        assert {c: line["value"][c] for c in defaults} == defaults, line["key"]
    for column, default in defaults.items():
        own = [line["value"][column] for line in written]
        assert sum(v != default for v in own) > len(own) / 2, f"{column}: {own}"

    # the increment carries the column for every changed row, and only the changed rows:
    # a replica fills the default into the rows it holds, applies it, and equals the truth
    _, increment = client.records("canvas", "submissions", {"since": before["at"]})
    upserts = [line for line in increment if line["meta"]["action"] == "U"]
    assert upserts
    assert all(set(defaults) <= set(line["value"]) for line in upserts)
    replica: dict[Any, dict[str, Any]] = {}
    apply(replica, old_lines, "id")
    new_schema = _schema(client, "canvas", "submissions")["schema"]
    take_new_defaults(
        replica,
        old_schema["properties"]["value"]["properties"],
        new_schema["properties"]["value"]["properties"],
    )
    apply(replica, increment, "id")
    truth = dap_sim.dump("canvas", "submissions")
    assert [replica[key] for key in sorted(replica)] == truth
    assert truth == sorted(
        ({"id": line["key"]["id"], **line["value"]} for line in lines), key=lambda r: r["id"]
    )


def test_rows_written_after_a_new_column_fill_it(client: DapClient, dap_sim: SimServer) -> None:
    snapshot, _ = client.records("canvas", "submissions", {})
    result = dap_sim.advance(schema_changes=["canvas.submissions:add_enum_column"])
    column = result["schema_bumps"][0]["changes"][0]["column"]
    job, lines = client.records("canvas", "submissions", {"since": snapshot["at"]})
    assert job["schema_version"] == 2
    filled = [line for line in lines if column in line.get("value", {})]
    assert filled, "updated and inserted rows use the new column"


def test_a_reloaded_table_answers_snapshot_required(client: DapClient, dap_sim: SimServer) -> None:
    snapshot, _ = client.records("canvas", "enrollments", {})
    dap_sim.advance(schema_changes=[], reload=["canvas.enrollments"])
    response = client.post(
        "/dap/query/canvas/table/enrollments/data", {"format": "jsonl", "since": snapshot["at"]}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "SnapshotRequiredError"
    assert set(error) == {"type", "uuid", "message", "since", "until"}
    assert error["since"] == error["until"] == "2025-09-01T04:00:00.000Z"
    # a new snapshot carries every row again, and chains on from the reload
    job, lines = client.records("canvas", "enrollments", {})
    assert len(lines) == len(dap_sim.dump("canvas", "enrollments"))
    dap_sim.advance(schema_changes=[])
    assert client.records("canvas", "enrollments", {"since": job["at"]})[1]
    # other tables are not affected
    assert client.records("canvas", "users", {"since": snapshot["at"]})[0]["status"] == "complete"


def test_web_logs_keep_30_days_and_older_bookmarks_are_out_of_range(client: DapClient) -> None:
    response = client.post(
        "/dap/query/canvas_logs/table/web_logs/data",
        {"format": "jsonl", "since": "2025-08-01T00:00:00Z"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "OutOfRangeError"
    assert error["since"] == "2025-08-02T00:00:00.000Z"
    assert error["until"] == "2025-09-01T00:00:00.000Z"
    job, _ = client.records("canvas_logs", "web_logs", {"since": "2025-08-20T00:00:00Z"})
    assert job["status"] == "complete"


def test_a_since_in_the_future_is_out_of_range_and_until_is_capped(client: DapClient) -> None:
    response = client.post(
        "/dap/query/canvas/table/users/data", {"format": "jsonl", "since": "2030-01-01T00:00:00Z"}
    )
    assert response.json()["error"]["type"] == "OutOfRangeError"
    job, _ = client.records(
        "canvas", "users", {"since": "2025-08-31T00:00:00Z", "until": "2030-01-01T00:00:00Z"}
    )
    assert job["until"] == "2025-09-01T00:00:00.000Z"
    response = client.post(
        "/dap/query/canvas/table/users/data",
        {"format": "jsonl", "since": "2025-08-31T00:00:00Z", "until": "2025-08-30T00:00:00Z"},
    )
    assert response.json()["error"]["type"] == "ValidationError"
