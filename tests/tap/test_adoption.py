"""`adopt_from`: tables the official DAP CLI loaded start with an increment, not a snapshot.

The official client's meta-tables are built from its own DDL (tests/official_cli/) in a
real PostgreSQL or MariaDB database; tests/e2e/test_adoption.py runs the official client
itself, end to end.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest
from dap_sim.dataset import Dataset
from dap_sim.testing import SimServer
from dap_sim.timefmt import iso_millis
from tap_harness import TapRun, discover, run_tap, select, sim_config

from tests.conftest import OFFICIAL_DDL

STREAMS = ["canvas-enrollments", "canvas-courses"]


class OfficialDatabase:
    """A database as `dap initdb` leaves it: meta-tables, and the tables they list."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url
        ddl = (
            OFFICIAL_DDL / f"meta_tables.{'mysql' if kind == 'mariadb' else kind}.sql"
        ).read_text()
        for statement in ddl.split(";\n"):
            if statement.strip():
                self.execute(statement)
        self.execute(
            f"INSERT INTO {self.named('instructure_dap', 'database_version')} (version) VALUES (1)"
        )

    def named(self, schema: str, table: str) -> str:
        return f'"{schema}__{table}"' if self.kind == "mariadb" else f'"{schema}"."{table}"'

    def where(self, namespace: str, table: str) -> str:
        return f"{namespace}__{table}" if self.kind == "mariadb" else f"{namespace}.{table}"

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        if self.kind == "mariadb":
            parts = urlsplit(self.url)
            with pymysql.connect(
                host=parts.hostname, port=parts.port or 3306, user="root",
                database=parts.path.lstrip("/"), autocommit=True,
            ) as connection, connection.cursor() as cursor:  # fmt: skip
                cursor.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")
                cursor.execute(sql)
                return list(cursor.fetchall())
        with psycopg.connect(self.url, autocommit=True) as connection:
            cursor = connection.execute(sql.encode())
            return cursor.fetchall() if cursor.description else []

    def loaded(
        self, namespace: str, table: str, until: datetime.datetime, version: int = 1
    ) -> None:
        """The official client loaded `table` up to `until` (its table and its meta row)."""
        if self.kind == "postgresql":
            self.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
        self.execute(f"CREATE TABLE {self.named(namespace, table)} (id bigint PRIMARY KEY)")
        self.listed(namespace, table, until, version)

    def listed(
        self, namespace: str, table: str, until: datetime.datetime, version: int = 1
    ) -> None:
        """A row of the meta-table (whether or not the table exists); on MySQL too the
        official client writes the namespace as target_schema (the table is
        `namespace__table`)."""
        self.execute(
            f"INSERT INTO {self.named('instructure_dap', 'table_sync')} (source_namespace, "
            'source_table, "timestamp", schema_version, target_schema, target_table, '
            "schema_description_format, schema_description) VALUES "
            f"('{namespace}', '{table}', '{until:%Y-%m-%d %H:%M:%S.%f}', {version}, "
            f"'{namespace}', '{table}', 'json', '{{}}')"
        )

    def meta_rows(self) -> list[tuple[Any, ...]]:
        return self.execute(
            f"SELECT * FROM {self.named('instructure_dap', 'table_sync')} ORDER BY id"
        )


@pytest.fixture(params=["postgresql", "mariadb"])
def official(request: pytest.FixtureRequest) -> OfficialDatabase:
    url = request.getfixturevalue(
        "postgres_url" if request.param == "postgresql" else "mariadb_url"
    )
    return OfficialDatabase(request.param, url)


def sim_clock(sim: SimServer) -> datetime.datetime:
    """The simulator's time now: what the official client's last `until` would be."""
    dataset = Dataset.load(sim.data_dir)
    millis = dataset.clock_ms(dataset.epoch)
    return datetime.datetime.fromtimestamp(millis / 1000, datetime.UTC).replace(tzinfo=None)


def adopt_run(sim: SimServer, official: OfficialDatabase, tmp_path: Path, **kwargs: Any) -> TapRun:
    config = sim_config(sim, adopt_from=official.url, tables=["enrollments", "courses"])
    catalog = select(
        discover(tmp_path, sim_config(sim, tables=["enrollments", "courses"])), STREAMS
    )
    return run_tap(tmp_path, config, catalog=catalog, **kwargs)


