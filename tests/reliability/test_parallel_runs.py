"""Two `meltano run` at once in one project, one database and one state backend.

Table groups are the inherited plugins of meltano.yml (`tap-dap--canvas`,
`tap-dap--logs`); the state backend is Meltano's system database on PostgreSQL, shared by
both runs. Disjoint groups both succeed on PostgreSQL, each under its own state id. DuckDB
allows one writing process per file: the second run fails, saying so, and succeeds once the
first has ended. Two runs that load the same table at once never interleave their loads:
the same pipeline is refused by Meltano, and a second pipeline that reaches a table another
target is loading fails with a message that says so, leaving the table intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dap_sim.testing import SimServer

from tests.conftest import database_url_for
from tests.e2e.meltano_harness import MeltanoProject
from tests.reliability.pipeline import (
    LiveRun,
    assert_table_truth,
    blocked_sessions,
    bookmarks,
    current_position,
    holding_lock,
)
from tests.target.harness import Database

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("meltano_plugins")]

CANVAS_TABLES = ["accounts", "courses", "submissions"]
GROUPS: dict[str, dict[str, Any]] = {
    "tap-dap--canvas": {"tap_dap__canvas_tables": CANVAS_TABLES},
    "tap-dap--logs": {},  # the whole canvas_logs namespace: web_logs
}
STREAMS = {
    "tap-dap--canvas": [f"canvas-{table}" for table in CANVAS_TABLES],
    "tap-dap--logs": ["canvas_logs-web_logs"],
}


def shared_state_backend(postgres_url: str) -> dict[str, str]:
    """Meltano's system database in PostgreSQL: state every run of the project shares."""
    uri = postgres_url.replace("postgresql://", "postgresql+psycopg://")
    return {"MELTANO_DATABASE_URI": uri}


def start_groups(project: MeltanoProject, backend: dict[str, str]) -> dict[str, LiveRun]:
    return {
        group: LiveRun(project, group, "target-dap-sql", **settings, **backend)
        for group, settings in GROUPS.items()
    }


@pytest.fixture
def sim(dap_sim_factory: Callable[..., SimServer]) -> SimServer:
    return dap_sim_factory(rows_per_file=400)


def test_disjoint_table_groups_run_side_by_side_on_postgresql(
    sim: SimServer, postgres_url: str, tmp_path: Path
) -> None:
    project = MeltanoProject(tmp_path, sim, postgres_url)
    backend = shared_state_backend(postgres_url)
    project.meltano("state", "list", **backend)  # create the system database once, first
    schemas = project.discovered_schemas()
    logs = project.discovered_schemas("canvas_logs")
    for round_ in ("snapshot", "increment"):
        runs = start_groups(project, backend)
        for group, run in runs.items():
            assert run.finish() == 0, f"{round_}: {group} failed:\n{run.output[-5000:]}"
        database = Database(postgres_url)
        assert_table_truth(
            database, sim, {**schemas, **logs}, [s for g in STREAMS.values() for s in g]
        )
        for group, streams in STREAMS.items():
            saved = bookmarks(project, f"demo:{group}-to-target-dap-sql", **backend)
            assert sorted(saved) == streams, group  # each state id holds its own tables
            for stream in streams:
                assert saved[stream]["replication_key_value"] == current_position(sim)
        sim.advance(schema_changes=[])


def test_table_groups_into_one_duckdb_file_take_turns(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    # jobs take a while, so both targets have opened the file before either ends
    sim = dap_sim_factory(rows_per_file=400, job_latency=6.0)
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    project = MeltanoProject(tmp_path, sim, url)
    project.meltano("state", "list")  # create the system database once, before the race
    runs = start_groups(project, {})
    codes = {group: run.finish() for group, run in runs.items()}
    failed = [group for group, code in codes.items() if code != 0]
    assert len(failed) == 1, codes
    output = runs[failed[0]].output
    assert "cannot open DuckDB database" in output, output[-5000:]
    assert "another process is writing to it, and DuckDB allows one writing process" in output
    LiveRun(project, failed[0], "target-dap-sql", **GROUPS[failed[0]]).finish()
    schemas = {**project.discovered_schemas(), **project.discovered_schemas("canvas_logs")}
    assert_table_truth(Database(url), sim, schemas, [s for g in STREAMS.values() for s in g])


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])  # the servers with run locks
def test_two_runs_never_load_one_table_at_once(
    request: pytest.FixtureRequest, sim: SimServer, kind: str, tmp_path: Path
) -> None:
    """Two snapshots of canvas.submissions at once (each would sweep the other's rows):
    the second target to reach the table fails and says why; the table stays whole."""
    url = database_url_for(kind, request, tmp_path)
    project = MeltanoProject(tmp_path, sim, url)
    database = Database(url)
    backend = shared_state_backend(request.getfixturevalue("postgres_url"))
    settings = {"tap_dap_tables": ["submissions"], "target_dap_sql_batch_size_rows": 100}
    assert LiveRun(project, "tap-dap", "target-dap-sql", **settings, **backend).finish() == 0
    with holding_lock(database, "canvas.submissions"):  # both targets reach the table
        runs = [
            LiveRun(
                project,
                "tap-dap--canvas",
                "target-dap-sql",
                **settings,
                **backend,
                tap_dap__canvas_tables=["submissions"],
            ),
            LiveRun(project, "--full-refresh", "tap-dap", "target-dap-sql", **settings, **backend),
        ]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            ended = sum(run.process.poll() is not None for run in runs)
            if ended + blocked_sessions(database) >= 2:
                break
            time.sleep(0.2)
    codes = [run.finish() for run in runs]
    failed = [run for run, code in zip(runs, codes, strict=True) if code != 0]
    assert len(failed) == 1, codes
    table = ".".join(database.place("canvas.submissions"))
    assert any(f"{table} is being loaded by another" in line for line in failed[0].lines)
    assert_table_truth(database, sim, project.discovered_schemas(), ["canvas-submissions"])


def test_the_same_pipeline_twice_at_once_is_refused(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = dap_sim_factory(job_latency=6.0)
    project = MeltanoProject(tmp_path, sim, f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    settings = {"tap_dap_tables": ["accounts"]}
    first = LiveRun(project, "tap-dap", "target-dap-sql", **settings)
    first.wait_for(r"canvas-accounts: snapshot job \S+ submitted")
    second = LiveRun(project, "tap-dap", "target-dap-sql", **settings)
    assert second.finish() != 0
    assert "Another 'demo:tap-dap-to-target-dap-sql' pipeline is already running" in second.output
    assert first.finish() == 0
