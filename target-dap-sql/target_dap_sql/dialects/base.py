"""The dialect interface: what a database must provide, and the load logic every one shares.

Read this first to add a database. A database is one module `dialects/<db>.py` holding
one `Dialect` subclass (types, quoting, DDL, staging and bulk load, merge statements,
locks, the connection), one line in the registry (`dialects/__init__.py`: URL scheme ->
module) and one test parameter (`DATABASES` and `database_url_for` in `tests/conftest.py`,
which every database test takes). The sinks, the loader, the evolution planner and the
reader hold no SQL: they call the methods below.

A dialect object is one connection. The loader opens two per run ("lanes"): one stages
the next batch while the merge worker merges the previous one on the other; both share
one `RunMemory`. Every method runs on the connection's current transaction unless it
says it commits.

What every dialect provides (abstract unless a default is named):

Class attributes
  default_schema         schema of streams without a `schema-` part ("" where the
                         database has no schemas inside a database).
  max_identifier_bytes   longest identifier; longer names get a stable hash tail.
  case_insensitive_names column names that differ only in case are one column.
  raw_records            stages take a RECORD's raw JSON bytes (else the parsed dict).
  text_holds_nul         False: the reader removes NUL characters (with a warning).
  parse_url(url, parts)  classmethod: check a `database_url` of this database and return
                         the `DatabaseUrl`; errors never show the password.

SQL text (defaults: the SQL standard's double-quoted names and '' strings)
  quote(name), literal(text), table_ref(schema, name)
  place(schema, name)    where a stream's (schema, table) lives in this database; the
                         default keeps both (MySQL: table `schema__table` in the URL's
                         database, as the official DAP client names it).

Connection
  __init__(url, options) connect, set the session (UTC, strictness); errors name the
                         redacted URL and what to check.
  execute(sql) -> rows, commit(), rollback(), close()

Tables
  claim_table(spec)      default no-op; take a per-table lock held until the connection
                         closes, or fail naming the table, so that two runs never load one
                         table at once.
  read_table(schema, name) -> ExistingTable | None: columns (with the database's own
                         type in `db_type`, and a `Kind` that maps back to the kind this
                         dialect creates for it, so that an unchanged schema plans no
                         change; a bounded string type of a table the target did not
                         create is VARCHAR with its `length`, any other type the target
                         does not create OTHER) and primary key.
  conversion(column, wanted) -> str | None: default None. For a column `read_table` gave
                         as OTHER (such as the official DAP client's PostgreSQL arrays and
                         MySQL binary uuids and IP addresses): SQL that turns a staged
                         value of the stream's kind (`wanted.kind`, written `STAGED_VALUE`)
                         into the column's own type, or None (the evolution planner then
                         refuses the column, naming it). `prepare_table` gives such a
                         column the stream's kind and the conversion: the batch is staged
                         and checked as the stream's own type, and where staged values
                         take the table's types (PostgreSQL: `load_stage`'s casts; MySQL:
                         the `SET` of `LOAD DATA`, into the staging table and straight
                         into the table) the dialect writes `Column.converted(...)`, so
                         merges, deletes and key matches need nothing more and tables the
                         target created pay nothing. A conversion keeps NULL NULL and
                         never stores NULL or a changed value for a value it cannot
                         convert: it fails the batch (an error, or a warning the load
                         fails on).
  type_name(spec, column) the column's type in this database (the type tables of the
                         target's README say which).
  create_table(spec, with_key), apply_plan(spec, existing, plan): DDL with the schema's
                         descriptions as column comments, no commit. The caller commits
                         right after; where DDL commits by itself (MySQL), each statement
                         must leave a table that `read_table` plus `plan_evolution` carry
                         on from after a crash.
  relax_not_null(qualified, column): make one column nullable (evolution, or a record
                         left it empty).
  widen_to_text(table, columns) (shared, through apply_plan): a batch holds a value
                         longer than a VARCHAR column's length (found by `check_batch`);
                         staging must hold such values, and the merge must never cut them.

Staging (a `Stage` per table and lane, reused batch after batch)
  open_stage(table), seal(stage) (main thread, before the merge), load_stage(table,
  stage) -> the relation the merge reads (columns as the table's, plus LINE and
  `_sdc_table_version`); a value the database rejects raises `TargetError` naming the
  input line and column. raw_relation (default: the loaded one) for NULL checks;
  explain_failure (default None) turns a failed merge into such an error;
  clear_stage(table, stage), drop_stage(table, stage).
  fit_memory(stage) (default no-op): size the connection's memory for the batch before
  its merge; retry_with_more_memory(error) (default False): after a merge that failed
  for memory, give more and say whether to redo the batch (it is rolled back first).
  A database that reads batches with DuckDB keeps DuckDB's buffer pool small this way
  (`duckdb_memory.py`).

Merge statements (run by `merge`, which owns the order and the transaction)
  keys_repeat(table, staged) -> bool: does a key occur twice in the batch?
  upsert(table, staged, deduplicate): insert or update the non-delete rows by key; of a
                         repeated key the last row (highest LINE) wins.
  insert_new_keys(table, staged) -> bool: default False; a plain INSERT of the non-delete
                         rows; False (statement undone) or KeysRepeatedError (whole
                         transaction void) when a key already exists.
  apply_deletes(table, staged, deduplicate): for each key whose last row is a delete,
                         set `_sdc_deleted_at` and `_sdc_table_version` (soft) or remove
                         the row (`hard_delete`).
  has_rows(table) -> bool (default: `SELECT 1 ... LIMIT 1`).
  load_new_rows(table, stage) -> BatchFacts | None: default None; a bulk load straight
                         into a table that holds only this run's keys, skipping the
                         staging table, after `check_batch` on the batch as read.
  The shared statements (checks, append, overwrite, version sweep) are portable SQL
  built with the dialect's quoting.
"""

