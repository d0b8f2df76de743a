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
                 p > 38: VARCHAR, exact text)
VariableScale-   VARCHAR (exact decimal text; string
Decimal          DuckDB has no unbounded
                 decimal, DOUBLE would round)
string, Enum,    VARCHAR                      string
Xml, Interval
Json, map,       JSON                         string → CAST AS JSON
struct
Uuid             UUID                         string → CAST AS UUID
bytes, Bits,     BLOB                         binary
geometry (WKB)
Date             DATE                         int32 days → date32
Time/MicroTime/  TIME (microseconds)          int64 µs → time64[us]
NanoTime
Timestamp/Micro/ TIMESTAMP (no zone, µs)      int64 µs → timestamp[us]
NanoTimestamp
ZonedTimestamp   TIMESTAMP WITH TIME ZONE     string → CAST (offset kept as the instant)
ZonedTime        TIME WITH TIME ZONE          string → CAST
MicroDuration    INTERVAL                     int64 µs → duration[us]
array            <item>[]                     list<item> (CAST for items cast above)
================ ============================ ==========================================

Nanosecond values are truncated to microseconds (DuckDB's TIMESTAMP and TIME resolution).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from connectors.sink.engine import types as k
from connectors.sink.engine.types import ColumnType, decimal_value

_SIMPLE = {
    k.BOOLEAN: "BOOLEAN", k.INT16: "SMALLINT", k.INT32: "INTEGER", k.INT64: "BIGINT",
    k.FLOAT32: "FLOAT", k.FLOAT64: "DOUBLE", k.VDECIMAL: "VARCHAR", k.STRING: "VARCHAR",
    k.JSON: "JSON", k.UUID: "UUID", k.BYTES: "BLOB", k.DATE: "DATE", k.TIME: "TIME",
    k.TIMESTAMP: "TIMESTAMP", k.TIMESTAMPTZ: "TIMESTAMP WITH TIME ZONE",
    k.TIMETZ: "TIME WITH TIME ZONE", k.INTERVAL: "INTERVAL",
}  # fmt: skip
_REVERSE = {v: ColumnType(kind) for kind, v in _SIMPLE.items() if kind != k.VDECIMAL}
_CAST = {k.JSON, k.UUID, k.TIMESTAMPTZ, k.TIMETZ}
_ARROW: dict[str, Any] = {
    k.BOOLEAN: pa.bool_(), k.INT16: pa.int16(), k.INT32: pa.int32(), k.INT64: pa.int64(),
    k.FLOAT32: pa.float32(), k.FLOAT64: pa.float64(), k.VDECIMAL: pa.string(),
    k.STRING: pa.string(), k.JSON: pa.string(), k.UUID: pa.string(), k.BYTES: pa.binary(),
    k.TIMESTAMPTZ: pa.string(), k.TIMETZ: pa.string(),
}  # fmt: skip
# canonical ints, loaded as int64/int32 and cast by Arrow (no Python per value)
_INT_CAST: dict[str, tuple[Any, Any]] = {
    k.DATE: (pa.int32(), pa.date32()),
    k.TIME: (pa.int64(), pa.time64("us")),
    k.TIMESTAMP: (pa.int64(), pa.timestamp("us")),
    k.INTERVAL: (pa.int64(), pa.duration("us")),
}
# array items are native Python values (datetime.date, ...)
_ITEM_ARROW: dict[str, Any] = {
    k.DATE: pa.date32(), k.TIME: pa.time64("us"), k.TIMESTAMP: pa.timestamp("us"),
    k.INTERVAL: pa.duration("us"),
}  # fmt: skip
_DECIMAL_RE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def _decimal_fits(t: ColumnType) -> bool:
    return (t.precision is None or t.precision <= 38) and 0 <= (t.scale or 0) <= 38


def sql_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        if not _decimal_fits(t):
            return "VARCHAR"
        return f"DECIMAL({t.precision or 38},{t.scale or 0})"
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


def arrow_array(t: ColumnType, values: list[Any]) -> Any:
    kind = t.kind
    if kind in _INT_CAST:
        raw, target = _INT_CAST[kind]
        return pa.array(values, raw).cast(target)
    if kind == k.DECIMAL:
        if _decimal_fits(t):
            return _decimal128(t, values)
        return pa.array(
            [None if v is None else format(decimal_value(t, v), "f") for v in values], pa.string()
        )
    if kind == k.VDECIMAL:
        return pa.array([None if v is None else format(v, "f") for v in values], pa.string())
    if kind == k.ARRAY:
        if _text_decimal(t):
            values = [_decimal_text(v) for v in values]
        return pa.array(values, pa.list_(_item_type(t.item)))
    return pa.array(values, _ARROW[kind])


_MASK128 = (1 << 128) - 1


def _decimal128(t: ColumnType, values: list[Any]) -> Any:
    """A decimal128 array straight from unscaled ints (two's complement, little endian): no
    Decimal objects on the way."""
    n = len(values)
    data = b"".join([((v or 0) & _MASK128).to_bytes(16, "little") for v in values])
    validity = None
    if None in values:
        validity = pa.array([v is not None for v in values], pa.bool_()).buffers()[1]
    typ = pa.decimal128(t.precision or 38, t.scale or 0)
    return pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(data)])


def _text_decimal(t: ColumnType) -> bool:
    """Whether an array's items are decimals DuckDB keeps as exact text."""
    while t.kind == k.ARRAY:
        assert t.item is not None
        t = t.item
    return t.kind == k.VDECIMAL or (t.kind == k.DECIMAL and not _decimal_fits(t))


def _decimal_text(v: Any) -> Any:
    if isinstance(v, list):
        return [_decimal_text(x) for x in v]
    return None if v is None else format(v, "f")


def _item_type(t: ColumnType | None) -> Any:
    assert t is not None
    if t.kind == k.ARRAY:
        return pa.list_(_item_type(t.item))
    if t.kind == k.DECIMAL and _decimal_fits(t):
        return pa.decimal128(t.precision or 38, t.scale or 0)
    if t.kind == k.TIMESTAMPTZ:
        return pa.timestamp("us", tz="UTC")
    return _ITEM_ARROW.get(t.kind) or _ARROW.get(t.kind, pa.string())
