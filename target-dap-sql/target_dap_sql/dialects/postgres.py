"""PostgreSQL through psycopg 3: records spooled, typed by DuckDB, COPY into a staging table.

Records (and BATCH files) are spooled as raw JSON (see `spool`). At the merge, an
in-process DuckDB reads the batch with its C++ JSON reader and writes it as CSV into a
named pipe, which a second thread streams into `COPY ... FROM STDIN` of a temp staging
table with the table's own column types: DuckDB parses JSON on one core while PostgreSQL
parses and stores the values on the other, and no value passes through Python. A value
PostgreSQL rejects (an enum member, an integer out of range, a malformed timestamp) is
traced back to its input line and column from the COPY's row number. The shared
set-based merge then runs in the same transaction.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from target_dap_sql.columns import TABLE_VERSION, Column, Kind, TableSpec
from target_dap_sql.database_url import DatabaseUrl, redact
from target_dap_sql.dialects.base import LINE, Dialect, LoadOptions, LoadTable, Stage, logger
from target_dap_sql.errors import TargetError
from target_dap_sql.evolution import ExistingTable, Plan
from target_dap_sql.identifiers import fit_name, quote
from target_dap_sql.spool import Field, SpoolStage

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
# How DuckDB reads each kind for the CSV: numbers and booleans typed (so that "7" or 5.0
# for an integer still load, as into DuckDB), JSON as JSON text, everything else as the
# text the tap sent, which PostgreSQL parses into the column's type in the COPY.
_READ_TYPES = {
    Kind.SMALLINT: "BIGINT",
    Kind.INTEGER: "BIGINT",
    Kind.BIGINT: "BIGINT",
    Kind.DOUBLE: "DOUBLE",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.JSON: "JSON",
}
_COPY_CONTEXT = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?")
_MAX_IDENTIFIER = 63
# An escaped NUL in JSON text, skipping escaped backslashes (`\\u0000` is no NUL): pairs of
# backslashes are kept as they are, a `\u0000` is dropped.
_JSON_NUL = r"'(\\\\)|\\u0000'"
_CHUNK = 1 << 20


def literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings is on since PostgreSQL 9.1)."""
    return "'" + text.replace("\x00", "").replace("'", "''") + "'"


def _kind_of(type_name: str, type_type: str) -> Kind:
    if type_type == "e":
        return Kind.ENUM
    if type_name.startswith("numeric"):
        return Kind.DECIMAL
    if type_name.startswith(("character varying", "character(")):
        return Kind.VARCHAR
    return _KINDS.get(type_name, Kind.OTHER)


class PostgresStage(SpoolStage):
    """A spooled batch and the temp staging table its COPY fills."""

    def __init__(
        self,
        path: Path,
        table: LoadTable,
        relation: str,
        fields: list[Field],
        *,
        delete_batch_files: bool,
    ) -> None:
        super().__init__(path, table, delete_batch_files=delete_batch_files)
        self.relation = relation
        self.fields = fields
        names = ", ".join(quote(f.name) for f in fields)
        self.copy_sql = (
            f"COPY {relation} ({names}, {quote(TABLE_VERSION)}, {quote(LINE)}) "
            "FROM STDIN (FORMAT csv)"
        )
        self.pipe = path.with_suffix(".csv")
        os.mkfifo(self.pipe)

    def csv_sql(self) -> str:
        """DuckDB's query for the CSV rows, in staged order (NUL removed where present)."""
        values = []
        for field in self.fields:
            value = quote(field.name)
            if self.has_nul and field.read_type == "VARCHAR":
                value = f"replace({value}, chr(0), '')"
            elif self.has_nul and field.read_type == "JSON":
                value = f"regexp_replace({value}::VARCHAR, {_JSON_NUL}, '\\1', 'g')"
            values.append(value)
        fields = ", ".join(values)
        return (
            f"SELECT {fields}, {quote(TABLE_VERSION)}, {quote(LINE)} "
            f"FROM ({self.read_sql(self.fields)})"
        )

    def close(self) -> None:
        super().close()
        self.pipe.unlink(missing_ok=True)


