"""DuckDB type mapping: engine kinds → DuckDB column types and the Arrow type each is staged as.

================ ============================ ==========================================
Debezium / Connect  DuckDB column             staged as (Arrow) → cast in SQL
================ ============================ ==========================================
boolean          BOOLEAN                      bool
int8/int16       SMALLINT                     int16
int32            INTEGER                      int32
int64            BIGINT                       int64
float / double   FLOAT / DOUBLE               float32 / float64
Decimal(p,s)     DECIMAL(p,s) (p ≤ 38;        decimal128(p,s); p > 38: string
                 p unknown: DECIMAL(38,s);
                 s > p: DECIMAL(s,s);
                 p or s > 38, s < 0:
                 VARCHAR, exact text)
VariableScale-   VARCHAR (exact decimal text; string
Decimal          DuckDB has no unbounded
                 decimal, DOUBLE would round)
string, Enum,    VARCHAR                      string
Xml, Interval
Json, map,       JSON                         string → CAST AS JSON
struct
Uuid             UUID                         string → CAST AS UUID
bytes, varbit,   BLOB                         binary
geometry (WKB)
Bits(length n)   BIT                          string → CAST (the width kept)
Date             DATE                         int32 days → date32 (markers: ±infinity)
Time/MicroTime/  TIME (microseconds)          int64 µs → time64[us]
NanoTime
Timestamp/Micro/ TIMESTAMP (no zone, µs)      int64 µs → timestamp[us] (markers: ±infinity)
NanoTimestamp
ZonedTimestamp   TIMESTAMP WITH TIME ZONE     parsed exactly → timestamp[us, UTC]
ZonedTime        TIME WITH TIME ZONE          string → CAST
MicroDuration    INTERVAL                     int64 µs → duration[us]
array            <item>[]                     list<item> (CAST for items cast above)
================ ============================ ==========================================

Nanosecond values are truncated to microseconds (DuckDB's TIMESTAMP and TIME resolution).
DuckDB has ±infinity for DATE, TIMESTAMP and TIMESTAMP WITH TIME ZONE: Debezium's markers land
as infinity. A timestamp past 294247-01-10 04:00:54.775806 (PostgreSQL goes to year 294276)
and an array nested deeper than its column (``{{1,2},{3,4}}`` in an ``int[]`` column) cannot
be held: `ValueNotHeldError` names the column, nothing different is written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from connectors.sink.engine import temporal
from connectors.sink.engine import types as k
from connectors.sink.engine.errors import ValueNotHeldError
from connectors.sink.engine.types import ColumnType, decimal_value

_SIMPLE = {
    k.BOOLEAN: "BOOLEAN", k.INT16: "SMALLINT", k.INT32: "INTEGER", k.INT64: "BIGINT",
    k.FLOAT32: "FLOAT", k.FLOAT64: "DOUBLE", k.VDECIMAL: "VARCHAR", k.STRING: "VARCHAR",
    k.JSON: "JSON", k.UUID: "UUID", k.BYTES: "BLOB", k.DATE: "DATE", k.TIME: "TIME",
    k.TIMESTAMP: "TIMESTAMP", k.TIMESTAMPTZ: "TIMESTAMP WITH TIME ZONE",
    k.TIMETZ: "TIME WITH TIME ZONE", k.INTERVAL: "INTERVAL", k.BITS: "BIT",
}  # fmt: skip
_REVERSE = {v: ColumnType(kind) for kind, v in _SIMPLE.items() if kind != k.VDECIMAL}
_CAST = {k.JSON, k.UUID, k.TIMETZ, k.BITS}
_ARROW: dict[str, Any] = {
    k.BOOLEAN: pa.bool_(), k.INT16: pa.int16(), k.INT32: pa.int32(), k.INT64: pa.int64(),
    k.FLOAT32: pa.float32(), k.FLOAT64: pa.float64(), k.VDECIMAL: pa.string(),
    k.STRING: pa.string(), k.JSON: pa.string(), k.UUID: pa.string(), k.BYTES: pa.binary(),
    k.TIMETZ: pa.string(), k.BITS: pa.string(),
}  # fmt: skip
# canonical ints, loaded as int64/int32 and cast by Arrow (no Python per value)
_INT_CAST: dict[str, tuple[Any, Any]] = {
    k.DATE: (pa.int32(), pa.date32()),
    k.TIME: (pa.int64(), pa.time64("us")),
    k.TIMESTAMP: (pa.int64(), pa.timestamp("us")),
    k.INTERVAL: (pa.int64(), pa.duration("us")),
    k.TIMESTAMPTZ: (pa.int64(), pa.timestamp("us", tz="UTC")),
}
# array items: canonical ints too (timestamptz parsed to them)
_ITEM_ARROW: dict[str, Any] = {
    k.DATE: pa.date32(), k.TIME: pa.time64("us"), k.TIMESTAMP: pa.timestamp("us"),
    k.INTERVAL: pa.duration("us"), k.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
}  # fmt: skip
# DuckDB's infinities: its largest date and timestamp (and their negations)
_DATE_INF, _TS_INF = 2**31 - 1, 2**63 - 1
_DATE_MARKERS = {k.DATE_POSITIVE_INFINITY: _DATE_INF, k.DATE_NEGATIVE_INFINITY: -_DATE_INF}
_TS_MARKERS = {k.TIMESTAMP_POSITIVE_INFINITY: _TS_INF, k.TIMESTAMP_NEGATIVE_INFINITY: -_TS_INF}
_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)
_DUCK_TS = "DuckDB TIMESTAMP (up to 294247-01-10 04:00:54.775806)"
_DECIMAL_RE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def _decimal_of(t: ColumnType) -> tuple[int, int] | None:
    """DuckDB's (width, scale) for a DECIMAL(p,s): a scale above the precision (PostgreSQL
    15's numeric(3,5), values below 10^(p-s)) widens to DECIMAL(s,s); None past 38 digits or
    with a negative scale (VARCHAR, the exact text)."""
    scale = t.scale or 0
    width = max(t.precision, scale) if t.precision else 38
    if width > 38 or scale < 0:
        return None
    return width, scale


def _decimal_fits(t: ColumnType) -> bool:
    return _decimal_of(t) is not None


def sql_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        ps = _decimal_of(t)
        if ps is None:
            return "VARCHAR"
        return f"DECIMAL({ps[0]},{ps[1]})"
    if t.kind == k.ARRAY:
        assert t.item is not None
        return sql_type(t.item) + "[]"
    return _SIMPLE[t.kind]


def column_type(sql: str) -> ColumnType | None:
    s = sql.upper().strip()
    if s.endswith("[]"):
        item = column_type(s[:-2])
        return None if item is None else ColumnType(k.ARRAY, item=item)
    m = _DECIMAL_RE.fullmatch(s)
    if m:
        return ColumnType(k.DECIMAL, int(m[1]), int(m[2]))
    return _REVERSE.get(s)


def needs_cast(t: ColumnType) -> bool:
    if t.kind == k.ARRAY:
        assert t.item is not None
        return needs_cast(t.item)
    return t.kind in _CAST


def arrow_array(t: ColumnType, values: list[Any], name: str = "?") -> Any:
    kind = t.kind
    if kind in _INT_CAST:
        raw, target = _INT_CAST[kind]
        if kind in _SPECIAL:
            values = _SPECIAL[kind](name, values)
        try:
            return pa.array(values, raw).cast(target)
        except OverflowError:
            what = f"a {kind} beyond 64-bit microseconds"
            target = _DUCK_TS if kind in (k.TIMESTAMP, k.TIMESTAMPTZ) else f"DuckDB {_SIMPLE[kind]}"
            raise ValueNotHeldError(name, what, target) from None
    if kind == k.DECIMAL:
        if _decimal_fits(t):
            return _decimal128(t, values, name)
        return pa.array(
            [None if v is None else format(decimal_value(t, v), "f") for v in values], pa.string()
        )
    if kind == k.VDECIMAL:
        return pa.array([None if v is None else format(v, "f") for v in values], pa.string())
    if kind == k.ARRAY:
        return _list_array(t, values, name)
    return pa.array(values, _ARROW[kind])


def _dates(name: str, values: list[Any]) -> list[Any]:
    m = _DATE_MARKERS
    if k.DATE_POSITIVE_INFINITY in values or k.DATE_NEGATIVE_INFINITY in values:
        return [m.get(v, v) for v in values]
    return values


def _timestamps(name: str, values: list[Any]) -> list[Any]:
    if _TS_INF in values or -_TS_INF in values or -_TS_INF - 1 in values:  # DuckDB's infinity
        raise ValueNotHeldError(name, "a timestamp at the end of 64-bit microseconds", _DUCK_TS)
    m = _TS_MARKERS
    if k.TIMESTAMP_POSITIVE_INFINITY in values or k.TIMESTAMP_NEGATIVE_INFINITY in values:
        return [m.get(v, v) for v in values]
    return values


def _zoned(name: str, v: str) -> int:
    """Epoch micros of a ZonedTimestamp, DuckDB's infinity for ``infinity``."""
    try:
        return (dt.datetime.fromisoformat(v) - _UTC_EPOCH) // _MICRO  # years 1..9999, in C
    except (ValueError, TypeError):  # another form, or no offset (zoned_micros says so)
        micros = temporal.zoned_micros(v)
    if micros == temporal.INFINITY:
        return _TS_INF
    if micros == temporal.NEG_INFINITY:
        return -_TS_INF
    assert isinstance(micros, int)
    if not -_TS_INF < micros < _TS_INF:
        raise ValueNotHeldError(name, f"the timestamp {v}", _DUCK_TS + " WITH TIME ZONE")
    return micros


