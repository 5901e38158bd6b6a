"""PostgreSQL through psycopg 3: binary COPY into a temp staging table, set-based merges.

Records stream into the staging table while the input is read (one COPY per batch), so
PostgreSQL ingests on its own core while Python parses the next lines. Integers, floats
and booleans travel in binary (packed by psycopg in C); every other value travels as the
text the tap sent and the merge casts it (timestamps, dates, enums, inet, uuid, numeric,
jsonb), so PostgreSQL parses those values itself. A value a cast rejects is traced back
to its input line and column. The official DAP client's arrays take the stream's JSON
arrays the same way, converted instead of cast (see `PostgresDialect.conversion`).

JSON lines BATCH files take the same path, read line by line in Python (gzip decoded by
zlib). Measured on the benchmark's rows, letting DuckDB type records or JSON lines files
and stream them as CSV into COPY costs as much CPU as orjson plus psycopg's binary
packing, and its threads compete with PostgreSQL for the cores: it was slower and needed
140 MB more. Parquet files are read by DuckDB as Arrow, which pgpq (Rust) encodes for a
binary COPY, into the staging table or straight into the table (`load_new_rows`).
"""

from __future__ import annotations

import contextlib
import json
import re
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any
from urllib.parse import SplitResult

import duckdb
import orjson
import pgpq
import psycopg
from psycopg.copy import Copy

from target_dap_sql.batch_files import BatchFiles, BatchFilesStage
from target_dap_sql.columns import (
    BATCHED_AT,
    STAGED_VALUE,
    TABLE_VERSION,
    Column,
    Kind,
    TableSpec,
    declared_length,
)
from target_dap_sql.database_url import DatabaseUrl, redact
from target_dap_sql.dialects.base import (
    LINE,
    BatchFacts,
    LoadOptions,
    LoadTable,
    Stage,
    logger,
)
from target_dap_sql.dialects.pgstyle import PostgresStyleMerge
from target_dap_sql.duckdb_memory import DuckDBMemory
from target_dap_sql.errors import TargetError
from target_dap_sql.evolution import ExistingTable, Plan
from target_dap_sql.identifiers import fit_name, standard_literal, standard_quote
from target_dap_sql.parquet_files import ParquetFile
from target_dap_sql.reader import without_nul
from target_dap_sql.spool import Field, file_parts, memory_reader, read_error

_JOINED = standard_quote("_sdc_joined")  # see PostgresDialect.joinable
_TYPE_NAMES = {
    Kind.SMALLINT: "smallint",
    Kind.INTEGER: "integer",
    Kind.BIGINT: "bigint",
    Kind.DECIMAL: "numeric",
    Kind.DOUBLE: "double precision",
    Kind.BOOLEAN: "boolean",
    Kind.TIMESTAMP: "timestamp with time zone",
    Kind.DATE: "date",
    Kind.TIME: "time without time zone",
    Kind.UUID: "uuid",
    Kind.IP: "inet",
    Kind.TEXT: "text",
    Kind.JSON: "jsonb",
}
_KINDS = {
    "smallint": Kind.SMALLINT,
    "integer": Kind.INTEGER,
    "bigint": Kind.BIGINT,
    "double precision": Kind.DOUBLE,
    "real": Kind.DOUBLE,
    "boolean": Kind.BOOLEAN,
    "timestamp with time zone": Kind.TIMESTAMP,
    "timestamp without time zone": Kind.TIMESTAMP,
    "date": Kind.DATE,
    "time without time zone": Kind.TIME,
    "uuid": Kind.UUID,
    "inet": Kind.IP,
    "text": Kind.TEXT,
    "jsonb": Kind.JSON,
    "json": Kind.JSON,
}
# Staging column types for binary COPY: psycopg packs these from Python values in C. All
# integers travel as int8 (psycopg's int2/int4 packing wraps values that do not fit) and
# the merge casts them, so PostgreSQL checks the range; every other kind is staged as
# text (the reader's strings, as sent) and cast by the merge too.
_BINARY_KINDS = {
    Kind.SMALLINT: "int8",
    Kind.INTEGER: "int8",
    Kind.BIGINT: "int8",
    Kind.DOUBLE: "float8",
    Kind.BOOLEAN: "bool",
}
# How DuckDB reads Parquet columns for the staging table (see `_stage_parquet`): as they
# are COPYed; every other kind as text, cast by the merge like a record's text.
_STAGE_READ_TYPES = {
    Kind.SMALLINT: "BIGINT",
    Kind.INTEGER: "BIGINT",
    Kind.BIGINT: "BIGINT",
    Kind.DOUBLE: "DOUBLE",
    Kind.BOOLEAN: "BOOLEAN",
}
# How DuckDB reads Parquet columns for a binary COPY straight into the table (see
# `load_new_rows`): as the Arrow type pgpq writes in the column type's binary form.
_DIRECT_READ_TYPES = {
    Kind.SMALLINT: "SMALLINT",
    Kind.INTEGER: "INTEGER",
    Kind.BIGINT: "BIGINT",
    Kind.DOUBLE: "DOUBLE",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",  # with or without time zone: UTC microseconds
    Kind.DATE: "DATE",
    Kind.TEXT: "VARCHAR",
    Kind.VARCHAR: "VARCHAR",
    Kind.ENUM: "VARCHAR",  # an enum's binary form is its label
    Kind.UUID: "UUID",
    Kind.JSON: "JSON",
}
# Rows per Arrow batch from DuckDB to the COPY, and one DuckDB thread: measured (with ADBC's
# encoder, before pgpq) on 400,000
# submissions rows into a new table, 2,048 rows and one thread took 2.8 s at 174 MB of
# RSS, 65,536 rows and two threads 4.1 s at 294 MB (DuckDB's threads take the cores the
# COPY and the server need; larger batches are held whole).
_ARROW_BATCH_ROWS = 2_048
_READER_THREADS = 1
# VARCHAR too: an explicit cast to varchar(n) would cut a longer value, the assignment of
# text to the column refuses it (and check_batch widens the column before that happens)
_STAGED_AS_IS = {Kind.BIGINT, Kind.DOUBLE, Kind.BOOLEAN, Kind.TEXT, Kind.VARCHAR}
# `timestamp` without time zone (the official DAP client's) holds UTC: a value is read with
# its offset, then taken in UTC (the session's time zone), so an offset is never dropped
_ZONELESS_TIMESTAMP = "timestamp without time zone"
_INT8_RANGE = range(-(2**63), 2**63)
_NARROW_INTEGERS = {Kind.SMALLINT: range(-(2**15), 2**15), Kind.INTEGER: range(-(2**31), 2**31)}
_QUOTED_VALUE = re.compile(r': "(.*)"\s*$', re.DOTALL)
_TOO_LONG = re.compile(r"value too long for type (.+)$")
_COPY_CONTEXT = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?")
_MAX_IDENTIFIER = 63


