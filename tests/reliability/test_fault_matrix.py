"""Every fault dap-sim can inject, over a multi-table `meltano run tap-dap target-dap-sql`.

Each fault kind alone, then all of them mixed at random by a seed: the run succeeds, or
fails with a message naming the table and the next run succeeds; either way the tables end
equal to `dap-sim dump`, each key once. A table whose job keeps failing fails alone: the run
says which table and exits non-zero at the end, the other tables are loaded and their
bookmarks saved, and the next run catches the failed table up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dap_sim.testing import SimServer

from tests.e2e.meltano_harness import MeltanoProject
from tests.reliability.pipeline import (
    STREAMS,
    TABLES,
    LiveRun,
    assert_table_truth,
    bookmarks,
    current_position,
    run_to_end,
)
from tests.target.harness import Database

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("meltano_plugins")]

SETTINGS: dict[str, Any] = {"tap_dap_tables": TABLES}
SUBMISSIONS = "canvas.submissions"

# One entry per fault kind of dap-sim (dap_sim.faults.KINDS), each firing more than once.
FAULTS: dict[str, dict[str, Any]] = {
    "5xx answers": {"kind": "http_error", "status": 503, "times": 5},
    # on the endpoints with large budgets: a 429 on job creation also spends the tap's own
    # budget of 5 jobs a minute per table, and so costs the test a minute
    "429 storm": {"kind": "rate_limit", "endpoint": "get_job", "times": 8, "retry_after": 1},
    "token expired": {"kind": "token_expired", "times": 2},
    "failed job": {"kind": "job_failed", "table": SUBMISSIONS, "times": 2},
    "expired urls": {"kind": "expired_url", "times": 2},
    "cut connections": {
        "kind": "cut_connection",
        "table": SUBMISSIONS,
        "after_bytes": 5000,
        "times": 3,
    },
    "truncated gzip": {"kind": "truncated_gzip", "table": SUBMISSIONS, "skip": 1, "times": 2},
    "job expires mid-download": {"kind": "job_expires", "table": SUBMISSIONS, "skip": 1},
    # SnapshotRequired answers incremental queries only: fired in the increment run
    "snapshot required": {"kind": "snapshot_required", "table": SUBMISSIONS},
}
# A failed run must say which table failed, or which request, and never with a traceback only.
CLEAR_FAILURE = re.compile(r"canvas-\w+: |table\(s\) failed|DAP API|dap-sim")


@pytest.fixture
def sim(dap_sim_factory: Callable[..., SimServer]) -> SimServer:
    return dap_sim_factory(rows_per_file=400)  # several files for submissions


def project_for(sim: SimServer, tmp_path: Path) -> tuple[MeltanoProject, Database]:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return MeltanoProject(tmp_path, sim, url), Database(url)


def run_until_done(project: MeltanoProject, *, attempts: int = 2) -> list[str]:
    """Run; a failed run must say clearly what failed, and a later one must succeed."""
    outputs = []
    for _ in range(attempts):
        run = LiveRun(project, "tap-dap", "target-dap-sql", **SETTINGS)
        code = run.finish()
        outputs.append(run.output)
        if code == 0:
            return outputs
        errors = [line for line in run.lines if "[error" in line]
        assert any(CLEAR_FAILURE.search(line) for line in errors), "\n".join(errors[-30:])
    raise AssertionError(f"no run succeeded in {attempts}:\n{outputs[-1][-6000:]}")


def assert_caught_up(project: MeltanoProject, database: Database, sim: SimServer) -> None:
    schemas = project.discovered_schemas()
    assert_table_truth(database, sim, schemas, STREAMS)
    positions = {s: b.get("replication_key_value") for s, b in bookmarks(project).items()}
    assert positions == dict.fromkeys(STREAMS, current_position(sim))


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_run_with_one_kind_of_fault_ends_equal_to_the_truth(
    sim: SimServer, tmp_path: Path, fault: dict[str, Any]
) -> None:
    project, database = project_for(sim, tmp_path)
    if fault["kind"] == "snapshot_required":
        run_to_end(project, **SETTINGS)
        sim.advance(schema_changes=[])
    sim.inject(fault)
    outputs = run_until_done(project)
    fired = sim.stats()["faults_fired"]
    assert fired.get(fault["kind"], 0) >= 1, f"the fault never fired: {sim.pending_faults()}"
    if fault["kind"] == "snapshot_required":
        assert "taking a new snapshot instead" in outputs[-1]
    assert_caught_up(project, database, sim)


@pytest.mark.parametrize("seed", [2026])
def test_random_faults_of_every_kind_end_equal_to_the_truth(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path, seed: int
) -> None:
    sim = dap_sim_factory(rows_per_file=400, fault_seed=seed)
    project, database = project_for(sim, tmp_path)
    sim.set_options(fault_rate=0.15)
    outputs = run_until_done(project, attempts=3)
    sim.advance(schema_changes=None)  # the seed decides on schema changes too
    outputs += run_until_done(project, attempts=3)
    fired = sim.stats()["faults_fired"]
    assert sum(fired.values()) >= 5, fired
    assert len(fired) >= 3, f"too few kinds of faults fired: {fired}"
    sim.set_options(fault_rate=0.0)  # for the check's own discovery
    assert_caught_up(project, database, sim)


def test_a_table_that_keeps_failing_stops_no_other(sim: SimServer, tmp_path: Path) -> None:
    project, database = project_for(sim, tmp_path)
    attempts = 4  # the tap's default job_retries (3) plus the first
    sim.inject({"kind": "job_failed", "table": SUBMISSIONS, "times": attempts})
    run = LiveRun(project, "tap-dap", "target-dap-sql", **SETTINGS)
    assert run.finish() != 0
    (summary,) = [line for line in run.lines if "1 of 4 table(s) failed" in line]
    assert "canvas-submissions: DAP job" in summary
    assert f"after {attempts} attempt(s)" in summary
    saved = bookmarks(project)
    others = [stream for stream in STREAMS if stream != "canvas-submissions"]
    assert_table_truth(database, sim, project.discovered_schemas(), others)
    assert {s: saved[s].get("replication_key_value") for s in others} == dict.fromkeys(
        others, current_position(sim)
    )
    assert "replication_key_value" not in saved.get("canvas-submissions", {})
    run_to_end(project, **SETTINGS)
    assert_caught_up(project, database, sim)
