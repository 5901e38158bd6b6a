"""Injected faults: each kind fires as scripted, is counted, and the service recovers."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import requests
from dap_sim.testing import SimServer
from sim_client import DapClient


@pytest.fixture
def client(dap_sim: SimServer) -> DapClient:
    return DapClient(dap_sim.base_url, dap_sim.client_id, dap_sim.client_secret)


def _job(client: DapClient, table: str = "courses", **query: Any) -> dict[str, Any]:
    return client.wait(client.start_job("canvas", table, {"format": "jsonl", **query}))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_carry_a_processing_error(
    client: DapClient, dap_sim: SimServer, status: int
) -> None:
    dap_sim.inject({"kind": "http_error", "endpoint": "get_job", "status": status, "times": 2})
    job = client.start_job("canvas", "courses", {"format": "jsonl"})
    for _ in range(2):
        response = client.get(f"/dap/job/{job['id']}")
        assert response.status_code == status
        assert response.headers["Content-Type"] == "application/json"
        assert set(response.json()["error"]) == {"type", "uuid", "message"}
    assert client.get(f"/dap/job/{job['id']}").status_code in (200, 202)
    assert dap_sim.stats()["faults_fired"] == {"http_error": 2}


def test_gateway_timeout_has_only_a_message(client: DapClient, dap_sim: SimServer) -> None:
    dap_sim.inject({"kind": "http_error", "endpoint": "schema", "status": 504})
    response = client.get("/dap/query/canvas/table/users/schema")
    assert response.status_code == 504
    assert set(response.json()["error"]) == {"message"}


def test_a_429_burst_says_when_to_retry(client: DapClient, dap_sim: SimServer) -> None:
    dap_sim.inject({"kind": "rate_limit", "endpoint": "list_tables", "times": 3, "retry_after": 2})
    for _ in range(3):
        response = client.get("/dap/query/canvas/table")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2"
        assert response.json()["error"]["type"] == "TooManyRequests"
    assert client.get("/dap/query/canvas/table").status_code == 200
    stats = dap_sim.stats()
    assert stats["responses"]["429"] == 3
    assert stats["faults_fired"] == {"rate_limit": 3}
    assert stats["rate_limited"] == 0, "bursts are faults, not the rate limiter"


def test_a_connection_cut_mid_file(dap_sim_factory: Callable[..., SimServer]) -> None:
    sim = dap_sim_factory(rows_per_file=400)
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    job = _job(client, "submissions")
    first, second, *_ = client.urls(job)
    sim.inject({"kind": "cut_connection", "skip": 1, "after_bytes": 1000})
    assert client.download(first)  # the first download passes
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(second, timeout=10).content  # noqa: B018 - reading the body fails
    assert client.download(second), "the same URL works again"
    assert sim.stats()["faults_fired"] == {"cut_connection": 1}


def test_a_truncated_gzip_file(client: DapClient, dap_sim: SimServer) -> None:
    [url] = client.urls(_job(client, "submissions"))
    dap_sim.inject({"kind": "truncated_gzip", "after_bytes": 5000})
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert len(response.content) == 5000
    with pytest.raises((EOFError, zlib.error, gzip.BadGzipFile)):
        gzip.decompress(response.content)
    assert client.download(url)


def test_expired_urls(client: DapClient, dap_sim: SimServer) -> None:
    job = _job(client)
    dap_sim.inject({"kind": "expired_url"})
    [url] = client.urls(job)
    response = requests.get(url, timeout=10)
    assert response.status_code == 403
    assert "expired" in response.json()["error"]["message"]
    [url] = client.urls(job)
    assert client.download(url)


def test_a_failed_job(client: DapClient, dap_sim: SimServer) -> None:
    dap_sim.inject({"kind": "job_failed", "table": "courses"})
    assert _job(client, "users")["status"] == "complete"
    job = _job(client, "courses")
    assert job["status"] == "failed"
    assert set(job) == {"id", "status", "expires_at", "error"}
    assert set(job["error"]) == {"type", "uuid", "message"}
    assert job["id"] in job["error"]["message"]
    retry = _job(client, "courses")
    assert retry["id"] != job["id"]
    assert retry["status"] == "complete"


def test_an_expired_token(client: DapClient, dap_sim: SimServer) -> None:
    client.login()
    dap_sim.inject({"kind": "token_expired", "endpoint": "list_tables"})
    response = client.get("/dap/query/canvas/table")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"type", "uuid", "message"}
    assert client.get("/dap/query/canvas/table/users/schema").status_code == 401
    client.login()
    assert client.get("/dap/query/canvas/table").status_code == 200


def test_a_job_that_expires_while_its_files_download(
    dap_sim_factory: Callable[..., SimServer],
) -> None:
    sim = dap_sim_factory(rows_per_file=400)
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    job = _job(client, "submissions")
    first, second, *_ = client.urls(job)
    sim.inject({"kind": "job_expires"})
    assert client.download(first), "the download in flight completes"
    assert requests.get(second, timeout=10).status_code == 404
    assert client.get(f"/dap/job/{job['id']}").status_code == 404
    assert client.post("/dap/object/url", [{"id": job["objects"][0]["id"]}]).status_code == 404


def test_snapshot_required_on_demand(client: DapClient, dap_sim: SimServer) -> None:
    snapshot = _job(client, "users")
    dap_sim.inject({"kind": "snapshot_required", "table": "canvas.users"})
    response = client.post(
        "/dap/query/canvas/table/users/data", {"format": "jsonl", "since": snapshot["at"]}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "SnapshotRequiredError"


def test_random_faults_repeat_for_a_seed(dap_sim_factory: Callable[..., SimServer]) -> None:
    def statuses(seed: int) -> list[int]:
        """Login then list tables, 20 times; 0 where the login failed."""
        sim = dap_sim_factory(fault_rate=0.4, fault_seed=seed)
        seen = []
        for _ in range(20):
            login = requests.post(
                f"{sim.base_url}/ids/auth/login",
                auth=(sim.client_id, sim.client_secret),
                data={"grant_type": "client_credentials"},
                timeout=10,
            )
            seen.append(login.status_code)
            if login.status_code != 200:
                seen.append(0)
                continue
            token = login.json()["access_token"]
            tables = requests.get(
                f"{sim.base_url}/dap/query/canvas/table",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            seen.append(tables.status_code)
        return seen

    first, again, other = statuses(1), statuses(1), statuses(2)
    assert first == again
    assert first != other
    assert 200 in first
    assert {429, 401, 500, 502, 503, 504} & set(first)


def test_faults_scripted_at_start(dap_sim_factory: Callable[..., SimServer]) -> None:
    sim = dap_sim_factory(
        in_subprocess=True,
        faults=[{"kind": "http_error", "endpoint": "list_tables", "status": 502}],
    )
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    assert client.get("/dap/query/canvas/table").status_code == 502
    assert client.get("/dap/query/canvas/table").status_code == 200


def test_a_malformed_fault_is_refused(dap_sim: SimServer) -> None:
    for fault in ({"kind": "meteor"}, {"kind": "cut_connection", "endpoint": "login"}):
        response = requests.post(f"{dap_sim.base_url}/_sim/faults", json=fault, timeout=10)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "ValidationError"
    assert dap_sim.pending_faults() == []
