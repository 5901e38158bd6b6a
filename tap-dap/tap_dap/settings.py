"""The tap's settings: the declared schema (what `--about` lists) and their resolved form.

Defaults, minimums and allowed values are stated in the schema and nowhere else: the SDK
fills in defaults and checks the rest when it validates the config, and `from_config`
reads a default it has to supply itself from the schema (`_with_defaults`).

Credentials and the API URL fall back to the environment variables of the official DAP
client (`DAP_CLIENT_ID`, `DAP_CLIENT_SECRET`, `DAP_API_URL`), so they carry no schema
default: a default would always win over the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from singer_sdk import typing as th

from tap_dap.errors import ConfigError

PUBLIC_API_URL = "https://api-gateway.instructure.com"

SNAPSHOT_POLICIES = ("snapshot", "fail")
CREATE_JOB_SCOPES = ("table", "account")

#: The SDK's mapping settings. tap-dap's records bypass the SDK's per-record path, so
#: these would change the SCHEMA and not the records: they are refused, not offered.
MAPPER_SETTINGS = (
    "stream_maps",
    "stream_map_config",
    "faker_config",
    "flattening_enabled",
    "flattening_max_depth",
    "flattening_max_key_length",
    "flattening_separator",
)

_STRING_OR_LIST = th.CustomType(
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "client_id",
        th.StringType,
        description="DAP client ID (from the Instructure Identity Service). "
        "Falls back to the DAP_CLIENT_ID environment variable.",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        description="DAP client secret. Falls back to the DAP_CLIENT_SECRET environment variable.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        description="Base URL of the DAP API. Falls back to the DAP_API_URL environment "
        f"variable, then to {PUBLIC_API_URL}.",
    ),
    th.Property(
        "namespace",
        _STRING_OR_LIST,
        default="canvas",
        description="DAP namespace(s) to replicate: a name, a comma-separated list or a "
        "list (e.g. canvas, canvas_logs). Streams are named '<namespace>-<table>'.",
    ),
    th.Property(
        "tables",
        _STRING_OR_LIST,
        description="Tables to replicate (default: every table of the namespaces). "
        "Entries are 'table' or 'namespace.table'; catalog selection narrows further.",
    ),
    th.Property(
        "on_snapshot_required",
        th.StringType,
        default="snapshot",
        allowed_values=list(SNAPSHOT_POLICIES),
        description="What to do when DAP answers SnapshotRequired or OutOfRange to an "
        "incremental query: 'snapshot' takes a new snapshot (rows it no longer has are "
        "removed on ACTIVATE_VERSION), 'fail' fails the table with a message.",
    ),
    th.Property(
        "emit_activate_version_messages",
        th.BooleanType,
        default=True,
        description="Send ACTIVATE_VERSION after the last record of each snapshot, so that "
        "targets remove rows the snapshot no longer has. Turn off for targets that "
        "cannot handle the message.",
    ),
    th.Property(
        "create_job_limit_scope",
        th.StringType,
        default="table",
        allowed_values=list(CREATE_JOB_SCOPES),
        description="Whether DAP's create-job rate limit counts per table ('table') or per "
        "account ('account'); with 'account' job submissions are spread out.",
    ),
    th.Property(
        "rate_limits",
        th.ObjectType(
            # DAP's documented limits by default
            *(
                th.Property(
                    endpoint,
                    th.IntegerType(minimum=1),
                    default=limit,
                    description=f"Requests per minute to DAP's {endpoint} endpoint.",
                )
                for endpoint, limit in (
                    ("create_job", 5),
                    ("list_tables", 5),
                    ("get_job", 500),
                    ("get_schema", 500),
                    ("object_urls", 200),
                )
            ),
            additional_properties=False,
        ),
        description="Requests per minute the tap allows itself per endpoint (create_job, "
        "list_tables, get_job, get_schema, object_urls); DAP's documented limits by "
        "default. The tap keeps under them so that a normal run draws no HTTP 429.",
    ),
    th.Property(
        "adopt_from",
        th.StringType,
        secret=True,
        description="Database that the official DAP CLI (dap initdb / dap syncdb) filled, "
        "as postgresql://user:password@host:port/database or mysql://... (mariadb://...): "
        "a table with no bookmark yet that its meta-table lists starts with an increment "
        "from where the official client stopped, with no snapshot. Needs tap-dap's "
        "'postgresql' or 'mysql' extra. The meta-table is only read.",
    ),
    th.Property(
        "max_concurrent_downloads",
        th.IntegerType(minimum=1),
        default=4,
        description="Files downloaded at the same time, across all tables.",
    ),
    th.Property(
        "decode_workers",
        th.IntegerType(minimum=1),
        default=2,
        description="Threads that decompress and convert downloaded files; a table's next "
        "files are decoded while its current one is written. With batch_config, the number "
        "of batch files written at the same time (2 uses both cores of a 2-core machine).",
    ),
    th.Property(
        "spool_dir",
        th.StringType,
        description="Directory for downloaded files waiting to be emitted (default: the "
        "system temporary directory). Files are removed once emitted.",
    ),
    th.Property(
        "spool_max_bytes",
        th.IntegerType,
        default=2 * 1024**3,
        description="Disk budget for files downloaded ahead of the table being emitted; "
        "the files of the table being emitted are always downloaded.",
    ),
    th.Property(
        "poll_interval",
        th.NumberType,
        default=0.5,
        description="Seconds before the first status check of a query job; the interval "
        "grows by half each time, up to poll_interval_max.",
    ),
    th.Property(
        "poll_interval_max",
        th.NumberType,
        default=30,
        description="Longest wait in seconds between two status checks of a job.",
    ),
    th.Property(
        "job_timeout",
        th.NumberType,
        default=6 * 3600,
        description="Seconds a table waits for its query job before it fails.",
    ),
    th.Property(
        "job_retries",
        th.IntegerType,
        default=3,
        description="How often a failed query job (or one that expired mid-download) is "
        "started again before its table fails.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=6,
        description="Retries of one HTTP request after a connection error, a timeout or a "
        "5xx answer (with exponential backoff); also for a cut or broken download.",
    ),
    th.Property(
        "request_timeout",
        th.NumberType,
        default=60,
        description="Seconds to wait for an HTTP connection or for the next bytes of an answer.",
    ),
    th.Property(
        "verify_tls",
        th.BooleanType,
        default=True,
        description="Verify TLS certificates. Turning this off is insecure and logged as a "
        "warning on every run.",
    ),
    th.Property(
        "batch_config",
        th.ObjectType(
            th.Property(
                "encoding",
                th.ObjectType(
                    th.Property(
                        "format",
                        th.StringType,
                        allowed_values=["jsonl", "parquet"],
                        description="Format of the batch files: jsonl (one record a line) or "
                        "parquet (typed columns, converted by Arrow without Python per record).",
                    ),
                    th.Property(
                        "compression",
                        th.StringType,
                        allowed_values=["gzip", "none"],
                        description="Compression of the batch files: gzip or none (default "
                        "none). Parquet files, as the SDK writes them: gzip pages in a file "
                        "named .parquet.gz, or snappy pages (.parquet).",
                    ),
                ),
                description="Format and compression of the batch files.",
            ),
            th.Property(
                "storage",
                th.ObjectType(
                    th.Property(
                        "root",
                        th.StringType,
                        description="Directory for the batch files, as a file:// URL "
                        "(e.g. file:///var/tmp/dap-batches). The target reads them from "
                        "there; removing them after loading is up to the target or you.",
                    ),
                    th.Property(
                        "prefix",
                        th.StringType,
                        description="Prefix of the batch file names.",
                    ),
                ),
                description="Where the batch files are written.",
            ),
        ),
        description="Send BATCH messages instead of RECORD messages (the Singer SDK's "
        "standard setting): each DAP file becomes one JSONL or Parquet batch file, for "
        "targets that load BATCH files.",
    ),
    th.Property(
        "batch_messages",
        th.BooleanType,
        default=True,
        description="With batch_config set, send BATCH messages. false sends RECORD messages "
        "all the same: for a target that reads no BATCH messages, from a Meltano plugin "
        "that inherits a batch_config it cannot unset (tap-dap--records in this project's "
        "meltano.yml).",
    ),
    th.Property(
        "ca_bundle",
        th.StringType,
        description="Path to a CA bundle (PEM) to verify TLS certificates with, e.g. for a "
        "corporate proxy.",
    ),
).to_dict()


def _with_defaults(values: Mapping[str, Any] | None, *path: str) -> dict[str, Any]:
    """The members of the setting object at `path` (the whole config if none) over the
    defaults the schema declares for them. The SDK fills these in when it validates the
    config; this covers an object left out of the config, whose members it cannot fill."""
    schema: Mapping[str, Any] = CONFIG_SCHEMA
    for name in path:
        schema = schema["properties"][name]
    defaults = {
        name: spec["default"] for name, spec in schema["properties"].items() if "default" in spec
    }
    return {**defaults, **(values or {})}


def _names(setting: str, value: Any) -> tuple[str, ...]:
    """A setting given as a list, a JSON list in a string (what `meltano config set` and
    environment variables hold) or a comma-separated string, as a tuple of names."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"{setting} {value!r} starts like a JSON list but is not one ({error}); give "
                "a name, a comma-separated list such as canvas,canvas_logs, or a JSON list"
            ) from None
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return tuple(str(item).strip() for item in items if str(item).strip())


