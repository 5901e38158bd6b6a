"""``dap-sim``: generate a dataset, serve it as the DAP Query API, advance it, dump it."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson

from dap_sim import evolution, server, sizing
from dap_sim.dataset import DEFAULT_SEED, Dataset, split_qualified
from dap_sim.options import ServeOptions
from dap_sim.tables import dump


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dap-sim", description="An offline simulator of the DAP Query API (Canvas Data 2)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a dataset description")
    generate.add_argument("--out", required=True, type=Path, help="dataset directory")
    generate.add_argument("--seed", type=int, default=DEFAULT_SEED)
    generate.add_argument(
        "--scale", type=int, default=sizing.DEFAULT_SCALE, help="submissions at epoch 0"
    )
    generate.add_argument("--start", help="clock of epoch 0 (ISO 8601, default 2025-09-01Z)")

    advance = commands.add_parser("advance", help="add one epoch (a 4-hour DAP refresh)")
    advance.add_argument("--data", required=True, type=Path, help="dataset directory")
    advance.add_argument(
        "--schema-change",
        action="append",
        metavar="[NS.]TABLE[:KIND[:VARIANT]]",
        help=f"bump this table's schema (repeatable); kinds: {', '.join(evolution.KINDS)}; "
        + "; ".join(
            f"{kind} takes a variant: {', '.join(variants)}"
            for kind, variants in evolution.VARIANTS.items()
        ),
    )
    advance.add_argument(
        "--no-schema-change", action="store_true", help="no schema bump in this epoch"
    )
    advance.add_argument(
        "--reload",
        action="append",
        default=[],
        metavar="[NS.]TABLE",
        help="mark the table reloaded: older bookmarks get SnapshotRequired",
    )
    advance.add_argument(
        "--churn",
        action="append",
        default=[],
        metavar="[NS.]TABLE:UPDATED:DELETED",
        help="also update and delete these fractions of the table's rows in this epoch, "
        "e.g. submissions:0.1:0.01 (repeatable; deterministic)",
    )

    dump_cmd = commands.add_parser("dump", help="print a table's true current state as JSONL")
    dump_cmd.add_argument("--data", required=True, type=Path, help="dataset directory")
    dump_cmd.add_argument("--namespace", default="canvas")
    dump_cmd.add_argument("--table", required=True)

    serve = commands.add_parser("serve", help="serve the dataset over HTTP until killed")
    serve.add_argument("--data", required=True, type=Path, help="dataset directory")
    defaults = ServeOptions()
    for option in fields(ServeOptions):
        flag = "--" + option.name.replace("_", "-")
        if option.name == "faults":
            serve.add_argument(flag, help="faults to script: JSON text or a JSON file")
        elif option.name == "verbose":
            serve.add_argument(flag, action="store_true", help="log requests (path only)")
        else:
            kind = type(getattr(defaults, option.name))
            serve.add_argument(flag, type=kind, default=getattr(defaults, option.name))
    return parser


def _faults(value: str | None) -> list[dict[str, Any]]:
    if not value:
        return []
    text = value if value.lstrip()[:1] in ("[", "{") else Path(value).read_text(encoding="utf-8")
    raw = json.loads(text)
    return raw if isinstance(raw, list) else [raw]


def _serve(args: argparse.Namespace) -> None:
    values = {f.name: getattr(args, f.name) for f in fields(ServeOptions)}
    values["faults"] = _faults(args.faults)
    options = ServeOptions(**values)
    sim, thread = server.start(args.data, options)
    print(sim.base_url, flush=True)
    credentials = sim.app.account
    print(f"client id: {credentials} (secret in {args.data / 'dataset.json'})", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    server.stop(sim)
    thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            dataset = Dataset.generate(seed=args.seed, scale=args.scale, start=args.start)
            path = dataset.save(args.out)
            rows = sum(sum(t.values()) for t in dataset.base_rows.values())
            print(
                f"wrote {path}: seed {dataset.seed}, scale {dataset.scale}, {rows} rows at epoch 0"
            )
        elif args.command == "advance":
            dataset = Dataset.load(args.data)
            changes = [] if args.no_schema_change else args.schema_change
            bumps = dataset.advance(schema_changes=changes, reload=args.reload, churn=args.churn)
            dataset.save(args.data)
            print(f"epoch {dataset.epoch}")
            for bump in bumps:
                kinds = ", ".join(f"{c['kind']} {c['column']}" for c in bump.changes)
                print(f"schema {bump.namespace}.{bump.table} v{bump.version}: {kinds}")
        elif args.command == "dump":
            namespace, table = split_qualified(f"{args.namespace}.{args.table}")
            out = sys.stdout.buffer
            for row in dump(Dataset.load(args.data), namespace, table):
                out.write(orjson.dumps(row) + b"\n")
        else:
            _serve(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"dap-sim: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
