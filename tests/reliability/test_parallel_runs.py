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

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tap_dap.sim.testing import SimServer

from tests.reliability.pipeline import (
    IsolatedProject,
    LiveRun,
    assert_table_truth,
    bookmarks,
    current_position,
)
from tests.target.harness import Database

pytestmark = pytest.mark.slow

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


def start_groups(project: IsolatedProject, backend: dict[str, str]) -> dict[str, LiveRun]:
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
    project = IsolatedProject(tmp_path, sim, postgres_url)
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
