"""Schema versions, table reloads and retention: what makes a bookmark too old."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dap_sim.dataset import Dataset
from dap_sim.testing import SimServer
from sim_client import DapClient


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
    assert not _has_keyword(new, "default"), "DAP schemas carry no default"
    job, lines = client.records("canvas", "courses", {})
    assert job["schema_version"] == after["version"]
    for line in lines:
        assert set(line["value"]) <= set(new["properties"])
        assert set(new.get("required", [])) <= set(line["value"])


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
