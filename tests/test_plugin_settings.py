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
from jsonschema import Draft202012Validator
from meltano.core.setting_definition import SettingDefinition

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = {"tap-dap": "extractors", "target-dap-sql": "loaders"}
# A value of each JSON type as Meltano gets it from `meltano config set` or an environment
# variable: a string, which Meltano parses according to the setting's kind.
TEXT_OF_TYPE = {
    "string": "x",
    "integer": "5",
    "number": "2.5",
    "boolean": "true",
    "array": '["x"]',
    "object": "{}",
}


def about(name: str) -> dict[str, Any]:
    executable = shutil.which(name, path=str(Path(sys.executable).parent))
    assert executable, f"{name} is not installed in the test environment"
    out = subprocess.run(
        [executable, "--about", "--format", "json"], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def about_settings(name: str) -> dict[str, dict[str, Any]]:
    """Every setting by its Meltano name: nested properties as dotted names, except in an
    object whose keys are the user's (`stream_maps`), which is one setting."""
    found: dict[str, dict[str, Any]] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for key, prop in properties.items():
            an_object = "object" in json.dumps(prop.get("type"))
            open_keys = isinstance(prop.get("additionalProperties"), dict)
            if prop.get("properties") and an_object and not open_keys:
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
    files = list((ROOT / "hub" / "_data" / "meltano" / PLUGINS[name] / name).glob("*.yml"))
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
        if prop.get("default") is not None and setting["kind"] not in {"array", "object"}:
            assert setting.get("value") == prop["default"], setting_name
    assert sorted(plugin["capabilities"]) == sorted(about(name)["capabilities"])


def json_types(prop: dict[str, Any]) -> list[str]:
    """The JSON types a property admits, null aside, across `type`, `anyOf` and `oneOf`."""
    declared = prop.get("type")
    found = [t for t in (declared if isinstance(declared, list) else [declared]) if t]
    for alternative in prop.get("anyOf", []) + prop.get("oneOf", []):
        if isinstance(alternative, dict):
            found += json_types(alternative)
    return sorted(set(found) - {"null"})


def text_of(prop: dict[str, Any], json_type: str) -> str:
    """A value of that type the plugin accepts, written as Meltano gets it from the CLI."""
    if json_type == "string" and prop.get("enum"):
        return str(next(v for v in prop["enum"] if v is not None))
    default = prop.get("default")
    if default is not None and not list(
        Draft202012Validator({"type": json_type}).iter_errors(default)
    ):
        return default if isinstance(default, str) else json.dumps(default)
    return TEXT_OF_TYPE[json_type]


@pytest.mark.parametrize("name", PLUGINS)
@pytest.mark.parametrize("source", ["hub", "meltano.yml"])
def test_every_kind_takes_what_the_plugin_accepts(name: str, source: str) -> None:
    """Meltano casts each value by the setting's kind. For every JSON type the plugin
    admits, a value of it, from the CLI (a string) or as a YAML list or mapping in
    meltano.yml, must reach the plugin as itself or as the string's JSON value: an `array`
    kind refuses `canvas`, a `boolean` kind turns a Faker seed `x` into false."""
    plugin = hub_plugin(name) if source == "hub" else meltano_plugin(name)
    expected = about_settings(name)
    for setting in plugin["settings"]:
        prop = expected[setting["name"]]
        definition = SettingDefinition.parse(setting)
        validator = Draft202012Validator(prop)
        for json_type in json_types(prop):
            text = text_of(prop, json_type)
            meant = [text] if json_type == "string" else [text, json.loads(text)]
            for given in (text, meant[1]) if json_type in {"array", "object"} else (text,):
                where = f"{source} {name} {setting['name']} (kind {setting['kind']}): {given!r}"
                try:
                    cast = definition.cast_value(given)
                except ValueError as error:
                    pytest.fail(f"{where}: Meltano refuses it: {error}")
                assert cast in meant, f"{where} reaches the plugin as {cast!r}"
                refused = [e.message for e in validator.iter_errors(cast)]
                assert not refused, f"{where} reaches the plugin as {cast!r}: {refused}"


@pytest.mark.parametrize("name", PLUGINS)
def test_hub_definition_is_complete(name: str) -> None:
    hub = hub_plugin(name)
    for field in ("name", "namespace", "variant", "label", "pip_url", "repo", "keywords"):
        assert hub.get(field), f"Hub definition of {name} lacks {field}"
    assert hub["name"] == name
    assert hub["namespace"] == meltano_plugin(name)["namespace"]
    assert all(s.get("label") and s.get("kind") for s in hub["settings"])
    # The Hub lists the Pythons we test on; each must be one the plugin says it supports
    assert set(hub["supported_python_versions"]) <= set(about(name)["supported_python_versions"])


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
