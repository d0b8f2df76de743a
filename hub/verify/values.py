"""One comparable form for a value, whichever database it was read from.

A source gives the sink engine's canonical values (``connectors/sink/engine/types.py``: a
date as days since 1970, a decimal as its unscaled integer, a zoned timestamp as ISO text...);
a sink gives what its driver returns (``datetime.date``, ``Decimal``, an aware ``datetime``,
a dict for jsonb). ``comparable(kind, value)`` turns both into the same tagged form: temporal
values as integers of days or microseconds, decimals as their value's text (every digit, no
trailing zeros), JSON as compact text with sorted keys and exact numbers, UUIDs as lower-case
text, bytes as bytes, lists element-wise.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import struct
import uuid
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any

_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_TZ = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DATE = dt.date(1970, 1, 1)
_US = dt.timedelta(microseconds=1)


def _micros_of_day(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # normalize() rounds to the
# context's precision: 28 digits by default, which made 38-digit numerics that differ equal


def _number(d: Decimal) -> str:
    """A finite decimal's value as plain text without trailing zeros: 1.50, 1.5 -> 1.5."""
    n = d.normalize(_EXACT)
    return format(n, "f") if -64 <= n.as_tuple().exponent <= 64 else str(n)  # type: ignore[operator]


def _decimal(v: Any) -> Any:
    """A decimal's value, every digit (a variable-scale decimal's events carry it without
    trailing zeros, as Debezium's: 1.50 is 1.5)."""
    try:
        d = v if isinstance(v, Decimal) else Decimal(str(v))
    except InvalidOperation:
        return ("n", str(v))
    return ("n", _number(d) if d.is_finite() else str(d))


def _json_text(x: Any) -> str:
    """Canonical JSON text: keys sorted, numbers by exact value (0.10000000000000001 is not
    0.1; 1.0 is 1, as jsonb compares them)."""
    if isinstance(x, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)}:{_json_text(x[k])}" for k in sorted(x))
        return "{" + ",".join(items) + "}"
    if isinstance(x, list | tuple):
        return "[" + ",".join(_json_text(y) for y in x) + "]"
    if isinstance(x, Decimal) or (isinstance(x, int) and not isinstance(x, bool)):
        return _number(Decimal(x))
    if isinstance(x, float):  # (a driver's parsed document: as exact as it got)
        return _number(Decimal(repr(x))) if math.isfinite(x) else json.dumps(x)
    return json.dumps(x, ensure_ascii=False)


def _json(v: Any) -> Any:
    if isinstance(v, bytes | str):
        try:
            v = json.loads(v, parse_float=Decimal)
        except ValueError:
            return ("json?", v)
    return ("json", _json_text(v))


