"""PostgreSQL type mapping: engine kinds → PostgreSQL column types (as ``format_type`` spells
them) and how each is staged.

================== ============================== ========================================
Debezium / Connect PostgreSQL column              staged (COPY text) → SQL
================== ============================== ========================================
boolean            boolean                        as is
int8/int16         smallint                       as is
int32              integer                        as is
int64              bigint                         as is
float / double     real / double precision        as is
Decimal(p,s)       numeric(p,s) (p unknown:       numeric unscaled → n * 1e-s (exact)
                   numeric)
VariableScale-     numeric                        exact decimal text
Decimal
string, Enum, Xml  text                           as is
Json, map, struct  jsonb                          JSON text (``\u0000``: refused, jsonb
                                                  cannot hold it)
Uuid               uuid                           text
bytes, varbit,     bytea                          bytes
geometry (WKB)
Bits(length n)     bit(n)                         the bit string, width kept
Date               date                           exact text ('4713-01-01 BC', 'infinity')
Time/Micro/Nano    time without time zone         exact text ('24:00:00' kept)
Timestamp/Micro/   timestamp without time zone    exact text (BC, year 294276, infinity)
NanoTimestamp
ZonedTimestamp     timestamp with time zone       text in UTC (BC, years past 9999, infinity)
ZonedTime          time with time zone            ISO text
MicroDuration      interval                       exact text: n µs as hh:mm:ss.ffffff
array              <item>[]                       array literal (psycopg), items as above,
                                                  any depth
================== ============================== ========================================

Dates, times, timestamps and intervals are written as text computed with integers and parsed
by the server: no float on their way (``TIMESTAMP '1970-01-01' + n * INTERVAL '1
microsecond'`` is computed in float8 and moved 9999-12-31 23:59:59.999999 to year 10000).
Debezium's ±infinity markers become ``infinity``/``-infinity``.
Nanoseconds are truncated to microseconds (PostgreSQL's resolution).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from connectors.sink.engine import temporal
from connectors.sink.engine import types as k
from connectors.sink.engine.errors import ValueNotHeldError
from connectors.sink.engine.types import ColumnType

_SIMPLE = {
    k.BOOLEAN: "boolean", k.INT16: "smallint", k.INT32: "integer", k.INT64: "bigint",
    k.FLOAT32: "real", k.FLOAT64: "double precision", k.VDECIMAL: "numeric", k.STRING: "text",
    k.JSON: "jsonb", k.UUID: "uuid", k.BYTES: "bytea", k.DATE: "date",
    k.TIME: "time without time zone", k.TIMESTAMP: "timestamp without time zone",
    k.TIMESTAMPTZ: "timestamp with time zone", k.TIMETZ: "time with time zone",
    k.INTERVAL: "interval",
}  # fmt: skip
_REVERSE = {v: ColumnType(kind) for kind, v in _SIMPLE.items()}
_REVERSE.update({"character varying": ColumnType(k.STRING), "json": ColumnType(k.JSON)})
_NUMERIC_RE = re.compile(r"numeric\((\d+),(-?\d+)\)")
_BIT_RE = re.compile(r"bit\((\d+)\)")
_TEXT: dict[str, Callable[[Any], str]] = {
    k.DATE: temporal.pg_date, k.TIME: temporal.pg_time, k.TIMESTAMP: temporal.pg_timestamp,
    k.INTERVAL: temporal.pg_interval, k.TIMESTAMPTZ: temporal.pg_timestamptz,
}  # fmt: skip
# a JSON escape of NUL: an odd number of backslashes before u0000
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def sql_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        if t.precision is None or not 1 <= t.precision <= 1000:
            return "numeric"
        return f"numeric({t.precision},{t.scale or 0})"
    if t.kind == k.ARRAY:
        assert t.item is not None
        return sql_type(t.item) + "[]"
    if t.kind == k.BITS:
        return f"bit({t.precision})"
    return _SIMPLE[t.kind]


def column_type(sql: str) -> ColumnType | None:
    s = sql.strip().lower()
    if s.endswith("[]"):
        item = column_type(s[:-2])
        return None if item is None else ColumnType(k.ARRAY, item=item)
    m = _NUMERIC_RE.fullmatch(s)
    if m:
        return ColumnType(k.DECIMAL, int(m[1]), int(m[2]))
    m = _BIT_RE.fullmatch(s)
    if m:
        return ColumnType(k.BITS, int(m[1]))
    if s.startswith("character varying") or s.startswith("character("):
        return ColumnType(k.STRING)
    return _REVERSE.get(s)


def staged_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        return "numeric"  # the unscaled integer
    return sql_type(t)


# kinds Arrow formats as PostgreSQL reads them, for years 1..9999: (raw type, typed type)
_ARROW_TEXT = {k.DATE: ("int32", "date32"), k.TIMESTAMP: ("int64", "timestamp")}
_ARROW_RANGE = {k.DATE: (-719162, 2932896), k.TIMESTAMP: (-62135596800000000, 253402300799999999)}


def _arrow_text(kind: str, values: list[Any]) -> list[Any] | None:
    """The texts of a column of dates or timestamps all in years 1..9999, formatted by Arrow
    in C (integer arithmetic, several times faster than Python's); None if one is not."""
    import pyarrow as pa
    import pyarrow.compute as pc

    raw, typed = _ARROW_TEXT[kind]
    lo, hi = _ARROW_RANGE[kind]
    try:
        arr = pa.array(values, raw)
    except (OverflowError, pa.ArrowInvalid):
        return None
    bounds = pc.min_max(arr).as_py()  # type: ignore[attr-defined]
    if bounds["min"] is None or bounds["min"] < lo or bounds["max"] > hi:
        return None
    as_type = pa.date32() if typed == "date32" else pa.timestamp("us")
    return arr.cast(as_type).cast(pa.string()).to_pylist()  # type: ignore[no-any-return]


def staged_values(name: str, t: ColumnType, values: list[Any]) -> list[Any]:
    """A column's canonical values as COPY binds them: temporal kinds as exact text."""
    kind = t.kind
    if kind in _TEXT:
        if kind in _ARROW_TEXT and len(values) > 16:
            fast = _arrow_text(kind, values)
            if fast is not None:
                return fast
        fn = _TEXT[kind]
        return [None if v is None else fn(v) for v in values]
    if kind == k.JSON:
        for v in values:
            if v is not None and "\\u0000" in v and _JSON_NUL.search(v):
                raise ValueNotHeldError(
                    name, "a JSON value holding \\u0000 (NUL)", "PostgreSQL jsonb"
                )
        return values
    if kind == k.ARRAY:
        item_text = _TEXT.get(k.leaf(t).kind)
        if item_text is not None:
            return [None if v is None else _items(v, item_text) for v in values]
    return values


def _items(v: list[Any], fn: Callable[[Any], str]) -> list[Any]:
    return [None if x is None else _items(x, fn) if type(x) is list else fn(x) for x in v]


def select_expr(t: ColumnType, ref: str) -> str:
    if t.kind == k.DECIMAL:
        return f"({ref} * 1e{-(t.scale or 0)})"  # numeric arithmetic: exact
    return ref


def match_expr(t: ColumnType, expr: str) -> str:
    """``expr`` as keyless old rows compare it: JSON as ``jsonb``, since a target column may be
    ``json`` (created by the user), which has no ``=`` (``json = jsonb`` does not exist)."""
    if t.kind == k.JSON:
        return f"({expr})::jsonb"
    if t.kind == k.ARRAY and t.item is not None and t.item.kind == k.JSON:
        return f"({expr})::jsonb[]"
    return expr
