"""What a long run says on stderr: files done out of the total, rows, throughput, summary."""

from __future__ import annotations

import logging

import pytest
from tap_dap.api.client import Job
from tap_dap.singer import progress_log
from tap_dap.singer.progress_log import ProgressLog


def test_progress_counts_files_out_of_the_total_and_sums_up(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_log, "REPORT_EVERY", 0.0)  # report on every block
    logger = logging.getLogger("test-progress")
    job = Job(id="job-1", status="complete", objects=("a", "b", "c"), schema_version=2)
    table = ProgressLog(logger, "canvas-courses")
    with caplog.at_level(logging.INFO, logger="test-progress"):
        table.waiting(job, 3.0)
        table.emitting(job, "snapshot", files_left=3)
        table.block(records=10, deletes=0)
        table.file_done()
        table.block(records=5, deletes=2)
        table.file_done()
        table.file_done()
        table.summary("snapshot", schema_version=2, table_version=7)
    lines = [record.getMessage() for record in caplog.records]
    assert "waiting for DAP, job job-1 is complete" in lines[0]
    assert "emitting 3 file(s)" in lines[1]
    assert "10 rows so far, 0 of 3 files done" in lines[2]
    assert "15 rows so far, 1 of 3 files done" in lines[3]
    assert "canvas-courses: snapshot done: 15 rows (2 deletes) in 3 file(s)" in lines[4]
    assert "schema version 2, table version 7" in lines[4]
