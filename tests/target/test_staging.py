"""DuckDB staging folders: removed at the end, and swept after a killed run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from target_dap_sql import staging
from target_dap_sql.staging import StagingDir, sweep_abandoned


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(staging.tempfile, "tempdir", str(tmp_path))
    return tmp_path


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def left_behind(root: Path, pid: int, age_s: float) -> Path:
    folder = root / f"target-dap-sql-{pid}-abc"
    folder.mkdir()
    (folder / "stage_1.ndjson").write_text("{}\n")
    when = time.time() - age_s
    for path in (folder / "stage_1.ndjson", folder):
        os.utime(path, (when, when))
    return folder


def test_folders_of_dead_processes_are_swept_once_idle(tmp_root: Path) -> None:
    gone = left_behind(tmp_root, dead_pid(), age_s=7 * 3600)
    recent = left_behind(tmp_root, dead_pid(), age_s=60)  # maybe another pid namespace
    alive = left_behind(tmp_root, os.getpid(), age_s=7 * 3600)
    other = tmp_root / "target-dap-sql-notapid"
    other.mkdir()
    sweep_abandoned()
    assert not gone.exists()
    assert recent.exists()
    assert alive.exists()
    assert other.exists()


def test_remove_closes_open_stage_files_and_deletes_the_folder(tmp_root: Path) -> None:
    folder = StagingDir()
    assert folder.path.parent == tmp_root
    assert folder.path.name.startswith(f"target-dap-sql-{os.getpid()}-")
    handle = (folder.path / "stage_1.ndjson").open("wb")
    folder.track(handle)
    folder.remove()
    assert handle.closed
    assert not folder.path.exists()


def test_a_failed_duckdb_load_leaves_no_open_file_and_no_folder(tmp_path: Path) -> None:
    schema = {"properties": {"id": {"type": "integer"}, "n": {"type": "integer"}}}
    lines = [
        {"type": "SCHEMA", "stream": "s-t", "schema": schema, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "s-t", "record": {"id": 1, "n": 1}},
        {"type": "RECORD", "stream": "s-t", "record": {"id": 2, "n": 1.5}},
    ]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database_url": f"duckdb:///{tmp_path / 'x.duckdb'}"}))
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = subprocess.run(
        [Path(sys.executable).parent / "target-dap-sql", "--config", str(config)],
        input="".join(json.dumps(line) + "\n" for line in lines),
        env={**os.environ, "TMPDIR": str(temp), "PYTHONWARNINGS": "always::ResourceWarning"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "input line 3" in done.stderr
    assert "ResourceWarning" not in done.stderr
    assert list(temp.iterdir()) == []
