"""The Hub files, meltano.yml and the README agree with each plugin's `--about` on every setting.

Independent of scripts/plugin_settings.py (which writes them): this reads what each
artifact says and compares it with what the installed plugin says about itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = {"tap-dap": "extractors", "target-dap-sql": "loaders"}


def about(name: str) -> dict[str, Any]:
    executable = shutil.which(name, path=str(Path(sys.executable).parent))
    assert executable, f"{name} is not installed in the test environment"
    out = subprocess.run(
        [executable, "--about", "--format", "json"], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def about_settings(name: str) -> dict[str, dict[str, Any]]:
    """Every setting by its Meltano name (nested properties as dotted names)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for key, prop in properties.items():
            if prop.get("properties") and "object" in json.dumps(prop.get("type")):
                walk(prop["properties"], f"{prefix}{key}.")
            else:
                found[prefix + key] = prop

    walk(about(name)["settings"]["properties"], "")
    return found


def meltano_plugin(name: str) -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugins = project["plugins"][PLUGINS[name]]
    return next(p for p in plugins if p["name"] == name)


def hub_plugin(name: str) -> dict[str, Any]:
    files = list((ROOT / "hub" / PLUGINS[name] / name).glob("*.yml"))
    assert len(files) == 1, f"one Hub definition expected for {name}, found {files}"
    result: dict[str, Any] = yaml.safe_load(files[0].read_text())
    return result


@pytest.mark.parametrize("name", PLUGINS)
@pytest.mark.parametrize("source", ["hub", "meltano.yml"])
def test_settings_agree_with_about(name: str, source: str) -> None:
    expected = about_settings(name)
    plugin = hub_plugin(name) if source == "hub" else meltano_plugin(name)
    declared = {s["name"]: s for s in plugin["settings"]}
    assert sorted(declared) == sorted(expected), f"{source} and --about list other settings"
    for setting_name, prop in expected.items():
        setting = declared[setting_name]
        assert setting.get("description", "") == prop.get("description", ""), setting_name
        assert bool(setting.get("sensitive")) == bool(prop.get("secret")), setting_name
        if "enum" in prop:
            assert setting["kind"] == "options", setting_name
            assert [o["value"] for o in setting["options"]] == [
                v for v in prop["enum"] if v is not None
            ]
        kinds = {"boolean": "boolean", "integer": "integer", "number": "decimal"}
        json_type = prop.get("type")
        scalar = [t for t in (json_type if isinstance(json_type, list) else [json_type]) if t]
        scalar = [t for t in scalar if t != "null"]
        if len(scalar) == 1 and scalar[0] in kinds:
            assert setting["kind"] == kinds[scalar[0]], setting_name
        if prop.get("default") is not None and setting["kind"] not in {"array", "object"}:
            assert setting.get("value") == prop["default"], setting_name
    assert sorted(plugin["capabilities"]) == sorted(about(name)["capabilities"])


@pytest.mark.parametrize("name", PLUGINS)
def test_hub_definition_is_complete(name: str) -> None:
    hub = hub_plugin(name)
    for field in ("name", "namespace", "variant", "label", "pip_url", "repo", "keywords"):
        assert hub.get(field), f"Hub definition of {name} lacks {field}"
    assert hub["name"] == name
    assert hub["namespace"] == meltano_plugin(name)["namespace"]
    assert all(s.get("label") and s.get("kind") for s in hub["settings"])


@pytest.mark.parametrize("name", PLUGINS)
def test_readme_documents_every_setting(name: str) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        rf"<!-- settings:{re.escape(name)} -->(.*?)<!-- /settings:{re.escape(name)} -->",
        readme,
        re.S,
    )
    assert block, f"README.md has no generated settings table for {name}"
    documented = set(re.findall(r"^\| `([^`]+)` \|", block.group(1), re.M))
    assert documented == set(about_settings(name))
    for setting_name, prop in about_settings(name).items():
        assert prop.get("description", "").replace("|", "\\|") in block.group(1), setting_name