def _kind_of(type_name: str, type_type: str) -> Kind:
    if type_name.endswith("]"):  # an array: the official client's, see `conversion`
        return Kind.OTHER
    if type_type == "e":
        return Kind.ENUM
    if type_name.startswith("numeric"):
        return Kind.DECIMAL
    if type_name.startswith(("character varying", "character(")):
        return Kind.VARCHAR
    return _KINDS.get(type_name, Kind.OTHER)


def _typed(column: Column, name: str) -> str:
    """A staged column (``name``) in the table's type: as staged, cast, or converted."""
    if column.conversion is not None:
        return column.converted(name)
    if column.kind in _STAGED_AS_IS:
        return name
    if column.db_type == _ZONELESS_TIMESTAMP:
        name = f"CAST({name} AS timestamp with time zone)"
    return f"CAST({name} AS {column.db_type or _TYPE_NAMES[column.kind]})"


def _as_text(value: Any) -> str:
    """A JSON value as the text a text-staged column takes (numbers exact, true not True)."""
    return orjson.dumps(value, default=str).decode()


class PostgresStage(BatchFilesStage):
    """Rows of one table's batch, streamed by binary COPY into a session temp table."""

    def __init__(
        self, dialect: PostgresDialect, table: LoadTable, relation: str, *, delete_files: bool
    ) -> None:
        super().__init__(table, delete_batch_files=delete_files)
        self.dialect = dialect
        self.relation = relation
        data = set(dialect.data_columns(table))
        pairs = [
            (s, c) for s, c in zip(table.sources, table.columns, strict=True) if c.name in data
        ]
        self.columns = [c for _, c in pairs]
        quote = dialect.quote
        names = ", ".join(quote(c.name) for c in self.columns)
        self.copy_sql = (
            f"COPY {relation} ({names}, {quote(TABLE_VERSION)}, {quote(LINE)}) "
            "FROM STDIN (FORMAT BINARY)"
        )
        self.copy_types = [_BINARY_KINDS.get(c.kind, "text") for c in self.columns]
        self.copy_types += ["int8", "int8"]
        self.sources = [s for s, _ in pairs]
        self.source_order = tuple(self.sources)
        self.width = len(self.sources)
        self.json_positions = [i for i, c in enumerate(self.columns) if c.kind == Kind.JSON]
        # text-staged columns whose JSON values are numbers (DECIMAL), or any type at all
        self.text_positions = [
            i
            for i, c in enumerate(self.columns)
            if c.kind not in _BINARY_KINDS and c.kind != Kind.JSON
        ]
        self._copy: Copy | None = None
        self._copy_context: AbstractContextManager[Copy] | None = None
        self.copy_offset = 0

    def add_files(self, batch: BatchFiles) -> None:
        """Stream JSON lines files' records into the COPY now, as records (see the module
        doc); Parquet files wait for the merge."""
        super().add_files(batch)
        if batch.format == "parquet":
            return
        cleaned = False
        for position, text in self.file_rows(batch):
            try:
                record = orjson.loads(text)
            except orjson.JSONDecodeError:  # integers beyond 64 bits, or not JSON at all
                try:
                    record = json.loads(text, parse_float=Decimal)
                except ValueError as error:
                    raise TargetError(
                        f"{self.table.label()}{self.where(position)}: not JSON: {error}",
                        line=batch.line,
                    ) from error
            if b"\\u0000" in text:
                record, cleaned = without_nul(record), True
            self.add(position, batch.version, record)
        if cleaned:
            logger.warning(
                "%s: input line %d: removed NUL characters from BATCH records, which "
                "PostgreSQL cannot store",
                self.table.label(),
                batch.line,
            )

    def add(self, line: int, version: int | None, record: Any) -> None:
        values: dict[str, Any] = record  # parsed by the reader (raw_records is off)
        if len(values) == self.width and tuple(values) == self.source_order:
            row: list[Any] = list(values.values())  # the tap sent every field, in order
        else:
            row = list(map(values.get, self.sources))  # a C loop: ~30% less than a listcomp
        for i in self.json_positions:
            if row[i] is not None:
                row[i] = orjson.dumps(row[i]).decode()
        for i in self.text_positions:
            value = row[i]
            if value is not None and type(value) is not str:
                row[i] = _as_text(value)  # DECIMAL values arrive as JSON numbers
        copy = self._copy if self.dialect.active_stage is self else self.dialect.activate(self)
        self.lines.append(line)
        row.append(version)
        row.append(line)
        assert copy is not None
        try:
            copy.write_row(row)
        except psycopg.Error as error:
            raise self.dialect.copy_error(self, error) from error
        except (TypeError, ValueError, OverflowError):  # a value of another JSON type
            copy.write_row(self._coerce(row, line))

    def _coerce(self, row: list[Any], line: int) -> list[Any]:
        """Convert values a tap sent as another JSON type, or name the one that cannot be.

        (Text-staged columns already took any JSON value as text; psycopg drops a row
        that failed to pack, so writing the converted row next keeps the stream intact.)
        """
        for i, (column, kind) in enumerate(zip(self.columns, self.copy_types, strict=False)):
            value = row[i]
            if value is None:
                continue
            try:
                if kind == "int8" and not isinstance(value, int):
                    number = float(value) if isinstance(value, str) else value
                    if not float(number).is_integer():
                        raise ValueError(value)
                    row[i] = value = int(number)
                if kind == "int8" and value not in _INT8_RANGE:
                    raise OverflowError(value)
                if kind == "float8" and not isinstance(value, int | float):
                    row[i] = float(value)
                elif kind == "bool" and not isinstance(value, bool):
                    raise ValueError(value)
            except (TypeError, ValueError, OverflowError) as error:
                raise TargetError(
                    f"{self.table.label()}, column {column.name!r}{self.where(line)}: value "
                    f"{value!r} does not fit the column's type {column.describe()}",
                    line=self.line_of(line),
                ) from error
        return row

    def start_copy(self) -> Copy:
        cursor = self.dialect.connection.cursor()
        self.copy_offset = self.size  # a batch spans several COPYs when streams interleave
        self._copy_context = cursor.copy(self.copy_sql)
        self._copy = self._copy_context.__enter__()
        self._copy.set_types(self.copy_types)
        return self._copy

    def finish_copy(self) -> None:
        context, self._copy, self._copy_context = self._copy_context, None, None
        if context is not None:
            try:
                context.__exit__(None, None, None)
            except psycopg.Error as error:
                raise self.dialect.copy_error(self, error) from error


