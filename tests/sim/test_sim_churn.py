"""`dap-sim advance --churn`: a known share of a table's rows changed and deleted in one epoch.

The benchmark's increment needs a predictable change volume (10% updated, 1% deleted);
the churn must be deterministic, leave other tables alone, and keep the epoch invariant
(snapshot before + changes == snapshot after) that every replica test relies on.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dap_sim.dataset import Dataset
from dap_sim.tables import World

DAP_SIM = str(Path(sys.executable).parent / "dap-sim")
SCALE = 20_000


def _rows(dataset: Dataset, table: str) -> dict[Any, dict[str, Any]]:
    model = World(dataset).table("canvas", table)
    return {r.key: r.values or {} for r in model.snapshot(dataset.epoch)}


def _changes(before: Dataset, after: Dataset, table: str) -> list[Any]:
    model = World(after).table("canvas", table)
    return list(
        model.changes(after.epoch, before.clock_ms(before.epoch), after.clock_ms(after.epoch))
    )


@pytest.fixture(scope="module")
def churned() -> tuple[Dataset, Dataset, Dataset]:
    """(epoch 0, epoch 1 without churn, epoch 1 with 10% updated and 1% deleted)."""
    base = Dataset.generate(seed=11, scale=SCALE)
    plain, churn = copy.deepcopy(base), copy.deepcopy(base)
    plain.advance(schema_changes=[])
    churn.advance(schema_changes=[], churn=["canvas.submissions:0.1:0.01"])
    return base, plain, churn


def test_churn_changes_and_deletes_the_asked_shares(
    churned: tuple[Dataset, Dataset, Dataset],
) -> None:
    base, plain, churn = churned
    before = _rows(base, "submissions")
    natural = {r.key: r.action for r in _changes(base, plain, "submissions")}
    records = _changes(base, churn, "submissions")
    extra_updates = sum(
        1 for r in records if r.action == "U" and r.key in before and r.key not in natural
    )
    extra_deletes = sum(1 for r in records if r.action == "D" and natural.get(r.key) != "D")
    # binomial shares of the 20,000 rows: within a few standard deviations
    assert abs(extra_updates - 0.1 * len(before)) < 0.02 * len(before), extra_updates
    assert abs(extra_deletes - 0.01 * len(before)) < 0.004 * len(before), extra_deletes
    for record in records:
        if record.action == "U" and record.key in before:
            assert record.values != before[record.key] or natural.get(record.key) == "U"


def test_churn_keeps_snapshot_plus_changes_equal_to_the_later_snapshot(
    churned: tuple[Dataset, Dataset, Dataset],
) -> None:
    base, _, churn = churned
    for table in ("submissions", "submission_comments", "courses"):
        replica = _rows(base, table)
        for record in _changes(base, churn, table):
            if record.action == "D":
                replica.pop(record.key, None)  # also rows born and gone in the epoch
            else:
                replica[record.key] = record.values
        assert replica == _rows(churn, table), table


def test_churn_touches_only_its_table_and_is_deterministic(
    churned: tuple[Dataset, Dataset, Dataset],
) -> None:
    _, plain, churn = churned
    assert _rows(plain, "submission_comments") == _rows(churn, "submission_comments")
    again = Dataset.generate(seed=11, scale=SCALE)
    again.advance(schema_changes=[], churn=["submissions:0.1:0.01"])
    assert again.churns == churn.churns
    assert _rows(again, "submissions") == _rows(churn, "submissions")
    # the churn persists: a later epoch still sees the deleted rows gone
    later = copy.deepcopy(churn)
    later.advance(schema_changes=[])
    gone = {r.key for r in _changes(plain, churn, "submissions") if r.action == "D"}
    assert gone.isdisjoint(_rows(Dataset.from_json(later.to_json()), "submissions"))


def test_churn_on_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run(
        [DAP_SIM, "generate", "--out", str(data), "--scale", "500"], check=True, timeout=60
    )
    args = [DAP_SIM, "advance", "--data", str(data), "--no-schema-change"]
    done = subprocess.run(
        [*args, "--churn", "submissions:0.1:0.01"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert Dataset.load(data).churns == [
        {"epoch": 1, "namespace": "canvas", "table": "submissions", "updated": 0.1, "deleted": 0.01}
    ]
    for wrong, message in [
        ("submissions:0.1", "expected [NS.]TABLE:UPDATED_FRACTION:DELETED_FRACTION"),
        ("submissions:0.9:0.2", "add up to at most 1"),
        ("enrollment_states:0.1:0", "churn enrollments"),
        ("nope:0.1:0", "unknown table canvas.nope"),
    ]:
        done = subprocess.run(
            [*args, "--churn", wrong], capture_output=True, text=True, check=False
        )
        assert done.returncode == 2, wrong
        assert message in done.stderr, done.stderr
