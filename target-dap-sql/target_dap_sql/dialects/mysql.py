"""MySQL 8 and MariaDB 10.6+ through PyMySQL: CSV by DuckDB, LOAD DATA LOCAL, ON DUPLICATE KEY.

Records are spooled as raw JSON, as for DuckDB. At the merge an in-memory DuckDB types
the batch (strict integers, timestamps, uuids, JSON: a bad value is named with its line
and column) and writes it as a CSV file, which `LOAD DATA LOCAL INFILE` bulk-loads into
a temporary staging table with the table's own column types; the merge is set-based SQL
from there. No Python touches a row between the spool and the server. The driver only
carries the file: measured on MariaDB 10.11, 1M rows of 379 bytes took 6.5-7.8 s with
PyMySQL, mysql-connector-python (pure or C) and the `mariadb` CLI alike, so the pure
Python driver (no system libraries to install) was chosen.

What MySQL lacks, and how we live with it:
- No schemas inside a database: a stream's table `canvas.accounts` is `canvas__accounts`
  in the URL's database, the official DAP client's names (or, with `mysql_namespace_as:
  database`, table `accounts` of database `canvas`).
- DDL commits by itself: each evolution is one `ALTER TABLE` committed before data, and
  `read_table` + `plan_evolution` carry on from whatever a killed run left. A NOT NULL
  column relaxed by a record commits the (still empty) batch transaction.
- `LOAD DATA LOCAL` turns bad values into warnings (it cannot stop the file's transfer)
  and stores them changed or drops their rows: any warning, or fewer rows than the CSV
  holds, fails the batch naming the column and the input line of the row it cites.
- No `ON CONFLICT`: `INSERT ... SELECT ... FROM staged AS s ORDER BY line ON DUPLICATE KEY
  UPDATE c = s.c` (not the deprecated `VALUES(c)`, nor MySQL 8's row alias, which MariaDB
  lacks); later rows of a key update earlier ones, so the last wins.
- No `DISTINCT ON`, and MySQL cannot name a temporary table twice in one query: the last
  record of a repeated key comes from `ROW_NUMBER()` into a second temporary table.
- No named enum types: `ENUM(...)` inline, members appended by `MODIFY COLUMN` with the
  whole column definition (instant while the member count stays under 256).
- Text in a primary key needs a length (InnoDB's key is at most 3,072 bytes): see
  `_text_key_length`; a longer key fails naming the column and line, never truncated.
- Binary (case- and space-sensitive) collation for keys and enums, so that `a`, `A` and
  `a ` stay three keys: `utf8mb4_nopad_bin` on MariaDB, `utf8mb4_0900_bin` on MySQL.
- Tables of the official DAP client keep their types: `tinyint` holds booleans, a
  `varchar(n)` is staged unbounded and widened to LONGTEXT (its character set and
  collation kept) before a batch with a longer value merges, an inline enum keeps its
  `ascii` character set when it grows, a `datetime` without fraction takes whole
  seconds (the fraction dropped, as MariaDB does; MySQL 8 would round it), and its
  `binary(16)` uuids and `binary(4)`/`binary(16)` IP addresses take the stream's text
  converted by the `SET` of `LOAD DATA` (see `MySQLDialect.conversion`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import duckdb
import pymysql

from target_dap_sql.columns import (
    BATCHED_AT,
    DELETED_AT,
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
    Dialect,
    LoadOptions,
    LoadTable,
    Stage,
    logger,
)
from target_dap_sql.duckdb_memory import DuckDBMemory
from target_dap_sql.errors import TargetError
from target_dap_sql.evolution import ExistingTable, Plan
from target_dap_sql.identifiers import standard_quote
from target_dap_sql.spool import Field, SpoolStage, memory_reader
from target_dap_sql.staging import StagingDir

_BACKSLASH_ESCAPE = re.compile(r"\\(.)|''", re.S)
_ESCAPED = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "b": "\b"}


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return "'" if char is None else _ESCAPED.get(char, char)


_NO_LITERAL_DEFAULT = frozenset({Kind.TEXT, Kind.JSON})
_TYPE_NAMES = {
    Kind.SMALLINT: "SMALLINT",
    Kind.INTEGER: "INT",
    Kind.BIGINT: "BIGINT",
    Kind.DOUBLE: "DOUBLE",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.TIMESTAMP: "DATETIME(6)",
    Kind.DATE: "DATE",
    Kind.TIME: "TIME(6)",
    Kind.UUID: "CHAR(36)",
    Kind.IP: "VARCHAR(45)",
    Kind.TEXT: "LONGTEXT",
    Kind.JSON: "JSON",
}
_KINDS = {
    "smallint": Kind.SMALLINT,
    "mediumint": Kind.INTEGER,
    "int": Kind.INTEGER,
    "bigint": Kind.BIGINT,
    "decimal": Kind.DECIMAL,
    "double": Kind.DOUBLE,
    "float": Kind.DOUBLE,
    "datetime": Kind.TIMESTAMP,
    "timestamp": Kind.TIMESTAMP,
    "date": Kind.DATE,
    "time": Kind.TIME,
    "tinytext": Kind.TEXT,
    "text": Kind.TEXT,
    "mediumtext": Kind.TEXT,
    "longtext": Kind.TEXT,
    "json": Kind.JSON,
    "enum": Kind.ENUM,
}
# How DuckDB's reader types each kind on its way to the CSV (see `_csv_value`); the
# server parses the rest (decimals and times as text, exactly as sent).
_READ_TYPES = {
    Kind.SMALLINT: "SMALLINT",
    Kind.INTEGER: "INTEGER",
    Kind.BIGINT: "BIGINT",
    Kind.DOUBLE: "DOUBLE",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    Kind.DATE: "DATE",
    Kind.UUID: "UUID",
    Kind.JSON: "JSON",
}
_INTEGER_KINDS = {Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT}
_MAX_IDENTIFIER = 64
_MAX_COMMENT = 1024  # characters of a column comment
_KEY_BYTES = 3072  # InnoDB's longest index key (DYNAMIC rows)
_KEY_COLUMN_BYTES = 180  # budgeted for any key column that is not text (a CHAR(45) at most)
_MAX_TEXT_KEY = 768  # characters: 3,072 bytes of utf8mb4
_SESSION_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION,NO_BACKSLASH_ESCAPES"
)
# CSV as both sides read it: every value quoted, NULL as the bare word (a quoted "NULL"
# is the string), quotes doubled, no backslash escapes; verified to round-trip quotes,
# backslashes, tabs, CR/LF, NUL, 4-byte UTF-8 and megabyte strings.
_DUCKDB_CSV = (
    "FORMAT CSV, HEADER false, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NULLSTR 'NULL', "
    "FORCE_QUOTE *"
)
LOAD_CSV = (
    "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
    "ESCAPED BY '' LINES TERMINATED BY '\n'"  # a newline itself: no backslash escapes
)
_WARNING_AT_ROW = re.compile(
    r"column [`'\"]?(?:[^`'\"]*[`'\"]?\.[`'\"]?)*([^`'\" ]+)[`'\"]? at row (\d+)"
)
_ROW_ONLY = re.compile(r"[Rr]ow (\d+)")
_ENUM_MEMBER = re.compile(r"'((?:[^']|'')*)'")
_CHARSET = re.compile(r" CHARACTER SET (\S+) COLLATE \S+$")  # as read_table appends it
_URL_OPTIONS = {"ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity"}
_DUPLICATE_KEY = 1062
# what an IP address column of the official client takes for a value INET6_ATON refuses:
# longer than any binary(n) address, so that the load warns (see MySQLDialect.conversion)
_NOT_AN_ADDRESS = "'not an IP address: '"


class MySQLStage(SpoolStage):
    """The JSON spool of a batch, and the temporary table it is loaded into."""

    relation: str


class MySQLDialect(Dialect):
    """MySQL 8.0+ or MariaDB 10.6+ (InnoDB), one database: the URL's."""

    default_schema = ""  # a stream without `schema-`: its table is named as the stream
    max_identifier_bytes = _MAX_IDENTIFIER
    case_insensitive_names = True

    @classmethod
    def parse_url(cls, url: str, parts: SplitResult) -> DatabaseUrl:
        usage = "use mysql://user:password@host:port/database"
        database = unquote(parts.path.lstrip("/"))
        if not parts.hostname:
            raise TargetError(f"database_url {redact(url)!r} names no host; {usage}")
        if not database or "/" in database:
            raise TargetError(f"database_url {redact(url)!r} names no database; {usage}")
        unknown = {k for k, _ in parse_qsl(parts.query)} - _URL_OPTIONS
        if unknown:
            raise TargetError(
                f"database_url: unknown option(s) {', '.join(sorted(unknown))}; MySQL URLs "
                f"take {', '.join(sorted(_URL_OPTIONS))}"
            )
        return DatabaseUrl("mysql", url, None)

    def __init__(self, url: DatabaseUrl, options: LoadOptions) -> None:
        super().__init__(url, options)
        self.duckdb_memory = DuckDBMemory(options.duckdb_memory_limit)
        parts = urlsplit(url.url)
        settings: dict[str, Any] = {
            k: (v.lower() in ("1", "true", "yes") if k.startswith("ssl_verify") else v)
            for k, v in parse_qsl(parts.query)
        }
        try:
            self.connection = pymysql.connect(
                host=parts.hostname,
                port=parts.port or 3306,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                database=unquote(parts.path.lstrip("/")),
                charset="utf8mb4",
                autocommit=False,
                local_infile=True,
                connect_timeout=15,
                **settings,
            )
        except pymysql.Error as error:
            raise TargetError(
                f"cannot connect to MySQL at {url.redacted}: {redact(str(error)).strip()}; "
                "check database_url and that the server is running"
            ) from error
        self.database = unquote(parts.path.lstrip("/"))
        version = str(self.execute("SELECT VERSION()")[0][0])
        self.mariadb = "mariadb" in version.lower()
        self.binary_collation = "utf8mb4_nopad_bin" if self.mariadb else "utf8mb4_0900_bin"
        self.execute(f"SET SESSION sql_mode = '{_SESSION_SQL_MODE}'")
        self.execute("SET SESSION time_zone = '+00:00'")  # DATETIME holds UTC
        local_infile = self.execute("SELECT @@GLOBAL.local_infile")[0][0]
        if not int(local_infile):
            raise TargetError(
                f"MySQL at {url.redacted} refuses LOAD DATA LOCAL INFILE, the target's bulk "
                "path: enable it on the server (`SET PERSIST local_infile = 1`, or "
                "local_infile=1 in the server's configuration)"
            )
        self.commit()
        self.staging = StagingDir()
        self._reader: duckdb.DuckDBPyConnection | None = None
        self._stage_count = 0

    # -- SQL text --------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"  # NO_BACKSLASH_ESCAPES is on

    def place(self, schema: str, name: str) -> tuple[str, str]:
        if not schema:
            return self.database, name
        if self.options.mysql_namespace_as == "database":
            return schema, name
        return self.database, f"{schema}__{name}"

    # -- connection ---------------------------------------------------------------------

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()

    def close(self) -> None:
        with contextlib.suppress(pymysql.Error):
            self.connection.close()
        if self._reader is not None:
            self._reader.close()
        self.staging.remove()

    def claim_table(self, spec: TableSpec) -> None:
        """A named lock per table (`GET_LOCK`), held until the session ends or dies."""
        name = f"target-dap-sql:{spec.display_name}"
        if len(name) > _MAX_IDENTIFIER:  # the longest lock name MySQL takes
            digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:12]
            name = f"target-dap-sql:{digest}"
        if not self.execute(f"SELECT GET_LOCK({self.literal(name)}, 0)")[0][0]:
            raise TargetError(
                f"table {spec.display_name} is being loaded by another run of target-dap-sql "
                "(two loads of one table at once would undo each other's rows): load "
                "disjoint tables in runs side by side, or run again once the other has ended"
            )

    # -- catalog -------------------------------------------------------------------------

    def read_table(self, schema: str, name: str) -> ExistingTable | None:
        where = f"TABLE_SCHEMA = {self.literal(schema)} AND TABLE_NAME = {self.literal(name)}"
        rows = self.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_COMMENT, "
            "CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_DEFAULT, EXTRA "
            f"FROM information_schema.COLUMNS "
            f"WHERE {where} ORDER BY ORDINAL_POSITION"
        )
        if not rows:
            return None
        key = tuple(
            str(r[0])
            for r in self.execute(
                f"SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE {where} "
                "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION"
            )
        )
        json_columns = self._json_checked(schema, name) if self.mariadb else set()
        columns: dict[str, Column] = {}
        for col, data_type, column_type, nullable, comment, charset, collation, *default in rows:
            type_name = str(column_type)
            kind = _kind_of(str(data_type).lower(), type_name.lower(), in_key=str(col) in key)
            if str(col) in json_columns:
                kind = Kind.JSON
            members = (
                tuple(m.replace("''", "'") for m in _ENUM_MEMBER.findall(type_name))
                if kind == Kind.ENUM
                else ()
            )
            length = declared_length(type_name) if kind == Kind.VARCHAR else None
            if charset and kind != Kind.JSON:
                type_name += f" CHARACTER SET {charset} COLLATE {collation}"
            columns[str(col)] = Column(
                name=str(col),
                kind=kind,
                nullable=nullable == "YES",
                comment=str(comment) if comment else None,
                members=members,
                db_type=type_name,
                db_default=self._default_read_back(*default),
                length=length,
            )
        return ExistingTable(columns=columns, key=key)

    def _default_read_back(self, default: str | None, extra: str) -> str | None:
        """A column's default as SQL, so that MODIFY COLUMN (which restates the whole
        column) keeps it. MariaDB shows it as SQL ('NULL' for none); MySQL 8 shows a
        literal's value bare and an expression's text with DEFAULT_GENERATED."""
        if default is None or (self.mariadb and default == "NULL"):
            return None
        if self.mariadb:
            if default.startswith("'"):  # shown with backslash escapes, whatever sql_mode
                return self.literal(_BACKSLASH_ESCAPE.sub(_unescape, default[1:-1]))
            return default
        return f"({default})" if "DEFAULT_GENERATED" in extra else self.literal(default)

    def _json_checked(self, schema: str, name: str) -> set[str]:
        """MariaDB's JSON is LONGTEXT with a `json_valid` CHECK: the columns it guards."""
        clauses = self.execute(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            f"WHERE CONSTRAINT_SCHEMA = {self.literal(schema)} "
            f"AND TABLE_NAME = {self.literal(name)}"
        )
        found = set()
        for (clause,) in clauses:
            match = re.fullmatch(r"json_valid\(`((?:[^`]|``)*)`\)", str(clause).strip())
            if match:
                found.add(match.group(1).replace("``", "`"))
        return found

    # -- DDL -----------------------------------------------------------------------------

    def type_name(self, spec: TableSpec, column: Column) -> str:
        """The column's type; key text gets a length and keys and enums a binary collation."""
        if column.kind == Kind.ENUM:
            return self._enum_type(column)
        if column.kind == Kind.DECIMAL:
            return "DOUBLE" if column.scale is None else f"DECIMAL(65, {min(column.scale, 30)})"
        if column.name in spec.key and column.kind in (Kind.TEXT, Kind.VARCHAR):
            length = _text_key_length(spec)
            return f"VARCHAR({length}) CHARACTER SET utf8mb4 COLLATE {self.binary_collation}"
        if column.name in spec.key and column.kind in (Kind.UUID, Kind.IP):
            return (
                f"{_TYPE_NAMES[column.kind]} CHARACTER SET utf8mb4 COLLATE {self.binary_collation}"
            )
        return _TYPE_NAMES[column.kind]

    def _enum_type(self, column: Column) -> str:
        """An inline ENUM of the column's members, in the character set and collation the
        column has (the official client's `ascii`, where every member is ASCII), else
        utf8mb4 with the binary collation."""
        members = ", ".join(self.literal(m) for m in column.members)
        charset = _CHARSET.search(column.db_type or "")
        if charset is None or (
            charset.group(1) == "ascii" and not all(m.isascii() for m in column.members)
        ):
            return f"ENUM({members}) CHARACTER SET utf8mb4 COLLATE {self.binary_collation}"
        return f"ENUM({members}){charset.group(0)}"

    def conversion(self, column: Column, wanted: Column) -> str | None:
        """The official client's `binary(16)` uuids (the 16 bytes of the uuid, in its
        text's order) and `binary(4)`/`binary(16)` IP addresses (`INET6_ATON`'s 4 bytes
        of an IPv4 address, which a binary(16) pads with zeros, or 16 of an IPv6 one).

        `INET6_ATON` gives NULL for what is not an address: the text then goes to the
        column prefixed, too long for it, so that the load warns (naming the column and
        the row) and the batch fails instead of storing NULL. Uuids need no such guard:
        DuckDB's reader has checked them.
        """
        if wanted.kind == Kind.UUID and column.db_type == "binary(16)":
            return f"UNHEX(REPLACE({STAGED_VALUE}, '-', ''))"
        if wanted.kind == Kind.IP and column.db_type in ("binary(4)", "binary(16)"):
            address = f"INET6_ATON({STAGED_VALUE})"
            refused = f"CAST(CONCAT({_NOT_AN_ADDRESS}, {STAGED_VALUE}) AS BINARY)"
            return f"COALESCE({address}, {refused})"  # both binary: no character set check
        return None

    def default_sql(self, column: Column) -> str | None:
        default = super().default_sql(column)
        if column.db_default is None and default is not None and column.kind in _NO_LITERAL_DEFAULT:
            return f"({default})"  # MySQL 8 takes only an expression default on TEXT and JSON
        return default

    def timestamp_text(self, moment: datetime) -> str:
        return moment.isoformat(sep=" ")  # the session's time zone is UTC

    def _definition(self, column: Column, type_name: str, *, nullable: bool) -> str:
        """The whole column definition, as ADD and MODIFY COLUMN need it."""
        default = self.default_sql(column)
        text = "" if default is None else f" DEFAULT {default}"
        text += "" if nullable else " NOT NULL"
        comment = column.comment
        if comment:
            if len(comment) > _MAX_COMMENT:
                logger.debug("Column %s: comment cut to %d characters", column.name, _MAX_COMMENT)
            text += f" COMMENT {self.literal(comment[:_MAX_COMMENT])}"
        return f"{self.quote(column.name)} {type_name}{text}"

    def create_table(self, spec: TableSpec, *, with_key: bool) -> None:
        if spec.schema != self.database:  # mysql_namespace_as: database
            self.execute(
                f"CREATE DATABASE IF NOT EXISTS {self.quote(spec.schema)} CHARACTER SET utf8mb4"
            )
        definitions = [
            self._definition(c, self.type_name(spec, c), nullable=c.nullable) for c in spec.columns
        ]
        if with_key:
            definitions.append(f"PRIMARY KEY ({', '.join(self.quote(k) for k in spec.key)})")
        table = self.table_ref(spec.schema, spec.name)
        self.execute(
            f"CREATE TABLE {table} ({', '.join(definitions)}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )

    def apply_plan(self, spec: TableSpec, existing: ExistingTable, plan: Plan) -> None:
        """One `ALTER TABLE` for the whole plan (MySQL commits it on its own)."""
        table = self.table_ref(spec.schema, spec.name)
        # A new column requires a value only where it has a default for the rows already in
        # the table; NOT NULL and the default arrive in the same statement.
        clauses = [
            "ADD COLUMN "
            + self._definition(
                c, self.type_name(spec, c), nullable=c.nullable or self.default_sql(c) is None
            )
            for c in plan.add
        ]
        # Each existing column changes at most once: its members, nullability and type.
        changed: dict[str, Column] = {}
        for have, members in plan.add_members:
            changed[have.name] = dataclasses.replace(
                changed.get(have.name, have), members=have.members + members
            )
        for have in plan.relax:
            changed[have.name] = dataclasses.replace(changed.get(have.name, have), nullable=True)
        for have, new in plan.retype:
            if new.kind == Kind.JSON and have.kind not in _INTEGER_KINDS | {
                Kind.DECIMAL,
                Kind.DOUBLE,
            }:
                raise TargetError(
                    f"table {spec.display_name}, column {have.name}: the stream now sends "
                    f"JSON where the table holds {have.describe()}; MySQL cannot convert "
                    "such values to JSON in place: rename or drop the column and load again"
                )
            changed[have.name] = dataclasses.replace(
                changed.get(have.name, have),
                kind=new.kind,
                members=new.members,
                scale=new.scale,
                db_type=_unbounded(have) if have.kind == Kind.VARCHAR else None,
            )
        for column in changed.values():
            type_name = column.db_type or self.type_name(spec, column)
            if column.kind == Kind.ENUM:
                type_name = self.type_name(spec, column)
            clauses.append(
                "MODIFY COLUMN " + self._definition(column, type_name, nullable=column.nullable)
            )
        if clauses:
            self.execute(f"ALTER TABLE {table} {', '.join(clauses)}")

    def relax_not_null(self, qualified: str, column: Column) -> None:
        assert column.db_type is not None  # read back from the table
        definition = self._definition(column, column.db_type, nullable=True)
        self.execute(f"ALTER TABLE {qualified} MODIFY COLUMN {definition}")

    # -- staging -------------------------------------------------------------------------

    def open_stage(self, table: LoadTable) -> Stage:
        self._stage_count += 1
        stage = MySQLStage(
            self.staging.path / f"stage_{self._stage_count}.ndjson",
            table,
            delete_batch_files=self.options.delete_batch_files,
        )
        stage.relation = self.quote(f"_sdc_stage_{self._stage_count}")
        self.staging.track(stage)
        return stage

    @property
    def reader(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB that types spooled records and writes them as CSV."""
        if self._reader is None:
            # unordered: see _load_warning
            self._reader = memory_reader(self.options, self.duckdb_memory, ordered=False)
        return self._reader

    def _fields(self, table: LoadTable) -> list[tuple[Field, Column]]:
        data = set(self.data_columns(table))
        return [
            (
                Field(
                    source,
                    column.name,
                    _READ_TYPES.get(column.kind, "VARCHAR"),
                    column.kind,
                ),
                column,
            )
            for source, column in zip(table.sources, table.columns, strict=True)
            if column.name in data
        ]

    def load_stage(self, table: LoadTable, stage: Stage) -> str:
        """Spool -> DuckDB -> CSV -> LOAD DATA LOCAL into a temporary staging table."""
        assert isinstance(stage, MySQLStage)
        q, relation = self.quote, stage.relation
        pairs = self._fields(table)
        columns = [c for _, c in pairs]
        # a varchar(n) column is staged unbounded: check_batch widens it for longer values
        typed = ", ".join(
            f"{q(c.name)} {_unbounded(c) if c.kind == Kind.VARCHAR else c.db_type}" for c in columns
        )
        self.execute(f"DROP TEMPORARY TABLE IF EXISTS {relation}")
        self.execute(
            f"CREATE TEMPORARY TABLE {relation} ({q(LINE)} BIGINT NOT NULL, "
            f"{q(TABLE_VERSION)} BIGINT, {typed}) DEFAULT CHARSET=utf8mb4"
        )
        fields, converted = self._load_targets(columns)
        names = ", ".join([q(LINE), q(TABLE_VERSION), *fields])
        into = f"{relation} {LOAD_CSV} ({names})" + (f" SET {converted}" if converted else "")
        if not self._load_csv(stage, pairs, into):  # a warning may also have dropped a row
            raise self._load_warning(table, stage, pairs, into)
        return relation

    def load_new_rows(self, table: LoadTable, stage: Stage) -> BatchFacts | None:
        """LOAD DATA LOCAL straight into the table, for a batch of new keys only.

        An initial load then writes each row once (no staging table, no INSERT ... SELECT:
        a quarter of its time). DuckDB checks the batch first, as the staged path's check
        would. A key met twice (in the batch or the table) or any value the server warns
        about undoes the load, and the staged path takes the batch (deduplicating, or
        naming the value it rejects).
        """
        assert isinstance(stage, MySQLStage)
        needed = self.checked_columns(table)
        pairs = self._fields(table)
        checked = [f for f, c in pairs if c.name in needed]
        batch = f"({stage.read_sql(checked)}) AS b"
        try:
            facts = self.check_batch(table, stage, batch, quote=standard_quote, query=self._read)
        except duckdb.Error as error:
            raise stage.read_error(self.reader, checked, error) from error
        if facts.deletes:
            return None
        q = self.quote
        fields, converted = self._load_targets([c for _, c in pairs])
        names = ", ".join(["@line", q(TABLE_VERSION), *fields])
        into = f"{table.qualified} {LOAD_CSV} ({names}) SET {q(BATCHED_AT)} = CURRENT_TIMESTAMP"
        into += f", {converted}" if converted else ""
        if self._load_csv(stage, pairs, into):
            return facts
        self.rollback()  # only the load: the batch transaction held nothing before it
        return None

    def _load_targets(self, columns: list[Column]) -> tuple[list[str], str]:
        """Where `LOAD DATA` puts each column's CSV field, and its `SET` list: the field of
        a column with a conversion goes to a user variable that `SET` converts, so the
        table (or the staging table, which has the table's types) takes the column's
        own type and merges need nothing more."""
        fields: list[str] = []
        converted: list[str] = []
        for position, column in enumerate(columns):
            if column.conversion is None:
                fields.append(self.quote(column.name))
                continue
            variable = f"@_sdc_{position}"
            fields.append(variable)
            converted.append(f"{self.quote(column.name)} = {column.converted(variable)}")
        return fields, ", ".join(converted)

    def _read(self, sql: str) -> list[tuple[Any, ...]]:
        return self.reader.execute(sql).fetchall()

    def _load_csv(self, stage: MySQLStage, pairs: list[tuple[Field, Column]], into: str) -> bool:
        """The batch as CSV into ``into`` (`table LOAD-options (columns)`); False if the
        server warned or loaded fewer rows than were sent.

        The CSV flows through a named pipe: DuckDB writes it while the server loads it, so
        the two overlap on the two cores (as a file, one waited for the other).
        """
        pipe = stage.path.with_suffix(".csv")
        if not pipe.exists():
            os.mkfifo(pipe)
        writer = CsvWriter(self.reader, self._csv_sql(stage, pairs), pipe)
        try:
            with self.connection.cursor() as cursor:
                loaded = cursor.execute(
                    f"LOAD DATA LOCAL INFILE {self.literal(str(pipe))} INTO TABLE {into}"
                )
                warnings = cursor.warning_count
        except BaseException:
            writer.finish(load_failed=True)
            raise
        writer.finish(load_failed=False)
        if writer.error is not None:
            fields = [f for f, _ in pairs]
            raise stage.read_error(self.reader, fields, writer.error) from writer.error
        return not warnings and loaded == writer.written

    def _csv_sql(self, stage: SpoolStage, pairs: list[tuple[Field, Column]]) -> str:
        """DuckDB's SELECT of the batch as the CSV's fields: line, version, columns."""
        dq = standard_quote  # the reader's SQL is DuckDB's
        values = ", ".join(_csv_value(dq(f.name), c) for f, c in pairs)
        read = stage.read_sql([f for f, _ in pairs])
        return f"SELECT {dq(LINE)}, {dq(TABLE_VERSION)}, {values} FROM ({read})"

    def _load_warning(
        self,
        table: LoadTable,
        stage: MySQLStage,
        pairs: list[tuple[Field, Column]],
        into: str,
    ) -> TargetError:
        """The first warning of a LOAD DATA as an error naming its column and input line.

        The server names a row by its number in the CSV, whose order DuckDB's parallel
        writer does not keep from one run to the next: the batch is written once more to a
        file in a fixed order and loaded again (into the emptied staging table), so that
        the warning's row is found in that file.
        """
        self.reader.execute("SET preserve_insertion_order = true")
        csv_file = stage.path.with_suffix(".rows.csv")
        try:
            self.reader.execute(
                f"COPY ({self._csv_sql(stage, pairs)}) TO '{csv_file}' ({_DUCKDB_CSV})"
            )
            self.execute(f"DELETE FROM {stage.relation}")
            self.execute(f"LOAD DATA LOCAL INFILE {self.literal(str(csv_file))} INTO TABLE {into}")
            warnings = self.execute("SHOW WARNINGS LIMIT 1")
            message = str(warnings[0][2]) if warnings else "the server loaded fewer rows than sent"
            match = _WARNING_AT_ROW.search(message)
            row = int(match.group(2)) if match else None
            if row is None and (only := _ROW_ONLY.search(message)):
                row = int(only.group(1))
            position = _csv_line_of_row(csv_file, row) if row else None
        finally:
            csv_file.unlink(missing_ok=True)
            self.reader.execute("SET preserve_insertion_order = false")
        column = f", column {match.group(1)!r}" if match else ""
        columns = {c.name.lower(): c for c in table.columns}
        named = columns.get(match.group(1).lower()) if match else None
        if named is not None and named.conversion is not None:  # see `conversion`
            message += f" (the value does not convert to the column's type {named.db_type})"
        elif named is not None and named.kind in (Kind.TIMESTAMP, Kind.DATE):
            # DuckDB's reader checked the syntax: what is left is a year out of range
            message += (
                " (the date is outside what MySQL holds: years 1000 to 9999, on MariaDB 1 to 9999)"
            )
        if position is None:
            return TargetError(f"{table.label()}{column}: {message}", line=stage.input_line(1))
        return TargetError(
            f"{table.label()}{column}{stage.where(position)}: {message} (nothing of the "
            "batch was loaded)",
            line=stage.line_of(position),
        )

    def fit_memory(self, stage: Stage) -> None:
        self.duckdb_memory.fit(self._reader, stage)

    def retry_with_more_memory(self, error: Exception) -> bool:
        return self.duckdb_memory.grow_after(self._reader, error)

    def clear_stage(self, table: LoadTable, stage: Stage) -> None:
        assert isinstance(stage, MySQLStage)
        relation = stage.relation
        # TEMPORARY keeps it inside the transaction (a plain DROP or TRUNCATE commits)
        self.execute(f"DROP TEMPORARY TABLE IF EXISTS {relation}")
        stage.reset()

    def drop_stage(self, table: LoadTable, stage: Stage) -> None:
        assert isinstance(stage, SpoolStage)
        stage.close()
        self.staging.forget(stage)

    # -- merge statements ------------------------------------------------------------------

    def keys_repeat(self, table: LoadTable, staged: str) -> bool:
        keys = ", ".join(self.quote(k) for k in table.key)
        return bool(self.execute(f"SELECT COUNT(*) <> COUNT(DISTINCT {keys}) FROM {staged}")[0][0])

    def upsert(self, table: LoadTable, staged: str, *, deduplicate: bool) -> None:
        q = self.quote
        columns, insert = self.insert_select(table)
        # The staged row's own columns: VALUES() is deprecated in MySQL 8, and its row
        # alias (`AS new`) does not exist in MariaDB.
        updates = ", ".join(
            f"{q(c)} = CURRENT_TIMESTAMP" if c == BATCHED_AT else f"{q(c)} = s.{q(c)}"
            for c in columns
            if c not in table.key
        )
        # Rows in input order: a later row of a key updates the one before it.
        order = f" ORDER BY s.{q(LINE)}" if deduplicate else ""
        self.execute(
            f"{insert} FROM {staged} AS s WHERE s.{q(DELETED_AT)} IS NULL{order} "
            f"ON DUPLICATE KEY UPDATE {updates}"
        )

    def insert_new_keys(self, table: LoadTable, staged: str) -> bool:
        try:
            self.execute(self.insert_rows(table, staged))
        except pymysql.IntegrityError as error:
            if error.args[0] != _DUPLICATE_KEY:
                raise
            return False  # InnoDB undid the statement, the transaction goes on
        return True

    def apply_deletes(self, table: LoadTable, staged: str, *, deduplicate: bool) -> None:
        q = self.quote
        keys = ", ".join(q(k) for k in table.key)
        deleted = f"{q(DELETED_AT)} IS NOT NULL"
        source = staged
        if deduplicate:
            source = q("_sdc_deletes")
            wanted = ", ".join(q(c) for c in (*table.key, DELETED_AT, TABLE_VERSION))
            self.execute(f"DROP TEMPORARY TABLE IF EXISTS {source}")
            self.execute(
                f"CREATE TEMPORARY TABLE {source} AS SELECT {wanted} FROM (SELECT {wanted}, "
                f"ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {q(LINE)} DESC) AS n "
                f"FROM {staged}) AS last WHERE n = 1 AND {deleted}"
            )
        match = " AND ".join(f"t.{q(k)} = d.{q(k)}" for k in table.key)
        if self.options.hard_delete:
            self.execute(
                f"DELETE t FROM {table.qualified} AS t JOIN {source} AS d ON {match} "
                f"WHERE d.{deleted}"
            )
        else:
            self.execute(
                f"UPDATE {table.qualified} AS t JOIN {source} AS d ON {match} "
                f"SET t.{q(DELETED_AT)} = d.{q(DELETED_AT)}, "
                f"t.{q(TABLE_VERSION)} = d.{q(TABLE_VERSION)}, "
                f"t.{q(BATCHED_AT)} = CURRENT_TIMESTAMP WHERE d.{deleted}"
            )
        if deduplicate:
            self.execute(f"DROP TEMPORARY TABLE {source}")


def _kind_of(data_type: str, column_type: str, *, in_key: bool) -> Kind:
    """The kind of a column as read back, matching the kinds this dialect creates."""
    if data_type == "tinyint":  # ours is tinyint(1), the official client's plain tinyint
        return Kind.BOOLEAN
    if data_type == "char" and column_type.startswith("char(36)"):
        return Kind.UUID
    if data_type in ("char", "varchar"):
        # key text has the length we gave it; other bounded text (our IP addresses'
        # VARCHAR(45) too) has its values' lengths checked batch by batch
        return Kind.TEXT if in_key else Kind.VARCHAR
    return _KINDS.get(data_type, Kind.OTHER)


def _text_key_length(spec: TableSpec) -> int:
    """Characters of each text key column: InnoDB's 3,072 key bytes shared among them."""
    text = [c for c in spec.columns if c.name in spec.key and c.kind in (Kind.TEXT, Kind.VARCHAR)]
    others = len(spec.key) - len(text)
    room = (_KEY_BYTES - others * _KEY_COLUMN_BYTES) // (4 * max(1, len(text)))
    return max(1, min(_MAX_TEXT_KEY, room))


def _csv_value(name: str, column: Column) -> str:
    """A read column as the CSV text MySQL parses into the column's type."""
    if column.kind == Kind.BOOLEAN:
        return f"CAST({name} AS TINYINT)"
    if column.kind == Kind.TIMESTAMP:  # UTC (the reader's time zone)
        # microseconds, or whole seconds where the column holds no fraction (the same
        # value on MariaDB, which cuts a fraction, and on MySQL 8, which rounds it)
        seconds = column.db_type in ("datetime", "timestamp")
        return f"strftime({name}, '%Y-%m-%d %H:%M:%S{'' if seconds else '.%f'}')"
    return name


def _unbounded(column: Column) -> str:
    """LONGTEXT in the character set and collation of a varchar column read back."""
    charset = _CHARSET.search(column.db_type or "")
    return "LONGTEXT" + (charset.group(0) if charset else "")


def _csv_line_of_row(path: Path, row: int) -> int | None:
    """The LINE (first field) of the n-th CSV row (1-based), as the server counts rows."""
    with path.open(newline="", encoding="utf-8", errors="replace") as file:
        for number, fields in enumerate(csv.reader(file), 1):
            if number == row:
                return int(fields[0]) if fields and fields[0].isdigit() else None
    return None


class CsvWriter:
    """DuckDB writing a SELECT as CSV into a named pipe, on a thread of its own.

    The thread first opens the pipe for writing, which waits for the load to open it for
    reading, and holds it open while DuckDB writes: the load sees the end of the file only
    once DuckDB is done, also when DuckDB fails before it opens the pipe itself. `finish`
    releases a thread still waiting (the load failed before reading), stops DuckDB if the
    load failed midway, and reads away whatever no one read.
    """

    def __init__(self, reader: duckdb.DuckDBPyConnection, select: str, pipe: Path) -> None:
        self.pipe = pipe
        self.reader = reader
        self.written = 0
        self.error: duckdb.Error | None = None
        self._abandoned = False
        self._thread = threading.Thread(
            target=self._write, args=(select,), name="csv-writer", daemon=True
        )
        self._thread.start()

    def _write(self, select: str) -> None:
        holder = os.open(self.pipe, os.O_WRONLY)  # waits for a reader
        try:
            if not self._abandoned:
                ((self.written,),) = self.reader.execute(
                    f"COPY ({select}) TO '{self.pipe}' ({_DUCKDB_CSV}, USE_TMP_FILE false)"
                ).fetchall()
        except duckdb.Error as error:
            self.error = error
        finally:
            os.close(holder)

    def finish(self, *, load_failed: bool) -> None:
        """Wait for DuckDB once the load has ended (or failed)."""
        self._abandoned = load_failed
        if load_failed:
            self.reader.interrupt()
        drain = os.open(self.pipe, os.O_RDONLY | os.O_NONBLOCK)  # a reader: frees the thread
        try:
            while self._thread.is_alive():
                try:
                    if not os.read(drain, 1 << 20):
                        time.sleep(0.001)
                except BlockingIOError:
                    time.sleep(0.001)
        finally:
            os.close(drain)
        self._thread.join()
