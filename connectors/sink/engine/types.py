"""Column types of the engine, read from Kafka Connect schemas or inferred from JSON values.

A `ColumnType` is a small closed vocabulary (``Kind``) that every dialect maps to its own type
names. Each Connect schema field becomes a `Column`: its name, its type and the function that
turns the field's JSON value (as the JSON converter delivers it) into the engine's
*canonical* value for the kind:

============== ================================================ ==========================
kind           Connect schemas                                  canonical value
============== ================================================ ==========================
boolean        boolean; io.debezium.data.Bits of length 1       bool
int16/32/64    int8, int16, int32, int64                        int
float32/64     float, double                                    float
decimal        org.apache.kafka.connect.data.Decimal            int (unscaled, at the scale)
vdecimal       io.debezium.data.VariableScaleDecimal            decimal.Decimal
string         string, Enum, Xml, Interval (string), ...        str
json           io.debezium.data.Json, map, struct               str (JSON text)
uuid           io.debezium.data.Uuid                            str
bytes          bytes, io.debezium.data.Bits of unbounded length     bytes
               or of a varbit(n) (source column type VARBIT),
               geometry (WKB)
bits           io.debezium.data.Bits of length n (bit(n))       str of n '0'/'1' (width kept)
date           io.debezium.time.Date, connect Date              int (days since epoch)
time           Time / MicroTime / NanoTime, connect Time        int (microseconds of day)
timestamp      Timestamp / MicroTimestamp / NanoTimestamp       int (epoch microseconds)
timestamptz    io.debezium.time.ZonedTimestamp                  str (ISO 8601 with offset)
timetz         io.debezium.time.ZonedTime                       str
interval       io.debezium.time.MicroDuration                   int (microseconds)
array          array                                            list (of lists) of items
============== ================================================ ==========================

Array items are canonical values too, except decimals (``decimal.Decimal``), and a value may
be nested deeper than its schema says (a PostgreSQL column ``int[]`` holds ``{{1,2},{3,4}}``):
dialects bind whole lists and say so when their column cannot hold the depth.

Special values travel as Debezium writes them: a date or timestamp of ``±infinity`` is one of
the markers below (kept as they are: dialects map them back to infinity or refuse them), a
ZonedTimestamp is the string ``infinity``/``-infinity``.
"""

from __future__ import annotations

from binascii import a2b_base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import MAX_PREC, Context, Decimal
from typing import Any

import orjson

from hub.runtime.api import FILL, SOURCE_COLUMN_TYPE

Convert = Callable[[Any], Any]

BOOLEAN, INT16, INT32, INT64 = "boolean", "int16", "int32", "int64"
FLOAT32, FLOAT64, DECIMAL, VDECIMAL = "float32", "float64", "decimal", "vdecimal"
STRING, JSON, UUID, BYTES = "string", "json", "uuid", "bytes"
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, TIMETZ = "date", "time", "timestamp", "timestamptz", "timetz"
INTERVAL, ARRAY, BITS = "interval", "array", "bits"

# Debezium's ±infinity markers (PostgresValueConverter): timestamps as epoch micros
# (PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY), millis times 1000 land on the same values;
# dates as epoch days, both in year -5877611, +infinity the smaller (sic).
TIMESTAMP_POSITIVE_INFINITY = 9223372036825200000
TIMESTAMP_NEGATIVE_INFINITY = -9223372036832400000
DATE_POSITIVE_INFINITY = -2147472692
DATE_NEGATIVE_INFINITY = -2147472691
_UNBOUNDED_BITS = 2**31 - 1  # Debezium's length of a varbit without a limit


@dataclass(frozen=True, slots=True)
class ColumnType:
    kind: str
    precision: int | None = None  # decimal; bits: the length
    scale: int | None = None  # decimal
    item: ColumnType | None = None  # array

    def __str__(self) -> str:
        if self.kind == DECIMAL:
            return f"decimal({self.precision if self.precision is not None else '*'},{self.scale})"
        if self.kind == ARRAY:
            return f"array<{self.item}>"
        if self.kind == BITS:
            return f"bits({self.precision})"
        return self.kind


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType
    convert: Convert | None = None  # JSON value -> canonical value; None: as it is
    # the field schema's default, as a value of the column (before `convert`): what the
    # source's rows that existed before the column was added hold, and rows that do not carry
    # the column (None: none)
    default: Any = None


def _b(v: Any) -> bytes:
    # binascii directly: base64.b64decode is the same C call behind two Python layers
    return a2b_base64(v) if isinstance(v, str) else bytes(v)


def _unscaled(v: Any) -> int:
    return int.from_bytes(a2b_base64(v) if type(v) is str else _b(v), "big", signed=True)


_EXACT = Context(prec=MAX_PREC)  # scaleb rounds to the context's precision: never round


