"""Snowflake type mapping: engine kinds → Snowflake column types, and how a batch's values are
staged (a Parquet file, loaded by ``COPY INTO``).

================ =========================== =============================================
Debezium/Connect Snowflake column            staged as (Parquet) → SQL
================ =========================== =============================================
boolean          BOOLEAN                     bool
int8/16/32/64    NUMBER(5,0) / NUMBER(10,0)  int64
                 / NUMBER(19,0)
float / double   FLOAT (64-bit)              float64 (NaN and ±inf kept)
Decimal(p,s)     NUMBER(p,s) (p ≤ 38,        decimal128(p,s); else the exact text
                 0 ≤ s ≤ min(p, 37)); else
                 VARCHAR
VariableScale-   VARCHAR (exact text)        string
Decimal
string, Enum,    VARCHAR                     string
Xml, Uuid, Bits,
ZonedTime
Json, map,       VARIANT                     JSON text → PARSE_JSON
struct
bytes, varbit,   BINARY                      binary
geometry (WKB)
Date             DATE                        date32
Time/Micro/Nano  TIME                        time64[us]
Timestamp/Micro/ TIMESTAMP_NTZ               timestamp[us]
NanoTimestamp
ZonedTimestamp   TIMESTAMP_TZ (in UTC)       timestamp[us, UTC]
MicroDuration    NUMBER(19,0) (microseconds) int64
array            ARRAY                       JSON text → PARSE_JSON; dates, times and
                                             timestamps as ISO text, decimals exact,
                                             bytes as hex
================ =========================== =============================================

Snowflake holds years 0001–9999 and times of day below 24:00: ``±infinity`` (Debezium's
markers), BC dates, ``24:00:00`` and years past 9999 cannot be held, and `ValueNotHeldError`
names the column (the batch goes to the dead letter queue or stops the task).
"""

from __future__ import annotations

import re
from typing import Any

from connectors.sink.engine import types as k
from connectors.sink.engine.arrow_values import ArrowValues
from connectors.sink.engine.types import ColumnType, exact_decimal

MAX_SCALE = 37  # NUMBER(38,38) is refused: at most 37 fraction digits

_SIMPLE = {
    k.BOOLEAN: "BOOLEAN", k.INT16: "NUMBER(5,0)", k.INT32: "NUMBER(10,0)",
    k.INT64: "NUMBER(19,0)", k.FLOAT32: "FLOAT", k.FLOAT64: "FLOAT", k.VDECIMAL: "VARCHAR",
    k.STRING: "VARCHAR", k.JSON: "VARIANT", k.UUID: "VARCHAR", k.BYTES: "BINARY",
    k.BITS: "VARCHAR", k.DATE: "DATE", k.TIME: "TIME", k.TIMESTAMP: "TIMESTAMP_NTZ",
    k.TIMESTAMPTZ: "TIMESTAMP_TZ", k.TIMETZ: "VARCHAR", k.INTERVAL: "NUMBER(19,0)",
    k.ARRAY: "ARRAY",
}  # fmt: skip
# what a column of each spelling holds, for widening (the first kind of each spelling)
_REVERSE: dict[str, ColumnType] = {}
for _kind, _name in _SIMPLE.items():
    _REVERSE.setdefault(_name, ColumnType(_kind))
_REVERSE.update(FLOAT=ColumnType(k.FLOAT64), VARCHAR=ColumnType(k.STRING))
_NUMBER_RE = re.compile(r"NUMBER\((\d+),(\d+)\)")
_PARSED = {k.JSON, k.ARRAY}  # staged as JSON text, parsed in SQL


def sql_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        ps = exact_decimal(t, max_scale=MAX_SCALE)
        return "VARCHAR" if ps is None else f"NUMBER({ps[0]},{ps[1]})"
    return _SIMPLE[t.kind]


def staged_type(t: ColumnType) -> str:
    """The staging table's column type: the target's, JSON and arrays as their text."""
    return "VARCHAR" if t.kind in _PARSED else sql_type(t)


def column_type(sql: str) -> ColumnType | None:
    s = sql.upper().replace(" ", "")
    m = _NUMBER_RE.fullmatch(s)
    if m:
        p, scale = int(m[1]), int(m[2])
        if scale == 0 and p in (5, 10, 19):
            return ColumnType({5: k.INT16, 10: k.INT32, 19: k.INT64}[p])
        return ColumnType(k.DECIMAL, p, scale)
    return _REVERSE.get(s)


def spelled(data_type: str, precision: Any, scale: Any) -> str:
    """A column type as `sql_type` spells it, from INFORMATION_SCHEMA.COLUMNS."""
    t = data_type.upper()
    if t in ("NUMBER", "DECIMAL", "NUMERIC", "INT", "INTEGER", "BIGINT", "SMALLINT"):
        return f"NUMBER({precision if precision is not None else 38},{scale or 0})"
    if t in ("TEXT", "STRING", "VARCHAR", "CHAR", "CHARACTER"):
        return "VARCHAR"
    if t in ("DOUBLE", "REAL", "FLOAT4", "FLOAT8", "DOUBLE PRECISION"):
        return "FLOAT"
    if t in ("TIMESTAMP", "DATETIME"):
        return "TIMESTAMP_NTZ"
    if t == "VARBINARY":
        return "BINARY"
    return t


def select_expr(t: ColumnType, ref: str) -> str:
    return f"PARSE_JSON({ref})" if t.kind in _PARSED else ref


def to_staged_expr(t: ColumnType, ref: str) -> str:
    """A target column's value as the staging table holds it (JSON text for VARIANT)."""
    return f"TO_JSON({ref})" if t.kind in _PARSED else ref


# -- values ------------------------------------------------------------------------------------

VALUES = ArrowValues("Snowflake", lambda t: exact_decimal(t, max_scale=MAX_SCALE), sql_type)


def arrow_array(t: ColumnType, values: list[Any], name: str) -> Any:
    return VALUES.array(t, values, name)
