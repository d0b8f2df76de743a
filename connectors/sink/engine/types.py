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
bytes          bytes, io.debezium.data.Bits, geometry (WKB)     bytes
date           io.debezium.time.Date, connect Date              int (days since epoch)
time           Time / MicroTime / NanoTime, connect Time        int (microseconds of day)
timestamp      Timestamp / MicroTimestamp / NanoTimestamp       int (epoch microseconds)
timestamptz    io.debezium.time.ZonedTimestamp                  str (ISO 8601 with offset)
timetz         io.debezium.time.ZonedTime                       str
interval       io.debezium.time.MicroDuration                   int (microseconds)
array          array                                            list of native values
============== ================================================ ==========================

Array elements are turned into native Python values (``datetime.date`` ...), see
`native`, since dialects bind them as whole lists.
"""

from __future__ import annotations

import datetime as dt
from binascii import a2b_base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import MAX_PREC, Context, Decimal
from typing import Any

import orjson

Convert = Callable[[Any], Any]

BOOLEAN, INT16, INT32, INT64 = "boolean", "int16", "int32", "int64"
FLOAT32, FLOAT64, DECIMAL, VDECIMAL = "float32", "float64", "decimal", "vdecimal"
STRING, JSON, UUID, BYTES = "string", "json", "uuid", "bytes"
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, TIMETZ = "date", "time", "timestamp", "timestamptz", "timetz"
INTERVAL, ARRAY = "interval", "array"


@dataclass(frozen=True, slots=True)
class ColumnType:
    kind: str
    precision: int | None = None  # decimal
    scale: int | None = None  # decimal
    item: ColumnType | None = None  # array

    def __str__(self) -> str:
        if self.kind == DECIMAL:
            return f"decimal({self.precision if self.precision is not None else '*'},{self.scale})"
        if self.kind == ARRAY:
            return f"array<{self.item}>"
        return self.kind


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType
    convert: Convert | None = None  # JSON value -> canonical value; None: as it is


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
        return _unscaled(v)  # bytes

    return convert


def decimal_value(t: ColumnType, unscaled: int) -> Decimal:
    """The Decimal of a canonical (unscaled) DECIMAL value."""
    return Decimal(unscaled).scaleb(-(t.scale or 0), _EXACT)


def _vdecimal(v: Any) -> Any:
    return Decimal(_unscaled(v["value"])).scaleb(-int(v["scale"]), _EXACT)


def _times(factor: int) -> Convert:
    return lambda v: v * factor


def _float(v: Any) -> Any:
    """JSON has no NaN or infinity: Kafka's JsonConverter writes them as strings."""
    return float(v) if isinstance(v, str) else v


def _json_text(v: Any) -> Any:
    return v if isinstance(v, str) else orjson.dumps(v).decode()


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
    "io.debezium.time.Time": (ColumnType(TIME), _times(1000)),
    "org.apache.kafka.connect.data.Time": (ColumnType(TIME), _times(1000)),
    "io.debezium.time.MicroTime": (ColumnType(TIME), None),
    "io.debezium.time.NanoTime": (ColumnType(TIME), lambda v: v // 1000),
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
    if isinstance(name, str) and name.startswith("io.debezium.data.geometry."):
        return ColumnType(BYTES), _geometry
    if name in _NAMED:
        return _NAMED[name]
    if kind == "array":
        item, item_convert = column_type(schema.get("items") or {"type": "string"})
        return ColumnType(ARRAY, item=item), _array_of(item, item_convert)
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
        out.append(Column(f["field"], t, conv))
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


# -- native values (array elements) -----------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)


def native(t: ColumnType, v: Any) -> Any:
    """A canonical value as the Python object drivers bind for the kind."""
    if v is None:
        return None
    k = t.kind
    if k == DATE:
        return _EPOCH_DATE + dt.timedelta(days=v)
    if k == TIMESTAMP:
        return _EPOCH + dt.timedelta(microseconds=v)
    if k == TIME:
        return (_EPOCH + dt.timedelta(microseconds=v)).time()
    if k == INTERVAL:
        return dt.timedelta(microseconds=v)
    if k == TIMESTAMPTZ:
        return dt.datetime.fromisoformat(v)
    if k == DECIMAL:
        return decimal_value(t, v)
    if k == ARRAY:
        assert t.item is not None
        return [native(t.item, x) for x in v]
    return v


def _array_of(item: ColumnType, item_convert: Convert | None) -> Convert:
    def convert(v: Any) -> Any:
        if item_convert is None:
            return [native(item, x) for x in v]
        if item.kind == ARRAY:  # the inner conversion gives native values already
            return [None if x is None else item_convert(x) for x in v]
        return [None if x is None else native(item, item_convert(x)) for x in v]

    return convert