def _zoned(v: Any) -> Any:
    """A zoned timestamp (ISO text or aware datetime) as epoch microseconds."""
    if isinstance(v, str):
        try:
            v = dt.datetime.fromisoformat(v)
        except ValueError:
            return ("tstz?", v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)
        return ("tstz", (v - _EPOCH_TZ) // _US)
    return native(v)


_DAY_US = 86_400_000_000
_TIMETZ = re.compile(
    r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?"
)


def _zoned_time(v: Any) -> Any:
    """A time with a zone (text: Debezium's ``24:00:00Z``, PostgreSQL's and DuckDB's
    ``24:00:00+00``, ``12:00:00.5+05:30``; or an aware time) as microseconds of the UTC day.
    24:00 stays apart from 00:00 where no offset moves it (PostgreSQL keeps both)."""
    if isinstance(v, str):
        m = _TIMETZ.fullmatch(v.strip())
        if m is None:
            return ("ttz?", v)
        h, mi, sec, frac, _, sign, oh, om, os_ = m.groups()
        us = ((int(h) * 60 + int(mi)) * 60 + int(sec)) * 1_000_000 + int((frac or "").ljust(6, "0"))
        offset = (int(oh or 0) * 3600 + int(om or 0) * 60 + int(os_ or 0)) * 1_000_000
        us -= -offset if sign == "-" else offset
    elif isinstance(v, dt.time):
        us = _micros_of_day(v) - (v.utcoffset() or dt.timedelta(0)) // _US
    else:
        return native(v)
    return ("ttz", us if 0 <= us <= _DAY_US else us % _DAY_US)


def native(v: Any) -> Any:
    """The comparable form of a driver's value, by its Python type."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return ("f", repr(v))
    if isinstance(v, Decimal):
        return _decimal(v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            return _zoned(v)
        return ("ts", (v - _EPOCH) // _US)
    if isinstance(v, dt.date):
        return ("d", (v - _EPOCH_DATE).days)
    if isinstance(v, dt.time):
        return _zoned_time(v) if v.tzinfo is not None else ("t", _micros_of_day(v))
    if isinstance(v, dt.timedelta):
        return ("iv", v // _US)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if isinstance(v, list | tuple):
        return tuple(native(x) for x in v)
    if isinstance(v, dict):
        return _json(v)
    return ("?", repr(v))


TEXT_KINDS = frozenset({"date", "timestamp", "time", "timestamptz"})
"""Kinds both sides give as PostgreSQL-style text (infinity, BC and far years included)."""

_BC = re.compile(r"^(\S+) \(BC\)(.*)$")  # DuckDB: 0044-03-15 (BC) 12:00:00
_ZEROS = re.compile(r"(\.\d*?)0+(?=\D|$)")


def _temporal_text(s: str) -> str:
    """PostgreSQL's and DuckDB's text of a date/time value in one form: ``BC`` last, no
    trailing zeros in the fraction of a second."""
    m = _BC.match(s)
    if m is not None:
        s = f"{m[1]}{m[2]} BC"
    if len(s) > 10 and s[10] == "T" and s[4] == "-":  # (ISO's separator: BigQuery's text)
        s = f"{s[:10]} {s[11:]}"
    if s.endswith("Z"):  # (ISO's UTC: Redshift's SUPER)
        s = s[:-1] + "+00"
    return _ZEROS.sub(r"\1", s).replace(". ", " ").removesuffix(".").replace(".+", "+")


def _item(kind: str, x: Any) -> Any:
    """An array item: canonical from the source (days, microseconds), native from a sink."""
    if x is None:
        return None
    if isinstance(x, list):
        return tuple(_item(kind, y) for y in x)
    if kind in TEXT_KINDS and isinstance(x, str):  # (read as text on both sides)
        return ("tx", _temporal_text(x))
    if isinstance(x, int) and not isinstance(x, bool):
        tag = {"date": "d", "timestamp": "ts", "time": "t", "interval": "iv"}.get(kind)
        if tag is not None:
            return (tag, x)
    if kind == "timestamptz":
        return _zoned(x)
    if kind == "timetz":  # (as a column of it: a timetz[] had been called different)
        return _zoned_time(x)
    if kind == "bytes" and isinstance(x, str):  # (hex in a JSON array: Redshift's SUPER)
        try:
            return bytes.fromhex(x)
        except ValueError:
            return ("bytes?", x)
    if kind in ("json", "uuid", "decimal", "vdecimal", "float32", "float64"):
        return comparable(kind, x)
    return native(x)


_SPECIAL = TEXT_KINDS | {
    "array", "bytes", "decimal", "vdecimal", "timetz", "json", "uuid", "bits", "float32",
    "float64", "interval",
}  # fmt: skip
EXACT = (int, str, bool)  # (types, not instances: a subclass goes the long way)


def plain(kind: str) -> bool:
    """Whether `comparable` gives a value of ``kind`` back as it is when it is None or of a
    type in `EXACT` (the common columns: integers, text, booleans), so that a caller can
    skip the call for them (hub verify reads every value of both sides)."""
    return kind not in _SPECIAL


def comparable(kind: str, v: Any, item: str | None = None) -> Any:
    """``v`` of a column of engine kind ``kind`` (``date``, ``decimal``...; for an array,
    ``item`` is its innermost item's kind), from either side: the source's canonical value,
    mapped to text for `TEXT_KINDS`, or the sink driver's."""
    if v is None:
        return None
    if kind in TEXT_KINDS and isinstance(v, str):
        return ("tx", _temporal_text(v))
    if kind == "array" and isinstance(v, str):  # (Snowflake's ARRAY, Redshift's SUPER: JSON)
        try:
            v = json.loads(v, parse_float=float if item in ("float32", "float64") else Decimal)
        except ValueError:
            return ("array?", v)
    if kind == "array" and isinstance(v, list | tuple):
        return tuple(_item(item or "", x) for x in v)
    if kind == "bytes" and isinstance(v, str) and v.startswith("\\x"):  # (Redshift's VARBYTE)
        try:
            return bytes.fromhex(v[2:])
        except ValueError:
            return ("bytes?", v)
    if kind in ("decimal", "vdecimal"):
        return _decimal(v)
    if kind == "timetz":
        return _zoned_time(v)
    if kind == "json":
        return _json(v)
    if kind == "uuid":
        return str(v).lower()
    if kind == "bits":
        return str(v)
    if kind == "float32" and isinstance(v, int | float | str):  # as a 4-byte float holds it
        return ("f", repr(struct.unpack("<f", struct.pack("<f", float(v)))[0]))
    if kind == "float64" and isinstance(v, int | float | str):
        return ("f", repr(float(v)))
    if kind == "interval" and isinstance(v, int):
        return ("iv", v)
    return native(v)