@dataclass(frozen=True)
class BatchSettings:
    """Where and how BATCH files are written: the SDK's standard `batch_config` setting,
    with what tap-dap supports of it (JSONL or Parquet, gzip or not, a local `file://`
    root)."""

    root: Path
    prefix: str
    gzip: bool
    parquet: bool = False

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> BatchSettings:
        """Read `batch_config`; a part tap-dap does not support is one clear error."""
        # the config schema allows only jsonl or parquet, and gzip or none. No schema
        # default for them: Meltano passes defaults on, so batch_config would never be
        # empty and BATCH mode always on.
        encoding = raw.get("encoding") or {}
        storage = raw.get("storage") or {}
        root = storage.get("root")
        if not root:
            raise ConfigError("batch_config.storage.root is not set: set it to a file:// URL")
        return cls(
            _local_path(str(root)),
            str(storage.get("prefix") or ""),
            gzip=encoding.get("compression") == "gzip",
            parquet=encoding.get("format") == "parquet",
        )


def _local_path(root: str) -> Path:
    """A `file://` URL (or a plain path) as an absolute local path."""
    parsed = urlparse(root)
    if parsed.scheme not in ("", "file"):
        raise ConfigError(
            f"batch_config.storage.root {root!r}: only local file:// roots are supported"
        )
    if parsed.scheme == "":
        return Path(root).resolve()
    # file:///abs/dir, or file://./rel/dir as some SDK examples write a relative root
    host = parsed.netloc if parsed.netloc not in ("", "localhost") else ""
    return Path(url2pathname(host + parsed.path)).resolve()


