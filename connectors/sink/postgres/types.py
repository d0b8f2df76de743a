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
Json, map, struct  jsonb                          JSON text
Uuid               uuid                           text
bytes, Bits,       bytea                          bytes
geometry (WKB)
Date               date                           bigint days → '1970-01-01'::date + n
Time/Micro/Nano    time without time zone         bigint µs → '00:00'::time + n µs
Timestamp/Micro/   timestamp without time zone    bigint µs → epoch + n µs (exact, no float)
NanoTimestamp
ZonedTimestamp     timestamp with time zone       ISO 8601 text
ZonedTime          time with time zone            ISO text
MicroDuration      interval                       bigint µs → n * interval '1 microsecond'
array              <item>[]                       array literal (psycopg)
================== ============================== ========================================

Nanoseconds are truncated to microseconds (PostgreSQL's resolution).
"""

from __future__ import annotations

import re

from connectors.sink.engine import types as k
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
_INT_STAGED = {k.DATE, k.TIME, k.TIMESTAMP, k.INTERVAL}
_NUMERIC_RE = re.compile(r"numeric\((\d+),(-?\d+)\)")


def sql_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        if t.precision is None or not 1 <= t.precision <= 1000:
            return "numeric"
        return f"numeric({t.precision},{t.scale or 0})"
    if t.kind == k.ARRAY:
        assert t.item is not None
        return sql_type(t.item) + "[]"
    return _SIMPLE[t.kind]


def column_type(sql: str) -> ColumnType | None:
    s = sql.strip().lower()
    if s.endswith("[]"):
        item = column_type(s[:-2])
        return None if item is None else ColumnType(k.ARRAY, item=item)
    m = _NUMERIC_RE.fullmatch(s)
    if m:
        return ColumnType(k.DECIMAL, int(m[1]), int(m[2]))
    if s.startswith("character varying") or s.startswith("character("):
        return ColumnType(k.STRING)
    return _REVERSE.get(s)


def staged_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        return "numeric"  # the unscaled integer
    return "bigint" if t.kind in _INT_STAGED else sql_type(t)


def select_expr(t: ColumnType, ref: str) -> str:
    kind = t.kind
    if kind == k.DECIMAL:
        return f"({ref} * 1e{-(t.scale or 0)})"  # numeric arithmetic: exact
    if kind == k.DATE:
        return f"(DATE '1970-01-01' + {ref}::integer)"
    if kind == k.TIMESTAMP:
        return f"(TIMESTAMP '1970-01-01' + {ref} * INTERVAL '1 microsecond')"
    if kind == k.TIME:
        return f"(TIME '00:00' + {ref} * INTERVAL '1 microsecond')"
    if kind == k.INTERVAL:
        return f"({ref} * INTERVAL '1 microsecond')"
    return ref


def match_expr(t: ColumnType, expr: str) -> str:
    """``expr`` as keyless old rows compare it: JSON as ``jsonb``, since a target column may be
    ``json`` (created by the user), which has no ``=`` (``json = jsonb`` does not exist)."""
    if t.kind == k.JSON:
        return f"({expr})::jsonb"
    if t.kind == k.ARRAY and t.item is not None and t.item.kind == k.JSON:
        return f"({expr})::jsonb[]"
    return expr
