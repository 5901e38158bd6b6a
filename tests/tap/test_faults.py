"""Every fault dap-sim can inject: the run still ends with exactly the true rows, or fails
naming what failed while the other tables are emitted in full."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dap_sim.testing import SimServer
from tap_harness import Replica, batch_config, final_records_equal_truth, run_tap, sim_config

TABLES = ["accounts", "submissions"]
STREAMS = ["canvas-accounts", "canvas-submissions"]
SUBMISSIONS = "canvas.submissions"

FAULTS: dict[str, list[dict[str, Any]]] = {
    "login 503": [{"kind": "http_error", "endpoint": "login", "status": 503, "times": 2}],
    "list_tables 500": [{"kind": "http_error", "endpoint": "list_tables", "status": 500}],
    "schema 502": [{"kind": "http_error", "endpoint": "schema", "status": 502, "times": 2}],
    "create_job 504": [{"kind": "http_error", "endpoint": "create_job", "status": 504}],
    "get_job 503": [{"kind": "http_error", "endpoint": "get_job", "status": 503, "times": 3}],
    "object_urls 500": [{"kind": "http_error", "endpoint": "object_urls", "status": 500}],
    "download 503": [{"kind": "http_error", "endpoint": "download", "status": 503, "times": 2}],
    "429 burst": [{"kind": "rate_limit", "endpoint": "*", "times": 4, "retry_after": 1}],
    "429 on downloads": [{"kind": "rate_limit", "endpoint": "download", "times": 2}],
    "token expired": [{"kind": "token_expired", "endpoint": "get_job", "times": 1}],
    "job failed once": [{"kind": "job_failed", "table": SUBMISSIONS, "times": 1}],
    "expired url": [{"kind": "expired_url", "times": 2}],
    "cut connection": [
        {"kind": "cut_connection", "table": SUBMISSIONS, "skip": 1, "after_bytes": 20_000}
    ],
    "cut twice": [
        {"kind": "cut_connection", "table": SUBMISSIONS, "after_bytes": 5000, "times": 2}
    ],
    "truncated gzip": [{"kind": "truncated_gzip", "table": SUBMISSIONS, "skip": 2}],
    "job expires mid-download": [{"kind": "job_expires", "table": SUBMISSIONS, "skip": 1}],
}


@pytest.fixture
def sim(dap_sim_factory: Callable[..., SimServer]) -> SimServer:
    return dap_sim_factory(rows_per_file=400)  # several files per job


#: Faults of the files themselves, which BATCH mode reads its own way.
FILE_FAULTS = ("cut connection", "cut twice", "truncated gzip", "job expires mid-download")


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
def test_the_run_recovers_from(
    sim: SimServer, tmp_path: Path, faults: list[dict[str, Any]]
) -> None:
    recovers(sim, tmp_path, faults)


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
@pytest.mark.parametrize("fault", FILE_FAULTS)
def test_batch_mode_recovers_from(
    sim: SimServer, tmp_path: Path, fault: str, file_format: str
) -> None:
    settings = batch_config(tmp_path / "batches", file_format=file_format)
    recovers(sim, tmp_path, FAULTS[fault], batch_config=settings)


def recovers(sim: SimServer, tmp_path: Path, faults: list[dict[str, Any]], **settings: Any) -> None:
    """The run recovers from `faults`: every row arrives, none twice."""
    sim.inject(*faults)
    run = run_tap(tmp_path, sim_config(sim, tables=TABLES, max_retries=4, **settings))
    stats = sim.stats()
    assert sum(stats["faults_fired"].values()) >= 1, f"no fault fired: {sim.pending_faults()}"
    replica = Replica().apply(run)
    for stream in STREAMS:
        final_records_equal_truth(replica, sim, stream)
        assert "job" not in run.bookmark(stream)
    if "starting the table's job over" not in run.stderr:  # a new job re-sends its rows
        keys = [record["id"] for record in run.records("canvas-submissions")]
        assert len(keys) == len(set(keys)), "a record was emitted twice"


def test_a_job_that_keeps_failing_fails_its_table_only(sim: SimServer, tmp_path: Path) -> None:
    sim.inject({"kind": "job_failed", "table": SUBMISSIONS, "times": 10})
    config = sim_config(sim, tables=["accounts", "submissions", "users"], job_retries=2)
    run = run_tap(tmp_path / "0", config, check=False)
    assert run.returncode == 1
    (line,) = [line for line in run.stderr.splitlines() if "1 of 3 table(s) failed" in line]
    assert "canvas-submissions: DAP job" in line
    assert "error uuid" in line
    assert "after 3 attempt(s)" in line
    replica = Replica().apply(run)
    for stream in ("canvas-accounts", "canvas-users"):
        final_records_equal_truth(replica, sim, stream)
    assert "replication_key_value" not in run.state["bookmarks"].get("canvas-submissions", {})
    # the next run, more patient than the 7 firings left, catches the table up (the
    # client-side create-job limit, DAP's 5 a minute per table, would hold it a minute)
    patient = {**config, "job_retries": 10, "rate_limits": {"create_job": 60}}
    again = run_tap(tmp_path / "1", patient, state=run.state)
    replica.apply(again)
    for stream in ("canvas-accounts", "canvas-users", "canvas-submissions"):
        final_records_equal_truth(replica, sim, stream)


@pytest.mark.parametrize("cause", ["table reloaded", "injected fault"])
def test_snapshot_required_takes_a_new_snapshot_and_activates_it(
    sim: SimServer, tmp_path: Path, cause: str
) -> None:
    config = sim_config(sim, tables=TABLES)
    first = run_tap(tmp_path / "0", config)
    replica = Replica().apply(first)
    if cause == "table reloaded":
        sim.advance(reload=[SUBMISSIONS])
    else:
        sim.advance()
        sim.inject({"kind": "snapshot_required", "table": SUBMISSIONS})
    second = run_tap(tmp_path / "1", config, state=first.state)
    assert "taking a new snapshot instead" in second.stderr
    (activate,) = second.of_type("ACTIVATE_VERSION", "canvas-submissions")
    assert activate["version"] > first.bookmark("canvas-submissions")["table_version"]
    assert second.bookmark("canvas-submissions")["table_version"] == activate["version"]
    assert not second.of_type("ACTIVATE_VERSION", "canvas-accounts")
    replica.apply(second)
    for stream in STREAMS:
        final_records_equal_truth(replica, sim, stream)


def test_snapshot_required_can_fail_the_table_instead(sim: SimServer, tmp_path: Path) -> None:
    config = sim_config(sim, tables=TABLES, on_snapshot_required="fail")
    first = run_tap(tmp_path / "0", config)
    sim.advance(reload=[SUBMISSIONS])
    second = run_tap(tmp_path / "1", config, state=first.state, check=False)
    assert second.returncode == 1
    assert "canvas-submissions: DAP needs a new snapshot" in second.stderr
    assert "set on_snapshot_required to 'snapshot'" in second.stderr
    assert second.records("canvas-accounts") is not None
    assert (
        second.bookmark("canvas-submissions")["replication_key_value"]
        == first.bookmark("canvas-submissions")["replication_key_value"]
    )


def test_a_bookmark_older_than_the_retention_gets_a_new_snapshot(
    sim: SimServer, tmp_path: Path
) -> None:
    stream = "canvas_logs-web_logs"
    config = sim_config(sim, namespace="canvas_logs")
    old = {"replication_key": "_dap_ts", "replication_key_value": "2020-01-01T00:00:00.000Z"}
    run = run_tap(tmp_path, config, state={"bookmarks": {stream: old}})
    assert "OutOfRange" in run.stderr
    assert run.of_type("ACTIVATE_VERSION", stream)
    assert run.bookmark(stream)["replication_key_value"] > old["replication_key_value"]
    final_records_equal_truth(Replica().apply(run), sim, stream)


def test_a_table_whose_submission_is_retried_holds_back_no_other(
    sim: SimServer, tmp_path: Path
) -> None:
    sim.inject({"kind": "http_error", "endpoint": "create_job", "table": "accounts", "times": 3})
    run = run_tap(tmp_path, sim_config(sim, tables=["accounts", "users"]))
    submitted = [line for line in run.stderr.splitlines() if "job" in line and "submitted" in line]
    assert "canvas-users" in submitted[0], submitted  # users' job went first
    replica = Replica().apply(run)
    for stream in ("canvas-accounts", "canvas-users"):
        final_records_equal_truth(replica, sim, stream)
