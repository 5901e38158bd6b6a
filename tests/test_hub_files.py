"""The files under hub/ pass the checks a Meltano Hub pull request runs.

hub/_data/ mirrors the Hub repository's _data/: the two plugin definitions, and the
maintainer and default-variant entries to merge into its maintainers.yml and
default_variants.yml. The Hub's own JSON schemas and yamllint configuration are kept in
tests/hub_data/ (its README says where they come from). What the Hub's CI does, in its
own words (meltano/hub .github/workflows and utility_scripts/):
- plugin_schema_validate.py: each definition against schemas/plugin_definitions;
- yaml_check_names.py: a definition's name is its folder's;
- maintainers_validate.py: every variant is a key of maintainers.yml;
- check-yaml-format.yml: yamllint with .yamllint.yaml on every changed _data file;
- make_files.py + api_schema_validate.py: the API index of each plugin type, whose
  `default_variant` comes from default_variants.yml and must be a string.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from ruamel.yaml import YAML
from yamllint import linter
from yamllint.config import YamlLintConfig

ROOT = Path(__file__).resolve().parents[1]
HUB_DATA = ROOT / "hub" / "_data"
HUB_SCHEMAS = Path(__file__).parent / "hub_data" / "schemas"
HUB_YAMLLINT = Path(__file__).parent / "hub_data" / ".yamllint.yaml"
PLUGINS = {"tap-dap": "extractors", "target-dap-sql": "loaders"}
DEFINITIONS = sorted((HUB_DATA / "meltano").glob("*/*/*.yml"))
# Fields make_files.py drops from a definition before it writes the API file
API_SKIPPED_FIELDS = (
    "keywords",
    "maintenance_status",
    "domain_url",
    "definition",
    "next_steps",
    "settings_preamble",
    "usage",
    "prereq",
    "quality",
)


def load(path: Path) -> Any:
    """A YAML file as the Hub's scripts read it (ruamel.yaml, YAML 1.2)."""
    return YAML().load(path.read_text())


def relative(path: Path) -> str:
    return str(path.relative_to(HUB_DATA))


def schema_errors(instance: Any, schemas: str, schema_file: str) -> list[str]:
    """Errors of the Hub's validation: its Draft 7 validator, with every schema of
    schemas/common and of the given folder in the registry, as the Hub's scripts do."""
    resources = []
    for folder in ("common", schemas):
        for source in sorted((HUB_SCHEMAS / folder).glob("*.json")):
            schema = json.loads(source.read_text())
            resources.append(
                (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7))
            )
    schema = json.loads((HUB_SCHEMAS / schemas / schema_file).read_text())
    validator = Draft7Validator(schema, registry=Registry().with_resources(resources))
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def test_hub_data_holds_every_plugin() -> None:
    found = {(path.parts[-3], path.parts[-2]) for path in DEFINITIONS}
    assert found == {(t, name) for name, t in PLUGINS.items()}, [relative(p) for p in DEFINITIONS]
    assert (HUB_DATA / "maintainers.yml").is_file()
    assert (HUB_DATA / "default_variants.yml").is_file()


@pytest.mark.parametrize("path", DEFINITIONS, ids=relative)
def test_definition_passes_the_hub_schema(path: Path) -> None:
    plugin_type = path.parts[-3]
    errors = schema_errors(load(path), "plugin_definitions", f"{plugin_type}.schema.json")
    assert not errors, f"{relative(path)} fails the Hub's schema:\n" + "\n".join(errors)


@pytest.mark.parametrize("path", DEFINITIONS, ids=relative)
def test_definition_is_named_after_its_folder_and_file(path: Path) -> None:
    definition = load(path)
    assert definition["name"] == path.parent.name, relative(path)
    assert definition["variant"] == path.stem, relative(path)


@pytest.mark.parametrize("path", sorted(HUB_DATA.rglob("*.yml")), ids=relative)
def test_yamllint_with_the_hub_configuration(path: Path) -> None:
    config = YamlLintConfig(file=str(HUB_YAMLLINT))
    problems = [
        f"{relative(path)}:{p.line}:{p.column}: {p.message}"
        for p in linter.run(path.read_text(), config, str(path))
    ]
    assert not problems, "\n".join(problems)


def test_every_variant_has_a_maintainer() -> None:
    maintainers = load(HUB_DATA / "maintainers.yml")
    for path in DEFINITIONS:
        definition = load(path)
        entry = maintainers.get(definition["variant"].lower())
        assert entry, f"{relative(path)}: variant {definition['variant']} is not in maintainers"
        filled = {field for field in ("label", "name", "url") if str(entry.get(field) or "")}
        assert filled == {"label", "name", "url"}, f"maintainer {definition['variant']}: {entry}"


@pytest.mark.parametrize("plugin_type", sorted(set(PLUGINS.values())))
def test_api_build_has_a_default_variant_for_every_plugin(plugin_type: str) -> None:
    """The plugin-type index and the plugin files make_files.py would write pass the Hub's
    API schemas (without a default variant the index holds null and the build fails)."""
    defaults = load(HUB_DATA / "default_variants.yml").get(plugin_type) or {}
    index: dict[str, Any] = {}
    for plugin_dir in sorted((HUB_DATA / "meltano" / plugin_type).iterdir()):
        variants = {path.stem: load(path) for path in plugin_dir.glob("*.yml")}
        default = defaults.get(plugin_dir.name)
        names = sorted(variants)
        assert default in names, f"{plugin_type} {plugin_dir.name}: default variant {default}"
        index[plugin_dir.name] = {
            "default_variant": default,
            "variants": {name: {"ref": f"{plugin_dir.name}--{name}"} for name in variants},
            "logo_url": variants[default].get("logo_url"),
        }
        for name, definition in variants.items():
            api_file = {k: v for k, v in definition.items() if k not in API_SKIPPED_FIELDS}
            api_file["docs"] = f"https://hub.meltano.com/{plugin_type}/{plugin_dir.name}--{name}"
            errors = schema_errors(api_file, "api", f"{plugin_type}.schema.json")
            assert not errors, f"API file of {plugin_dir.name}--{name}:\n" + "\n".join(errors)
    errors = schema_errors(index, "api", "plugin_type_index.schema.json")
    assert not errors, f"API index of {plugin_type}:\n" + "\n".join(errors)


@pytest.mark.parametrize("path", DEFINITIONS, ids=relative)
def test_definition_follows_the_hub_conventions(path: Path) -> None:
    """What the schema leaves open but every listed plugin has: a logo of the Hub's own."""
    definition = load(path)
    logo = definition.get("logo_url") or ""
    assert logo.startswith(f"/assets/logos/{path.parts[-3]}/"), f"{relative(path)}: {logo!r}"
    assert logo.endswith(".png"), f"{relative(path)}: {logo!r}"
