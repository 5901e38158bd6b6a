"""The programs under test and how to call them: ours from .venv, the others in venvs of their own.

The harness measures whatever tap-dap and target-dap-sql are installed; it sets no tuning
option of theirs. The baselines get their fastest documented settings.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OFFICIAL_VENV = REPO / ".venv-dap-official"
# The official client's extras for the databases the bench loads, and the driver each brings
OFFICIAL_DRIVERS = {"postgresql": "asyncpg", "mysql": "aiomysql"}
OFFICIAL_PACKAGE = f"instructure-dap-client[{','.join(OFFICIAL_DRIVERS)}]"
TARGET_POSTGRES = REPO / ".meltano/loaders/target-postgres/venv/bin/target-postgres"
# Our plugins, installed by Meltano from this checkout (editable): each one's package file
# and its Meltano venv
EDITABLE_PLUGINS = {
    REPO / "tap-dap" / "pyproject.toml": REPO / ".meltano/extractors/tap-dap/venv",
    REPO / "target-dap-sql" / "pyproject.toml": REPO / ".meltano/loaders/target-dap-sql/venv",
}
INSTALL_LOCK = REPO / ".meltano" / "test-install.lock"  # the tests' too: one install at a time

# MeltanoLabs target-postgres at its fastest: no per-record validation or metadata
# columns, COPY, large batches. Without the metadata columns it cannot apply
# ACTIVATE_VERSION (it refuses to start), so it ignores them, as it must.
TARGET_POSTGRES_FAST = {
    "validate_records": False,
    "add_record_metadata": False,
    "activate_version": False,
    "use_copy": True,
    "batch_size_rows": 100_000,
    "default_target_schema": "canvas",
}


@dataclass(frozen=True)
class Tools:
    workdir: Path

    tap = str(BIN / "tap-dap")
    target = str(BIN / "target-dap-sql")
    meltano = str(BIN / "meltano")
    dap = str(OFFICIAL_VENV / "bin" / "dap")
    target_postgres = str(TARGET_POSTGRES)

    def config(self, name: str, settings: dict[str, Any]) -> str:
        """Write a config file into the work directory; returns its path."""
        path = self.workdir / f"{name}.json"
        path.write_text(json.dumps(settings), encoding="utf-8")
        return str(path)

    def tap_command(self, config: dict[str, Any], state: Path | None = None) -> list[str]:
        command = [self.tap, "--config", self.config("tap", config)]
        return [*command, "--state", str(state)] if state else command

    def target_command(self, database_url: str, **settings: Any) -> list[str]:
        """target-dap-sql into ``database_url``; ``settings`` only where a scenario needs
        one to work at all (never to tune it)."""
        config = {"database_url": database_url, **settings}
        return [self.target, "--config", self.config("target", config)]

    def target_postgres_command(self, database_url: str) -> list[str]:
        url = database_url.replace("postgresql://", "postgresql+psycopg://")
        config = {"sqlalchemy_url": url, **TARGET_POSTGRES_FAST}
        return [self.target_postgres, "--config", self.config("target-postgres", config)]

    def official_command(self, command: str, database_url: str, tables: str) -> list[str]:
        return [
            self.dap, "--non-interactive", "--loglevel", "warning", command,
            "--namespace", "canvas", "--table", tables, "--connection-string", database_url,
        ]  # fmt: skip

    def meltano_env(
        self, tap_config: dict[str, Any], database_url: str, system_db: Path
    ) -> dict[str, str]:
        """Meltano's environment variables for the repository's meltano.yml."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("DAP_", "TAP_"))}
        environ.update(
            {
                "MELTANO_SYS_DIR_ROOT": str(self.meltano_sys_dir()),
                "MELTANO_DATABASE_URI": f"sqlite:///{system_db}",
                "MELTANO_ENVIRONMENT": "demo",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "TARGET_DAP_SQL_DATABASE_URL": database_url,
            }
        )
        environ.update(_setting_variables("TAP_DAP", tap_config))
        return environ

    def meltano_sys_dir(self) -> Path:
        """A `.meltano` of the bench's own that shares the installed plugins.

        Meltano writes a run's config, catalog and state files to `.meltano/run/<plugin>/`,
        which a `meltano install` elsewhere (the tests' at the same time) empties.
        """
        sys_dir = self.workdir / ".meltano"
        sys_dir.mkdir(exist_ok=True)
        for kind in ("extractors", "loaders"):
            link = sys_dir / kind
            if not link.exists():
                link.symlink_to(REPO / ".meltano" / kind)
        return sys_dir

    def meltano_run(self) -> list[str]:
        return [self.meltano, "run", "tap-dap", "target-dap-sql"]

    def target_accepts_batch(self) -> bool:
        """Whether target-dap-sql loads a BATCH message: a one-row probe into DuckDB.

        A probe, not `--about`: an SDK target may load BATCH without declaring it.
        """
        folder = self.workdir / "batch-probe"
        folder.mkdir(exist_ok=True)
        (folder / "rows.jsonl.gz").write_bytes(gzip.compress(b'{"id": 1}\n'))
        schema = {"properties": {"id": {"type": "integer"}}, "type": "object"}
        messages = [
            {"type": "SCHEMA", "stream": "probe", "schema": schema, "key_properties": ["id"]},
            {
                "type": "BATCH",
                "stream": "probe",
                "encoding": {"format": "jsonl", "compression": "gzip"},
                "manifest": [f"file://{folder / 'rows.jsonl.gz'}"],
            },
        ]
        config = self.config("batch-probe", {"database_url": f"duckdb:///{folder / 'p.duckdb'}"})
        done = subprocess.run(  # noqa: S603 - our own program
            [self.target, "--config", config],
            input="".join(json.dumps(m) + "\n" for m in messages).encode(),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)
        return done.returncode == 0

    def tap_capabilities(self) -> list[str]:
        about = subprocess.run(  # noqa: S603 - our own program
            [self.tap, "--about", "--format", "json"], capture_output=True, check=True, text=True
        )
        capabilities: list[str] = json.loads(about.stdout).get("capabilities", [])
        return capabilities


