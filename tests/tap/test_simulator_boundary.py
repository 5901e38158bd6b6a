"""The tap never imports the simulator: `pip install tap-dap` works without dap-sim.

dap-sim is a package of its own that tests, the demo and the benchmark install next to
the tap. A fresh interpreter imports every module of tap_dap, as the installed tap may,
and must end with no dap_sim module loaded (this test's own process has dap_sim loaded
by the fixtures, so it cannot tell).
"""

from __future__ import annotations

import subprocess
import sys

IMPORT_EVERY_TAP_MODULE = """
import importlib, pkgutil, sys
import tap_dap
for module in pkgutil.walk_packages(tap_dap.__path__, "tap_dap."):
    importlib.import_module(module.name)
print("\\n".join(sorted(name for name in sys.modules if name.split(".")[0] == "dap_sim")))
"""


def test_no_tap_module_imports_dap_sim() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_TAP_MODULE], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"tap_dap imports the simulator: {done.stdout.split()}"
