"""TapDap: settings, discovery and the wiring of one run.

Discovery costs one table list per namespace and one schema request per table. A run
with a catalog builds its streams from the catalog and asks the API nothing for tables
that are not selected.
"""

from __future__ import annotations

import atexit
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import IO, Any
from urllib.parse import urlsplit

import click
import urllib3
from singer_sdk import Stream
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.singerlib import Catalog

from tap_dap import redaction
from tap_dap.api.client import DapClient
from tap_dap.errors import ConfigError, TapDapError
from tap_dap.plan.adoption import official_bookmarks
from tap_dap.plan.bookmarks import Bookmark
from tap_dap.plan.jobs import TableRef
from tap_dap.plan.planner import PlannedTable, RunPlan
from tap_dap.sdk_compat import TapWithAfterRun
from tap_dap.settings import CONFIG_SCHEMA, MAPPER_SETTINGS, Settings
from tap_dap.singer.output import SingerOutput
from tap_dap.singer.schema import translate, version_of
from tap_dap.streams import DapStream, stream_id


@contextmanager
def _one_line_errors(logger: logging.Logger) -> Iterator[None]:
    """Print a `TapDapError` as one line and exit 1, without a traceback."""
    try:
        yield
    except TapDapError as error:
        logger.error("%s", error)
        sys.exit(1)


