"""JSONL, TSV and CSV carry the same records, with the header and escaping rules of the spec.

TSV and CSV are read back by small parsers written here from the API description (not
the simulator's encoders), then typed by the table schema and compared with JSON Lines.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dap_sim import catalog
from dap_sim.testing import SimServer
from sim_client import DapClient

_TSV_UNESCAPE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def parse_tsv(data: bytes) -> list[list[str | None]]:
    rows: list[list[str | None]] = []
    for line in data.decode().split("\n"):
        if not line:
            continue
        cells: list[str | None] = []
        for raw in line.split("\t"):
            if raw == "\\N":
                cells.append(None)
                continue
            out, i = [], 0
            while i < len(raw):
                if raw[i] == "\\":
                    out.append(_TSV_UNESCAPE[raw[i + 1]])
                    i += 2
                else:
                    out.append(raw[i])
                    i += 1
            cells.append("".join(out))
        rows.append(cells)
    return rows


def parse_csv(data: bytes) -> list[list[str | None]]:
    """RFC 4180 plus the spec's rule: "" is an empty string, nothing at all is NULL."""
    text, rows, row, i = data.decode(), [], [], 0
    cell: str | None
    while i < len(text):
        if text[i] == '"':
            out, i = [], i + 1
            while True:
                if text[i] == '"' and text[i + 1 : i + 2] == '"':
                    out.append('"')
                    i += 2
                elif text[i] == '"':
                    i += 1
                    break
                else:
                    out.append(text[i])
                    i += 1
            cell = "".join(out)
        else:
            end = i
            while end < len(text) and text[end] not in ",\n":
                end += 1
            cell = text[i:end] or None
            i = end
        row.append(cell)
        if i >= len(text) or text[i] == "\n":
            rows.append(row)
            row = []
        i += 1
    return rows


def _typed(text: str | None, node: dict[str, Any]) -> Any:
    if text is None:
        return None
    kind = node.get("type")
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        assert text in ("true", "false")
        return text == "true"
    if kind in ("object", "array"):
        return json.loads(text)
    return text


def tabular_records(
    rows: list[list[str | None]], schema: dict[str, Any], key: str
) -> list[dict[str, Any]]:
    """Header + rows -> JSONL-shaped records, nested objects rebuilt from a.b columns."""
    header, *body = rows
    properties = schema["properties"]["value"]["properties"]
    records = []
    for cells in body:
        assert len(cells) == len(header)
        record: dict[str, Any] = {"meta": {}, "key": {}, "value": {}}
        for label, cell in zip(header, cells, strict=True):
            assert label is not None
            section, name, *sub = label.split(".")
            if section == "meta":
                record["meta"][name] = cell
            elif section == "key":
                record["key"][name] = int(cell) if cell and cell.isdigit() else cell
            elif sub:
                node = properties[name]["properties"][sub[0]]
                value = _typed(cell, node)
                if value is not None:
                    record["value"].setdefault(name, {})[sub[0]] = value
            else:
                value = _typed(cell, properties[name])
                if value is not None:
                    record["value"][name] = value
        if record["meta"].get("action") == "D":
            assert record["value"] == {}, "a delete carries no values"
            del record["value"]
        records.append(record)
    assert all(key in r["key"] for r in records)
    return records


@pytest.fixture
def client(dap_sim: SimServer) -> DapClient:
    return DapClient(dap_sim.base_url, dap_sim.client_id, dap_sim.client_secret)


def _files(client: DapClient, table: str, query: dict[str, Any]) -> list[bytes]:
    return client.query("canvas", table, query)[1]


@pytest.mark.parametrize("table", ["submissions", "quiz_questions", "assignment_groups", "courses"])
@pytest.mark.parametrize("output_format", ["tsv", "csv"])
@pytest.mark.parametrize("mode", ["expanded", "condensed"])
def test_tabular_formats_carry_the_jsonl_records(
    client: DapClient, table: str, output_format: str, mode: str
) -> None:
    schema = client.get(f"/dap/query/canvas/table/{table}/schema").json()["schema"]
    _, expected = client.records("canvas", table, {})
    parse = parse_tsv if output_format == "tsv" else parse_csv
    records = []
    for data in _files(client, table, {"format": output_format, "mode": mode}):
        records += tabular_records(parse(data), schema, "id")
    assert records == expected


def test_snapshot_headers_have_meta_ts_key_then_values(client: DapClient) -> None:
    schema = client.get("/dap/query/canvas/table/assignment_groups/schema").json()["schema"]
    values = list(schema["properties"]["value"]["properties"])
    [condensed] = _files(client, "assignment_groups", {"format": "tsv", "mode": "condensed"})
    assert parse_tsv(condensed)[0] == ["meta.ts", "key.id", *(f"value.{v}" for v in values)]
    [expanded] = _files(client, "assignment_groups", {"format": "csv"})
    header = parse_csv(expanded)[0]
    assert "value.rules" not in header
    assert {"value.rules.drop_lowest", "value.rules.never_drop"} <= set(header)


def test_incremental_files_add_meta_action_and_deletes_have_only_keys(
    client: DapClient, dap_sim: SimServer
) -> None:
    snapshot, _ = client.records("canvas", "submissions", {})
    for _ in range(6):
        dap_sim.advance(schema_changes=[])
    query = {"since": snapshot["at"]}
    _, expected = client.records("canvas", "submissions", query)
    assert any(r["meta"]["action"] == "D" for r in expected)
    schema = client.get("/dap/query/canvas/table/submissions/schema").json()["schema"]
    for output_format, parse in (("tsv", parse_tsv), ("csv", parse_csv)):
        files = _files(client, "submissions", {"format": output_format, **query})
        rows = [row for data in files for row in parse(data)[1:]]
        header = parse(files[0])[0]
        assert header[:3] == ["meta.ts", "meta.action", "key.id"]
        records = []
        for data in files:
            records += tabular_records(parse(data), schema, "id")
        assert records == expected
        deleted = [row for row in rows if row[1] == "D"]
        assert deleted
        assert all(cell is None for row in deleted for cell in row[3:])


def test_csv_tells_empty_strings_from_nulls(client: DapClient, dap_sim: SimServer) -> None:
    table = next(
        t
        for t in catalog.table_names("canvas")
        if any("" in row.values() for row in dap_sim.dump("canvas", t))
    )
    raw = b"".join(_files(client, table, {"format": "csv"}))
    assert b',"",' in raw or b',""\n' in raw
    assert b",," in raw
    _, expected = client.records("canvas", table, {})
    schema = client.get(f"/dap/query/canvas/table/{table}/schema").json()["schema"]
    assert tabular_records(parse_csv(raw), schema, "id") == expected


def test_jsonl_snapshot_lines_have_key_value_and_meta_ts(client: DapClient) -> None:
    _, lines = client.records("canvas", "users", {})
    for line in lines:
        assert set(line) == {"key", "value", "meta"}
        assert set(line["meta"]) == {"ts"}
        assert line["meta"]["ts"].endswith("Z")
        assert None not in line["value"].values()
