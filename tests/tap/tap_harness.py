"""Run tap-dap as its users do (the console script, a real process) against dap-sim, and
read what it printed: Singer messages on stdout, logs on stderr.

`Replica` applies a tap's messages by key the way a SQL target would (upserts, soft
deletes, ACTIVATE_VERSION sweeps), so a test can compare it with `dap-sim dump`.

Records are compared as a typed target stores them (`typed`): JSON text from RECORD
messages and JSONL files, Arrow values from Parquet files and the simulator's dump all
become the same Python values (a date-time a `datetime`, an exact decimal a `Decimal`,
objects without null members), so every emit mode meets the same truth.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from dap_sim.testing import SimServer

TAP = str(Path(sys.executable).parent / "tap-dap")
META_COLUMNS = ("_dap_ts", "_sdc_deleted_at")
TABLE_VERSION = "_sdc_table_version"  # Parquet files carry the BATCH message's version


def typed(value: Any, spec: Mapping[str, Any]) -> Any:  # noqa: PLR0911 - one per shape
    """A record value as a typed target holds it, whatever form it came in."""
    if value is None:
        return None
    if isinstance(value, dict):
        members = spec.get("properties") or {}
        return {
            name: typed(member, members.get(name, {}))
            for name, member in value.items()
            if member is not None
        }
    if isinstance(value, list):
        return [typed(item, spec.get("items") or {}) for item in value]
    if isinstance(value, str) and spec.get("format") == "date-time":
        return datetime.fromisoformat(value)
    if isinstance(value, str) and spec.get("format") == "date":
        return date.fromisoformat(value)
    if "multipleOf" in spec and isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def typed_record(record: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A record with typed values; absent and null fields alike left out, but for
    `_sdc_deleted_at`, which every record carries."""
    properties = schema.get("properties") or {}
    return {
        name: typed(value, properties.get(name, {}))
        for name, value in record.items()
        if value is not None or name == "_sdc_deleted_at"
    }


@dataclass
class TapRun:
    """What one tap process printed."""

    returncode: int
    messages: list[dict[str, Any]]
    stderr: str

    def of_type(self, kind: str, stream: str | None = None) -> list[dict[str, Any]]:
        return [
            message
            for message in self.messages
            if message["type"] == kind and (stream is None or message.get("stream") == stream)
        ]

    def records(self, stream: str) -> list[dict[str, Any]]:
        """The stream's records in order, from RECORD messages or the files of BATCH ones,
        typed by the stream's schema at the time (`typed_record`)."""
        records: list[dict[str, Any]] = []
        schema: dict[str, Any] = {}
        for message in self.messages:
            if message.get("stream") != stream:
                continue
            if message["type"] == "SCHEMA":
                schema = message["schema"]
            elif message["type"] == "RECORD":
                records.append(typed_record(message["record"], schema))
            elif message["type"] == "BATCH":
                records += [typed_record(record, schema) for record in read_batch(message)]
        return records

    def data_messages(self, stream: str) -> list[dict[str, Any]]:
        """The stream's RECORD and BATCH messages."""
        return [
            message
            for message in self.messages
            if message["type"] in ("RECORD", "BATCH") and message.get("stream") == stream
        ]

    @property
    def state(self) -> dict[str, Any]:
        """The last STATE the tap emitted."""
        states = self.of_type("STATE")
        assert states, f"the tap emitted no STATE; stderr:\n{self.stderr[-3000:]}"
        value: dict[str, Any] = states[-1]["value"]
        return value

    def bookmark(self, stream: str) -> dict[str, Any]:
        result: dict[str, Any] = self.state["bookmarks"][stream]
        return result

    def streams(self) -> list[str]:
        """Streams with a SCHEMA, in order of first appearance."""
        seen: list[str] = []
        for message in self.of_type("SCHEMA"):
            if message["stream"] not in seen:
                seen.append(message["stream"])
        return seen


