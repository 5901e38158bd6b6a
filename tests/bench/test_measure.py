"""The benchmark's process sampler names each process by the program it runs."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.measure import run_pipeline


def test_peak_rss_is_reported_under_the_program_started(tmp_path: Path) -> None:
    # Between fork and exec a child shows the parent's (pytest's) command line; that image
    # must neither be counted nor give the child its name for the rest of the run.
    hog = tmp_path / "hog.py"
    hog.write_text("import time\nblock = bytearray(60_000_000)\ntime.sleep(0.4)\n")
    for _ in range(5):  # the race is at start-up; a few runs make a regression show
        measurement = run_pipeline([[sys.executable, str(hog)]], log=tmp_path / "log")
        assert set(measurement.peak_rss_mb) == {"hog.py"}
        assert measurement.peak_rss_mb["hog.py"] > 50
        assert 0 < measurement.cpu_s < measurement.wall_s  # it mostly sleeps