@dataclass(frozen=True)
class Settings:
    """Resolved settings; the one place that knows setting names and fallbacks."""

    client_id: str | None
    client_secret: str | None
    base_url: str
    namespaces: tuple[str, ...]
    tables: tuple[str, ...]
    on_snapshot_required: str
    emit_activate_version: bool
    create_job_scope: str
    rate_limits: Mapping[str, int]
    max_concurrent_downloads: int
    decode_workers: int
    spool_dir: str | None
    spool_max_bytes: int
    poll_interval: float
    poll_interval_max: float
    job_timeout: float
    job_retries: int
    max_retries: int
    request_timeout: float
    verify: bool | str
    batch: BatchSettings | None = None
    adopt_from: str | None = None

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], environ: Mapping[str, str] = os.environ
    ) -> Settings:
        """Resolve the validated config, with the official client's environment fallbacks."""
        refused = [name for name in MAPPER_SETTINGS if config.get(name)]
        if refused:
            raise ConfigError(
                f"tap-dap does not apply {', '.join(refused)}: its records bypass the SDK's "
                "per-record mapping, so these would change the schema and not the records. "
                "Set them on target-dap-sql, which applies stream maps and flattening to "
                "every record, or put a mapper plugin (such as meltano-map-transformer) "
                "between the tap and the target"
            )
        config = _with_defaults(config)
        namespaces = _names("namespace", config["namespace"])
        if not namespaces:
            raise ConfigError("namespace is empty: set it to a DAP namespace such as canvas")
        ca_bundle = config.get("ca_bundle")
        verify: bool | str = bool(config["verify_tls"])
        if verify and ca_bundle:
            if not os.path.isfile(ca_bundle):
                raise ConfigError(f"ca_bundle {ca_bundle!r} is not a readable file")
            verify = str(ca_bundle)
        return cls(
            client_id=config.get("client_id") or environ.get("DAP_CLIENT_ID") or None,
            client_secret=config.get("client_secret") or environ.get("DAP_CLIENT_SECRET") or None,
            base_url=(
                config.get("base_url") or environ.get("DAP_API_URL") or PUBLIC_API_URL
            ).rstrip("/"),
            namespaces=namespaces,
            tables=_names("tables", config.get("tables")),
            on_snapshot_required=str(config["on_snapshot_required"]),
            emit_activate_version=bool(config["emit_activate_version_messages"]),
            create_job_scope=str(config["create_job_limit_scope"]),
            rate_limits=_with_defaults(config.get("rate_limits"), "rate_limits"),
            max_concurrent_downloads=int(config["max_concurrent_downloads"]),
            decode_workers=int(config["decode_workers"]),
            spool_dir=config.get("spool_dir") or None,
            spool_max_bytes=int(config["spool_max_bytes"]),
            poll_interval=float(config["poll_interval"]),
            poll_interval_max=float(config["poll_interval_max"]),
            job_timeout=float(config["job_timeout"]),
            job_retries=int(config["job_retries"]),
            max_retries=int(config["max_retries"]),
            request_timeout=float(config["request_timeout"]),
            verify=verify,
            batch=BatchSettings.from_config(raw_batch)
            if (raw_batch := config.get("batch_config")) and config["batch_messages"]
            else None,
            adopt_from=config.get("adopt_from") or None,
        )

    def credentials(self) -> tuple[str, str]:
        """The client id and secret, or one line naming the setting that is missing."""
        if not self.client_id:
            raise ConfigError(
                "client_id is not set: set the client_id setting or the DAP_CLIENT_ID "
                "environment variable"
            )
        if not self.client_secret:
            raise ConfigError(
                "client_secret is not set: set the client_secret setting or the "
                "DAP_CLIENT_SECRET environment variable"
            )
        return self.client_id, self.client_secret

    def wants_table(self, namespace: str, table: str) -> bool:
        """Whether the `tables` setting (empty: all) includes this table."""
        return not self.tables or any(
            entry in (table, f"{namespace}.{table}") for entry in self.tables
        )
