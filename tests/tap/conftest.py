"""Fixtures of the tap tests: the emit modes a test can run in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tap_harness import batch_config


@pytest.fixture(params=["record", "batch", "parquet"])
def emit_mode(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings for RECORD mode (none) or BATCH mode: gzip JSONL files, or Parquet files
    (snappy, the SDK's `compression: none`) under tmp_path."""
    if request.param == "record":
        return {}
    if request.param == "parquet":
        return {"batch_config": batch_config(tmp_path / "batches", "none", file_format="parquet")}
    return {"batch_config": batch_config(tmp_path / "batches")}
