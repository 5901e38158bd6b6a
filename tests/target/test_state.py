"""STATE leaves the target only after every record before it is committed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.target.harness import Database, messages
from tests.target.test_errors import run_cli

SCHEMA = {
    "type": "SCHEMA",
    "stream": "s-t",
    "key_properties": ["id"],
    "schema": {"properties": {"id": {"type": "integer"}, "n": {"type": ["integer", "null"]}}},
}


def record(i: int, n: object = 0) -> dict[str, object]:
    return {"type": "RECORD", "stream": "s-t", "record": {"id": i, "n": n}}


def state(i: int) -> dict[str, object]:
    return {"type": "STATE", "value": {"after": i}}


def test_every_emitted_state_follows_its_committed_records(db: Database, tmp_path: Path) -> None:
    """States interleaved with records and small batches; a late bad value stops the run."""
    items: list[dict[str, object]] = [SCHEMA]
    for i in range(1, 41):
        items.append(record(i))
        if i % 7 == 0:
            items.append(state(i))
    items.append(record(41, "not an integer"))
    items.append(state(41))
    result = run_cli(db.config(batch_size_rows=5), messages(*items), tmp_path)
    assert result.returncode == 1
    committed = {r["id"] for r in db.rows("s.t", ["id"])}
    emitted = [json.loads(line)["after"] for line in result.stdout.splitlines()]
    for after in emitted:
        assert set(range(1, after + 1)) <= committed
    assert 35 in emitted  # batch 31-35 committed, then STATE 35 left at once
    assert 41 not in emitted


def test_final_state_after_all_records(db: Database) -> None:
    items = [SCHEMA, record(1), state(1), record(2), record(3), state(3)]
    assert db.load(messages(*items), batch_size_rows=2) == [{"after": 3}]
    assert {r["id"] for r in db.rows("s.t", ["id"])} == {1, 2, 3}
