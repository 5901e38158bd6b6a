"""DuckDB, the embedded default: NDJSON staging files read by DuckDB's own JSON reader.

Records go to a staging file as they arrive, untouched (the raw JSON of each record,
wrapped with its input line and table version); at the end of a batch DuckDB parses the
file in parallel with `read_json` and explicit column types, then the shared merge runs.

DuckDB's ALTER limits, and how we live with them:
- enum types cannot grow: the column goes to VARCHAR, the type is recreated with the new
  members, and the column goes back to it (views bind at query time, so they keep working);
- a key (PRIMARY KEY) column cannot change type: the table is rebuilt (new table, copy,
  swap) in the same transaction.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote

import duckdb

from target_dap_sql.columns import Column, Kind, TableSpec
from target_dap_sql.database_url import DatabaseUrl
from target_dap_sql.dialects.base import (
    LINE,
    BatchFacts,
    KeysRepeatedError,
    LoadOptions,
    LoadTable,
    Stage,
)
from target_dap_sql.dialects.pgstyle import PostgresStyleMerge
from target_dap_sql.duckdb_memory import DuckDBMemory
from target_dap_sql.errors import TargetError
from target_dap_sql.evolution import ExistingTable, Plan
from target_dap_sql.spool import Field, SpoolStage
from target_dap_sql.staging import StagingDir

_TYPE_NAMES = {
    Kind.SMALLINT: "SMALLINT",
    Kind.INTEGER: "INTEGER",
    Kind.BIGINT: "BIGINT",
    Kind.DOUBLE: "DOUBLE",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    Kind.DATE: "DATE",
    Kind.TIME: "TIME",
    Kind.UUID: "UUID",
    Kind.IP: "VARCHAR",  # the inet extension is not bundled with DuckDB
    Kind.TEXT: "VARCHAR",
    Kind.JSON: "JSON",
}
_KINDS = {
    "SMALLINT": Kind.SMALLINT,
    "INTEGER": Kind.INTEGER,
    "BIGINT": Kind.BIGINT,
    "DOUBLE": Kind.DOUBLE,
    "FLOAT": Kind.DOUBLE,
    "BOOLEAN": Kind.BOOLEAN,
    "TIMESTAMP WITH TIME ZONE": Kind.TIMESTAMP,
    "TIMESTAMP": Kind.TIMESTAMP,
    "DATE": Kind.DATE,
    "TIME": Kind.TIME,
    "UUID": Kind.UUID,
    "VARCHAR": Kind.TEXT,
    "JSON": Kind.JSON,
}
# What read_json parses a column as; enum values are checked and cast in SQL instead,
# so that a bad value is reported with its line and column.
_READ_AS_TEXT = {Kind.ENUM, Kind.IP, Kind.OTHER, Kind.VARCHAR, Kind.TEXT}


class DuckDBDialect(PostgresStyleMerge):
    """An embedded DuckDB database file."""

    default_schema = "main"
    case_insensitive_names = True

    @classmethod
    def parse_url(cls, url: str, parts: SplitResult) -> DatabaseUrl:
        raw_path = unquote(url.split("://", 1)[1])
        if raw_path.startswith("/"):
            raw_path = raw_path[1:]  # duckdb:///file -> "file"; duckdb:////abs -> "/abs"
        if not raw_path:
            raise TargetError(
                f"database_url {url!r} names no file; use duckdb:///path/to/file.duckdb"
            )
        return DatabaseUrl("duckdb", url, Path(raw_path))

    def __init__(self, url: DatabaseUrl, options: LoadOptions) -> None:
        super().__init__(url, options)
        self.duckdb_memory = DuckDBMemory(options.duckdb_memory_limit)
        assert url.path is not None
        try:
            url.path.parent.mkdir(parents=True, exist_ok=True)
            # Row order is carried by the input-line column, so DuckDB may reorder freely
            # (and buffer less) while reading staging files.
            self.connection = duckdb.connect(
                str(url.path),
                config={
                    "preserve_insertion_order": False,
                    "memory_limit": self.duckdb_memory.limit,
                    "threads": options.duckdb_threads,
                },
            )
        except (OSError, duckdb.Error) as error:
            hint = ""
            if "Could not set lock" in str(error):
                hint = (
                    "; another process is writing to it, and DuckDB allows one writing "
                    "process per file: run pipelines that share the file one after another, "
                    "or give each its own file"
                )
            raise TargetError(f"cannot open DuckDB database {url.url}: {error}{hint}") from error
        # The file's name is its catalog's: qualify every schema with it, or a schema of
        # the same name (canvas.duckdb holding schema canvas) is ambiguous.
        self.catalog = str(self.connection.execute("SELECT current_database()").fetchall()[0][0])
        self.staging = StagingDir()
        self._in_transaction = False
        self._stage_count = 0

    # -- connection ---------------------------------------------------------------------

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        if not self._in_transaction:
            self.connection.execute("BEGIN TRANSACTION")
            self._in_transaction = True
        result = self.connection.execute(sql)
        return result.fetchall() if result.description else []

    def commit(self) -> None:
        if self._in_transaction:
            self._in_transaction = False
            self.connection.execute("COMMIT")

    def rollback(self) -> None:
        if self._in_transaction:
            self._in_transaction = False
            self.connection.execute("ROLLBACK")

    def close(self) -> None:
        self.connection.close()
        self.staging.remove()

    # -- catalog -------------------------------------------------------------------------

    def schema_ref(self, schema: str) -> str:
        return f"{self.quote(self.catalog)}.{self.quote(schema)}"

    def read_table(self, schema: str, name: str) -> ExistingTable | None:
        where = (
            f"schema_name = {self.literal(schema)} AND table_name = {self.literal(name)} "
            "AND database_name = current_database()"
        )
        rows = self.execute(
            "SELECT column_name, data_type, is_nullable, comment, column_default "
            "FROM duckdb_columns() "
            f"WHERE {where} ORDER BY column_index"
        )
        if not rows:
            return None
        columns: dict[str, Column] = {}
        for col, data_type, nullable, comment, default in rows:
            type_name = str(data_type)
            members: tuple[str, ...] = ()
            if type_name.startswith("ENUM("):
                kind = Kind.ENUM
                members = tuple(self.execute(f"SELECT enum_range(NULL::{type_name})")[0][0])
            elif type_name.startswith("DECIMAL"):
                kind = Kind.DECIMAL
            else:
                kind = _KINDS.get(type_name, Kind.OTHER)
            columns[str(col)] = Column(
                str(col),
                kind,
                bool(nullable),
                str(comment) if comment else None,
                members,
                db_type=type_name,
                db_default=None if default is None else str(default),
            )
        key_rows = self.execute(
            f"SELECT constraint_column_names FROM duckdb_constraints() WHERE {where} "
            "AND constraint_type = 'PRIMARY KEY'"
        )
        key = tuple(key_rows[0][0]) if key_rows else ()
        return ExistingTable(columns=columns, key=key)

    # -- DDL -----------------------------------------------------------------------------

    def enum_type(self, spec: TableSpec, column: Column) -> str:
        return self.table_ref(spec.schema, f"{spec.name}__{column.name}")

    def type_name(self, spec: TableSpec, column: Column) -> str:
        if column.kind == Kind.ENUM:
            return self.enum_type(spec, column)
        if column.kind == Kind.DECIMAL:
            return "DOUBLE" if column.scale is None else f"DECIMAL(38, {min(column.scale, 38)})"
        return _TYPE_NAMES[column.kind]

    def _create_enum(self, spec: TableSpec, column: Column, members: tuple[str, ...]) -> None:
        self.execute(
            f"CREATE TYPE {self.enum_type(spec, column)} AS ENUM "
            f"({', '.join(self.literal(m) for m in members)})"
        )

    def _comment(self, spec: TableSpec, column: Column) -> None:
        if column.comment:
            table = self.table_ref(spec.schema, spec.name)
            self.execute(
                f"COMMENT ON COLUMN {table}.{self.quote(column.name)} "
                f"IS {self.literal(column.comment)}"
            )

    def _definition(self, spec: TableSpec, columns: list[Column], key: tuple[str, ...]) -> str:
        parts = [self._column_definition(c, self.type_name(spec, c)) for c in columns]
        if key:
            parts.append(f"PRIMARY KEY ({', '.join(self.quote(k) for k in key)})")
        return ", ".join(parts)

    def _column_definition(self, column: Column, type_name: str) -> str:
        default = self.default_sql(column)
        return (
            f"{self.quote(column.name)} {type_name}"
            + ("" if default is None else f" DEFAULT {default}")
            + ("" if column.nullable else " NOT NULL")
        )

    def create_table(self, spec: TableSpec, *, with_key: bool) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema_ref(spec.schema)}")
        for column in spec.columns:
            if column.kind == Kind.ENUM:
                self.execute(f"DROP TYPE IF EXISTS {self.enum_type(spec, column)}")
                self._create_enum(spec, column, column.members)
        key = spec.key if with_key else ()
        table = self.table_ref(spec.schema, spec.name)
        self.execute(f"CREATE TABLE {table} ({self._definition(spec, list(spec.columns), key)})")
        for column in spec.columns:
            self._comment(spec, column)

    def apply_plan(self, spec: TableSpec, existing: ExistingTable, plan: Plan) -> None:
        table = self.table_ref(spec.schema, spec.name)
        for column in plan.add:
            if column.kind == Kind.ENUM:
                self.execute(f"DROP TYPE IF EXISTS {self.enum_type(spec, column)}")
                self._create_enum(spec, column, column.members)
            self.execute(
                f"ALTER TABLE {table} ADD COLUMN {self.quote(column.name)} "
                f"{self.type_name(spec, column)}{self.column_default(column)}"
            )
            self._comment(spec, column)
        for have, members in plan.add_members:
            # DuckDB enums cannot grow: park the column as VARCHAR, recreate the type.
            name = self.quote(have.name)
            self.execute(f"ALTER TABLE {table} ALTER COLUMN {name} TYPE VARCHAR")
            self.execute(f"DROP TYPE IF EXISTS {self.enum_type(spec, have)}")
            self._create_enum(spec, have, have.members + members)
            self.execute(
                f"ALTER TABLE {table} ALTER COLUMN {name} TYPE {self.enum_type(spec, have)}"
            )
        for column in plan.relax:
            self.relax_not_null(table, column)
        if any(have.name in existing.key for have, _ in plan.retype):
            self._rebuild(spec, table, plan)
            return
        for have, new in plan.retype:
            target = self.type_name(spec, new)
            source = self.quote(have.name)
            using = f"to_json({source})" if new.kind == Kind.JSON else f"{source}::{target}"
            self.execute(f"ALTER TABLE {table} ALTER COLUMN {source} TYPE {target} USING {using}")

    def _rebuild(self, spec: TableSpec, table: str, plan: Plan) -> None:
        """Change key column types by copying into a new table (DuckDB cannot ALTER them)."""
        current = self.read_table(spec.schema, spec.name)
        assert current is not None
        new_types = {have.name: new for have, new in plan.retype}
        columns = [
            replace(
                c,
                kind=new_types[c.name].kind,
                members=new_types[c.name].members,
                scale=new_types[c.name].scale,
                db_type=None,
            )
            if c.name in new_types
            else c
            for c in current.columns.values()
        ]
        typed = [
            self._column_definition(c, self.type_name(spec, c) if c.db_type is None else c.db_type)
            for c in columns
        ]
        keys = ", ".join(self.quote(k) for k in current.key)
        key = f", PRIMARY KEY ({keys})" if current.key else ""
        rebuilt = self.table_ref(spec.schema, spec.name + "__sdc_rebuild")
        self.execute(f"CREATE TABLE {rebuilt} ({', '.join(typed)}{key})")
        self.execute(f"INSERT INTO {rebuilt} SELECT * FROM {table}")
        self.execute(f"DROP TABLE {table}")
        self.execute(f"ALTER TABLE {rebuilt} RENAME TO {self.quote(spec.name)}")
        for column in columns:
            self._comment(spec, column)

    # -- staging -------------------------------------------------------------------------

    def open_stage(self, table: LoadTable) -> Stage:
        self._stage_count += 1
        stage = SpoolStage(
            self.staging.path / f"stage_{self._stage_count}.ndjson",
            table,
            delete_batch_files=self.options.delete_batch_files,
        )
        self.staging.track(stage)
        return stage

    def _read_type(self, column: Column) -> str:
        if column.kind in _READ_AS_TEXT:
            return "VARCHAR"
        return column.db_type or _TYPE_NAMES[column.kind]

    def _fields(self, table: LoadTable) -> list[Field]:
        data = set(self.data_columns(table))
        return [
            Field(source, column.name, self._read_type(column), column.kind)
            for source, column in zip(table.sources, table.columns, strict=True)
            if column.name in data
        ]

    def load_new_rows(self, table: LoadTable, stage: Stage) -> BatchFacts | None:
        """Parquet files straight into a table that holds none of their keys: one INSERT
        from `read_parquet`, no staging table (a quarter of an initial load's time).

        The staged path's check runs on the files first. A batch with deletes takes the
        staged path; a key already in the table, or a value the table's types refuse,
        voids DuckDB's transaction, and the batch is redone from the start on the staged
        path (`KeysRepeatedError`), which upserts it or names the value.
        """
        if not isinstance(stage, SpoolStage) or stage.lines or not stage.parquet:
            return None
        fields = self._fields(table)
        needed = self.checked_columns(table)
        checked = [f for f in fields if f.name in needed]
        try:
            facts = self.check_batch(table, stage, f"({stage.read_sql(checked)}) AS b")
        except duckdb.Error as error:
            self.rollback()  # the failed transaction would refuse the diagnosis queries
            raise stage.read_error(self.connection, checked, error) from error
        if facts.deletes:
            return None
        try:
            self.execute(self.insert_rows(table, f"({stage.read_sql(fields)}) AS b"))
        except duckdb.Error as error:
            raise KeysRepeatedError from error
        return facts

    def load_stage(self, table: LoadTable, stage: Stage) -> str:
        assert isinstance(stage, SpoolStage)
        fields = self._fields(table)
        relation = self.quote("_sdc_stage")
        self.execute(f"DROP TABLE IF EXISTS {relation}")
        try:
            self.execute(f"CREATE TEMP TABLE {relation} AS {stage.read_sql(fields)}")
        except duckdb.Error as error:
            self.rollback()  # the failed transaction would refuse the diagnosis queries
            raise stage.read_error(self.connection, fields, error) from error
        self._check_enums(table, stage, relation)
        return relation

    def _check_enums(self, table: LoadTable, stage: Stage, relation: str) -> None:
        for column in table.columns:
            if column.kind != Kind.ENUM:
                continue
            name = self.quote(column.name)
            bad = self.execute(
                f"SELECT {self.quote(LINE)}, {name} FROM {relation} WHERE {name} IS NOT NULL AND "
                f"TRY_CAST({name} AS {column.db_type}) IS NULL ORDER BY 1 LIMIT 1"
            )
            if bad:
                position = int(str(bad[0][0]))
                raise TargetError(
                    f"{table.label()}, column {column.name!r}{stage.where(position)}: value "
                    f"{bad[0][1]!r} is not a member of the column's enum type",
                    line=stage.line_of(position),
                )

    def insert_new_keys(self, table: LoadTable, staged: str) -> bool:
        try:
            self.execute(self.insert_rows(table, staged))
        except duckdb.ConstraintException as error:
            if "Duplicate key" not in str(error):
                raise
            raise KeysRepeatedError from error  # DuckDB aborts the whole transaction
        return True

    def fit_memory(self, stage: Stage) -> None:
        self.duckdb_memory.fit(self.connection, stage)

    def retry_with_more_memory(self, error: Exception) -> bool:
        return self.duckdb_memory.grow_after(self.connection, error)

    def clear_stage(self, table: LoadTable, stage: Stage) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.quote('_sdc_stage')}")
        stage.reset()

    def drop_stage(self, table: LoadTable, stage: Stage) -> None:
        assert isinstance(stage, SpoolStage)
        stage.close()
        self.staging.forget(stage)
