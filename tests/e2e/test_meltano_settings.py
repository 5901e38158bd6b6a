"""tap-dap's list settings set the ways Meltano users set them, through the real Meltano CLI.

`namespace` and `tables` take a name, a comma-separated string or a list, whether they come
from `meltano config set`, an environment variable or meltano.yml; each form must reach
the tap as the streams it names (`meltano invoke tap-dap --discover`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dap_sim.testing import SimServer

from tests.e2e.meltano_harness import MELTANO, REPO, MeltanoProject, install_plugins

pytestmark = pytest.mark.slow

BOTH = {"canvas-accounts", "canvas_logs-web_logs"}
Form = tuple[str, str, str, set[str]]  # (what, namespace, tables, the streams they name)
FORMS: list[Form] = [
    ("a name", "canvas", "accounts", {"canvas-accounts"}),
    ("a comma-separated list", "canvas,canvas_logs", "accounts, canvas_logs.web_logs", BOTH),
    ("a JSON list", '["canvas", "canvas_logs"]', '["accounts", "web_logs"]', BOTH),
]


@pytest.fixture(scope="module", autouse=True)
def _plugins_installed() -> None:
    install_plugins()


def discovered(project: MeltanoProject, **settings: Any) -> set[str]:
    """The stream ids of `meltano invoke tap-dap --discover` (the catalog on stdout)."""
    done = subprocess.run(
        [MELTANO, "invoke", "tap-dap", "--discover"],
        cwd=project.root,
        env=project.env(**settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return {entry["tap_stream_id"] for entry in json.loads(done.stdout)["streams"]}


@pytest.mark.parametrize("form", FORMS, ids=[f[0] for f in FORMS])
def test_meltano_config_set(dap_sim: SimServer, tmp_path: Path, form: Form) -> None:
    _, namespace, tables, expected = form
    project = MeltanoProject(tmp_path, dap_sim, "duckdb:///unused.duckdb")
    for name, value in (("namespace", namespace), ("tables", tables)):
        output = project.meltano("config", "set", "--store=db", "tap-dap", name, value)
        assert "Traceback" not in output
    assert discovered(project) == expected, form[0]


@pytest.mark.parametrize("form", FORMS, ids=[f[0] for f in FORMS])
def test_environment_variables(dap_sim: SimServer, tmp_path: Path, form: Form) -> None:
    name, namespace, tables, expected = form
    project = MeltanoProject(tmp_path, dap_sim, "duckdb:///unused.duckdb")
    found = discovered(project, tap_dap_namespace=namespace, tap_dap_tables=tables)
    assert found == expected, name


@pytest.mark.parametrize(
    ("namespace", "tables"),
    [
        (["canvas", "canvas_logs"], ["accounts", "web_logs"]),
        ("canvas,canvas_logs", "accounts,web_logs"),
    ],
    ids=["a YAML list", "a comma-separated string"],
)
def test_meltano_yml(dap_sim: SimServer, tmp_path: Path, namespace: Any, tables: Any) -> None:
    root = tmp_path / "project"
    root.mkdir()
    project_file = yaml.safe_load((REPO / "meltano.yml").read_text())
    tap = next(p for p in project_file["plugins"]["extractors"] if p["name"] == "tap-dap")
    tap["config"] = {"namespace": namespace, "tables": tables}
    (root / "meltano.yml").write_text(yaml.safe_dump(project_file, sort_keys=False))
    project = MeltanoProject(tmp_path, dap_sim, "duckdb:///unused.duckdb", root=root)
    assert discovered(project) == BOTH