def _decimal_of(scale: int) -> Convert:
    def convert(v: Any) -> Any:
        if type(v) is str:  # base64, as the JSON converter writes it: the usual case
            return int.from_bytes(a2b_base64(v), "big", signed=True)
        if isinstance(v, int | float) and not isinstance(v, bool):  # decimal.format=NUMERIC
            return int(Decimal(str(v)).scaleb(scale, _EXACT))
        if isinstance(v, Decimal):  # (NUMERIC past a float's digits: read exactly)
            return int(v.scaleb(scale, _EXACT))
        return _unscaled(v)  # bytes

    return convert


def exact_decimal(
    t: ColumnType, max_precision: int = 38, max_scale: int = 38
) -> tuple[int, int] | None:
    """The precision and scale of a decimal column type of ``max_precision`` digits and
    ``max_scale`` fraction digits at most (Snowflake's NUMBER, Redshift's NUMERIC) that holds
    ``t`` exactly; None when none does (no precision, a negative scale, too many digits)."""
    scale = t.scale or 0
    if t.precision is None or not 0 <= scale <= t.precision <= max_precision or t.precision < 1:
        return None
    return (t.precision, scale) if scale <= max_scale else None


def decimal_value(t: ColumnType, unscaled: int) -> Decimal:
    """The Decimal of a canonical (unscaled) DECIMAL value."""
    return Decimal(unscaled).scaleb(-(t.scale or 0), _EXACT)


def _vdecimal(v: Any) -> Any:
    return Decimal(_unscaled(v["value"])).scaleb(-int(v["scale"]), _EXACT)


def _times(factor: int) -> Convert:
    return lambda v: v * factor


_DAY_US = 86_400_000_000


def _time_of_day(factor: int = 1, divisor: int = 1) -> Convert:
    """A Time / MicroTime / NanoTime as microseconds of the day, refused outside the day: a
    MySQL TIME is a duration (-838:59:59 to 838:59:59), which no target's TIME column holds
    (DuckDB had stored an invalid value, read back as an internal error)."""

    def convert(v: Any) -> Any:
        us = v * factor // divisor
        if not 0 <= us <= _DAY_US:
            raise ValueError(
                f"{v} is not a time of day (a duration such as a negative MySQL TIME, or one "
                "past 24:00:00): a TIME column cannot hold it; leave the column out "
                "(column.exclude.list on the source, or a ReplaceField transform)"
            )
        return us

    # (batches compare converters by name: Time in millis and MicroTime must differ)
    convert.__qualname__ = f"time_of_day_{factor}_{divisor}"
    return convert


def _float(v: Any) -> Any:
    """JSON has no NaN or infinity: Kafka's JsonConverter writes them as strings. (A
    Decimal: a number past a double's digits in a record whose schema holds a Decimal.)"""
    return float(v) if isinstance(v, str | Decimal) else v


def _json_text(v: Any) -> Any:
    return v if isinstance(v, str) else orjson.dumps(v, default=decimal_as_float).decode()


