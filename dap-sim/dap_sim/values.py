"""Row values: a pure function of (seed, table, row, version epoch, schema version).

Speed matters (a million-row snapshot must be produced in seconds), so a row is assembled
from two parts. Columns that need not vary per row (flags, enums, numbers, free text,
nested objects) come from one of 256 precomputed templates picked by the row hash.
Columns that identify or relate a row (foreign keys, timestamps, names, uuids, codes) are
computed per row from a cheap per-column hash. Nulls are omitted, as DAP does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from dap_sim import catalog, relations, words
from dap_sim.catalog import JsonSchema
from dap_sim.hashing import EPOCH_MULTIPLIER, GOLDEN, MASK64, mix64, salt
from dap_sim.lifecycle import Lifecycle
from dap_sim.sizing import DAY_MS, HISTORY_MS
from dap_sim.timefmt import iso_date, iso_seconds

ID_BASE = 10_000_000_000_000  # Canvas-style global ids: shard 1, then the local id
OVERSIZED = "__dap_oversized_truncated__"
UNSPECIFIED = "__dap_unspecified__"
TEMPLATE_COUNT = 256
_NULL_SHARES = (0, 51, 307, 614, 921)  # in 1/1024: 0 %, 5 %, 30 %, 60 %, 90 %
_INT_LIMITS = {"int16": 1 << 15, "int32": 1 << 31, "int64": 1 << 63}

Sampler = Callable[[int], Any]  # 32-bit hash -> value
# (32-bit hash, ordinal, content epoch, created ms, updated ms) -> value
Filler = Callable[[int, int, int, int, int], Any]
# (32-bit hash, content epoch) -> (type name, id) of a polymorphic reference
PairFiller = Callable[[int, int], tuple[str, int]]
LifecycleOf = Callable[[str], Lifecycle]  # canvas table -> its lifecycle


def key_maker(key_schema: JsonSchema, key_salt: int) -> Callable[[int], Any]:
    """Ordinal -> primary key value: a global integer id, or a uuid for log tables."""
    if key_schema.get("format") == "uuid":
        return lambda ordinal: _uuid(mix64(key_salt ^ (ordinal * GOLDEN)), ordinal)
    return lambda ordinal: ID_BASE + ordinal


_UUID_VERSION_MASK = ~((0xF << 76) | (0xC << 60))
_UUID_V4_BITS = (4 << 76) | (0x8 << 60)


def _uuid(h: int, extra: int) -> str:
    """A version-4 UUID from two hashes (formatted by hand: uuid.UUID is slow here)."""
    bits = ((((h & MASK64) << 64) | mix64(h ^ extra)) & _UUID_VERSION_MASK) | _UUID_V4_BITS
    x = f"{bits:032x}"
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _pick(options: tuple[str, ...], h: int) -> str:
    return options[h % len(options)]


# -- type-driven samplers (templates and nested values) ----------------------------------


def _enum_sampler(members: list[Any]) -> Sampler:
    regular = tuple(m for m in members if m != UNSPECIFIED) or tuple(members)
    has_unspecified = UNSPECIFIED in members
    common = 200 if 200 in regular else None

    def sample(h: int) -> Any:
        if has_unspecified and h % 100 == 0:
            return UNSPECIFIED
        if common is not None and h % 10 < 7:
            return common
        return regular[(h >> 8) % len(regular)]

    return sample


def _text_sampler(name: str, max_length: int | None) -> Sampler:
    base = _base_text_sampler(name.lower())
    if max_length is None:
        return base
    return lambda h: base(h)[:max_length]


def _base_text_sampler(name: str) -> Sampler:  # noqa: PLR0911 - one rule per kind of text
    if "email" in name:
        return lambda h: (
            f"{_pick(words.FIRST_NAMES, h).lower()}.{h % 9973}@{_pick(words.DOMAINS, h >> 9)}"
        )
    if name.endswith(("url", "uri")) or name in ("path", "domain"):
        return lambda h: (
            f"https://{_pick(words.DOMAINS, h)}{_pick(words.URL_PATHS, h >> 5)}/{h % 100000}"
        )
    if "locale" in name:
        return lambda h: _pick(words.LOCALES, h)
    if "time_zone" in name:
        return lambda h: _pick(words.TIME_ZONES, h)
    if "grade" in name:
        return lambda h: _pick(words.GRADES, h)
    if name.endswith("_ip"):
        return _ipv4
    if "md5" in name:
        return lambda h: f"{mix64(h):016x}{mix64(h + 1):016x}"
    if name.endswith(("name", "title", "label", "subject")):
        return lambda h: f"{_pick(words.TOPICS, h)} {_pick(words.SUBJECTS, h >> 4)}"
    if "code" in name:
        return lambda h: f"{_pick(words.SUBJECTS, h)[:3].upper()}-{100 + h % 400}"
    return _free_text


def _free_text(h: int) -> str:
    if h % 50 == 0:
        return _pick(words.AWKWARD, h >> 6)
    first = _pick(words.SENTENCES, h >> 3)
    if h % 3 == 0:
        return first
    second = _pick(words.SENTENCES, h >> 9)
    return f"{first}\n\n{second}" if h % 7 == 0 else f"{first} {second}"


def _ipv4(h: int) -> str:
    return f"{10 + h % 200}.{(h >> 8) % 256}.{(h >> 16) % 256}.{1 + (h >> 24) % 254}"


def _ipv6(h: int) -> str:
    """Six non-zero groups after the documentation prefix: one canonical text form."""
    m = mix64(h)
    groups = [(m >> shift) & 0xFFFF or 1 for shift in (0, 11, 22, 33, 44, 53)]
    return "2001:db8:" + ":".join(f"{g:x}" for g in groups)


def _ip(h: int) -> str:
    return _ipv6(h) if h % 10 == 0 else _ipv4(h >> 4)


def _date_time_static(h: int) -> str:
    return iso_seconds(1_700_000_000_000 - (h % (HISTORY_MS // 1000)) * 1000)


def _object_sampler(name: str, node: JsonSchema) -> Sampler:
    required = set(node.get("required", []))
    parts = [
        (prop, prop in required, sampler_for(prop, sub), salt(name, prop))
        for prop, sub in node["properties"].items()
    ]

    def sample(h: int) -> Any:
        out = {}
        for prop, is_required, sub_sampler, prop_salt in parts:
            x = mix64(h ^ prop_salt)
            if is_required or x % 2:
                out[prop] = sub_sampler(x >> 32)
        return out or None

    return sample


def _array_sampler(name: str, node: JsonSchema) -> Sampler:
    item = sampler_for(name, node["items"])
    return lambda h: [item(mix64(h + i) >> 32) for i in range(h % 4)]


def _number_sampler(node: JsonSchema) -> Sampler:
    step: float | None = node.get("multipleOf")
    if step is None:
        return lambda h: round(h * (100.0 / (1 << 32)), 2)
    digits = max(0, round(-math.log10(step)))
    upper = float(node.get("exclusiveMaximum") or node.get("maximum") or 1000)
    top = int(min(100.0, upper) / step)
    return lambda h: round((h % top) * step, digits)


_SMALL_COUNT_HINTS = ("position", "count", "attempt", "limit", "drop_", "version", "number")
_SCORE_HINTS = ("score", "points", "percent", "grade")


def _integer_sampler(name: str, node: JsonSchema) -> Sampler:
    if "enum" in node:
        return _enum_sampler(node["enum"])
    if any(hint in name for hint in _SMALL_COUNT_HINTS):
        return lambda h: h % 50
    if any(hint in name for hint in _SCORE_HINTS):
        return lambda h: h % 101
    modulo = {"int16": 1000, "int32": 100_000}.get(node.get("format", ""), 10_000_000)
    return lambda h: h % modulo


def sampler_for(name: str, node: JsonSchema) -> Sampler:  # noqa: PLR0911 - one rule per type
    """A value sampler for a schema node (any depth), driven by a 32-bit hash."""
    node = catalog.resolve_ref(node)
    if "oneOf" in node:
        options = [catalog.resolve_ref(o) for o in node["oneOf"]]
        if any(o.get("const") == OVERSIZED for o in options):
            text = _text_sampler(name, None)
            return lambda h: OVERSIZED if h % 200 == 0 else text(h >> 8)
        return _ip
    kind = node.get("type")
    if kind == "boolean":
        return lambda h: h % 3 != 0
    if kind == "integer":
        return _integer_sampler(name, node)
    if kind == "number":
        return _number_sampler(node)
    if kind == "object":
        return _object_sampler(name, node)
    if kind == "array":
        return _array_sampler(name, node)
    return _string_sampler(name, node)


def _string_sampler(name: str, node: JsonSchema) -> Sampler:  # noqa: PLR0911 - one per format
    if "enum" in node:
        return _enum_sampler(node["enum"])
    fmt = node.get("format")
    if fmt == "date-time":
        return _date_time_static
    if fmt == "date":
        return lambda h: iso_date(1_700_000_000_000 - (h % 1000) * DAY_MS)
    if fmt == "uuid":
        return lambda h: _uuid(mix64(h), h)
    if fmt == "ipv4":
        return _ipv4
    if fmt == "ipv6":
        return _ipv6
    return _text_sampler(name, node.get("maxLength"))


# -- per-row fillers -----------------------------------------------------------------------

_IDENTITY_COLUMNS = {
    "sis_source_id": "SIS",
    "sis_user_id": "SISU",
    "integration_id": "INT",
    "migration_id": "mig",
    "lti_context_id": "lti",
    "anonymous_id": "a",
    "vendor_guid": "guid",
    "conference_key": "conf",
    "self_enrollment_code": "enr",
    "access_code": "code",
}
_PERSON_TABLES = ("users", "pseudonyms")
_PERSON_COLUMNS = ("name", "sortable_name", "short_name", "display_name", "user_name")
_ALWAYS_SET = ("created_at", "updated_at", "timestamp")


class RowModel:
    """Builds the ``value`` part of a table's rows for one schema version."""

    def __init__(
        self,
        *,
        seed: int,
        namespace: str,
        table: str,
        flat: JsonSchema,
        lifecycle_of: LifecycleOf,
    ) -> None:
        self.key = catalog.key_column(flat)
        properties: dict[str, JsonSchema] = flat["properties"]
        self.value_columns = tuple(c for c in properties if c != self.key)
        # What a row written before its column existed holds (a required column's default)
        self.defaults = {
            c: properties[c]["default"] for c in self.value_columns if "default" in properties[c]
        }
        required = set(flat.get("required", []))
        self._row_salt = salt(seed, "row", namespace, table)
        self._table = table
        self._lifecycle_of = lifecycle_of
        static: list[tuple[str, int, Sampler]] = []
        fillers: list[tuple[str, int, int, Filler]] = []
        pairs: list[tuple[str, str, int, int, PairFiller]] = []
        paired = {
            t: c
            for c in self.value_columns
            if (t := relations.polymorphic_type_column(c, properties))
            and properties[c].get("type") == "integer"
        }
        for column in self.value_columns:
            if column in paired:
                continue  # filled together with its id column
            node = properties[column]
            column_salt = salt(seed, namespace, table, column)
            null_cut = _NULL_SHARES[column_salt % len(_NULL_SHARES)]
            type_column = next((t for t, c in paired.items() if c == column), None)
            if column in required or type_column in required or column in _ALWAYS_SET:
                null_cut = 0
            if type_column is not None:
                pair = self._polymorphic(properties[type_column], node.get("format"))
                pairs.append((type_column, column, null_cut, column_salt, pair))
                continue
            filler = self._filler(column, node)
            if filler is not None:
                fillers.append((column, null_cut, column_salt, filler))
            else:
                static.append((column, null_cut, sampler_for(column, node)))
        self._fillers = tuple(fillers)
        self._pairs = tuple(pairs)
        self._templates = tuple(self._template(i, static, seed) for i in range(TEMPLATE_COUNT))

    @staticmethod
    def _template(index: int, static: list[tuple[str, int, Sampler]], seed: int) -> dict[str, Any]:
        template = {}
        for column, null_cut, sampler in static:
            h = mix64(salt(seed, "template", column) ^ index)
            if (h & 1023) < null_cut:
                continue
            value = sampler(h >> 32)
            if value is not None:
                template[column] = value
        return template

    def values(
        self, ordinal: int, content_epoch: int, created_ms: int, updated_ms: int
    ) -> dict[str, Any]:
        """The value fields of a row version (nulls omitted)."""
        r = mix64(
            self._row_salt ^ (ordinal * GOLDEN) ^ ((content_epoch * EPOCH_MULTIPLIER) & MASK64)
        )
        values = dict(self._templates[r & (TEMPLATE_COUNT - 1)])
        for column, null_cut, column_salt, fill in self._fillers:
            x = ((r ^ column_salt) * GOLDEN) & MASK64
            if ((x >> 22) & 1023) >= null_cut:
                values[column] = fill(x >> 32, ordinal, content_epoch, created_ms, updated_ms)
        for type_column, id_column, null_cut, column_salt, fill_pair in self._pairs:
            x = ((r ^ column_salt) * GOLDEN) & MASK64
            if ((x >> 22) & 1023) >= null_cut:
                values[type_column], values[id_column] = fill_pair(x >> 32, content_epoch)
        return values

    # -- which columns are computed per row, and how ----------------------------------------

    def _filler(self, column: str, node: JsonSchema) -> Filler | None:  # noqa: PLR0911
        kind, fmt = node.get("type"), node.get("format")
        if kind == "integer" and "enum" not in node:
            target = relations.foreign_table(self._table, column)
            if target is None:
                return None
            pick = self._lifecycle_of(target).stable_picker()
            to_id = _id_maker(fmt)
            return lambda h, o, e, c, u: to_id(pick(h, e))
        if kind != "string" or "enum" in node:
            return None
        max_length = node.get("maxLength")
        if fmt == "date-time":
            return _timestamp_filler(column)
        if fmt == "date":
            return lambda h, o, e, c, u: iso_date(c + (h % 400) * DAY_MS)
        if fmt == "uuid" or column in ("uuid", "user_uuid"):
            return lambda h, o, e, c, u: _uuid(mix64(h), o)
        if column in _IDENTITY_COLUMNS:
            return _identity_filler(_IDENTITY_COLUMNS[column], max_length)
        if column == "unique_id":
            return lambda h, o, e, c, u: f"user{o}@example.edu"[:max_length]
        if column in _PERSON_COLUMNS and self._table in _PERSON_TABLES:
            return _person_name_filler(column, max_length)
        if column in ("name", "title"):
            return lambda h, o, e, c, u: (
                f"{_pick(words.THINGS, h)} {1 + o % 20}: {_pick(words.SUBJECTS, h >> 6)}"[
                    :max_length
                ]
            )
        return None

    def _polymorphic(self, type_node: JsonSchema, fmt: str | None) -> PairFiller:
        members = tuple(m for m in type_node["enum"] if m != UNSPECIFIED)
        pickers = tuple(
            self._lifecycle_of(t).stable_picker() if (t := relations.class_to_table(m)) else None
            for m in members
        )
        to_id = _id_maker(fmt)
        has_unspecified = UNSPECIFIED in type_node["enum"]

        def fill(h: int, e: int) -> tuple[str, int]:
            if has_unspecified and h % 100 == 0:
                return UNSPECIFIED, h % 100_000
            index = (h >> 8) % len(members)
            pick = pickers[index]
            return members[index], to_id(pick(h >> 4, e)) if pick else h % 100_000

        return fill


