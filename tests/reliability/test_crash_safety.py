"""SIGKILL the whole `meltano run tap-dap target-dap-sql` again and again, then let it finish.

One pipeline's life per database: a snapshot run killed during its job wait, the next one
killed mid-file, the next (which resumes that file's job) killed between two tables, then
a run to the end; after four advances of the simulator (one with schema changes) the
increment runs are killed during a schema change, mid-file and mid-merge before one ends.
A kill point is recognised by a line of the run's output or, on PostgreSQL and MariaDB, by
a statement of the target blocked on a lock the test holds (DuckDB takes no lock from
outside, so there the kill follows the line that says the step began or ended; on MariaDB
the schema change is killed after its ALTER committed, before the rows that need it).
Meltano and both plugins die together. The whole life runs as meltano.yml has it, with
Parquet BATCH files (one merge per file, so "mid-file" becomes "between two files of a
job" and a merge is a file's), on every database; and with RECORD messages on PostgreSQL
only: the BATCH lives already kill each database's DDL, merge and lock, and one RECORD
life instead of three keeps CI inside its time budget. After each kill no
bookmark Meltano kept may be ahead of the rows; a later run resumes each job the state
names; after each complete run every table equals `dap-sim dump`, each key once, with
every bookmark at the simulator's current epoch.

A run after a crash needs `meltano run --force`: Meltano otherwise refuses to start a
pipeline whose last run has not ended (until, five minutes on, it declares that run dead).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dap_sim.testing import SimServer

from tests.conftest import DATABASES
from tests.e2e.meltano_harness import MeltanoProject
from tests.reliability.pipeline import (
    STREAMS,
    TABLES,
    LiveRun,
    assert_bookmarks_not_ahead,
    assert_table_truth,
    blocked_sessions,
    bookmarks,
    current_position,
    holding_lock,
)
from tests.target.harness import Database

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("meltano_plugins")]

# Several files per snapshot job and several batches per file, so kills land between them.
SNAPSHOT_FILES = {"rows_per_file": 400}
SNAPSHOT_BATCHES = {"target_dap_sql_batch_size_rows": 100}
INCREMENT_FILES = {"rows_per_file": 50}
INCREMENT_BATCHES = {"target_dap_sql_batch_size_rows": 20}
COURSES_CHANGES = ["canvas.courses:add_column", "canvas.courses:add_enum_value"]
# One BATCH file of submissions merged (each file merges on its own)
MERGED_FILE = r"Merged 0 records, 1 BATCH files \([\d,]+ rows\) into \S*canvas(\.|__)submissions"
# RECORD messages: meltano.yml's tap-dap sends BATCH messages over Parquet files
RECORDS = {"tap_dap_batch_messages": False}


@dataclass
class Kill:
    """Where a run dies: after the `count`-th output line matching `line`, or (PostgreSQL)
    once the target waits for the lock the test holds on `lock`."""

    line: str | None = None
    count: int = 1
    lock: str | None = None


@dataclass
class Step:
    name: str
    kill: dict[str, Kill | None]  # per database kind; None: the run goes to its end
    sim_options: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    advance: list[list[str]] = field(default_factory=list)  # schema changes per advance
    resumable: str | None = None  # a stream whose job the state must name after the kill
    finished: list[str] = field(default_factory=list)  # streams bookmarked at the new epoch
    # where the run dies when files come as BATCH messages (default: `kill`)
    batch_kill: dict[str, Kill | None] | None = None

    def kill_for(self, kind: str, *, batch: bool) -> Kill | None:
        return (self.batch_kill if batch and self.batch_kill else self.kill)[kind]


def everywhere(kill: Kill | None) -> dict[str, Kill | None]:
    return dict.fromkeys(DATABASES, kill)


LIFE = [
    Step(
        "snapshot killed during its job wait",
        everywhere(Kill(line=r"canvas-users: snapshot job \S+ submitted")),
        sim_options={"job_latency": 5.0, **SNAPSHOT_FILES},
        settings=SNAPSHOT_BATCHES,
    ),
    Step(
        "snapshot killed mid-file",  # the 6th batch of 100 submissions: in the 2nd file
        everywhere(Kill(line=r"Merged 100 records into (\S+\.)?canvas(\.|__)submissions", count=6)),
        sim_options={"job_latency": 0.0},
        settings=SNAPSHOT_BATCHES,
        resumable="canvas-submissions",
        batch_kill=everywhere(Kill(line=MERGED_FILE, count=2)),
    ),
    Step(
        "resumed snapshot killed between two tables",
        everywhere(Kill(line=r"Activated version \d+ of (\S+\.)?canvas(\.|__)submissions")),
        settings=SNAPSHOT_BATCHES,
    ),
    Step("snapshot run to the end", everywhere(None)),
    Step(
        "increment killed during a schema change",
        {
            "postgresql": Kill(lock="canvas.courses"),
            "duckdb": Kill(line=r"Evolved table canvas\.courses"),
            # DDL commits by itself in MySQL: killed between the ALTER and its rows
            "mariadb": Kill(line=r"Evolved table \S+\.canvas__courses"),
        },
        sim_options=INCREMENT_FILES,
        settings=INCREMENT_BATCHES,
        advance=[[], [], [], COURSES_CHANGES],
    ),
    Step(
        "increment killed mid-file",
        everywhere(Kill(line=r"Merged 20 records into (\S+\.)?canvas(\.|__)submissions", count=2)),
        settings=INCREMENT_BATCHES,
        resumable="canvas-submissions",
        batch_kill=everywhere(Kill(line=MERGED_FILE, count=2)),
        # their last records (fewer than a batch) must not hold back the bookmarks after them
        finished=["canvas-accounts", "canvas-courses"],
    ),
    Step(
        "increment killed mid-merge",
        {
            "postgresql": Kill(lock="canvas.submissions"),
            # the last batch of the table is merged as the tap says the table is done
            "duckdb": Kill(line=r"canvas-submissions: incremental done"),
            "mariadb": Kill(lock="canvas.submissions"),
        },
        settings={"target_dap_sql_batch_size_rows": 1000},
    ),
    Step("increment run to the end", everywhere(None)),
]


def wait_for_blocked_target(database: Database, run: LiveRun, timeout: float = 120) -> None:
    """Until a session of the target waits for the test's lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if blocked_sessions(database):
            return
        if run.process.poll() is not None:
            raise AssertionError(f"the run ended before it blocked:\n{run.output[-4000:]}")
        time.sleep(0.1)
    raise AssertionError(f"the target never blocked on the lock:\n{run.output[-4000:]}")