def ensure_official_client() -> None:
    """Install the official DAP client into a virtual environment of its own, once, with
    the drivers of every extra (a venv made before an extra was added gets it then)."""
    python = OFFICIAL_VENV / "bin" / "python"
    drivers = ", ".join(OFFICIAL_DRIVERS.values())
    if (OFFICIAL_VENV / "bin" / "dap").exists():
        probe = subprocess.run(  # noqa: S603 - the venv's own python
            [str(python), "-c", f"import {drivers}"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return
    print(f"==> installing {OFFICIAL_PACKAGE} into {OFFICIAL_VENV.name}", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(OFFICIAL_VENV)], check=True)  # noqa: S603
    pip = OFFICIAL_VENV / "bin" / "pip"
    subprocess.run([str(pip), "install", "--quiet", OFFICIAL_PACKAGE], check=True)  # noqa: S603


def ensure_meltano_plugins() -> None:
    """`meltano install`: our plugins and MeltanoLabs target-postgres, as meltano.yml says.

    Again when a plugin's pyproject.toml changed since its install: an editable install
    keeps the dependencies of its day, and `meltano run` would miss a new one (a driver).
    """
    current = all(_installed_since(package, venv) for package, venv in EDITABLE_PLUGINS.items())
    if current and TARGET_POSTGRES.exists():
        return
    print("==> meltano install (plugins of meltano.yml)", flush=True)
    environ = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    meltano = [str(BIN / "meltano"), "install"]
    INSTALL_LOCK.parent.mkdir(exist_ok=True)
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(meltano, cwd=REPO, env=environ, check=True)  # noqa: S603


def _installed_since(package_file: Path, venv: Path) -> bool:
    """Whether Meltano installed the plugin after its package file last changed."""
    stamp = venv / ".meltano_plugin_fingerprint"  # Meltano writes it at every install
    return stamp.exists() and stamp.stat().st_mtime >= package_file.stat().st_mtime


def _setting_variables(prefix: str, settings: dict[str, Any]) -> dict[str, str]:
    """Meltano's variables for settings; a nested object by its flattened names, as
    meltano.yml declares them (`batch_config.encoding.format` ->
    `TAP_DAP_BATCH_CONFIG_ENCODING_FORMAT`)."""
    variables = {}
    for name, value in settings.items():
        variable = f"{prefix}_{name.upper()}"
        if isinstance(value, dict):
            variables.update(_setting_variables(variable, value))
        else:
            variables[variable] = value if isinstance(value, str) else json.dumps(value)
    return variables
