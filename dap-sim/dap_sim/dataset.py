"""The dataset description (``DIR/dataset.json``): everything rows are computed from.

No rows are stored. The description holds the seed, the scale, the current epoch (each
epoch is one 4-hour DAP refresh), the base row count per table, the schema version history,
the table reloads, the churns and the demo credentials. ``advance`` appends one epoch.
"""

from __future__ import annotations

import functools
import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dap_sim import catalog, evolution, sizing
from dap_sim.catalog import JsonSchema
from dap_sim.hashing import salt
from dap_sim.lifecycle import Churn
from dap_sim.timefmt import iso_millis, parse_iso

DATASET_FILE = "dataset.json"
FORMAT_VERSION = 1
DEFAULT_SEED = 42
DEFAULT_START = "2025-09-01T00:00:00.000Z"
CLIENT_ID = "us-east-1#dap-sim"
# Probability that an epoch after the first bumps some schema at random.
_SCHEMA_BUMP_CHANCE = 0.35


def split_qualified(name: str) -> tuple[str, str]:
    """``canvas.courses`` -> (``canvas``, ``courses``); a bare table name means canvas."""
    namespace, _, table = name.rpartition(".")
    namespace = namespace or "canvas"
    if table not in catalog.table_names(namespace):
        raise ValueError(f"unknown table {namespace}.{table}")
    return namespace, table


@dataclass
class SchemaBump:
    """One new schema version of one table, effective from ``epoch`` on."""

    epoch: int
    namespace: str
    table: str
    version: int
    changes: list[dict[str, Any]]


