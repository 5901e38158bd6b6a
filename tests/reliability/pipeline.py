"""Drive `meltano run tap-dap target-dap-sql` as a live process: watch its output, kill it.

`LiveRun` starts the real Meltano pipeline in a process group of its own and reads its
combined output line by line in a thread, so a test can wait for the moment it wants
(a job submitted, a merge committed, a table evolved) and SIGKILL the whole group there:
Meltano, the tap and the target die together, as on a crashed host.

`assert_table_truth` is the end check of every reliability test: each table equals
`dap-sim dump` (the e2e harness compares value by value) and holds each key once.
`assert_bookmarks_not_ahead` checks, right after a crash, that every table whose bookmark
says it is complete for the simulator's current epoch really holds the truth.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from dap_sim.dataset import Dataset
from dap_sim.testing import SimServer
from dap_sim.timefmt import iso_millis

from tests.e2e.meltano_harness import MELTANO, REPO, MeltanoProject, assert_matches_dump
from tests.target.harness import Database

STATE_ID = "demo:tap-dap-to-target-dap-sql"
# The tables of the reliability runs: one of several files (submissions), small ones
# before and after it, and one whose schema the simulator changes (courses).
TABLES = ["accounts", "courses", "submissions", "users"]
STREAMS = [f"canvas-{table}" for table in TABLES]


class LiveRun:
    """One `meltano run` in its own process group, its output collected as it comes."""

    def __init__(
        self, project: MeltanoProject, *args: str, force: bool = False, **settings: Any
    ) -> None:
        command = [MELTANO, "run", *(["--force"] if force else []), *args]
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=project.env(**settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own group: one killpg ends meltano and the plugins
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 120) -> str:
        """The `count`-th output line matching `pattern` (a regex), once it has appeared."""
        regex = re.compile(pattern)

        def found() -> list[str]:
            return [line for line in self.lines if regex.search(line)]

        with self._changed:
            ready = self._changed.wait_for(
                lambda: len(found()) >= count or self._ended, timeout=timeout
            )
            matches = found()
        if not ready or len(matches) < count:
            tail = "\n".join(self.lines[-40:])
            raise AssertionError(
                f"the run never printed {pattern!r} {count} time(s) (saw {len(matches)}):\n{tail}"
            )
        return matches[count - 1]

    def kill(self) -> None:
        """SIGKILL Meltano and both plugins at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)

    def finish(self, timeout: float = 600) -> int:
        """Wait for the end; the exit code."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=30)
        return code


def run_to_end(project: MeltanoProject, *, force: bool = False, **settings: Any) -> str:
    """A complete `meltano run tap-dap target-dap-sql` that must succeed; its output."""
    run = LiveRun(project, "tap-dap", "target-dap-sql", force=force, **settings)
    code = run.finish()
    assert code == 0, f"meltano run failed ({code}):\n{run.output[-6000:]}"
    return run.output


def bookmarks(
    project: MeltanoProject, state_id: str = STATE_ID, **settings: Any
) -> dict[str, dict[str, Any]]:
    """The bookmarks Meltano holds now (partial states of killed runs merged in)."""
    output = project.meltano("state", "get", state_id, check=False, **settings)
    if "{" not in output:  # no state yet
        return {}
    state = json.loads(output[output.index("{") : output.rindex("}") + 1])
    result: dict[str, dict[str, Any]] = state.get("singer_state", {}).get("bookmarks", {})
    return result


def current_position(sim: SimServer) -> str:
    """The `at`/`until` a job asked now would end at: the current epoch's clock."""
    dataset = Dataset.load(sim.data_dir)
    return iso_millis(dataset.clock_ms(dataset.epoch))


def assert_table_truth(
    database: Database,
    sim: SimServer,
    schemas: dict[str, dict[str, Any]],
    streams: Iterable[str],
) -> None:
    """Every table equals the simulator's truth: nothing lost, nothing twice."""
    streams = list(streams)
    assert_matches_dump(database, sim, schemas, streams, soft_deletes=True)
    for stream in streams:
        namespace, table = stream.split("-", 1)
        key = next(iter(schemas[stream].get("required") or ["id"]))
        sql_table = database.table(f"{namespace}.{table}")
        ((rows, keys),) = database.query(
            f'SELECT count(*), count(DISTINCT "{key}") FROM {sql_table}'
        )
        assert rows == keys, f"{stream}: {rows} rows for {keys} keys: a row was loaded twice"


def assert_bookmarks_not_ahead(
    project: MeltanoProject,
    database: Database,
    sim: SimServer,
    schemas: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Each bookmark that claims the current epoch is backed by the table; the bookmarks."""
    saved = bookmarks(project)
    now = current_position(sim)
    complete = [
        stream
        for stream, bookmark in saved.items()
        if bookmark.get("replication_key_value") == now and "job" not in bookmark
    ]
    assert_table_truth(database, sim, schemas, complete)
    return saved


def blocked_sessions(database: Database) -> int:
    """Sessions of the database waiting for a lock (PostgreSQL, MariaDB)."""
    if database.kind == "mariadb":
        ((count,),) = database.query(
            "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = database() "
            "AND STATE LIKE 'Waiting for table%lock'"
        )
        return int(count)
    with psycopg.connect(database.url, autocommit=True) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def holding_lock(database: Database, table: str) -> Iterator[None]:
    """An exclusive lock on `table` from another session, released on exit."""
    if database.kind == "mariadb":
        with database.session() as session, session.cursor() as cursor:
            cursor.execute(f"LOCK TABLES {database.table(table)} WRITE")
            try:
                yield
            finally:
                cursor.execute("UNLOCK TABLES")
        return
    with psycopg.connect(database.url) as session:
        session.execute(f"LOCK TABLE {database.table(table)} IN ACCESS EXCLUSIVE MODE".encode())
        try:
            yield
        finally:
            session.rollback()
