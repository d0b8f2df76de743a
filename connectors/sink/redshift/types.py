"""Redshift type mapping: engine kinds → Redshift column types, and how a batch's values are
staged (a Parquet file ``COPY``'d from S3, or bound parameters of multi-row ``INSERT``s).

================ ============================ ================================================
Debezium/Connect Redshift column              staged as (Parquet / INSERT) → SQL
================ ============================ ================================================
boolean          boolean                      bool
int8/16/32/64    smallint / integer / bigint  int64 in a bigint column
float / double   real / double precision      float64 in a double precision column (NaN
                                              and ±inf kept)
Decimal(p,s)     numeric(p,s) (p ≤ 38,        decimal128(p,s); else the exact text
                 0 ≤ s ≤ min(p, 37)); else
                 varchar
VariableScale-   character varying(65535)     string
Decimal          (exact text)
string, Enum,    character varying(65535)     string
Xml, Uuid, Bits,
ZonedTime
Json, map,       super                        JSON text → JSON_PARSE
struct, array
bytes, varbit,   varbyte(1024000)             binary (INSERT: hex text → FROM_HEX)
geometry (WKB)
Date             date                         date32
Time/Micro/Nano  time without time zone       its text (HH:MM:SS.ffffff) → CAST
Timestamp/Micro/ timestamp without time zone  timestamp[us]
NanoTimestamp
ZonedTimestamp   timestamp with time zone     timestamp[us] in UTC → AT TIME ZONE 'UTC'
MicroDuration    bigint (microseconds)        int64
================ ============================ ================================================

Redshift's longest ``VARCHAR`` is 65 535 bytes and its text is staged as ``VARCHAR``: a string
or JSON document longer than that (UTF-8) cannot be held, nor (as in the other warehouses)
``±infinity``, BC dates, ``24:00:00`` and years past 9999. `ValueNotHeldError` names the column
(the batch goes to the dead letter queue or stops the task) instead of a truncated value.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from connectors.sink.engine import types as k
from connectors.sink.engine.arrow_values import ArrowValues
from connectors.sink.engine.errors import ValueNotHeldError
from connectors.sink.engine.types import ColumnType, exact_decimal

VARCHAR = "character varying(65535)"
MAX_VARCHAR = 65535
VARBYTE = "varbyte(1024000)"
MAX_VARBYTE = 1024000
MAX_SCALE = 37  # NUMERIC(38,38) is refused: at most 37 fraction digits
_SIMPLE = {
    k.BOOLEAN: "boolean", k.INT16: "smallint", k.INT32: "integer", k.INT64: "bigint",
    k.FLOAT32: "real", k.FLOAT64: "double precision", k.VDECIMAL: VARCHAR, k.STRING: VARCHAR,
    k.JSON: "super", k.UUID: VARCHAR, k.BYTES: VARBYTE, k.BITS: VARCHAR, k.DATE: "date",
    k.TIME: "time without time zone", k.TIMESTAMP: "timestamp without time zone",
    k.TIMESTAMPTZ: "timestamp with time zone", k.TIMETZ: VARCHAR, k.INTERVAL: "bigint",
    k.ARRAY: "super",
}  # fmt: skip
# what a column of each spelling holds, for widening (the first kind of each spelling)
_REVERSE: dict[str, ColumnType] = {}
for _kind, _name in _SIMPLE.items():
    _REVERSE.setdefault(_name, ColumnType(_kind))
_ALIASES = {
    "int2": "smallint", "int": "integer", "int4": "integer", "int8": "bigint",
    "float4": "real", "float": "double precision", "float8": "double precision",
    "bool": "boolean", "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone", "time": "time without time zone",
    "varbyte": VARBYTE, "binary varying": VARBYTE,
}  # fmt: skip
_NUMERIC_RE = re.compile(r"(?:numeric|decimal)\((\d+),(\d+)\)")
_VARCHAR_RE = re.compile(r"(?:character varying|varchar)(?:\((\d+)\))?")
_VARBYTE_RE = re.compile(r"(?:varbyte|binary varying)(?:\((\d+)\))?")
_PARSED = {k.JSON, k.ARRAY}  # staged as JSON text, parsed in SQL
_TEXT = {k.STRING, k.VDECIMAL, k.UUID, k.BITS, k.TIMETZ, *_PARSED}  # staged as VARCHAR


def _numeric(t: ColumnType) -> tuple[int, int] | None:
    """numeric(p,s) of a decimal; None when Redshift's NUMERIC cannot hold it exactly."""
    return exact_decimal(t, max_scale=MAX_SCALE)