@dataclass
class Dataset:
    seed: int
    scale: int
    epoch: int
    start_ms: int
    base_rows: dict[str, dict[str, int]]
    credentials: dict[str, str]
    schema_history: list[SchemaBump] = field(default_factory=list)
    reloads: list[dict[str, Any]] = field(default_factory=list)
    churns: list[dict[str, Any]] = field(default_factory=list)

    # -- construction and persistence -------------------------------------------------

    @classmethod
    def generate(
        cls,
        *,
        seed: int = DEFAULT_SEED,
        scale: int = sizing.DEFAULT_SCALE,
        start: str | None = None,
    ) -> Dataset:
        if scale < 1:
            raise ValueError(f"scale must be at least 1, got {scale}")
        base_rows = {
            namespace: {t: sizing.base_rows(t, scale) for t in catalog.table_names(namespace)}
            for namespace in catalog.NAMESPACES
        }
        secret = f"{salt(seed, 'client-secret'):016x}{salt('client-secret', seed):016x}"
        return cls(
            seed=seed,
            scale=scale,
            epoch=0,
            start_ms=parse_iso(start or DEFAULT_START),
            base_rows=base_rows,
            credentials={"client_id": CLIENT_ID, "client_secret": secret},
        )

    @classmethod
    def load(cls, data_dir: Path | str) -> Dataset:
        path = Path(data_dir) / DATASET_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no dataset at {path}: run `dap-sim generate --out {data_dir}` first"
            ) from None
        if raw.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported dataset format {raw.get('format')!r}")
        return cls.from_json(raw)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Dataset:
        return cls(
            seed=raw["seed"],
            scale=raw["scale"],
            epoch=raw["epoch"],
            start_ms=parse_iso(raw["start"]),
            base_rows=raw["tables"],
            credentials=raw["credentials"],
            schema_history=[SchemaBump(**bump) for bump in raw["schema_history"]],
            reloads=raw["reloads"],
            churns=raw.get("churns", []),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "seed": self.seed,
            "scale": self.scale,
            "epoch": self.epoch,
            "start": iso_millis(self.start_ms),
            "clock": iso_millis(self.clock_ms(self.epoch)),
            "credentials": self.credentials,
            "tables": self.base_rows,
            "schema_history": [vars(bump) for bump in self.schema_history],
            "reloads": self.reloads,
            "churns": self.churns,
        }

    def save(self, data_dir: Path | str) -> Path:
        """Write atomically, so a running server never reads half a file."""
        folder = Path(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / DATASET_FILE
        tmp = folder / f".{DATASET_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    # -- time --------------------------------------------------------------------------

    def clock_ms(self, epoch: int) -> int:
        """The commit time up to which epoch ``epoch`` is complete (a snapshot's ``at``)."""
        return self.start_ms + epoch * sizing.EPOCH_MS

    # -- schemas -----------------------------------------------------------------------

    def bumps(self, namespace: str, table: str, epoch: int) -> list[SchemaBump]:
        return [
            b
            for b in self.schema_history
            if b.namespace == namespace and b.table == table and b.epoch <= epoch
        ]

    def schema_version(self, namespace: str, table: str, epoch: int) -> int:
        return 1 + len(self.bumps(namespace, table, epoch))

    def version_epochs(self, namespace: str, table: str) -> list[int]:
        """The first epoch of each schema version, version 1 first."""
        return [0] + [b.epoch for b in self.bumps(namespace, table, self.epoch)]

    def flat_schema(self, namespace: str, table: str, version: int) -> JsonSchema:
        """The reference-form schema of a table at a schema version."""
        changes = [
            c for b in self.bumps(namespace, table, self.epoch)[: version - 1] for c in b.changes
        ]
        return _apply_cached(namespace, table, json.dumps(changes))

    def served_schema(self, namespace: str, table: str, epoch: int) -> dict[str, Any]:
        """The body of ``GET .../schema`` at ``epoch``: ``{"schema": ..., "version": N}``."""
        version = self.schema_version(namespace, table, epoch)
        flat = self.flat_schema(namespace, table, version)
        return {"schema": catalog.envelope(flat), "version": version}

    def _taken_names(self, namespace: str, table: str) -> set[str]:
        names = set(catalog.reference_schema(namespace, table)["properties"])
        for bump in self.bumps(namespace, table, self.epoch):
            names.update(c["column"] for c in bump.changes)
        return names

    # -- reloads -----------------------------------------------------------------------

    def last_reload(self, namespace: str, table: str, epoch: int) -> int | None:
        epochs = [
            r["epoch"]
            for r in self.reloads
            if r["namespace"] == namespace and r["table"] == table and r["epoch"] <= epoch
        ]
        return max(epochs) if epochs else None

    # -- churns -----------------------------------------------------------------------

    def churns_of(self, namespace: str, table: str) -> list[Churn]:
        return [
            Churn(c["epoch"], c["updated"], c["deleted"])
            for c in self.churns
            if c["namespace"] == namespace and c["table"] == table
        ]

    # -- the next epoch ----------------------------------------------------------------

    def advance(
        self,
        *,
        schema_changes: Iterable[str] | None = None,
        reload: Iterable[str] = (),
        churn: Iterable[str] = (),
    ) -> list[SchemaBump]:
        """Move to the next epoch; returns the schema bumps it made.

        ``schema_changes`` None lets the seed decide (the first advance always bumps one
        table); otherwise each item is ``[namespace.]table[:kind[:variant]]`` and exactly
        those bumps happen (an empty list: none). Each ``churn`` item is
        ``[namespace.]table:updated:deleted`` (fractions of the rows existing before).
        """
        epoch = self.epoch + 1
        rng = random.Random(salt(self.seed, "evolution", epoch))
        if schema_changes is None:
            requests = self._random_requests(rng, epoch)
        else:
            requests = [_parse_change_request(text) for text in schema_changes]
        reloads = [split_qualified(name) for name in reload]
        churns = [{"epoch": epoch, **_parse_churn(text)} for text in churn]
        by_table: dict[tuple[str, str], list[str | None]] = {}
        for namespace, table, kind in requests:
            by_table.setdefault((namespace, table), []).append(kind)
        made: list[SchemaBump] = []
        for (namespace, table), kinds in by_table.items():
            bump = self._plan_bump(namespace, table, kinds, epoch, rng)
            if bump is not None:
                made.append(bump)
        self.epoch = epoch
        self.schema_history.extend(made)
        for namespace, table in reloads:
            self.reloads.append({"epoch": epoch, "namespace": namespace, "table": table})
        self.churns.extend(churns)
        return made

    def _random_requests(self, rng: random.Random, epoch: int) -> list[tuple[str, str, str | None]]:
        if epoch > 1 and rng.random() >= _SCHEMA_BUMP_CHANCE:
            return []
        namespace = "canvas"
        tables = catalog.table_names(namespace)
        table = tables[rng.randrange(len(tables))]
        return [(namespace, table, None) for _ in range(1 + rng.randrange(2))]

    def _plan_bump(
        self,
        namespace: str,
        table: str,
        kinds: list[str | None],
        epoch: int,
        rng: random.Random,
    ) -> SchemaBump | None:
        version = self.schema_version(namespace, table, self.epoch)
        schema = self.flat_schema(namespace, table, version)
        taken = self._taken_names(namespace, table)
        changes: list[dict[str, Any]] = []
        for kind in kinds:
            order = [kind] if kind else rng.sample(evolution.KINDS, len(evolution.KINDS))
            for candidate in order:
                change = evolution.plan_change(schema, candidate, taken, rng)
                if change is not None:
                    break
            else:
                if kind:
                    raise ValueError(f"no {kind} change applies to {namespace}.{table}")
                continue
            changes.append(change)
            taken.add(change["column"])
            schema = evolution.apply_changes(schema, [change])
        if not changes:
            return None
        return SchemaBump(epoch, namespace, table, version + 1, changes)


def _parse_change_request(text: str) -> tuple[str, str, str | None]:
    """``[ns.]table[:kind[:variant]]`` -> the table and the kind (with its variant), checked."""
    name, _, kind = text.partition(":")
    namespace, table = split_qualified(name)
    if kind:
        evolution.parse_kind(kind)
    return namespace, table, kind or None


def _parse_churn(text: str) -> dict[str, Any]:
    """``[ns.]table:updated:deleted`` -> the churn's table and fractions, checked."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"churn {text!r}: expected [NS.]TABLE:UPDATED_FRACTION:DELETED_FRACTION")
    namespace, table = split_qualified(parts[0])
    if table in sizing.SHARED_LIFECYCLE:
        shared = sizing.SHARED_LIFECYCLE[table]
        raise ValueError(f"churn {text!r}: {table} shares the rows of {shared}; churn {shared}")
    try:
        updated, deleted = float(parts[1]), float(parts[2])
    except ValueError:
        raise ValueError(f"churn {text!r}: the fractions must be numbers") from None
    if updated < 0 or deleted < 0 or updated + deleted > 1:
        raise ValueError(f"churn {text!r}: fractions must be >= 0 and add up to at most 1")
    return {"namespace": namespace, "table": table, "updated": updated, "deleted": deleted}


@functools.lru_cache(maxsize=512)
def _apply_cached(namespace: str, table: str, changes_json: str) -> JsonSchema:
    return evolution.apply_changes(
        catalog.reference_schema(namespace, table), json.loads(changes_json)
    )
