"""Fixtures of the reliability tests: `database_url` (a fresh PostgreSQL database or a new
DuckDB file) as in tests/e2e, and the Meltano plugins installed once per module for the
modules that ask (not autouse: other modules of this directory need no Meltano)."""

import pytest

from tests.e2e.meltano_harness import install_plugins
from tests.e2e.test_meltano_run import database_url

__all__ = ["database_url", "meltano_plugins"]


@pytest.fixture(scope="module")
def meltano_plugins() -> None:
    install_plugins()