class TapDap(TapWithAfterRun):
    """Singer tap for Instructure's Data Access Platform (DAP) Query API."""

    name = "tap-dap"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = SingerOutput
    # No stream maps or flattening: records skip the SDK's per-record path (speed), so
    # they would change the SCHEMA and not the records. They are refused (setup_mapper).
    capabilities = [  # noqa: RUF012
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.BATCH,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._plan: RunPlan | None = None
        redaction.install(self._secrets)
        super().__init__(*args, **kwargs)

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict[str, Any]) -> None:
        """The SDK's built-in settings but its mapping ones, which the SDK adds whatever the
        capabilities say."""
        super().append_builtin_config(config_jsonschema)
        for name in MAPPER_SETTINGS:
            config_jsonschema["properties"].pop(name, None)

    def setup_mapper(self) -> None:
        """Resolve the settings first: they refuse stream maps and flattening before the
        SDK's mapper would apply them to the schema."""
        _ = self.settings
        super().setup_mapper()

    # Wiring

    @cached_property
    def settings(self) -> Settings:
        """The resolved settings."""
        return Settings.from_config(self.config)

    @cached_property
    def client(self) -> DapClient:
        """The API client, shared by discovery and the run."""
        if self.settings.verify is False:
            self.logger.warning(
                "verify_tls is off: TLS certificates are NOT verified, so anyone on the "
                "network path can read the DAP credentials and data"
            )
            # said once here; urllib3 would repeat it for every request
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return DapClient(self.settings)

    @property
    def output(self) -> SingerOutput:
        """The writer that owns stdout."""
        assert isinstance(self.message_writer, SingerOutput)
        return self.message_writer

    def run_plan(self, stream: str) -> RunPlan:
        """The plan of the current run, started when the first stream asks for it."""
        if self._plan is None or stream not in self._plan:
            if self._plan is not None:
                self._plan.close()
            self._plan = self._new_plan()
            self._plan.start()
        return self._plan

    def _new_plan(self) -> RunPlan:
        bookmarks = self.state.get("bookmarks", {})
        selected = [s for s in self.streams.values() if s.selected and isinstance(s, DapStream)]
        found = {s.name: Bookmark.from_state(bookmarks.get(s.name, {})) for s in selected}
        self._adopt([s for s in selected if found[s.name] == Bookmark()], found)
        tables = [
            PlannedTable(
                TableRef(stream.name, stream.namespace, stream.table, order), found[stream.name]
            )
            for order, stream in enumerate(selected)
        ]
        plan = RunPlan(self.client, self.settings, tables)
        atexit.register(plan.close)
        return plan

    def _adopt(self, fresh: list[DapStream], bookmarks: dict[str, Bookmark]) -> None:
        """Streams without a bookmark start where the official client stopped, where
        `adopt_from` names its database and its meta-table lists them."""
        if not fresh or not self.settings.adopt_from:
            return
        adopted = official_bookmarks(
            self.settings.adopt_from, {(s.namespace, s.table) for s in fresh}
        )
        for stream in fresh:
            bookmark = adopted.get((stream.namespace, stream.table))
            if bookmark is not None:
                bookmarks[stream.name] = bookmark
                stream.start_from(bookmark)

    def _secrets(self) -> list[str | None]:
        """What must never reach a log (read defensively: logging starts before config)."""
        config = getattr(self, "config", {})
        secrets: list[str | None] = [config.get("client_secret"), config.get("adopt_from")]
        secrets.append(urlsplit(config.get("adopt_from") or "").password)
        if "settings" in self.__dict__:
            secrets.append(self.settings.client_secret)
        if "client" in self.__dict__:
            secrets.append(self.client.auth.current)
        return secrets

    def after_run(self) -> None:
        """After the last stream (of a sync or a dry run): the usage line, then fail if a
        table failed. A failed table does not stop the others, so each stream records its
        failure and the run reports them all here, after everything else was emitted."""
        if "client" in self.__dict__:
            self.logger.info("%s", self.client.usage())
        if self._plan is not None:
            self._plan.raise_failures()

    # Discovery

    def discover_streams(self) -> Sequence[Stream]:
        """Streams from the input catalog if there is one, else from the API."""
        if self.input_catalog is not None:
            return self._streams_from_catalog(self.input_catalog)
        return self._streams_from_api()

    def _streams_from_api(self) -> list[Stream]:
        settings = self.settings
        streams: list[Stream] = []
        found: set[str] = set()
        for namespace in settings.namespaces:
            for table in self.client.list_tables(namespace):
                found.update((table, f"{namespace}.{table}"))
                if not settings.wants_table(namespace, table):
                    continue
                versioned = self.client.get_schema(namespace, table)
                translated = translate(
                    versioned.schema, versioned.version, table=stream_id(namespace, table)
                )
                streams.append(DapStream.from_dap(self, namespace, table, translated))
        missing = [entry for entry in settings.tables if entry not in found]
        if missing:
            raise ConfigError(
                f"tables lists {', '.join(missing)}, not found in namespace(s) "
                f"{', '.join(settings.namespaces)}"
            )
        return streams

    def _streams_from_catalog(self, catalog: Catalog) -> list[Stream]:
        settings = self.settings
        streams: list[Stream] = []
        for entry in catalog.streams:
            namespace, _, table = entry.tap_stream_id.partition("-")
            if not table or namespace not in settings.namespaces:
                continue
            if not settings.wants_table(namespace, table):
                continue
            root = entry.metadata.root
            schema = entry.schema.to_dict()
            streams.append(
                DapStream(
                    self,
                    namespace=namespace,
                    table=table,
                    schema=schema,
                    key_properties=list(entry.key_properties or root.table_key_properties or ()),
                    schema_version=version_of(schema),
                )
            )
        return streams

    # Command line: errors a user can act on are one line, not a traceback

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        state: IO[str] | None = None,
        catalog: IO[str] | None = None,
    ) -> None:
        """Run the tap (see `Tap.invoke`)."""
        with _one_line_errors(cls.logger):
            super().invoke(
                about=about, about_format=about_format, config=config, state=state, catalog=catalog
            )

    @classmethod
    def cb_discover(
        cls,
        ctx: click.Context,
        param: click.Option,
        value: bool,
    ) -> None:
        """Run discovery (see `Tap.cb_discover`)."""
        with _one_line_errors(cls.logger):
            super().cb_discover(ctx, param, value)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """Run the connection test (see `Tap.cb_test`)."""
        with _one_line_errors(cls.logger):
            super().cb_test(ctx, param, value)
