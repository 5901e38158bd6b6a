"""The tables dap-sim serves and their schemas, in the reference (flat) and live (envelope) forms.

The reference schemas list the key beside the other properties. The live API wraps them:
``key`` holds the primary key, ``value`` the rest, ``meta`` the commit timestamp and the
action, and shared types (IP addresses) live under ``definitions`` where ``$ref`` finds them.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

JsonSchema = dict[str, Any]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
NAMESPACES = ("canvas", "canvas_logs")
_SHARED_REF_PREFIX = "#/components/schemas/"
_LIVE_REF_PREFIX = "#/definitions/"

META_SCHEMA: JsonSchema = {
    "type": "object",
    "properties": {
        "ts": {
            "type": "string",
            "format": "date-time",
            "description": "Commit time of the record in the data lake (UTC).",
        },
        "action": {
            "type": "string",
            "enum": ["U", "D"],
            "description": "U: inserted or updated, D: deleted (incremental queries only).",
        },
    },
    "additionalProperties": False,
    "required": ["ts"],
}


def _schema_dir() -> Any:
    return resources.files("dap_sim") / "schemas"


@functools.cache
def table_names(namespace: str) -> tuple[str, ...]:
    """Tables of a namespace, sorted; empty for a namespace dap-sim does not know."""
    if namespace not in NAMESPACES:
        return ()
    folder = _schema_dir() / namespace
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json")))


@functools.cache
def _reference_schema(namespace: str, table: str) -> JsonSchema:
    text = (_schema_dir() / namespace / f"{table}.json").read_text(encoding="utf-8")
    schema: JsonSchema = json.loads(text)
    return schema


def reference_schema(namespace: str, table: str) -> JsonSchema:
    """The flat reference schema (key beside the other properties); a private copy."""
    if table not in table_names(namespace):
        raise KeyError(f"unknown table {namespace}.{table}")
    return copy.deepcopy(_reference_schema(namespace, table))


@functools.cache
def shared_definitions() -> dict[str, JsonSchema]:
    folder = _schema_dir() / "shared"
    return {
        p.name[:-5]: json.loads(p.read_text(encoding="utf-8"))
        for p in folder.iterdir()
        if p.name.endswith(".json")
    }


def key_column(flat: JsonSchema) -> str:
    """The primary key: ``id`` where the table has one, else its first property."""
    properties: dict[str, Any] = flat["properties"]
    return "id" if "id" in properties else next(iter(properties))


def _relink_refs(node: Any, used: set[str]) -> Any:
    """Point ``$ref`` at ``#/definitions/...`` (the only form the live API and client use)."""
    if isinstance(node, dict):
        out = {}
        for name, value in node.items():
            if name == "$ref" and isinstance(value, str) and value.startswith(_SHARED_REF_PREFIX):
                target = value[len(_SHARED_REF_PREFIX) :]
                used.add(target)
                out[name] = _LIVE_REF_PREFIX + target
            else:
                out[name] = _relink_refs(value, used)
        return out
    if isinstance(node, list):
        return [_relink_refs(item, used) for item in node]
    return node


def envelope(flat: JsonSchema) -> JsonSchema:
    """Wrap a flat table schema the way the live API serves it (without the version)."""
    used: set[str] = set()
    relinked = _relink_refs(flat, used)
    key = key_column(relinked)
    properties: dict[str, Any] = relinked["properties"]
    required: list[str] = relinked.get("required", [])
    value_required = [name for name in required if name != key]
    value: JsonSchema = {
        "type": "object",
        "properties": {name: prop for name, prop in properties.items() if name != key},
        "additionalProperties": False,
    }
    if value_required:
        value["required"] = value_required
    schema: JsonSchema = {"$schema": SCHEMA_DIALECT, "type": "object"}
    for annotation in ("title", "description"):
        if annotation in relinked:
            schema[annotation] = relinked[annotation]
    schema["properties"] = {
        "meta": copy.deepcopy(META_SCHEMA),
        "key": {
            "type": "object",
            "properties": {key: properties[key]},
            "additionalProperties": False,
            "required": [key],
        },
        "value": value,
    }
    schema["required"] = ["key"]
    schema["additionalProperties"] = False
    if used:
        definitions = shared_definitions()
        schema["definitions"] = {name: copy.deepcopy(definitions[name]) for name in sorted(used)}
    return schema


def resolve_ref(node: JsonSchema) -> JsonSchema:
    """The shared type a reference-schema ``$ref`` names, or the node itself."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_SHARED_REF_PREFIX):
        return shared_definitions()[ref[len(_SHARED_REF_PREFIX) :]]
    return node
