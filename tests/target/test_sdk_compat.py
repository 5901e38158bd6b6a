"""The singer-sdk members listed in `sdk_compat.SEAMS` are there and do what we rely on.

Run this on a new singer-sdk release before raising the upper bound on it in
target-dap-sql/pyproject.toml: each failure names the member and why the target uses it.
"""

from __future__ import annotations

import ast
import inspect
import io
import textwrap
import typing as t
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import orjson
import pytest
import target_dap_sql
from singer_sdk import Target
from target_dap_sql import sdk_compat
from target_dap_sql.reader import SingerLineReader
from target_dap_sql.sdk_compat import SEAMS, Seam
from target_dap_sql.settings import CONFIG_SCHEMA
from target_dap_sql.sinks import DapSqlSink
from target_dap_sql.target import TargetDapSql

SDK = f"singer-sdk {version('singer-sdk')}"
OURS = (TargetDapSql, DapSqlSink, SingerLineReader)
PACKAGE = Path(target_dap_sql.__file__).parent


def broken(seam: Seam, what: str) -> str:
    return (
        f"{SDK}: {seam.owner.__name__}.{seam.member} {what}; target-dap-sql uses it: "
        f"{seam.reason}. Adapt target_dap_sql/sdk_compat.py (and its callers) before "
        "raising the singer-sdk bound in target-dap-sql/pyproject.toml."
    )


def parameters_of(function: t.Callable[..., t.Any]) -> str:
    """A function's parameters as `(self, name=default)`, annotations aside."""
    signature = inspect.signature(function)
    bare = [p.replace(annotation=p.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=signature.empty))


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def lines(*messages: dict[str, t.Any]) -> io.BytesIO:
    return io.BytesIO(b"".join(orjson.dumps(m) + b"\n" for m in messages))


SCHEMA = {
    "type": "SCHEMA",
    "stream": "canvas-courses",
    "schema": {"properties": {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}},
    "key_properties": ["id"],
}
RECORD = {"type": "RECORD", "stream": "canvas-courses", "record": {"id": 1, "name": "a"}}
STATE = {"type": "STATE", "value": {"bookmarks": {"canvas-courses": {"at": "t1"}}}}


@pytest.fixture
def target(tmp_path: Path) -> t.Iterator[TargetDapSql]:
    target = TargetDapSql(config={"database_url": f"duckdb:///{tmp_path / 'compat.duckdb'}"})
    try:
        yield target
    finally:
        target.close()


@pytest.mark.parametrize("seam", SEAMS, ids=lambda s: f"{s.owner.__name__}.{s.member}")
def test_seam_is_in_the_installed_sdk(seam: Seam, target: TargetDapSql) -> None:
    if seam.use == "attribute":
        assert isinstance(target, seam.owner)
        assert hasattr(target, seam.member), broken(seam, "is gone")
        return
    member = getattr(seam.owner, seam.member, None)
    assert callable(member), broken(seam, "is gone")
    assert parameters_of(member) == seam.parameters, broken(
        seam, f"now takes {parameters_of(member)}, not {seam.parameters}"
    )
    if seam.use == "override":
        assert not getattr(member, "__final__", False), broken(seam, "is now @final")
        assert any(seam.member in vars(ours) for ours in OURS), (
            f"sdk_compat.SEAMS lists {seam.owner.__name__}.{seam.member} as overridden, "
            "but no class of target_dap_sql overrides it: remove it from the list"
        )


def sdk_private_names() -> set[str]:
    """Private members of the SDK classes ours derive from: class attributes, and the
    instance attributes their methods set (`self._x`)."""
    names: set[str] = set()
    for ours in OURS:
        for cls in ours.__mro__:
            if not cls.__module__.startswith("singer_sdk."):
                continue
            names |= {name for name in vars(cls) if is_private(name)}
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
            names |= {
                node.attr
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and is_private(node.attr)
            }
    return names


