"""Target tests run against every database: a fresh PostgreSQL database, a DuckDB file and
a fresh MariaDB database (a new dialect is one more parameter here)."""

from __future__ import annotations

import pytest

from tests.conftest import DATABASES, database_url_for
from tests.target.harness import Database


@pytest.fixture(params=DATABASES)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Database:
    """An empty database of each kind, and helpers to load into it and read it back."""
    return Database(database_url_for(request.param, request, tmp_path_factory.mktemp("db")))