from __future__ import annotations

import abc
import copy
import enum
import logging
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import SplitResult

import orjson

from target_dap_sql.columns import (
    BATCHED_AT,
    DELETED_AT,
    TABLE_VERSION,
    Column,
    Kind,
    TableSpec,
    utc_datetime,
)
from target_dap_sql.database_url import DatabaseUrl
from target_dap_sql.errors import MissingKeyError, TargetError
from target_dap_sql.evolution import ExistingTable, Plan, plan_evolution
from target_dap_sql.identifiers import fit_name, standard_literal, standard_quote

logger = logging.getLogger("target_dap_sql")

LINE = "_sdc_input_line"  # staging only: the input line of each record


class LoadMethod(enum.StrEnum):
    UPSERT = "upsert"
    APPEND_ONLY = "append-only"
    OVERWRITE = "overwrite"


@dataclass(frozen=True)
class LoadOptions:
    """Target settings that decide DDL and merge statements (`settings.load_options`)."""

    load_method: LoadMethod
    hard_delete: bool
    enum_as_text: bool
    duckdb_memory_limit: str | None  # None: per batch (duckdb_memory.py)
    duckdb_threads: int
    delete_batch_files: bool
    mysql_namespace_as: str  # "prefix" or "database"


@dataclass(frozen=True)
class LoadTable:
    """A prepared table: its spec (database names) and the source field of each column.

    `columns` are the database's columns for the stream's fields, in stream order, with
    their kinds as the database has them after evolution (maybe wider than the stream's).
    """

    spec: TableSpec
    columns: tuple[Column, ...]
    sources: tuple[str, ...]
    qualified: str  # the table as SQL, from Dialect.table_ref

    @property
    def key(self) -> tuple[str, ...]:
        return self.spec.key

    def label(self) -> str:
        return f"stream {self.spec.stream!r} (table {self.spec.display_name})"


