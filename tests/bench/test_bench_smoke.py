"""`make bench --quick` with only our tools: the harness runs, measures and reports.

No official client, no target-postgres and no `meltano run` (their installs take minutes,
and the end-to-end tests install Meltano's plugins at the same time); scenarios 1-4 on a
small dataset through the plain pipe, into PostgreSQL, DuckDB and MariaDB, so CI proves the
harness works. Speed itself is not asserted here.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MYSQL_ADMIN_URL, PG_ADMIN_URL

REPO = Path(__file__).resolve().parents[2]


def _quick_bench(out: Path, scenarios: str, mysql_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--rows", "3000", "--scenarios", scenarios,
         "--no-official", "--no-target-postgres", "--no-meltano", "--postgres", PG_ADMIN_URL,
         "--mysql", mysql_url, "--sim-cache", "", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_quick_bench_measures_our_tools(
    postgres_url: str, mariadb_url: str, tmp_path: Path
) -> None:
    # postgres_url, mariadb_url: skip locally, fail under CI, when a server is down; the
    # harness creates and drops its own databases through the admin URLs
    out = tmp_path / "results"
    done = _quick_bench(out, "1,2,3,4", MYSQL_ADMIN_URL)
    assert "== scenario 4 done" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "latest.json").read_text())
    failed = [r for r in results["results"] if r["note"].startswith("failed")]
    assert not failed, failed
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    if importlib.util.find_spec("matplotlib"):  # a bench-only dependency (`make bench`)
        assert (out / "latest.png").stat().st_size > 1000
    else:
        assert "no chart: matplotlib is not installed" in done.stdout
    rows = {(r["scenario"], r["tool"]): r for r in results["results"]}

    record = rows[("1 tap alone", "tap-dap (RECORD) > /dev/null")]
    assert record["rows"] == 3000
    assert record["rows_per_s"] > 0
    assert record["peak_rss_mb"]["tap-dap"] > 10
    assert record["cpu_s"] > 0
    for encoding in ("jsonl.gz", "parquet", "parquet.gz"):
        batch = rows[("1 tap alone", f"tap-dap (BATCH {encoding}) > /dev/null")]
        assert batch["rows"] == 3000
        assert batch["cpu_s"] > 0
        assert "files " in batch["note"], batch["note"]  # the bytes it wrote

    for database in ("PostgreSQL", "DuckDB", "MariaDB"):
        target = rows[("2 target alone", f"target-dap-sql < file -> {database}")]
        assert target["note"] == "", target["note"]  # no row-count mismatch, no failure
        assert target["peak_rss_mb"]["target-dap-sql"] > 10
        parquet = rows[("2 target alone", f"target-dap-sql < file (BATCH parquet) -> {database}")]
        assert parquet["note"] == "", parquet["note"]

    initial = rows[("3 initial load", "tap-dap | target-dap-sql")]
    assert initial["rows"] == 3000
    assert initial["note"] == "", initial["note"]
    floor = rows[("3 initial load", "PostgreSQL COPY (floor)")]
    assert floor["rows_per_s"] > 0
    assert initial["vs_floor"] == pytest.approx(initial["rows_per_s"] / floor["rows_per_s"], 0.01)

    mariadb = rows[("3 initial load, MariaDB", "tap-dap | target-dap-sql")]
    assert mariadb["rows"] == 3000
    assert mariadb["note"] == "", mariadb["note"]  # the rows of the snapshot, all live
    mariadb_floor = rows[("3 initial load, MariaDB", "MariaDB LOAD DATA (floor)")]
    assert mariadb["vs_floor"] == pytest.approx(
        mariadb["rows_per_s"] / mariadb_floor["rows_per_s"], 0.01
    )
    assert mariadb["peak_rss_mb"]["target-dap-sql"] > 10

    batched = rows[("3 initial load", "tap-dap (BATCH jsonl.gz) | target-dap-sql")]
    assert batched["note"] == "", batched["note"]
    for scenario in ("3 initial load", "3 initial load, MariaDB"):
        parquet = rows[(scenario, "tap-dap (BATCH parquet) | target-dap-sql")]
        assert parquet["note"] == "", parquet["note"]

    increment = rows[("4 increment", "tap-dap | target-dap-sql")]
    # about 10% updated + 1% deleted + the sim's own changes of one epoch
    assert 300 < increment["rows"] < 600, increment
    assert "asked for a job" not in increment["note"], increment["note"]
    assert increment["wall_s"] > 0
    # plain SQL's increment applies the rows the pipe's increment changed: the same live rows
    floor = rows[("4 increment", "PostgreSQL increment (floor)")]
    assert floor["rows"] == increment["rows"]
    assert "live rows" not in floor["note"] + increment["note"], floor["note"]
    assert "rows in the database" not in floor["note"], floor["note"]  # all changes exported
    assert increment["vs_floor"] == pytest.approx(
        increment["rows_per_s"] / floor["rows_per_s"], 0.01
    )
    table = [line for line in done.stdout.splitlines() if line.startswith("4 increment ")]
    assert len(table) == 2, done.stdout  # the table is printed, one row per result

    again = subprocess.run(
        [sys.executable, "-m", "bench", "--render", str(out / "latest.json")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(line in again.stdout for line in table)  # the same rows, again from the JSON


def test_mariadb_rows_fail_when_the_server_is_down(postgres_url: str, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = _quick_bench(tmp_path / "results", "2", f"mysql://root:s3cret@127.0.0.1:{port}")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "results" / "latest.json").read_text())["results"]
    notes = {r["tool"]: r["note"] for r in results}
    assert notes["target-dap-sql < file -> PostgreSQL"] == ""
    mariadb = notes["target-dap-sql < file -> MariaDB"]  # the row is there, saying why
    assert mariadb.startswith(f"failed: cannot connect to MariaDB at 127.0.0.1:{port}"), mariadb
    assert "--no-mariadb" in mariadb
    assert "s3cret" not in done.stdout + done.stderr
