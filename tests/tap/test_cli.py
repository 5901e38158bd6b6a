"""tap-dap as a command: --about, --discover, catalog selection, credentials."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dap_sim.testing import SimServer
from tap_dap.settings import MAPPER_SETTINGS
from tap_harness import TAP, discover, run_tap, select, sim_config


def test_about_lists_every_setting_with_a_description() -> None:
    done = subprocess.run([TAP, "--about", "--format", "json"], capture_output=True, check=True)
    about = json.loads(done.stdout)
    settings = about["settings"]["properties"]
    for name in ("client_id", "client_secret", "base_url", "namespace", "tables"):
        assert name in settings
    for name, spec in settings.items():
        assert spec.get("description"), f"setting {name} has no description"
    assert settings["client_secret"].get("secret") is True
    assert "stream-maps" not in about["capabilities"]  # records skip the SDK's mapper
    assert not set(MAPPER_SETTINGS) & set(settings), "mapping settings are refused, not offered"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("stream_maps", {"canvas-accounts": {"name": "name.upper()"}}),
        ("stream_map_config", {"salt": "x"}),
        ("faker_config", {"seed": 1}),
        ("flattening_enabled", True),
    ],
)
@pytest.mark.parametrize("args", [[], ["--discover"]])
def test_mapping_settings_are_refused_saying_where_to_map(
    tmp_path: Path, setting: str, value: Any, args: list[str]
) -> None:
    config = {"client_id": "a", "client_secret": "b", "base_url": "http://127.0.0.1:9"}
    run = run_tap(tmp_path, {**config, setting: value}, args=args, check=False)
    assert run.returncode == 1
    assert f"tap-dap does not apply {setting}" in run.stderr
    assert "target-dap-sql" in run.stderr
    assert "mapper plugin" in run.stderr
    assert "Traceback" not in run.stderr


def test_discovery_finds_every_table_with_one_request_per_schema(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    before = dap_sim.stats()["requests"]
    catalog = discover(tmp_path, sim_config(dap_sim, namespace="canvas,canvas_logs"))
    after = dap_sim.stats()["requests"]
    ids = [entry["tap_stream_id"] for entry in catalog["streams"]]
    assert len(ids) == 91
    assert "canvas-accounts" in ids
    assert "canvas_logs-web_logs" in ids
    spent = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert spent.get("list_tables") == 2  # one per namespace
    assert spent.get("schema") == 91  # one per table
    assert not spent.get("create_job")
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == "canvas_logs-web_logs")
    assert entry["key_properties"] == ["id"]
    assert entry["replication_key"] == "_dap_ts"
    remote_ip = entry["schema"]["properties"]["remote_ip"]
    assert {"type": "string", "format": "ipv4"} in remote_ip["anyOf"]


def test_a_run_with_a_catalog_queries_only_the_selected_tables(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    config = sim_config(dap_sim)
    catalog = select(discover(tmp_path, config), ["canvas-accounts", "canvas-users"])
    before = dap_sim.stats()["requests"]
    run = run_tap(tmp_path, config, catalog=catalog)
    after = dap_sim.stats()["requests"]
    spent = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert run.streams() == ["canvas-accounts", "canvas-users"]
    assert {m["stream"] for m in run.of_type("RECORD")} == {"canvas-accounts", "canvas-users"}
    assert spent.get("create_job") == 2
    assert not spent.get("list_tables")
    assert not spent.get("schema")  # the catalog's schema $id names the schema version
    assert set(run.state["bookmarks"]) == {"canvas-accounts", "canvas-users"}


@pytest.mark.parametrize(
    "tables",
    [
        ["courses", "canvas.users"],
        "courses, canvas.users",  # comma-separated, as an environment variable holds it
        '["courses", "canvas.users"]',  # a JSON list in a string (`meltano config set`)
    ],
)
def test_tables_setting_narrows_discovery(dap_sim: SimServer, tmp_path: Path, tables: Any) -> None:
    catalog = discover(tmp_path, sim_config(dap_sim, tables=tables))
    assert [e["tap_stream_id"] for e in catalog["streams"]] == ["canvas-courses", "canvas-users"]


def test_a_broken_json_list_is_named(tmp_path: Path) -> None:
    config = {"client_id": "a", "client_secret": "b", "namespace": '["canvas", ]'}
    run = run_tap(tmp_path, config, args=["--discover"], check=False)
    assert run.returncode == 1
    assert "namespace '[\"canvas\", ]' starts like a JSON list but is not one" in run.stderr


def test_an_unknown_table_is_named(dap_sim: SimServer, tmp_path: Path) -> None:
    run = run_tap(tmp_path, sim_config(dap_sim, tables=["nope"]), check=False)
    assert run.returncode == 1
    assert "tables lists nope, not found in namespace(s) canvas" in run.stderr


def test_credentials_fall_back_to_the_official_clients_environment(
    dap_sim: SimServer, tmp_path: Path
) -> None:
    env = {
        "DAP_CLIENT_ID": dap_sim.client_id,
        "DAP_CLIENT_SECRET": dap_sim.client_secret,
        "DAP_API_URL": dap_sim.base_url,
    }
    run = run_tap(tmp_path, {"tables": ["accounts"]}, env=env)
    assert run.records("canvas-accounts")


def test_a_missing_credential_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    run = run_tap(tmp_path, {"base_url": "http://127.0.0.1:9"}, args=["--discover"], check=False)
    assert run.returncode == 1
    assert "client_id is not set: set the client_id setting or the DAP_CLIENT_ID" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_wrong_secret_is_one_line_naming_the_settings(dap_sim: SimServer, tmp_path: Path) -> None:
    config = {**sim_config(dap_sim), "client_secret": "not-the-secret"}
    run = run_tap(tmp_path, config, check=False)
    assert run.returncode == 1
    assert "DAP refused the credentials" in run.stderr
    assert "check client_id and client_secret" in run.stderr
    assert "Traceback" not in run.stderr
    assert "not-the-secret" not in run.stderr


def test_deselected_fields_are_left_out_of_schema_and_records(
    dap_sim: SimServer, tmp_path: Path, emit_mode: dict[str, Any]
) -> None:
    config = sim_config(dap_sim, **emit_mode)
    catalog = select(discover(tmp_path, config), ["canvas-courses"])
    (entry,) = [e for e in catalog["streams"] if e["tap_stream_id"] == "canvas-courses"]
    dropped = {"name", "workflow_state"}
    for item in entry["metadata"]:
        if item["breadcrumb"][-1:] and item["breadcrumb"][-1] in dropped:
            item["metadata"]["selected"] = False
    run = run_tap(tmp_path, config, catalog=catalog)
    (schema,) = run.of_type("SCHEMA", "canvas-courses")
    assert not dropped & set(schema["schema"]["properties"])
    records = run.records("canvas-courses")
    assert records
    assert all("id" in record for record in records)
    assert not any(dropped & set(record) for record in records)


def test_turning_tls_verification_off_is_warned(dap_sim: SimServer, tmp_path: Path) -> None:
    run = run_tap(tmp_path, sim_config(dap_sim, tables=["accounts"], verify_tls=False))
    assert "verify_tls is off: TLS certificates are NOT verified" in run.stderr


def test_a_missing_ca_bundle_is_named(dap_sim: SimServer, tmp_path: Path) -> None:
    config = sim_config(dap_sim, ca_bundle=str(tmp_path / "nope.pem"))
    run = run_tap(tmp_path, config, check=False)
    assert run.returncode == 1
    assert f"ca_bundle '{tmp_path / 'nope.pem'}' is not a readable file" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_connection_test_fails_when_a_table_fails(dap_sim: SimServer, tmp_path: Path) -> None:
    dap_sim.inject({"kind": "job_failed", "table": "canvas.users", "times": 10})
    config = sim_config(dap_sim, tables=["accounts", "users"], job_retries=1)
    run = run_tap(tmp_path, config, args=["--test"], check=False)
    assert run.returncode == 1
    assert "1 of 2 table(s) failed" in run.stderr
    assert len(run.records("canvas-accounts")) == 1  # --test emits one record per stream