@dataclass
class RunMemory:
    """What the merges of one run remember, shared by all of the run's connections."""

    overwritten: set[str] = field(default_factory=set)  # tables emptied (load_method overwrite)
    relaxed: dict[str, set[str]] = field(default_factory=dict)  # NOT NULL dropped this run
    widened: dict[str, set[str]] = field(default_factory=dict)  # varchar(n) -> text this run
    # tables empty at their first merge of the run, whose keys have not repeated since
    new_keys_only: set[str] = field(default_factory=set)
    merged: set[str] = field(default_factory=set)  # tables merged at least once this run
    # tables empty at their first merge of the run: every table version merged since (a
    # sweep of the only version such a table holds has nothing older to find)
    versions_since_empty: dict[str, set[int | None]] = field(default_factory=dict)

    def saved(self) -> RunMemory:
        return copy.deepcopy(self)

    def restore(self, saved: RunMemory) -> None:
        """Back to ``saved``, in place: every connection holds this object."""
        for memory in fields(self):  # every field, so that a new one cannot be forgotten
            setattr(self, memory.name, getattr(saved, memory.name))


@dataclass(frozen=True)
class BatchFacts:
    """What the check of a batch found besides its errors."""

    deletes: bool  # some record is a delete
    versions: frozenset[int | None]  # table versions of its rows (None: no version)


class KeysRepeatedError(Exception):
    """A plain INSERT met a key already in the table, in a database that cannot undo one
    statement: the merge is redone from the start with upserts (see insert_new_keys)."""


class Stage(abc.ABC):
    """Records of one batch on their way into the database's staging table."""

    def __init__(self) -> None:
        self.lines: array[int] = array("q")
        self.ready = threading.Event()  # cleared while its batch merges in the background
        self.ready.set()

    @property
    def size(self) -> int:
        return len(self.lines)

    @property
    def spooled_bytes(self) -> int:
        """Bytes of record JSON this batch holds for the database to read at once (0 when
        rows stream straight into the database instead)."""
        return 0

    @property
    def empty(self) -> bool:
        return not self.lines

    def describe(self) -> str:
        """What the batch holds, for the log."""
        return f"{self.size} records"

    @abc.abstractmethod
    def add(self, line: int, version: int | None, record: Any) -> None:
        """Stage one record (raw JSON bytes, or a dict from the SDK path)."""

    def seal(self) -> None:
        """Make everything added so far readable by the merge (flush buffers)."""
        return None

    def line_of(self, position: int) -> int:
        """The input line of a staged row's position (the LINE column)."""
        return position

    def where(self, position: int) -> str:
        """More about a staged row's origin than its input line, for error messages."""
        return ""

    def after_commit(self) -> None:
        """Called once the batch's rows are committed."""
        return None

    def input_line(self, staged_row: int) -> int | None:
        """Input line of the n-th staged row (1-based), as database errors count rows."""
        if 1 <= staged_row <= len(self.lines):
            return self.lines[staged_row - 1]
        return None

    def reset(self) -> None:
        self.lines = array("q")


