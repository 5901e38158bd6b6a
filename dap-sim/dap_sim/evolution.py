"""Schema evolution the way DAP does it: only compatible changes, each bump a new version.

A change is a small JSON object kept in ``dataset.json`` so that the version history is
data: ``{"kind": "add_column", "column": ..., "schema": {...}}`` and so on. Changes are
applied to the flat reference schema in order; the key column is never touched.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from dap_sim.catalog import JsonSchema, key_column

KINDS = ("add_column", "add_enum_value", "add_enum_column", "make_optional", "drop_column")
UNSPECIFIED = "__dap_unspecified__"

# Timestamps that order a row's history (created_at <= updated_at <= meta.ts) stay.
_PROTECTED = frozenset({"created_at", "updated_at", "timestamp"})

_NEW_COLUMNS: tuple[tuple[str, JsonSchema], ...] = (
    ("external_reference", {"type": "string", "maxLength": 255}),
    ("sis_import_uuid", {"type": "string", "format": "uuid"}),
    ("archived_at", {"type": "string", "format": "date-time"}),
    ("priority", {"type": "integer", "format": "int32"}),
    ("is_template", {"type": "boolean"}),
    ("weight", {"type": "number", "format": "float64"}),
    ("source_system_id", {"type": "integer", "format": "int64"}),
    ("notes_html", {"type": "string"}),
    ("locale_override", {"type": "string", "maxLength": 255}),
    ("last_synced_at", {"type": "string", "format": "date-time"}),
)
_NEW_ENUM_COLUMNS: tuple[tuple[str, list[str]], ...] = (
    ("sync_status", ["pending", "synced", "failed"]),
    ("visibility", ["everyone", "members", "admins"]),
    ("origin", ["ui", "api", "sis_import", "migration"]),
    ("review_state", ["draft", "in_review", "approved"]),
)
_NEW_ENUM_VALUES = ("archived", "pending_review", "suspended", "restored", "migrated", "locked")


def apply_changes(flat: JsonSchema, changes: list[dict[str, Any]]) -> JsonSchema:
    """A copy of ``flat`` with ``changes`` applied in order."""
    schema = copy.deepcopy(flat)
    properties: dict[str, Any] = schema["properties"]
    required: list[str] = schema.setdefault("required", [])
    for change in changes:
        kind, column = change["kind"], change["column"]
        if kind in ("add_column", "add_enum_column"):
            properties[column] = copy.deepcopy(change["schema"])
        elif kind == "add_enum_value":
            properties[column]["enum"].append(change["value"])
        elif kind == "make_optional":
            required.remove(column)
        elif kind == "drop_column":
            del properties[column]
            if column in required:
                required.remove(column)
        else:
            raise ValueError(f"unknown schema change kind {kind!r}")
    return schema


def _candidates(flat: JsonSchema, kind: str, taken: set[str]) -> list[Any]:
    """Columns (or new names) a change of ``kind`` can apply to in this schema."""
    properties: dict[str, Any] = flat["properties"]
    required = set(flat.get("required", []))
    key = key_column(flat)
    columns = [c for c in properties if c != key]
    if kind == "add_column":
        return [(n, s) for n, s in _NEW_COLUMNS if n not in taken]
    if kind == "add_enum_column":
        return [(n, m) for n, m in _NEW_ENUM_COLUMNS if n not in taken]
    if kind == "add_enum_value":
        return [
            c
            for c in columns
            if properties[c].get("type") == "string"
            and "enum" in properties[c]
            and any(v not in properties[c]["enum"] for v in _NEW_ENUM_VALUES)
        ]
    if kind == "make_optional":
        return [c for c in columns if c in required and c not in _PROTECTED]
    if kind == "drop_column":
        return [c for c in columns if c not in required and c not in _PROTECTED]
    raise ValueError(f"unknown schema change kind {kind!r}; known: {', '.join(KINDS)}")


def plan_change(
    flat: JsonSchema, kind: str, taken: set[str], rng: random.Random
) -> dict[str, Any] | None:
    """One concrete change of ``kind`` for this schema, or None if none applies.

    ``taken`` holds every column name the table ever had, so that a dropped column's name
    never comes back with another meaning.
    """
    options = _candidates(flat, kind, taken)
    if not options:
        return None
    choice = options[rng.randrange(len(options))]
    if kind == "add_column":
        name, column_schema = choice
        schema = dict(column_schema, description=f"Added by schema evolution ({name}).")
        return {"kind": kind, "column": name, "schema": schema}
    if kind == "add_enum_column":
        name, members = choice
        schema = {
            "type": "string",
            "enum": [UNSPECIFIED, *members],
            "description": f"Added by schema evolution ({name}).",
        }
        return {"kind": kind, "column": name, "schema": schema}
    if kind == "add_enum_value":
        enum = flat["properties"][choice]["enum"]
        fresh = [v for v in _NEW_ENUM_VALUES if v not in enum]
        return {"kind": kind, "column": choice, "value": fresh[rng.randrange(len(fresh))]}
    return {"kind": kind, "column": choice}
