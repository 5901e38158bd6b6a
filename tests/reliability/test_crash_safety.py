"""SIGKILL the whole `meltano run tap-dap target-dap-sql` at chosen moments, then run again.

Each case drives the pipeline to one kill point it can recognise (a line of the run's
output, or on PostgreSQL a statement of the target blocked on a lock the test holds), kills
Meltano and both plugins at once, checks that no bookmark Meltano kept is ahead of the
rows in the database, and runs again: every table must then equal `dap-sim dump`, each
key once, with the bookmarks at the simulator's current epoch. A run after a crash needs
`meltano run --force`: Meltano otherwise refuses to start a pipeline whose last run has
not ended (for five minutes, until it declares the old run dead).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tap_dap.sim.testing import SimServer

from tests.reliability.pipeline import (
    IsolatedProject,
    LiveRun,
    assert_bookmarks_not_ahead,
    assert_table_truth,
    bookmarks,
    current_position,
    run_to_end,
)
from tests.target.harness import Database

pytestmark = pytest.mark.slow

TABLES = ["accounts", "courses", "submissions", "users"]
STREAMS = [f"canvas-{table}" for table in TABLES]
SETTINGS: dict[str, Any] = {"tap_dap_tables": TABLES, "target_dap_sql_batch_size_rows": 100}
# Enough files per job and batches per file that a kill can land between them.
SIM_OPTIONS: dict[str, Any] = {"rows_per_file": 400}
COURSES_CHANGES = ["canvas.courses:add_column", "canvas.courses:add_enum_value"]


@dataclass
class KillPoint:
    """Where to kill: what the run must have printed (`line`, its `count`-th time), or on
    PostgreSQL which table the test locks so that the target blocks on it (`lock`)."""

    line: str | None = None
    count: int = 1
    lock: str | None = None
    increment: bool = False  # kill the run after a full one and an advance
    schema_changes: list[str] = field(default_factory=list)
    sim_options: dict[str, Any] = field(default_factory=dict)  # for the killed run
    settings: dict[str, Any] = field(default_factory=dict)  # for every run


KILL_POINTS: dict[str, dict[str, KillPoint]] = {
    "during a job wait": {
        "any": KillPoint(
            line=r"canvas-users: snapshot job \S+ submitted", sim_options={"job_latency": 60}
        ),
    },
    "mid-file": {
        # the 6th batch of 100 submissions is in the 2nd file of 400
        "any": KillPoint(line=r"Merged 100 records into canvas\.submissions", count=6),
    },
    "between tables": {
        "any": KillPoint(line=r"Activated version \d+ of canvas\.courses"),
    },
    "mid-file of an increment": {
        "any": KillPoint(
            line=r"Merged 20 records into canvas\.submissions",
            count=3,
            increment=True,
            sim_options={"rows_per_file": 50},
            settings={"target_dap_sql_batch_size_rows": 20},
        ),
    },
    "mid-merge": {
        "postgresql": KillPoint(lock="canvas.submissions", increment=True),
        # DuckDB takes no lock from outside: kill as the tap ends the table, while the
        # target merges its last (large) batch.
        "duckdb": KillPoint(
            line=r"canvas-submissions: snapshot done",
            settings={"target_dap_sql_batch_size_rows": 1500},
        ),
    },
    "during a schema change": {
        "postgresql": KillPoint(
            lock="canvas.courses", increment=True, schema_changes=COURSES_CHANGES
        ),
        "duckdb": KillPoint(
            line=r"Evolved table canvas\.courses", increment=True, schema_changes=COURSES_CHANGES
        ),
    },
}


def kill_point(name: str, database: Database) -> KillPoint:
    points = KILL_POINTS[name]
    return points.get("any") or points[database.kind]


@contextmanager
def holding_lock(database: Database, table: str) -> Iterator[None]:
    """An ACCESS EXCLUSIVE lock on `table` from another session, released on exit."""
    with psycopg.connect(database.url) as session:
        session.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE".encode())
        try:
            yield
        finally:
            session.rollback()


def wait_for_blocked_target(database: Database, run: LiveRun, timeout: float = 120) -> None:
    """Until a session of the target waits for the test's lock."""
    with psycopg.connect(database.url, autocommit=True) as watcher:
        for _ in range(int(timeout * 10)):
            (waiting,) = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone() or (0,)
            if waiting:
                return
            if run.process.poll() is not None:
                raise AssertionError(f"the run ended before it blocked:\n{run.output[-4000:]}")
            time.sleep(0.1)
    raise AssertionError(f"the target never blocked on the lock:\n{run.output[-4000:]}")


@pytest.mark.parametrize("point_name", KILL_POINTS)
def test_a_killed_run_is_completed_by_the_next(
    dap_sim_factory: Callable[..., SimServer],
    database_url: str,
    tmp_path: Path,
    point_name: str,
) -> None:
    database = Database(database_url)
    point = kill_point(point_name, database)
    settings = {**SETTINGS, **point.settings}
    sim = dap_sim_factory(**SIM_OPTIONS)
    project = IsolatedProject(tmp_path, sim, database_url)
    if point.increment:
        run_to_end(project, **settings)
        for _ in range(3):  # enough changes for an increment of several files
            sim.advance(schema_changes=[])
        sim.advance(schema_changes=point.schema_changes)
    schemas = project.discovered_schemas()

    sim.set_options(**point.sim_options)
    hold: AbstractContextManager[None] = (
        holding_lock(database, point.lock) if point.lock else nullcontext()
    )
    with hold:
        run = LiveRun(project, "tap-dap", "target-dap-sql", **settings)
        if point.lock:
            wait_for_blocked_target(database, run)
        else:
            assert point.line is not None
            run.wait_for(point.line, count=point.count)
        run.kill()

    saved = assert_bookmarks_not_ahead(project, database, sim, schemas)
    sim.set_options(job_latency=0.0, **SIM_OPTIONS)
    output = run_to_end(project, force=True, **settings)
    for stream, bookmark in saved.items():
        if "job" in bookmark:
            assert f"resuming job {bookmark['job']['id']}" in output, stream
    assert_table_truth(database, sim, schemas, STREAMS)
    now = current_position(sim)
    final = bookmarks(project)
    assert {
        stream: final[stream].get("replication_key_value") for stream in STREAMS
    } == dict.fromkeys(STREAMS, now)
