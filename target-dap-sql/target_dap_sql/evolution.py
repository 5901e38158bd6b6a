"""Existing table vs the columns a stream now wants -> a plan of compatible changes.

Nothing here ever loses data: columns are added, enum types grow, NOT NULL is relaxed,
types widen (smallint -> integer -> bigint -> numeric, date -> timestamp, a scalar ->
text, anything -> JSON). A column that left the schema stays (made nullable); a type the
database already holds more widely stays as it is. Only a change with no lossless path
(say uuid -> bigint) fails, with a message that names the table, the column, both types
and what the user can do.

Tables the target did not create (the official DAP client's) keep their types where they
hold the stream's values: a `varchar(n)` column holds any scalar here, and a batch with a
value longer than n widens it to text (`Dialect.check_batch`); a type the dialect writes
the stream's values into through a conversion (an array, a binary uuid) arrives here as a
column of the stream's kind (`Dialect.conversion`); any other type the target does not
know fails before anything changes, naming what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from target_dap_sql.columns import Column, Kind, TableSpec
from target_dap_sql.errors import TargetError

_INTEGERS = (Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT)
_SCALARS = frozenset(Kind) - {Kind.JSON, Kind.OTHER}


@dataclass(frozen=True)
class ExistingTable:
    """A table as the database has it."""

    columns: Mapping[str, Column]
    key: tuple[str, ...]


@dataclass
class Plan:
    """Changes to apply, each compatible with the data already in the table."""

    add: list[Column] = field(default_factory=list)
    add_members: list[tuple[Column, tuple[str, ...]]] = field(default_factory=list)
    relax: list[Column] = field(default_factory=list)
    retype: list[tuple[Column, Column]] = field(default_factory=list)  # (existing, new)

    def __bool__(self) -> bool:
        return bool(self.add or self.add_members or self.relax or self.retype)

    def __str__(self) -> str:
        parts = []
        if self.add:
            parts.append("added " + ", ".join(c.name for c in self.add))
        for column, members in self.add_members:
            parts.append(f"new values of {column.name}: {', '.join(members)}")
        if self.relax:
            parts.append("NOT NULL dropped on " + ", ".join(c.name for c in self.relax))
        for have, new in self.retype:
            parts.append(f"{have.name} widened from {have.describe()} to {new.kind.value}")
        return "; ".join(parts)


def holds(existing: Kind, wanted: Kind) -> bool:  # noqa: PLR0911 - one rule per family
    """True when every value of `wanted` fits a column of kind `existing` unchanged."""
    if existing in (wanted, Kind.JSON):
        return True
    if existing in _INTEGERS and wanted in _INTEGERS:
        return _INTEGERS.index(existing) >= _INTEGERS.index(wanted)
    if existing == Kind.DECIMAL:
        return wanted in _INTEGERS or wanted == Kind.DOUBLE
    if existing == Kind.DOUBLE:
        return wanted in (Kind.SMALLINT, Kind.INTEGER, Kind.DECIMAL)
    if existing == Kind.TIMESTAMP:
        return wanted == Kind.DATE
    if existing in (Kind.TEXT, Kind.VARCHAR):  # VARCHAR: lengths are checked per batch
        return wanted in _SCALARS
    return False


def widened(existing: Kind, wanted: Kind) -> Kind | None:  # noqa: PLR0911 - one rule each
    """The kind to change an existing column to so it holds `wanted`, or None if none."""
    if wanted == Kind.JSON:
        return Kind.JSON
    if existing in _INTEGERS and wanted in _INTEGERS:
        return wanted
    if existing in _INTEGERS and wanted in (Kind.DECIMAL, Kind.DOUBLE):
        return Kind.DECIMAL if existing == Kind.BIGINT else wanted
    if existing == Kind.DATE and wanted == Kind.TIMESTAMP:
        return Kind.TIMESTAMP
    if existing in _SCALARS and wanted == Kind.TEXT:
        return Kind.TEXT
    if existing == Kind.ENUM and wanted in _SCALARS:
        return Kind.TEXT
    return None


def plan_evolution(
    existing: ExistingTable,
    wanted: TableSpec,
    *,
    upsert: bool,
    type_name: Callable[[Column], str] | None = None,
) -> Plan:
    """Compare and plan; raise `TargetError` for a change that cannot be made in place.

    ``type_name`` (the dialect's) names the type an error suggests for a column.
    """
    if upsert and wanted.key and existing.key and tuple(existing.key) != tuple(wanted.key):
        raise TargetError(
            f"table {wanted.display_name}: the stream's key ({', '.join(wanted.key)}) differs "
            f"from the table's primary key ({', '.join(existing.key)}); drop or rename the "
            "table to reload it with the new key, or set load_method to append-only"
        )
    plan = Plan()
    for column in wanted.columns:
        have = existing.columns.get(column.name)
        if have is None:
            plan.add.append(column)
            continue
        _plan_column(plan, wanted, have, column, type_name)
    for name, have in existing.columns.items():
        if name not in wanted.column_index and not have.nullable and name not in existing.key:
            plan.relax.append(have)
    return plan


def _plan_column(
    plan: Plan,
    table: TableSpec,
    have: Column,
    want: Column,
    type_name: Callable[[Column], str] | None,
) -> None:
    if have.kind == Kind.OTHER:
        suggested = f" (such as {type_name(want)})" if type_name is not None else ""
        raise TargetError(
            f"table {table.display_name}, column {want.name}: the column has type "
            f"{have.describe()}, which target-dap-sql does not write {want.kind.value} values "
            f"into; nothing was changed. Change the column to a type that holds them"
            f"{suggested}, or rename or drop it (the target then adds a column of its own), "
            "or leave the field out of the stream (a stream map)"
        )
    if want.nullable and not have.nullable and want.name not in table.key:
        plan.relax.append(have)
    # an enum, or an array of an enum type (the official client's, see Dialect.conversion)
    if have.kind == want.kind and (have.kind == Kind.ENUM or have.members):
        new = tuple(m for m in want.members if m not in have.members)
        if new:
            plan.add_members.append((have, new))
        return
    if holds(have.kind, want.kind):
        return
    target = widened(have.kind, want.kind)
    if target is None:
        raise TargetError(
            f"table {table.display_name}, column {want.name}: the database has type "
            f"{have.describe()} but the stream now sends {want.kind.value}, and there is no "
            "lossless change between them; rename or drop the column (or the table) and "
            "load again, or map the stream to another table"
        )
    plan.retype.append(
        (
            have,
            replace(
                have,
                kind=target,
                comment=want.comment,
                members=want.members,
                scale=want.scale,
                db_type=None,
            ),
        )
    )