def test_an_adopted_table_starts_with_an_increment(
    dap_sim: SimServer, official: OfficialDatabase, tmp_path: Path
) -> None:
    official.loaded("canvas", "enrollments", sim_clock(dap_sim))
    meta_before = official.meta_rows()
    dap_sim.advance()
    run = adopt_run(dap_sim, official, tmp_path)

    jobs = dap_sim.stats()["jobs_by_table"]
    assert jobs["canvas.enrollments"] == {"incremental": 1}, "an adopted table gets no snapshot"
    assert jobs["canvas.courses"] == {"snapshot": 1}, "a table the meta-table lacks does"
    activated = {m["stream"] for m in run.of_type("ACTIVATE_VERSION")}
    assert activated == {"canvas-courses"}
    changes = run.records("canvas-enrollments")
    assert 0 < len(changes) < len(dap_sim.dump("canvas", "enrollments")), "only the changes"
    bookmark = run.state["bookmarks"]["canvas-enrollments"]
    dataset = Dataset.load(dap_sim.data_dir)
    assert bookmark["replication_key_value"] == iso_millis(dataset.clock_ms(dataset.epoch))
    assert (
        f"adopted from the official client's {official.where('canvas', 'enrollments')}"
        in run.stderr
    )
    assert official.meta_rows() == meta_before, "the official meta-table is only read"


def test_a_table_with_a_bookmark_ignores_the_meta_table(
    dap_sim: SimServer, official: OfficialDatabase, tmp_path: Path
) -> None:
    official.loaded("canvas", "enrollments", sim_clock(dap_sim))
    dap_sim.advance()
    first = adopt_run(dap_sim, official, tmp_path / "first")
    assert first.records("canvas-enrollments")
    again = adopt_run(dap_sim, official, tmp_path / "again", state=first.state)
    assert again.records("canvas-enrollments") == [], "from the bookmark, not from the meta-table"
    assert dap_sim.stats()["jobs_by_table"]["canvas.enrollments"] == {"incremental": 2}


@pytest.mark.parametrize("case", ["unknown version", "missing table", "no meta-table"])
def test_a_meta_table_that_cannot_be_used_is_named_and_changes_nothing(
    dap_sim: SimServer, official: OfficialDatabase, tmp_path: Path, case: str
) -> None:
    official.loaded("canvas", "enrollments", sim_clock(dap_sim))
    expected = {
        "unknown version": "comes from an official client version tap-dap does not know",
        "missing table": f"lists {official.where('canvas', 'courses')}, which the database "
        "does not hold",
        "no meta-table": "there is no instructure_dap",
    }[case]
    if case == "unknown version":
        official.execute(
            f"UPDATE {official.named('instructure_dap', 'database_version')} SET version = 2"
        )
    elif case == "missing table":
        official.listed("canvas", "courses", sim_clock(dap_sim))
    else:
        official.execute(f"DROP TABLE {official.named('instructure_dap', 'table_sync')}")
    run = adopt_run(dap_sim, official, tmp_path, check=False)
    assert run.returncode == 1
    assert expected in run.stderr
    assert "Traceback" not in run.stderr
    assert not run.of_type("RECORD")
    assert dap_sim.stats()["jobs_created"] == 0, "nothing was asked of DAP"


def test_the_databases_password_never_shows(
    dap_sim: SimServer, postgres_url: str, tmp_path: Path
) -> None:
    password = "Sup3r-Secret-Pw"
    parts = urlsplit(postgres_url)
    url = parts._replace(netloc=f"postgres:{password}@{parts.hostname}:{parts.port}").geturl()
    config = sim_config(dap_sim, adopt_from=url, tables=["enrollments"])
    run = run_tap(tmp_path, config, check=False)  # an empty database: no meta-table
    assert run.returncode == 1
    assert "there is no instructure_dap.table_sync" in run.stderr
    assert "postgres:***@" in run.stderr
    assert password not in run.stderr
