"""A whole-namespace `meltano run` under DAP's real rate limits draws no HTTP 429.

tests/tap/test_limits_and_secrets.py checks the tap alone; here Meltano's catalog discovery
(which lists the tables and reads every schema) spends the same budgets before the run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dap_sim.testing import SimServer

from tests.e2e.meltano_harness import MeltanoProject
from tests.reliability.pipeline import run_to_end

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("meltano_plugins")]


def test_a_whole_namespace_meltano_run_draws_no_429(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = dap_sim_factory(rate_limit_factor=1.0, job_latency=1.0, scale=500)
    project = MeltanoProject(tmp_path, sim, f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    output = run_to_end(project)
    stats = sim.stats()
    assert stats["rate_limited"] == 0, stats
    assert stats["requests"]["create_job"] == 90, stats["requests"]  # every canvas table
    assert "HTTP 429 answers: 0" in output
