"""Target tests run against both databases: a fresh PostgreSQL database and a DuckDB file."""

from __future__ import annotations

import pytest

from tests.target.harness import Database


@pytest.fixture(params=["postgresql", "duckdb"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Database:
    """An empty database of each kind, and helpers to load into it and read it back."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"duckdb:///{tmp_path_factory.mktemp('duckdb') / 'target.duckdb'}"
    return Database(url)
