"""A minimal DAP API client for the simulator's tests, written from the API description.

It shares no code with dap-sim: tests must catch the simulator's mistakes, not repeat them.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class DapClient:
    base_url: str
    client_id: str
    client_secret: str
    session: requests.Session = field(default_factory=requests.Session)
    token: str | None = None

    def login(self) -> dict[str, Any]:
        response = self.session.post(
            f"{self.base_url}/ids/auth/login",
            auth=(self.client_id, self.client_secret),
            data={"grant_type": "client_credentials"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self.token = body["access_token"]
        return body

    def _headers(self) -> dict[str, str]:
        if self.token is None:
            self.login()
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", headers=self._headers(), timeout=60)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(
            f"{self.base_url}{path}", json=body, headers=self._headers(), timeout=60
        )

    def start_job(self, namespace: str, table: str, query: dict[str, Any]) -> dict[str, Any]:
        response = self.post(f"/dap/query/{namespace}/table/{table}/data", query)
        assert response.status_code in (200, 202), response.text
        job: dict[str, Any] = response.json()
        return job

    def wait(self, job: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while job["status"] not in ("complete", "failed"):
            assert time.monotonic() < deadline, f"job {job['id']} still {job['status']}"
            time.sleep(0.05)
            response = self.get(f"/dap/job/{job['id']}")
            assert response.status_code in (200, 202), response.text
            job = response.json()
        return job

    def urls(self, job: dict[str, Any]) -> list[str]:
        objects = [{"id": o["id"]} for o in job["objects"]]
        response = self.post("/dap/object/url", objects)
        assert response.status_code == 200, response.text
        urls = response.json()["urls"]
        return [urls[o["id"]]["url"] for o in objects]

    def download(self, url: str) -> bytes:
        response = requests.get(url, timeout=60)  # no bearer token: pre-signed
        assert response.status_code == 200, response.text
        assert "Content-Encoding" not in response.headers
        return gzip.decompress(response.content)

    def query(
        self, namespace: str, table: str, query: dict[str, Any]
    ) -> tuple[dict[str, Any], list[bytes]]:
        """Run a query to completion; the job and the decompressed files, in order."""
        job = self.wait(self.start_job(namespace, table, query))
        assert job["status"] == "complete", job
        return job, [self.download(url) for url in self.urls(job)]

    def records(
        self, namespace: str, table: str, query: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A JSONL query's job and its parsed lines."""
        job, files = self.query(namespace, table, {"format": "jsonl", **query})
        lines = [json.loads(line) for data in files for line in data.splitlines() if line]
        return job, lines


def apply(state: dict[Any, dict[str, Any]], lines: list[dict[str, Any]], key: str) -> None:
    """Apply JSONL records by key, as a replica does (deletes remove the row)."""
    for line in lines:
        identity = line["key"][key]
        if line["meta"].get("action") == "D":
            state.pop(identity, None)
        else:
            state[identity] = {key: identity, **line["value"]}


def take_new_defaults(
    state: dict[Any, dict[str, Any]], old: dict[str, Any], new: dict[str, Any]
) -> None:
    """What a replica does when a schema gains a column with a ``default`` (DAP's new
    required field): the rows it holds take the default. ``old`` and ``new`` are the
    column schemas (``properties``) before and after the change."""
    for column, node in new.items():
        if column not in old and "default" in node:
            for row in state.values():
                row[column] = node["default"]
