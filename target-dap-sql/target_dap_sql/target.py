"""target-dap-sql: message routing and the record fast path (its settings: `settings.py`)."""

from __future__ import annotations

import functools
import gc
import sys
import typing as t

import click
import orjson
from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError, SingerSDKError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_dap_sql import sdk_compat
from target_dap_sql.batch_files import BatchFiles, batch_records, local_path
from target_dap_sql.database_url import redact
from target_dap_sql.dialects import dialect_class_for, parse_database_url
from target_dap_sql.errors import RecordBeforeSchemaError, TargetError
from target_dap_sql.loader import Loader
from target_dap_sql.reader import SingerLineReader
from target_dap_sql.settings import CONFIG_SCHEMA, load_options
from target_dap_sql.sinks import DapSqlSink

if t.TYPE_CHECKING:
    from singer_sdk.sinks import Sink


class TargetDapSql(Target):
    """Creates, evolves and merges SQL tables (PostgreSQL, DuckDB, MySQL/MariaDB) from any
    Singer stream.

    Its `_process_*_message` and `_write_state_message` methods override private SDK
    hooks: `sdk_compat.SEAMS` lists them, with every other SDK seam, and why.
    """

    name = "target-dap-sql"
    default_sink_class = DapSqlSink
    message_reader_class = SingerLineReader
    capabilities: t.ClassVar[list[t.Any]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.BATCH,
        PluginCapabilities.STRUCTURED_LOGGING,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.HARD_DELETE,
    ]

    config_jsonschema = CONFIG_SCHEMA

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict[str, t.Any]) -> None:
        """The SDK's settings, less `add_record_metadata` (our `_sdc_*` columns are fixed)
        and `batch_config` (how a tap writes BATCH files; the target reads whatever the
        BATCH message's encoding says)."""
        super().append_builtin_config(config_jsonschema)
        for name in ("add_record_metadata", "batch_config"):
            config_jsonschema["properties"].pop(name, None)

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.max_parallelism = 1  # drains only queue merges; the loader's worker runs them
        self._loader: Loader | None = None
        self.current_version: int | None = None
        self._stream_sinks = sdk_compat.sinks_by_stream(self)
        self._check_record_age = sdk_compat.record_age_check(self)
        self._url = parse_database_url(str(self.config["database_url"]))
        self.load_options = load_options(self.config)
        self._fast_path = not (
            self.config["validate_records"]
            or self.config.get("stream_maps")
            or self.config.get("flattening_enabled")
        )
        if isinstance(self.message_reader, SingerLineReader):
            dialect_class = dialect_class_for(self._url)
            self.message_reader.raw_records = dialect_class.raw_records
            self.message_reader.strip_nul = not dialect_class.text_holds_nul
            if self._fast_path:
                self.message_reader.record_handler = self._stage_raw_record

    @property
    def loader(self) -> Loader:
        """The database connections and merge worker, opened at the first SCHEMA message."""
        if self._loader is None:
            self._loader = Loader(self._url, self.load_options)
        return self._loader

    @property
    def current_line(self) -> int:
        reader = self.message_reader
        return reader.line_number if isinstance(reader, SingerLineReader) else 0

    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict[str, t.Any] | None = None,
        schema: dict[str, t.Any] | None = None,
        key_properties: t.Sequence[str] | None = None,
    ) -> Sink:
        """Drain a stream's old sink before a new SCHEMA replaces it.

        The SDK would keep the old sink's records until the next full drain, so a full
        new sink could merge newer records first and the older ones would win.
        """
        existing = self._stream_sinks.get(stream_name)
        if (
            schema is not None
            and existing is not None
            and (
                existing.original_schema != schema
                or list(existing.key_properties) != list(key_properties or [])
            )
        ):
            self.drain_one(existing)
        return super().get_sink(
            stream_name, record=record, schema=schema, key_properties=key_properties
        )

    def _sink_for(self, stream: str, what: str) -> DapSqlSink:
        sink = self._stream_sinks.get(stream)
        if sink is None:
            raise RecordBeforeSchemaError(
                f"a {what} for stream {stream!r} arrived before its SCHEMA message"
            )
        assert isinstance(sink, DapSqlSink)
        return sink

    def _stage_raw_record(self, stream: str, record: t.Any, version: int | None) -> None:
        """The fast path: the record (raw or parsed, as the reader gives it) to its stage.

        The SDK path parses timestamps into datetimes, copies the record and checks its
        keys in Python, for every record; the database does all of that in bulk here.
        """
        sink = self._stream_sinks.get(stream)
        if sink is None:
            sink = self._sink_for(stream, "RECORD")
        sink.stage_raw(self.current_line, version, record)  # type: ignore[attr-defined]
        if sink.is_full:
            self.drain_one(sink)
        self._check_record_age()

    def _process_record_message(self, message_dict: dict[str, t.Any]) -> None:
        """The SDK's per-record path, for validation, stream maps and flattening."""
        self._sink_for(message_dict["stream"], "RECORD")
        self.current_version = message_dict.get("version")
        if not isinstance(message_dict["record"], dict):
            message_dict["record"] = orjson.loads(bytes(message_dict["record"]))
        super()._process_record_message(message_dict)

    def _process_batch_message(self, message_dict: dict[str, t.Any]) -> None:
        """Load a BATCH message's files in bulk (each dialect's way), or record by record
        (the SDK path: validation, stream maps)."""
        stream = str(message_dict.get("stream"))
        sink = self._sink_for(stream, "BATCH")
        encoding = message_dict.get("encoding") or {}
        kind = encoding.get("format", "jsonl")
        compression = encoding.get("compression") or "none"
        if kind not in ("jsonl", "parquet") or compression not in ("gzip", "none"):
            raise TargetError(
                f"stream {stream!r}: BATCH files of format {kind!r} with compression "
                f"{compression!r} are not supported; use format jsonl or parquet, "
                "compression gzip or none"
            )
        batch = BatchFiles(
            line=self.current_line,
            version=message_dict.get("version"),
            paths=tuple(local_path(str(url)) for url in message_dict.get("manifest") or ()),
            compression=compression,
            format=kind,
        )
        if self._fast_path:
            sink.stage_batch(batch)
        else:
            for record in batch_records(batch):
                self._process_record_message(
                    {"stream": stream, "record": record, "version": batch.version}
                )
        self._check_record_age()

    def _process_schema_message(self, message_dict: dict[str, t.Any]) -> None:
        """Merge what other streams hold before a new stream starts.

        A tap that emits its streams one after another has finished them; their last
        records (fewer than a batch) would otherwise stay unmerged until the end of the
        input, and every STATE after them would be held back with them.
        """
        stream = message_dict["stream"]
        for name, sink in list(self._stream_sinks.items()):
            if name != stream and sink.current_size:
                self.drain_one(sink)
        super()._process_schema_message(message_dict)

    def _process_state_message(self, message_dict: dict[str, t.Any]) -> None:
        """Pass a STATE on at once when no sink holds records (all before it are committed).

        The SDK otherwise holds it until the next full drain (at most every 5 minutes), so
        a crash would lose bookmarks of tables that were already loaded.
        """
        super()._process_state_message(message_dict)
        if not sdk_compat.records_held(self) and (state := sdk_compat.take_held_state(self)):
            self._write_state_message(state)

    def _process_activate_version_message(self, message_dict: dict[str, t.Any]) -> None:
        stream = message_dict["stream"]
        if stream not in self.mapper.stream_maps:
            raise RecordBeforeSchemaError(
                f"ACTIVATE_VERSION for stream {stream!r} arrived before its SCHEMA message"
            )
        if not self.config["process_activate_version_messages"]:
            self.logger.info("Ignoring ACTIVATE_VERSION for %s (setting is off)", stream)
            return
        for stream_map in self.mapper.stream_maps[stream]:
            sink = self.get_sink(stream_map.stream_alias)
            sink.activate_version(int(message_dict["version"]))

    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        if self._loader is not None:
            self._loader.wait()
        self.close()

    def _write_state_message(self, state: dict[str, t.Any]) -> None:
        """Only after the merges of every record before the STATE are committed."""
        if self._loader is None:
            super()._write_state_message(state)
        else:
            self._loader.after_merges(functools.partial(super()._write_state_message, state))

    def close(self) -> None:
        if self._loader is not None:
            self._loader.close()
            self._loader = None

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        """Run the target; a `TargetError` ends it with one clear line and exit code 1."""
        # Records are short-lived and build no reference cycles: collecting after every
        # 700 new containers (the default) costs about a sixth of the per-record time.
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        try:
            super().invoke(
                about=about, about_format=about_format, config=config, file_input=file_input
            )
        except (TargetError, SingerSDKError, InvalidInputLine) as error:
            notes = "; ".join(getattr(error, "__notes__", []))
            where = f"{notes}: " if notes else ""
            # A config the schema refuses: which setting, and why (a value may hold a URL).
            why = f": {'; '.join(error.errors)}" if isinstance(error, ConfigValidationError) else ""
            click.echo(redact(f"{cls.name}: error: {where}{error}{why}"), err=True)
            sys.exit(1)
