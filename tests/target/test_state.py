"""STATE leaves the target only after every record before it is committed."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from target_dap_sql.loader import Loader
from target_dap_sql.sinks import DapSqlSink

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


def test_a_state_does_not_hold_up_reading_while_merges_run(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first merge waits for the record after the STATE: it must get read meanwhile."""
    next_record_read = threading.Event()
    merge, stage_raw = Loader._merge, DapSqlSink.stage_raw

    def slow_merge(self: Loader, *args: Any) -> None:
        next_record_read.wait(timeout=10)
        merge(self, *args)

    def watched_stage_raw(self: DapSqlSink, line: int, *args: Any) -> None:
        if line >= 5:  # record 3, after STATE 2 (input line 4)
            next_record_read.set()
        stage_raw(self, line, *args)

    monkeypatch.setattr(Loader, "_merge", slow_merge)
    monkeypatch.setattr(DapSqlSink, "stage_raw", watched_stage_raw)
    items = [SCHEMA, record(1), record(2), state(2), record(3), record(4), state(4)]
    started = time.monotonic()
    assert db.load(messages(*items), batch_size_rows=2) == [{"after": 2}, {"after": 4}]
    assert time.monotonic() - started < 8  # reading went on while batch 1-2 merged
    assert {r["id"] for r in db.rows("s.t", ["id"])} == {1, 2, 3, 4}
