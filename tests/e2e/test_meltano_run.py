"""`meltano run tap-dap target-dap-sql` end to end: snapshot, advance, increment.

The real Meltano CLI runs the real plugins (installed by `meltano install` from the
repository's meltano.yml) against dap-sim; every canvas table must then equal
`dap-sim dump`, on PostgreSQL, DuckDB and MariaDB, with soft and hard deletes, and
Meltano's state must hold DAP's `until` bookmark. As meltano.yml has it (Parquet BATCH
files, removed once loaded), with RECORD messages, and with gzip JSONL BATCH files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dap_sim.dataset import Dataset
from dap_sim.testing import SimServer
from dap_sim.timefmt import iso_millis

from tests.conftest import DATABASES, database_url_for
from tests.e2e.meltano_harness import MeltanoProject, assert_matches_dump, install_plugins
from tests.target.harness import Database

pytestmark = pytest.mark.slow

# One schema change of every kind DAP makes, in the first advance.
SCHEMA_CHANGES = [
    "canvas.courses:add_enum_value",
    "canvas.courses:make_optional",
    "canvas.submissions:drop_column",
    "canvas.enrollments:add_column",
    "canvas.assignments:add_enum_column",
    # DAP's new required field with a default, one column of each type (one schema bump)
    *(
        f"canvas.submissions:add_required_column:{v}"
        for v in ("integer", "boolean", "string", "enum")
    ),
]
# (column, default) of each: rows loaded before the change must read the default
REQUIRED_WITH_DEFAULT = {
    "retention_days": 365,
    "is_featured": False,
    "import_source": "canvas",
    "delivery_mode": "on_campus",
}


@pytest.fixture(scope="module", autouse=True)
def _plugins_installed() -> None:
    install_plugins()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url_for(request.param, request, tmp_path)


def batch_settings(batches: Path, file_format: str = "jsonl") -> dict[str, Any]:
    """BATCH mode: the tap writes gzip JSONL (or Parquet) files that the target loads.

    Meltano knows `batch_config` as flattened settings, one environment variable each.
    """
    return {
        "tap_dap_batch_config_encoding_format": file_format,
        "tap_dap_batch_config_encoding_compression": "gzip",
        "tap_dap_batch_config_storage_root": batches.as_uri(),
        "tap_dap_batch_config_storage_prefix": "e2e-",
    }


# RECORD messages: tap-dap--records' setting, over meltano.yml's BATCH default
RECORDS = {"tap_dap_batch_messages": False}


def default_batch_files(project: MeltanoProject) -> list[Path]:
    """Files in meltano.yml's batch_config root (under the test's own .meltano)."""
    root = project.sys_dir() / "run" / "tap-dap" / "batches"
    return sorted(root.iterdir()) if root.exists() else []


# meltano.yml's default on every database with soft and hard deletes; the other two
# modes on one database each: what they change is Meltano's side (tap-dap--records'
# setting, batch_config from the environment), and test_pipe already loads RECORD and
# JSONL BATCH input into every database and compares it with `dap-sim dump` (CI's time
# budget counts every run: each is a minute)
RUNS = [
    *(
        pytest.param("default", hard, kind, id=f"{kind}-default-{'hard' if hard else 'soft'}")
        for kind in DATABASES
        for hard in (False, True)
    ),
    pytest.param("record", True, "postgresql", id="postgresql-record-hard"),
    pytest.param("batch", False, "mariadb", id="mariadb-batch-soft"),
]


@pytest.mark.parametrize(("mode", "hard_delete", "database_url"), RUNS, indirect=["database_url"])
def test_snapshot_advance_increment(
    dap_sim_factory: Callable[..., SimServer],
    database_url: str,
    tmp_path: Path,
    hard_delete: bool,
    mode: str,
) -> None:
    sim = dap_sim_factory(scale=1000)
    project = MeltanoProject(tmp_path, sim, database_url)
    settings: dict[str, Any] = {"target_dap_sql_hard_delete": hard_delete}
    if mode == "record":
        settings.update(RECORDS)
    batches = tmp_path / "batches"
    if mode == "batch":  # the first run keeps its files (meltano.yml deletes them)
        batches.mkdir()
        settings.update(batch_settings(batches), target_dap_sql_delete_batch_files=False)
    schemas = project.discovered_schemas()
    streams = sorted(schemas)
    assert len(streams) == 90  # every canvas table (the demo environment's namespace)
    database = Database(database_url)

    output = project.run(**settings)
    assert_matches_dump(database, sim, schemas, streams, soft_deletes=not hard_delete)
    if mode == "default":  # Parquet files came and were removed once loaded
        assert re.search(r"[1-9]\d* batch manifests", output), output[-3000:]
        assert default_batch_files(project) == []
    if mode == "batch":  # the rows came as files; the next run also removes its files
        assert list(batches.glob("e2e-*.jsonl.gz"))
        for loaded in batches.iterdir():
            loaded.unlink()
        settings["target_dap_sql_delete_batch_files"] = True

    sim.advance(schema_changes=SCHEMA_CHANGES)
    output = project.run(**settings)
    assert f"Evolved table {'.'.join(database.place('canvas.courses'))}" in output
    schemas = project.discovered_schemas()
    assert_matches_dump(database, sim, schemas, streams, soft_deletes=not hard_delete)
    assert_required_defaults(database)

    if mode == "batch":
        assert list(batches.iterdir()) == []

    bookmark = project.state()["singer_state"]["bookmarks"]["canvas-accounts"]
    dataset = Dataset.load(sim.data_dir)
    assert bookmark["replication_key_value"] == iso_millis(dataset.clock_ms(dataset.epoch))


@pytest.mark.parametrize("mode", ["record", "parquet"])
def test_tap_dap_into_meltanolabs_target_postgres(
    dap_sim_factory: Callable[..., SimServer], postgres_url: str, tmp_path: Path, mode: str
) -> None:
    """Any Singer target: MeltanoLabs' target-postgres loads the same rows, from RECORD
    messages or from tap-dap's Parquet BATCH files (the SDK's standard encoding, read by
    the SDK's own reader), a snapshot and then an increment with deletes."""
    sim = dap_sim_factory(scale=40_000)  # big enough for an epoch to delete rows
    project = MeltanoProject(tmp_path, sim, postgres_url)
    schemas = project.discovered_schemas()
    streams = ["canvas-accounts", "canvas-courses", "canvas-enrollments", "canvas-submissions"]
    settings: dict[str, Any] = {"tap_dap_tables": [s.split("-", 1)[1] for s in streams]}
    if mode == "record":
        settings.update(RECORDS)
    batches = tmp_path / "batches"
    if mode == "parquet":
        batches.mkdir()
        settings.update(batch_settings(batches, file_format="parquet"))
    for epoch in range(2):
        if epoch:
            sim.advance(schema_changes=[])
        project.meltano("run", "tap-dap", "target-postgres", **settings)
        assert_matches_dump(
            Database(postgres_url),
            sim,
            schemas,
            streams,
            soft_deletes=True,
            foreign_target=True,
            objects_as_structs=mode == "parquet",
        )
    if mode == "parquet":
        assert list(batches.glob("e2e-canvas-submissions--*.parquet.gz"))


def assert_required_defaults(database: Database) -> None:
    """The new required columns are NOT NULL; rows loaded before hold the default, rows
    written since their own values (assert_matches_dump compared every value already)."""
    columns = database.columns("canvas.submissions")
    rows = database.rows("canvas.submissions", list(REQUIRED_WITH_DEFAULT))
    for name, default in REQUIRED_WITH_DEFAULT.items():
        assert columns[name][1] is False, f"{name} should be NOT NULL"
        values = [row[name] for row in rows]
        assert values.count(default) > len(values) / 2, f"{name}: old rows hold {default!r}"
        assert any(value != default for value in values), f"{name}: new rows hold their own"
