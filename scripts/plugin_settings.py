"""One source for every setting: each plugin's `--about --format json`.

From it this script writes the Meltano Hub files (hub/_data/, laid out as the Hub
repository's _data/: the two plugin definitions, and the maintainer and default-variant
entries a Hub pull request adds), the settings lists of the two custom plugins in
meltano.yml and the settings tables of the README, so that none of them is ever copied by
hand. `--check` writes nothing and exits 1 when one of them is out of date
(tests/test_plugin_settings.py proves the agreement with `--about` independently,
tests/test_hub_files.py runs the Hub's own checks).

    python scripts/plugin_settings.py          # regenerate
    python scripts/plugin_settings.py --check  # fail when anything drifted
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
MELTANO_YML = ROOT / "meltano.yml"
README = ROOT / "README.md"
HUB_DATA = ROOT / "hub" / "_data"
MAINTAINERS_YML = HUB_DATA / "maintainers.yml"
DEFAULT_VARIANTS_YML = HUB_DATA / "default_variants.yml"
REPO_URL = "https://github.com/dap-singer/dap-singer"
VARIANT = "dap-singer"
MAINTAINER = {"label": VARIANT, "name": VARIANT, "url": REPO_URL.rsplit("/", 1)[0]}
# The Hub rates a variant's quality itself (hub-utils update-quality); a new one is unknown
QUALITY = "unknown"
# The Python minors the test suite runs on (.ci/run: the CI machine's python3). The Hub
# lists those the plugin's requires-python admits.
TESTED_PYTHON_VERSIONS = ("3.11",)

ACRONYMS = {"id": "ID", "url": "URL", "tls": "TLS", "ca": "CA", "dap": "DAP", "duckdb": "DuckDB"}


@dataclass(frozen=True)
class Plugin:
    """What the Hub and meltano.yml say about a plugin besides its settings."""

    name: str
    plugin_type: str  # extractors | loaders
    label: str
    description: str
    keywords: tuple[str, ...]
    domain_url: str
    logo_url: str  # one of the Hub's own logos (static/assets/logos/ in its repository)
    required_groups: tuple[tuple[str, ...], ...]
    # A loader's database, for transformers; `target_schema` names the setting holding the
    # schema it loads into, and becomes that setting's environment variable.
    dialect: str | None = None
    target_schema_setting: str | None = None
    usage: str | None = None  # Markdown at the foot of the Hub page

    @property
    def namespace(self) -> str:
        return self.name.replace("-", "_")

    @property
    def hub_file(self) -> Path:
        return HUB_DATA / "meltano" / self.plugin_type / self.name / f"{VARIANT}.yml"

    def env_var(self, setting: str) -> str:
        """The environment variable Meltano reads a setting of this plugin from."""
        return f"{self.namespace}_{setting.replace('.', '__')}".upper()


PLUGINS = (
    Plugin(
        name="tap-dap",
        plugin_type="extractors",
        label="Instructure DAP (Canvas Data 2)",
        description="Canvas Data 2 tables from Instructure's Data Access Platform Query API",
        keywords=("meltano_sdk", "canvas", "instructure", "dap", "canvas-data-2", "education"),
        domain_url="https://developerdocs.instructure.com/services/dap",
        logo_url="/assets/logos/extractors/canvas.png",
        required_groups=(("client_id", "client_secret"),),
    ),
    Plugin(
        name="target-dap-sql",
        plugin_type="loaders",
        label="DAP SQL (PostgreSQL, DuckDB, MySQL)",
        description="Creates, evolves and merges PostgreSQL, DuckDB and MySQL/MariaDB tables",
        keywords=("meltano_sdk", "database", "postgres", "duckdb", "mysql", "canvas", "dap"),
        domain_url="https://www.postgresql.org/",
        logo_url="/assets/logos/loaders/postgres.png",
        required_groups=((),),
        # The database of database_url's default (duckdb:///dap.duckdb)
        dialect="duckdb",
        target_schema_setting="default_target_schema",
        usage=(
            "`dialect` is `duckdb`, the database of the default `database_url`. When"
            " `database_url` points at PostgreSQL or MySQL, tell the transformers of the"
            " pipeline: `meltano config set target-dap-sql _dialect postgres` (or `mysql`)."
            " A stream named `<schema>-<table>` (every tap-dap stream) loads into that"
            " schema; `target_schema` is `default_target_schema`, the schema of the others."
        ),
    ),
)


def about(plugin: Plugin) -> dict[str, Any]:
    """The plugin's own description of itself, from the dev environment's executable."""
    executable = shutil.which(plugin.name, path=str(Path(sys.executable).parent)) or plugin.name
    out = subprocess.run(
        [executable, "--about", "--format", "json"], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def _types(prop: dict[str, Any]) -> list[str]:
    """JSON types a property admits, nulls aside, across `type`, `anyOf` and `oneOf`."""
    found: list[str] = []
    declared = prop.get("type")
    for t in declared if isinstance(declared, list) else [declared]:
        if isinstance(t, str) and t != "null":
            found.append(t)
    for alternative in prop.get("anyOf", []) + prop.get("oneOf", []):
        if isinstance(alternative, dict):
            found.extend(t for t in _types(alternative) if t not in found)
    return found


def is_open_map(prop: dict[str, Any]) -> bool:
    """An object whose keys are the user's (stream names in `stream_maps`): one setting."""
    return isinstance(prop.get("additionalProperties"), dict)


