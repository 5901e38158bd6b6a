"""Drive the real Meltano project (the repository's meltano.yml) against dap-sim.

Each `MeltanoProject` keeps its own system database (state) and `.meltano` run directory
under tmp_path and passes every setting as Meltano's environment variables, so tests can
run side by side with the plugins installed once under .meltano/. `assert_matches_dump`
compares every table of a database with the simulator's truth, value by value, typed by
tap-dap's own discovery.
"""

from __future__ import annotations

import datetime
import decimal
import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dap_sim.testing import SimServer

from tests.target.harness import Database, actual_value, expected_value

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MELTANO = str(BIN / "meltano")
TARGET_METADATA = ("_dap_ts", "_sdc_deleted_at", "_sdc_table_version", "_sdc_batched_at")


def install_plugins() -> None:
    """`meltano install`: idempotent, and quick once the plugin venvs exist.

    Pytest workers may call it at the same moment on a fresh checkout; two installs into
    the same plugin venvs would break each other, so they take turns on a file lock.
    """
    lock_path = REPO / ".meltano" / "test-install.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            [MELTANO, "install"], cwd=REPO, capture_output=True, text=True, check=False
        )
    assert done.returncode == 0, f"meltano install failed:\n{done.stderr[-5000:]}"


@dataclass
class MeltanoProject:
    """The repository's Meltano project, pointed at one simulator and one database."""

    workdir: Path
    sim: SimServer
    database_url: str
    environment: str = "demo"
    root: Path = REPO  # the project directory (a test may copy meltano.yml elsewhere)

    def sys_dir(self) -> Path:
        """A `.meltano` directory of the test's own that shares the installed plugins.

        Meltano 4 writes a plugin's catalog (`tap.properties.json`) and input state
        (`state.json`) to `.meltano/run/<plugin name>/`, shared by every run of that plugin
        in the project: two runs at once (two pytest workers) would read each other's files.
        """
        sys_dir = self.workdir / ".meltano"
        sys_dir.mkdir(parents=True, exist_ok=True)
        for kind in ("extractors", "loaders"):
            link = sys_dir / kind
            if not link.exists():
                link.symlink_to(REPO / ".meltano" / kind)
        return sys_dir

    def env(self, **settings: Any) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "TAP_"))}
        environ.update(
            {
                "MELTANO_SYS_DIR_ROOT": str(self.sys_dir()),
                "MELTANO_DATABASE_URI": f"sqlite:///{self.workdir / 'meltano.db'}",
                "MELTANO_ENVIRONMENT": self.environment,
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "TAP_DAP_BASE_URL": self.sim.base_url,
                "TAP_DAP_CLIENT_ID": self.sim.client_id,
                "TAP_DAP_CLIENT_SECRET": self.sim.client_secret,
                "TARGET_DAP_SQL_DATABASE_URL": self.database_url,
                "TARGET_POSTGRES_SQLALCHEMY_URL": self.database_url.replace(
                    "postgresql://", "postgresql+psycopg://"
                ),
                "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "canvas",
            }
        )
        for name, value in settings.items():
            text = value if isinstance(value, str) else json.dumps(value)
            environ[name.upper()] = text
        return environ

    def meltano(self, *args: str, check: bool = True, **settings: Any) -> str:
        """Run a meltano command in the project; its combined output."""
        done = subprocess.run(
            [MELTANO, *args],
            cwd=self.root,
            env=self.env(**settings),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        output = done.stdout + done.stderr
        if check:
            assert done.returncode == 0, f"meltano {' '.join(args)} failed:\n{output[-6000:]}"
        return output

    def run(self, loader: str = "target-dap-sql", **settings: Any) -> str:
        return self.meltano("run", "tap-dap", loader, **settings)

    def state(self, loader: str = "target-dap-sql") -> dict[str, Any]:
        out = self.meltano("state", "get", f"{self.environment}:tap-dap-to-{loader}")
        result: dict[str, Any] = json.loads(out[out.index("{") : out.rindex("}") + 1])
        return result

    def discovered_schemas(self, namespace: str = "canvas") -> dict[str, dict[str, Any]]:
        """Each stream's Singer schema, as `tap-dap --discover` gives it now.

        The tap directly: Meltano 4.4's `invoke --discover` cannot print a catalog that
        holds decimals (`multipleOf: 0.01`), though `meltano run` handles it.
        """
        config = self.workdir / "discover-config.json"
        config.write_text(
            json.dumps(
                {
                    "base_url": self.sim.base_url,
                    "client_id": self.sim.client_id,
                    "client_secret": self.sim.client_secret,
                    "namespace": namespace,
                }
            )
        )
        done = subprocess.run(
            [str(BIN / "tap-dap"), "--config", str(config), "--discover"],
            capture_output=True,
            text=True,
            check=True,
        )
        catalog = json.loads(done.stdout)
        return {entry["tap_stream_id"]: entry["schema"] for entry in catalog["streams"]}


def _as_generic_target_stores(actual: Any, expected: Any) -> Any:
    if isinstance(actual, datetime.datetime) and actual.tzinfo is None:
        return actual.replace(tzinfo=datetime.UTC)
    if isinstance(actual, decimal.Decimal) and isinstance(expected, float | int):
        return type(expected)(actual)
    return actual


def _without_null_members(value: Any) -> Any:
    """An object as DAP sends it: members without a value left out."""
    if isinstance(value, dict):
        return {k: _without_null_members(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_null_members(item) for item in value]
    return value


def assert_matches_dump(
    database: Database,
    sim: SimServer,
    schemas: dict[str, dict[str, Any]],
    streams: Iterable[str],
    *,
    soft_deletes: bool,
    foreign_target: bool = False,
    objects_as_structs: bool = False,
) -> None:
    """Every live row of every stream's table equals dap-sim's truth, value by value.

    Soft mode keeps deleted rows marked in `_sdc_deleted_at`; they are not live. Columns a
    schema change removed stay in the table (target-dap-sql never drops data): only the
    truth's columns are compared. `foreign_target` allows the types of a generic Singer
    target (MeltanoLabs target-postgres): `timestamp without time zone` read as UTC, and
    NUMERIC for every number. `objects_as_structs`: the objects came through Parquet
    structs, where a member DAP left out reads back as null (tap-dap's README).
    """
    for stream in streams:
        namespace, table = stream.split("-", 1)
        truth = sim.dump(namespace, table)
        schema = schemas[stream]
        key = next(iter(schema.get("required") or ["id"]))
        rows = database.rows(f"{namespace}.{table}", order=f'"{key}"')
        if soft_deletes:
            rows = [row for row in rows if row["_sdc_deleted_at"] is None]
        else:
            assert all(row["_sdc_deleted_at"] is None for row in rows), stream
        got = {str(actual_value(schema["properties"][key], row[key])): row for row in rows}
        want = {str(record[key]): record for record in truth}
        assert sorted(got) == sorted(want), (
            f"{stream}: keys differ: {len(got)} rows loaded, {len(want)} in the truth; "
            f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}"
        )
        for record_key, record in want.items():
            for column, prop in schema["properties"].items():
                if column in TARGET_METADATA:
                    continue
                assert column in got[record_key], f"{stream}: column {column} is missing"
                expected = expected_value(prop, record.get(column))
                actual = actual_value(prop, got[record_key][column])
                if foreign_target:
                    actual = _as_generic_target_stores(actual, expected)
                if objects_as_structs:
                    actual = _without_null_members(actual)
                assert actual == expected, (
                    f"{stream} key {record_key} column {column}: {actual!r} != {expected!r}"
                )
