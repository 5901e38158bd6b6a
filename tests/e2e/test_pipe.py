"""`tap-dap | target-dap-sql` as plain Singer programs, without Meltano.

Snapshot, `dap-sim advance` (with schema changes), increment with the state the target
passed on: every canvas table equals `dap-sim dump`, on PostgreSQL and DuckDB, with soft
and hard deletes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dap_sim.testing import SimServer

from tests.conftest import DATABASES, database_url_for
from tests.e2e.meltano_harness import BIN, assert_matches_dump
from tests.e2e.test_meltano_run import SCHEMA_CHANGES
from tests.target.harness import Database


def pipe(workdir: Path, tap: dict[str, Any], target: dict[str, Any], state: Any) -> Any:
    """Run the pipe once; return the last STATE value the target wrote."""
    files = {"tap": tap, "target": target, "state": state or {}}
    for name, content in files.items():
        (workdir / f"{name}.json").write_text(json.dumps(content))
    tap_process = subprocess.Popen(
        [str(BIN / "tap-dap"), "--config", "tap.json", "--state", "state.json"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=(workdir / "tap.log").open("wb"),
    )
    target_run = subprocess.run(
        [str(BIN / "target-dap-sql"), "--config", "target.json"],
        cwd=workdir,
        stdin=tap_process.stdout,
        capture_output=True,
        check=False,
    )
    assert tap_process.stdout is not None
    tap_process.stdout.close()
    assert tap_process.wait() == 0, (workdir / "tap.log").read_text()[-4000:]
    assert target_run.returncode == 0, target_run.stderr.decode()[-4000:]
    states = [json.loads(line) for line in target_run.stdout.decode().splitlines() if line]
    assert states, "the target passed no STATE on"
    return states[-1]


def discover(workdir: Path, tap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (workdir / "tap.json").write_text(json.dumps(tap))
    out = subprocess.run(
        [str(BIN / "tap-dap"), "--config", "tap.json", "--discover"],
        cwd=workdir,
        capture_output=True,
        check=True,
    ).stdout
    return {s["tap_stream_id"]: s["schema"] for s in json.loads(out)["streams"]}


@pytest.mark.parametrize("kind", DATABASES)
@pytest.mark.parametrize("variant", ["soft", "hard", "soft-batch", "soft-parquet"])
def test_pipe_snapshot_advance_increment(
    request: pytest.FixtureRequest,
    dap_sim_factory: Callable[..., SimServer],
    tmp_path: Path,
    kind: str,
    variant: str,
) -> None:
    hard_delete = variant == "hard"
    sim = dap_sim_factory(scale=1000)
    url = database_url_for(kind, request, tmp_path)
    tap: dict[str, Any] = {
        "base_url": sim.base_url,
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
    }
    target = {"database_url": url, "hard_delete": hard_delete}
    if variant.endswith(("batch", "parquet")):  # files from the DAP files, removed once loaded
        root = tmp_path / "batches"
        root.mkdir()
        file_format = "parquet" if variant.endswith("parquet") else "jsonl"
        tap["batch_config"] = {
            "encoding": {"format": file_format, "compression": "none"},
            "storage": {"root": root.as_uri()},
        }
        target["delete_batch_files"] = True
    database = Database(url)

    schemas = discover(tmp_path, tap)
    state = pipe(tmp_path, tap, target, None)
    assert_matches_dump(database, sim, schemas, sorted(schemas), soft_deletes=not hard_delete)

    sim.advance(schema_changes=SCHEMA_CHANGES)
    schemas = discover(tmp_path, tap)
    pipe(tmp_path, tap, target, state)
    assert_matches_dump(database, sim, schemas, sorted(schemas), soft_deletes=not hard_delete)