class Dialect(abc.ABC):
    """One database connection and everything the target does with it (see the module doc)."""

    default_schema: str
    max_identifier_bytes: int | None = None
    raw_records = True
    text_holds_nul = True
    case_insensitive_names: bool = False

    def __init__(self, url: DatabaseUrl, options: LoadOptions) -> None:
        self.url = url
        self.options = options
        self.idle = threading.Event()  # cleared while the merge worker uses this connection
        self.idle.set()
        self.memory = RunMemory()

    @classmethod
    @abc.abstractmethod
    def parse_url(cls, url: str, parts: SplitResult) -> DatabaseUrl:
        """Check a `database_url` of this database (errors never show the password)."""

    # -- SQL text --------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        """An identifier as SQL."""
        return standard_quote(name)

    def literal(self, text: str) -> str:
        """A string as an SQL literal."""
        return standard_literal(text)

    def schema_ref(self, schema: str) -> str:
        """A schema as SQL."""
        return self.quote(schema)

    def table_ref(self, schema: str, name: str) -> str:
        """A table (or type) of a schema as SQL."""
        return f"{self.schema_ref(schema)}.{self.quote(name)}"

    def place(self, schema: str, name: str) -> tuple[str, str]:
        """Where the table of a stream's (schema, table) lives: (schema, table)."""
        return schema, name

    # -- connection (each dialect) ---------------------------------------------------------

    @abc.abstractmethod
    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement in the current transaction; rows if it returns any."""

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- tables (each dialect) ---------------------------------------------------------------

    def claim_table(self, spec: TableSpec) -> None:
        """Make sure no other run loads the table while this one does: two loads at once
        interleave their merges, and each snapshot's version sweep marks the other's rows
        deleted. Nothing to do where the database admits one writing process at a time."""
        return

    @abc.abstractmethod
    def read_table(self, schema: str, name: str) -> ExistingTable | None:
        """The table's columns and primary key, or None when it does not exist."""

    @abc.abstractmethod
    def type_name(self, spec: TableSpec, column: Column) -> str:
        """The database's type for a column of the table (enum types by name or inline)."""

    def conversion(self, column: Column, wanted: Column) -> str | None:
        """SQL from a staged value of ``wanted``'s kind (`STAGED_VALUE`) to the type of a
        column read back as OTHER, where this dialect writes that type (see the module doc)."""
        return None

    def _with_conversions(self, existing: ExistingTable, spec: TableSpec) -> ExistingTable:
        """The table with each column of a type the target does not create, that the
        dialect converts the stream's values into, as a column of the stream's kind."""
        columns = dict(existing.columns)
        for wanted in spec.columns:
            have = columns.get(wanted.name)
            if have is not None and have.kind == Kind.OTHER:
                sql = self.conversion(have, wanted)
                if sql is not None:
                    columns[wanted.name] = replace(have, kind=wanted.kind, conversion=sql)
        return replace(existing, columns=columns)

    def default_sql(self, column: Column) -> str | None:
        """The column's default as SQL: the database's own where it was read back, else
        the schema's `default` value (None: no default)."""
        value = column.default
        if column.db_default is not None or value is None:
            return column.db_default
        if column.kind == Kind.JSON:
            return self.literal(orjson.dumps(value).decode())
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return repr(value)
        if column.kind == Kind.TIMESTAMP:
            value = self.timestamp_text(utc_datetime(value))
        return self.literal(str(value))

    def timestamp_text(self, moment: datetime) -> str:
        """A UTC date-time (without offset) as this database reads it in a literal."""
        return moment.isoformat(sep=" ") + "+00:00"

    def column_default(self, column: Column) -> str:
        """` DEFAULT <sql>` (with ` NOT NULL` where the column requires a value) for a
        column being added: rows already in the table take the default."""
        default = self.default_sql(column)
        if default is None:
            return ""  # nullable: rows already in the table have no value for it
        return f" DEFAULT {default}" + ("" if column.nullable else " NOT NULL")

    @abc.abstractmethod
    def create_table(self, spec: TableSpec, *, with_key: bool) -> None:
        """Create schema, enum types and table, with comments (no commit)."""

    @abc.abstractmethod
    def apply_plan(self, spec: TableSpec, existing: ExistingTable, plan: Plan) -> None:
        """Apply an evolution plan (no commit)."""

    @abc.abstractmethod
    def relax_not_null(self, qualified: str, column: Column) -> None:
        """Make one column (as `read_table` gave it) of a table nullable (no commit)."""

    # -- staging (each dialect) --------------------------------------------------------------

    @abc.abstractmethod
    def open_stage(self, table: LoadTable) -> Stage:
        """A stage for the table's batches (reused batch after batch)."""

    def seal(self, stage: Stage) -> None:
        """End the stage's writing in the calling (main) thread, before a merge."""
        stage.seal()

    @abc.abstractmethod
    def load_stage(self, table: LoadTable, stage: Stage) -> str:
        """Finish the bulk load; return the staging relation for the merge statements.

        Runs inside the batch transaction; raises `TargetError` naming the line (and the
        column where the database says) of a value the database rejects.
        """

    def raw_relation(self, stage: Stage, staged: str) -> str:
        """The staged rows before any cast, for NULL checks that need no typed values."""
        return staged

    def explain_failure(
        self, table: LoadTable, stage: Stage, error: Exception
    ) -> TargetError | None:
        """A message naming the line (and column) a failed merge choked on, where findable."""
        return None

    def fit_memory(self, stage: Stage) -> None:
        """Size the connection's memory for reading this batch, before its merge."""
        return

    def retry_with_more_memory(self, error: Exception) -> bool:
        """Whether a merge that failed with ``error`` ran out of memory that is now raised,
        so that the batch (rolled back) may be redone."""
        return False

    @abc.abstractmethod
    def clear_stage(self, table: LoadTable, stage: Stage) -> None:
        """Empty the stage for the next batch (inside the batch transaction)."""

    @abc.abstractmethod
    def drop_stage(self, table: LoadTable, stage: Stage) -> None:
        """Release the stage's tables and files (end of the sink)."""

    # -- merge statements (each dialect) ----------------------------------------------------

    @abc.abstractmethod
    def keys_repeat(self, table: LoadTable, staged: str) -> bool:
        """Whether a key occurs more than once in the staged batch."""

    @abc.abstractmethod
    def upsert(self, table: LoadTable, staged: str, *, deduplicate: bool) -> None:
        """Insert or update the batch's non-delete rows by key; the last of a key wins.

        ``deduplicate`` says keys repeat in the batch; without it every key is unique.
        """

    @abc.abstractmethod
    def apply_deletes(self, table: LoadTable, staged: str, *, deduplicate: bool) -> None:
        """Apply each key's last record where it is a delete (soft or hard)."""

    def load_new_rows(self, table: LoadTable, stage: Stage) -> BatchFacts | None:
        """Optional: load a batch straight into its table, skipping the staging table.

        Asked only of a batch in upsert mode for a table in `memory.new_keys_only`. Check
        the batch as `check_batch` does (the same errors, the same NOT NULL relaxing);
        when it holds no deletes and no key twice, load it and return its facts; when a
        key is already in the table, or anything else would need the staged path, undo
        and return None. The default always returns None.
        """
        return None

    def insert_new_keys(self, table: LoadTable, staged: str) -> bool:
        """Insert the non-delete rows plainly; when a key is already in the table, undo the
        statement and say False, or raise KeysRepeatedError where one statement cannot be
        undone. A dialect that implements neither never tries (the default)."""
        return False

    def has_rows(self, table: LoadTable) -> bool:
        return bool(self.execute(f"SELECT 1 FROM {table.qualified} LIMIT 1"))

    # -- shared: prepare -----------------------------------------------------------------

    def fit_spec(self, spec: TableSpec) -> tuple[TableSpec, tuple[str, ...]]:
        """The spec with names the database accepts, and each column's source field."""
        limit = self.max_identifier_bytes
        names: dict[str, str] = {}
        fitted: list[Column] = []
        for column in spec.columns:
            name = fit_name(column.name, limit, what=f"column of stream {spec.stream!r}")
            folded = name.lower() if self.case_insensitive_names else name
            if folded in names:
                raise TargetError(
                    f"stream {spec.stream!r}: columns {names[folded]!r} and {column.name!r} "
                    "map to the same database column name; rename one in the tap "
                    "(or with a stream map)"
                )
            names[folded] = column.name
            fitted.append(replace(column, name=name))
        by_source = dict(zip((c.name for c in spec.columns), fitted, strict=True))
        key = tuple(by_source[k].name for k in spec.key)
        schema, name = self.place(spec.schema, spec.name)
        table = TableSpec(
            schema=fit_name(schema, limit, what="schema"),
            name=fit_name(name, limit, what="table"),
            columns=tuple(fitted),
            key=key,
            stream=spec.stream,
        )
        return table, tuple(c.name for c in spec.columns)

    def prepare_table(self, wanted: TableSpec) -> LoadTable:
        """Create or evolve the table for a SCHEMA message, committed before any data."""
        spec, sources = self.fit_spec(wanted)
        upsert = self.options.load_method != LoadMethod.APPEND_ONLY
        try:
            self.claim_table(spec)
            existing = self.read_table(spec.schema, spec.name)
            if existing is not None:
                existing = self._with_conversions(existing, spec)
            if existing is None:
                self.create_table(spec, with_key=upsert and bool(spec.key))
                logger.info("Created table %s", spec.display_name)
            else:
                plan = plan_evolution(
                    existing, spec, upsert=upsert, type_name=partial(self.type_name, spec)
                )
                if plan:
                    self.apply_plan(spec, existing, plan)
                    logger.info("Evolved table %s: %s", spec.display_name, plan)
            self.commit()
        except TargetError:
            self.rollback()
            raise
        except Exception as error:
            self.rollback()
            raise TargetError(f"table {spec.display_name}: {error}") from error
        final = self.read_table(spec.schema, spec.name)
        assert final is not None
        final = self._with_conversions(final, spec)
        columns = tuple(final.columns[c.name] for c in spec.columns)
        return LoadTable(
            spec=spec,
            columns=columns,
            sources=sources,
            qualified=self.table_ref(spec.schema, spec.name),
        )

    # -- shared: merge -------------------------------------------------------------------

    def data_columns(self, table: LoadTable) -> list[str]:
        """Columns filled from records (metadata columns of the target excluded)."""
        return [c.name for c in table.columns if c.name not in (TABLE_VERSION, BATCHED_AT)]

    def merge(self, table: LoadTable, stage: Stage) -> None:
        """Load the staged batch into the table in one transaction, then commit."""
        if stage.empty:
            return
        try:
            self.fit_memory(stage)
            before = self.memory.saved()
            while True:  # each redo is for a reason that cannot happen twice
                try:
                    self._merge_once(table, stage)
                    break
                except KeysRepeatedError:  # the transaction is void: start the batch over
                    self.rollback()
                    self.memory.restore(before)
                    self.memory.new_keys_only.discard(table.qualified)
                except Exception as error:
                    if not self.retry_with_more_memory(error):
                        raise
                    self.rollback()
                    self.memory.restore(before)
        except TargetError:
            self.rollback()
            raise
        except Exception as error:
            try:
                explained = self.explain_failure(table, stage, error)
            except Exception:
                explained = None
            self.rollback()
            if explained is not None:
                raise explained from error
            first, last = (stage.lines[0], stage.lines[-1]) if stage.lines else (0, 0)
            raise TargetError(
                f"{table.label()}: the database rejected the batch of input lines "
                f"{first}-{last}: {error}"
            ) from error
        stage.after_commit()

    def _merge_once(self, table: LoadTable, stage: Stage) -> None:
        memory, method = self.memory, self.options.load_method
        if table.qualified not in memory.merged:
            memory.merged.add(table.qualified)
            if not self.has_rows(table):
                memory.versions_since_empty[table.qualified] = set()
                memory.new_keys_only.add(table.qualified)
        facts = None
        if method == LoadMethod.UPSERT and table.key and table.qualified in memory.new_keys_only:
            facts = self.load_new_rows(table, stage)
        if facts is None:
            staged = self.load_stage(table, stage)
            facts = self.check_batch(table, stage, self.raw_relation(stage, staged))
            if method == LoadMethod.OVERWRITE and table.qualified not in memory.overwritten:
                self.execute(f"DELETE FROM {table.qualified}")
                memory.overwritten.add(table.qualified)
            if method == LoadMethod.APPEND_ONLY or not table.key:
                self._append(table, staged)
            else:
                self._upsert(table, staged, has_deletes=facts.deletes)
        if table.qualified in memory.versions_since_empty:
            memory.versions_since_empty[table.qualified] |= facts.versions
        self.clear_stage(table, stage)
        self.commit()

    def bounded_columns(self, table: LoadTable) -> list[Column]:
        """The `varchar(n)` columns (of tables the target did not create) whose values
        `check_batch` measures: none in the target's own tables."""
        widened = self.memory.widened.get(table.qualified, ())
        return [
            c
            for c in table.columns
            if c.kind == Kind.VARCHAR and c.length is not None and c.name not in widened
        ]

    def checked_columns(self, table: LoadTable) -> set[str]:
        """The columns `check_batch` reads: what a dialect that checks a batch before
        loading it (`load_new_rows`) must read of it."""
        columns = {*table.key, DELETED_AT} | {c.name for c in table.columns if not c.nullable}
        return columns | {c.name for c in self.bounded_columns(table)}

    def check_batch(
        self,
        table: LoadTable,
        stage: Stage,
        staged: str,
        *,
        quote: Callable[[str], str] | None = None,
        query: Callable[[str], list[tuple[Any, ...]]] | None = None,
    ) -> BatchFacts:
        """Fail on a record without its key; relax a NOT NULL column a record leaves empty;
        widen a `varchar(n)` column to text where a value is longer than n.

        Deletes carry only their key, so they never count as missing a value. The same
        scan of the batch tells whether it holds deletes and which table versions, and the
        longest value of each bounded column. A dialect that reads the batch elsewhere
        before loading it (`load_new_rows`) passes that reader's ``quote`` and ``query``.
        """
        q = quote or self.quote
        checks: list[tuple[str, str]] = [(k, f"{q(k)} IS NULL") for k in table.key]
        deleted = f"{q(DELETED_AT)} IS NOT NULL"
        relaxed = self.memory.relaxed.get(table.qualified, set())
        checks += [
            (c.name, f"{q(c.name)} IS NULL AND NOT ({deleted})")
            for c in table.columns
            if not c.nullable
            and c.name not in table.key
            and c.name not in relaxed
            and c.name in self.data_columns(table)
        ]
        bounded = self.bounded_columns(table)
        version = q(TABLE_VERSION)
        select = ", ".join(
            [f"MIN(CASE WHEN {cond} THEN {q(LINE)} END)" for _, cond in checks]
            + [f"MAX(CHAR_LENGTH({q(c.name)}))" for c in bounded]
            + [f"COUNT(CASE WHEN {deleted} THEN 1 END)"]
            + [f"MIN({version})", f"MAX({version})", f"COUNT(*) - COUNT({version})"]
        )
        row = (query or self.execute)(f"SELECT {select} FROM {staged}")[0]
        lines, longest = row[: len(checks)], row[len(checks) : len(checks) + len(bounded)]
        deletes, oldest, newest, unversioned = row[len(checks) + len(bounded) :]
        found = [(int(pos), name) for (name, _), pos in zip(checks, lines, strict=True) if pos]
        missing_keys = sorted((pos, name) for pos, name in found if name in table.key)
        if missing_keys:
            pos, name = missing_keys[0]
            raise MissingKeyError(
                f"{table.label()}{stage.where(pos)}: the record has no value for key "
                f"property {name!r}",
                line=stage.line_of(pos),
            )
        columns = {c.name: c for c in table.columns}
        for pos, name in sorted(found):
            # A value missing where the schema's type has no null: the property is optional
            # in JSON Schema terms (not in `required`), so the column learns it, as when a
            # source relaxes a column. Committed with the batch.
            if name not in self.memory.relaxed.setdefault(table.qualified, set()):
                self.memory.relaxed[table.qualified].add(name)
                logger.warning(
                    "%s: input line %d%s has no value for NOT NULL column %r; making the "
                    "column nullable",
                    table.label(),
                    stage.line_of(pos),
                    stage.where(pos),
                    name,
                )
                self.relax_not_null(table.qualified, columns[name])
        too_long = [
            (c, int(n))
            for c, n in zip(bounded, longest, strict=True)
            if n is not None and int(n) > (c.length or 0)
        ]
        if too_long:
            self.widen_to_text(table, too_long)
        versions: set[int | None] = {None} if unversioned else set()
        versions |= {int(v) for v in (oldest, newest) if v is not None}
        return BatchFacts(deletes=bool(deletes), versions=frozenset(versions))

    def widen_to_text(self, table: LoadTable, too_long: list[tuple[Column, int]]) -> None:
        """Widen `varchar(n)` columns to text before a batch with longer values merges.

        As any evolution: on a database with transactional DDL it commits with the batch;
        where DDL commits by itself (MySQL) the column is text from then on, and a run that
        dies before the rows commit finds it so and measures nothing.
        """
        existing = ExistingTable(columns={c.name: c for c in table.columns}, key=table.key)
        plan = Plan(
            retype=[(c, replace(c, kind=Kind.TEXT, db_type=None, length=None)) for c, _ in too_long]
        )
        self.apply_plan(table.spec, existing, plan)
        self.memory.widened.setdefault(table.qualified, set()).update(c.name for c, _ in too_long)
        for column, longest in too_long:
            logger.warning(
                "%s: column %r widened from %s to text: the batch holds a value of %d characters",
                table.label(),
                column.name,
                column.describe(),
                longest,
            )

    def insert_select(self, table: LoadTable) -> tuple[list[str], str]:
        """(the columns an insert writes, `INSERT INTO t (...) SELECT ...` up to its FROM):
        every data column and the table version from the staged rows, and the time."""
        columns = [*self.data_columns(table), TABLE_VERSION, BATCHED_AT]
        names = ", ".join(self.quote(c) for c in columns)
        values = ", ".join(self.quote(c) for c in columns[:-1])
        return columns, (
            f"INSERT INTO {table.qualified} ({names}) SELECT {values}, CURRENT_TIMESTAMP"
        )

    def insert_rows(self, table: LoadTable, staged: str) -> str:
        """The plain INSERT of the batch's non-delete rows (for `insert_new_keys`)."""
        _, insert = self.insert_select(table)
        return f"{insert} FROM (SELECT * FROM {staged} WHERE {self.quote(DELETED_AT)} IS NULL) AS d"

    def _append(self, table: LoadTable, staged: str) -> None:
        _, insert = self.insert_select(table)
        self.execute(f"{insert} FROM {staged} ORDER BY {self.quote(LINE)}")

    def _upsert(self, table: LoadTable, staged: str, *, has_deletes: bool) -> None:
        """Per key: upsert its last record that is not a delete, then apply its last delete.

        Applying both (not only the very last record) makes the result the same however
        the records fall into batches: an insert and a delete of one key in one batch
        leave a row marked deleted (soft) or no row (hard), as two batches would.

        Into a table that is still empty no key can conflict: a plain INSERT skips the
        upsert's conflict handling (about 40% of an initial load's merge on PostgreSQL).
        After that first batch, a dialect that can undo one statement keeps trying plain
        INSERTs until a key repeats (a snapshot's keys never do).
        """
        repeated = self.keys_repeat(table, staged)
        new_keys_only = self.memory.new_keys_only
        if repeated:
            new_keys_only.discard(table.qualified)
            self.upsert(table, staged, deduplicate=True)
        elif table.qualified in new_keys_only:
            if not self.insert_new_keys(table, staged):
                new_keys_only.discard(table.qualified)
                self.upsert(table, staged, deduplicate=False)
        elif not self.has_rows(table):
            new_keys_only.add(table.qualified)
            self.execute(self.insert_rows(table, staged))
        else:
            self.upsert(table, staged, deduplicate=False)
        if has_deletes:
            self.apply_deletes(table, staged, deduplicate=repeated)

    def sweep_versions(self, table: LoadTable, version: int) -> None:
        """ACTIVATE_VERSION: rows of older (or no) table versions go, or are marked deleted.

        Skipped when the table was empty at this run's first merge into it and every row
        merged since carries this version (a snapshot into a new table): the full scan
        would find nothing.
        """
        if self.memory.versions_since_empty.get(table.qualified) == {version}:
            logger.debug("%s: ACTIVATE_VERSION %s finds no older rows", table.label(), version)
            return
        q = self.quote
        older = f"({q(TABLE_VERSION)} IS NULL OR {q(TABLE_VERSION)} < {int(version)})"
        try:
            if self.options.hard_delete:
                self.execute(f"DELETE FROM {table.qualified} WHERE {older}")
            else:
                self.execute(
                    f"UPDATE {table.qualified} SET {q(DELETED_AT)} = CURRENT_TIMESTAMP, "
                    f"{q(BATCHED_AT)} = CURRENT_TIMESTAMP WHERE {older} "
                    f"AND {q(DELETED_AT)} IS NULL"
                )
            self.commit()
        except Exception as error:
            self.rollback()
            raise TargetError(f"{table.label()}: ACTIVATE_VERSION {version}: {error}") from error
