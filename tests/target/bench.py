"""Benchmark target-dap-sql alone: a recorded Singer file into PostgreSQL and DuckDB.

    .venv/bin/python tests/target/bench.py [--rows 500000] [--postgres URL]

Generates a submissions-shaped Singer file (the DAP `submissions` schema, every value of
its type, strings of 4-30 characters, 15% nulls) once, then times `target-dap-sql`
reading it from a file into a fresh PostgreSQL database and a fresh DuckDB file, and
prints rows/s, the target's CPU time (the database's own is not included) and peak RSS.
Not part of `make test` (speed goals live in benchmarks).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.target.singer_data import DAP_SCHEMAS, load_dap_table, sample_record, singer_lines

TARGET = Path(sys.executable).parent / "target-dap-sql"


def generate(path: Path, rows: int) -> None:
    schema, key = load_dap_table(DAP_SCHEMAS / "canvas" / "submissions.json")
    rnd = random.Random(42)
    with path.open("wb") as out:
        out.writelines(
            singer_lines(
                "canvas-submissions",
                schema,
                key,
                (sample_record(schema, i, rnd, long_strings=False) for i in range(rows)),
            )
        )
        out.write(b'{"type":"STATE","value":{"bookmarks":{"canvas-submissions":{}}}}\n')


def run(config: dict[str, object], data: Path, workdir: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the target process, peak RSS in MB so far)."""
    config_path = workdir / f"config-{uuid.uuid4().hex}.json"
    config_path.write_text(json.dumps(config))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with data.open("rb") as stdin:
        subprocess.run(
            [str(TARGET), "--config", str(config_path)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, cpu, after.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = workdir / "submissions.singer"
        generate(data, args.rows)
        print(f"{args.rows} records, {data.stat().st_size / 1e6:.0f} MB of Singer messages")
        database = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        try:
            url = args.postgres.rsplit("/", 1)[0] + "/" + database
            for name, config in (
                ("postgresql", {"database_url": url}),
                ("duckdb", {"database_url": f"duckdb:///{workdir / 'bench.duckdb'}"}),
            ):
                seconds, cpu, rss = run(config, data, workdir)
                print(
                    f"{name:>10}: {seconds:6.1f} s  {args.rows / seconds:9,.0f} rows/s  "
                    f"target CPU {cpu:5.1f} s  peak RSS so far {rss:.0f} MB"
                )
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
