"""The end-to-end fixtures, shared with tests/e2e: plugins installed once per module, and a
`database_url` for each database (a fresh PostgreSQL database, a new DuckDB file)."""

from tests.e2e.test_meltano_run import _plugins_installed, database_url

__all__ = ["_plugins_installed", "database_url"]
