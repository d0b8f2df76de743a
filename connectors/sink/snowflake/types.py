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
                 0 ≤ s ≤ p); else VARCHAR
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
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

from connectors.sink.engine import temporal
from connectors.sink.engine import types as k
from connectors.sink.engine.errors import ValueNotHeldError
from connectors.sink.engine.types import ColumnType, decimal_value

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
_MIN_DAYS, _MAX_DAYS = -719162, 2932896  # 0001-01-01, 9999-12-31
_MIN_MICROS, _MAX_MICROS = -62135596800000000, 253402300799999999
_DAY = temporal.MICROS_PER_DAY
_ARROW: dict[str, Any] = {
    k.BOOLEAN: pa.bool_(), k.INT16: pa.int64(), k.INT32: pa.int64(), k.INT64: pa.int64(),
    k.FLOAT32: pa.float64(), k.FLOAT64: pa.float64(), k.STRING: pa.string(),
    k.UUID: pa.string(), k.BITS: pa.string(), k.TIMETZ: pa.string(), k.BYTES: pa.binary(),
    k.INTERVAL: pa.int64(),
}  # fmt: skip


def _number(t: ColumnType) -> tuple[int, int] | None:
    """NUMBER(p,s) of a decimal; None when Snowflake's NUMBER cannot hold it exactly."""
    scale = t.scale or 0
    if t.precision is None or not 0 <= scale <= t.precision <= 38 or t.precision < 1:
        return None
    return t.precision, scale


def sql_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        ps = _number(t)
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


def arrow_array(t: ColumnType, values: list[Any], name: str) -> Any:
    kind = t.kind
    if kind in _ARROW:
        return pa.array(values, _ARROW[kind])
    if kind == k.DECIMAL:
        ps = _number(t)
        if ps is None:
            return pa.array([None if v is None else _text(t, v) for v in values], pa.string())
        return pa.array([None if v is None else decimal_value(t, v) for v in values],
                        pa.decimal128(*ps))  # fmt: skip
    if kind == k.VDECIMAL:
        return pa.array([None if v is None else format(v, "f") for v in values], pa.string())
    if kind == k.JSON:
        return pa.array(values, pa.string())
    if kind == k.DATE:
        return pa.array([None if v is None else _day(name, v) for v in values], pa.date32())
    if kind == k.TIME:
        return pa.array([None if v is None else _clock(name, v) for v in values], pa.time64("us"))
    if kind == k.TIMESTAMP:
        held = [None if v is None else _micros(name, v) for v in values]
        return pa.array(held, pa.int64()).cast(pa.timestamp("us"))
    if kind == k.TIMESTAMPTZ:
        held = [None if v is None else _zoned(name, v) for v in values]
        return pa.array(held, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    if kind == k.ARRAY:
        item = k.leaf(t)
        render = _item_renderer(item, name)
        return pa.array([None if v is None else _json_array(v, render) for v in values],
                        pa.string())  # fmt: skip
    raise ValueNotHeldError(name, f"a {t} value", "a Snowflake column")


def _text(t: ColumnType, unscaled: int) -> str:
    return format(decimal_value(t, unscaled), "f")


def _day(name: str, days: int) -> int:
    if not _MIN_DAYS <= days <= _MAX_DAYS:
        raise ValueNotHeldError(name, f"the date {temporal.pg_date(days)}", "Snowflake DATE")
    return days


def _clock(name: str, micros: int) -> int:
    if not 0 <= micros < _DAY:
        raise ValueNotHeldError(name, f"the time {temporal.clock(micros)}", "Snowflake TIME")
    return micros


def _micros(name: str, micros: int) -> int:
    if not _MIN_MICROS <= micros <= _MAX_MICROS:
        what = f"the timestamp {temporal.pg_timestamp(micros)}"
        raise ValueNotHeldError(name, what, "Snowflake TIMESTAMP_NTZ (years 0001-9999)")
    return micros


def _zoned(name: str, v: str) -> int:
    micros = temporal.zoned_micros(v)
    if not isinstance(micros, int) or not _MIN_MICROS <= micros <= _MAX_MICROS:
        raise ValueNotHeldError(name, f"the timestamp {v}", "Snowflake TIMESTAMP_TZ")
    return micros


Render = Callable[[Any], Any]


def _item_renderer(item: ColumnType, name: str) -> Render:
    """An array item as JSON takes it (a `Decimal` is written as its exact number)."""
    kind = item.kind
    if kind == k.DATE:
        return lambda v: temporal.pg_date(_day(name, v))
    if kind == k.TIME:
        return lambda v: temporal.clock(_clock(name, v))
    if kind == k.TIMESTAMP:
        return lambda v: temporal.pg_timestamp(_micros(name, v)).replace(" ", "T")
    if kind == k.BYTES:
        return lambda v: bytes(v).hex()
    if kind == k.JSON:
        return lambda v: orjson.Fragment(v) if isinstance(v, str) else v
    return lambda v: v


def _json_array(v: list[Any], render: Render) -> str:
    def items(x: list[Any]) -> list[Any]:
        return [None if i is None else items(i) if type(i) is list else render(i) for i in x]

    return orjson.dumps(items(v), default=_exact).decode()


def _exact(v: Any) -> Any:
    if isinstance(v, Decimal):
        return orjson.Fragment(format(v, "f"))
    raise TypeError(f"{type(v).__name__} in an array")