def read_batch(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of the files a BATCH message names (local file:// URLs): JSON lines,
    or Parquet rows (whose `_sdc_table_version` must be the message's `version`)."""
    records = []
    compressed = message["encoding"]["compression"] == "gzip"
    for url in message["manifest"]:
        assert url.startswith("file:///"), url
        path = Path(url.removeprefix("file://"))
        if message["encoding"]["format"] == "parquet":
            rows = pq.read_table(path).to_pylist()
            assert {row.pop(TABLE_VERSION) for row in rows} <= {message.get("version")}
            records += rows
            continue
        data = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
        records += [json.loads(line) for line in data.splitlines()]
    return records


def batch_config(
    root: Path, compression: str = "gzip", prefix: str = "", file_format: str = "jsonl"
) -> dict[str, Any]:
    """The SDK's standard batch_config setting for JSONL (or Parquet) files under `root`."""
    return {
        "encoding": {"format": file_format, "compression": compression},
        "storage": {"root": root.as_uri(), "prefix": prefix},
    }


def sim_config(sim: SimServer, **settings: Any) -> dict[str, Any]:
    """Settings pointing tap-dap at the simulator."""
    return {
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "base_url": sim.base_url,
        "poll_interval": 0.1,
        "poll_interval_max": 0.5,
        **settings,
    }


def run_tap(
    workdir: Path,
    config: dict[str, Any] | None,
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 300,
) -> TapRun:
    """Run `tap-dap [--config ...] [--state ...] [--catalog ...] args` and parse stdout."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [TAP]
    for name, content in (("config", config), ("state", state), ("catalog", catalog)):
        if content is not None:
            path = workdir / f"{name}.json"
            path.write_text(json.dumps(content))
            command += [f"--{name}", str(path)]
    command += list(args)
    environ = {key: value for key, value in os.environ.items() if not key.startswith("DAP_")}
    environ.update(env or {})
    done = subprocess.run(
        command, capture_output=True, timeout=timeout, env=environ, cwd=workdir, check=False
    )
    stderr = done.stderr.decode(errors="replace")
    if check:
        assert done.returncode == 0, f"tap-dap exited {done.returncode}:\n{stderr[-5000:]}"
    lines = done.stdout.decode().splitlines()
    messages = [json.loads(line) for line in lines if line.startswith("{")]
    return TapRun(done.returncode, messages, stderr)


def discover(workdir: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The catalog of `tap-dap --discover`."""
    done = subprocess.run(
        [TAP, "--config", _write(workdir, "discover-config.json", config), "--discover"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    catalog: dict[str, Any] = json.loads(done.stdout)
    return catalog


def select(catalog: dict[str, Any], streams: Iterable[str]) -> dict[str, Any]:
    """The catalog with exactly `streams` selected."""
    wanted = set(streams)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


def _write(workdir: Path, name: str, content: dict[str, Any]) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / name
    path.write_text(json.dumps(content))
    return str(path)


@dataclass
class Replica:
    """Tables as a SQL target would keep them from the tap's messages."""

    keys: dict[str, list[str]] = field(default_factory=dict)
    columns: dict[str, set[str]] = field(default_factory=dict)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: dict[str, dict[tuple[Any, ...], tuple[dict[str, Any], int | None]]] = field(
        default_factory=dict
    )
    # every column a stream's table ever got: a SQL table keeps the columns DAP drops
    added: dict[str, set[str]] = field(default_factory=dict)

    def apply(self, run: TapRun) -> Replica:
        for message in run.messages:
            kind = message["type"]
            stream = message.get("stream")
            if kind == "SCHEMA":
                self.keys[stream] = message["key_properties"]
                self.schemas[stream] = message["schema"]
                self.columns[stream] = set(message["schema"]["properties"])
                self.rows.setdefault(stream, {})
                self._add_columns(stream, message["schema"]["properties"])
            elif kind == "RECORD":
                self._upsert(stream, message["record"], message.get("version"))
            elif kind == "BATCH":
                for record in read_batch(message):
                    self._upsert(stream, record, message.get("version"))
            elif kind == "ACTIVATE_VERSION":
                version = message["version"]
                table = self.rows[stream]
                for key in [k for k, (_, v) in table.items() if v is not None and v < version]:
                    del table[key]
        return self

    def _add_columns(self, stream: str, properties: dict[str, Any]) -> None:
        """ADD COLUMN ... DEFAULT: the rows the table holds take a new column's default."""
        added = self.added.setdefault(stream, set())
        for name, spec in properties.items():
            if name not in added and "default" in spec:
                for record, _ in self.rows[stream].values():
                    record[name] = typed(spec["default"], spec)
        added.update(properties)

    def _upsert(self, stream: str, record: dict[str, Any], version: int | None) -> None:
        record = typed_record(record, self.schemas[stream])
        key = tuple(record[name] for name in self.keys[stream])
        if record.get("_sdc_deleted_at") is not None:
            self.rows[stream].pop(key, None)
        else:
            self.rows[stream][key] = (record, version)

    def table(self, stream: str) -> list[dict[str, Any]]:
        """Live rows, as `dap-sim dump` shows them: nulls omitted, no metadata columns,
        only columns of the stream's latest schema, sorted by key."""
        columns = self.columns[stream] - set(META_COLUMNS)
        rows = [
            {name: value for name, value in record.items() if name in columns and value is not None}
            for key, (record, _) in sorted(self.rows.get(stream, {}).items())
        ]
        return rows


def truth(sim: SimServer, stream: str, schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`dap-sim dump` of a stream's table, typed by the stream's schema like `Replica.table`."""
    namespace, _, table = stream.partition("-")
    properties = schema.get("properties") or {}
    rows = [
        {name: typed(value, properties.get(name, {})) for name, value in row.items()}
        for row in sim.dump(namespace, table)
    ]
    return [{name: value for name, value in row.items() if value is not None} for row in rows]


def final_records_equal_truth(replica: Replica, sim: SimServer, stream: str) -> None:
    """Assert, with a readable diff, that the replica of a stream equals the simulator's."""
    ours = replica.table(stream)
    theirs = truth(sim, stream, replica.schemas[stream])
    keys = replica.keys[stream]
    theirs.sort(key=lambda row: tuple(row[name] for name in keys))
    if ours != theirs:
        ours_by_key = {tuple(row[k] for k in keys): row for row in ours}
        theirs_by_key = {tuple(row[k] for k in keys): row for row in theirs}
        missing = sorted(set(theirs_by_key) - set(ours_by_key))[:5]
        extra = sorted(set(ours_by_key) - set(theirs_by_key))[:5]
        differ = [
            (key, ours_by_key[key], theirs_by_key[key])
            for key in sorted(set(ours_by_key) & set(theirs_by_key))
            if ours_by_key[key] != theirs_by_key[key]
        ][:3]
        raise AssertionError(
            f"{stream}: {len(ours)} rows replicated, {len(theirs)} true; missing keys "
            f"{missing}, extra keys {extra}, differing rows {differ}"
        )