class PostgresDialect(Dialect):
    """PostgreSQL 12 or later."""

    default_schema = "public"
    max_identifier_bytes = _MAX_IDENTIFIER
    raw_records = False
    text_holds_nul = False

    def __init__(self, url: DatabaseUrl, options: LoadOptions) -> None:
        super().__init__(url, options)
        try:
            self.connection = psycopg.connect(url.url, autocommit=False, connect_timeout=15)
        except psycopg.Error as error:
            raise TargetError(
                f"cannot connect to PostgreSQL at {url.redacted}: {redact(str(error)).strip()}; "
                "check database_url and that the server is running"
            ) from error
        self._stage_count = 0
        # Staging tables are temp tables, cached in the session's temp_buffers (8 MB by
        # default): a batch that fits stays in memory instead of spilling to disk.
        self.execute("SET temp_buffers = '256MB'")
        self.execute("SET TimeZone = 'UTC'")  # a date-time without offset means UTC
        self.commit()
        self.staging_dir = Path(tempfile.mkdtemp(prefix="target-dap-sql-"))
        atexit.register(shutil.rmtree, self.staging_dir, ignore_errors=True)
        self.reader = self._open_reader(options)

    @staticmethod
    def _open_reader(options: LoadOptions) -> duckdb.DuckDBPyConnection:
        """The in-process DuckDB that reads batches; CSV rows keep the staged order."""
        return duckdb.connect(
            config={
                "memory_limit": options.duckdb_memory_limit,
                "threads": options.duckdb_threads,
                "preserve_insertion_order": True,
            }
        )

    def share(self, main: Dialect) -> None:
        """Merges run one at a time: every lane can read batches with the main's DuckDB."""
        super().share(main)
        assert isinstance(main, PostgresDialect)
        self.reader.close()
        self.reader = main.reader

    # -- connection ---------------------------------------------------------------------

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql.encode())
            return cursor.fetchall() if cursor.description else []

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()

    def close(self) -> None:
        self.connection.close()
        with contextlib.suppress(duckdb.Error):
            self.reader.close()
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    # -- catalog -------------------------------------------------------------------------

    def read_table(self, schema: str, name: str) -> ExistingTable | None:
        rows = self.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typtype, a.attnotnull, "
            "col_description(c.oid, a.attnum), "
            "(SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e "
            " WHERE e.enumtypid = a.atttypid), "
            "coalesce((SELECT a.attnum = ANY(i.indkey) FROM pg_index i "
            " WHERE i.indrelid = c.oid AND i.indisprimary), false), "
            "format('%I.%I', tn.nspname, t.typname) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
            "JOIN pg_namespace tn ON tn.oid = t.typnamespace "
            f"WHERE n.nspname = {literal(schema)} AND c.relname = {literal(name)} "
            "AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum"
        )
        if not rows:
            return None
        columns: dict[str, Column] = {}
        key: list[str] = []
        for col, type_name, type_type, not_null, comment, members, in_key, qualified in rows:
            kind = _kind_of(str(type_name), str(type_type))
            columns[str(col)] = Column(
                name=str(col),
                kind=kind,
                nullable=not not_null,
                comment=str(comment) if comment else None,
                members=tuple(members or ()),
                db_type=str(qualified) if kind == Kind.ENUM else str(type_name),
            )
            if in_key:
                key.append(str(col))
        pk = self.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, pos) ON true "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            f"WHERE n.nspname = {literal(schema)} AND c.relname = {literal(name)} "
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

    def _ensure_enum(self, spec: TableSpec, column: Column) -> None:
        name = self.enum_type(spec, column)
        exists = self.execute(f"SELECT to_regtype({literal(name)}) IS NOT NULL")[0][0]
        if not exists:
            members = ", ".join(literal(m) for m in column.members)
            self.execute(f"CREATE TYPE {name} AS ENUM ({members})")
            return
        for member in column.members:
            self.execute(f"ALTER TYPE {name} ADD VALUE IF NOT EXISTS {literal(member)}")

    def _comment(self, spec: TableSpec, column: Column) -> None:
        if column.comment:
            self.execute(
                f"COMMENT ON COLUMN {self.table_ref(spec.schema, spec.name)}.{quote(column.name)} "
                f"IS {literal(column.comment)}"
            )

    def create_table(self, spec: TableSpec, *, with_key: bool) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema_ref(spec.schema)}")
        definitions = []
        for column in spec.columns:
            if column.kind == Kind.ENUM:
                self._ensure_enum(spec, column)
            null = "" if column.nullable else " NOT NULL"
            definitions.append(f"{quote(column.name)} {self.type_name(spec, column)}{null}")
        if with_key:
            pk = fit_name(f"pk_{spec.name}", _MAX_IDENTIFIER, what="constraint")
            keys = ", ".join(quote(k) for k in spec.key)
            definitions.append(f"CONSTRAINT {quote(pk)} PRIMARY KEY ({keys})")
        table = self.table_ref(spec.schema, spec.name)
        self.execute(f"CREATE TABLE {table} ({', '.join(definitions)})")
        for column in spec.columns:
            self._comment(spec, column)

    def apply_plan(self, spec: TableSpec, existing: ExistingTable, plan: Plan) -> None:
        table = self.table_ref(spec.schema, spec.name)
        for column in plan.add:
            if column.kind == Kind.ENUM:
                self._ensure_enum(spec, column)
            # Always nullable: rows already in the table have no value for it.
            self.execute(
                f"ALTER TABLE {table} ADD COLUMN {quote(column.name)} "
                f"{self.type_name(spec, column)}"
            )
            self._comment(spec, column)
        for have, members in plan.add_members:
            for member in members:
                self.execute(f"ALTER TYPE {have.db_type} ADD VALUE IF NOT EXISTS {literal(member)}")
        for column in plan.relax:
            self.execute(f"ALTER TABLE {table} ALTER COLUMN {quote(column.name)} DROP NOT NULL")
        if plan.retype:
            with DependentViews(self, table):
                for have, new in plan.retype:
                    if new.kind == Kind.ENUM:
                        self._ensure_enum(spec, new)
                    target = self.type_name(spec, new)
                    source = quote(have.name)
                    using = (
                        f"to_jsonb({source})" if new.kind == Kind.JSON else f"{source}::{target}"
                    )
                    self.execute(
                        f"ALTER TABLE {table} ALTER COLUMN {source} TYPE {target} USING {using}"
                    )

    # -- staging -------------------------------------------------------------------------

    def open_stage(self, table: LoadTable) -> Stage:
        self._stage_count += 1
        relation = quote(f"_sdc_stage_{self._stage_count}")
        data = set(self.data_columns(table))
        pairs = [
            (s, c) for s, c in zip(table.sources, table.columns, strict=True) if c.name in data
        ]
        columns = [f"{quote(c.name)} {c.db_type or _TYPE_NAMES[c.kind]}" for _, c in pairs]
        self.execute(
            f"CREATE TEMP TABLE {relation} ({', '.join(columns)}, "
            f"{quote(TABLE_VERSION)} bigint, {quote(LINE)} bigint)"
        )
        self.commit()
        fields = [Field(s, c.name, _READ_TYPES.get(c.kind, "VARCHAR")) for s, c in pairs]
        path = self.staging_dir / f"stage_{self._stage_count}.ndjson"
        return PostgresStage(
            path, table, relation, fields, delete_batch_files=self.options.delete_batch_files
        )

    def load_stage(self, table: LoadTable, stage: Stage) -> str:
        """DuckDB's CSV of the batch through a named pipe into COPY of the staging table."""
        assert isinstance(stage, PostgresStage)
        if stage.has_nul:
            self._warn_nul(stage)
        pumped: list[BaseException] = []
        pump = threading.Thread(target=self._pump, args=(stage, pumped), name="copy")
        pump.start()
        try:
            self.reader.execute(
                f"COPY ({stage.csv_sql()}) TO {literal(str(stage.pipe))} "
                "(FORMAT csv, HEADER false, USE_TMP_FILE false)"
            )
        except duckdb.Error as error:
            self._unblock(stage)
            pump.join()
            raise stage.read_error(self.reader, stage.fields, error) from error
        except BaseException:
            self._unblock(stage)
            raise
        finally:
            pump.join()
        if pumped:
            failure = pumped[0]
            if isinstance(failure, psycopg.Error):
                raise self.copy_error(stage, failure) from failure
            raise failure
        return stage.relation

    def _pump(self, stage: PostgresStage, failures: list[BaseException]) -> None:
        """Stream the pipe into COPY; after a failure keep draining so DuckDB can finish."""
        try:
            with stage.pipe.open("rb") as pipe:
                try:
                    with self.connection.cursor() as cursor, cursor.copy(stage.copy_sql) as copy:
                        while chunk := pipe.read(_CHUNK):
                            copy.write(chunk)
                except BaseException as error:
                    failures.append(error)
                    while pipe.read(_CHUNK):
                        pass
        except OSError as error:
            failures.append(error)

    @staticmethod
    def _unblock(stage: PostgresStage) -> None:
        """End the pump's wait for a writer when DuckDB failed before opening the pipe."""
        try:
            descriptor = os.open(stage.pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:  # ENXIO: no reader is waiting any more
            if error.errno != errno.ENXIO:
                raise
            return
        os.close(descriptor)

    def _warn_nul(self, stage: PostgresStage) -> None:
        """PostgreSQL text cannot hold NUL: say where it is removed (once per batch column)."""
        text = [f for f in stage.fields if f.read_type in ("VARCHAR", "JSON")]
        found = ", ".join(
            f"min({quote(LINE)}) FILTER (WHERE contains({quote(f.name)}::VARCHAR, "
            + ("chr(0)" if f.read_type == "VARCHAR" else "'\\u0000'")
            + "))"
            for f in text
        )
        try:
            rows = self.reader.execute(f"SELECT {found} FROM ({stage.read_sql(stage.fields)})")
            positions = rows.fetchall()[0]
        except duckdb.Error as error:
            raise stage.read_error(self.reader, stage.fields, error) from error
        for field, position in zip(text, positions, strict=True):
            if position is not None:
                logger.warning(
                    "%s, column %r, input line %d: removed NUL characters, which PostgreSQL "
                    "cannot store",
                    stage.table.label(),
                    field.source,
                    stage.line_of(int(position)),
                )

    def copy_error(self, stage: PostgresStage, error: psycopg.Error) -> TargetError:
        """Turn a COPY failure into the input line and column of the rejected value."""
        context = getattr(error.diag, "context", None) or ""
        match = _COPY_CONTEXT.search(context)
        message = (getattr(error.diag, "message_primary", None) or str(error)).strip()
        if match is None:
            return TargetError(f"{stage.table.label()}: {message}")
        line = stage.input_line(int(match.group(1)))
        column = match.group(2)
        where = f", column {column!r}" if column else ""
        return TargetError(f"{stage.table.label()}{where}: {message}", line=line)

    def clear_stage(self, table: LoadTable, stage: Stage) -> None:
        assert isinstance(stage, PostgresStage)
        self.execute(f"TRUNCATE {stage.relation}")
        stage.reset()

    def drop_stage(self, table: LoadTable, stage: Stage) -> None:
        assert isinstance(stage, PostgresStage)
        stage.close()
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
            f" WHERE d.refobjid = {literal(self.table)}::regclass"
            f" AND r.ev_class <> {literal(self.table)}::regclass"
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
                self.dialect.execute(f"COMMENT ON {what} {name} IS {literal(comment)}")
            for grantee, privilege in grants:
                self.dialect.execute(f"GRANT {privilege} ON {name} TO {grantee}")
