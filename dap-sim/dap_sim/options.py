"""Serve options of dap-sim: one dataclass for the CLI, the test fixture and the control API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from dap_sim.production import default_workers

# Options that only take effect when the server starts.
STARTUP_ONLY = frozenset({"host", "port", "workers", "faults", "cache_dir"})


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: an ephemeral port
    token_ttl: float = 3600.0  # seconds an access token lives
    url_ttl: float = 900.0  # seconds a pre-signed object URL lives
    job_ttl: float = 86_400.0  # seconds a job and its files live
    job_latency: float = 1.0  # minimum seconds from job creation to completion
    post_wait: float = 0.0  # seconds POST .../data waits for the job to finish
    rows_per_file: int = 100_000  # most records per file
    rate_limit_factor: float = 1.0  # scales every per-minute limit; 0 turns them off
    rate_limit_window: float = 60.0  # seconds of the sliding window
    create_job_limit_per: str = "table"  # "table" or "account"
    faults: list[dict[str, Any]] = field(default_factory=list)  # scripted at start
    fault_rate: float = 0.0  # chance of a random fault per request
    fault_seed: int = 0
    workers: int = field(default_factory=default_workers)  # production processes (0: inline)
    gzip_level: int = 1
    cache_dir: str = ""  # keep produced files here and reuse them across servers ("": off)
    verbose: bool = False  # log each request (method and path, never query strings)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply runtime changes (the control API); startup-only options are refused."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown option {name!r}; known: {', '.join(sorted(known))}")
            if name in STARTUP_ONLY:
                raise ValueError(f"option {name!r} can only be set when the server starts")
            current = getattr(self, name)
            setattr(self, name, type(current)(value))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