def sql_type(t: ColumnType) -> str:
    if t.kind == k.DECIMAL:
        ps = _numeric(t)
        return VARCHAR if ps is None else f"numeric({ps[0]},{ps[1]})"
    return _SIMPLE[t.kind]


def staged_type(t: ColumnType, s3: bool) -> str:
    """The staging table's column type, as a Parquet file's column loads into it (COPY
    matches Parquet's types strictly): integers as bigint (int64), floats as double
    precision, times of day as their text, zoned timestamps as timestamps in UTC, JSON and
    arrays as their text, bytes as hex text when staged by INSERT."""
    if t.kind in (k.INT16, k.INT32):
        return "bigint"
    if t.kind == k.FLOAT32:
        return "double precision"
    if t.kind == k.TIMESTAMPTZ:
        return "timestamp without time zone"
    if t.kind in _PARSED or t.kind == k.TIME or (t.kind == k.BYTES and not s3):
        return VARCHAR
    return sql_type(t)


def select_expr(t: ColumnType, ref: str, s3: bool) -> str:
    """A staged column (`staged_type`) as the target column's type."""
    if t.kind in _PARSED:
        return f"JSON_PARSE({ref})"
    if t.kind == k.BYTES and not s3:
        return f"FROM_HEX({ref})"
    if t.kind in (k.INT16, k.INT32, k.FLOAT32, k.TIME):
        return f"CAST({ref} AS {sql_type(t)})"
    if t.kind == k.TIMESTAMPTZ:
        return f"({ref} AT TIME ZONE 'UTC')"
    return ref


def column_type(sql: str) -> ColumnType | None:
    s = " ".join(sql.lower().split())
    s = _ALIASES.get(s, s)
    m = _NUMERIC_RE.fullmatch(s.replace(" ", ""))
    if m:
        return ColumnType(k.DECIMAL, int(m[1]), int(m[2]))
    if _VARCHAR_RE.fullmatch(s):
        return ColumnType(k.STRING)
    if _VARBYTE_RE.fullmatch(s):
        return ColumnType(k.BYTES)
    return _REVERSE.get(s)


# -- values ------------------------------------------------------------------------------------


VALUES = ArrowValues("Redshift", _numeric, sql_type)


def arrow_array(t: ColumnType, values: list[Any], name: str, s3: bool) -> Any:
    """The column's staged values as an Arrow array; `ValueNotHeldError` for a value Redshift
    cannot hold (text past 65 535 bytes, bytes past 1 024 000; staged by INSERT, as hex text,
    past 32 767)."""
    arr = VALUES.array(t, values, name)
    if t.kind == k.TIME:  # HH:MM:SS.ffffff
        return arr.cast(pa.string())
    if t.kind == k.TIMESTAMPTZ:  # the same instants, as UTC wall-clock times
        return arr.cast(pa.timestamp("us"))
    if t.kind in _TEXT or (t.kind == k.DECIMAL and _numeric(t) is None):
        _check_lengths(arr, name, MAX_VARCHAR, VARCHAR)
    elif t.kind == k.BYTES:
        if s3:
            _check_lengths(arr, name, MAX_VARBYTE, VARBYTE)
        else:
            _check_lengths(arr, name, MAX_VARCHAR // 2, VARBYTE + " when staged by INSERT")
    return arr


def _check_lengths(arr: Any, name: str, limit: int, held_by: str) -> None:
    import pyarrow.compute as pc

    if len(arr) == 0 or arr.null_count == len(arr):
        return
    longest = pc.max(pc.binary_length(arr)).as_py()  # type: ignore[attr-defined]
    if longest is not None and longest > limit:
        raise ValueNotHeldError(name, f"a value of {longest} bytes", f"Redshift {held_by}")


def bound(arr: Any, t: ColumnType) -> list[Any]:
    """An Arrow array's values as the INSERT binds them (bytes as hex text for FROM_HEX)."""
    values: list[Any] = arr.to_pylist()
    if t.kind == k.BYTES:
        return [None if v is None else v.hex() for v in values]
    return values