def run_step(project: MeltanoProject, database: Database, step: Step, *, batch: bool) -> str:
    """Run the pipeline and kill it where the step says (or let it end); its output."""
    kill = step.kill_for(database.kind, batch=batch)
    hold: AbstractContextManager[None] = (
        holding_lock(database, kill.lock) if kill and kill.lock else nullcontext()
    )
    with hold:
        settings = {"tap_dap_tables": TABLES, **step.settings, **({} if batch else RECORDS)}
        run = LiveRun(project, "tap-dap", "target-dap-sql", force=True, **settings)
        if kill is None:
            code = run.finish()
            assert code == 0, f"{step.name}: meltano run failed ({code}):\n{run.output[-6000:]}"
            return run.output
        if kill.lock:
            wait_for_blocked_target(database, run)
        else:
            assert kill.line is not None
            run.wait_for(kill.line, count=kill.count)
        run.kill()
    return run.output


def assert_jobs_resumed(output: str, jobs: dict[str, str], step: Step) -> None:
    """Each job the state named was continued by a run that finished its table."""
    for stream, job_id in jobs.items():
        if re.search(rf"{stream}: (snapshot|incremental) done", output):
            assert f"resuming job {job_id}" in output, f"{step.name}: {stream} did not resume"


LIVES = [*(("parquet", kind) for kind in DATABASES), ("record", "postgresql")]


@pytest.mark.parametrize(("messages", "database_url"), LIVES, indirect=["database_url"])
def test_a_pipeline_killed_again_and_again_ends_equal_to_the_truth(
    dap_sim_factory: Callable[..., SimServer], database_url: str, tmp_path: Path, messages: str
) -> None:
    batch = messages == "parquet"
    database = Database(database_url)
    sim = dap_sim_factory()
    project = MeltanoProject(tmp_path, sim, database_url)
    schemas = project.discovered_schemas()
    jobs: dict[str, str] = {}  # stream -> job id the saved state says is being emitted
    killed = 0
    for step in LIFE:
        for changes in step.advance:
            sim.advance(schema_changes=changes)
        if step.advance:
            schemas = project.discovered_schemas()
        if step.sim_options:
            sim.set_options(**step.sim_options)
        output = run_step(project, database, step, batch=batch)
        assert_jobs_resumed(output, jobs, step)
        if step.kill_for(database.kind, batch=batch) is None:
            assert_table_truth(database, sim, schemas, STREAMS)
            positions = {s: b.get("replication_key_value") for s, b in bookmarks(project).items()}
            assert positions == dict.fromkeys(STREAMS, current_position(sim)), step.name
            jobs = {}
            continue
        killed += 1
        saved = assert_bookmarks_not_ahead(project, database, sim, schemas)
        jobs = {stream: b["job"]["id"] for stream, b in saved.items() if "job" in b}
        if step.resumable:
            assert step.resumable in jobs, f"{step.name}: the kill missed its point: {saved}"
        for stream in step.finished:
            assert saved[stream].get("replication_key_value") == current_position(sim), (
                f"{step.name}: {stream} was loaded but its bookmark is behind: {saved[stream]}"
            )
    assert killed == 6
