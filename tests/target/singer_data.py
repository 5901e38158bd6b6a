"""Singer streams for tests and benchmarks, built from the DAP reference table schemas.

`singer_schema` turns a DAP table schema (the old flat form shipped with dap-sim, key
`id`) into the Singer schema the project's contract describes: required fields get
non-null types, every other field admits null, `$ref`s to the shared IP types become
`anyOf` of ipv4/ipv6, and `_dap_ts` / `_sdc_deleted_at` are added. It is a test helper,
not tap-dap's translation (the target must never depend on the tap).

`sample_record` makes a record whose every value exercises its type: strings longer than
their `maxLength`, quotes, backslashes, tabs, newlines and non-ASCII text, the DAP enum
placeholder and the oversized-text marker, nested objects and arrays, and nulls.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[2]
DAP_SCHEMAS = REPO / "dap-sim" / "dap_sim" / "schemas"
IP_TYPES = {
    "#/components/schemas/IPv4Address": {"type": "string", "format": "ipv4"},
    "#/components/schemas/IPv6Address": {"type": "string", "format": "ipv6"},
}
TRICKY_TEXT = 'it\'s "quoted" \\ back\tslash\nnew line, ünïcödé ✓ 漢字'


def dap_tables() -> list[Path]:
    """Every DAP reference table schema shipped in the repository."""
    return sorted((DAP_SCHEMAS / "canvas").glob("*.json")) + sorted(
        (DAP_SCHEMAS / "canvas_logs").glob("*.json")
    )


def _resolve(prop: Mapping[str, Any]) -> dict[str, Any]:
    prop = copy.deepcopy(dict(prop))
    if "$ref" in prop:
        ref = prop.pop("$ref")
        prop.update(IP_TYPES.get(ref, {"type": "string"}))
    for word in ("anyOf", "oneOf"):
        if word in prop:
            prop[word] = [_resolve(p) for p in prop[word]]
    if "items" in prop:
        prop["items"] = _resolve(prop["items"])
    if "properties" in prop:
        prop["properties"] = {k: _resolve(v) for k, v in prop["properties"].items()}
    return prop


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    for word in ("anyOf", "oneOf"):
        if word in prop:
            return {**prop, word: [*prop[word], {"type": "null"}]}
    if "type" in prop:
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        nullable = {**prop, "type": [*types, "null"]}
        if "enum" in prop:
            nullable["enum"] = [*prop["enum"], None]
        return nullable
    return {"anyOf": [prop, {"type": "null"}]}


def singer_schema(dap_schema: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(Singer schema, key properties) for a DAP reference table schema."""
    required = set(dap_schema.get("required", []))
    properties: dict[str, Any] = {}
    for name, prop in dap_schema["properties"].items():
        resolved = _resolve(prop)
        properties[name] = resolved if name in required else _nullable(resolved)
    properties["_dap_ts"] = {"type": "string", "format": "date-time"}
    properties["_sdc_deleted_at"] = {"type": ["string", "null"], "format": "date-time"}
    key = "id" if "id" in properties else next(iter(dap_schema.get("required", properties)))
    return {"type": "object", "properties": properties}, [key]


def load_dap_table(path: Path) -> tuple[dict[str, Any], list[str]]:
    return singer_schema(json.loads(path.read_text()))


def _non_null(prop: Mapping[str, Any]) -> dict[str, Any]:
    for word in ("anyOf", "oneOf"):
        if word in prop:
            real = [p for p in prop[word] if p.get("type") != "null"]
            return {**prop, word: real}
    if isinstance(prop.get("type"), list):
        types = [t for t in prop["type"] if t != "null"]
        return {**prop, "type": types[0] if len(types) == 1 else types}
    return dict(prop)


def sample_value(  # noqa: PLR0911, PLR0912 - one branch per DAP type shape
    prop: Mapping[str, Any],
    rnd: random.Random,
    *,
    allow_null: bool = True,
    long_strings: bool = True,
) -> Any:
    """A value of the property's type that a database must store and give back unchanged."""
    types = prop.get("type")
    admits_null = (isinstance(types, list) and "null" in types) or any(
        p.get("type") == "null" for p in prop.get("anyOf", prop.get("oneOf", []))
    )
    if allow_null and admits_null and rnd.random() < 0.15:
        return None
    prop = _non_null(prop)
    for word in ("anyOf", "oneOf"):
        if word in prop:
            choice = rnd.choice(prop[word])
            if "const" in choice:
                return choice["const"]
            return sample_value(choice, rnd, allow_null=False, long_strings=long_strings)
    kind = prop.get("type")
    if "enum" in prop:
        return rnd.choice([m for m in prop["enum"] if m is not None])
    fmt = prop.get("format")
    if kind == "integer":
        bits = {"int16": 15, "int32": 31}.get(fmt or "", 62)
        return rnd.randint(-(2 ** (bits - 1)), 2**bits - 1)
    if kind == "number":
        if "multipleOf" in prop:
            return round(rnd.uniform(-999, 999), 2)
        return rnd.uniform(-1e6, 1e6)
    if kind == "boolean":
        return rnd.random() < 0.5
    if kind == "string":
        day = f"20{rnd.randint(10, 29)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}"
        if fmt == "date-time":
            clock = f"0{rnd.randint(0, 9)}:1{rnd.randint(0, 9)}:2{rnd.randint(0, 9)}"
            return f"{day}T{clock}.{rnd.randint(0, 999999):06d}Z"
        if fmt == "date":
            return day
        if fmt == "uuid":
            return str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        if fmt == "ipv4":
            return ".".join(str(rnd.randint(0, 255)) for _ in range(4))
        if fmt == "ipv6":
            return f"2001:db8::{rnd.randint(1, 65535):x}"
        length = int(prop.get("maxLength", 40)) + 17 if long_strings else rnd.randint(4, 30)
        text = (TRICKY_TEXT * (length // len(TRICKY_TEXT) + 1))[:length]
        return f"{rnd.randint(0, 10**6)} {text}"
    if kind == "array":
        items = prop.get("items", {"type": "string"})
        return [
            sample_value(items, rnd, allow_null=False, long_strings=long_strings)
            for _ in range(rnd.randint(0, 3))
        ]
    if kind == "object" or "properties" in prop:
        return {
            k: sample_value(v, rnd, long_strings=long_strings)
            for k, v in prop.get("properties", {}).items()
        }
    return TRICKY_TEXT


def sample_record(
    schema: Mapping[str, Any],
    key: int,
    rnd: random.Random,
    *,
    long_strings: bool = True,
    key_name: str = "id",
) -> dict[str, Any]:
    record = {
        name: sample_value(prop, rnd, long_strings=long_strings)
        for name, prop in schema["properties"].items()
    }
    fmt = _non_null(schema["properties"][key_name]).get("format")
    record[key_name] = str(uuid.UUID(int=key + 1, version=4)) if fmt == "uuid" else key
    record["_dap_ts"] = "2024-05-06T07:08:09.123456Z"
    record["_sdc_deleted_at"] = None
    return record


def singer_lines(
    stream: str,
    schema: dict[str, Any],
    key: list[str],
    records: Iterator[dict[str, Any]],
    *,
    version: int | None = 1,
) -> Iterator[bytes]:
    """SCHEMA then one RECORD line per record (bytes, newline-terminated)."""
    yield (
        orjson.dumps({"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": key})
        + b"\n"
    )
    for record in records:
        message: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        yield orjson.dumps(message) + b"\n"
