"""Rate limits: 429 with Retry-After past the per-endpoint budget, none for a paced client."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import pytest
from dap_sim.testing import SimServer
from sim_client import DapClient

WINDOW = 1.5  # seconds: a short window keeps the test fast; the counts are the real ones


def _start(client: DapClient, table: str) -> int:
    response = client.post(f"/dap/query/canvas/table/{table}/data", {"format": "jsonl"})
    return response.status_code


@pytest.fixture
def limited(dap_sim_factory: Callable[..., SimServer]) -> tuple[SimServer, DapClient]:
    sim = dap_sim_factory(rate_limit_factor=1, rate_limit_window=WINDOW)
    return sim, DapClient(sim.base_url, sim.client_id, sim.client_secret)


def test_create_job_allows_five_per_window_per_table(limited: tuple[SimServer, DapClient]) -> None:
    sim, client = limited
    assert {_start(client, "users") for _ in range(5)} <= {200, 202}
    response = client.post("/dap/query/canvas/table/users/data", {"format": "jsonl"})
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 2
    error = response.json()["error"]
    assert error["type"] == "TooManyRequests"
    assert "users" in error["message"]
    assert _start(client, "accounts") in (200, 202), "another table has its own budget"
    time.sleep(retry_after)
    assert _start(client, "users") in (200, 202)
    stats = sim.stats()
    assert stats["rate_limited"] == 1
    assert stats["responses"]["429"] == 1


def test_create_job_limit_can_count_per_account(dap_sim_factory: Callable[..., SimServer]) -> None:
    sim = dap_sim_factory(
        rate_limit_factor=1, rate_limit_window=WINDOW, create_job_limit_per="account"
    )
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    tables = ["users", "courses", "accounts", "roles", "wikis", "groups"]
    assert [_start(client, t) for t in tables][-1] == 429


def test_list_tables_allows_five_per_window(limited: tuple[SimServer, DapClient]) -> None:
    _, client = limited
    codes = [client.get("/dap/query/canvas/table").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]


def test_a_factor_scales_the_limits(dap_sim_factory: Callable[..., SimServer]) -> None:
    sim = dap_sim_factory(rate_limit_factor=0.01, rate_limit_window=WINDOW)
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    job = client.start_job("canvas", "users", {"format": "jsonl"})
    codes = [client.get(f"/dap/job/{job['id']}").status_code for _ in range(6)]
    assert codes[-1] == 429, "get job: 500 per window scaled to 5"
    assert 429 not in codes[:5]


def test_a_compliant_client_draws_no_429(limited: tuple[SimServer, DapClient]) -> None:
    sim, client = limited
    sent: deque[float] = deque()
    for index in range(12):
        if len(sent) == 5:
            time.sleep(max(0.0, sent.popleft() + WINDOW + 0.05 - time.monotonic()))
        sent.append(time.monotonic())
        assert _start(client, "users") in (200, 202), f"request {index}"
    assert sim.stats()["rate_limited"] == 0


def test_limits_are_off_at_factor_zero(dap_sim: SimServer) -> None:
    client = DapClient(dap_sim.base_url, dap_sim.client_id, dap_sim.client_secret)
    assert {_start(client, "users") for _ in range(20)} <= {200, 202}
    assert dap_sim.stats()["rate_limited"] == 0