def decimal_as_float(o: Any) -> float:
    """orjson's ``default`` for a Decimal read exactly (the JSON converter's Decimals past a
    double's digits) inside a value written as JSON: a number, as it had been."""
    if isinstance(o, Decimal):
        return float(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _bits_of(length: int) -> Convert:
    """Debezium's Bits bytes (the bit string as a little-endian number) back to the bit
    string of the column's width: bit(8) '00000000' is one zero byte, or none, in the event."""

    def convert(v: Any) -> Any:
        n = int.from_bytes(_b(v), "little")
        if n.bit_length() > length:
            raise ValueError(f"{n.bit_length()} bits in a bit({length}) value")
        return format(n, f"0{length}b")

    return convert


def _geometry(v: Any) -> Any:
    return _b(v["wkb"]) if isinstance(v, Mapping) else _b(v)


_NAMED: dict[str, tuple[ColumnType, Convert | None]] = {
    "io.debezium.data.Json": (ColumnType(JSON), _json_text),
    "io.debezium.data.Uuid": (ColumnType(UUID), None),
    "io.debezium.data.Enum": (ColumnType(STRING), None),
    "io.debezium.data.EnumSet": (ColumnType(STRING), None),
    "io.debezium.data.Xml": (ColumnType(STRING), None),
    "io.debezium.data.Bits": (ColumnType(BYTES), _b),
    "io.debezium.data.VariableScaleDecimal": (ColumnType(VDECIMAL), _vdecimal),
    "io.debezium.time.Date": (ColumnType(DATE), None),
    "org.apache.kafka.connect.data.Date": (ColumnType(DATE), None),
    "io.debezium.time.Time": (ColumnType(TIME), _time_of_day(1000)),
    "org.apache.kafka.connect.data.Time": (ColumnType(TIME), _time_of_day(1000)),
    "io.debezium.time.MicroTime": (ColumnType(TIME), _time_of_day()),
    "io.debezium.time.NanoTime": (ColumnType(TIME), _time_of_day(divisor=1000)),
    "io.debezium.time.Timestamp": (ColumnType(TIMESTAMP), _times(1000)),
    "org.apache.kafka.connect.data.Timestamp": (ColumnType(TIMESTAMP), _times(1000)),
    "io.debezium.time.MicroTimestamp": (ColumnType(TIMESTAMP), None),
    "io.debezium.time.NanoTimestamp": (ColumnType(TIMESTAMP), lambda v: v // 1000),
    "io.debezium.time.ZonedTimestamp": (ColumnType(TIMESTAMPTZ), None),
    "io.debezium.time.ZonedTime": (ColumnType(TIMETZ), None),
    "io.debezium.time.MicroDuration": (ColumnType(INTERVAL), None),
    "io.debezium.time.Interval": (ColumnType(STRING), None),
}
_PLAIN = {
    "boolean": BOOLEAN, "int8": INT16, "int16": INT16, "int32": INT32, "int64": INT64,
    "float": FLOAT32, "float32": FLOAT32, "double": FLOAT64, "float64": FLOAT64,
    "string": STRING, "bytes": BYTES,
}  # fmt: skip


def column_type(schema: Mapping[str, Any]) -> tuple[ColumnType, Convert | None]:
    """The engine type of one Connect schema fragment, and its value conversion."""
    name = schema.get("name")
    kind = schema.get("type")
    if name == "org.apache.kafka.connect.data.Decimal":
        params = schema.get("parameters") or {}
        scale = int(params.get("scale", 0))
        p = params.get("connect.decimal.precision")
        return ColumnType(DECIMAL, int(p) if p is not None else None, scale), _decimal_of(scale)
    if name == "io.debezium.data.Bits" and kind == "boolean":
        return ColumnType(BOOLEAN), None
    if name == "io.debezium.data.Bits":
        params = schema.get("parameters") or {}
        length = int(params.get("length", _UNBOUNDED_BITS))
        # (a varbit's width is not in the event: its bytes are kept, as Debezium gives them)
        if 0 < length < _UNBOUNDED_BITS and params.get(SOURCE_COLUMN_TYPE) != "VARBIT":
            return ColumnType(BITS, length), _bits_of(length)
    if isinstance(name, str) and name.startswith("io.debezium.data.geometry."):
        return ColumnType(BYTES), _geometry
    if name in _NAMED:
        return _NAMED[name]
    if kind == "array":
        items = schema.get("items") or {"type": "string"}
        item, _ = column_type(items)
        while items.get("type") == "array":
            items = items.get("items") or {"type": "string"}
        leaf, leaf_convert = column_type(items)
        return ColumnType(ARRAY, item=item), _array_of(leaf, leaf_convert)
    if kind in ("map", "struct"):
        return ColumnType(JSON), _json_text
    if kind == "bytes":
        return ColumnType(BYTES), _b
    if kind in ("float", "float32", "double", "float64"):
        return ColumnType(_PLAIN[str(kind)]), _float
    return ColumnType(_PLAIN.get(str(kind), STRING)), None


def columns_of(struct: Mapping[str, Any]) -> list[Column]:
    """The columns of a Connect struct schema."""
    out = []
    for f in struct.get("fields") or ():
        t, conv = column_type(f)
        fill = (f.get("parameters") or {}).get(FILL)  # (a source's value for the rows it had)
        default = f.get("default") if fill is None else orjson.loads(fill)
        out.append(Column(f["field"], t, conv, default))
    return out


def infer(value: Any) -> ColumnType | None:
    """The type of a schemaless JSON value; None for null (unknown yet)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ColumnType(BOOLEAN)
    if isinstance(value, int):
        return ColumnType(INT64)
    if isinstance(value, float):
        return ColumnType(FLOAT64)
    if isinstance(value, str):
        return ColumnType(STRING)
    return ColumnType(JSON)


def inferred_columns(row: Mapping[str, Any]) -> list[Column]:
    out = []
    for k, v in row.items():
        t = infer(v)
        if t is not None:
            out.append(Column(k, t, _json_text if t.kind == JSON else None))
    return out


def null_fields(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields of a schemaless row that are null (`inferred_columns` has no type for
    them): an update setting a column back to NULL must still set it."""
    return tuple(k for k, v in row.items() if v is None)


# -- array items --------------------------------------------------------------------------------


def leaf(t: ColumnType) -> ColumnType:
    """The item type of the innermost array of ``t`` (``t`` itself if no array)."""
    while t.kind == ARRAY:
        assert t.item is not None
        t = t.item
    return t


def _array_of(item: ColumnType, item_convert: Convert | None) -> Convert | None:
    """Items converted at any depth (a list is a nested array, whatever the schema says);
    decimals become ``Decimal``, every other item stays canonical (None: nothing to do)."""
    conv: Convert
    if item.kind == DECIMAL:
        unscaled = item_convert or int
        conv = lambda x: decimal_value(item, unscaled(x))  # noqa: E731
    elif item_convert is not None:
        conv = item_convert
    else:
        return None

    def items(v: Any) -> Any:
        return [None if x is None else items(x) if type(x) is list else conv(x) for x in v]

    # (batch._same tells conversions apart by name: an array of millis and one of nanos
    # must not pass for one, as every `items` would)
    items.__qualname__ = f"{items.__qualname__}[{getattr(conv, '__qualname__', '?')}]"
    return items
