"""Target tests run against every database: a fresh PostgreSQL database, a DuckDB file and
a fresh MariaDB database (a new dialect is one more parameter here)."""

from __future__ import annotations

import pytest

from tests.target.harness import Database


@pytest.fixture(params=["postgresql", "duckdb", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Database:
    """An empty database of each kind, and helpers to load into it and read it back."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    elif request.param == "mariadb":
        url = request.getfixturevalue("mariadb_url")
    else:
        url = f"duckdb:///{tmp_path_factory.mktemp('duckdb') / 'target.duckdb'}"
    return Database(url)
