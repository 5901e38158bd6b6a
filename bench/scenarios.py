"""The benchmark's scenarios, measured on one dap-sim dataset (see bench/README.md).

1 tap-dap alone; 2 target-dap-sql alone; 3 initial load of submissions into PostgreSQL
and into MariaDB; 4 an increment (10% updated, 1% deleted), with plain SQL's floor; 5 the
whole canvas namespace with the real rate limits: its initial load, then a refresh after
one simulator epoch. Scenarios 1-4 share a dataset whose submissions table has ``rows``
rows; scenario 5 has a dataset of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import orjson

from bench import simulator
from bench.duckdb_files import DuckDBFiles
from bench.mariadb import MariaDB, MariaDBUnavailableError
from bench.measure import CommandFailedError, Measurement, run_pipeline
from bench.postgres import Postgres
from bench.report import COPY_FLOOR, INCREMENT_FLOOR, LOAD_DATA_FLOOR, Result
from bench.simulator import OFFICIAL_QUERY, TAP_QUERY, Simulator
from bench.tools import REPO, Tools

TABLE = "submissions"
QUALIFIED = f"canvas.{TABLE}"
CHURN = f"{TABLE}:0.1:0.01"  # the increment: 10% of the rows updated, 1% deleted
INITIAL = "3 initial load"  # into PostgreSQL, with the COPY floor
INITIAL_MARIADB = "3 initial load, MariaDB"  # a scenario of its own: its official row
INCREMENT = "4 increment"
NAMESPACE = "5 whole namespace"
REFRESH = "5 namespace refresh"  # a scenario of its own: its official row is syncdb's

MELTANO = "meltano run tap-dap target-dap-sql"
PIPE = "tap-dap | target-dap-sql"
PIPE_BATCH = "tap-dap (BATCH jsonl.gz) | target-dap-sql"
MELTANO_BATCH = "meltano run (BATCH jsonl.gz)"
PIPE_PARQUET = "tap-dap (BATCH parquet) | target-dap-sql"
MELTANO_PARQUET = "meltano run (BATCH parquet)"
TARGET_POSTGRES = "tap-dap | target-postgres"
INITDB = "dap initdb"
SYNCDB = "dap syncdb"
OFFICIAL_COMMANDS = {INITDB: "initdb", SYNCDB: "syncdb"}

JSONL_GZ = ("jsonl", "gzip")  # the SDK's batch_config encoding: format, compression
PARQUET = ("parquet", "none")  # `none` writes snappy pages
# Our tools, each with the BATCH encoding its tap writes (None: RECORD messages)
OURS: dict[str, tuple[str, str] | None] = {
    MELTANO: None,
    PIPE: None,
    PIPE_BATCH: JSONL_GZ,
    MELTANO_BATCH: JSONL_GZ,
    PIPE_PARQUET: PARQUET,
    MELTANO_PARQUET: PARQUET,
}
MELTANO_TOOLS = (MELTANO, MELTANO_BATCH, MELTANO_PARQUET)
# The initial loads into PostgreSQL that scenario 4 syncs, and the official client's sync
INCREMENTED = (MELTANO, PIPE, MELTANO_PARQUET, INITDB)
SYNC_OF = {INITDB: SYNCDB}
_PLUGIN_ERROR = re.compile(r"[\w.-]+: error: .*")  # how our plugins (argparse, click) fail


@dataclass
class Options:
    rows: int
    runs: int
    baseline_runs: int  # runs of the slow baselines (official CLI, target-postgres)
    scenarios: set[int]
    namespace_scale: int
    job_latency: float
    seed: int
    with_official: bool
    with_target_postgres: bool
    with_meltano: bool
    with_mariadb: bool
    workdir: Path
    postgres_url: str
    mysql_url: str
    sim_cache: str  # dap-sim serve --cache-dir ("": none)


class Server(Protocol):
    """A database the benchmark loads into: PostgreSQL, MariaDB or DuckDB files."""

    name: str

    def url(self, name: str) -> str: ...

    def create(self, label: str) -> str: ...

    def drop(self, name: str) -> None: ...

    def count(self, database: str, table: str, *, live_only: bool) -> int: ...


@dataclass
class Loaded:
    """A database loaded at epoch 0 by one tool, kept for its increment (scenario 4 syncs
    copies of it, scenario 5 refreshes it)."""

    database: str
    state: Path | None = None  # tap state (pipe) or Meltano's system database (meltano run)


@dataclass
class Bench:
    options: Options
    progress: Callable[[str], None]
    results: list[Result] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    loaded: dict[str, Loaded] = field(default_factory=dict)
    mariadb_loaded: str | None = None  # a MariaDB database the pipe loaded, for the floor
    _sim: Simulator | None = None
    _snapshot_rows: int = 0
    _increment_deleted_ids: list[int] = field(default_factory=list)  # its deletes' `id`
    _snapshot_at: str = ""
    _recordings: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir = self.options.workdir
        self.tools = Tools(self.workdir)
        self.pg = Postgres(self.options.postgres_url)
        self.mariadb = MariaDB(self.options.mysql_url)
        self.duckdb = DuckDBFiles(self.workdir)
        self.log = self.workdir / "tools.log"

    # -- the shared dataset of scenarios 1-4 ------------------------------------------------

    @property
    def sim(self) -> Simulator:
        if self._sim is None:
            opts = self.options
            data = self.workdir / "sim-submissions"
            shutil.rmtree(data, ignore_errors=True)
            self.progress(f"dap-sim: dataset of {opts.rows:,} submissions (seed {opts.seed})")
            # one table measured many times: the per-table create-job limit (5/min) would
            # throttle the repetitions, so limits are off here and on in scenario 5
            self._sim = self._simulator(data, opts.rows, rate_limits=False)
            self._snapshot_rows, self._snapshot_at = self._warm_jobs({})
        return self._sim

    def _simulator(self, data: Path, scale: int, *, rate_limits: bool) -> Simulator:
        """A dap-sim process over ``data`` (a dataset of ``scale`` made when missing)."""
        opts = self.options
        return Simulator(
            data,
            scale=scale,
            seed=opts.seed,
            job_latency=opts.job_latency,
            rate_limit_factor=1.0 if rate_limits else 0.0,
            cache_dir=opts.sim_cache,
        )

    def _warm_jobs(self, incremental: dict[str, str]) -> tuple[int, str]:
        """Produce the jobs the tools will ask for; returns (tap job's rows, its `at`)."""
        assert self._sim is not None
        kind = "increment" if incremental else "snapshot"
        warmed = self._sim.warm(TABLE, {**TAP_QUERY, **incremental}, count=True)
        self.settings[f"sim_production_s_{kind}_jsonl"] = round(warmed.seconds, 1)
        if self.options.with_official:
            official = self._sim.warm(TABLE, {**OFFICIAL_QUERY, **incremental}, count=False)
            self.settings[f"sim_production_s_{kind}_tsv"] = round(official.seconds, 1)
        self.progress(
            f"dap-sim: {kind} job of {warmed.records:,} rows produced in {warmed.seconds:.1f} s"
            " (before any clock starts)"
        )
        assert warmed.records is not None
        if incremental:
            self._increment_deleted_ids = warmed.deleted_ids or []
        return warmed.records, warmed.at or ""

    def snapshot_rows(self) -> int:
        """Rows of the submissions snapshot (lines of the tap's job files)."""
        _ = self.sim  # started on first use, with the snapshot job produced
        return self._snapshot_rows

    def tap_config(self, **extra: Any) -> dict[str, Any]:
        return self.sim.tap_config(tables=[TABLE], **extra)

    # -- measuring ----------------------------------------------------------------------------

    def _measure(
        self,
        result: Result,
        runs: int,
        one_run: Callable[[int], Measurement],
        sim: Simulator | None = None,
        fewer_runs_because: str = "slow baseline",
    ) -> None:
        """Run ``one_run`` ``runs`` times into ``result``; a failure becomes its note."""
        self.results.append(result)
        # scenarios 1-4 produce their jobs ahead; a tool asking another query would wait
        produced_ahead = sim is None
        sim = sim or self._sim
        for index in range(runs):
            jobs_before = sim.sim.stats()["jobs_created"] if sim else 0
            self.progress(f"  {result.scenario} | {result.tool}: run {index + 1}/{runs}")
            try:
                measurement = one_run(index)
            except CommandFailedError as error:
                result.note = f"failed: {_failure(error)}"
                self.progress(f"  FAILED: {error}")
                return
            except MariaDBUnavailableError as error:
                result.note = f"failed: {error}"
                self.progress(f"  FAILED: {error}")
                return
            result.add(measurement)
            self.progress(f"    {measurement.wall_s:.2f} s, RSS MB {measurement.peak_rss_mb}")
            created = sim.sim.stats()["jobs_created"] if sim else jobs_before
            if produced_ahead and created != jobs_before and "job" not in result.note:
                result.note += "asked for a job not produced ahead: includes its production; "
        if runs < self.options.runs:
            result.note += f"{runs} run(s): {fewer_runs_because}; "

    def _check_rows(self, result: Result, found: int, expected: int) -> None:
        if found != expected and "rows" not in result.note:
            result.note += f"rows in the database {found:,} != {expected:,}; "

    def recording(self, encoding: tuple[str, str] | None = None) -> Path:
        """The tap's Singer output for the submissions snapshot, recorded once (untimed):
        RECORD messages, or with ``encoding`` BATCH messages naming files in a folder of
        the work directory, kept for every run."""
        name = "-".join(encoding) if encoding else "record"
        if name not in self._recordings:
            config = self.tap_config()
            if encoding is not None:
                folder = self.workdir / f"batch-{name}"
                folder.mkdir(exist_ok=True)
                config["batch_config"] = _batch_config(str(folder), *encoding)
            path = self.workdir / f"submissions-{name}.singer"
            self.progress(f"recording tap-dap's output ({name}) for target-alone runs (untimed)")
            run_pipeline([self.tools.tap_command(config)], stdout=path, log=self.log)
            self._recordings[name] = path
        return self._recordings[name]

    # -- scenario 1: tap-dap alone -----------------------------------------------------------

    def tap_alone(self) -> None:
        rows = self.snapshot_rows()
        scenario = "1 tap alone"
        record = Result(scenario, "tap-dap (RECORD) > /dev/null", rows)
        command = self.tools.tap_command(self.tap_config())
        self._measure(record, self.options.runs, lambda _: run_pipeline([command], log=self.log))

        # BATCH files in each encoding: the SDK's JSONL and Parquet (`none` writes snappy pages)
        for file_format, compression, label in (
            ("jsonl", "gzip", "jsonl.gz"),
            ("parquet", "none", "parquet"),
            ("parquet", "gzip", "parquet.gz"),
        ):
            batch = Result(scenario, f"tap-dap (BATCH {label}) > /dev/null", rows)
            if "batch" not in self.tools.tap_capabilities():
                batch.note = "not supported: tap-dap --about lists no 'batch' capability"
                self.results.append(batch)
                return
            written: list[int] = []
            one_run = partial(self._tap_batch_run, file_format, compression, written)
            self._measure(batch, self.options.runs, one_run)
            if written:
                batch.note += f"files {max(written) / 1e6:,.0f} MB; "

    def _tap_batch_run(
        self, file_format: str, compression: str, written: list[int], _: int
    ) -> Measurement:
        """`tap-dap > /dev/null` writing BATCH files into a new folder; their bytes go to
        ``written``."""
        with tempfile.TemporaryDirectory(dir=self.workdir) as folder:
            config = self.tap_config(batch_config=_batch_config(folder, file_format, compression))
            measured = run_pipeline([self.tools.tap_command(config)], log=self.log)
            written.append(sum(path.stat().st_size for path in Path(folder).iterdir()))
            return measured

    # -- scenario 2: target-dap-sql alone ----------------------------------------------------

    def target_alone(self) -> None:
        rows = self.snapshot_rows()
        scenario = "2 target alone"
        inputs: list[tuple[str, tuple[str, str] | None]] = [("file", None)]
        if "batch" in self.tools.tap_capabilities():
            inputs.append(("file (BATCH parquet)", PARQUET))
        servers: list[Server] = [self.pg, self.mariadb] if self.options.with_mariadb else [self.pg]
        for source, encoding in inputs:
            for server in [*servers, self.duckdb]:
                result = Result(scenario, f"target-dap-sql < {source} -> {server.name}", rows)
                one_run = partial(self._target_run, server, encoding, result)
                self._measure(result, self.options.runs, one_run)

    def _target_run(
        self, server: Server, encoding: tuple[str, str] | None, result: Result, _: int
    ) -> Measurement:
        """`target-dap-sql < recording` into a new database of ``server``, rows checked."""
        recording = self.recording(encoding)  # recorded at the first run, untimed
        # a BATCH recording's files are read by every run: none may delete them
        settings = {"delete_batch_files": False} if encoding else {}
        database = server.create("target")
        try:
            command = self.tools.target_command(server.url(database), **settings)
            measurement = run_pipeline([command], stdin=recording, log=self.log)
            self._check_rows(result, server.count(database, QUALIFIED, live_only=True), result.rows)
            return measurement
        finally:
            server.drop(database)

    # -- scenario 3: the initial load into PostgreSQL and into MariaDB ----------------------

    def _load(
        self,
        tool: str,
        server: Server,
        database: str,
        index: int,
        *,
        sim: Simulator | None = None,
        tables: list[str] | None = None,
    ) -> tuple[Measurement, Loaded]:
        """One initial load by ``tool`` into ``database`` of ``server``: submissions from
        the shared simulator, or every table (``tables`` None) of ``sim``."""
        label = f"initial-{'-'.join(tables or ['all'])}-{index}"
        measured, state = self._run(
            tool, server.url(database), sim or self.sim, tables, label=label
        )
        return measured, Loaded(database, state)

    def _sync(
        self,
        tool: str,
        database: str,
        loaded: Loaded,
        index: int,
        *,
        sim: Simulator | None = None,
        tables: list[str] | None = None,
    ) -> Measurement:
        """One sync by ``tool`` of ``database`` (loaded as ``loaded`` says), with its state."""
        label = f"sync-{'-'.join(tables or ['all'])}-{index}"
        url = self.pg.url(database)
        return self._run(tool, url, sim or self.sim, tables, label=label, state=loaded.state)[0]

    def _run(
        self,
        tool: str,
        url: str,
        sim: Simulator,
        tables: list[str] | None,
        *,
        label: str,
        state: Path | None = None,
    ) -> tuple[Measurement, Path | None]:
        """One run of ``tool`` into ``url``, of ``tables`` (None: all) of ``sim``; ours from
        ``state`` when given. Returns its measurement and, for ours, the state to continue
        from: Meltano's system database, or the pipe's last state line."""
        tap_config = sim.tap_config(tables=tables) if tables else sim.tap_config()
        if tool in OURS:
            return self._ours(tool, url, tap_config, label, state)
        if tool == TARGET_POSTGRES:
            commands = [
                self.tools.tap_command(tap_config),
                self.tools.target_postgres_command(url),
            ]
            return run_pipeline(commands, log=self.log), None
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}
        env.update(sim.official_env())
        tables_option = ",".join(tables or ["all"])
        command = self.tools.official_command(OFFICIAL_COMMANDS[tool], url, tables_option)
        return run_pipeline([command], env=env, cwd=self.workdir, log=self.log), None

    def _ours(
        self, tool: str, url: str, tap_config: dict[str, Any], label: str, state: Path | None
    ) -> tuple[Measurement, Path]:
        """``tool`` (one of ours) into ``url``; its BATCH files, if any, in a folder removed
        after the run (Meltano relays a line per file instead of one per record)."""
        encoding = OURS[tool]
        name = f"{_slug(tool)}-{label}"
        with tempfile.TemporaryDirectory(dir=self.workdir) as folder:
            if encoding is not None:
                tap_config = {**tap_config, "batch_config": _batch_config(folder, *encoding)}
            if tool in MELTANO_TOOLS:
                system_db = self.workdir / f"meltano-{name}.db"
                system_db.unlink(missing_ok=True)
                if state is not None:  # its state, and the rest, from the run before
                    shutil.copyfile(state, system_db)
                env = self.tools.meltano_env(tap_config, url, system_db)
                run = [self.tools.meltano_run()]
                return run_pipeline(run, env=env, cwd=REPO, log=self.log), system_db
            states = self.workdir / f"state-{name}.jsonl"
            commands = [
                self.tools.tap_command(tap_config, state=state),
                self.tools.target_command(url),
            ]
            measured = run_pipeline(commands, stdout=states, log=self.log)
            return measured, _last_state(states)

    def ours(self) -> list[str]:
        """Ours with RECORD messages; with BATCH files too when the tap writes them."""
        tools = [MELTANO, PIPE]
        if "batch" in self.tools.tap_capabilities():
            tools += [PIPE_BATCH, MELTANO_BATCH, PIPE_PARQUET, MELTANO_PARQUET]
        return [t for t in tools if self.options.with_meltano or t not in MELTANO_TOOLS]

    def initial_tools(self) -> list[str]:
        tools = self.ours()
        if self.options.with_target_postgres:
            tools.append(TARGET_POSTGRES)
        if self.options.with_official:
            tools.append(INITDB)
        return tools

    def initial_load(self) -> None:
        rows = self.snapshot_rows()
        self._initial_into(self.pg, INITIAL, self.initial_tools(), rows)
        self._copy_floor(rows)
        if self.options.with_mariadb:
            # ours with RECORD messages and Parquet files, and the official client
            mariadb = (MELTANO, PIPE, PIPE_PARQUET, MELTANO_PARQUET, INITDB)
            tools = [t for t in self.initial_tools() if t in mariadb]
            self._initial_into(self.mariadb, INITIAL_MARIADB, tools, rows)
            self._load_data_floor(rows)

    def _initial_into(self, server: Server, scenario: str, tools: list[str], rows: int) -> None:
        """Each tool's initial load of submissions, each run into a new database of
        ``server``. PostgreSQL keeps the last load of the tools that scenario 4 syncs."""
        for tool in tools:
            slow = tool in (TARGET_POSTGRES, INITDB)
            result = Result(scenario, tool, rows)
            # The probe sends JSONL files, which every SDK target reads; a target that
            # reads those but not Parquet fails its Parquet rows, the reason in the note.
            if OURS.get(tool) == JSONL_GZ and not self.tools.target_accepts_batch():
                result.note = "not supported: target-dap-sql refused a BATCH message (probe)"
                self.results.append(result)
                continue

            def one_run(index: int, tool: str = tool, result: Result = result) -> Measurement:
                database = server.create("initial")
                measurement, loaded = self._load(tool, server, database, index, tables=[TABLE])
                soft = tool in OURS
                self._check_rows(result, server.count(database, QUALIFIED, live_only=soft), rows)
                if server is self.mariadb and tool == PIPE:  # the LOAD DATA floor's rows
                    if self.mariadb_loaded is not None:
                        self.mariadb.drop(self.mariadb_loaded)
                    self.mariadb_loaded = database
                    return measurement
                if server is not self.pg or tool not in INCREMENTED:
                    server.drop(database)  # no increment follows
                    return measurement
                previous = self.loaded.pop(tool, None)
                if previous is not None:
                    self.pg.drop(previous.database)
                self.loaded[tool] = loaded
                return measurement

            runs = self.options.baseline_runs if slow else self.options.runs
            self._measure(result, runs, one_run)

    def _copy_floor(self, rows: int) -> None:
        result = Result(INITIAL, COPY_FLOOR, rows, note="COPY of a local TSV file alone")
        source = self.loaded.get(PIPE) or self.loaded.get(MELTANO)
        if source is None:
            result.note = "not measured: no database loaded by tap-dap | target-dap-sql"
            self.results.append(result)
            return
        tsv = self.workdir / "submissions.tsv"
        self.pg.export_tsv(source.database, QUALIFIED, tsv)

        def one_run(_: int) -> Measurement:
            return Measurement(self.pg.copy_floor(source.database, QUALIFIED, tsv))

        self._measure(result, self.options.runs, one_run)
        tsv.unlink(missing_ok=True)

    def _load_data_floor(self, rows: int) -> None:
        result = Result(
            INITIAL_MARIADB, LOAD_DATA_FLOOR, rows, note="LOAD DATA LOCAL of a CSV file alone"
        )
        source, self.mariadb_loaded = self.mariadb_loaded, None
        if source is None:
            result.note = "not measured: no database loaded by tap-dap | target-dap-sql"
            self.results.append(result)
            return
        csv_file = self.workdir / "submissions.csv"
        try:
            self.mariadb.export_csv(source, QUALIFIED, csv_file)
            self._measure(
                result,
                self.options.runs,
                lambda _: Measurement(self.mariadb.load_floor(source, QUALIFIED, csv_file)),
            )
        finally:
            csv_file.unlink(missing_ok=True)
            self.mariadb.drop(source)

    # -- scenario 4: an increment ------------------------------------------------------------

    def increment(self) -> None:
        initials = [t for t in self.initial_tools() if t in INCREMENTED]
        failed: dict[str, str] = {}
        for initial in initials:
            if initial not in self.loaded:
                self.progress(f"  loading with {initial} first (untimed)")
                database = self.pg.create("initial")
                try:
                    self.loaded[initial] = self._load(
                        initial, self.pg, database, 99, tables=[TABLE]
                    )[1]
                except CommandFailedError as error:
                    failed[initial] = f"failed: the initial load: {_failure(error)}"
        self.progress(f"dap-sim advance --churn {CHURN}")
        self.sim.advance([CHURN])
        rows, _ = self._warm_jobs({"since": self._snapshot_at})
        changes = self.workdir / "increment.tsv"  # the floor's input, exported untimed
        exported: list[int] = []
        live: dict[str, int] = {}
        results: list[Result] = []
        for initial in initials:
            tool = SYNC_OF.get(initial, initial)
            result = Result(INCREMENT, tool, rows, note="10% updated, 1% deleted; ")
            results.append(result)
            if initial in failed:
                result.note = failed[initial]
                self.results.append(result)
                continue

            def one_run(
                index: int,
                tool: str = tool,
                loaded: Loaded = self.loaded[initial],
                result: Result = result,
            ) -> Measurement:
                database = self.pg.create("increment", template=loaded.database)
                try:
                    measurement = self._sync(tool, database, loaded, index, tables=[TABLE])
                    soft = tool != SYNCDB
                    live[result.tool] = self.pg.count(database, QUALIFIED, live_only=soft)
                    if tool == PIPE and not exported:
                        since = self._snapshot_at
                        count = self.pg.export_tsv(
                            database, QUALIFIED, changes, changed_since=since
                        )
                        exported.append(count)
                    return measurement
                finally:
                    self.pg.drop(database)

            runs = self.options.baseline_runs if tool == SYNCDB else self.options.runs
            self._measure(result, runs, one_run)
        results.append(self._increment_floor(rows, changes, exported, live))
        self._compare_live(live, results, "after the increment")

    def _increment_floor(
        self, rows: int, changes: Path, exported: list[int], live: dict[str, int]
    ) -> Result:
        """Plain SQL's fastest increment, into copies of the pipe's initial load: the rows
        the pipe's increment changed (``exported`` from its result into ``changes``, so the
        same columns and values) applied by COPY, one upsert and one soft delete."""
        note = "COPY into a temporary table, one upsert, one soft delete, one commit; "
        result = Result(INCREMENT, INCREMENT_FLOOR, rows, note=note)
        source = self.loaded.get(PIPE)
        if source is None or not exported:
            result.note = "not measured: no increment by tap-dap | target-dap-sql to export"
            self.results.append(result)
            return result
        # a delete of a key the initial load never had (inserted and deleted since) changes
        # no row, so it is not among the exported ones
        deleted = self._increment_deleted_ids
        absent = len(deleted) - self.pg.count_ids(source.database, QUALIFIED, deleted)
        self._check_rows(result, exported[0], rows - absent)

        def one_run(_: int) -> Measurement:
            database = self.pg.create("increment", template=source.database)
            try:
                seconds = self.pg.increment_floor(database, QUALIFIED, changes)
                live[result.tool] = self.pg.count(database, QUALIFIED, live_only=True)
                return Measurement(seconds)
            finally:
                self.pg.drop(database)

        self._measure(result, self.options.runs, one_run)
        changes.unlink(missing_ok=True)
        return result

    def _compare_live(self, live: dict[str, int], results: list[Result], when: str) -> None:
        """Live rows (by tool) must agree between the tools; where they do not, each note
        says its own."""
        if len(set(live.values())) > 1:
            self.progress(f"  WARNING: live rows {when} differ: {live}")
            for result in results:
                result.note += f"live rows {when}: {live.get(result.tool)}; "

    # -- scenario 5: the whole namespace, real rate limits -----------------------------------

    def namespace(self) -> None:
        opts = self.options
        data = self.workdir / "sim-namespace"
        shutil.rmtree(data, ignore_errors=True)
        self.progress(f"dap-sim: whole canvas namespace at scale {opts.namespace_scale:,}")
        tools = self.ours()[:1] + ([INITDB] if opts.with_official else [])
        loaded: dict[str, Loaded] = {}
        measured_rows: dict[str, int] = {}
        for tool in tools:
            result = Result(NAMESPACE, _whole(tool), 0)

            def load(
                index: int, sim: Simulator, tool: str = tool, result: Result = result
            ) -> Measurement:
                database = self.pg.create("namespace")
                measured, loaded[tool] = self._load(tool, self.pg, database, index, sim=sim)
                rows = self.pg.schema_rows(database, "canvas", live_only=tool != INITDB)
                measured_rows[tool] = result.rows = rows
                return measured

            self._rate_limited(data, result, load)
        if len(set(measured_rows.values())) > 1:
            self.progress(f"  WARNING: rows loaded differ between tools: {measured_rows}")
        self._refresh(data, tools, loaded)

    def _refresh(self, data: Path, tools: list[str], loaded: dict[str, Loaded]) -> None:
        """One `dap-sim advance`, then each tool's refresh of what it loaded, from its
        state: ours by `meltano run`, the official client by `dap syncdb --table all`."""
        advanced = simulator.advance(data)
        self.settings["sim_advance_namespace"] = advanced  # the epoch, and any schema bump
        for line in advanced:
            self.progress(f"dap-sim advance: {line}")
        rows = simulator.changed_rows(data)
        live: dict[str, int] = {}
        results: list[Result] = []
        for initial in tools:
            tool = SYNC_OF.get(initial, initial)
            result = Result(REFRESH, _whole(tool), rows)
            results.append(result)
            if initial not in loaded:
                result.note = "not measured: its initial load failed"
                self.results.append(result)
                continue

            def sync(
                index: int,
                sim: Simulator,
                tool: str = tool,
                source: Loaded = loaded[initial],
                result: Result = result,
            ) -> Measurement:
                measured = self._sync(tool, source.database, source, index, sim=sim)
                soft = tool != SYNCDB
                live[result.tool] = self.pg.schema_rows(source.database, "canvas", live_only=soft)
                return measured

            self._rate_limited(data, result, sync)
        for source in loaded.values():
            self.pg.drop(source.database)
        self._compare_live(live, results, "after the refresh")

    def _rate_limited(
        self, data: Path, result: Result, one_run: Callable[[int, Simulator], Measurement]
    ) -> None:
        """One run against a fresh simulator over ``data`` with the real rate limits: each
        tool has the whole rate budget; the note gives the HTTP 429 answers it drew."""
        sim = self._simulator(data, self.options.namespace_scale, rate_limits=True)
        try:

            def counted(index: int) -> Measurement:
                limited = sim.rate_limited()
                measured = one_run(index, sim)
                result.note += f"HTTP 429 drawn: {sim.rate_limited() - limited}; "
                return measured

            self._measure(result, 1, counted, sim=sim, fewer_runs_because="scenario 5")
        finally:
            sim.close()

    # -- all ---------------------------------------------------------------------------------

    def run(self) -> None:
        steps: Sequence[tuple[int, str, Callable[[], None]]] = [
            (1, "tap-dap alone", self.tap_alone),
            (2, "target-dap-sql alone", self.target_alone),
            (3, "initial load", self.initial_load),
            (4, "increment", self.increment),
            (5, "whole namespace, then its refresh", self.namespace),
        ]
        try:
            for number, title, step in steps:
                if number in self.options.scenarios:
                    started = time.perf_counter()
                    self.progress(f"== scenario {number}: {title}")
                    step()
                    self.progress(
                        f"== scenario {number} done in {time.perf_counter() - started:.0f} s"
                    )
        finally:
            if self._sim is not None:
                self._sim.close()
            self.pg.drop_all()
            self.mariadb.drop_all()


