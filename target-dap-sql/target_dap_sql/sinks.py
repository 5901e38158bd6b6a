"""The sink: one stream's table, its staging and its batch lifecycle (no database branches).

`setup` creates or evolves the table (committed before any data of the new shape);
records are staged as they arrive; a drain hands the batch to the loader, whose worker
merges it in one transaction while the next batch stages on the other connection.
"""

from __future__ import annotations

import dataclasses
import typing as t

from singer_sdk.sinks import BatchSink

from target_dap_sql.batch_files import BatchFiles, BatchFilesStage
from target_dap_sql.columns import table_spec
from target_dap_sql.errors import TargetError
from target_dap_sql.identifiers import split_stream_id
from target_dap_sql.settings import schema_default

if t.TYPE_CHECKING:
    from target_dap_sql.dialects.base import LoadTable, Stage
    from target_dap_sql.target import TargetDapSql


class DapSqlSink(BatchSink):
    """Loads one stream into one table through its dialect."""

    #: The SDK's batch size when `batch_size_rows` is null (it fills in the default otherwise).
    MAX_SIZE_DEFAULT = schema_default("batch_size_rows")

    def __init__(
        self,
        target: TargetDapSql,
        stream_name: str,
        schema: dict[str, t.Any],
        key_properties: t.Sequence[str] | None,
    ) -> None:
        self.target = target
        super().__init__(target, stream_name, schema, key_properties)
        self.table: LoadTable
        self.stages: list[Stage] = []
        self.lane = 0  # batches alternate between the loader's connections
        self.fast_records = 0  # staged by the fast path, counted in metrics per batch
        # read once: is_full is asked after every record
        self.max_batch_bytes = int(self.config["batch_size_bytes"])

    # The SDK strips `_sdc_*` fields unless `add_record_metadata` is on, which would drop a
    # tap's `_sdc_deleted_at` (meltano/sdk#3444). Our metadata columns are our own: keep the
    # stream's fields and schema exactly as sent (private SDK hooks: see sdk_compat.SEAMS).
    @property
    def include_sdc_metadata_properties(self) -> bool:
        return False

    def _remove_sdc_metadata_from_schema(self) -> None:
        return None

    def _remove_sdc_metadata_from_record(self, record: dict[str, t.Any]) -> None:
        return None

    @property
    def is_full(self) -> bool:
        """Full by rows (`batch_size_rows`) or by the bytes DuckDB must read at once."""
        return super().is_full or self.stage.spooled_bytes >= self.max_batch_bytes

    @property
    def stage(self) -> Stage:
        return self.stages[self.lane]

    def setup(self) -> None:
        loader = self.target.loader
        default_schema = self.config.get("default_target_schema") or loader.default_schema
        schema_name, table_name = split_stream_id(self.stream_name, default_schema)
        properties = self.schema.get("properties") or {}
        missing = [k for k in self.key_properties if k not in properties]
        if missing:
            raise TargetError(
                f"stream {self.stream_name!r}: key properties {missing} are not in the schema"
            )
        spec = table_spec(
            stream=self.stream_name,
            schema_name=schema_name,
            table_name=table_name,
            json_schema=self.schema,
            key_properties=self.key_properties,
            enum_as_text=self.target.load_options.enum_as_text,
        )
        self.table, self.stages = loader.prepare_table(spec)

    def stage_raw(self, line: int, version: int | None, record: t.Any) -> None:
        """Fast path: the record as the reader left it (raw JSON or a dict)."""
        stage = self.stages[self.lane]
        if not stage.ready.is_set():  # its previous batch is still merging
            stage.ready.wait()
        stage.add(line, version, record)
        self.tally_record_read()
        self.fast_records += 1

    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        """SDK path (validation or stream maps on): the record as the SDK left it."""
        stage = self.stage
        stage.ready.wait()
        stage.add(self.target.current_line, self.target.current_version, record)

    def process_batch(self, context: dict[str, t.Any]) -> None:
        stage = self.stage
        if stage.empty:
            return
        self.target.loader.merge(self.table, self.lane, stage)
        self.lane = (self.lane + 1) % len(self.stages)
        self.record_counter_metric.increment(self.fast_records)
        self.fast_records = 0
        self.logger.debug("Queued %s for %s", stage.describe(), self.table.spec.display_name)

    def stage_batch(self, batch: BatchFiles) -> None:
        """BATCH files merge after the records before them, one file per merge.

        One file at a time keeps DuckDB's memory to one reader's buffers: two large gzip
        files read at once ran out of the default `duckdb_memory_limit` (measured).
        """
        self.target.drain_one(self)
        for path in batch.paths:
            stage = self.stage
            stage.ready.wait()
            assert isinstance(stage, BatchFilesStage)
            stage.add_files(dataclasses.replace(batch, paths=(path,)))
            self.fast_records += stage.parquet_rows  # counted in the metrics like records
            self.process_batch({})

    def activate_version(self, new_version: int) -> None:
        self.target.drain_one(self)  # records before the message belong to older state
        self.target.loader.sweep_versions(self.table, new_version)
        self.logger.info("Activated version %s of %s", new_version, self.table.spec.display_name)

    def clean_up(self) -> None:
        if self.stages:
            self.target.loader.drop_stages(self.table, self.stages)
        super().clean_up()
