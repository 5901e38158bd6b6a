"""`make bench` / `python -m bench`: measure tap-dap and target-dap-sql against the baselines.

Prints progress as it goes, then the table; writes bench/results/latest.json and
latest.png (or the --out folder). See bench/README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import report, tools
from bench.scenarios import Bench, Options

RESULTS = tools.REPO / "bench" / "results"
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")
QUICK_ROWS = 20_000
FULL_ROWS = 1_000_000


def _scenarios(text: str) -> set[int]:
    chosen = {int(part) for part in text.split(",") if part.strip()}
    if not chosen <= {1, 2, 3, 4, 5}:
        raise argparse.ArgumentTypeError(f"scenarios are 1-5, not {text!r}")
    return chosen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 run (a smoke test)")
    parser.add_argument("--rows", type=int, help=f"submissions rows (default {FULL_ROWS:,})")
    parser.add_argument("--runs", type=int, help="runs per figure, the median is shown (3)")
    parser.add_argument(
        "--baseline-runs",
        type=int,
        help="runs of the slow baselines: official CLI, target-postgres (default 1)",
    )
    parser.add_argument(
        "--scenarios", type=_scenarios, default={1, 2, 3, 4, 5}, help="e.g. 1,3 (default all)"
    )
    parser.add_argument(
        "--namespace-scale",
        type=int,
        help="dap-sim scale of scenario 5's namespace (default rows/20; submissions rows)",
    )
    parser.add_argument(
        "--job-latency",
        type=float,
        default=1.0,
        help="dap-sim seconds from job creation to completion, the same for every tool",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="measure nothing: print the table of a saved latest.json, draw its .png again",
    )
    parser.add_argument(
        "--no-official", action="store_true", help="skip the official DAP CLI (no install)"
    )
    parser.add_argument(
        "--no-target-postgres", action="store_true", help="skip MeltanoLabs target-postgres"
    )
    parser.add_argument(
        "--no-meltano",
        action="store_true",
        help="skip `meltano run` (the plain pipe stands for us; no `meltano install`)",
    )
    parser.add_argument(
        "--no-mariadb", action="store_true", help="skip the MariaDB rows of scenarios 2 and 3"
    )
    parser.add_argument("--postgres", default=ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument(
        "--mysql",
        default=MYSQL_URL,
        metavar="URL",
        help="MariaDB (or MySQL) server URL, no database: bench_* databases are made on it",
    )
    parser.add_argument(
        "--sim-cache",
        default=str(tools.REPO / ".bench" / "sim-cache"),
        help="dap-sim's cache of produced job files, kept between runs ('' for none)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder of latest.json and latest.png (default bench/results, with --quick "
        "bench/results/quick, which git ignores)",
    )
    return parser


def options_from(args: argparse.Namespace, workdir: Path) -> Options:
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    runs = args.runs or (1 if args.quick else 3)
    return Options(
        rows=rows,
        runs=runs,
        baseline_runs=min(runs, args.baseline_runs or 1),
        scenarios=args.scenarios,
        namespace_scale=args.namespace_scale or max(2_000, rows // 20),
        job_latency=args.job_latency,
        seed=args.seed,
        with_official=not args.no_official,
        with_target_postgres=not args.no_target_postgres,
        with_meltano=not args.no_meltano,
        with_mariadb=not args.no_mariadb,
        workdir=workdir,
        postgres_url=args.postgres,
        mysql_url=args.mysql,
        sim_cache=args.sim_cache,
    )


def _print_table(results: list[report.Result]) -> None:
    print()
    print(report.table(results))
    print(
        "\nvs official: the official CLI's wall time / this one's (x faster); "
        "vs floor: this one's rows/s / the\ndatabase's bulk load of the same rows (PostgreSQL "
        "COPY, MariaDB LOAD DATA) into an empty keyed table;\nin 4, plain SQL's increment "
        "(COPY into a temporary table, one upsert, one delete).\nScenarios 1-4: jobs "
        "produced before the clock starts (job wait excluded for all); 5: the same job "
        "latency for all.",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    if args.render:
        results, settings = report.from_json(json.loads(args.render.read_text()))
        _print_table(results)
        chart = args.render.with_suffix(".png")
        if report.chart(results, chart, settings):
            print(f"wrote {chart}")
        return 0
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    if not args.no_official:
        tools.ensure_official_client()
    meltano_needed = not args.no_meltano and args.scenarios & {3, 4, 5}
    if meltano_needed or (not args.no_target_postgres and 3 in args.scenarios):
        tools.ensure_meltano_plugins()  # meltano run, and target-postgres
    with tempfile.TemporaryDirectory(prefix="dap-bench-") as folder:
        options = options_from(args, Path(folder))
        bench = Bench(options, progress)
        bench.settings.update(
            rows=options.rows,
            runs=options.runs,
            baseline_runs=options.baseline_runs,
            scenarios=sorted(options.scenarios),
            namespace_scale=options.namespace_scale,
            job_latency_s=options.job_latency,
            seed=options.seed,
            cpus=os.cpu_count(),
        )
        try:
            bench.run()
        finally:
            report.compare(bench.results)
            bench.settings["total_s"] = round(time.perf_counter() - started)
            _print_table(bench.results)
            written = report.write(bench.results, bench.settings, args.out)
            print(f"wrote {', '.join(map(str, written))}", flush=True)
    failed = [r for r in bench.results if r.note.startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
