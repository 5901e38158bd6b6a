"""The one place that translates a DAP table schema into a Singer stream schema.

A DAP schema has `key` (the primary key fields), `value` (the other fields) and `meta`
(`ts`, `action`). The Singer record has the key and value fields side by side, plus
`_dap_ts` (meta.ts) and `_sdc_deleted_at` (meta.ts of a delete, else null).

Nullability follows DAP's `required`: a required field gets a type without "null", any
other `[T, "null"]`; a field's `default` is carried with it. The JSON `required` list
holds only the key fields, because a delete record carries nothing but the key,
`_dap_ts` and `_sdc_deleted_at` and must still validate in any target.

The schema's `$id` names the stream and the DAP schema version it was translated from, so
a catalog kept from discovery (as Meltano keeps it) tells a later run which version it
holds, and the run does not ask DAP for the schema again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_dap.errors import TapDapError

DAP_TS = "_dap_ts"
DELETED_AT = "_sdc_deleted_at"
OVERSIZED_MARKER = "__dap_oversized_truncated__"

#: Keywords that keep their meaning in a Singer schema and are carried over unchanged.
#: `default` is what rows written before a new required column came hold (DAP adds a
#: required field only with one): a target needs it to add the column to a full table.
CARRIED_KEYWORDS = (
    "description",
    "default",
    "format",
    "maxLength",
    "minLength",
    "pattern",
    "enum",
    "multipleOf",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
)

METADATA_PROPERTIES: Mapping[str, dict[str, Any]] = {
    DAP_TS: {
        "type": "string",
        "format": "date-time",
        "description": "When DAP last changed the record (meta.ts).",
    },
    DELETED_AT: {
        "type": ["string", "null"],
        "format": "date-time",
        "description": "meta.ts of a deleted record; null while the record exists.",
    },
}


class SchemaError(TapDapError):
    """A DAP schema this module cannot translate."""


@dataclass(frozen=True)
class StreamSchema:
    """A translated table schema."""

    schema: dict[str, Any]
    key_properties: list[str]
    version: int


_ID_PREFIX = "urn:dap-schema:"


def schema_id(stream: str, version: int) -> str:
    """The `$id` of a stream schema: `urn:dap-schema:<stream id>:<DAP schema version>`."""
    return f"{_ID_PREFIX}{stream}:{version}"


def version_of(schema: Mapping[str, Any]) -> int | None:
    """The DAP schema version a stream schema was translated from, if its `$id` says."""
    identifier = schema.get("$id")
    if not isinstance(identifier, str) or not identifier.startswith(_ID_PREFIX):
        return None
    version = identifier.rpartition(":")[2]
    return int(version) if version.isdigit() else None


def translate(dap_schema: Mapping[str, Any], version: int, table: str) -> StreamSchema:
    """The Singer schema of a DAP table schema (the `schema` member of the API answer)."""
    return _Translator(dap_schema, table).stream_schema(version)


class _Translator:
    def __init__(self, document: Mapping[str, Any], table: str) -> None:
        self._document = document
        self._table = table

    def stream_schema(self, version: int) -> StreamSchema:
        sections = self._document.get("properties") or {}
        if "key" not in sections:
            raise SchemaError(f"{self._table}: the DAP schema has no 'key' section")
        key = self._resolve(sections["key"])
        value = self._resolve(sections.get("value") or {})
        key_fields = dict(key.get("properties") or {})
        if not key_fields:
            raise SchemaError(f"{self._table}: the DAP schema's key has no fields")
        value_fields = dict(value.get("properties") or {})
        value_required = set(value.get("required") or ())
        properties: dict[str, Any] = {}
        for name, node in key_fields.items():
            properties[name] = self._field(node, nullable=False, path=name)
        for name, node in value_fields.items():
            if name in properties or name in METADATA_PROPERTIES:
                raise SchemaError(f"{self._table}: value field {name!r} clashes with a key field")
            properties[name] = self._field(node, nullable=name not in value_required, path=name)
        properties.update({name: dict(spec) for name, spec in METADATA_PROPERTIES.items()})
        return StreamSchema(
            schema={
                "$id": schema_id(self._table, version),
                "type": "object",
                "properties": properties,
                "required": list(key_fields),
            },
            key_properties=list(key_fields),
            version=version,
        )

    def _field(self, node: Mapping[str, Any], *, nullable: bool, path: str) -> dict[str, Any]:
        node = self._resolve(node)
        union = node.get("oneOf") or node.get("anyOf")
        if union:
            return self._union(node, union, nullable=nullable, path=path)
        if "const" in node and "type" not in node:
            node = {**node, "enum": [node["const"]], "type": _json_type(node["const"])}
        declared = node.get("type")
        types = [declared] if isinstance(declared, str) else list(declared or ())
        nullable = nullable or "null" in types
        types = [name for name in types if name != "null"]
        if not types:
            return {}  # DAP declares no type: anything goes
        out: dict[str, Any] = {"type": [*types, "null"] if nullable else types[0]}
        for keyword in CARRIED_KEYWORDS:
            if keyword in node:
                out[keyword] = node[keyword]
        if "const" in node and "enum" not in out:
            out["enum"] = [node["const"]]
        if nullable and "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if "object" in types and "properties" in node:
            required = set(node.get("required") or ())
            out["properties"] = {
                name: self._field(child, nullable=name not in required, path=f"{path}.{name}")
                for name, child in node["properties"].items()
            }
            if required:
                out["required"] = [name for name in node["properties"] if name in required]
            if isinstance(node.get("additionalProperties"), bool):
                out["additionalProperties"] = node["additionalProperties"]
        if "array" in types and "items" in node:
            out["items"] = self._field(node["items"], nullable=False, path=f"{path}[]")
        return out

    def _union(
        self, node: Mapping[str, Any], union: list[Any], *, nullable: bool, path: str
    ) -> dict[str, Any]:
        """`oneOf`/`anyOf`: the oversized marker is a plain string; alternatives stay anyOf."""
        branches = [self._resolve(branch) for branch in union]
        branches = [branch for branch in branches if branch.get("const") != OVERSIZED_MARKER]
        outer = {key: value for key, value in node.items() if key not in ("oneOf", "anyOf")}
        if len(branches) == 1:
            return self._field({**branches[0], **outer}, nullable=nullable, path=path)
        if not branches:
            raise SchemaError(f"{self._table}: field {path} has an empty oneOf")
        alternatives = [
            {
                k: v
                for k, v in self._field(branch, nullable=False, path=path).items()
                if k != "description"
            }
            for branch in branches
        ]
        if nullable:
            alternatives.append({"type": "null"})
        out: dict[str, Any] = {"anyOf": alternatives}
        if "description" in node:
            out["description"] = node["description"]
        return out

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow `$ref` (repeatedly); keywords beside a `$ref` win over the target's."""
        seen: set[str] = set()
        while "$ref" in node:
            ref = str(node["$ref"])
            if ref in seen:
                raise SchemaError(f"{self._table}: $ref {ref} refers to itself")
            seen.add(ref)
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            node = {**self._lookup(ref), **siblings}
        return node

    def _lookup(self, ref: str) -> Mapping[str, Any]:
        """A local reference: a JSON pointer, or a named definition wherever it is kept."""
        if not ref.startswith("#"):
            raise SchemaError(f"{self._table}: $ref {ref} is not local to the schema")
        target: Any = self._document
        for escaped in ref[1:].split("/")[1:] if ref != "#" else ():
            part = escaped.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, Mapping) else None
        if isinstance(target, Mapping):
            return target
        name = ref.rsplit("/", 1)[-1]
        components = self._document.get("components")
        for holder in (
            self._document.get("definitions"),
            self._document.get("$defs"),
            components.get("schemas") if isinstance(components, Mapping) else None,
        ):
            if isinstance(holder, Mapping) and isinstance(holder.get(name), Mapping):
                return holder[name]  # type: ignore[no-any-return]
        raise SchemaError(f"{self._table}: $ref {ref} points nowhere in the DAP schema")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"
