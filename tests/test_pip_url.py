"""The Hub's `pip_url` installs each plugin on its own, and the installed plugin is the
one the Hub file describes.

`pip_url` is a git URL of this repository with `#subdirectory=<plugin>`. The GitHub
repository is not reachable from every machine that runs the tests, so the test installs
from this checkout instead: the same URL with the committed HEAD as its host and
revision (`git+file:///path/to/checkout@<commit>#subdirectory=...`), into a fresh venv,
and compares the installed executable's `--about` with the Hub file of that commit.
Uncommitted changes are not part of the install, just as they are not on GitHub.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = {"tap-dap": "extractors", "target-dap-sql": "loaders"}

pytestmark = pytest.mark.slow


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.parametrize("name", PLUGINS)
def test_pip_url_installs_the_plugin_alone(name: str, tmp_path: Path) -> None:
    commit = git("rev-parse", "HEAD").strip()
    hub_path = f"hub/_data/meltano/{PLUGINS[name]}/{name}/dap-singer.yml"
    hub = YAML(typ="safe").load(git("show", f"{commit}:{hub_path}"))
    source, _, fragment = hub["pip_url"].partition("#")
    assert source == f"git+{hub['repo']}.git", f"{hub_path}: pip_url is not the repo's git URL"
    assert fragment == f"subdirectory={name}", f"{hub_path}: pip_url {hub['pip_url']}"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    local_url = f"git+file://{ROOT}@{commit}#{fragment}"
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", local_url],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert installed.returncode == 0, f"pip install {local_url}:\n{installed.stderr[-5000:]}"

    about = json.loads(
        subprocess.run(
            [str(venv / "bin" / hub["executable"]), "--about", "--format", "json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert about["name"] == name
    assert sorted(about["capabilities"]) == hub["capabilities"]
    # Settings as Meltano names them: each top-level property, or its dotted members
    top_level = {setting["name"].split(".")[0] for setting in hub["settings"]}
    assert top_level == set(about["settings"]["properties"])
