"""Rate limits (no 429 drawn), token renewal, and no secret in any output."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from dap_sim.testing import SimServer
from tap_harness import Replica, final_records_equal_truth, run_tap, sim_config

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def test_a_whole_namespace_run_draws_no_429(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = dap_sim_factory(rate_limit_factor=1.0, job_latency=1.0)  # DAP's real limits
    config = sim_config(sim, namespace=["canvas", "canvas_logs"])
    del config["poll_interval"], config["poll_interval_max"]  # the tap's own defaults
    run = run_tap(tmp_path, config)
    stats = sim.stats()
    assert len(run.streams()) == 91
    assert stats["rate_limited"] == 0, stats
    assert stats["requests"]["create_job"] == 91
    assert stats["requests"]["get_job"] < 500


@pytest.mark.slow
def test_a_per_account_create_job_limit_is_kept(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = dap_sim_factory(rate_limit_factor=1.0, create_job_limit_per="account")
    tables = ["accounts", "courses", "users", "roles", "groups", "wikis"]
    config = sim_config(sim, tables=tables, create_job_limit_scope="account")
    started = time.monotonic()
    run = run_tap(tmp_path, config)
    assert time.monotonic() - started >= 55  # the sixth job waited for the window
    assert sim.stats()["rate_limited"] == 0
    replica = Replica().apply(run)
    for table in tables:
        final_records_equal_truth(replica, sim, f"canvas-{table}")


def test_the_token_is_renewed_before_it_expires(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = dap_sim_factory(token_ttl=4.0, job_latency=5.0, rows_per_file=300)
    run = run_tap(tmp_path, sim_config(sim, tables=["accounts", "submissions", "users"]))
    stats = sim.stats()
    assert stats["requests"]["login"] >= 2
    assert stats["responses"].get("401", 0) == 0
    replica = Replica().apply(run)
    for stream in ("canvas-accounts", "canvas-submissions", "canvas-users"):
        final_records_equal_truth(replica, sim, stream)


def test_debug_logs_hold_no_secret_token_or_url_signature(
    dap_sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = dap_sim_factory(rows_per_file=300)
    sim.inject(
        {"kind": "expired_url", "times": 1},
        {"kind": "cut_connection", "after_bytes": 3000, "times": 1},
        {"kind": "token_expired", "endpoint": "get_job", "times": 1},
    )
    run = run_tap(
        tmp_path,
        sim_config(sim, tables=["accounts", "submissions"]),
        env={"TAP_DAP_LOGLEVEL": "DEBUG"},
    )
    output = run.stderr + "\n".join(str(message) for message in run.messages)
    assert "DEBUG" in run.stderr
    assert "/objects/" in run.stderr  # urllib3 logged the downloads...
    assert sim.client_secret not in output
    assert not JWT.search(output), JWT.search(output)
    assert "signature=" not in output.lower()  # ...without their signatures
    assert "X-Amz" not in output
