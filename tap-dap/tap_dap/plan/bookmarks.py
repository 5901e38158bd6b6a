"""The shape of a stream's bookmark in the Singer state, read and written in one place.

    bookmarks["canvas-accounts"] = {
        "replication_key": "_dap_ts",
        "replication_key_value": "2024-06-30T10:00:00Z",  # the last emitted job's at/until
        "schema_version": 3,                              # of the records emitted so far
        "table_version": 1719741600000,                   # version of the last snapshot
        "job": {                                          # only while a job is emitted
            "id": "...", "kind": "snapshot", "at": "...",  # or "since"/"until"
            "schema_version": 3, "table_version": 1719741600000,
            "files_emitted": 2, "last_object": "..."}}

A STATE goes out after each file of a job, and targets pass a STATE on only once the
rows before it are committed. So a run that starts from a state with `job` continues
that job after its `files_emitted` files while DAP still has it, and starts over
cleanly when it does not. `replication_key_value` moves only once every file was emitted.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from tap_dap.singer.schema import DAP_TS

SNAPSHOT = "snapshot"
INCREMENTAL = "incremental"


@dataclass(frozen=True)
class JobProgress:
    """A job being emitted, and how many of its files are already out."""

    id: str
    kind: str
    schema_version: int | None
    table_version: int | None
    at: str | None = None
    since: str | None = None
    until: str | None = None
    files_emitted: int = 0
    last_object: str | None = None

    @property
    def position(self) -> str | None:
        """Where the bookmark moves once the job is emitted: its `at` or `until`."""
        return self.at if self.kind == SNAPSHOT else self.until

    def after_file(self, object_id: str) -> JobProgress:
        """The progress once the next file is emitted."""
        return replace(self, files_emitted=self.files_emitted + 1, last_object=object_id)

    def to_state(self) -> dict[str, Any]:
        """The JSON form, without empty members."""
        fields = {
            "id": self.id,
            "kind": self.kind,
            "at": self.at,
            "since": self.since,
            "until": self.until,
            "schema_version": self.schema_version,
            "table_version": self.table_version,
            "files_emitted": self.files_emitted,
            "last_object": self.last_object,
        }
        return {key: value for key, value in fields.items() if value is not None}

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> JobProgress:
        """Parse the JSON form."""
        return cls(
            id=str(data["id"]),
            kind=str(data.get("kind", SNAPSHOT)),
            at=data.get("at"),
            since=data.get("since"),
            until=data.get("until"),
            schema_version=data.get("schema_version"),
            table_version=data.get("table_version"),
            files_emitted=int(data.get("files_emitted", 0)),
            last_object=data.get("last_object"),
        )


@dataclass(frozen=True)
class Bookmark:
    """What a stream's state says about where its replication stands."""

    position: str | None = None
    schema_version: int | None = None
    table_version: int | None = None
    job: JobProgress | None = None

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Bookmark:
        """Read a stream's bookmark (empty when the stream has none)."""
        job = state.get("job")
        position = state.get("replication_key_value")
        return cls(
            position=str(position) if position else None,
            schema_version=state.get("schema_version"),
            table_version=state.get("table_version"),
            job=JobProgress.from_state(job) if isinstance(job, Mapping) and "id" in job else None,
        )

    def write_to(self, state: MutableMapping[str, Any]) -> None:
        """Write into the SDK's writable stream state, replacing our keys."""
        for key in (
            "replication_key",
            "replication_key_value",
            "schema_version",
            "table_version",
            "job",
        ):
            state.pop(key, None)
        if self.position is not None:
            state["replication_key"] = DAP_TS
            state["replication_key_value"] = self.position
        if self.schema_version is not None:
            state["schema_version"] = self.schema_version
        if self.table_version is not None:
            state["table_version"] = self.table_version
        if self.job is not None:
            state["job"] = self.job.to_state()

    def with_job(self, job: JobProgress | None) -> Bookmark:
        """The same bookmark with a job in progress (or none)."""
        return replace(self, job=job)

    def completed(self, job: JobProgress) -> Bookmark:
        """The bookmark once every file of `job` was emitted."""
        return Bookmark(
            position=job.position,
            schema_version=job.schema_version,
            table_version=job.table_version,
            job=None,
        )