def _failure(error: CommandFailedError) -> str:
    """What failed and why: `exit codes [0, 1] of a | b: <its last error line>`."""
    head, *log = [line.strip() for line in str(error).splitlines() if line.strip()]
    # the processes of a pipe share one log: the error is not always its last line, and
    # under Meltano a plugin's `prog: error: ...` line is followed by Meltano's own
    plugin_errors = [found[0] for line in log if (found := _PLUGIN_ERROR.search(line))]
    errors = plugin_errors or [line for line in log if "error" in line.lower()] or log
    return f"{head.split(';')[0]}: {errors[-1]}" if errors else head


def _whole(tool: str) -> str:
    """A scenario 5 row's label: the official client's for every table of a namespace."""
    return f"{tool} --table all" if tool in OFFICIAL_COMMANDS else tool


def _slug(tool: str) -> str:
    """A tool's name for its files: `meltano run (BATCH parquet)` -> `meltano-run-batch-parquet`."""
    return re.sub(r"[^a-z0-9]+", "-", tool.lower()).strip("-")


def _batch_config(
    folder: str, file_format: str = "jsonl", compression: str = "gzip"
) -> dict[str, Any]:
    """The SDK's batch_config: files in ``folder`` (gzip JSONL unless asked otherwise),
    BATCH messages naming them."""
    return {
        "encoding": {"format": file_format, "compression": compression},
        "storage": {"root": f"file://{folder}", "prefix": "batch-"},
    }


def _last_state(states: Path) -> Path:
    """The target's last state line (Singer targets print the state value), for --state."""
    lines = [line for line in states.read_bytes().splitlines() if line.strip()]
    value = orjson.loads(lines[-1]) if lines else {}
    path = states.with_suffix(".state.json")
    path.write_bytes(orjson.dumps(value))
    return path
