"""The singer-sdk standard tap tests, against dap-sim.

The SDK builds its test class at collection time and asks the tap for its streams then,
so the simulator starts when this module is imported and stops when the session ends.
Every table takes part except the two with decimal columns (`multipleOf: 0.01`): the
SDK's record test parses numbers as binary floats, where 81.82 is no multiple of 0.01.
SDK targets parse them as Decimal and validate them fine (tests/tap/test_schema.py).
"""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path

import dap_sim
from dap_sim.testing import TEST_OPTIONS, start_sim
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_dap.tap import TapDap

_data = Path(tempfile.mkdtemp(prefix="tap-dap-standard-"))
_sim = start_sim(_data / "sim", **TEST_OPTIONS)
atexit.register(_sim.close)

DECIMAL_TABLES = {"late_policies", "submissions"}
SCHEMAS = Path(dap_sim.__file__).parent / "schemas"
TABLES = sorted(
    path.stem
    for namespace in ("canvas", "canvas_logs")
    for path in (SCHEMAS / namespace).glob("*.json")
    if path.stem not in DECIMAL_TABLES
)

TestTapDap = get_tap_test_class(
    TapDap,
    config={
        "client_id": _sim.client_id,
        "client_secret": _sim.client_secret,
        "base_url": _sim.base_url,
        "namespace": ["canvas", "canvas_logs"],
        "tables": TABLES,
        "poll_interval": 0.1,
        "spool_dir": str(_data),
    },
    suite_config=SuiteConfig(max_records_limit=200),
)
