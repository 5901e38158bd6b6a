"""DAP JSONL lines -> RECORD messages (tap_dap.singer.records)."""

from __future__ import annotations

import orjson
import pytest
from tap_dap.singer.records import LineError, RecordEncoder

UPSERT = (
    b'{"key":{"id":1},"value":{"name":"a\\"b","tags":[1,2],"n":{"x":null}},'
    b'"meta":{"ts":"2024-05-06T07:08:09.123Z","action":"U"}}\n'
)
DELETE = b'{"meta":{"action":"D","ts":"2024-05-07T00:00:00Z"},"key":{"id":2}}\n'
EMPTY_VALUE = b'{ "key" : { "id" : 3 } , "value" : { } , "meta" : { "ts" : "T" } }\n'


def messages(data: bytes) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in data.splitlines()]


def test_upserts_deletes_and_empty_values() -> None:
    block = RecordEncoder("canvas-users", 1700000000000).encode(UPSERT + DELETE + EMPTY_VALUE)
    assert (block.records, block.deletes) == (3, 1)
    assert messages(block.data) == [
        {
            "type": "RECORD",
            "stream": "canvas-users",
            "version": 1700000000000,
            "record": {
                "id": 1,
                "name": 'a"b',
                "tags": [1, 2],
                "n": {"x": None},
                "_dap_ts": "2024-05-06T07:08:09.123Z",
                "_sdc_deleted_at": None,
            },
        },
        {
            "type": "RECORD",
            "stream": "canvas-users",
            "version": 1700000000000,
            "record": {
                "id": 2,
                "_dap_ts": "2024-05-07T00:00:00Z",
                "_sdc_deleted_at": "2024-05-07T00:00:00Z",
            },
        },
        {
            "type": "RECORD",
            "stream": "canvas-users",
            "version": 1700000000000,
            "record": {"id": 3, "_dap_ts": "T", "_sdc_deleted_at": None},
        },
    ]


def test_without_a_table_version_records_carry_none() -> None:
    (message,) = messages(RecordEncoder("canvas-users", None).encode(DELETE).data)
    assert "version" not in message


def test_deselected_fields_are_left_out() -> None:
    block = RecordEncoder("canvas-users", None, dropped_fields=["name", "n"]).encode(UPSERT)
    (message,) = messages(block.data)
    assert message["record"] == {
        "id": 1,
        "tags": [1, 2],
        "_dap_ts": "2024-05-06T07:08:09.123Z",
        "_sdc_deleted_at": None,
    }


def test_a_broken_line_is_named_by_its_number() -> None:
    with pytest.raises(LineError) as caught:
        RecordEncoder("s", None).encode(UPSERT + DELETE + b'{"key": {"id": 4}\n')
    assert caught.value.line == 3


def test_a_snapshot_line_without_meta_is_as_of_the_jobs_at() -> None:
    encoder = RecordEncoder("s", None, default_ts="2024-06-30T00:00:00Z")
    (message,) = messages(encoder.encode(b'{"key": {"id": 4}, "value": {"a": 1}}\n').data)
    assert message["record"] == {
        "id": 4,
        "a": 1,
        "_dap_ts": "2024-06-30T00:00:00Z",
        "_sdc_deleted_at": None,
    }


def test_a_line_without_meta_or_a_job_time_is_not_a_record() -> None:
    with pytest.raises(LineError) as caught:
        RecordEncoder("s", None).encode(UPSERT + b'{"key": {"id": 4}, "value": {}}\n')
    assert caught.value.line == 2
    assert "meta" in caught.value.reason