def kind_of(prop: dict[str, Any]) -> str:
    """Meltano's setting kind for a JSON schema property.

    Meltano parses a string (from `meltano config set` or an environment variable) by the
    kind: as JSON for array and object, as a number or a boolean for those. A property
    that admits a string must therefore be `string`, which passes every value through
    unchanged (a YAML list in meltano.yml stays a list).
    """
    if prop.get("secret"):
        return "password"
    if "enum" in prop:
        return "options"
    types = _types(prop)
    if "string" in types:
        return "string"
    for json_type, kind in (
        ("array", "array"),
        ("object", "object"),
        ("boolean", "boolean"),
        ("integer", "integer"),
        ("number", "decimal"),
    ):
        if json_type in types:
            return kind
    return "string"


def label_of(name: str) -> str:
    words = re.split(r"[_.]", name)
    return " ".join(ACRONYMS.get(w, w.capitalize()) for w in words)


def settings_of(about_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Meltano setting definitions, objects with declared properties as dotted names."""

    def walk(properties: dict[str, Any], prefix: str) -> Iterator[dict[str, Any]]:
        for name, prop in properties.items():
            full = prefix + name
            if "object" in _types(prop) and prop.get("properties") and not is_open_map(prop):
                yield from walk(prop["properties"], full + ".")
                continue
            setting: dict[str, Any] = {
                "name": full,
                "label": prop.get("title") or label_of(full),
                "kind": kind_of(prop),
                "description": prop.get("description", ""),
            }
            if prop.get("secret"):
                setting["sensitive"] = True
            if setting["kind"] == "options":
                setting["options"] = [
                    {"label": str(v), "value": v} for v in prop["enum"] if v is not None
                ]
            default = prop.get("default")
            if default is not None and not isinstance(default, dict):
                setting["value"] = default
            yield setting

    return list(walk(about_json["settings"]["properties"], ""))


def supported_python_versions(plugin: Plugin) -> list[str]:
    """The tested Python minors that the plugin's requires-python admits."""
    project = tomllib.loads((ROOT / plugin.name / "pyproject.toml").read_text())["project"]
    admitted = SpecifierSet(project["requires-python"])
    versions = [v for v in TESTED_PYTHON_VERSIONS if admitted.contains(f"{v}.0")]
    if not versions:
        raise SystemExit(
            f"{plugin.name}: requires-python {admitted} admits none of the Pythons the"
            f" tests run on ({', '.join(TESTED_PYTHON_VERSIONS)})"
        )
    return versions


def hub_definition(plugin: Plugin, about_json: dict[str, Any]) -> dict[str, Any]:
    """The Hub's plugin definition, settings in name order as hub-utils writes them."""
    definition: dict[str, Any] = {
        "name": plugin.name,
        "namespace": plugin.namespace,
        "variant": VARIANT,
        "label": plugin.label,
        "description": plugin.description,
        "logo_url": plugin.logo_url,
        "domain_url": plugin.domain_url,
        "repo": REPO_URL,
        "pip_url": f"git+{REPO_URL}.git#subdirectory={plugin.name}",
        "executable": plugin.name,
        "maintenance_status": "active",
        "quality": QUALITY,
        "keywords": list(plugin.keywords),
        "capabilities": sorted(about_json["capabilities"]),
        "supported_python_versions": supported_python_versions(plugin),
        "settings_group_validation": [sorted(group) for group in plugin.required_groups],
        "settings": sorted(settings_of(about_json), key=lambda s: str(s["name"])),
    }
    if plugin.dialect:
        definition["dialect"] = plugin.dialect
    if plugin.target_schema_setting:
        if plugin.target_schema_setting not in {s["name"] for s in definition["settings"]}:
            raise SystemExit(f"{plugin.name} has no setting {plugin.target_schema_setting}")
        definition["target_schema"] = "$" + plugin.env_var(plugin.target_schema_setting)
    if plugin.usage:
        definition["usage"] = plugin.usage
    return definition


def hub_entries() -> dict[Path, dict[str, Any]]:
    """What a Hub pull request adds to its maintainers.yml and default_variants.yml."""
    default_variants: dict[str, dict[str, str]] = {}
    for plugin in PLUGINS:
        default_variants.setdefault(plugin.plugin_type, {})[plugin.name] = VARIANT
    return {MAINTAINERS_YML: {VARIANT: MAINTAINER}, DEFAULT_VARIANTS_YML: default_variants}


def readme_table(about_json: dict[str, Any]) -> str:
    rows = ["| Setting | Kind | Default | Description |", "| --- | --- | --- | --- |"]
    for s in settings_of(about_json):
        default = "" if "value" not in s else f"`{json.dumps(s['value'])}`"
        kind = s["kind"] + (
            " (" + ", ".join(f"`{o['value']}`" for o in s["options"]) + ")"
            if s["kind"] == "options"
            else ""
        )
        description = s["description"].replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{s['name']}` | {kind} | {default} | {description} |")
    return "\n".join(rows) + "\n"


def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _hub_yaml() -> YAML:
    """The Hub's style (its .yamllint.yaml): sequences not indented under their key."""
    yaml = YAML()
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.width = 4096
    return yaml


def _sorted_keys(data: Any) -> Any:
    """Every mapping's keys in order, as the Hub's yamllint key-ordering rule wants."""
    if isinstance(data, dict):
        return {key: _sorted_keys(data[key]) for key in sorted(data)}
    if isinstance(data, list):
        return [_sorted_keys(item) for item in data]
    return data


def _dump(yaml: YAML, data: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def render_all() -> dict[Path, str]:
    """Every generated file's wanted content."""
    yaml, hub_yaml = _yaml(), _hub_yaml()
    wanted = {path: _dump(hub_yaml, _sorted_keys(data)) for path, data in hub_entries().items()}
    meltano = yaml.load(MELTANO_YML.read_text())
    readme = README.read_text()
    for plugin in PLUGINS:
        about_json = about(plugin)
        wanted[plugin.hub_file] = _dump(hub_yaml, _sorted_keys(hub_definition(plugin, about_json)))
        for definition in meltano["plugins"][plugin.plugin_type]:
            if definition["name"] == plugin.name:
                definition["capabilities"] = sorted(about_json["capabilities"])
                definition["settings"] = settings_of(about_json)
        start, end = f"<!-- settings:{plugin.name} -->", f"<!-- /settings:{plugin.name} -->"
        found = re.search(re.escape(start) + r".*?" + re.escape(end), readme, re.S)
        if not found:
            raise SystemExit(f"README.md lacks the markers {start} ... {end}")
        table = f"{start}\n{readme_table(about_json)}{end}"
        readme = readme[: found.start()] + table + readme[found.end() :]
    wanted[MELTANO_YML] = _dump(yaml, meltano)
    wanted[README] = readme
    return wanted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail on drift")
    args = parser.parse_args()
    stale = []
    for path, content in render_all().items():
        current = path.read_text() if path.exists() else None
        if current == content:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    if args.check and stale:
        names = ", ".join(map(str, stale))
        print(f"out of date: {names}; run `python scripts/plugin_settings.py`", file=sys.stderr)
        return 1
    print("regenerated: " + (", ".join(map(str, stale)) or "nothing changed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