def test_every_private_sdk_member_we_touch_is_a_listed_seam() -> None:
    """Outside sdk_compat.py, the package names a private SDK member only to override a
    listed hook (and call the SDK's through `super()`); everything else goes through
    sdk_compat's functions."""
    seams = {seam.member: seam for seam in SEAMS}
    private = sdk_private_names()
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "sdk_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = node.name
            else:
                continue
            if name not in private:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            if name not in seams:
                problems.append(f"{where}: {name} is an SDK private member not in SEAMS")
            elif seams[name].use != "override":
                problems.append(f"{where}: {name} only through sdk_compat's functions")
    assert not problems, "\n".join(problems)


def test_no_sdk_final_member_is_overridden() -> None:
    assert getattr(Target.drain_one, "__final__", False), "@final is no longer detectable"
    for ours in OURS:
        for name in vars(ours):
            for base in ours.__mro__[1:]:
                member = vars(base).get(name)
                assert not getattr(member, "__final__", False), (
                    f"{ours.__name__}.{name} overrides {base.__name__}.{name}, @final in {SDK}"
                )


def test_the_sdk_fills_every_setting_default() -> None:
    """Code reads `config[name]`: each default is stated once, in `CONFIG_SCHEMA`."""
    target = TargetDapSql(config={})  # opens no database before the first SCHEMA
    for name, prop in CONFIG_SCHEMA["properties"].items():
        if "default" in prop:
            assert target.config[name] == prop["default"], name


def test_the_sdk_hands_the_reader_our_message_handlers(tmp_path: Path) -> None:
    """`SingerLineReader.process_lines` dispatches by message type to these callbacks."""

    class Recording(SingerLineReader):
        def process_lines(
            self,
            file_input: t.IO[bytes] | None,
            callbacks: dict[str, t.Callable[[dict[str, t.Any]], None]],
        ) -> t.Counter[str]:
            self.callbacks = callbacks
            return Counter()

    reader = Recording()
    config = {"database_url": f"duckdb:///{tmp_path / 'compat.duckdb'}"}
    target = TargetDapSql(config=config, message_reader=reader)
    target.process_lines(io.StringIO())
    handlers = {kind: getattr(f, "__func__", None) for kind, f in reader.callbacks.items()}
    assert handlers == {
        "SCHEMA": TargetDapSql._process_schema_message,
        "RECORD": TargetDapSql._process_record_message,
        "STATE": TargetDapSql._process_state_message,
        "ACTIVATE_VERSION": TargetDapSql._process_activate_version_message,
        "BATCH": TargetDapSql._process_batch_message,
    }, f"{SDK} hands the message reader other callbacks"


def test_the_sinks_and_the_held_state_are_the_sdks(target: TargetDapSql) -> None:
    """The SDK's sink map, retired sinks and held STATE mean what sdk_compat says."""
    sinks = sdk_compat.sinks_by_stream(target)
    target.process_lines(lines(SCHEMA, RECORD, STATE))  # type: ignore[arg-type]
    assert sdk_compat.sinks_by_stream(target) is sinks, "Target._sinks_active was replaced"
    sink = sinks["canvas-courses"]
    assert isinstance(sink, DapSqlSink), "Target._sinks_active holds no sink per stream"
    assert sdk_compat.records_held(target)
    # the record is held, so the SDK holds the STATE after it
    assert sdk_compat.take_held_state(target) == STATE["value"], "Target._latest_state"
    assert sdk_compat.take_held_state(target) is None

    # a new SCHEMA retires the sink: the SDK keeps it, records and all, until a full drain
    wider = {**SCHEMA["schema"], "properties": {**SCHEMA["schema"]["properties"], "x": {}}}
    Target.get_sink(target, "canvas-courses", schema=wider, key_properties=["id"])
    assert sinks["canvas-courses"] is not sink
    assert sdk_compat.records_held(target), "Target._sinks_to_clear lost the retired sink"
    target.drain_all()
    assert not sdk_compat.records_held(target)