def _zoned_all(name: str, values: list[Any]) -> list[Any]:
    return [None if v is None else _zoned(name, v) for v in values]


_SPECIAL: dict[str, Callable[[str, list[Any]], list[Any]]] = {
    k.DATE: _dates, k.TIMESTAMP: _timestamps, k.TIMESTAMPTZ: _zoned_all,
}  # fmt: skip


def _list_array(t: ColumnType, values: list[Any], name: str) -> Any:
    """A list array of items at the column's depth: items mapped as their scalars are,
    deeper nesting refused (a DuckDB list column has one depth)."""
    depth, leaf = 0, t
    while leaf.kind == k.ARRAY:
        assert leaf.item is not None
        depth, leaf = depth + 1, leaf.item
    fn = _item_function(leaf, name)

    def items(v: list[Any], d: int) -> list[Any]:
        if d == 0:
            return fn(v)
        out = []
        for x in v:
            if x is not None and type(x) is not list:
                raise ValueNotHeldError(name, "an array less deep than its schema", "DuckDB")
            out.append(None if x is None else items(x, d - 1))
        return out

    mapped = [None if v is None else items(v, depth - 1) for v in values]
    return pa.array(mapped, pa.list_(_item_type(t.item)))


def _item_function(leaf: ColumnType, name: str) -> Callable[[list[Any]], list[Any]]:
    """Items of an innermost list as Arrow takes them; a nested list is refused."""
    if leaf.kind in _SPECIAL:
        special = _SPECIAL[leaf.kind]
    elif leaf.kind == k.VDECIMAL or (leaf.kind == k.DECIMAL and not _decimal_fits(leaf)):
        special = lambda _n, v: [None if x is None else format(x, "f") for x in v]  # noqa: E731
    else:
        special = lambda _n, v: v  # noqa: E731

    def convert(v: list[Any]) -> list[Any]:
        for x in v:
            if type(x) is list:
                raise ValueNotHeldError(
                    name, "a multidimensional array", f"DuckDB {sql_type(leaf)}[] (one "
                    "dimension; PostgreSQL sinks keep every dimension)",
                )  # fmt: skip
        return special(name, v)

    return convert