def _id_maker(fmt: str | None) -> Callable[[int], int]:
    """Ordinal -> id: global (shard-prefixed) ids where the column's integer type holds them."""
    if _INT_LIMITS.get(fmt or "int64", 1 << 63) > ID_BASE * 2:
        return lambda ordinal: ID_BASE + ordinal
    return lambda ordinal: ordinal


def _identity_filler(prefix: str, max_length: int | None) -> Filler:
    if max_length is not None and max_length < len(prefix) + 8:
        return lambda h, o, e, c, u: f"{o:x}"[:max_length]
    return lambda h, o, e, c, u: f"{prefix}-{o:07d}"


def _person_name_filler(column: str, max_length: int | None) -> Filler:
    def fill(h: int, o: int, e: int, c: int, u: int) -> str:
        first, last = _pick(words.FIRST_NAMES, h), _pick(words.LAST_NAMES, h >> 8)
        text = f"{last}, {first}" if column == "sortable_name" else f"{first} {last}"
        return text[:max_length]

    return fill


def _timestamp_filler(column: str) -> Filler:
    if column in ("created_at", "timestamp"):
        return lambda h, o, e, c, u: iso_seconds(c)
    if column == "updated_at":
        return lambda h, o, e, c, u: iso_seconds(u)
    window_s = 400 * 86_400
    return lambda h, o, e, c, u: iso_seconds(c + ((h % window_s) - window_s // 2) * 1000)
