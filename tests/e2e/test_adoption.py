"""Switching from the official DAP CLI: `dap initdb` filled the database, then the pair
takes over with increments, through `meltano run`, with no snapshot of an adopted table.

The official client (instructure-dap-client) loads several tables from dap-sim, of two
namespaces; dap-sim advances (with a schema change and deletes); `meltano config set
tap-dap adopt_from` and `meltano run tap-dap target-dap-sql` then bring every table to
`dap-sim dump`, twice. Among the official types the target writes through a conversion:
PostgreSQL arrays (assignments.submission_types, an array of an enum type) and MariaDB's
binary(16) uuids (submissions.resource_link_lookup_uuid; web_logs' key and session_id)
and IP addresses (web_logs.remote_ip).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from dap_sim.testing import SimServer

from tests.conftest import database_url_for
from tests.e2e.meltano_harness import MeltanoProject, assert_matches_dump, install_plugins
from tests.target.harness import Database

pytestmark = pytest.mark.slow

# Enums, varchar, text, JSON, a decimal, arrays, uuids, IP addresses, deletes and updates
ADOPTED = {
    "canvas": ["accounts", "assignments", "courses", "enrollments", "submissions", "users"],
    "canvas_logs": ["web_logs"],
}
TABLES = [f"{namespace}.{table}" for namespace, tables in ADOPTED.items() for table in tables]
SCHEMA_CHANGES = ["canvas.courses:add_enum_value", "canvas.enrollments:add_column"]


@pytest.fixture(scope="module", autouse=True)
def _plugins_installed() -> None:
    install_plugins()


def official_initdb(dap: Path, sim: SimServer, url: str, cwd: Path) -> None:
    """`dap initdb` of the ADOPTED tables, as a school did before switching."""
    env = {
        **os.environ,
        "DAP_API_URL": sim.base_url,
        "DAP_CLIENT_ID": sim.client_id,
        "DAP_CLIENT_SECRET": sim.client_secret,
        "DAP_TRACKING": "false",
    }
    for namespace, tables in ADOPTED.items():
        done = subprocess.run(
            [str(dap), "--non-interactive", "initdb", "--connection-string", url,
             "--namespace", namespace, "--table", ",".join(tables)],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_meltano_run_takes_over_from_the_official_cli(
    dap_cli: Path,
    dap_sim_factory: Callable[..., SimServer],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    kind: str,
) -> None:
    url = database_url_for(kind, request, tmp_path)
    sim = dap_sim_factory(scale=1000, post_wait=10)
    official_initdb(dap_cli, sim, url, tmp_path)
    snapshots = {t: kinds.get("snapshot") for t, kinds in sim.stats()["jobs_by_table"].items()}
    # deletes of rows the official client loaded, in tables of every shape
    churn = ["canvas.submissions:0.1:0.05", "canvas.assignments:0.1:0.05", "canvas.users:0.1:0.05"]
    sim.advance(schema_changes=SCHEMA_CHANGES, churn=churn)

    project = MeltanoProject(tmp_path, sim, url)
    project.meltano("config", "set", "--store=db", "tap-dap", "adopt_from", url)
    settings = {
        "tap_dap_namespace": ",".join(ADOPTED),
        "tap_dap_tables": ",".join(TABLES),
        "target_dap_sql_hard_delete": True,
    }
    database = Database(url)
    streams = [table.replace(".", "-") for table in TABLES]
    # the second run: DAP reloaded courses (SnapshotRequired), so an adopted table takes a
    # snapshot, and ACTIVATE_VERSION removes the official rows the snapshot no longer has
    snapshots_taken = {"canvas.courses": 1}
    for run in (1, 2):
        output = project.run(**settings)
        assert ("adopted from the official client's" in output) == (run == 1)
        schemas = {
            stream: schema
            for namespace in ADOPTED
            for stream, schema in project.discovered_schemas(namespace).items()
        }
        assert_matches_dump(
            database, sim, schemas, streams, soft_deletes=False, foreign_target=True
        )
        jobs = sim.stats()["jobs_by_table"]
        for table in TABLES:
            # the official client's initdb took the snapshots, but the one DAP required
            # (its incremental query is refused before a job exists)
            ours = snapshots_taken.get(table, 0) if run == 2 else 0
            expected = {"snapshot": snapshots[table] + ours, "incremental": run - ours}
            assert jobs[table] == expected, table
        sim.advance(reload=["canvas.courses"], churn=churn)
