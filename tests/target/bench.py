"""Benchmark target-dap-sql alone: recorded Singer input into PostgreSQL, DuckDB, MariaDB.

    .venv/bin/python tests/target/bench.py [--rows 500000] [--postgres URL] [--mysql URL]
        [--databases postgresql duckdb mariadb] [--modes record batch] [--json out.json]

Generates submissions-shaped input once (the DAP `submissions` schema, every value of its
type, strings of 4-30 characters, 15% nulls; a pool of distinct records repeated under
new keys, so that millions of rows generate in seconds), in two forms with the same
rows: RECORD messages, and BATCH messages over gzip JSON-lines files as tap-dap writes
them. Then times `target-dap-sql` on each into a fresh PostgreSQL database, a fresh
DuckDB file and a fresh MariaDB database, and prints rows/s, the target's CPU time (the
database server's own is not included) and the target's own peak RSS. Not part of `make
test` (speed goals live in benchmarks, not in timed tests).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.target.singer_data import DAP_SCHEMAS, load_dap_table, sample_record

TARGET = Path(sys.executable).parent / "target-dap-sql"
STREAM = "canvas-submissions"
POOL = 20_000  # distinct records; row i is record i % POOL under key i


def records(rows: int) -> Iterator[dict[str, Any]]:
    schema, _ = load_dap_table(DAP_SCHEMAS / "canvas" / "submissions.json")
    rnd = random.Random(42)
    pool = [sample_record(schema, i, rnd, long_strings=False) for i in range(min(rows, POOL))]
    for i in range(rows):
        record = pool[i % POOL]
        record["id"] = i
        yield record


def header() -> bytes:
    schema, key = load_dap_table(DAP_SCHEMAS / "canvas" / "submissions.json")
    message = {"type": "SCHEMA", "stream": STREAM, "schema": schema, "key_properties": key}
    return orjson.dumps(message) + b"\n"


STATE = b'{"type":"STATE","value":{"bookmarks":{"canvas-submissions":{}}}}\n'


def generate_records(path: Path, rows: int) -> None:
    with path.open("wb") as out:
        out.write(header())
        for record in records(rows):
            message = {"type": "RECORD", "stream": STREAM, "record": record, "version": 1}
            out.write(orjson.dumps(message) + b"\n")
        out.write(STATE)


def generate_batches(path: Path, rows: int, file_rows: int) -> None:
    """BATCH messages of one gzip file each (fast gzip level, as a tap would choose)."""
    folder = path.parent / "batches"
    folder.mkdir()
    with path.open("wb") as out:
        out.write(header())
        source = records(rows)
        for number in range(-(-rows // file_rows)):
            file = folder / f"part-{number:05d}.jsonl.gz"
            with gzip.open(file, "wb", compresslevel=1) as batch:
                for _ in range(min(file_rows, rows - number * file_rows)):
                    batch.write(orjson.dumps(next(source)) + b"\n")
            message = {
                "type": "BATCH",
                "stream": STREAM,
                "encoding": {"format": "jsonl", "compression": "gzip"},
                "manifest": [file.as_uri()],
                "version": 1,
            }
            out.write(orjson.dumps(message) + b"\n")
        out.write(STATE)


def run(config: dict[str, object], data: Path, workdir: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the target process, its peak RSS in MB)."""
    config_path = workdir / f"config-{uuid.uuid4().hex}.json"
    config_path.write_text(json.dumps(config))
    log = workdir / "target.log"
    start = time.perf_counter()
    with data.open("rb") as stdin, log.open("wb") as stderr:
        process = subprocess.Popen(
            [str(TARGET), "--config", str(config_path)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        last = log.read_text(errors="replace").splitlines()[-3:]
        raise SystemExit(f"target-dap-sql failed on {data.name}: " + " | ".join(last))
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def mysql(admin_url: str, sql: str) -> None:
    """One statement on the MySQL server of `admin_url` (no database in the URL)."""
    parts = urlsplit(admin_url)
    with (
        pymysql.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            autocommit=True,
        ) as admin,
        admin.cursor() as cursor,
    ):
        cursor.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--mysql", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--databases", nargs="+", default=["postgresql", "duckdb", "mariadb"])
    parser.add_argument("--modes", nargs="+", default=["record", "batch"])
    parser.add_argument("--batch-file-rows", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        inputs = {"record": workdir / "records.singer", "batch": workdir / "batches.singer"}
        if "record" in args.modes:
            generate_records(inputs["record"], args.rows)
        if "batch" in args.modes:
            generate_batches(inputs["batch"], args.rows, args.batch_file_rows)
        batch_files = workdir / "batches"
        sizes = ", ".join(
            f"{mode} input {size / 1e6:,.0f} MB"
            for mode, size in (
                ("RECORD", inputs["record"].stat().st_size if "record" in args.modes else 0),
                ("BATCH (gzip files)", sum(f.stat().st_size for f in batch_files.glob("*"))),
            )
            if size
        )
        print(f"{args.rows:,} rows; {sizes}")
        for database in args.databases:
            for mode in args.modes:
                name = f"bench_{uuid.uuid4().hex[:8]}"
                if database == "postgresql":
                    with psycopg.connect(args.postgres, autocommit=True) as admin:
                        admin.execute(f'CREATE DATABASE "{name}"')
                    url = args.postgres.rsplit("/", 1)[0] + "/" + name
                elif database == "mariadb":
                    mysql(args.mysql, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
                    url = f"{args.mysql.rstrip('/')}/{name}"
                else:
                    url = f"duckdb:///{workdir / f'bench-{mode}.duckdb'}"
                try:
                    seconds, cpu, rss = run({"database_url": url}, inputs[mode], workdir)
                finally:
                    if database == "postgresql":
                        with psycopg.connect(args.postgres, autocommit=True) as admin:
                            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    elif database == "mariadb":
                        mysql(args.mysql, f"DROP DATABASE IF EXISTS `{name}`")
                rate = args.rows / seconds
                print(
                    f"{database:>10} {mode:>6}: {seconds:7.1f} s  {rate:9,.0f} rows/s  "
                    f"target CPU {cpu:6.1f} s  target peak RSS {rss:5.0f} MB"
                )
                results.append(
                    {
                        "database": database,
                        "mode": mode,
                        "rows": args.rows,
                        "seconds": round(seconds, 2),
                        "rows_per_second": round(rate),
                        "target_cpu_seconds": round(cpu, 2),
                        "target_peak_rss_mb": round(rss),
                    }
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
