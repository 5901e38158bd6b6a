"""An on-disk cache of produced job files (``dap-sim serve --cache-dir``).

Producing a large table's files is CPU-bound (about 20 thousand rows/s per core); a
benchmark that starts the simulator again and again over the same dataset would pay it
every time. Files are keyed by everything that decides their bytes (the dataset
description, the table, the query, the epoch, rows per file, gzip level) and linked into
a job's folder on a hit. An entry appears atomically (a renamed folder), so simulators
sharing a cache never see half an entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from dap_sim.production import JobSpec, ProducedFile

_MANIFEST = "manifest.json"


def _key(spec: JobSpec) -> str:
    fields = dataclasses.asdict(spec)
    del fields["job_dir"]
    text = json.dumps(fields, sort_keys=True).encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)


class ProductionCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.hits = 0

    def fetch(self, spec: JobSpec) -> list[ProducedFile] | None:
        """The job's files linked into its folder, or None when they are not cached."""
        entry = self.root / _key(spec)
        try:
            manifest = json.loads((entry / _MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        files = [ProducedFile(**item) for item in manifest]
        for produced in files:
            _link_or_copy(entry / produced.name, Path(spec.job_dir) / produced.name)
        self.hits += 1
        return files

    def store(self, spec: JobSpec, files: list[ProducedFile]) -> None:
        entry = self.root / _key(spec)
        if entry.exists():
            return
        staging = self.root / f".{entry.name}.{uuid.uuid4().hex}.tmp"
        staging.mkdir()
        for produced in files:
            _link_or_copy(Path(spec.job_dir) / produced.name, staging / produced.name)
        manifest = [dataclasses.asdict(produced) for produced in files]
        (staging / _MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        try:
            staging.rename(entry)
        except OSError:  # another simulator stored it first
            shutil.rmtree(staging, ignore_errors=True)
