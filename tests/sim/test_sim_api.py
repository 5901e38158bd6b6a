"""Each endpoint of the DAP Query API as the simulator serves it: shapes, codes, errors."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from dap_sim import catalog
from dap_sim.testing import SimServer
from sim_client import DapClient

ERROR_FIELDS = {"type", "uuid", "message"}


@pytest.fixture
def client(dap_sim: SimServer) -> DapClient:
    return DapClient(dap_sim.base_url, dap_sim.client_id, dap_sim.client_secret)


def _error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    return error


# -- authentication ----------------------------------------------------------------------


def test_login_returns_exactly_the_token_properties_with_a_jwt(client: DapClient) -> None:
    body = client.login()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["token_type"] == "Bearer"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert isinstance(claims["exp"], int)
    assert claims["exp"] - time.time() == pytest.approx(body["expires_in"], abs=5)


@pytest.mark.parametrize(
    "auth", [("us-east-1#dap-sim", "wrong"), ("someone-else", "x"), None], ids=str
)
def test_login_with_bad_or_missing_credentials_is_401(
    dap_sim: SimServer, auth: tuple[str, str] | None
) -> None:
    response = requests.post(
        f"{dap_sim.base_url}/ids/auth/login",
        auth=auth,
        data={"grant_type": "client_credentials"},
        timeout=10,
    )
    error = _error(response, 401)
    assert set(error) == ERROR_FIELDS
    assert dap_sim.client_secret not in response.text


def test_api_calls_need_a_valid_bearer_token(dap_sim: SimServer) -> None:
    url = f"{dap_sim.base_url}/dap/query/canvas/table"
    assert set(_error(requests.get(url, timeout=10), 401)) == ERROR_FIELDS
    bad = {"Authorization": "Bearer not-a-token"}
    assert set(_error(requests.get(url, headers=bad, timeout=10), 401)) == ERROR_FIELDS


def test_an_expired_token_is_refused_and_a_new_login_works(
    dap_sim_factory: Callable[..., SimServer],
) -> None:
    sim = dap_sim_factory(token_ttl=1)
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    assert client.login()["expires_in"] == 1
    assert client.get("/dap/query/canvas/table").status_code == 200
    time.sleep(2.1)
    error = _error(client.get("/dap/query/canvas/table"), 401)
    assert "expired" in error["message"]
    client.login()
    assert client.get("/dap/query/canvas/table").status_code == 200


# -- tables and schemas ------------------------------------------------------------------


def test_table_lists(client: DapClient) -> None:
    canvas = client.get("/dap/query/canvas/table").json()
    assert canvas == {"tables": list(catalog.table_names("canvas"))}
    assert len(canvas["tables"]) == 90
    assert client.get("/dap/query/canvas_logs/table").json() == {"tables": ["web_logs"]}
    error = _error(client.get("/dap/query/nope/table"), 404)
    assert (error["kind"], error["id"]) == ("namespace", "nope")


@pytest.mark.parametrize(
    ("namespace", "table", "key"),
    [("canvas", "courses", "id"), ("canvas", "enrollment_states", "enrollment_id")],
)
def test_schema_is_served_in_the_live_envelope(
    client: DapClient, namespace: str, table: str, key: str
) -> None:
    body = client.get(f"/dap/query/{namespace}/table/{table}/schema").json()
    assert set(body) == {"schema", "version"}
    assert body["version"] == 1
    schema = body["schema"]
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["required"] == ["key"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"meta", "key", "value"}
    assert list(schema["properties"]["key"]["properties"]) == [key]
    value = schema["properties"]["value"]
    assert key not in value["properties"]
    assert value["additionalProperties"] is False
    flat = catalog.reference_schema(namespace, table)
    assert set(value["properties"]) | {key} == set(flat["properties"])
    assert set(value["required"]) | {key} == set(flat["required"])
    meta = schema["properties"]["meta"]["properties"]
    assert meta["ts"]["format"] == "date-time"
    assert meta["action"]["enum"] == ["U", "D"]


def test_shared_types_are_resolvable_definitions(client: DapClient) -> None:
    schema = client.get("/dap/query/canvas_logs/table/web_logs/schema").json()["schema"]
    remote_ip = schema["properties"]["value"]["properties"]["remote_ip"]
    refs = [option["$ref"] for option in remote_ip["oneOf"]]
    assert refs == ["#/definitions/IPv4Address", "#/definitions/IPv6Address"]
    assert schema["definitions"]["IPv4Address"]["format"] == "ipv4"
    assert schema["definitions"]["IPv6Address"]["format"] == "ipv6"


def test_unknown_table_is_404_with_kind_and_id(client: DapClient) -> None:
    for path in ("/dap/query/canvas/table/nope/schema", "/dap/query/canvas/table/nope/data"):
        response = client.get(path) if path.endswith("schema") else client.post(path, {})
        error = _error(response, 404)
        assert set(error) == ERROR_FIELDS | {"id", "kind"}
        assert (error["kind"], error["id"]) == ("table", "nope")


# -- jobs --------------------------------------------------------------------------------


def test_job_goes_waiting_running_complete(dap_sim_factory: Callable[..., SimServer]) -> None:
    # a job waits for a third of its latency: 1.5 s of 4.5, room for a slow answer on a
    # machine busy with other tests (at 1.5 s latency CI once saw "running" first)
    sim = dap_sim_factory(job_latency=4.5)
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    response = client.post("/dap/query/canvas/table/accounts/data", {"format": "jsonl"})
    assert response.status_code == 202
    job = response.json()
    assert set(job) == {"id", "status", "expires_at"}
    assert job["expires_at"].endswith("Z")
    seen = [job["status"]]
    while job["status"] != "complete":
        time.sleep(0.1)
        response = client.get(f"/dap/job/{job['id']}")
        job = response.json()
        assert response.status_code == (200 if job["status"] == "complete" else 202)
        seen.append(job["status"])
    assert seen[0] == "waiting"
    assert "running" in seen
    assert set(job) == {"id", "status", "expires_at", "objects", "schema_version", "at"}
    assert job["at"] == "2025-09-01T00:00:00.000Z"


def test_the_same_query_returns_the_same_job_until_the_epoch_moves(
    client: DapClient, dap_sim: SimServer
) -> None:
    query = {"format": "jsonl"}
    first = client.start_job("canvas", "users", query)
    assert client.start_job("canvas", "users", query)["id"] == first["id"]
    assert client.start_job("canvas", "users", {"format": "tsv"})["id"] != first["id"]
    assert client.start_job("canvas", "courses", query)["id"] != first["id"]
    dap_sim.advance(schema_changes=[])
    assert client.start_job("canvas", "users", query)["id"] != first["id"]


def test_incremental_job_carries_since_and_until(client: DapClient, dap_sim: SimServer) -> None:
    snapshot, _ = client.records("canvas", "users", {})
    dap_sim.advance(schema_changes=[])
    job, lines = client.records("canvas", "users", {"since": snapshot["at"]})
    assert set(job) == {"id", "status", "expires_at", "objects", "schema_version", "since", "until"}
    assert job["since"] == snapshot["at"]
    assert job["until"] == "2025-09-01T04:00:00.000Z"
    assert lines
    assert all(snapshot["at"] < line["meta"]["ts"] <= job["until"] for line in lines)
    # microseconds and offsets are accepted, as the official client sends them
    job = client.wait(
        client.start_job(
            "canvas", "users", {"format": "jsonl", "since": "2025-09-01T00:00:00.000000+00:00"}
        )
    )
    assert job["since"] == snapshot["at"]


def test_expired_job_is_404(dap_sim_factory: Callable[..., SimServer]) -> None:
    sim = dap_sim_factory(job_ttl=1)
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    job = client.wait(client.start_job("canvas", "roles", {"format": "jsonl"}))
    time.sleep(1.2)
    error = _error(client.get(f"/dap/job/{job['id']}"), 404)
    assert (error["kind"], error["id"]) == ("job", job["id"])
    error = _error(client.post("/dap/object/url", [{"id": job["objects"][0]["id"]}]), 404)
    assert error["kind"] == "object"
    assert _error(client.get("/dap/job/no-such-job"), 404)["id"] == "no-such-job"
    job_files = sim.data_dir / "jobs" / job["id"]
    assert job_files.is_dir()
    client.start_job("canvas", "roles", {"format": "tsv"})
    assert not job_files.exists(), "expired jobs' files are deleted"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"format": "xml"}, "format"),
        ({"format": "parquet"}, "parquet"),
        ({}, "format"),
        ({"format": "jsonl", "mode": "flat"}, "mode"),
        ({"format": "jsonl", "since": "2025-09-01T00:00:00"}, "since"),
        ({"format": "jsonl", "until": "2025-09-01T00:00:00Z"}, "until"),
        ({"format": "jsonl", "limit": 5}, "limit"),
    ],
)
def test_malformed_queries_are_validation_errors_with_a_location(
    client: DapClient, body: dict[str, Any], needle: str
) -> None:
    error = _error(client.post("/dap/query/canvas/table/users/data", body), 400)
    assert error["type"] == "ValidationError"
    assert set(error) == ERROR_FIELDS | {"location"}
    assert set(error["location"]) == {"line", "column", "character"}
    assert needle in error["message"] or error["location"]["character"] >= 1


def test_invalid_json_body_is_located(dap_sim: SimServer, client: DapClient) -> None:
    response = client.session.post(
        f"{dap_sim.base_url}/dap/query/canvas/table/users/data",
        data='{"format":\n "jsonl",,}',
        headers={"Authorization": f"Bearer {client.login()['access_token']}"},
        timeout=10,
    )
    location = _error(response, 400)["location"]
    assert (location["line"], location["column"]) == (2, 10)


# -- objects and files -------------------------------------------------------------------


def test_large_tables_come_as_several_gzip_files(dap_sim_factory: Callable[..., SimServer]) -> None:
    sim = dap_sim_factory(rows_per_file=300)
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    job, files = client.query("canvas", "submissions", {"format": "jsonl"})
    assert len(job["objects"]) >= 6
    assert sum(len(data.splitlines()) for data in files) == len(sim.dump("canvas", "submissions"))
    assert all(len(data.splitlines()) <= 300 for data in files)


def test_object_urls_are_presigned_and_expire(dap_sim_factory: Callable[..., SimServer]) -> None:
    sim = dap_sim_factory(url_ttl=1)
    client = DapClient(sim.base_url, sim.client_id, sim.client_secret)
    job = client.wait(client.start_job("canvas", "roles", {"format": "tsv"}))
    [url] = client.urls(job)
    assert url.startswith("http://")
    assert url.split("?")[0].endswith(".tsv.gz")
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in response.headers
    assert gzip.decompress(response.content).startswith(b"meta.ts\tkey.id\t")
    time.sleep(2.1)
    assert requests.get(url, timeout=10).status_code == 403
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403
    tampered = url.replace(url.split("/")[-1].split("?")[0], "part-99999-000.tsv.gz")
    assert requests.get(tampered, timeout=10).status_code == 403


def test_downloads_serve_byte_ranges(client: DapClient) -> None:
    job = client.wait(client.start_job("canvas", "courses", {"format": "jsonl"}))
    [url] = client.urls(job)
    whole = requests.get(url, timeout=10).content
    part = requests.get(url, headers={"Range": "bytes=100-"}, timeout=10)
    assert part.status_code == 206
    assert part.content == whole[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"


def test_object_url_request_must_be_a_list_of_ids(client: DapClient) -> None:
    assert _error(client.post("/dap/object/url", {"id": "x"}), 400)["type"] == "ValidationError"
    error = _error(client.post("/dap/object/url", [{"id": "nope/part.gz"}]), 404)
    assert (error["kind"], error["id"]) == ("object", "nope/part.gz")


def test_every_api_response_is_json(dap_sim: SimServer, client: DapClient) -> None:
    responses = [
        client.get("/dap/query/canvas/table"),
        client.get("/dap/no/such/path"),
        client.post("/dap/query/canvas/table/users/data", {"format": "jsonl"}),
        requests.post(f"{dap_sim.base_url}/ids/auth/login", timeout=10),
    ]
    for response in responses:
        assert response.headers["Content-Type"] == "application/json"