_MASK128 = (1 << 128) - 1


def _decimal128(t: ColumnType, values: list[Any], name: str = "?") -> Any:
    """A decimal128 array straight from unscaled ints (two's complement, little endian): no
    Decimal objects on the way; a value past the column's precision is refused (masked to
    128 bits it was another number)."""
    n = len(values)
    ps = _decimal_of(t)
    assert ps is not None
    present = [v for v in values if v is not None] if None in values else values
    if present and (max(present) >= 10 ** ps[0] or min(present) <= -(10 ** ps[0])):
        raise ValueNotHeldError(
            name, f"a decimal of more than {ps[0]} digits", f"DuckDB DECIMAL({ps[0]},{ps[1]})"
        )
    data = b"".join([((v or 0) & _MASK128).to_bytes(16, "little") for v in values])
    validity = None
    if None in values:
        validity = pa.array([v is not None for v in values], pa.bool_()).buffers()[1]
    typ = pa.decimal128(*ps)
    return pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(data)])


def _item_type(t: ColumnType | None) -> Any:
    assert t is not None
    if t.kind == k.ARRAY:
        return pa.list_(_item_type(t.item))
    if t.kind == k.DECIMAL and (ps := _decimal_of(t)) is not None:
        return pa.decimal128(*ps)
    if t.kind == k.TIMESTAMPTZ:
        return pa.timestamp("us", tz="UTC")
    return _ITEM_ARROW.get(t.kind) or _ARROW.get(t.kind, pa.string())
