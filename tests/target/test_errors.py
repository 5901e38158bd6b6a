"""Bad input ends the CLI with exit code 1 and one clear line; committed rows stay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.target.harness import FIXTURES, Database, fixture

CLI = str(Path(sys.executable).parent / "target-dap-sql")


def run_cli(
    config: dict[str, object], data: bytes, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run(
        [CLI, "--config", str(config_file)],
        input=data.decode(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [
        line for line in result.stderr.splitlines() if line.startswith("target-dap-sql: error")
    ]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("case", "line", "words"),
    [
        ("bad_malformed_json", 6, ["not a valid Singer message"]),
        ("bad_record_before_schema", 1, ["before its SCHEMA", "canvas-courses"]),
        ("bad_value_rejected", 6, ["canvas-courses", "account_id"]),
        ("bad_enum_value", 5, ["canvas-courses", "workflow_state"]),
        ("bad_missing_key", 5, ["canvas-courses", "key property 'id'"]),
    ],
)
def test_bad_input_exits_with_one_clear_line(
    db: Database, tmp_path: Path, case: str, line: int, words: list[str]
) -> None:
    db.load(fixture("courses_snapshot"))
    result = run_cli(db.config(batch_size_rows=2), fixture(case), tmp_path)
    assert result.returncode == 1
    message = error_line(result)
    assert f"input line {line}:" in message
    for word in words:
        assert word in message
    assert "Traceback" not in result.stderr
    # Records 1-2 fill a batch and commit, so the STATE after them may (and does) leave;
    # nothing after the failure does.
    expected = "" if case == "bad_record_before_schema" else '"replication_key_value": "s1"'
    assert expected in result.stdout
    assert len(result.stdout.splitlines()) == (0 if not expected else 1)
    if case != "bad_record_before_schema":
        rows = {r["id"]: r["name"] for r in db.rows("canvas.courses", ["id", "name"])}
        assert rows[3] in ("History", "c3")  # committed rows intact
        assert rows[1] in ("Math", "c1")


def test_hostile_names_load(db: Database) -> None:
    db.load(fixture("hostile_names"))
    table = db.table("we\"ird.tab'le; drop")
    rows = db.query(f"SELECT * FROM {table}")
    assert len(rows) == 1
    assert "it's" in rows[0]
    assert "long" in rows[0]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://loader:s3cr3t-pw@127.0.0.1:1/nowhere",
        "postgresql://loader:s3cr3t-pw@no-such-host.invalid:5432/db",
        "mysql://loader:s3cr3t-pw@127.0.0.1/db",
        "not a url at all s3cr3t-pw",
    ],
)
def test_bad_database_url_never_prints_the_password(tmp_path: Path, url: str) -> None:
    result = run_cli({"database_url": url}, fixture("courses_snapshot"), tmp_path)
    assert result.returncode == 1
    message = error_line(result)
    assert "database_url" in message or "PostgreSQL" in message
    assert "s3cr3t-pw" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("oracle://loader:s3cr3t-pw@db:1521/x", ["unsupported scheme 'oracle'", "mysql"]),
        ("mysql://loader:s3cr3t-pw@127.0.0.1:3306", ["names no database"]),
        ("mysql://loader:s3cr3t-pw@127.0.0.1/db?sslmode=on", ["unknown option(s) sslmode"]),
    ],
)
def test_a_url_the_registry_refuses_says_what_it_takes(
    tmp_path: Path, url: str, words: list[str]
) -> None:
    result = run_cli({"database_url": url}, fixture("courses_snapshot"), tmp_path)
    assert result.returncode == 1
    message = error_line(result)
    for word in words:
        assert word in message
    assert "s3cr3t-pw" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"duckdb_threads": 0}, ["config['duckdb_threads']", "minimum of 1"]),
        ({"batch_size_rows": 0}, ["config['batch_size_rows']", "minimum of 1"]),
        ({"batch_size_bytes": -1}, ["config['batch_size_bytes']", "minimum of 1"]),
        ({"load_method": "merge"}, ["config['load_method']", "'upsert'"]),
        ({"database_url": ["mysql://loader:s3cr3t-pw@db/x"]}, ["config['database_url']"]),
    ],
)
def test_a_setting_the_schema_refuses_is_named(
    tmp_path: Path, settings: dict[str, object], words: list[str]
) -> None:
    config = {"database_url": f"duckdb:///{tmp_path / 'x.duckdb'}", **settings}
    result = run_cli(config, fixture("courses_snapshot"), tmp_path)
    assert result.returncode == 1
    message = error_line(result)
    for word in words:
        assert word in message
    assert "s3cr3t-pw" not in result.stderr + result.stdout


def test_fixture_files_are_valid_singer() -> None:
    for path in FIXTURES.glob("*.singer"):
        if path.stem == "bad_malformed_json":
            continue
        for text in path.read_text().splitlines():
            assert json.loads(text)["type"]


def test_missing_batch_file_is_named(db: Database, tmp_path: Path) -> None:
    """A BATCH whose file is gone fails with its stream and input line, never silently."""
    data = fixture("courses_snapshot") + (
        b'{"type":"BATCH","stream":"canvas-courses","encoding":{"format":"jsonl",'
        b'"compression":"gzip"},"manifest":["file:///nowhere/x.jsonl.gz"]}\n'
    )
    result = run_cli(db.config(), data, tmp_path)
    assert result.returncode == 1
    message = error_line(result)
    assert "input line 7:" in message
    assert "canvas-courses" in message
    assert "nowhere/x.jsonl.gz" in message


def test_rejected_value_line_when_streams_interleave(db: Database, tmp_path: Path) -> None:
    """A batch that spans several COPYs (streams interleaved) still names the right line."""
    schema = {
        "properties": {
            "id": {"type": "integer"},
            "n": {"type": ["integer", "null"], "format": "int32"},
        }
    }
    lines = [
        {"type": "SCHEMA", "stream": f"s-{name}", "schema": schema, "key_properties": ["id"]}
        for name in ("a", "b")
    ]
    for i in range(1, 6):
        lines.append({"type": "RECORD", "stream": "s-a", "record": {"id": i, "n": i}})
        lines.append({"type": "RECORD", "stream": "s-b", "record": {"id": i, "n": i}})
    lines.append({"type": "RECORD", "stream": "s-a", "record": {"id": 9, "n": 2**40}})
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    result = run_cli(db.config(), data, tmp_path)
    assert result.returncode == 1
    message = error_line(result)
    assert "input line 13:" in message
    assert "'s-a'" in message


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, 10**30])
def test_integer_beyond_64_bits_is_named(db: Database, tmp_path: Path, value: int) -> None:
    data = (
        b'{"type":"SCHEMA","stream":"s-big","schema":{"properties":{"id":{"type":"integer"}}},'
        b'"key_properties":["id"]}\n'
        + f'{{"type":"RECORD","stream":"s-big","record":{{"id":{value}}}}}\n'.encode()
    )
    result = run_cli(db.config(), data, tmp_path)
    assert result.returncode == 1
    message = error_line(result)
    assert "input line 2:" in message
    assert "'s-big'" in message
