"""The tap's folders tell its data flow only while each layer imports the layers below it and
no others: api (DAP) <- singer (Singer output) <- plan (the run) <- the SDK plugin on top."""

from __future__ import annotations

import ast
from pathlib import Path

import tap_dap

PACKAGE = Path(tap_dap.__file__).parent
SHARED = {"errors", "settings", "redaction"}
#: What each layer may import from tap_dap (besides itself); the plugin on top, anything.
ALLOWED = {
    "shared": SHARED,
    "api": SHARED,
    "singer": SHARED | {"api"},
    "plan": SHARED | {"api", "singer"},
}


def _layer(module: str) -> str:
    return "shared" if module in SHARED else module


def _imports(path: Path) -> set[str]:
    """The modules `path` imports (`from a import b` counts as `a.b`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _imported_layers(path: Path) -> set[str]:
    """The first part below `tap_dap` of every tap_dap module `path` imports."""
    return {name.split(".")[1] for name in _imports(path) if name.startswith("tap_dap.")}


def test_each_layer_imports_only_the_layers_below_it() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if _layer(top) not in ALLOWED:
            continue  # tap.py and streams.py wire the layers together
        allowed = ALLOWED[_layer(top)] | {top}
        for imported in _imported_layers(path) - allowed:
            wrong.append(f"{path.relative_to(PACKAGE)} imports tap_dap.{imported}")
    assert not wrong, "; ".join(wrong)
