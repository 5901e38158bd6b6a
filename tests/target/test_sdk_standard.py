"""The singer-sdk standard target tests, on a PostgreSQL database and a DuckDB file.

The SDK builds test classes from a fixed config at import time, so the PostgreSQL
database is created when this module is imported and dropped when its tests are done.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from singer_sdk.testing import get_target_test_class
from target_dap_sql.target import TargetDapSql

from tests.conftest import PG_ADMIN_URL, service_unavailable

DUCKDB_DIR = Path(tempfile.mkdtemp(prefix="sdk-tests-"))
PG_DATABASE = f"test_sdk_{uuid.uuid4().hex[:10]}"


def _create_postgres_database() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{PG_DATABASE}"'.encode())
    except psycopg.OperationalError:
        return None
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DATABASE


PG_URL = _create_postgres_database()

TestTargetDapSqlDuckDB = get_target_test_class(
    TargetDapSql, config={"database_url": f"duckdb:///{DUCKDB_DIR / 'sdk.duckdb'}"}
)
TestTargetDapSqlPostgres = get_target_test_class(
    TargetDapSql, config={"database_url": PG_URL or "postgresql://unavailable/none"}
)


@pytest.fixture(scope="module", autouse=True)
def _postgres_database() -> Iterator[None]:
    yield
    if PG_URL:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'.encode())


def test_postgres_is_available() -> None:
    """The PostgreSQL suite above needs the server: skip locally, fail under CI."""
    if PG_URL is None:
        service_unavailable("PostgreSQL at " + PG_ADMIN_URL, RuntimeError("cannot connect"))
