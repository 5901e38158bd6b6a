"""Results: the table on stdout, bench/results/latest.json and the chart latest.png."""

from __future__ import annotations

import importlib.util
import json
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.measure import Measurement

OFFICIAL_TOOLS = ("dap initdb", "dap syncdb", "dap initdb --table all", "dap syncdb --table all")
COPY_FLOOR = "PostgreSQL COPY (floor)"
LOAD_DATA_FLOOR = "MariaDB LOAD DATA (floor)"
INCREMENT_FLOOR = "PostgreSQL increment (floor)"
# each database's fastest bulk load of the same rows into an empty table with its key;
# for an increment, plain SQL's fastest way to apply the changed rows (scenario 4)
FLOORS = (COPY_FLOOR, LOAD_DATA_FLOOR, INCREMENT_FLOOR)


@dataclass
class Result:
    scenario: str
    tool: str
    rows: int
    runs: list[float] = field(default_factory=list)  # wall seconds of each run
    peak_rss_mb: dict[str, float] = field(default_factory=dict)  # per program, over all runs
    note: str = ""
    cpu_runs: list[float] = field(default_factory=list)  # CPU seconds of each run
    vs_official: float | None = None  # the official CLI's wall time / ours (x faster)
    vs_floor: float | None = None  # our rows/s / the scenario's floor's rows/s

    @property
    def wall_s(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.runs and self.wall_s > 0 else 0.0

    @property
    def cpu_s(self) -> float | None:
        """The median CPU seconds, where measured (results written before have none)."""
        return statistics.median(self.cpu_runs) if self.cpu_runs else None

    def add(self, measurement: Measurement) -> None:
        self.runs.append(measurement.wall_s)
        self.cpu_runs.append(measurement.cpu_s)
        for name, peak in measurement.peak_rss_mb.items():
            self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), peak)


def compare(results: Sequence[Result]) -> None:
    """Fill in each measured result's ratios to its scenario's official CLI and floor."""
    for result in results:
        if not result.runs:
            continue
        official = _of_scenario(results, result.scenario, OFFICIAL_TOOLS)
        if official is not None and official is not result:
            result.vs_official = official.wall_s / result.wall_s
        floor = _of_scenario(results, result.scenario, FLOORS)
        if floor is not None and floor is not result:
            result.vs_floor = result.rows_per_s / floor.rows_per_s


def _of_scenario(results: Sequence[Result], scenario: str, tools: Sequence[str]) -> Result | None:
    """The measured result of one of ``tools`` in ``scenario``."""
    return next((r for r in results if r.scenario == scenario and r.tool in tools and r.runs), None)


def _rss(result: Result) -> str:
    return ", ".join(f"{name} {mb:.0f}" for name, mb in result.peak_rss_mb.items()) or "-"


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def table(results: Sequence[Result]) -> str:
    header = (
        "scenario",
        "tool",
        "wall s",
        "CPU s",
        "rows",
        "rows/s",
        "peak RSS MB",
        "vs official",
        "vs floor",
        "note",
    )
    lines = [header]
    for r in results:
        measured = bool(r.runs)
        lines.append(
            (
                r.scenario,
                r.tool,
                f"{r.wall_s:.2f}" if measured else "-",
                f"{r.cpu_s:.2f}" if r.cpu_s is not None else "-",
                str(r.rows) if measured else "-",
                f"{r.rows_per_s:,.0f}" if measured else "-",
                _rss(r),
                _ratio(r.vs_official),
                _ratio(r.vs_floor),
                (f"median of {len(r.runs)}; " if len(r.runs) > 1 else "") + r.note,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    rendered.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in rendered)


def to_json(results: Sequence[Result], settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "settings": settings,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": [
            {
                **asdict(r),
                "wall_s": round(r.wall_s, 3) if r.runs else None,
                "cpu_s": round(r.cpu_s, 3) if r.cpu_s is not None else None,
                "rows_per_s": round(r.rows_per_s) if r.runs else None,
            }
            for r in results
        ],
    }


def from_json(data: dict[str, Any]) -> tuple[list[Result], dict[str, Any]]:
    """The results and settings of a latest.json, to print or draw again."""
    names = {f.name for f in fields(Result)}
    renamed = {"vs_copy": "vs_floor"}  # results written before the MariaDB floor
    results = [
        Result(**{renamed.get(k, k): v for k, v in item.items() if renamed.get(k, k) in names})
        for item in data["results"]
    ]
    return results, data["settings"]


def write(results: Sequence[Result], settings: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write latest.json, and latest.png where matplotlib is installed; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "latest.json"
    path.write_text(json.dumps(to_json(results, settings), indent=1) + "\n", encoding="utf-8")
    png = out_dir / "latest.png"
    return [path, png] if chart(results, png, settings) else [path]


def chart(results: Sequence[Result], path: Path, settings: dict[str, Any]) -> bool:
    """Rows/s per tool, grouped by scenario, on a log scale; ours in one colour.

    False (and a line saying why) where matplotlib, a bench-only dependency, is missing.
    """
    if importlib.util.find_spec("matplotlib") is None:
        print("no chart: matplotlib is not installed (`make bench` installs it)", flush=True)
        return False
    import matplotlib  # noqa: PLC0415 - imported where used

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    measured = [r for r in results if r.runs]
    if not measured:
        return False
    labels = [f"{r.scenario}: {r.tool}" for r in measured]
    figure, axes = plt.subplots(figsize=(11, 0.38 * len(measured) + 1.6))
    colours = [_colour(r.tool) for r in measured]
    positions = list(range(len(measured)))[::-1]
    axes.barh(positions, [r.rows_per_s for r in measured], color=colours)
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_xscale("log")
    axes.set_xlim(right=max(r.rows_per_s for r in measured) * 4)  # room for the labels
    axes.set_xlabel("rows per second (log scale; median of runs)")
    for position, r in zip(positions, measured, strict=True):
        axes.text(r.rows_per_s, position, f" {r.rows_per_s:,.0f}", va="center", fontsize=7)
    axes.set_title(
        f"make bench: {settings.get('rows', '?'):,} submissions rows, "
        f"{settings.get('runs', '?')} run(s) each",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _colour(tool: str) -> str:
    if tool.startswith("dap "):
        return "#c0504d"
    if tool in FLOORS:
        return "#7f7f7f"
    if "target-postgres" in tool:
        return "#f2a33a"
    return "#2e75b6"
