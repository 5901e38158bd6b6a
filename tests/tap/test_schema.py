"""The translation of DAP table schemas into Singer schemas (tap_dap.singer.schema)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft7Validator
from tap_dap.singer.schema import SchemaError, translate


def envelope(key: dict[str, Any], value: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A DAP schema in the live API's form."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "meta": {
                "type": "object",
                "properties": {
                    "ts": {"type": "string", "format": "date-time"},
                    "action": {"type": "string", "enum": ["U", "D"]},
                },
                "additionalProperties": False,
            },
            "key": key,
            "value": value,
        },
        "required": ["key"],
        "additionalProperties": False,
        **extra,
    }


KEY = {
    "type": "object",
    "properties": {"id": {"type": "integer", "format": "int64", "description": "Primary key."}},
    "required": ["id"],
    "additionalProperties": False,
}


def value_of(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


def test_key_and_value_fields_side_by_side_with_metadata_columns() -> None:
    dap = envelope(KEY, value_of({"name": {"type": "string", "maxLength": 255}}, ["name"]))
    result = translate(dap, 3, table="canvas-accounts")
    assert result.version == 3
    assert result.key_properties == ["id"]
    assert list(result.schema["properties"]) == ["id", "name", "_dap_ts", "_sdc_deleted_at"]
    assert result.schema["required"] == ["id"]
    assert result.schema["properties"]["id"] == {
        "type": "integer",
        "format": "int64",
        "description": "Primary key.",
    }
    assert result.schema["properties"]["_dap_ts"]["type"] == "string"
    assert result.schema["properties"]["_sdc_deleted_at"]["type"] == ["string", "null"]


def test_types_formats_and_constraints_are_carried_over() -> None:
    fields = {
        "big": {"type": "integer", "format": "int64"},
        "small": {"type": "integer", "format": "int16"},
        "ratio": {"type": "number", "format": "float64"},
        "money": {
            "type": "number",
            "multipleOf": 0.01,
            "exclusiveMinimum": -1000,
            "exclusiveMaximum": 1000,
        },
        "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "uid": {"type": "string", "format": "uuid"},
        "flag": {"type": "boolean", "description": "A flag."},
    }
    props = translate(envelope(KEY, value_of(fields, list(fields))), 1, "t").schema["properties"]
    for name, spec in fields.items():
        assert props[name] == spec, name


def test_optional_fields_are_nullable_and_required_ones_are_not() -> None:
    fields = {
        "state": {"type": "string", "enum": ["__dap_unspecified__", "active"]},
        "code": {"type": "integer", "enum": [200, 404]},
        "note": {"type": "string"},
    }
    props = translate(envelope(KEY, value_of(fields, ["code"])), 1, "t").schema["properties"]
    assert props["state"] == {
        "type": ["string", "null"],
        "enum": ["__dap_unspecified__", "active", None],
    }
    assert props["code"] == {"type": "integer", "enum": [200, 404]}
    assert props["note"] == {"type": ["string", "null"]}


def test_a_default_is_carried_and_a_required_field_stays_non_nullable() -> None:
    """DAP's new required field with a default: the target needs the default to add the
    column to a table that already has rows."""
    modes = ["__dap_unspecified__", "online", "on_campus"]
    fields = {
        "retention_days": {"type": "integer", "format": "int32", "default": 365},
        "is_featured": {"type": "boolean", "default": False},
        "import_source": {"type": "string", "maxLength": 255, "default": "canvas"},
        "delivery_mode": {"type": "string", "enum": modes, "default": "on_campus"},
        "relaxed_mode": {"type": "string", "enum": modes, "default": "online"},
    }
    required = ["retention_days", "is_featured", "import_source", "delivery_mode"]
    schema = translate(envelope(KEY, value_of(fields, required)), 2, "t").schema
    props = schema["properties"]
    for name in required:
        assert props[name] == fields[name], name
    # made optional later, it keeps its default and becomes nullable
    assert props["relaxed_mode"] == {
        "type": ["string", "null"],
        "enum": [*modes, None],
        "default": "online",
    }
    Draft7Validator.check_schema(schema)


def test_oversized_marker_union_becomes_a_string() -> None:
    body = {
        "oneOf": [
            {"type": "string", "const": "__dap_oversized_truncated__"},
            {"type": "string"},
        ],
        "description": "Long text.",
    }
    props = translate(envelope(KEY, value_of({"body": body}, ["body"])), 1, "t").schema[
        "properties"
    ]
    assert props["body"] == {"type": "string", "description": "Long text."}


def test_ip_address_refs_become_an_any_of_of_formats() -> None:
    remote_ip = {
        "oneOf": [
            {"$ref": "#/definitions/IPv4Address"},
            {"$ref": "#/definitions/IPv6Address"},
        ],
        "description": "IP address.",
    }
    definitions = {
        "IPv4Address": {"type": "string", "format": "ipv4", "title": "IPv4"},
        "IPv6Address": {"type": "string", "format": "ipv6", "title": "IPv6"},
    }
    dap = envelope(KEY, value_of({"remote_ip": remote_ip}), definitions=definitions)
    props = translate(dap, 1, "canvas_logs-web_logs").schema["properties"]
    assert props["remote_ip"] == {
        "anyOf": [
            {"type": "string", "format": "ipv4"},
            {"type": "string", "format": "ipv6"},
            {"type": "null"},
        ],
        "description": "IP address.",
    }


def test_refs_resolve_wherever_the_definitions_are_kept() -> None:
    ref = {"$ref": "#/components/schemas/IPv4Address", "description": "Where from."}
    dap = envelope(
        KEY,
        value_of({"ip": ref}, ["ip"]),
        components={"schemas": {"IPv4Address": {"type": "string", "format": "ipv4"}}},
    )
    props = translate(dap, 1, "t").schema["properties"]
    assert props["ip"] == {"type": "string", "format": "ipv4", "description": "Where from."}


def test_a_ref_to_nowhere_names_the_table() -> None:
    dap = envelope(KEY, value_of({"ip": {"$ref": "#/definitions/Nope"}}))
    with pytest.raises(SchemaError, match=r"canvas-x: \$ref #/definitions/Nope"):
        translate(dap, 1, "canvas-x")


def test_nested_objects_and_arrays_stay_objects_and_arrays() -> None:
    fields = {
        "rules": {
            "type": "object",
            "properties": {
                "drop_lowest": {"type": "integer", "format": "int32"},
                "never_drop": {"type": "array", "items": {"type": "integer", "format": "int32"}},
            },
            "required": ["never_drop"],
            "additionalProperties": False,
        },
        "kinds": {
            "type": "array",
            "items": {"type": "string", "enum": ["__dap_unspecified__", "online"]},
        },
    }
    props = translate(envelope(KEY, value_of(fields)), 1, "t").schema["properties"]
    assert props["rules"] == {
        "type": ["object", "null"],
        "properties": {
            "drop_lowest": {"type": ["integer", "null"], "format": "int32"},
            "never_drop": {"type": "array", "items": {"type": "integer", "format": "int32"}},
        },
        "required": ["never_drop"],
        "additionalProperties": False,
    }
    assert props["kinds"] == {
        "type": ["array", "null"],
        "items": {"type": "string", "enum": ["__dap_unspecified__", "online"]},
    }


def test_a_delete_record_validates_against_the_schema() -> None:
    fields = {"name": {"type": "string"}, "n": {"type": "integer"}}
    schema = translate(envelope(KEY, value_of(fields, ["name", "n"])), 1, "t").schema
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema)
    ts = "2024-01-01T00:00:00Z"
    delete = {"id": 7, "_dap_ts": ts, "_sdc_deleted_at": ts}
    upsert = {"id": 8, "name": "x", "n": 1, "_dap_ts": ts, "_sdc_deleted_at": None}
    assert list(validator.iter_errors(delete)) == []
    assert list(validator.iter_errors(upsert)) == []
    assert list(validator.iter_errors({"name": "no key"}))  # the key is required


def test_a_composite_or_renamed_key_is_kept() -> None:
    key = {
        "type": "object",
        "properties": {"enrollment_id": {"type": "integer", "format": "int64"}},
        "required": ["enrollment_id"],
    }
    result = translate(envelope(key, value_of({})), 1, "canvas-enrollment_states")
    assert result.key_properties == ["enrollment_id"]
    assert result.schema["required"] == ["enrollment_id"]


def test_decimals_validate_as_singer_sdk_targets_read_them() -> None:
    """multipleOf 0.01 holds for values read as Decimal, as SDK targets read JSON."""
    money = {"type": "number", "multipleOf": 0.01}
    schema = translate(envelope(KEY, value_of({"money": money}, ["money"])), 1, "t").schema
    as_read = json.loads(json.dumps(schema), parse_float=Decimal)
    record = json.loads('{"id": 1, "money": 81.82, "_dap_ts": "T"}', parse_float=Decimal)
    assert list(Draft7Validator(as_read).iter_errors(record)) == []
