"""No secret in any output of a real `meltano run`, at debug level, whether it works or fails.

The secrets are the ones really in play: the client secret, every access token and every
pre-signed URL signature dap-sim handed out during the run (recorded by wrapping its
in-process authority; the HTTP traffic is real), and the password in the target's
database URL. Every line of stdout, stderr and Meltano's log files must be free of them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from dap_sim.testing import SimServer

from tests.e2e import test_meltano_run as e2e
from tests.e2e.meltano_harness import REPO, MeltanoProject
from tests.target.harness import Database

pytestmark = pytest.mark.slow

PASSWORD = "S3cretPass"  # trust authentication accepts any password
TABLES = '["accounts", "courses", "submissions"]'
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


_plugins_installed = e2e._plugins_installed  # `meltano install`, once for the module


class IssuedSecrets:
    """Every access token and URL signature a running dap-sim hands out."""

    def __init__(self, sim: SimServer) -> None:
        assert sim._http_server is not None, "the simulator must run in this process"
        authority = sim._http_server.app.authority
        self.tokens: list[str] = []
        self.signatures: list[str] = []
        login, presign = authority.login, authority.presign

        def recording_login(*args: Any, **kwargs: Any) -> dict[str, Any]:
            body = login(*args, **kwargs)
            self.tokens.append(body["access_token"])
            return body

        def recording_presign(*args: Any, **kwargs: Any) -> str:
            url = presign(*args, **kwargs)
            for name, values in parse_qs(urlsplit(url).query).items():
                if "signature" in name.lower():
                    self.signatures.extend(values)
            return url

        authority.login = recording_login  # type: ignore[method-assign]
        authority.presign = recording_presign  # type: ignore[method-assign]


@pytest.fixture
def secured_sim(dap_sim_factory: Callable[..., SimServer]) -> tuple[SimServer, IssuedSecrets]:
    """A simulator over small files, with a token that expires and URLs to renew."""
    sim = dap_sim_factory(scale=1000, rows_per_file=200, token_ttl=3.0)
    return sim, IssuedSecrets(sim)


def debug_logging(tmp_path: Path) -> dict[str, str]:
    """Meltano at debug level to stderr and to a log file; the plugins at debug level."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "console": {"()": "meltano.core.logging.formatters.console_log_formatter"},
            "json": {"()": "meltano.core.logging.formatters.json_formatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "console"},
            "file": {
                "class": "logging.FileHandler",
                "formatter": "json",
                "filename": str(tmp_path / "logs" / "meltano.log"),
            },
        },
        "root": {"level": "DEBUG", "handlers": ["console", "file"]},
    }
    (tmp_path / "logs").mkdir()
    (tmp_path / "logging.yaml").write_text(json.dumps(config))  # JSON is YAML
    return {
        "meltano_cli_log_config": str(tmp_path / "logging.yaml"),
        "tap_dap_loglevel": "DEBUG",
        "target_dap_sql_loglevel": "DEBUG",
    }


def debug_run(project: MeltanoProject, *, check: bool = True, **settings: Any) -> str:
    """`meltano --log-level=debug run tap-dap target-dap-sql`: its output."""
    return project.meltano(
        "--log-level=debug",
        "run",
        "tap-dap",
        "target-dap-sql",
        check=check,
        tap_dap_tables=TABLES,
        **debug_logging(project.workdir),
        **settings,
    )


def meltano_logs(tmp_path: Path, started: float) -> str:
    """The run's log file, and any job logs Meltano wrote under .meltano/logs meanwhile."""
    files = [*(tmp_path / "logs").iterdir()]
    files += [
        path
        for path in (REPO / ".meltano" / "logs").rglob("*")
        if path.is_file() and path.stat().st_mtime >= started
    ]
    return "\n".join(path.read_text(errors="replace") for path in files)


def assert_no_secret(text: str, sim: SimServer, issued: IssuedSecrets) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        where = f"output line {number}: {line[:300]}"
        assert sim.client_secret not in line, where
        assert PASSWORD not in line, where
        assert not JWT.search(line), where
        for secret in (*issued.tokens, *issued.signatures):
            assert secret not in line, where
        assert "signature=" not in line.lower(), where


def password_url(postgres_url: str, port: int | None = None) -> str:
    """The test database's URL with a password (and another port, to fail)."""
    parts = urlsplit(postgres_url)
    host = f"{parts.hostname}:{port or parts.port or 5432}"
    return parts._replace(netloc=f"{parts.username}:{PASSWORD}@{host}").geturl()


def test_a_debug_run_that_works_prints_no_secret(
    secured_sim: tuple[SimServer, IssuedSecrets], postgres_url: str, tmp_path: Path
) -> None:
    sim, issued = secured_sim
    sim.inject(
        {"kind": "expired_url", "times": 1},
        {"kind": "cut_connection", "after_bytes": 2000, "times": 1},
        {"kind": "token_expired", "endpoint": "get_job", "times": 1},
    )
    started = time.time() - 1
    project = MeltanoProject(tmp_path, sim, password_url(postgres_url))
    output = debug_run(project)
    logs = meltano_logs(tmp_path, started)
    for source in ("meltano", "tap-dap", "target-dap-sql"):
        assert f"[debug    ] {source}" in output, source  # each one's debug log...
    assert '"level": "debug"' in logs
    assert "/objects/" in output  # ...with the downloads, their query strings scrubbed
    assert ".jsonl.gz?<redacted>" in output
    assert len(issued.tokens) >= 2
    assert len(issued.signatures) >= 3
    assert len(Database(postgres_url).rows("canvas.courses")) > 0
    assert_no_secret(output + logs, sim, issued)  # ...without secrets


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        pytest.param(None, "cannot connect to PostgreSQL", id="database-unreachable"),
        pytest.param("mysql", "cannot connect to MySQL", id="mysql-unreachable"),
        pytest.param(
            {"kind": "expired_url", "times": 1000}, "Extractor failed", id="object-urls-refused"
        ),
    ],
)
def test_a_debug_run_that_fails_prints_no_secret(
    secured_sim: tuple[SimServer, IssuedSecrets],
    postgres_url: str,
    tmp_path: Path,
    fault: dict[str, Any] | str | None,
    failure: str,
) -> None:
    sim, issued = secured_sim
    url = password_url(postgres_url, port=None if fault else 1)  # nothing listens on port 1
    if fault == "mysql":
        url, fault = f"mysql://root:{PASSWORD}@127.0.0.1:1/canvas", None
    elif fault:
        sim.inject(fault)
    started = time.time() - 1
    project = MeltanoProject(tmp_path, sim, url)
    output = debug_run(project, check=False, tap_dap_max_retries=1)
    assert failure in output
    if not fault:
        assert f"{urlsplit(url).username}:***@127.0.0.1:1" in output  # the URL, masked
    assert issued.tokens
    if fault:
        assert issued.signatures  # the refused URLs were in play
    assert_no_secret(output + meltano_logs(tmp_path, started), sim, issued)
