"""target-dap-sql: settings, message routing and the record fast path."""

from __future__ import annotations

import copy
import functools
import gc
import sys
import typing as t

import click
import orjson
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import SingerSDKError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_dap_sql.batch_files import BatchFiles, batch_records, local_path
from target_dap_sql.dialects import dialect_class_for, parse_database_url
from target_dap_sql.dialects.base import LoadMethod, LoadOptions
from target_dap_sql.errors import RecordBeforeSchemaError, TargetError
from target_dap_sql.loader import Loader
from target_dap_sql.reader import SingerLineReader
from target_dap_sql.sinks import DapSqlSink

if t.TYPE_CHECKING:
    from singer_sdk.sinks import Sink


class TargetDapSql(Target):
    """Creates, evolves and merges SQL tables (PostgreSQL, DuckDB, MySQL/MariaDB) from any
    Singer stream."""

    name = "target-dap-sql"
    default_sink_class = DapSqlSink
    message_reader_class = SingerLineReader
    capabilities: t.ClassVar[list[t.Any]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.STRUCTURED_LOGGING,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.HARD_DELETE,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "database_url",
            th.StringType,
            default="duckdb:///dap.duckdb",
            secret=True,
            description=(
                "Where to load: `postgresql://user:password@host:port/database` (psycopg 3), "
                "`duckdb:///path/file.duckdb` (created when missing) or "
                "`mysql://user:password@host:port/database` (also `mariadb://`; MySQL 8 or "
                "MariaDB 10.6+, the database must exist, the server must allow "
                "local_infile; options ssl_ca, ssl_cert, ssl_key, ssl_verify_cert, "
                "ssl_verify_identity as query parameters). The default is the DuckDB file "
                "`dap.duckdb` in the working directory. The password is never printed."
            ),
        ),
        th.Property(
            "default_target_schema",
            th.StringType,
            description=(
                "Schema for streams whose id has no `schema-` part (stream `canvas-accounts` "
                "loads into `canvas.accounts`; stream `users` into this schema). Default: "
                "`public` on PostgreSQL, `main` on DuckDB. MySQL has no schemas inside a "
                "database: `canvas-accounts` loads into table `canvas__accounts` of the "
                "URL's database (the official DAP client's names), `users` into `users` "
                "(or `<this setting>__users` when set)."
            ),
        ),
        th.Property(
            "hard_delete",
            th.BooleanType,
            default=False,
            description=(
                "false: a record with `_sdc_deleted_at` set marks its row deleted (the other "
                "columns stay); ACTIVATE_VERSION marks rows of older versions deleted. "
                "true: such rows are removed."
            ),
        ),
        th.Property(
            "load_method",
            th.StringType,
            default=LoadMethod.UPSERT.value,
            allowed_values=[m.value for m in LoadMethod],
            description=(
                "`upsert`: merge by the stream's key (the last record of a key wins; "
                "streams without a key are appended). `append-only`: insert every record "
                "as a new row (the table gets no primary key). `overwrite`: empty the table "
                "at the first batch of a run, then upsert."
            ),
        ),
        th.Property(
            "enum_as",
            th.StringType,
            default="native",
            allowed_values=["native", "text"],
            description=(
                "String enums as native enum types named `table__column` in the table's "
                "schema (as the official DAP client does; MySQL: an inline ENUM column), "
                "or as plain text."
            ),
        ),
        th.Property(
            "mysql_namespace_as",
            th.StringType,
            default="prefix",
            allowed_values=["prefix", "database"],
            description=(
                "MySQL has no schemas inside a database. `prefix`: stream `canvas-accounts` "
                "loads into table `canvas__accounts` of the URL's database (the official "
                "DAP client's names; no CREATE DATABASE right needed). `database`: into "
                "table `accounts` of database `canvas` (created when missing)."
            ),
        ),
        th.Property(
            "batch_size_rows",
            th.IntegerType,
            default=DapSqlSink.MAX_SIZE_DEFAULT,
            description=(
                "Records per stream merged in one transaction. Staging streams to the "
                "database (or a file), so memory stays flat whatever the size; larger "
                "batches mean fewer, longer merges."
            ),
        ),
        th.Property(
            "batch_size_bytes",
            th.IntegerType,
            default=DapSqlSink.MAX_BYTES_DEFAULT,
            description=(
                "DuckDB and MySQL databases: a batch is also merged once its records' JSON "
                "reaches this many bytes, so that wide rows (large texts) never need more "
                "memory than duckdb_memory_limit to read and merge."
            ),
        ),
        th.Property(
            "duckdb_memory_limit",
            th.StringType,
            default="512MB",
            description=(
                "Memory DuckDB's buffer manager may use: for the database itself (a DuckDB "
                "database) and for reading batches (DuckDB and MySQL databases; DuckDB's own "
                "default is 80% of RAM). Larger batches spill to a temporary directory "
                "beyond it."
            ),
        ),
        th.Property(
            "duckdb_threads",
            th.IntegerType,
            default=2,
            description=(
                "Threads DuckDB uses to read (and, for a DuckDB database, merge) each "
                "batch; for MySQL, to turn each batch into the CSV the server loads. Python "
                "reads the input on its own thread meanwhile."
            ),
        ),
        th.Property(
            "delete_batch_files",
            th.BooleanType,
            default=False,
            description=(
                "Delete the files of a BATCH message once their rows are committed "
                "(the tap wrote them for this target alone)."
            ),
        ),
        th.Property(
            "validate_records",
            th.BooleanType,
            default=False,
            description=(
                "Validate each record against its JSON schema in Python before loading. "
                "Off by default: the database checks every value's type anyway, and "
                "validation costs most of a Singer target's time."
            ),
        ),
    ).to_dict()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict[str, t.Any]) -> None:
        """The SDK's settings, less `add_record_metadata`: our `_sdc_*` columns are fixed."""
        super().append_builtin_config(config_jsonschema)
        config_jsonschema["properties"].pop("add_record_metadata", None)

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.max_parallelism = 1  # drains only queue merges; the loader's worker runs them
        self._loader: Loader | None = None
        self.current_version: int | None = None
        self._url = parse_database_url(str(self.config.get("database_url", "duckdb:///dap.duckdb")))
        self._fast_path = not (
            self.config.get("validate_records", False)
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
            options = LoadOptions(
                load_method=LoadMethod(self.config.get("load_method", "upsert")),
                hard_delete=bool(self.config.get("hard_delete", False)),
                enum_as_text=self.config.get("enum_as", "native") == "text",
                duckdb_memory_limit=str(self.config.get("duckdb_memory_limit", "512MB")),
                duckdb_threads=int(self.config.get("duckdb_threads", 2)),
                delete_batch_files=bool(self.config.get("delete_batch_files", False)),
                mysql_namespace_as=str(self.config.get("mysql_namespace_as", "prefix")),
            )
            self._loader = Loader(self._url, options)
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
        existing = self._sinks_active.get(stream_name)
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
        sink = self._sinks_active.get(stream)
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
        sink = self._sinks_active.get(stream)
        if sink is None:
            sink = self._sink_for(stream, "RECORD")
        sink.stage_raw(self.current_line, version, record)  # type: ignore[attr-defined]
        if sink.is_full:
            self.drain_one(sink)
        self._handle_max_record_age()

    def _process_record_message(self, message_dict: dict[str, t.Any]) -> None:
        """The SDK's per-record path, for validation, stream maps and flattening."""
        self._sink_for(message_dict["stream"], "RECORD")
        self.current_version = message_dict.get("version")
        if not isinstance(message_dict["record"], dict):
            message_dict["record"] = orjson.loads(bytes(message_dict["record"]))
        super()._process_record_message(message_dict)

    def _process_batch_message(self, message_dict: dict[str, t.Any]) -> None:
        """Load a BATCH message's files: by DuckDB's reader, or record by record (SDK path)."""
        stream = str(message_dict.get("stream"))
        sink = self._sink_for(stream, "BATCH")
        encoding = message_dict.get("encoding") or {}
        kind = encoding.get("format", "jsonl")
        compression = encoding.get("compression") or "none"
        if kind != "jsonl" or compression not in ("gzip", "none"):
            raise TargetError(
                f"stream {stream!r}: BATCH files of format {kind!r} with compression "
                f"{compression!r} are not supported; use jsonl, gzip or none"
            )
        batch = BatchFiles(
            line=self.current_line,
            version=message_dict.get("version"),
            paths=tuple(local_path(str(url)) for url in message_dict.get("manifest") or ()),
            compression=compression,
        )
        if self._fast_path:
            sink.stage_batch(batch)
        else:
            for record in batch_records(batch):
                self._process_record_message(
                    {"stream": stream, "record": record, "version": batch.version}
                )
        self._handle_max_record_age()

    def _process_schema_message(self, message_dict: dict[str, t.Any]) -> None:
        """Merge what other streams hold before a new stream starts.

        A tap that emits its streams one after another has finished them; their last
        records (fewer than a batch) would otherwise stay unmerged until the end of the
        input, and every STATE after them would be held back with them.
        """
        stream = message_dict["stream"]
        for name, sink in list(self._sinks_active.items()):
            if name != stream and sink.current_size:
                self.drain_one(sink)
        super()._process_schema_message(message_dict)

    def _process_state_message(self, message_dict: dict[str, t.Any]) -> None:
        """Pass a STATE on at once when no sink holds records (all before it are committed).

        The SDK otherwise holds it until the next full drain (at most every 5 minutes), so
        a crash would lose bookmarks of tables that were already loaded.
        """
        super()._process_state_message(message_dict)
        if self._latest_state and not any(
            sink.current_size for sink in (*self._sinks_active.values(), *self._sinks_to_clear)
        ):
            self._write_state_message(copy.deepcopy(self._latest_state))
            self._latest_state = None

    def _process_activate_version_message(self, message_dict: dict[str, t.Any]) -> None:
        stream = message_dict["stream"]
        if stream not in self.mapper.stream_maps:
            raise RecordBeforeSchemaError(
                f"ACTIVATE_VERSION for stream {stream!r} arrived before its SCHEMA message"
            )
        if not self.config.get("process_activate_version_messages", True):
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
            click.echo(f"{cls.name}: error: {where}{error}", err=True)
            sys.exit(1)
