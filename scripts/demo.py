"""`make demo`: the main job, offline, through the real Meltano project.

A demo dataset is served by dap-sim; `meltano run tap-dap target-dap-sql` takes the
initial snapshot of every canvas table into a DuckDB file; dap-sim advances one epoch
(the next 4-hour DAP refresh: inserts, updates, deletes and a schema change); a second
`meltano run` applies the increment. Full logs go to data/demo/run-*.log; the console
gets the interesting lines and a summary. Each run of the demo starts from scratch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from dap_sim.sizing import DEFAULT_SCALE
from dap_sim.testing import ensure_dataset, start_sim

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "data" / "demo"
DATABASE = DEMO_DIR / "dap.duckdb"
BIN = Path(sys.executable).parent
STATE_ID = "demo:tap-dap-to-target-dap-sql"
# A schema change the demo shows in its increment (dap-sim makes one in every first
# advance anyway; naming it makes the summary predictable).
SCHEMA_CHANGE = "canvas.courses:add_enum_value"

TABLE_DONE = re.compile(
    r"(canvas[\w-]*): (snapshot|incremental) done: (\d+) rows \((\d+) deletes\)"
)
EVOLVED = re.compile(r"Evolved table (\S+): (.*)")
SHOWN = re.compile(r"Evolved table|error|Error|WARNING|warning|Traceback|failed")


@dataclass
class RunResult:
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)  # table -> records the tap sent
    deletes: dict[str, int] = field(default_factory=dict)
    evolved: list[str] = field(default_factory=list)


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def meltano(*args: str, env: dict[str, str], log: Path | None = None) -> RunResult:
    """Run meltano; keep its whole output in `log`, echo the lines worth seeing."""
    started = time.monotonic()
    result = RunResult(0.0)
    with subprocess.Popen(
        [str(BIN / "meltano"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        with (log or Path(os.devnull)).open("w") as sink:
            for line in process.stdout:
                sink.write(line)
                if done := TABLE_DONE.search(line):
                    table = done.group(1).replace("-", ".", 1)
                    result.rows[table] = int(done.group(3))
                    result.deletes[table] = int(done.group(4))
                if evolved := EVOLVED.search(line):
                    result.evolved.append(f"{evolved.group(1)}: {evolved.group(2)}")
                if SHOWN.search(line) and "METRIC" not in line:
                    print("    " + line.rstrip()[:220], flush=True)
    if process.returncode:
        where = f"; its log: {log.relative_to(ROOT)}" if log else ""
        raise SystemExit(f"meltano {' '.join(args)} failed (exit {process.returncode}){where}")
    result.seconds = time.monotonic() - started
    return result


def table_counts() -> dict[str, tuple[int, int]]:
    """Per table: rows, and rows marked deleted."""
    with duckdb.connect(str(DATABASE), read_only=True) as db:
        tables = db.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{schema}.{table}": db.execute(
                f'SELECT count(*), count(_sdc_deleted_at) FROM "{schema}"."{table}"'
            ).fetchall()[0]
            for schema, table in tables
        }


def summary(first: RunResult, second: RunResult, before: dict[str, tuple[int, int]]) -> None:
    after = table_counts()
    inserted = sum(after[t][0] - before.get(t, (0, 0))[0] for t in after)
    deleted = sum(after[t][1] - before.get(t, (0, 0))[1] for t in after)
    changed = sum(second.rows.values()) - sum(second.deletes.values())
    print()
    say("summary")
    print(f"    tables loaded:            {len(after)}")
    print(
        f"    initial load:             {sum(before[t][0] for t in before):,} rows "
        f"in {first.seconds:.1f} s"
    )
    print(
        f"    increment:                {inserted:,} inserted, {changed - inserted:,} updated, "
        f"{deleted:,} deleted in {second.seconds:.1f} s"
    )
    print(f"    schema changes applied:   {len(second.evolved)}")
    for change in second.evolved:
        print(f"      {change}")
    print(f"    database:                 {DATABASE.relative_to(ROOT)}")
    print(f"    state:                    .venv/bin/meltano state get {STATE_ID}")
    print("    try:")
    print(
        f"      .venv/bin/python -c \"import duckdb; duckdb.connect('{DATABASE.relative_to(ROOT)}')"
        ".sql('SELECT workflow_state, count(*) FROM canvas.courses "
        "WHERE _sdc_deleted_at IS NULL GROUP BY 1').show()\""
    )


def main() -> int:
    started = time.monotonic()
    say("installing the Meltano plugins (meltano install)")
    env = {**os.environ, "MELTANO_ENVIRONMENT": "demo"}
    meltano("install", env=env)
    say(f"starting from scratch: {DEMO_DIR.relative_to(ROOT)} and the state {STATE_ID}")
    meltano("state", "clear", "--force", STATE_ID, env=env)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    ensure_dataset(DEMO_DIR, scale=DEFAULT_SCALE)
    with start_sim(DEMO_DIR, job_latency=1.0, in_subprocess=True) as sim:
        say(f"dap-sim serving the demo dataset at {sim.base_url}")
        env.update(
            TAP_DAP_BASE_URL=sim.base_url,
            TAP_DAP_CLIENT_ID=sim.client_id,
            TAP_DAP_CLIENT_SECRET=sim.client_secret,
        )
        say("meltano run tap-dap target-dap-sql: initial snapshot of every canvas table")
        first = meltano("run", "tap-dap", "target-dap-sql", env=env, log=DEMO_DIR / "run-1.log")
        before = table_counts()
        say(f"done in {first.seconds:.1f} s: {sum(c[0] for c in before.values()):,} rows")
        say("dap-sim advance: the next 4-hour refresh (inserts, updates, deletes, a schema change)")
        sim.advance(schema_changes=[SCHEMA_CHANGE])
        say("meltano run tap-dap target-dap-sql: the increment")
        second = meltano("run", "tap-dap", "target-dap-sql", env=env, log=DEMO_DIR / "run-2.log")
    say("dap-sim stopped")
    summary(first, second, before)
    print(f"    total time:               {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
