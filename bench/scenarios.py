"""The benchmark's scenarios, measured on one dap-sim dataset (see bench/README.md).

1 tap-dap alone; 2 target-dap-sql alone; 3 initial load of submissions into PostgreSQL
and into MariaDB; 4 an increment (10% updated, 1% deleted); 5 the whole canvas namespace
with the real rate limits. Scenarios 1-4 share a dataset whose submissions table has
``rows`` rows; scenario 5 has a dataset of its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import orjson

from bench.duckdb_files import DuckDBFiles
from bench.mariadb import MariaDB, MariaDBUnavailableError
from bench.measure import CommandFailedError, Measurement, run_pipeline
from bench.postgres import Postgres
from bench.report import COPY_FLOOR, LOAD_DATA_FLOOR, Result
from bench.simulator import OFFICIAL_QUERY, TAP_QUERY, Simulator
from bench.tools import REPO, Tools

TABLE = "submissions"
QUALIFIED = f"canvas.{TABLE}"
CHURN = f"{TABLE}:0.1:0.01"  # the increment: 10% of the rows updated, 1% deleted
INITIAL = "3 initial load"  # into PostgreSQL, with the COPY floor
INITIAL_MARIADB = "3 initial load, MariaDB"  # a scenario of its own: its official row

MELTANO = "meltano run tap-dap target-dap-sql"
PIPE = "tap-dap | target-dap-sql"
PIPE_BATCH = "tap-dap (BATCH) | target-dap-sql"
MELTANO_BATCH = "meltano run (BATCH)"
TARGET_POSTGRES = "tap-dap | target-postgres"
INITDB = "dap initdb"
SYNCDB = "dap syncdb"

PARQUET = ("parquet", "none")  # the SDK's batch_config encoding; `none` writes snappy pages


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
    """A database loaded at epoch 0 by one tool, kept as the template for the increment."""

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
            self._sim = Simulator(
                data,
                scale=opts.rows,
                seed=opts.seed,
                job_latency=opts.job_latency,
                rate_limit_factor=0.0,
                cache_dir=opts.sim_cache,
            )
            self._snapshot_rows, self._snapshot_at = self._warm_jobs({})
        return self._sim

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
        sim = sim or self.sim
        tap_config = sim.tap_config(tables=tables) if tables else sim.tap_config()
        url = server.url(database)
        label = f"{'-'.join(tables or ['all'])}-{index}"
        if tool == MELTANO:
            system_db = self.workdir / f"meltano-{label}.db"
            system_db.unlink(missing_ok=True)
            env = self.tools.meltano_env(tap_config, url, system_db)
            measured = run_pipeline([self.tools.meltano_run()], env=env, cwd=REPO, log=self.log)
            return measured, Loaded(database, system_db)
        if tool == MELTANO_BATCH:  # Meltano relays a line per file instead of per record
            with tempfile.TemporaryDirectory(dir=self.workdir) as folder:
                system_db = Path(folder) / "meltano.db"
                config = {**tap_config, "batch_config": _batch_config(folder)}
                env = self.tools.meltano_env(config, url, system_db)
                run = [self.tools.meltano_run()]
                return run_pipeline(run, env=env, cwd=REPO, log=self.log), Loaded(database)
        if tool == PIPE:
            states = self.workdir / f"pipe-state-{label}.jsonl"
            commands = [self.tools.tap_command(tap_config), self.tools.target_command(url)]
            measured = run_pipeline(commands, stdout=states, log=self.log)
            return measured, Loaded(database, _last_state(states))
        if tool == PIPE_BATCH:
            with tempfile.TemporaryDirectory(dir=self.workdir) as folder:
                config = {**tap_config, "batch_config": _batch_config(folder)}
                commands = [self.tools.tap_command(config), self.tools.target_command(url)]
                return run_pipeline(commands, log=self.log), Loaded(database)
        if tool == TARGET_POSTGRES:
            commands = [
                self.tools.tap_command(tap_config),
                self.tools.target_postgres_command(url),
            ]
            return run_pipeline(commands, log=self.log), Loaded(database)
        env = {**self._base_env(), **sim.official_env()}
        command = self.tools.official_command("initdb", url, ",".join(tables or ["all"]))
        return run_pipeline([command], env=env, cwd=self.workdir, log=self.log), Loaded(database)

    def _base_env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("DAP_")}

    def ours(self) -> list[str]:
        return [MELTANO, PIPE] if self.options.with_meltano else [PIPE]

    def initial_tools(self) -> list[str]:
        tools = self.ours()
        if "batch" in self.tools.tap_capabilities():
            tools.append(PIPE_BATCH)  # shown as not supported when the target refuses BATCH
            if self.options.with_meltano:
                tools.append(MELTANO_BATCH)
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
            # ours and the official client: target-postgres and BATCH are PostgreSQL's
            tools = [t for t in self.initial_tools() if t in (MELTANO, PIPE, INITDB)]
            self._initial_into(self.mariadb, INITIAL_MARIADB, tools, rows)
            self._load_data_floor(rows)

    def _initial_into(self, server: Server, scenario: str, tools: list[str], rows: int) -> None:
        """Each tool's initial load of submissions, each run into a new database of
        ``server``. PostgreSQL keeps the last load of the tools that scenario 4 syncs."""
        for tool in tools:
            slow = tool in (TARGET_POSTGRES, INITDB)
            result = Result(scenario, tool, rows)
            if tool in (PIPE_BATCH, MELTANO_BATCH) and not self.tools.target_accepts_batch():
                result.note = "not supported: target-dap-sql refused a BATCH message (probe)"
                self.results.append(result)
                continue

            def one_run(index: int, tool: str = tool, result: Result = result) -> Measurement:
                database = server.create("initial")
                measurement, loaded = self._load(tool, server, database, index, tables=[TABLE])
                soft = tool in (MELTANO, PIPE, PIPE_BATCH, MELTANO_BATCH)
                self._check_rows(result, server.count(database, QUALIFIED, live_only=soft), rows)
                if server is self.mariadb and tool == PIPE:  # the LOAD DATA floor's rows
                    if self.mariadb_loaded is not None:
                        self.mariadb.drop(self.mariadb_loaded)
                    self.mariadb_loaded = database
                    return measurement
                if server is not self.pg or tool not in (MELTANO, PIPE, INITDB):
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
        tools = self.ours() + ([SYNCDB] if self.options.with_official else [])
        initial_of = {MELTANO: MELTANO, PIPE: PIPE, SYNCDB: INITDB}
        for tool in list(tools):
            if initial_of[tool] not in self.loaded:
                self.progress(f"  loading with {initial_of[tool]} first (untimed)")
                database = self.pg.create("initial")
                try:
                    loaded = self._load(initial_of[tool], self.pg, database, 99, tables=[TABLE])[1]
                except CommandFailedError as error:
                    failed = f"failed: the initial load: {_failure(error)}"
                    self.results.append(Result("4 increment", tool, 0, note=failed))
                    tools.remove(tool)
                    continue
                self.loaded[initial_of[tool]] = loaded
        self.progress(f"dap-sim advance --churn {CHURN}")
        self.sim.advance([CHURN])
        rows, _ = self._warm_jobs({"since": self._snapshot_at})
        live: dict[str, int] = {}
        for tool in tools:
            loaded = self.loaded[initial_of[tool]]
            result = Result("4 increment", tool, rows, note="10% updated, 1% deleted; ")

            def one_run(index: int, tool: str = tool, loaded: Loaded = loaded) -> Measurement:
                database = self.pg.create("increment", template=loaded.database)
                try:
                    measurement = self._sync(tool, database, loaded, index)
                    live[tool] = self.pg.count(database, QUALIFIED, live_only=tool != SYNCDB)
                    return measurement
                finally:
                    self.pg.drop(database)

            runs = self.options.baseline_runs if tool == SYNCDB else self.options.runs
            self._measure(result, runs, one_run)
        if len(set(live.values())) > 1:
            self.progress(f"  WARNING: live rows after the increment differ: {live}")
            for result in self.results[-len(tools) :]:
                result.note += f"live rows after: {live.get(result.tool)}; "

    def _sync(self, tool: str, database: str, loaded: Loaded, index: int) -> Measurement:
        url = self.pg.url(database)
        if tool == MELTANO:
            assert loaded.state is not None
            system_db = self.workdir / f"meltano-increment-{index}.db"
            shutil.copyfile(loaded.state, system_db)
            env = self.tools.meltano_env(self.tap_config(), url, system_db)
            return run_pipeline([self.tools.meltano_run()], env=env, cwd=REPO, log=self.log)
        if tool == PIPE:
            commands = [
                self.tools.tap_command(self.tap_config(), state=loaded.state),
                self.tools.target_command(url),
            ]
            return run_pipeline(commands, log=self.log)
        env = {**self._base_env(), **self.sim.official_env()}
        command = self.tools.official_command("syncdb", url, TABLE)
        return run_pipeline([command], env=env, cwd=self.workdir, log=self.log)

    # -- scenario 5: the whole namespace, real rate limits -----------------------------------

    def namespace(self) -> None:
        opts = self.options
        data = self.workdir / "sim-namespace"
        shutil.rmtree(data, ignore_errors=True)
        self.progress(f"dap-sim: whole canvas namespace at scale {opts.namespace_scale:,}")
        tools = self.ours()[:1] + ([INITDB] if opts.with_official else [])
        measured_rows: dict[str, int] = {}
        for tool in tools:
            label = f"{INITDB} --table all" if tool == INITDB else tool
            result = Result("5 whole namespace", label, 0)
            # a fresh process per tool: each has the whole rate budget and its own 429 count
            sim = Simulator(
                data,
                scale=opts.namespace_scale,
                seed=opts.seed,
                job_latency=opts.job_latency,
                rate_limit_factor=1.0,
                cache_dir=opts.sim_cache,
            )
            try:

                def one_run(
                    index: int, tool: str = tool, sim: Simulator = sim, result: Result = result
                ) -> Measurement:
                    database = self.pg.create("namespace")
                    try:
                        limited = sim.rate_limited()
                        measured, _ = self._load(tool, self.pg, database, index, sim=sim)
                        result.note += f"HTTP 429 drawn: {sim.rate_limited() - limited}; "
                        rows = self.pg.schema_rows(database, "canvas", live_only=tool != INITDB)
                        measured_rows[tool] = result.rows = rows
                        return measured
                    finally:
                        self.pg.drop(database)

                self._measure(result, 1, one_run, sim=sim, fewer_runs_because="scenario 5")
            finally:
                sim.close()
        if len(set(measured_rows.values())) > 1:
            self.progress(f"  WARNING: rows loaded differ between tools: {measured_rows}")

    # -- all ---------------------------------------------------------------------------------

    def run(self) -> None:
        steps: Sequence[tuple[int, str, Callable[[], None]]] = [
            (1, "tap-dap alone", self.tap_alone),
            (2, "target-dap-sql alone", self.target_alone),
            (3, "initial load", self.initial_load),
            (4, "increment", self.increment),
            (5, "whole namespace", self.namespace),
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
    # the processes of a pipe share one log: the error is not always its last line
    errors = [line for line in log if "error" in line.lower()] or log
    return f"{head.split(';')[0]}: {errors[-1]}" if errors else head


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
