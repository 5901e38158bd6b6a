"""tap-dap over HTTPS: certificates are verified unless a setting says otherwise.

dap-sim serves HTTPS with a self-signed certificate made by `openssl req` for the test.
By default the tap refuses it with one line that names the certificate and the settings
to change; `ca_bundle` pointing at that certificate makes the run work, and so does
`verify_tls: false`, with one warning.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import certifi
import pytest
from dap_sim.testing import SimServer

from tests.tap.tap_harness import Replica, final_records_equal_truth, run_tap, sim_config

TABLES = ["accounts", "courses"]
# Set in many corporate setups; requests lets it override a session's own `verify`, so the
# settings below must still win over it.
SYSTEM_BUNDLE = {"REQUESTS_CA_BUNDLE": certifi.where()}


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (certificate, key) PEM files."""
    openssl = shutil.which("openssl")
    assert openssl, "the TLS tests need the openssl command"
    certificate, key = directory / "dap-sim.pem", directory / "dap-sim-key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=dap-sim"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(certificate)),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


@pytest.fixture
def https_sim(dap_sim_factory: Callable[..., SimServer], tmp_path: Path) -> SimServer:
    sim = dap_sim_factory(scale=1000, rows_per_file=50, tls=self_signed_certificate(tmp_path))
    assert sim.base_url.startswith("https://")
    return sim


def test_a_self_signed_certificate_is_refused_by_default(
    https_sim: SimServer, tmp_path: Path
) -> None:
    config = sim_config(https_sim, tables=TABLES)
    run = run_tap(tmp_path / "run", config, env=SYSTEM_BUNDLE, check=False)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, run.stderr
    assert "certificate" in errors[0]
    assert "self-signed" in errors[0]
    assert "ca_bundle" in errors[0]
    assert "verify_tls" in errors[0]
    assert not run.messages  # nothing was read from a server the tap does not trust


def test_ca_bundle_trusts_the_certificate(https_sim: SimServer, tmp_path: Path) -> None:
    config = sim_config(https_sim, tables=TABLES, ca_bundle=str(https_sim.verify))
    run = run_tap(tmp_path / "run", config, env=SYSTEM_BUNDLE)
    assert "WARNING" not in run.stderr
    replica = Replica().apply(run)
    for table in TABLES:  # the API calls and the object downloads went over HTTPS
        final_records_equal_truth(replica, https_sim, f"canvas-{table}")


def test_verify_tls_false_works_and_warns_once(https_sim: SimServer, tmp_path: Path) -> None:
    config = sim_config(https_sim, tables=TABLES, verify_tls=False)
    run = run_tap(tmp_path / "run", config, env=SYSTEM_BUNDLE)
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, warnings
    assert "verify_tls is off" in warnings[0]
    replica = Replica().apply(run)
    for table in TABLES:
        final_records_equal_truth(replica, https_sim, f"canvas-{table}")
