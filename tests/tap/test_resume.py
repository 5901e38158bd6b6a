"""A run that starts from a state taken in the middle of a job continues that job from its
next file while DAP has it, and starts over cleanly once it has expired; in RECORD and in
BATCH mode alike (`emit_mode`)."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dap_sim.testing import SimServer
from tap_harness import TAP, Replica, TapRun, final_records_equal_truth, run_tap, sim_config

STREAM = "canvas-submissions"


@pytest.fixture
def sim(dap_sim_factory: Callable[..., SimServer]) -> SimServer:
    return dap_sim_factory(rows_per_file=400)  # 5 files for 2,000 submissions


def cut_after_files(run: TapRun, files: int) -> tuple[TapRun, dict[str, Any]]:
    """The run as if it had died right after the STATE that counted `files` files."""
    for index, message in enumerate(run.messages):
        job = message.get("value", {}).get("bookmarks", {}).get(STREAM, {}).get("job", {})
        if message["type"] == "STATE" and job.get("files_emitted") == files:
            return TapRun(0, run.messages[: index + 1], ""), message["value"]
    raise AssertionError(f"no STATE after {files} files")


def test_a_snapshot_resumes_at_the_next_file_with_its_table_version(
    sim: SimServer, tmp_path: Path, emit_mode: dict[str, Any]
) -> None:
    config = sim_config(sim, tables=["submissions"], **emit_mode)
    full = run_tap(tmp_path / "full", config)
    died, state = cut_after_files(full, 2)
    job = state["bookmarks"][STREAM]["job"]
    assert job["kind"] == "snapshot"
    resumed = run_tap(tmp_path / "resumed", config, state=state)
    assert f"resuming job {job['id']} after 2 emitted file(s)" in resumed.stderr
    # nothing of the first two files again, and the same table version throughout
    before = {r["id"] for r in died.records(STREAM)}
    after = {r["id"] for r in resumed.records(STREAM)}
    assert before
    assert after
    assert not before & after
    (activate,) = resumed.of_type("ACTIVATE_VERSION", STREAM)
    assert activate["version"] == job["table_version"]
    assert {m["version"] for m in resumed.data_messages(STREAM)} == {job["table_version"]}
    replica = Replica().apply(died).apply(resumed)
    final_records_equal_truth(replica, sim, STREAM)
    assert "job" not in resumed.bookmark(STREAM)


def test_an_expired_job_starts_over_with_a_new_table_version(
    sim: SimServer, tmp_path: Path, emit_mode: dict[str, Any]
) -> None:
    config = sim_config(sim, tables=["submissions"], **emit_mode)
    full = run_tap(tmp_path / "full", config)
    died, state = cut_after_files(full, 3)
    job = state["bookmarks"][STREAM]["job"]
    sim.expire_job(job["id"])
    again = run_tap(tmp_path / "again", config, state=state)
    assert f"job {job['id']} of the previous run has expired: starting over" in again.stderr
    (activate,) = again.of_type("ACTIVATE_VERSION", STREAM)
    assert activate["version"] > job["table_version"]
    assert len(again.records(STREAM)) == len(full.records(STREAM))
    replica = Replica().apply(died).apply(again)  # the old partial rows are swept
    final_records_equal_truth(replica, sim, STREAM)


def test_an_increment_resumes_too(
    sim: SimServer, tmp_path: Path, emit_mode: dict[str, Any]
) -> None:
    config = sim_config(sim, tables=["submissions"], **emit_mode)
    first = run_tap(tmp_path / "0", config)
    replica = Replica().apply(first)
    for _ in range(3):
        sim.advance(schema_changes=[])
    sim.set_options(rows_per_file=20)  # several files for the increment
    full = run_tap(tmp_path / "1", config, state=first.state)
    died, state = cut_after_files(full, 1)
    assert state["bookmarks"][STREAM]["job"]["kind"] == "incremental"
    resumed = run_tap(tmp_path / "2", config, state=state)
    assert "after 1 emitted file(s)" in resumed.stderr
    replica.apply(died).apply(resumed)
    final_records_equal_truth(replica, sim, STREAM)
    assert (
        resumed.bookmark(STREAM)["replication_key_value"]
        == (full.bookmark(STREAM)["replication_key_value"])
    )


def test_a_killed_run_continues_from_its_last_state(
    sim: SimServer, tmp_path: Path, emit_mode: dict[str, Any]
) -> None:
    """SIGKILL in the middle of a table; the next run, given the last STATE a target would
    have passed on, completes it without losing a row."""
    config = sim_config(sim, tables=["accounts", "submissions", "users"], **emit_mode)
    (tmp_path / "config.json").write_text(json.dumps(config))
    tap = subprocess.Popen(
        [TAP, "--config", str(tmp_path / "config.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert tap.stdout is not None
    seen: list[dict[str, Any]] = []
    for line in tap.stdout:
        message = json.loads(line)
        seen.append(message)
        job = message.get("value", {}).get("bookmarks", {}).get(STREAM, {}).get("job", {})
        if message["type"] == "STATE" and job.get("files_emitted") == 2:
            tap.send_signal(signal.SIGKILL)
            break
    tap.wait(timeout=30)
    committed, state = cut_after_files(TapRun(0, seen, ""), 2)
    again = run_tap(tmp_path / "again", config, state=state)
    replica = Replica().apply(committed).apply(again)
    for stream in ("canvas-accounts", "canvas-submissions", "canvas-users"):
        final_records_equal_truth(replica, sim, stream)