class PostgresDialect(PostgresStyleMerge):
    """PostgreSQL 12 or later."""

    default_schema = "public"
    max_identifier_bytes = _MAX_IDENTIFIER
    raw_records = False
    text_holds_nul = False

    def __init__(self, url: DatabaseUrl, options: LoadOptions) -> None:
        super().__init__(url, options)
        self.duckdb_memory = DuckDBMemory(options.duckdb_memory_limit)  # the Parquet reader's
        try:
            self.connection = psycopg.connect(url.url, autocommit=False, connect_timeout=15)
        except psycopg.Error as error:
            raise TargetError(
                f"cannot connect to PostgreSQL at {url.redacted}: {redact(str(error)).strip()}; "
                "check database_url and that the server is running"
            ) from error
        self.active_stage: PostgresStage | None = None
        self._stage_count = 0
        self._reader: duckdb.DuckDBPyConnection | None = None  # Parquet files only
        # Staging tables are temp tables, cached in the session's temp_buffers (8 MB by
        # default): a batch that fits stays in memory instead of spilling to disk.
        self.execute("SET temp_buffers = '256MB'")
        self.execute("SET TimeZone = 'UTC'")  # a date-time without offset means UTC
        self.commit()

    @classmethod
    def parse_url(cls, url: str, parts: SplitResult) -> DatabaseUrl:
        if not parts.hostname and "host=" not in parts.query:
            raise TargetError(
                f"database_url {redact(url)!r} names no host; "
                "use postgresql://user:password@host:port/database"
            )
        return DatabaseUrl("postgresql", "postgresql://" + url.split("://", 1)[1], None)

    def literal(self, text: str) -> str:
        # standard_conforming_strings is on since PostgreSQL 9.1; text cannot hold NUL
        return standard_literal(text.replace("\x00", ""))

    # -- connection ---------------------------------------------------------------------

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        self.deactivate()
        with self.connection.cursor() as cursor:
            cursor.execute(sql.encode())
            return cursor.fetchall() if cursor.description else []

    def commit(self) -> None:
        self.deactivate()
        self.connection.commit()

    def rollback(self) -> None:
        stage, self.active_stage = self.active_stage, None
        if stage is not None:
            stage._copy = None
            context, stage._copy_context = stage._copy_context, None
            if context is not None:
                with contextlib.suppress(Exception):  # the copy is abandoned on purpose
                    context.__exit__(RuntimeError, RuntimeError("rollback"), None)
        self.connection.rollback()

    def close(self) -> None:
        self.connection.close()
        if self._reader is not None:
            self._reader.close()

    def claim_table(self, spec: TableSpec) -> None:
        """A session-level advisory lock per table, held until the run ends or dies."""
        claimed = self.execute(
            f"SELECT pg_try_advisory_lock(hashtext('target-dap-sql'), "
            f"hashtext({self.literal(spec.display_name)}))"
        )[0][0]
        if not claimed:
            raise TargetError(
                f"table {spec.display_name} is being loaded by another run of target-dap-sql "
                "(two loads of one table at once would undo each other's rows): load "
                "disjoint tables in runs side by side, or run again once the other has ended"
            )

    # -- COPY switching: one COPY at a time per connection --------------------------------

    def activate(self, stage: PostgresStage) -> Copy:
        self.idle.wait()  # the merge worker may be using this connection
        self.deactivate()
        copy = stage.start_copy()
        self.active_stage = stage
        return copy

    def deactivate(self) -> None:
        stage, self.active_stage = self.active_stage, None
        if stage is not None:
            stage.finish_copy()

    def copy_error(self, stage: PostgresStage, error: psycopg.Error) -> TargetError:
        """Turn a COPY failure into the input line and column of the rejected value."""
        self.active_stage = None
        stage._copy = None
        stage._copy_context = None
        context = getattr(error.diag, "context", None) or ""
        match = _COPY_CONTEXT.search(context)
        message = (getattr(error.diag, "message_primary", None) or str(error)).strip()
        if match is None:
            return TargetError(f"{stage.table.label()}: {message}")
        line = stage.input_line(stage.copy_offset + int(match.group(1)))
        column = match.group(2)
        where = f", column {column!r}" if column else ""
        return TargetError(f"{stage.table.label()}{where}: {message}", line=line)

    # -- catalog -------------------------------------------------------------------------

    def read_table(self, schema: str, name: str) -> ExistingTable | None:
        rows = self.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typtype, a.attnotnull, "
            "col_description(c.oid, a.attnum), "
            "(SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e "
            " WHERE e.enumtypid IN (a.atttypid, t.typelem)), "
            "coalesce((SELECT a.attnum = ANY(i.indkey) FROM pg_index i "
            " WHERE i.indrelid = c.oid AND i.indisprimary), false), "
            "format('%I.%I', tn.nspname, t.typname) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
            "JOIN pg_namespace tn ON tn.oid = t.typnamespace "
            f"WHERE n.nspname = {self.literal(schema)} AND c.relname = {self.literal(name)} "
            "AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum"
        )
        if not rows:
            return None
        columns: dict[str, Column] = {}
        key: list[str] = []
        for col, type_name, type_type, not_null, comment, members, in_key, qualified in rows:
            kind = _kind_of(str(type_name), str(type_type))
            length = declared_length(str(type_name)) if kind == Kind.VARCHAR else None
            columns[str(col)] = Column(
                name=str(col),
                kind=kind,
                nullable=not not_null,
                comment=str(comment) if comment else None,
                members=tuple(members or ()),
                db_type=str(qualified) if kind == Kind.ENUM else str(type_name),
                length=length,
            )
            if in_key:
                key.append(str(col))
        pk = self.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, pos) ON true "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            f"WHERE n.nspname = {self.literal(schema)} AND c.relname = {self.literal(name)} "
            "AND i.indisprimary ORDER BY k.pos"
        )
        return ExistingTable(columns=columns, key=tuple(str(r[0]) for r in pk))

    # -- DDL -----------------------------------------------------------------------------

    def enum_type(self, spec: TableSpec, column: Column) -> str:
        """Native enum type `table__column` in the table's schema, as the official CLI."""
        name = fit_name(f"{spec.name}__{column.name}", _MAX_IDENTIFIER, what="enum type")
        return self.table_ref(spec.schema, name)

    def type_name(self, spec: TableSpec, column: Column) -> str:
        if column.kind == Kind.ENUM:
            return self.enum_type(spec, column)
        return _TYPE_NAMES[column.kind]

    def conversion(self, column: Column, wanted: Column) -> str | None:
        """A JSON array (the stream's) into an array column: the official client's type
        for DAP's arrays (`character varying(255)[]`, arrays of its enum types).

        The elements, in order, are cast to the array type without its modifier, so that
        the assignment to the column refuses a longer `varchar(n)` element instead of
        cutting it; NULL stays NULL, an empty array stays empty.
        """
        if wanted.kind != Kind.JSON or column.db_type is None:
            return None
        found = self.execute(
            "SELECT format_type(t.oid, NULL) FROM pg_type t "
            f"WHERE t.oid = to_regtype({self.literal(column.db_type)}) AND t.typcategory = 'A'"
        )
        if not found:
            return None
        elements = (
            f"ARRAY(SELECT e FROM jsonb_array_elements_text(CAST({STAGED_VALUE} AS jsonb)) "
            "WITH ORDINALITY AS a(e, n) ORDER BY n)"
        )
        return f"CASE WHEN {STAGED_VALUE} IS NOT NULL THEN CAST({elements} AS {found[0][0]}) END"

    def _ensure_enum(self, spec: TableSpec, column: Column) -> None:
        name = self.enum_type(spec, column)
        exists = self.execute(f"SELECT to_regtype({self.literal(name)}) IS NOT NULL")[0][0]
        if not exists:
            members = ", ".join(self.literal(m) for m in column.members)
            self.execute(f"CREATE TYPE {name} AS ENUM ({members})")
            return
        for member in column.members:
            self.execute(f"ALTER TYPE {name} ADD VALUE IF NOT EXISTS {self.literal(member)}")

    def _comment(self, spec: TableSpec, column: Column) -> None:
        if column.comment:
            table = self.table_ref(spec.schema, spec.name)
            self.execute(
                f"COMMENT ON COLUMN {table}.{self.quote(column.name)} "
                f"IS {self.literal(column.comment)}"
            )

    def create_table(self, spec: TableSpec, *, with_key: bool) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema_ref(spec.schema)}")
        definitions = []
        for column in spec.columns:
            if column.kind == Kind.ENUM:
                self._ensure_enum(spec, column)
            default = self.default_sql(column)
            null = "" if column.nullable else " NOT NULL"
            definitions.append(
                f"{self.quote(column.name)} {self.type_name(spec, column)}"
                + (f" DEFAULT {default}" if default is not None else "")
                + null
            )
        if with_key:
            pk = fit_name(f"pk_{spec.name}", _MAX_IDENTIFIER, what="constraint")
            keys = ", ".join(self.quote(k) for k in spec.key)
            definitions.append(f"CONSTRAINT {self.quote(pk)} PRIMARY KEY ({keys})")
        table = self.table_ref(spec.schema, spec.name)
        self.execute(f"CREATE TABLE {table} ({', '.join(definitions)})")
        for column in spec.columns:
            self._comment(spec, column)

    def apply_plan(self, spec: TableSpec, existing: ExistingTable, plan: Plan) -> None:
        table = self.table_ref(spec.schema, spec.name)
        for column in plan.add:
            if column.kind == Kind.ENUM:
                self._ensure_enum(spec, column)
            self.execute(
                f"ALTER TABLE {table} ADD COLUMN {self.quote(column.name)} "
                f"{self.type_name(spec, column)}{self.column_default(column)}"
            )
            self._comment(spec, column)
        for have, members in plan.add_members:
            enum = str(have.db_type).removesuffix("[]")  # of an array: its element type
            for member in members:
                self.execute(f"ALTER TYPE {enum} ADD VALUE IF NOT EXISTS {self.literal(member)}")
        for column in plan.relax:
            self.relax_not_null(table, column)
        if plan.retype:
            with DependentViews(self, table):
                for have, new in plan.retype:
                    if new.kind == Kind.ENUM:
                        self._ensure_enum(spec, new)
                    target = self.type_name(spec, new)
                    source = self.quote(have.name)
                    using = (
                        f"to_jsonb({source})" if new.kind == Kind.JSON else f"{source}::{target}"
                    )
                    self.execute(
                        f"ALTER TABLE {table} ALTER COLUMN {source} TYPE {target} USING {using}"
                    )

    # -- staging -------------------------------------------------------------------------

    def open_stage(self, table: LoadTable) -> Stage:
        self._stage_count += 1
        relation = self.quote(f"_sdc_stage_{self._stage_count}")
        data = set(self.data_columns(table))
        columns = [
            f"{self.quote(c.name)} {_BINARY_KINDS.get(c.kind, 'text')}"
            for c in table.columns
            if c.name in data
        ]
        self.execute(
            f"CREATE TEMP TABLE {relation} ({', '.join(columns)}, "
            f"{self.quote(TABLE_VERSION)} bigint, {self.quote(LINE)} bigint)"
        )
        self.commit()
        return PostgresStage(self, table, relation, delete_files=self.options.delete_batch_files)

    def seal(self, stage: Stage) -> None:
        self.deactivate()  # no COPY stays open on a connection the worker will use

    def load_stage(self, table: LoadTable, stage: Stage) -> str:
        """The staged rows with text-staged columns cast to the table's types."""
        assert isinstance(stage, PostgresStage)
        if self.active_stage is stage:
            self.deactivate()
        if stage.parquet:
            self._stage_parquet(stage)
        self.execute("SAVEPOINT sdc_merge")  # so that a failure can be explained
        quote = self.quote
        values = [f"{_typed(c, quote(c.name))} AS {quote(c.name)}" for c in stage.columns]
        return (
            f"(SELECT {', '.join(values)}, {self.quote(TABLE_VERSION)}, {self.quote(LINE)} "
            f"FROM {stage.relation}) AS staged"
        )

    def raw_relation(self, stage: Stage, staged: str) -> str:
        assert isinstance(stage, PostgresStage)
        return stage.relation

    def joinable(self, rows: str) -> str:
        # Rows computed from the staging table have no statistics: PostgreSQL then guesses
        # nearly the whole batch and joins by hashing the entire table (a full scan per
        # batch, 0.4 s at 1M rows, minutes at 100M). A small analyzed temp table gets the
        # few keys looked up in the primary key index instead.
        self.execute(f"CREATE TEMP TABLE {_JOINED} ON COMMIT DROP AS SELECT * FROM {rows} AS r")
        self.execute(f"ANALYZE {_JOINED}")
        return _JOINED

    def explain_failure(
        self, table: LoadTable, stage: Stage, error: Exception
    ) -> TargetError | None:
        """Find the input line and column of the value a cast in the merge rejected.

        PostgreSQL names the rejected value (or says a number is out of range) but not its
        row: the staged rows still hold it, behind the savepoint taken before the merge.
        """
        assert isinstance(stage, PostgresStage)
        message = (getattr(getattr(error, "diag", None), "message_primary", None) or "").strip()
        match = _QUOTED_VALUE.search(message)
        conditions: list[tuple[Column, str]] = []
        if match is not None:  # e.g. invalid input syntax for type uuid: "0"
            value = match.group(1)
            conditions = [
                (c, f"{self.quote(c.name)} = {self.literal(value)}")
                for c in stage.columns
                if c.kind not in _STAGED_AS_IS and c.kind not in _NARROW_INTEGERS
            ] + [  # an element of an array (see `conversion`)
                (c, f"CAST({self.quote(c.name)} AS jsonb) @> {self.literal(_as_text([value]))}")
                for c in stage.columns
                if c.conversion is not None
            ]
        elif "out of range" in message:  # integer out of range
            conditions = [
                (c, f"{self.quote(c.name)} NOT BETWEEN {bounds.start} AND {bounds.stop - 1}")
                for c in stage.columns
                if (bounds := _NARROW_INTEGERS.get(c.kind)) is not None
            ]
        elif (too_long := _TOO_LONG.search(message)) is not None:  # an array's element
            conditions = [
                (
                    c,
                    "EXISTS (SELECT FROM jsonb_array_elements_text(CAST("
                    f"{self.quote(c.name)} AS jsonb)) AS e(v) WHERE char_length(v) > {length})",
                )
                for c in stage.columns
                if c.conversion is not None
                and c.db_type == f"{too_long.group(1)}[]"
                and (length := declared_length(c.db_type)) is not None
            ]
        if not conditions:
            return None
        self.execute("ROLLBACK TO SAVEPOINT sdc_merge")
        for column, condition in conditions:
            found = self.execute(
                f"SELECT min({self.quote(LINE)}) FROM {stage.relation} WHERE {condition}"
            )
            if found and found[0][0] is not None:
                position = int(found[0][0])
                return TargetError(
                    f"{table.label()}, column {column.name!r}{stage.where(position)}: {message}",
                    line=stage.line_of(position),
                )
        return None

    def insert_new_keys(self, table: LoadTable, staged: str) -> bool:
        self.execute("SAVEPOINT sdc_new_keys")
        try:
            self.execute(self.insert_rows(table, staged))
        except psycopg.errors.UniqueViolation:
            self.execute("ROLLBACK TO SAVEPOINT sdc_new_keys")
            return False
        return True

    # -- Parquet BATCH files ------------------------------------------------------------

    @property
    def reader(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB that reads Parquet files (see `_stage_parquet`)."""
        if self._reader is None:
            self._reader = memory_reader(
                self.options, self.duckdb_memory, ordered=False, threads=_READER_THREADS
            )
        return self._reader

    def _read(self, sql: str) -> list[tuple[Any, ...]]:
        return self.reader.execute(sql).fetchall()

    def _stage_parquet(self, stage: PostgresStage) -> None:
        """Parquet files into the staging table through one binary COPY (`_copy_binary`).
        No Python per row."""
        fields = [
            Field(source, c.name, _STAGE_READ_TYPES.get(c.kind, "VARCHAR"), c.kind)
            for source, c in zip(stage.sources, stage.columns, strict=True)
        ]
        select = " UNION ALL ".join(file_parts(stage, fields))
        self.execute("SAVEPOINT sdc_parquet")
        try:
            self._copy_staged(stage, fields, select)
        except psycopg.errors.CharacterNotInRepertoire:  # NUL, which text cannot hold
            self.execute("ROLLBACK TO SAVEPOINT sdc_parquet")
            q = standard_quote
            values = [
                f"replace({q(f.name)}, chr(0), '') AS {q(f.name)}"
                if f.read_type == "VARCHAR"
                else q(f.name)
                for f in fields
            ]
            cleaned = f"SELECT {q(LINE)}, {q(TABLE_VERSION)}, {', '.join(values)} FROM ({select})"
            self._copy_staged(stage, fields, cleaned)
            logger.warning(
                "%s, BATCH file %s: removed NUL characters, which PostgreSQL cannot store",
                stage.table.label(),
                ", ".join(p.name for b in stage.batches for p in b.paths),
            )

    def _copy_staged(self, stage: PostgresStage, fields: list[Field], select: str) -> None:
        """DuckDB's rows of ``select`` (position, version, fields) into the staging table,
        whose column types are those the fields are read as (see `_STAGE_READ_TYPES`)."""
        columns = (LINE, TABLE_VERSION, *(f.name for f in fields))
        names = ", ".join(self.quote(name) for name in columns)
        try:
            self._copy_binary(f"COPY {stage.relation} ({names}) FROM STDIN (FORMAT BINARY)", select)
        except duckdb.Error as error:
            raise read_error(stage, fields, error) from error

    def load_new_rows(self, table: LoadTable, stage: Stage) -> BatchFacts | None:
        """Parquet files straight into a table that holds none of their keys: DuckDB reads
        them as Arrow in the types of the table's columns, and one binary COPY writes them
        (`_copy_binary`), in the merge's own transaction.

        An initial load thereby writes each row once (no staging table, no INSERT ...
        SELECT: together half of its server time). DuckDB checks the batch first, as the
        staged path's check would (relaxing a NOT NULL in the same transaction). A batch
        with deletes, a column with no binary form from Arrow here (inet, time, the
        official client's arrays), or any failure of the COPY (a key already there, a
        value the server refuses) leaves the batch to the staged path, which upserts it or
        names the value it rejects; the COPY is rolled back to its savepoint first.
        """
        if not isinstance(stage, PostgresStage) or not stage.parquet:
            return None
        direct = self._direct_values(stage)
        if direct is None:
            return None
        needed = self.checked_columns(table)
        checked = [
            Field(source, c.name, _STAGE_READ_TYPES.get(c.kind, "VARCHAR"), c.kind)
            for source, c in zip(stage.sources, stage.columns, strict=True)
            if c.name in needed
        ]
        batch = f"({' UNION ALL '.join(file_parts(stage, checked))}) AS b"
        try:
            facts = self.check_batch(table, stage, batch, quote=standard_quote, query=self._read)
        except duckdb.Error as error:
            raise read_error(stage, checked, error) from error
        if facts.deletes:
            return None
        fields, values = direct
        now = self.execute("SELECT CAST(CURRENT_TIMESTAMP AS text)")[0][0]
        select = (
            f"SELECT {', '.join(values)}, {standard_quote(TABLE_VERSION)}, "
            f"CAST({standard_literal(str(now))} AS TIMESTAMPTZ) AS {standard_quote(BATCHED_AT)} "
            f"FROM ({' UNION ALL '.join(file_parts(stage, fields))}) AS d"
        )
        names = ", ".join(self.quote(n) for n in (*(f.name for f in fields), TABLE_VERSION))
        copy_sql = (
            f"COPY {table.qualified} ({names}, {self.quote(BATCHED_AT)}) FROM STDIN (FORMAT BINARY)"
        )
        self.execute("SAVEPOINT sdc_new_rows")
        try:
            self._copy_binary(copy_sql, select)
        except Exception as error:  # the staged path loads the batch or names what is wrong
            self.execute("ROLLBACK TO SAVEPOINT sdc_new_rows")
            logger.debug(
                "%s: binary COPY of new rows failed (%s); merging",
                table.label(),
                redact(str(error)),
            )
            return None
        return facts

    def _copy_binary(self, copy_sql: str, select: str) -> None:
        """DuckDB's rows of ``select`` through one binary COPY: pgpq (Rust) encodes each
        Arrow batch in the COPY's binary form, where each column's Arrow type gives its
        PostgreSQL type's (see `_direct_values`)."""
        reader = self.reader.sql(select).to_arrow_reader(_ARROW_BATCH_ROWS)
        encoder = pgpq.ArrowToPostgresBinaryEncoder(reader.schema)
        with self.connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.write(encoder.write_header())
            for batch in reader:
                copy.write(encoder.write_batch(batch))
            copy.write(encoder.finish())

    def _direct_values(self, stage: PostgresStage) -> tuple[list[Field], list[str]] | None:
        """The fields DuckDB reads for `load_new_rows`, and each column's value as the
        Arrow type whose binary COPY form is the column's own; None where a column has
        none (it goes through the staged path's casts)."""
        decimals = self._decimal_types(stage)
        fields: list[Field] = []
        values: list[str] = []
        for source, column in zip(stage.sources, stage.columns, strict=True):
            name = standard_quote(column.name)
            read_type = _DIRECT_READ_TYPES.get(column.kind)
            if column.kind == Kind.DECIMAL:
                read_type = decimals.get(source)
            if column.kind == Kind.DOUBLE and column.db_type not in (None, "double precision"):
                read_type = None  # real: float4 on the wire
            if read_type is None or column.conversion is not None:
                return None
            fields.append(Field(source, column.name, read_type, column.kind))
            if column.kind == Kind.UUID:  # uuid's binary form: its 16 bytes
                values.append(f"unhex(replace(CAST({name} AS VARCHAR), '-', '')) AS {name}")
            elif column.kind == Kind.JSON and column.db_type in (None, "jsonb"):
                # jsonb's binary form: a version byte (1), then the JSON text
                values.append(f"'\\x01'::BLOB || encode(CAST({name} AS VARCHAR)) AS {name}")
            elif column.kind == Kind.JSON:
                values.append(f"CAST({name} AS VARCHAR) AS {name}")
            else:
                values.append(name)
        return fields, values

    @staticmethod
    def _decimal_types(stage: PostgresStage) -> dict[str, str]:
        """DuckDB's type of each decimal column that all the stage's files hold alike."""
        seen: dict[str, set[str]] = {}
        for batch in stage.batches:
            for path in batch.paths:
                for name, db_type in ParquetFile(
                    path, label=stage.table.label(), line=batch.line
                ).types.items():
                    if db_type.startswith("DECIMAL("):
                        seen.setdefault(name, set()).add(db_type)
        return {name: kinds.pop() for name, kinds in seen.items() if len(kinds) == 1}

    def retry_with_more_memory(self, error: Exception) -> bool:
        return self.duckdb_memory.grow_after(self._reader, error)  # records need no DuckDB

    def clear_stage(self, table: LoadTable, stage: Stage) -> None:
        assert isinstance(stage, PostgresStage)
        self.execute(f"TRUNCATE {stage.relation}")
        stage.reset()

    def drop_stage(self, table: LoadTable, stage: Stage) -> None:
        assert isinstance(stage, PostgresStage)
        if self.active_stage is stage:
            self.deactivate()
        self.execute(f"DROP TABLE IF EXISTS {stage.relation}")
        self.commit()


class DependentViews:
    """Save, drop and recreate the views that read a table, around a column type change.

    PostgreSQL refuses ALTER COLUMN TYPE on a column a view uses; the views (and views on
    those views) are recreated with their definition, options, comment and grants in the
    same transaction, so no reader ever sees them missing.
    """

    def __init__(self, dialect: PostgresDialect, table: str) -> None:
        self.dialect = dialect
        self.table = table
        self.views: list[tuple[str, str, str, str, str | None, list[tuple[str, str]]]] = []

    def __enter__(self) -> DependentViews:
        rows = self.dialect.execute(
            "WITH RECURSIVE deps(oid, level) AS ("
            " SELECT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid"
            f" WHERE d.refobjid = {self.dialect.literal(self.table)}::regclass"
            f" AND r.ev_class <> {self.dialect.literal(self.table)}::regclass"
            " UNION SELECT r.ev_class, deps.level + 1 FROM deps"
            " JOIN pg_depend d ON d.refobjid = deps.oid JOIN pg_rewrite r ON r.oid = d.objid"
            " WHERE r.ev_class <> deps.oid AND deps.level < 50)"
            " SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text,"
            " pg_get_viewdef(c.oid), coalesce(array_to_string(c.reloptions, ', '), ''),"
            " obj_description(c.oid, 'pg_class'),"
            " (SELECT coalesce(array_agg(ARRAY[CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE"
            "   quote_ident(pg_get_userbyid(x.grantee)) END, x.privilege_type]), '{}')"
            "  FROM aclexplode(c.relacl) x), max(deps.level)"
            " FROM deps JOIN pg_class c ON c.oid = deps.oid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY max(deps.level)"
        )
        for name, kind, definition, options, comment, grants, _ in rows:
            self.views.append(
                (
                    str(name),
                    str(kind),
                    str(definition),
                    str(options),
                    str(comment) if comment else None,
                    [(str(g[0]), str(g[1])) for g in grants],
                )
            )
        for name, kind, *_ in reversed(self.views):
            what = "MATERIALIZED VIEW" if kind == "m" else "VIEW"
            self.dialect.execute(f"DROP {what} IF EXISTS {name}")
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if error is not None:
            return
        for name, relkind, definition, options, comment, grants in self.views:
            what = "MATERIALIZED VIEW" if relkind == "m" else "VIEW"
            with_options = f" WITH ({options})" if options else ""
            self.dialect.execute(f"CREATE {what} {name}{with_options} AS {definition}")
            if comment:
                self.dialect.execute(f"COMMENT ON {what} {name} IS {self.dialect.literal(comment)}")
            for grantee, privilege in grants:
                self.dialect.execute(f"GRANT {privilege} ON {name} TO {grantee}")
