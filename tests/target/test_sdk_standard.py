"""The singer-sdk standard target tests, on a PostgreSQL database, a DuckDB file and a
MariaDB database.

The SDK builds test classes from a fixed config at import time, so the server databases
are created when this module is imported and dropped when the process exits.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pymysql
import pytest
from singer_sdk.testing import get_target_test_class
from target_dap_sql.target import TargetDapSql

from tests.conftest import (
    MYSQL_ADMIN_URL,
    PG_ADMIN_URL,
    mysql_admin_connection,
    service_unavailable,
)

DUCKDB_DIR = Path(tempfile.mkdtemp(prefix="sdk-tests-"))
PG_DATABASE = f"test_sdk_{uuid.uuid4().hex[:10]}"


def _create_postgres_database() -> str | None:
    """Create the suite's database; it is dropped when the (worker) process exits.

    Importing this module creates it, also in a pytest-xdist worker that runs none of
    these tests, so a fixture could not be relied on to drop it.
    """
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{PG_DATABASE}"'.encode())
    except psycopg.OperationalError:
        return None
    atexit.register(_drop_postgres_database)
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DATABASE


def _drop_postgres_database() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'.encode())
    shutil.rmtree(DUCKDB_DIR, ignore_errors=True)


def _create_mysql_database() -> str | None:
    """Likewise on the tests' MariaDB server."""
    try:
        with mysql_admin_connection() as admin, admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{PG_DATABASE}` CHARACTER SET utf8mb4")
    except (pymysql.Error, pytest.skip.Exception, pytest.fail.Exception):
        return None  # said by test_mariadb_is_available
    atexit.register(_drop_mysql_database)
    return f"{MYSQL_ADMIN_URL.rstrip('/')}/{PG_DATABASE}"


def _drop_mysql_database() -> None:
    with mysql_admin_connection() as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{PG_DATABASE}`")


PG_URL = _create_postgres_database()
MYSQL_URL = _create_mysql_database()

TestTargetDapSqlDuckDB = get_target_test_class(
    TargetDapSql, config={"database_url": f"duckdb:///{DUCKDB_DIR / 'sdk.duckdb'}"}
)
TestTargetDapSqlPostgres = get_target_test_class(
    TargetDapSql, config={"database_url": PG_URL or "postgresql://unavailable/none"}
)
TestTargetDapSqlMariaDB = get_target_test_class(
    TargetDapSql, config={"database_url": MYSQL_URL or "mysql://unavailable/none"}
)


def test_postgres_is_available() -> None:
    """The PostgreSQL suite above needs the server: skip locally, fail under CI."""
    if PG_URL is None:
        service_unavailable("PostgreSQL at " + PG_ADMIN_URL, RuntimeError("cannot connect"))


def test_mariadb_is_available() -> None:
    """The MariaDB suite above needs the server: skip locally, fail under CI."""
    if MYSQL_URL is None:
        service_unavailable("MySQL/MariaDB at " + MYSQL_ADMIN_URL, RuntimeError("cannot connect"))
