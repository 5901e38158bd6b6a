"""The dap-sim command line: generate, advance, dump, serve."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import requests
from dap_sim.dataset import Dataset
from dap_sim.tables import dump
from sim_client import DapClient

DAP_SIM = str(Path(sys.executable).parent / "dap-sim")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DAP_SIM, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_generate_advance_dump(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run("generate", "--out", str(data), "--seed", "3", "--scale", "500")
    assert result.returncode == 0, result.stderr
    description = json.loads((data / "dataset.json").read_text())
    assert (description["seed"], description["scale"], description["epoch"]) == (3, 500, 0)
    assert description["tables"]["canvas"]["submissions"] == 500
    assert description["credentials"]["client_id"] == "us-east-1#dap-sim"

    result = run("advance", "--data", str(data), "--schema-change", "canvas.courses:add_column")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "epoch 1"
    assert "schema canvas.courses v2: add_column" in result.stdout
    result = run("advance", "--data", str(data), "--no-schema-change", "--reload", "users")
    assert result.stdout.strip() == "epoch 2"
    dataset = Dataset.load(data)
    assert dataset.reloads == [{"epoch": 2, "namespace": "canvas", "table": "users"}]

    result = run("dump", "--data", str(data), "--table", "courses")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows == dump(dataset, "canvas", "courses")
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_a_new_required_column_dumps_its_default_for_rows_written_before(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run("generate", "--out", str(data), "--scale", "500")
    before = {row["id"]: row for row in dump(Dataset.load(data), "canvas", "enrollments")}
    result = run(
        "advance", "--data", str(data),
        "--schema-change", "enrollments:add_required_column:enum",
        "--schema-change", "enrollments:add_required_column:integer",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "schema canvas.enrollments v2: add_required_column delivery_mode, " in result.stdout
    result = run("dump", "--data", str(data), "--table", "enrollments")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    unchanged = [r for r in rows if before.get(r["id"], {}).get("updated_at") == r["updated_at"]]
    assert unchanged
    assert {(r["delivery_mode"], r["retention_days"]) for r in unchanged} == {("on_campus", 365)}
    written = [r for r in rows if r not in unchanged]
    assert written
    assert any(r["delivery_mode"] != "on_campus" for r in written)
    assert any(r["retention_days"] != 365 for r in written)


def test_errors_name_what_is_wrong(tmp_path: Path) -> None:
    result = run("dump", "--data", str(tmp_path / "missing"), "--table", "courses")
    assert result.returncode == 2
    assert "dap-sim generate" in result.stderr
    run("generate", "--out", str(tmp_path / "d"), "--scale", "100")
    result = run("advance", "--data", str(tmp_path / "d"), "--schema-change", "canvas.nope")
    assert result.returncode == 2
    assert "unknown table canvas.nope" in result.stderr
    for change, message in [
        ("courses:add_colum", "unknown schema change kind 'add_colum'; known: add_column"),
        ("courses:add_required_column:date", "has no variant 'date'; its variants: integer"),
        ("courses:drop_column:enum", "schema change drop_column takes no variant"),
    ]:
        result = run("advance", "--data", str(tmp_path / "d"), "--schema-change", change)
        assert result.returncode == 2
        assert message in result.stderr


def test_serve_prints_its_url_and_follows_advance(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run("generate", "--out", str(data), "--scale", "500")
    server = subprocess.Popen(
        [DAP_SIM, "serve", "--data", str(data), "--job-latency", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        credentials = Dataset.load(data).credentials
        client = DapClient(base_url, credentials["client_id"], credentials["client_secret"])
        assert len(client.get("/dap/query/canvas/table").json()["tables"]) == 90
        snapshot, _ = client.records("canvas", "users", {})
        run("advance", "--data", str(data))
        assert requests.get(f"{base_url}/_sim/stats", timeout=10).json()["epoch"] == 1
        job, _ = client.records("canvas", "users", {"since": snapshot["at"]})
        assert job["until"] == "2025-09-01T04:00:00.000Z"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
