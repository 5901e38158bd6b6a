"""Test helpers: run dap-sim over a dataset directory and drive it from a test.

``start_sim`` generates a dataset when the directory has none, starts the server (in a
thread of the test process, or in a subprocess where sharing the GIL with the code under
test would distort timings) and returns a ``SimServer``. Its control methods go through
the ``/_sim`` HTTP API, so they work the same in both modes; ``dump`` reads the dataset
directly.

    with start_sim(tmp_path / "sim", scale=2000, job_latency=0) as sim:
        ...  # point the code under test at sim.base_url, sim.client_id, sim.client_secret
        sim.advance()
        assert rows_in_database == sim.dump("canvas", "accounts")
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from dap_sim import server
from dap_sim.dataset import DATASET_FILE, DEFAULT_SEED, Dataset
from dap_sim.options import ServeOptions
from dap_sim.tables import dump

# What most tests want: jobs finish at once and no rate limit gets in the way.
TEST_OPTIONS: dict[str, Any] = {"job_latency": 0.0, "rate_limit_factor": 0.0}
TEST_SCALE = 2_000


class SimServer:
    """A running simulator: its address, credentials and control methods."""

    def __init__(
        self,
        data_dir: Path,
        base_url: str,
        *,
        http_server: server.SimHTTPServer | None = None,
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.base_url = base_url
        credentials = Dataset.load(data_dir).credentials
        self.client_id = credentials["client_id"]
        self.client_secret = credentials["client_secret"]
        self._http_server = http_server
        self._process = process
        self._session = requests.Session()
        self.verify: bool | str = True  # a CA bundle when serving HTTPS with our own certificate

    # -- control -------------------------------------------------------------------------

    def _control(self, method: str, action: str, body: Any = None) -> Any:
        response = self._session.request(
            method, f"{self.base_url}/_sim/{action}", json=body, timeout=60, verify=self.verify
        )
        if not response.ok:
            raise RuntimeError(
                f"dap-sim /_sim/{action} answered {response.status_code}: {response.text}"
            )
        return response.json()

    def advance(
        self,
        *,
        schema_changes: list[str] | None = None,
        reload: list[str] | None = None,
        churn: list[str] | None = None,
    ) -> dict[str, Any]:
        """One more epoch. ``schema_changes`` as for ``dap-sim advance --schema-change``
        (None: the seed decides, [] none); ``reload`` marks tables reloaded; ``churn`` as
        ``dap-sim advance --churn``."""
        body = {"schema_changes": schema_changes, "reload": reload or [], "churn": churn or []}
        result: dict[str, Any] = self._control("POST", "advance", body)
        return result

    def dump(self, namespace: str, table: str) -> list[dict[str, Any]]:
        """The true current rows of a table, key and value fields side by side, sorted."""
        return dump(Dataset.load(self.data_dir), namespace, table)

    def stats(self) -> dict[str, Any]:
        """Requests per endpoint, responses per status, 429s sent, faults fired, jobs."""
        result: dict[str, Any] = self._control("GET", "stats")
        return result

    def inject(self, *faults: dict[str, Any]) -> None:
        """Script faults, e.g. ``inject({"kind": "cut_connection", "after_bytes": 1000})``."""
        self._control("POST", "faults", list(faults))

    def pending_faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._control("GET", "faults")["pending"]
        return result

    def set_options(self, **options: Any) -> dict[str, Any]:
        """Change serve options at runtime (TTLs, latency, rate limits, rows per file...)."""
        result: dict[str, Any] = self._control("PATCH", "options", options)
        return result

    def expire_job(self, job_id: str) -> None:
        self._control("POST", f"jobs/{job_id}/expire")

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        self._session.close()
        if self._http_server is not None:
            server.stop(self._http_server)
            self._http_server = None
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> SimServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def ensure_dataset(data_dir: Path, *, seed: int = DEFAULT_SEED, scale: int = TEST_SCALE) -> None:
    if not (data_dir / DATASET_FILE).exists():
        Dataset.generate(seed=seed, scale=scale).save(data_dir)


def start_sim(
    data_dir: Path | str,
    *,
    seed: int = DEFAULT_SEED,
    scale: int = TEST_SCALE,
    in_subprocess: bool = False,
    tls: tuple[Path, Path] | None = None,
    **options: Any,
) -> SimServer:
    """Start dap-sim on an ephemeral port; ``options`` are ``ServeOptions`` fields.

    ``tls``: (certificate, private key) PEM files to serve HTTPS with (in this process
    only); the control methods trust that certificate.
    """
    data_dir = Path(data_dir)
    ensure_dataset(data_dir, seed=seed, scale=scale)
    serve_options = ServeOptions(**options)
    if not in_subprocess:
        context = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
        http_server, _ = server.start(data_dir, serve_options, context)
        sim = SimServer(data_dir, http_server.base_url, http_server=http_server)
        if tls is not None:
            sim.verify = str(tls[0])
        return sim
    if tls is not None:
        raise ValueError("dap-sim serves TLS only in this process (in_subprocess=False)")
    command = [sys.executable, "-m", "dap_sim.cli", "serve", "--data", str(data_dir)]
    for option in fields(ServeOptions):
        value = getattr(serve_options, option.name)
        flag = "--" + option.name.replace("_", "-")
        if option.name == "faults":
            if value:
                command += [flag, json.dumps(value)]
        elif option.name == "verbose":
            if value:
                command.append(flag)
        else:
            command += [flag, str(value)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603 - our own CLI
    assert process.stdout is not None
    base_url = process.stdout.readline().decode().strip()
    if not base_url.startswith("http"):
        process.kill()
        raise RuntimeError(f"dap-sim did not start (printed {base_url!r})")
    return SimServer(data_dir, base_url, process=process)
