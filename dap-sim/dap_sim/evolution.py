"""Schema evolution the way DAP does it: only compatible changes, each bump a new version.

A change is a small JSON object kept in ``dataset.json`` so that the version history is
data: ``{"kind": "add_column", "column": ..., "schema": {...}}`` and so on. Changes are
applied to the flat reference schema in order; the key column is never touched.

``add_required_column`` is the one change that adds a NOT NULL column: DAP's client
documentation allows it only with a ``default`` in the column's schema, which is what the
rows written before the change hold (``tables`` fills it in). It comes in variants, one
per type of column; a request may name one (``add_required_column:enum``).
"""

from __future__ import annotations

import copy
import random
from typing import Any

from dap_sim.catalog import JsonSchema, key_column

KINDS = (
    "add_column",
    "add_enum_value",
    "add_enum_column",
    "make_optional",
    "drop_column",
    "add_required_column",
)
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
# One column per variant. The defaults are not their type's zero (0, "", the first enum
# member) so that a replica which fills a type's zero instead of the default shows; the
# boolean's is false, so that most rows written after the change differ from it.
_NEW_REQUIRED_COLUMNS: dict[str, tuple[str, JsonSchema]] = {
    "integer": ("retention_days", {"type": "integer", "format": "int32", "default": 365}),
    "boolean": ("is_featured", {"type": "boolean", "default": False}),
    "string": ("import_source", {"type": "string", "maxLength": 255, "default": "canvas"}),
    "enum": (
        "delivery_mode",
        {
            "type": "string",
            "enum": [UNSPECIFIED, "online", "on_campus", "hybrid"],
            "default": "on_campus",
        },
    ),
}
VARIANTS: dict[str, tuple[str, ...]] = {"add_required_column": tuple(_NEW_REQUIRED_COLUMNS)}
_NEW_ENUM_VALUES = ("archived", "pending_review", "suspended", "restored", "migrated", "locked")


def apply_changes(flat: JsonSchema, changes: list[dict[str, Any]]) -> JsonSchema:
    """A copy of ``flat`` with ``changes`` applied in order."""
    schema = copy.deepcopy(flat)
    properties: dict[str, Any] = schema["properties"]
    required: list[str] = schema.setdefault("required", [])
    for change in changes:
        kind, column = change["kind"], change["column"]
        if kind in ("add_column", "add_enum_column", "add_required_column"):
            properties[column] = copy.deepcopy(change["schema"])
            if kind == "add_required_column":
                required.append(column)
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


def parse_kind(text: str) -> tuple[str, str | None]:
    """``add_required_column:enum`` -> (kind, variant); a bare kind has no variant."""
    kind, _, variant = text.partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown schema change kind {kind!r}; known: {', '.join(KINDS)}")
    if variant and kind not in VARIANTS:
        raise ValueError(f"schema change {kind} takes no variant (got {variant!r})")
    if variant and variant not in VARIANTS[kind]:
        known = ", ".join(VARIANTS[kind])
        raise ValueError(f"schema change {kind} has no variant {variant!r}; its variants: {known}")
    return kind, variant or None


def _candidates(flat: JsonSchema, kind: str, taken: set[str], variant: str | None) -> list[Any]:
    """Columns (or new names) a change of ``kind`` can apply to in this schema."""
    properties: dict[str, Any] = flat["properties"]
    required = set(flat.get("required", []))
    key = key_column(flat)
    columns = [c for c in properties if c != key]
    if kind == "add_column":
        return [(n, s) for n, s in _NEW_COLUMNS if n not in taken]
    if kind == "add_enum_column":
        return [(n, m) for n, m in _NEW_ENUM_COLUMNS if n not in taken]
    if kind == "add_required_column":
        return [
            (n, s)
            for v, (n, s) in _NEW_REQUIRED_COLUMNS.items()
            if n not in taken and variant in (None, v)
        ]
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
    flat: JsonSchema, request: str, taken: set[str], rng: random.Random
) -> dict[str, Any] | None:
    """One concrete change of the ``request``ed kind (``kind[:variant]``) for this schema,
    or None if none applies.

    ``taken`` holds every column name the table ever had, so that a dropped column's name
    never comes back with another meaning.
    """
    kind, variant = parse_kind(request)
    options = _candidates(flat, kind, taken, variant)
    if not options:
        return None
    choice = options[rng.randrange(len(options))]
    if kind in ("add_column", "add_required_column"):
        name, column_schema = choice
        schema = copy.deepcopy(column_schema)
        schema["description"] = f"Added by schema evolution ({name})."
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
