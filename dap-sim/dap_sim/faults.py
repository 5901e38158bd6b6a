"""Injected faults: scripted (deterministic) and random by seed.

A scripted fault is a JSON object such as
``{"kind": "cut_connection", "skip": 1, "after_bytes": 1048576}`` (cut the 2nd download
after 1 MB) or ``{"kind": "http_error", "endpoint": "get_job", "status": 503, "times": 2}``.
``skip`` lets that many matching requests pass first, ``times`` is how often it fires,
``table`` narrows it to one table (``canvas.submissions`` or ``submissions``).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

ENDPOINTS = (
    "login",
    "list_tables",
    "schema",
    "create_job",
    "get_job",
    "object_urls",
    "download",
)
# Fault kinds, and the endpoints each one can act on.
KINDS: dict[str, tuple[str, ...]] = {
    "http_error": ENDPOINTS,  # a 5xx answer (status 500, 502, 503 or 504)
    "rate_limit": ENDPOINTS[1:],  # a 429 burst with Retry-After
    "token_expired": ENDPOINTS[1:-1],  # the bearer token is treated as expired: 401
    "job_failed": ("create_job",),  # the job ends failed with a ProcessingError
    "snapshot_required": ("create_job",),  # an incremental query answers SnapshotRequired
    "expired_url": ("object_urls",),  # the URLs handed out have already expired
    "cut_connection": ("download",),  # the connection drops after after_bytes
    "truncated_gzip": ("download",),  # a complete response holding a truncated file
    "job_expires": ("download",),  # the job (and its other files) expire mid-download
}
_SERVER_STATUSES = (500, 502, 503, 504)
# Scripted only: it forces a full reload and means nothing for a snapshot query.
_NOT_RANDOM = frozenset({"snapshot_required"})


@dataclass
class Fault:
    kind: str
    endpoint: str = "*"
    table: str | None = None
    skip: int = 0
    times: int = 1
    status: int = 503
    retry_after: int = 1
    after_bytes: int = 0
    seen: int = 0
    fired: int = 0

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)} - {"seen", "fired"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault field(s) {sorted(unknown)}; known: {sorted(known)}")
        fault = cls(**raw)
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; known: {', '.join(KINDS)}")
        if fault.endpoint != "*" and fault.endpoint not in KINDS[fault.kind]:
            raise ValueError(
                f"fault {fault.kind} cannot act on endpoint {fault.endpoint!r}; "
                f"it acts on: {', '.join(KINDS[fault.kind])}"
            )
        if fault.kind == "http_error" and fault.status not in _SERVER_STATUSES:
            raise ValueError(f"http_error status must be one of {_SERVER_STATUSES}")
        if fault.table and "." not in fault.table:
            fault.table = f"canvas.{fault.table}"
        return fault

    def matches(self, endpoint: str, table: str | None) -> bool:
        if endpoint not in KINDS[self.kind]:
            return False
        if self.endpoint not in ("*", endpoint):
            return False
        return self.table is None or self.table == table

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """Decides, request by request, which fault (if any) fires."""

    def __init__(self, scripted: list[Fault], *, rate: float = 0.0, seed: int = 0) -> None:
        self._scripted = list(scripted)
        self.rate = rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.fired: dict[str, int] = {}

    def add(self, faults: list[Fault]) -> None:
        with self._lock:
            self._scripted.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._scripted.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._scripted]

    def take(self, endpoint: str, table: str | None = None) -> Fault | None:
        """The fault to apply to this request, counting it as fired."""
        with self._lock:
            for fault in self._scripted:
                if not fault.matches(endpoint, table):
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip:
                    continue
                fault.fired += 1
                if fault.fired >= fault.times:
                    self._scripted.remove(fault)
                return self._count(fault)
            if self.rate > 0 and self._random.random() < self.rate:
                return self._count(self._random_fault(endpoint))
        return None

    def _count(self, fault: Fault) -> Fault:
        self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
        return fault

    def _random_fault(self, endpoint: str) -> Fault:
        kinds = [
            k for k, endpoints in KINDS.items() if endpoint in endpoints and k not in _NOT_RANDOM
        ]
        kind = kinds[self._random.randrange(len(kinds))]
        return Fault(
            kind=kind,
            status=_SERVER_STATUSES[self._random.randrange(len(_SERVER_STATUSES))],
            after_bytes=self._random.randrange(1, 65_536),
        )
