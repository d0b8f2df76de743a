"""A batch's values as Arrow arrays, for warehouses that bulk-load a file (Parquet) into a
staging table: Snowflake (``PUT`` + ``COPY INTO``) and BigQuery (a load job).

Both hold years 0001–9999 and times of day below 24:00, decimals exactly up to 38 digits in a
Parquet DECIMAL, JSON and arrays as JSON text (parsed in SQL). `ArrowValues` turns the engine's
canonical values (see `types`) into arrays of those Arrow types and refuses, by column, what the
warehouse cannot hold (``±infinity``, BC dates, ``24:00:00``, years past 9999):
`ValueNotHeldError`, so the batch goes to the dead letter queue or stops the task.

================ ===================================================
engine kind      Arrow (Parquet) type
================ ===================================================
boolean          bool
int16/32/64      int64
float32/64       float64 (NaN and ±inf kept)
decimal          decimal128(p,s) when the warehouse's exact type holds it, else the
                 exact text
vdecimal         the exact text
string, uuid,    string
bits, timetz
json             string (JSON text)
bytes            binary
date             date32
time             time64[us]
timestamp        timestamp[us]
timestamptz      timestamp[us, UTC]
interval         int64 (microseconds)
array            string: JSON text; dates, times and timestamps as ISO text, decimals
                 exact, bytes as hex
================ ===================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

from connectors.sink.engine import temporal
from connectors.sink.engine import types as k
from connectors.sink.engine.errors import ValueNotHeldError
from connectors.sink.engine.types import ColumnType, decimal_value

MIN_DAYS, MAX_DAYS = -719162, 2932896  # 0001-01-01, 9999-12-31
MIN_MICROS, MAX_MICROS = -62135596800000000, 253402300799999999
_DAY = temporal.MICROS_PER_DAY
_ARROW: dict[str, Any] = {
    k.BOOLEAN: pa.bool_(), k.INT16: pa.int64(), k.INT32: pa.int64(), k.INT64: pa.int64(),
    k.FLOAT32: pa.float64(), k.FLOAT64: pa.float64(), k.STRING: pa.string(),
    k.UUID: pa.string(), k.BITS: pa.string(), k.TIMETZ: pa.string(), k.BYTES: pa.binary(),
    k.INTERVAL: pa.int64(),
}  # fmt: skip

Render = Callable[[Any], Any]


class ArrowValues:
    """``target`` names the warehouse in refusals ("Snowflake"); ``exact(t)`` is the
    precision and scale of the Parquet DECIMAL a decimal column is staged as, None when the
    warehouse's exact type cannot hold it (staged as its text); ``type_name(t)`` the column
    type messages name."""

    def __init__(
        self,
        target: str,
        exact: Callable[[ColumnType], tuple[int, int] | None],
        type_name: Callable[[ColumnType], str],
    ) -> None:
        self.target, self.exact, self.type_name = target, exact, type_name

    def array(self, t: ColumnType, values: list[Any], name: str) -> Any:
        kind = t.kind
        if kind in _ARROW:
            return pa.array(values, _ARROW[kind])
        if kind == k.DECIMAL:
            ps = self.exact(t)
            if ps is None:
                return pa.array([None if v is None else _text(t, v) for v in values],
                                pa.string())  # fmt: skip
            return pa.array([None if v is None else decimal_value(t, v) for v in values],
                            pa.decimal128(*ps))  # fmt: skip
        if kind == k.VDECIMAL:
            return pa.array([None if v is None else format(v, "f") for v in values], pa.string())
        if kind == k.JSON:
            return pa.array(values, pa.string())
        if kind == k.DATE:
            return pa.array([None if v is None else self._day(t, name, v) for v in values],
                            pa.date32())  # fmt: skip
        if kind == k.TIME:
            return pa.array([None if v is None else self._clock(t, name, v) for v in values],
                            pa.time64("us"))  # fmt: skip
        if kind == k.TIMESTAMP:
            held = [None if v is None else self._micros(t, name, v) for v in values]
            return pa.array(held, pa.int64()).cast(pa.timestamp("us"))
        if kind == k.TIMESTAMPTZ:
            held = [None if v is None else self._zoned(t, name, v) for v in values]
            return pa.array(held, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        if kind == k.ARRAY:
            render = self._item_renderer(k.leaf(t), name)
            return pa.array([None if v is None else _json_array(v, render) for v in values],
                            pa.string())  # fmt: skip
        raise ValueNotHeldError(name, f"a {t} value", f"a {self.target} column")

    def _held(self, t: ColumnType) -> str:
        return f"{self.target} {self.type_name(t)}"

    def _day(self, t: ColumnType, name: str, days: int) -> int:
        if not MIN_DAYS <= days <= MAX_DAYS:
            raise ValueNotHeldError(name, f"the date {temporal.pg_date(days)}", self._held(t))
        return days

    def _clock(self, t: ColumnType, name: str, micros: int) -> int:
        if not 0 <= micros < _DAY:
            raise ValueNotHeldError(name, f"the time {temporal.clock(micros)}", self._held(t))
        return micros

    def _micros(self, t: ColumnType, name: str, micros: int) -> int:
        if not MIN_MICROS <= micros <= MAX_MICROS:
            what = f"the timestamp {temporal.pg_timestamp(micros)}"
            raise ValueNotHeldError(name, what, self._held(t) + " (years 0001-9999)")
        return micros

    def _zoned(self, t: ColumnType, name: str, v: str) -> int:
        micros = temporal.zoned_micros(v)
        if not isinstance(micros, int) or not MIN_MICROS <= micros <= MAX_MICROS:
            raise ValueNotHeldError(name, f"the timestamp {v}", self._held(t))
        return micros

    def _item_renderer(self, t: ColumnType, name: str) -> Render:
        """An array item of type ``t`` as JSON takes it (a `Decimal` as its exact number)."""
        kind = t.kind
        if kind == k.DATE:
            return lambda v: temporal.pg_date(self._day(t, name, v))
        if kind == k.TIME:
            return lambda v: temporal.clock(self._clock(t, name, v))
        if kind == k.TIMESTAMP:
            return lambda v: temporal.pg_timestamp(self._micros(t, name, v)).replace(" ", "T")
        if kind == k.BYTES:
            return lambda v: bytes(v).hex()
        if kind == k.JSON:
            return lambda v: orjson.Fragment(v) if isinstance(v, str) else v
        if kind in (k.FLOAT32, k.FLOAT64):
            return lambda v: self._finite(t, name, v)
        return lambda v: v

    def _finite(self, t: ColumnType, name: str, v: Any) -> Any:
        """A float item as JSON holds it: NaN and infinities it has no number for (orjson
        wrote them as null) are refused, never written as something else."""
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueNotHeldError(name, f"{v} in an array", f"{self._held(t)} in a JSON array")
        return v


def _text(t: ColumnType, unscaled: int) -> str:
    return format(decimal_value(t, unscaled), "f")


def _json_array(v: list[Any], render: Render) -> str:
    def items(x: list[Any]) -> list[Any]:
        return [None if i is None else items(i) if type(i) is list else render(i) for i in x]

    return orjson.dumps(items(v), default=_exact).decode()


def _exact(v: Any) -> Any:
    if isinstance(v, Decimal):
        return orjson.Fragment(format(v, "f"))
    raise TypeError(f"{type(v).__name__} in an array")
