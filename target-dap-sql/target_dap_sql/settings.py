"""The target's settings: declared once, with their defaults, in the schema `--about` lists.

The SDK fills every default of `CONFIG_SCHEMA` into the target's (and each sink's) config
before anything reads it, so code reads `config[name]` and never states a default again;
what JSON Schema can check (types, enums, minimums) it states here too, and the SDK
refuses a config that breaks it, naming the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from singer_sdk import typing as th

from target_dap_sql.dialects.base import LoadMethod, LoadOptions

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
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
        th.IntegerType(minimum=1),
        default=100_000,
        description=(
            "Records per stream merged in one transaction. Staging streams to the "
            "database (or a file), so memory stays flat whatever the size; larger "
            "batches mean fewer, longer merges."
        ),
    ),
    th.Property(
        "batch_size_bytes",
        th.IntegerType(minimum=1),
        # DuckDB reads a spooled batch at once: its memory follows the batch's bytes, not rows
        default=64 * 1024 * 1024,
        description=(
            "DuckDB and MySQL databases: a batch is also merged once its records' JSON "
            "reaches this many bytes, so that wide rows (large texts) never need more "
            "memory than duckdb_memory_limit to read and merge."
        ),
    ),
    th.Property(
        "duckdb_memory_limit",
        th.StringType,
        description=(
            "Memory DuckDB's buffer manager may use (such as 256MB; DuckDB's own default "
            "is 80% of RAM): for the database itself (a DuckDB database) and for reading "
            "batches (DuckDB and MySQL databases, and Parquet files for PostgreSQL); "
            "batches spill to a temporary directory beyond it. Unset: 112MB while the "
            "batches are Parquet files, 512MB from the first batch of records or JSON "
            "lines files on (DuckDB's JSON reader needs more), and a batch that runs out "
            "of memory under 112MB is redone under 512MB."
        ),
    ),
    th.Property(
        "duckdb_threads",
        th.IntegerType(minimum=1),
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


def schema_default(name: str) -> Any:
    """A setting's declared default, for the one place the SDK does not fill it in."""
    return CONFIG_SCHEMA["properties"][name]["default"]


def load_options(config: Mapping[str, Any]) -> LoadOptions:
    """The settings the dialects act on, from a config the SDK filled with the defaults."""
    return LoadOptions(
        load_method=LoadMethod(config["load_method"]),
        hard_delete=bool(config["hard_delete"]),
        enum_as_text=config["enum_as"] == "text",
        duckdb_memory_limit=config.get("duckdb_memory_limit") or None,
        duckdb_threads=int(config["duckdb_threads"]),
        delete_batch_files=bool(config["delete_batch_files"]),
        mysql_namespace_as=str(config["mysql_namespace_as"]),
    )
