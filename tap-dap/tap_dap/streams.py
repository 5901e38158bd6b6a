"""One stream class for every DAP table.

The SDK keeps what is not on the per-record path: the catalog, selection, the SCHEMA at
the start, state handling and the STATE messages. Records bypass it: the table's files
arrive as blocks of ready RECORD lines (`tap_dap.singer.records`) and go straight to stdout
through the tap's writer, so `get_records` yields nothing. It drives one job instead:

    wait for the job -> (new SCHEMA if its schema version is new) -> STATE with the job
    -> for each file: its records (or, with `batch_config`, one BATCH message naming the
       file's batch file, `tap_dap.singer.batches`), then STATE with the file counted
    -> ACTIVATE_VERSION after a snapshot -> STATE with the bookmark at the job's at/until
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream, metrics
from singer_sdk.helpers import types
from singer_sdk.singerlib import ActivateVersionMessage, SchemaMessage

from tap_dap.api.client import Job
from tap_dap.errors import JobExpiredError, TapDapError
from tap_dap.plan.bookmarks import INCREMENTAL, SNAPSHOT, Bookmark, JobProgress
from tap_dap.plan.planner import TableRun
from tap_dap.sdk_compat import drop_starting_marker, replace_schema
from tap_dap.singer.batches import (
    BatchFileTask,
    BatchMessage,
    NoParquetTypeError,
    batch_encoding,
    batch_path,
    parquet_layout,
)
from tap_dap.singer.progress_log import ProgressLog
from tap_dap.singer.records import RecordEncoder, encode_lines
from tap_dap.singer.schema import DAP_TS, METADATA_PROPERTIES, StreamSchema, translate

if TYPE_CHECKING:
    from tap_dap.tap import TapDap


def stream_id(namespace: str, table: str) -> str:
    """The stream id convention: `<namespace>-<table>` (SQL targets read the schema before '-')."""
    return f"{namespace}-{table}"


class DapStream(Stream):
    """A DAP table as a Singer stream."""

    replication_key = DAP_TS

    def __init__(
        self,
        tap: TapDap,
        *,
        namespace: str,
        table: str,
        schema: dict[str, Any],
        key_properties: list[str],
        schema_version: int | None,
    ) -> None:
        super().__init__(tap, schema=schema, name=stream_id(namespace, table))
        self.namespace = namespace
        self.table = table
        self.primary_keys = key_properties
        #: Version of the schema last sent for this stream; None when the catalog did not say.
        self.schema_version = schema_version
        self._dap_tap = tap
        self._record_counter: metrics.Counter | None = None

    @classmethod
    def from_dap(
        cls, tap: TapDap, namespace: str, table: str, translated: StreamSchema
    ) -> DapStream:
        """A stream discovered from the API."""
        return cls(
            tap,
            namespace=namespace,
            table=table,
            schema=translated.schema,
            key_properties=translated.key_properties,
            schema_version=translated.version,
        )

    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        """The SDK's record counter, kept so that records written directly are counted."""
        self._record_counter = super().get_record_counter(
            endpoint=endpoint, log_interval=log_interval
        )
        return self._record_counter

    def get_batch_config(self, config: Mapping[str, Any]) -> None:
        """None, so that the SDK takes its record path: `get_records` writes the BATCH
        messages itself when `batch_config` is set (see `_emit_batches`)."""
        return

    def get_replication_key_signpost(self, context: types.Context | None = None) -> None:
        """No signpost: the bookmark is the job's at/until, never a record's value."""
        return

    def get_records(self, context: types.Context | None) -> Iterable[dict[str, Any]]:
        """Emit the table (records go out directly, see the module docstring)."""
        plan = self._dap_tap.run_plan(self.name)
        error: TapDapError | None = None
        try:
            self._replicate(plan.table(self.name))
        except TapDapError as failure:
            error = failure
            self.logger.error("%s failed: %s", self.name, failure)
        finally:
            self._dap_tap.output.flush()
            plan.finish(self.name, error)
        return ()

    # The job

    def _replicate(self, table: TableRun) -> None:
        state = self.get_context_state(None)
        drop_starting_marker(state)
        bookmark = Bookmark.from_state(state)
        log = ProgressLog(self.logger, self.name)
        while True:
            job = table.wait_job(log.waiting)
            running = self._job_progress(job, bookmark, table)
            self._ensure_schema(job.schema_version, bookmark)
            self._save(bookmark.with_job(running))
            log.emitting(job, running.kind, len(job.objects) - running.files_emitted)
            try:
                done = self._emit_files(table, job, running, bookmark, log)
            except JobExpiredError as expired:
                self.logger.warning("%s: %s; starting the table's job over", self.name, expired)
                table.restart(str(expired))
                bookmark = bookmark.with_job(None)
                continue
            break
        if done is None:
            return  # a dry run stopped at its record limit: the bookmark stays
        if done.kind == SNAPSHOT and self._dap_tap.settings.emit_activate_version:
            assert done.table_version is not None
            self._dap_tap.write_message(
                ActivateVersionMessage(stream=self.name, version=done.table_version)
            )
        self._save(bookmark.completed(done))
        log.summary(done.kind, done.schema_version, done.table_version)

    def _emit_files(
        self,
        table: TableRun,
        job: Job,
        running: JobProgress,
        bookmark: Bookmark,
        log: ProgressLog,
    ) -> JobProgress | None:
        """Write the job's remaining files, a STATE after each; None if a dry run's record
        limit (`ABORT_AT_RECORD_COUNT`) cut it short."""
        limit = self.ABORT_AT_RECORD_COUNT
        batch = self._dap_tap.settings.batch
        if batch is not None and limit is None:
            return self._emit_batches(table, job, running, bookmark, log)
        encoder = RecordEncoder(
            self.name, running.table_version, self._deselected_fields(), job.at or job.until
        )
        write_records = self._dap_tap.output.write_records
        for object_id, describe, decoded in table.files(job):
            for lines in decoded.blocks():
                block = encode_lines(encoder, lines.data, lines.first_line, describe)
                if limit is not None and log.records + block.records >= limit:
                    self._write_head(block.data, limit - log.records)
                    return None
                write_records(block.data)
                self._count(log, block.records, block.deletes)
            running = self._file_done(object_id, running, bookmark, log)
        return running

    def _emit_batches(
        self,
        table: TableRun,
        job: Job,
        running: JobProgress,
        bookmark: Bookmark,
        log: ProgressLog,
    ) -> JobProgress:
        """Write the job's remaining files as batch files, in parallel, then one BATCH
        message and the same STATE as RECORD mode for each, in order."""
        batch = self._dap_tap.settings.batch
        assert batch is not None
        dropped = tuple(self._deselected_fields())
        layout = None
        if batch.parquet:
            try:
                layout = parquet_layout(self._selected_schema(), self.primary_keys)
            except NoParquetTypeError as untyped:
                self.logger.warning(
                    "%s: column(s) %s have no Parquet type (an object open to undeclared "
                    "members, a mixed anyOf or no type): this job's batch files are JSONL",
                    self.name,
                    ", ".join(untyped.columns),
                )
        encoding = batch_encoding(parquet=layout is not None, gzip=batch.gzip)
        version = running.table_version

        def task_for(index: int, describe: str) -> BatchFileTask:
            return BatchFileTask(
                target=batch_path(batch, self.name, job.id, index, parquet=layout is not None),
                gzip=batch.gzip,
                dropped_fields=dropped,
                default_ts=job.at or job.until,
                describe=describe,
                parquet=layout,
                version=version,
            )

        for object_id, _, written in table.batch_files(job, task_for):
            result = written.result()
            self._dap_tap.write_message(
                BatchMessage(
                    stream=self.name,
                    encoding=encoding,
                    manifest=[result.path.as_uri()],
                    version=version,
                )
            )
            self._count(log, result.records, result.deletes)
            running = self._file_done(object_id, running, bookmark, log)
        return running

    def _count(self, log: ProgressLog, records: int, deletes: int) -> None:
        log.block(records, deletes)
        if self._record_counter is not None:
            self._record_counter.increment(records)

    def _file_done(
        self, object_id: str, running: JobProgress, bookmark: Bookmark, log: ProgressLog
    ) -> JobProgress:
        """A file is out: the STATE that counts it (a resumed run starts after it)."""
        running = running.after_file(object_id)
        self._save(bookmark.with_job(running))
        log.file_done()
        return running

    def _job_progress(self, job: Job, bookmark: Bookmark, table: TableRun) -> JobProgress:
        """Continue the job the state was emitting, or start one with the right table version."""
        kind = SNAPSHOT if job.at is not None else INCREMENTAL
        resumed = bookmark.job
        if resumed is not None and resumed.id == job.id:
            skip = table.skip_for(job)
            return JobProgress(
                id=job.id,
                kind=kind,
                at=job.at,
                since=job.since,
                until=job.until,
                schema_version=job.schema_version,
                table_version=resumed.table_version,
                files_emitted=skip,
                last_object=job.objects[skip - 1] if skip else None,
            )
        table_version = bookmark.table_version
        if kind == SNAPSHOT:
            table_version = max(int(time.time() * 1000), (table_version or 0) + 1)
        return JobProgress(
            id=job.id,
            kind=kind,
            at=job.at,
            since=job.since,
            until=job.until,
            schema_version=job.schema_version,
            table_version=table_version,
        )

    # Messages

    def _ensure_schema(self, job_version: int | None, bookmark: Bookmark) -> None:
        """Send a new SCHEMA before records of a schema version the target has not seen."""
        known = self.schema_version if self.schema_version is not None else bookmark.schema_version
        if job_version is not None and job_version == known:
            return
        fetched = self._dap_tap.client.get_schema(self.namespace, self.table)
        translated = translate(fetched.schema, fetched.version, table=self.name)
        changed = translated.schema != self.schema
        self.logger.info(
            "%s: DAP schema version %s (was %s)%s",
            self.name,
            fetched.version,
            known,
            ": sending the new schema" if changed else "",
        )
        self.schema_version = fetched.version
        if changed:
            replace_schema(self, translated.schema)
            self.primary_keys = translated.key_properties
            self._dap_tap.write_message(
                SchemaMessage(
                    stream=self.name,
                    schema=self._selected_schema(),
                    key_properties=self.primary_keys,
                    bookmark_properties=[DAP_TS],
                )
            )

    def start_from(self, bookmark: Bookmark) -> None:
        """Take a bookmark from elsewhere (an adopted database) as the stream's own."""
        bookmark.write_to(self.get_context_state(None))

    def _save(self, bookmark: Bookmark) -> None:
        """Put the bookmark into the tap state and send a STATE message."""
        bookmark.write_to(self.get_context_state(None))
        self._dap_tap.state_writer.write_state(self.tap_state)

    def _write_head(self, data: bytes, count: int) -> None:
        """The first `count` RECORD lines of a block (for the SDK's dry runs)."""
        if count > 0:
            lines = data.split(b"\n", count)[:count]
            self._dap_tap.output.write_records(b"\n".join(lines) + b"\n")

    # Selection

    def _deselected_fields(self) -> list[str]:
        """Value fields the catalog deselected (records then go the slow path without them)."""
        fixed = {*self.primary_keys, *METADATA_PROPERTIES}
        return [
            name
            for name in self.schema.get("properties", {})
            if name not in fixed and not self.mask.get(("properties", name), True)
        ]

    def _selected_schema(self) -> dict[str, Any]:
        dropped = set(self._deselected_fields())
        properties = self.schema.get("properties", {})
        return {
            **self.schema,
            "properties": {name: spec for name, spec in properties.items() if name not in dropped},
        }
