"""Fixtures shared by the whole suite: real services, never mocks.

A test that needs PostgreSQL gets a fresh database of its own, so that tests (and
parallel pytest workers) never see each other's tables. Where a service is down, the
test skips on a developer machine but fails under CI (CI=true): a skip there would
prove nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest
from dap_sim.testing import TEST_OPTIONS, SimServer, start_sim

REPO = Path(__file__).resolve().parents[1]
# The official DAP client, in a virtual environment of its own (cached across runs)
OFFICIAL_VENV = REPO / ".venv-dap-official"
# The official client's DDL (its meta-tables and canvas.courses), for tests that build its
# tables without running it
OFFICIAL_DDL = REPO / "tests" / "official_cli"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# The MariaDB (or MySQL) server of the tests: a URL without a database; tests make their own
MYSQL_ADMIN_URL = os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_unavailable(what: str, error: Exception) -> None:
    """Skip locally, fail in CI, with the reason either way."""
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a database test must not skip)")
    pytest.skip(message)


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        service_unavailable("PostgreSQL at " + PG_ADMIN_URL, error)
        raise  # unreachable: service_unavailable always raises


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def mysql_admin_connection() -> pymysql.connections.Connection:  # type: ignore[type-arg]
    """A connection to the tests' MySQL server (no database chosen)."""
    parts = urlsplit(MYSQL_ADMIN_URL)
    try:
        return pymysql.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            autocommit=True,
            connect_timeout=5,
        )
    except pymysql.err.OperationalError as error:
        service_unavailable("MySQL/MariaDB at " + MYSQL_ADMIN_URL, error)
        raise  # unreachable: service_unavailable always raises


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """URL of a new, empty MariaDB database, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with mysql_admin_connection() as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"{MYSQL_ADMIN_URL.rstrip('/')}/{name}"
    finally:
        with mysql_admin_connection() as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


# Every database the target supports: a new dialect is one more entry here (and in
# `database_url_for`), and every test parametrized by it runs on the new database too.
DATABASES = ["postgresql", "duckdb", "mariadb"]


def database_url_for(kind: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """A new, empty database of a kind in DATABASES (a server's is dropped after the test)."""
    if kind == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    if kind == "mariadb":
        return str(request.getfixturevalue("mariadb_url"))
    return f"duckdb:///{folder / 'warehouse.duckdb'}"


@pytest.fixture
def dap_sim_factory(tmp_path: Path) -> Iterator[Callable[..., SimServer]]:
    """Start dap-sim servers with chosen options; all are stopped after the test.

    ``dap_sim_factory(scale=..., seed=..., in_subprocess=..., **serve_options)``; each call
    gets its own dataset directory under tmp_path. Defaults: jobs finish at once and rate
    limits are off (pass ``rate_limit_factor=1`` for the real ones).
    """
    servers: list[SimServer] = []

    def start(**options: Any) -> SimServer:
        settings = {**TEST_OPTIONS, **options}
        sim = start_sim(tmp_path / f"dap-sim-{len(servers)}", **settings)
        servers.append(sim)
        return sim

    yield start
    for sim in servers:
        sim.close()


@pytest.fixture
def dap_sim(dap_sim_factory: Callable[..., SimServer]) -> SimServer:
    """A dap-sim over a small dataset (scale 2000): base_url, client_id, client_secret,
    data_dir, advance(), dump(ns, table), stats(), inject(fault), set_options(...)."""
    return dap_sim_factory()


@pytest.fixture(scope="session")
def dap_cli() -> Path:
    """The official `dap` command (instructure-dap-client with its PostgreSQL and MySQL
    drivers), installed once into .venv-dap-official."""
    dap = OFFICIAL_VENV / "bin" / "dap"
    drivers = list(OFFICIAL_VENV.glob("lib/python*/site-packages/aiomysql"))
    if not dap.exists() or not drivers:
        subprocess.run([sys.executable, "-m", "venv", str(OFFICIAL_VENV)], check=True)
        subprocess.run(
            [
                str(OFFICIAL_VENV / "bin" / "pip"),
                "install",
                "--quiet",
                "instructure-dap-client[postgresql,mysql]",
            ],
            check=True,
        )
    return dap
