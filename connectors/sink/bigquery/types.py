"""BigQuery type mapping: engine kinds → BigQuery column types; values are staged as Parquet
by `connectors.sink.engine.arrow_values` and loaded into a staging table of these types.

================ =========================== =============================================
Debezium/Connect BigQuery column             staged as (Parquet) → SQL
================ =========================== =============================================
boolean          BOOL                        bool
int8/16/32/64    INT64                       int64
float / double   FLOAT64                     float64 (NaN and ±inf kept)
Decimal(p,s)     NUMERIC(p,s) when s ≤ 9 and decimal128(p,s); else the exact text
                 p - s ≤ 29; BIGNUMERIC(p,s)
                 when p ≤ 38; else STRING
VariableScale-   STRING (exact text)         string
Decimal
string, Enum,    STRING                      string
Xml, Uuid, Bits,
ZonedTime
Json, map,       JSON                        JSON text → PARSE_JSON (a STRING column that
struct                                       exists already takes the text)
bytes, varbit,   BYTES                       binary
geometry (WKB)
Date             DATE                        date32
Time/Micro/Nano  TIME                        time64[us]
Timestamp/Micro/ DATETIME                    timestamp[us]
NanoTimestamp
ZonedTimestamp   TIMESTAMP (UTC)             timestamp[us, UTC]
MicroDuration    INT64 (microseconds)        int64
array            JSON (an ARRAY cannot hold  JSON text → PARSE_JSON; dates, times and
                 NULL items nor nest)        timestamps as ISO text, decimals exact,
                                             bytes as hex
================ =========================== =============================================

BigQuery holds years 0001–9999 and times of day below 24:00: ``±infinity`` (Debezium's
markers), BC dates, ``24:00:00`` and years past 9999 are refused by column
(`ValueNotHeldError`).
"""

from __future__ import annotations

import re
from typing import Any

from connectors.sink.engine import types as k
from connectors.sink.engine.arrow_values import ArrowValues
from connectors.sink.engine.types import ColumnType

_SIMPLE = {
    k.BOOLEAN: "BOOL", k.INT16: "INT64", k.INT32: "INT64", k.INT64: "INT64",
    k.FLOAT32: "FLOAT64", k.FLOAT64: "FLOAT64", k.VDECIMAL: "STRING", k.STRING: "STRING",
    k.JSON: "JSON", k.UUID: "STRING", k.BYTES: "BYTES", k.BITS: "STRING", k.DATE: "DATE",
    k.TIME: "TIME", k.TIMESTAMP: "DATETIME", k.TIMESTAMPTZ: "TIMESTAMP", k.TIMETZ: "STRING",
    k.INTERVAL: "INT64", k.ARRAY: "JSON",
}  # fmt: skip
# what a column of each spelling holds, for widening (the widest kind of each spelling)
_REVERSE = {
    "BOOL": ColumnType(k.BOOLEAN), "INT64": ColumnType(k.INT64),
    "FLOAT64": ColumnType(k.FLOAT64), "STRING": ColumnType(k.STRING),
    "JSON": ColumnType(k.JSON), "BYTES": ColumnType(k.BYTES), "DATE": ColumnType(k.DATE),
    "TIME": ColumnType(k.TIME), "DATETIME": ColumnType(k.TIMESTAMP),
    "TIMESTAMP": ColumnType(k.TIMESTAMPTZ),
    # unparameterized: NUMERIC is NUMERIC(38,9); BIGNUMERIC's 76.76 digits are more than a
    # parameterized one holds, so it is taken as the widest (38,38) can grow into
    "NUMERIC": ColumnType(k.DECIMAL, 38, 9), "BIGNUMERIC": ColumnType(k.DECIMAL, 76, 38),
}  # fmt: skip
_NUMERIC_RE = re.compile(r"(BIG)?NUMERIC\((\d+),(\d+)\)")
_PARSED = {k.JSON, k.ARRAY}  # staged as JSON text, parsed in SQL
# the names the REST API gives a field's type, as `sql_type` spells them
_LEGACY = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "BIGDECIMAL": "BIGNUMERIC"}
# key column types BigQuery clusters by
CLUSTERABLE = {"INT64", "STRING", "DATE", "DATETIME", "TIMESTAMP", "BOOL"}


def _numeric(t: ColumnType) -> tuple[str, int, int] | None:
    """("NUMERIC" or "BIGNUMERIC", p, s) for a decimal; None when neither holds it exactly or
    it cannot be staged as a Parquet DECIMAL (p > 38)."""
    s, p = t.scale or 0, t.precision
    if p is None or not 0 <= s <= p or p < 1 or p > 38:
        return None
    if s <= 9 and p - s <= 29:
        return "NUMERIC", p, s
    return "BIGNUMERIC", p, s


def _staged_decimal(t: ColumnType) -> tuple[int, int] | None:
    n = _numeric(t)
    return None if n is None else (n[1], n[2])


def sql_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        n = _numeric(t)
        return "STRING" if n is None else f"{n[0]}({n[1]},{n[2]})"
    return _SIMPLE[t.kind]


def staged_type(t: ColumnType) -> str:
    """The staging table's column type: the target's, JSON and arrays as their text."""
    return "STRING" if t.kind in _PARSED else sql_type(t)


def column_type(sql: str) -> ColumnType | None:
    s = sql.upper().replace(" ", "")
    m = _NUMERIC_RE.fullmatch(s)
    if m:
        return ColumnType(k.DECIMAL, int(m[2]), int(m[3]))
    return _REVERSE.get(s)


def spelled(field_type: str, mode: str | None, precision: Any, scale: Any) -> str:
    """A column type as `sql_type` spells it, from a table's schema field (REST API)."""
    t = _LEGACY.get(field_type.upper(), field_type.upper())
    if t in ("NUMERIC", "BIGNUMERIC") and precision is not None:
        t = f"{t}({int(precision)},{int(scale or 0)})"
    if t == "RECORD":
        t = "STRUCT"
    return f"ARRAY<{t}>" if (mode or "").upper() == "REPEATED" else t


def holds(existing: str, t: ColumnType) -> bool:
    """A STRING column takes JSON and arrays as their text (tables made by the Confluent
    connector have STRING for Debezium's Json)."""
    return existing == "STRING" and t.kind in _PARSED


def select_expr(t: ColumnType, ref: str, target: str | None) -> str:
    """The staged value as the target column takes it: JSON text parsed for a JSON column."""
    if t.kind in _PARSED and target != "STRING":
        return f"PARSE_JSON({ref})"
    return ref


VALUES = ArrowValues("BigQuery", _staged_decimal, sql_type)


def arrow_array(t: ColumnType, values: list[Any], name: str) -> Any:
    return VALUES.array(t, values, name)
