"""Debezium's PostgreSQL type mapping for values in PostgreSQL *text* output.

pgoutput (and ``COPY ... TO STDOUT`` / text-mode queries) deliver every column value as the
type's text output function renders it, along with the column's type OID and typmod. A
`TypeMapper`, configured with Debezium's handling modes, turns that into what Debezium's
``PostgresValueConverter`` emits: `converter` builds, once per column, a function from the
raw text bytes (or ``None`` for SQL NULL) to the Kafka Connect value, and `schema` gives the
Connect schema fragment (the JSON form of ``JsonConverter`` with ``schemas.enable``).

Values are Connect values, not JSON: ``bytes`` fields (bytea in ``bytes`` mode, Connect
``Decimal``, ``io.debezium.data.Bits``) are Python ``bytes``, which the JSON converter writes
as base64; a ``VariableScaleDecimal`` is the dict ``{"scale": int, "value": bytes}``.

Text forms assumed are PostgreSQL's defaults: ``DateStyle=ISO``, ``IntervalStyle=postgres``,
``bytea_output=hex`` (the escape format is read too), ``extra_float_digits`` as the server
chooses. Dates and timestamps are computed with integer arithmetic over the proleptic
Gregorian calendar PostgreSQL uses, so BC years and years past 9999 need no ``datetime``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.calendar import civil_from_days, days_from_civil
from connectors.source.cdc.modes import BinaryMode, DecimalMode, TimePrecision
from hub.errors import ConfigError
from hub.runtime import unscaled_bytes
from hub.runtime.api import SOURCE_COLUMN_TYPE

__all__ = [
    "DATE_NEGATIVE_INFINITY_DAYS",
    "DATE_POSITIVE_INFINITY_DAYS",
    "TIMESTAMP_NEGATIVE_INFINITY",
    "TIMESTAMP_POSITIVE_INFINITY",
    "ColumnValueError",
    "Converter",
    "IntervalRangeError",
    "Oid",
    "SpecialDecimalError",
    "TimestampMarkerError",
    "TypeMapper",
    "named_errors",
    "parse_array",
]

Converter = Callable[[bytes | None], Any]


class Oid:
    """Built-in type OIDs (``pg_type.oid``; stable across PostgreSQL versions)."""

    BOOL = 16
    BYTEA = 17
    CHAR = 18
    NAME = 19
    INT8 = 20
    INT2 = 21
    INT4 = 23
    TEXT = 25
    OID = 26
    JSON = 114
    XML = 142
    CIDR = 650
    MACADDR8 = 774
    FLOAT4 = 700
    FLOAT8 = 701
    MONEY = 790
    MACADDR = 829
    INET = 869
    POINT = 600
    BPCHAR = 1042
    VARCHAR = 1043
    DATE = 1082
    TIME = 1083
    TIMESTAMP = 1114
    TIMESTAMPTZ = 1184
    INTERVAL = 1186
    TIMETZ = 1266
    BIT = 1560
    VARBIT = 1562
    NUMERIC = 1700
    UUID = 2950
    JSONB = 3802


# Array type OID -> element type OID, for the built-in types above.
ARRAY_ELEMENTS: dict[int, int] = {
    1000: Oid.BOOL,
    1001: Oid.BYTEA,
    1002: Oid.CHAR,
    1003: Oid.NAME,
    1005: Oid.INT2,
    1007: Oid.INT4,
    1009: Oid.TEXT,
    1014: Oid.BPCHAR,
    1015: Oid.VARCHAR,
    1016: Oid.INT8,
    1021: Oid.FLOAT4,
    1022: Oid.FLOAT8,
    1028: Oid.OID,
    199: Oid.JSON,
    143: Oid.XML,
    651: Oid.CIDR,
    775: Oid.MACADDR8,
    791: Oid.MONEY,
    1040: Oid.MACADDR,
    1041: Oid.INET,
    1115: Oid.TIMESTAMP,
    1182: Oid.DATE,
    1183: Oid.TIME,
    1185: Oid.TIMESTAMPTZ,
    1187: Oid.INTERVAL,
    1231: Oid.NUMERIC,
    1270: Oid.TIMETZ,
    1561: Oid.BIT,
    1563: Oid.VARBIT,
    2951: Oid.UUID,
    3807: Oid.JSONB,
    # ranges are strings to Debezium, their arrays arrays of strings
    3905: 3904,  # int4range
    3907: 3906,  # numrange
    3909: 3908,  # tsrange
    3911: 3910,  # tstzrange
    3913: 3912,  # daterange
    3927: 3926,  # int8range
}

# PgStatement.DATE_POSITIVE_INFINITY / DATE_NEGATIVE_INFINITY: what Debezium emits for
# 'infinity' / '-infinity' timestamps (documented), read as microseconds since the epoch.
TIMESTAMP_POSITIVE_INFINITY = 9223372036825200000
TIMESTAMP_NEGATIVE_INFINITY = -9223372036832400000
# Debezium's POSITIVE/NEGATIVE_INFINITY_LOCAL_DATE as epoch days: what it emits for 'infinity' /
# '-infinity' dates (PostgresValueConverter, 2.x and 3.x). Both are LocalDate.parse of a date in
# year -5877611 ("-5877611-06-21" / "-5877611-06-22"), so +infinity is the *smaller* number.
DATE_POSITIVE_INFINITY_DAYS = -2147472692
DATE_NEGATIVE_INFINITY_DAYS = -2147472691

_MICROS_PER_DAY = 86_400_000_000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# io.debezium.time.MicroDuration.DAYS_PER_MONTH_AVG (365.25 / 12 = 30.4375 days) in exact
# microseconds: Debezium computes in double, which is up to a microsecond off
_MICROS_PER_MONTH = 2_629_800_000_000
_VARIABLE_SCALE_FIELDS = [
    {"type": "int32", "optional": False, "field": "scale"},
    {"type": "bytes", "optional": False, "field": "value"},
]

_POINT_FIELDS = [
    {"type": "double", "optional": False, "field": "x"},
    {"type": "double", "optional": False, "field": "y"},
    {"type": "bytes", "optional": True, "field": "wkb"},
    {"type": "int32", "optional": True, "field": "srid"},
]

DECIMAL_MODES = ("precise", "double", "string")
TIME_MODES = ("adaptive", "adaptive_time_microseconds", "connect")
BINARY_MODES = ("bytes", "base64", "base64-url-safe", "hex")
HSTORE_MODES = ("json", "map")
INTERVAL_MODES = ("numeric", "string")


# ---------------------------------------------------------------------------------------------
# Text parsing helpers


_DATE_RE = re.compile(r"(\d{4,})-(\d\d)-(\d\d)")
_TIME_RE = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?")
_OFFSET_RE = re.compile(r"([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?")


def _parse_date(s: str) -> int:
    bc = s.endswith(" BC")
    if bc:
        s = s[:-3]
    m = _DATE_RE.fullmatch(s)
    if m is None:
        raise ValueError(f"not an ISO date: {s!r}")
    year = int(m[1])
    return days_from_civil(1 - year if bc else year, int(m[2]), int(m[3]))


def _time_micros(m: re.Match[str]) -> int:
    frac = m[4] or ""
    micros = int(frac.ljust(6, "0")) if frac else 0
    return ((int(m[1]) * 60 + int(m[2])) * 60 + int(m[3])) * 1_000_000 + micros


def _parse_time(s: str) -> int:
    m = _TIME_RE.fullmatch(s)
    if m is None:
        raise ValueError(f"not a time: {s!r}")
    return _time_micros(m)


def _offset_seconds(m: re.Match[str]) -> int:
    secs = int(m[2]) * 3600 + int(m[3] or 0) * 60 + int(m[4] or 0)
    return -secs if m[1] == "-" else secs


def _parse_timetz(s: str) -> int:
    """Micros past midnight UTC (wrapped into the day) of a timetz value."""
    m = _TIME_RE.match(s)
    if m is None:
        raise ValueError(f"not a timetz: {s!r}")
    o = _OFFSET_RE.fullmatch(s, m.end())
    if o is None:
        raise ValueError(f"not a timetz: {s!r}")
    return (_time_micros(m) - _offset_seconds(o) * 1_000_000) % _MICROS_PER_DAY


def _timetz_value(s: str) -> str:
    """ZonedTime (UTC) of a timetz; ``24:00:00+00`` stays the end of the day, as Debezium's
    PostgresTimeBoundary writes it, not the next day's start."""
    if s.startswith("24:00:00"):
        o = _OFFSET_RE.fullmatch(s, 8)
        if o is not None and _offset_seconds(o) == 0:
            return "24:00:00Z"
    return _hms(_parse_timetz(s), None) + "Z"


def _parse_timestamp(s: str) -> tuple[int, int | None]:
    """(micros since the epoch of the written wall clock, UTC offset seconds or None)."""
    bc = s.endswith(" BC")
    if bc:
        s = s[:-3]
    d = _DATE_RE.match(s)
    if d is None or len(s) <= d.end() or s[d.end()] not in " T":
        raise ValueError(f"not an ISO timestamp: {s!r}")
    t = _TIME_RE.match(s, d.end() + 1)
    if t is None:
        raise ValueError(f"not an ISO timestamp: {s!r}")
    offset = None
    if t.end() < len(s):
        o = _OFFSET_RE.fullmatch(s, t.end())
        if o is None:
            raise ValueError(f"not an ISO timestamp: {s!r}")
        offset = _offset_seconds(o)
    year = int(d[1])
    days = days_from_civil(1 - year if bc else year, int(d[2]), int(d[3]))
    return days * _MICROS_PER_DAY + _time_micros(t), offset


def _iso_year(year: int) -> str:
    """java.time's ISO year: 4 digits padded, '+' past 9999, '-' before year 0."""
    if year > 9999:
        return f"+{year}"
    if year < 0:
        return f"-{-year:04d}"
    return f"{year:04d}"


def _fraction(micros: int, width: int | None) -> str:
    """Fraction of a second as java.time prints it: exactly ``width`` digits when given
    (1..9), else only the significant digits (ISO_LOCAL_TIME's fraction), none if 0."""
    if width is not None and 0 < width <= 9:
        return "." + f"{micros:06d}000"[:width]
    if micros == 0:
        return ""
    return "." + f"{micros:06d}".rstrip("0")


def _hms(micros_of_day: int, width: int | None) -> str:
    secs, micros = divmod(micros_of_day, 1_000_000)
    h, rem = divmod(secs, 3600)
    mi, s = divmod(rem, 60)
    return f"{h:02d}:{mi:02d}:{s:02d}{_fraction(micros, width)}"


def _zoned_timestamp(epoch_micros: int, width: int | None) -> str:
    days, micros = divmod(epoch_micros, _MICROS_PER_DAY)
    y, mo, d = civil_from_days(days)
    return f"{_iso_year(y)}-{mo:02d}-{d:02d}T{_hms(micros, width)}Z"


_twos_complement = unscaled_bytes  # java.math.BigInteger.toByteArray()


def _bits_bytes(s: str) -> bytes:
    """Debezium's Bits value: the bit string as a little-endian number, minimal length."""
    n = int(s, 2) if s else 0  # B'' (an empty varbit) is no bytes
    return n.to_bytes((n.bit_length() + 7) // 8, "little")


_BYTEA_ESCAPE_RE = re.compile(rb"\\(\\|[0-7]{3})")


def _parse_bytea(raw: bytes) -> bytes:
    if raw.startswith(b"\\x"):
        return bytes.fromhex(raw[2:].decode("ascii"))
    # bytea_output = escape
    return _BYTEA_ESCAPE_RE.sub(lambda m: b"\\" if m[1] == b"\\" else bytes([int(m[1], 8)]), raw)


def _point(s: str) -> dict[str, Any]:
    """io.debezium.data.geometry.Point of a point's text ``(x,y)``: the coordinates and their
    little-endian 2D WKB, no SRID; NaN and infinities as the float columns' strings (JSON has
    no number for them: orjson would write null in the required fields)."""
    x_text, y_text = s.strip().strip("()").split(",")
    x, y = float(x_text), float(y_text)
    wkb = struct.pack("<BIdd", 1, 1, x, y)
    return {"x": _json_float(x), "y": _json_float(y), "wkb": wkb, "srid": None}


def _parse_money(s: str) -> Decimal:
    neg = s.startswith("-") or (s.startswith("(") and s.endswith(")"))
    digits = "".join(c for c in s if c.isdigit() or c == ".")
    value = Decimal(digits)
    return -value if neg else value


_INTERVAL_UNIT_RE = re.compile(r"([+-]?\d+) (year|mon|day)s?")
_INTERVAL_TIME_RE = re.compile(r"([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?")


def _parse_interval(s: str) -> tuple[int, int, int, int, int, int]:
    """IntervalStyle=postgres text -> (years, months, days, hours, minutes, micros of second);
    the sign of the clock part applies to its hours, minutes and seconds, as in PGInterval."""
    years = months = days = hours = minutes = micros = 0
    pos = 0
    s = s.strip()
    while pos < len(s):
        if s[pos] == " ":
            pos += 1
            continue
        m = _INTERVAL_UNIT_RE.match(s, pos)
        if m is not None:
            n = int(m[1])
            if m[2] == "year":
                years = n
            elif m[2] == "mon":
                months = n
            else:
                days = n
            pos = m.end()
            continue
        t = _INTERVAL_TIME_RE.match(s, pos)
        if t is None or t.end() != len(s):
            raise ValueError(f"unsupported interval text (IntervalStyle must be postgres): {s!r}")
        sign = -1 if t[1] == "-" else 1
        hours = sign * int(t[2])
        minutes = sign * int(t[3])
        frac = t[5] or ""
        micros = sign * (int(t[4]) * 1_000_000 + (int(frac.ljust(6, "0")) if frac else 0))
        pos = t.end()
    return years, months, days, hours, minutes, micros


def _interval_micros(s: str) -> int:
    """io.debezium.time.MicroDuration.durationMicros with the 365.25/12 days a month, in exact
    integers. An interval past int64 microseconds (about 292 000 years; PostgreSQL reaches 178
    million) is `IntervalRangeError`: Debezium's (long) cast clamps it to a different value."""
    y, mo, d, h, mi, us = _parse_interval(s)
    micros = (
        (y * 12 + mo) * _MICROS_PER_MONTH + d * _MICROS_PER_DAY + (h * 60 + mi) * 60_000_000 + us
    )
    if not _INT64_MIN <= micros <= _INT64_MAX:
        raise IntervalRangeError(s)
    return micros


def _interval_iso(s: str) -> str:
    """io.debezium.time.Interval.toIsoString: 'PnYnMnDTnHnMnS'."""
    y, mo, d, h, mi, us = _parse_interval(s)
    secs = (Decimal(us) / Decimal(1_000_000)).normalize()
    return f"P{y}Y{mo}M{d}DT{h}H{mi}M{secs:f}S"


_HSTORE_TOKEN_RE = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|(NULL))\s*(=>|,|$)', re.S)
_UNESCAPE_RE = re.compile(r"\\(.)", re.S)


def _parse_hstore(s: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    pos = 0
    key: str | None = None
    while pos < len(s):
        m = _HSTORE_TOKEN_RE.match(s, pos)
        if m is None:
            raise ValueError(f"bad hstore text: {s!r}")
        text = None if m[2] else _UNESCAPE_RE.sub(r"\1", m[1])
        if m[3] == "=>":
            key = text
        else:
            if key is None:
                raise ValueError(f"bad hstore text: {s!r}")
            out[key] = text
            key = None
        pos = m.end()
        if m[3] == "":
            break
    return out


def _java_string_hash(s: str) -> int:
    """java.lang.String.hashCode (31-polynomial over UTF-16 code units, 32-bit wrap), unsigned."""
    data = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h


def _hashmap_order(keys: Sequence[str]) -> list[str]:
    """The iteration order of a java.util.HashMap filled with ``keys`` in this order: by bucket
    (``(h ^ h >>> 16) & (capacity - 1)``, capacity 16 doubled past a 0.75 load), then by
    insertion within a bucket (a resize splits buckets keeping that order)."""
    capacity = 16
    while len(keys) > capacity * 3 // 4:
        capacity *= 2

    def bucket(key: str) -> int:
        h = _java_string_hash(key)
        return (h ^ (h >> 16)) & (capacity - 1)

    return sorted(keys, key=bucket)  # stable: insertion order within a bucket


_JACKSON_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r",
}  # fmt: skip
_JACKSON_ESCAPE_RE = re.compile(r'["\\\x00-\x1f]')


def _jackson_string(s: str) -> str:
    """A JSON string as Jackson writes it: only quote, backslash and control characters
    escaped (the short forms JSON has, else ``\\u00XX`` in upper case hex); no ASCII-only."""
    body = _JACKSON_ESCAPE_RE.sub(lambda m: _JACKSON_ESCAPES.get(m[0]) or f"\\u{ord(m[0]):04X}", s)
    return f'"{body}"'


def _hstore_json(pairs: Mapping[str, str | None]) -> str:
    """Debezium's ``hstore.handling.mode=json``: HStoreConverter's HashMap written by Jackson,
    so the keys come in HashMap order and non-ASCII text is written as is."""
    items = []
    for key in _hashmap_order(list(pairs)):
        value = pairs[key]
        items.append(
            f"{_jackson_string(key)}:{'null' if value is None else _jackson_string(value)}"
        )
    return "{" + ",".join(items) + "}"


# decimal.handling.mode=string: SpecialValueDecimal's names for numeric's special values
_SPECIAL_DECIMAL_NAMES = {
    "NaN": "NAN", "Infinity": "POSITIVE_INFINITY", "-Infinity": "NEGATIVE_INFINITY",
}  # fmt: skip


# what array_in skips around an unquoted element (scanner_isspace): ASCII whitespace only;
# array_out quotes an element for these alone, so U+00A0 or U+3000 at an element's edge come
# unquoted and are the element's own (str.strip() had removed them, and made "\u00a0NULL"
# a NULL)
_ARRAY_SPACE = " \t\n\r\v\f"


def parse_array(text: str, delimiter: str = ",") -> list[Any]:
    """A PostgreSQL array literal as nested lists of element texts (``str``) or ``None``."""
    pos = 0
    if text.startswith("["):  # explicit bounds: '[0:1]={...}'
        pos = text.index("=") + 1
    n = len(text)

    def fail() -> ValueError:
        return ValueError(f"malformed array literal: {text!r}")

    def parse_level(i: int) -> tuple[list[Any], int]:
        if text[i] != "{":
            raise fail()
        i += 1
        items: list[Any] = []
        while i < n:
            c = text[i]
            if c == "}" and not items:
                return items, i + 1
            if c == "{":
                sub, i = parse_level(i)
                items.append(sub)
            elif c == '"':
                buf = []
                i += 1
                while True:
                    if i >= n:
                        raise fail()
                    c = text[i]
                    if c == "\\":
                        buf.append(text[i + 1])
                        i += 2
                    elif c == '"':
                        i += 1
                        break
                    else:
                        buf.append(c)
                        i += 1
                items.append("".join(buf))
            else:
                start = i
                while i < n and text[i] not in (delimiter, "}"):
                    i += 1
                item = text[start:i].strip(_ARRAY_SPACE)
                items.append(None if item.upper() == "NULL" else item)
            while i < n and text[i] == " ":
                i += 1
            if i >= n:
                raise fail()
            if text[i] == delimiter:
                i += 1
            elif text[i] == "}":
                return items, i + 1
            else:
                raise fail()
        raise fail()

    result, end = parse_level(pos)
    if text[end:].strip(_ARRAY_SPACE):
        raise fail()
    return result


# ---------------------------------------------------------------------------------------------


def _schema(type_: str, optional: bool, name: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_, "optional": optional}
    if name is not None:
        out["name"] = name
        out["version"] = 1
    out.update(extra)
    return out


def _numeric_typmod(typmod: int) -> tuple[int, int] | None:
    """(precision, scale) of a numeric typmod, or None for unconstrained numeric."""
    if typmod < 4:
        return None
    t = typmod - 4
    scale = ((t & 0x7FF) ^ 1024) - 1024  # PostgreSQL 15 allows negative scales
    return (t >> 16) & 0xFFFF, scale


def _decoded(fn: Callable[[str], Any]) -> Converter:
    def convert(raw: bytes | None) -> Any:
        return None if raw is None else fn(raw.decode())

    return convert


def _int(raw: bytes | None) -> int | None:
    return None if raw is None else int(raw)


def _bool(raw: bytes | None) -> bool | None:
    return None if raw is None else raw in (b"t", b"true")


def _json_float(v: float) -> float | str:
    """A float as Kafka's JsonConverter writes it: NaN and infinities become the strings
    "NaN", "Infinity", "-Infinity" (Jackson quotes non-numeric numbers); JSON has no
    number for them, and null would read as SQL NULL."""
    if v - v == 0:
        return v
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


def _float(raw: bytes | None) -> float | str | None:
    return None if raw is None else _json_float(float(raw))


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()


# converters that read the value from the text bytes directly (the same result as
# _decoded(_text_function(...)), one call fewer): int() takes ASCII bytes
_DIRECT: dict[int, Converter] = {
    Oid.INT2: _int, Oid.INT4: _int, Oid.INT8: _int, Oid.OID: _int, Oid.BOOL: _bool,
    Oid.FLOAT4: _float, Oid.FLOAT8: _float,
}  # fmt: skip


class TypeMapper:
    """Debezium's value and schema mapping for PostgreSQL text-format column values.

    Modes take Debezium's config values. ``enums`` maps enum type OIDs to their labels (for
    the ``io.debezium.data.Enum`` schema; unknown OIDs map to plain strings either way),
    ``arrays`` adds array type OIDs (e.g. of enums) to their element OIDs, ``hstore_oid`` is
    the OID of the hstore extension type in the database (if installed).
    """

    def __init__(
        self,
        *,
        decimal_handling_mode: str = "precise",
        time_precision_mode: str = "adaptive",
        binary_handling_mode: str = "bytes",
        hstore_handling_mode: str = "json",
        interval_handling_mode: str = "numeric",
        money_fraction_digits: int = 2,
        money_shift: int = 0,
        enums: Mapping[int, Sequence[str]] | None = None,
        arrays: Mapping[int, int] | None = None,
        hstore_oid: int | None = None,
    ) -> None:
        for key, value, allowed in (
            ("decimal.handling.mode", decimal_handling_mode, DECIMAL_MODES),
            ("time.precision.mode", time_precision_mode, TIME_MODES),
            ("binary.handling.mode", binary_handling_mode, BINARY_MODES),
            ("hstore.handling.mode", hstore_handling_mode, HSTORE_MODES),
            ("interval.handling.mode", interval_handling_mode, INTERVAL_MODES),
        ):
            if value not in allowed:
                raise ConfigError(f"{key}={value!r}; use one of {', '.join(allowed)}")
        self.decimal_mode = decimal_handling_mode
        self.time_mode = time_precision_mode
        self.binary_mode = binary_handling_mode
        self.decimals = DecimalMode(decimal_handling_mode)
        self.times = TimePrecision(time_precision_mode)
        self.binary = BinaryMode(binary_handling_mode)
        self.hstore_mode = hstore_handling_mode
        self.interval_mode = interval_handling_mode
        self.money_fraction_digits = money_fraction_digits
        # money's text (the C locale's two digits) -> its value: times 10**money_shift
        # (`catalog._money_shift`: the database's lc_monetary may have 0 or 3 digits)
        self.money_shift = money_shift
        self.enums = dict(enums or {})
        self.arrays = {**ARRAY_ELEMENTS, **(arrays or {})}
        self.hstore_oid = hstore_oid

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> TypeMapper:
        """From connector config keys (``decimal.handling.mode`` ...); absent keys default."""
        keys = {
            "decimal.handling.mode": "decimal_handling_mode",
            "time.precision.mode": "time_precision_mode",
            "binary.handling.mode": "binary_handling_mode",
            "hstore.handling.mode": "hstore_handling_mode",
            "interval.handling.mode": "interval_handling_mode",
            "money.fraction.digits": "money_fraction_digits",
        }
        for key, arg in keys.items():
            if key in config:
                value = config[key]
                kwargs[arg] = int(value) if arg == "money_fraction_digits" else str(value)
        return cls(**kwargs)

    def element(self, type_oid: int) -> int:
        """The innermost element type of an array type (the type itself if no array)."""
        while type_oid in self.arrays:
            type_oid = self.arrays[type_oid]
        return type_oid

    def may_refuse(self, type_oid: int) -> bool:
        """Whether the converter of this type (or of its arrays' items) may raise a
        `ColumnValueError`: numeric NaN/Infinity in precise mode, a timestamp equal to an
        infinity marker, an interval past int64 microseconds in numeric mode."""
        o = self.element(type_oid)
        return (
            (o == Oid.NUMERIC and self.decimal_mode == "precise")
            or o == Oid.TIMESTAMP
            or (o == Oid.INTERVAL and self.interval_mode == "numeric")
        )

    # -- temporal precision ------------------------------------------------------------------

    def _time_kind(self, typmod: int) -> str:
        """'millis' (int32) or 'micros' (int64) for a time column."""
        return "micros" if self.times.time_micros(typmod) else "millis"

    def _timestamp_millis(self, typmod: int) -> bool:
        return self.times.timestamp_millis(typmod)

    # -- schemas -----------------------------------------------------------------------------

    def schema(self, type_oid: int, typmod: int = -1, optional: bool = True) -> dict[str, Any]:
        """The Kafka Connect schema (JsonConverter form) Debezium gives such a column."""
        o = type_oid
        if o in self.arrays:
            element = self.arrays[o]
            # SchemaBuilder.array(Enum.builder(...)): Debezium leaves enum elements required
            items = self.schema(element, typmod, element not in self.enums)
            return _schema("array", optional, items=items)
        if o == Oid.BOOL:
            return _schema("boolean", optional)
        if o == Oid.INT2:
            return _schema("int16", optional)
        if o == Oid.INT4:
            return _schema("int32", optional)
        if o in (Oid.INT8, Oid.OID):
            return _schema("int64", optional)
        if o == Oid.FLOAT4:
            return _schema("float", optional)
        if o == Oid.FLOAT8:
            return _schema("double", optional)
        if o == Oid.NUMERIC:
            return self._numeric_schema(typmod, optional)
        if o == Oid.MONEY:
            return self._decimal_schema(None, self.money_fraction_digits, optional)
        if o == Oid.BYTEA:
            return self.binary.schema(optional)
        if o == Oid.UUID:
            return _schema("string", optional, "io.debezium.data.Uuid")
        if o in (Oid.JSON, Oid.JSONB):
            return _schema("string", optional, "io.debezium.data.Json")
        if o == Oid.XML:
            return _schema("string", optional, "io.debezium.data.Xml")
        if o == Oid.DATE:
            return self.times.date_schema(optional)
        if o == Oid.TIME:
            return self.times.time_schema(typmod, optional)
        if o == Oid.TIMESTAMP:
            return self.times.timestamp_schema(typmod, optional)
        if o == Oid.TIMESTAMPTZ:
            return _schema("string", optional, "io.debezium.time.ZonedTimestamp")
        if o == Oid.TIMETZ:
            return _schema("string", optional, "io.debezium.time.ZonedTime")
        if o == Oid.INTERVAL:
            if self.interval_mode == "string":
                return _schema("string", optional, "io.debezium.time.Interval")
            return _schema("int64", optional, "io.debezium.time.MicroDuration")
        if o == Oid.POINT:
            return _schema(
                "struct", optional, "io.debezium.data.geometry.Point", doc="Geometry (POINT)",
                fields=[dict(f) for f in _POINT_FIELDS],
            )  # fmt: skip
        if o in (Oid.BIT, Oid.VARBIT):
            length = typmod if typmod > 0 else 2**31 - 1
            if length == 1:
                return _schema("boolean", optional)
            params = {"length": str(length)}
            if o == Oid.VARBIT and typmod > 0:
                # Debezium gives a varbit(n) bit(n)'s schema, though its values are of any
                # width up to n: a sink read B'1000' as bit(n) '0…01000'. Named as Debezium's
                # column.propagate.source.type names it, a sink keeps the bytes instead.
                params[SOURCE_COLUMN_TYPE] = "VARBIT"
            return _schema("bytes", optional, "io.debezium.data.Bits", parameters=params)
        if o in self.enums:
            return _schema(
                "string",
                optional,
                "io.debezium.data.Enum",
                parameters={"allowed": ",".join(self.enums[o])},
            )
        if self.hstore_oid is not None and o == self.hstore_oid:
            if self.hstore_mode == "json":
                return _schema("string", optional, "io.debezium.data.Json")
            return _schema(
                "map",
                optional,
                keys={"type": "string", "optional": False},
                values={"type": "string", "optional": True},
            )
        # text, varchar, bpchar, char, name, inet, cidr, macaddr(8), ranges, unknown: strings
        return _schema("string", optional)

    def _numeric_schema(self, typmod: int, optional: bool) -> dict[str, Any]:
        ps = _numeric_typmod(typmod)
        if ps is None:
            if self.decimal_mode == "precise":
                return _schema(
                    "struct",
                    optional,
                    "io.debezium.data.VariableScaleDecimal",
                    fields=[dict(f) for f in _VARIABLE_SCALE_FIELDS],
                    doc="Variable scaled decimal",
                )
            return self._decimal_schema(None, 0, optional)
        return self._decimal_schema(ps[0], ps[1], optional)

    def _decimal_schema(self, precision: int | None, scale: int, optional: bool) -> dict[str, Any]:
        return self.decimals.schema(precision, scale, optional)

    # -- converters --------------------------------------------------------------------------

    def converter(self, type_oid: int, typmod: int = -1) -> Converter:
        """A function from one column value's text bytes (None for NULL) to its Connect value."""
        o = type_oid
        if o in self.arrays:
            element = self.converter(self.arrays[o], typmod)

            def convert_items(items: list[Any]) -> list[Any]:
                return [
                    convert_items(x)
                    if isinstance(x, list)
                    else (None if x is None else element(x.encode()))
                    for x in items
                ]

            return _decoded(lambda s: convert_items(parse_array(s)))
        fast = _DIRECT.get(o)
        if fast is not None:  # the value straight from the bytes, no str in between
            return fast
        fn = self._text_function(o, typmod)
        if fn is None:
            return self._bytea_converter()
        if fn is str:
            return _text
        return _decoded(fn)

    def fast_kind(self, type_oid: int, typmod: int = -1) -> tuple[int, int]:
        """(kind, arg) for `rowcodec.RowCodec`: a form its C code encodes itself, for what
        `converter` gives; KIND_PY otherwise (the converter does it all)."""
        from connectors.source.postgres import rowcodec as rc

        o = type_oid
        if o in self.arrays:
            return rc.KIND_PY, 0
        if o in (Oid.INT2, Oid.INT4, Oid.INT8, Oid.OID):
            return rc.KIND_INT, 0
        if o == Oid.BOOL:
            return rc.KIND_BOOL, 0
        if o == Oid.NUMERIC and self.decimal_mode == "precise":
            ps = _numeric_typmod(typmod)
            if ps is not None and ps[1] >= 0:
                return rc.KIND_DECIMAL, ps[1]
            return rc.KIND_PY, 0
        if o == Oid.TIMESTAMPTZ:
            return rc.KIND_TIMESTAMPTZ, 6 if typmod < 0 else typmod if typmod <= 6 else -1
        if o == Oid.TIMESTAMP:
            return rc.KIND_TIMESTAMP, int(self._timestamp_millis(typmod))
        if o == Oid.DATE:
            return rc.KIND_DATE, 0
        if self.converter(o, typmod) is _text:
            return rc.KIND_STR, 0
        return rc.KIND_PY, 0

    def _bytea_converter(self) -> Converter:
        encode = self.binary.converter()

        def convert(raw: bytes | None) -> Any:
            return None if raw is None else encode(_parse_bytea(raw))

        return convert

    def _text_function(self, o: int, typmod: int) -> Callable[[str], Any] | None:
        """The str -> value function for a non-array type; None for bytea (needs bytes)."""
        if o == Oid.BYTEA:
            return None
        if o == Oid.BOOL:
            return lambda s: s in ("t", "true")  # boolout gives 't'; bool::text gives 'true'
        if o in (Oid.INT2, Oid.INT4, Oid.INT8, Oid.OID):
            return int
        if o in (Oid.FLOAT4, Oid.FLOAT8):
            return float
        if o == Oid.NUMERIC:
            return self._numeric_function(typmod)
        if o == Oid.MONEY:
            return self._money_function()
        if o == Oid.DATE:
            return _date_value
        if o == Oid.TIME:
            if self._time_kind(typmod) == "millis":
                return lambda s: _parse_time(s) // 1000
            return _parse_time
        if o == Oid.TIMETZ:
            return _timetz_value
        if o == Oid.TIMESTAMP:
            return _timestamp_function(self._timestamp_millis(typmod))
        if o == Oid.TIMESTAMPTZ:
            # ZonedTimestamp's fraction width is the column's scale: 6 without a typmod
            width = 6 if typmod < 0 else typmod if typmod <= 6 else None
            return lambda s: _timestamptz_value(s, width)
        if o == Oid.INTERVAL:
            return _interval_iso if self.interval_mode == "string" else _interval_micros
        if o == Oid.POINT:
            return _point
        if o in (Oid.BIT, Oid.VARBIT):
            if typmod == 1:  # (varbit(1) may hold B'': no bit set)
                return lambda s: s != "" and int(s, 2) != 0
            return _bits_bytes
        if self.hstore_oid is not None and o == self.hstore_oid:
            if self.hstore_mode == "json":
                return lambda s: _hstore_json(_parse_hstore(s))
            return _parse_hstore
        return str  # text-like, uuid, json(b), xml, inet, cidr, macaddr, enums, unknown

    def _numeric_function(self, typmod: int) -> Callable[[str], Any]:
        ps = _numeric_typmod(typmod)
        mode = self.decimal_mode
        if mode == "string":
            return lambda s: _SPECIAL_DECIMAL_NAMES.get(s, s)
        if mode == "double":
            return lambda s: _json_float(float(s))  # 'NaN', 'Infinity', '-Infinity' included
        if ps is None:

            def variable(s: str) -> Any:
                d = _finite_decimal(s)
                # Debezium: strip trailing zeros, but never a negative scale
                unscaled, exp = _exact(d)
                while exp < 0 and unscaled % 10 == 0:  # (a zero too: 0.000 is 0, scale 0)
                    unscaled //= 10
                    exp += 1
                if exp < 0:
                    return {"scale": -exp, "value": _twos_complement(unscaled)}
                return {"scale": 0, "value": _twos_complement(unscaled * 10**exp)}

            return variable
        scale = ps[1]
        return lambda s: _precise(s, scale)

    def _money_function(self) -> Callable[[str], Any]:
        scale, shift = self.money_fraction_digits, self.money_shift

        def parse(s: str) -> Decimal:
            return _parse_money(s).scaleb(shift) if shift else _parse_money(s)

        if self.decimal_mode == "double":
            return lambda s: float(parse(s))
        if self.decimal_mode == "string":
            return lambda s: format(parse(s), "f")
        return lambda s: _twos_complement(_unscaled(parse(s), scale))


_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.(\d+))?")


def _precise(s: str, scale: int) -> bytes:
    """Connect Decimal bytes of ``s`` at a fixed ``scale``."""
    m = _PLAIN_NUMBER.fullmatch(s)
    if m is not None:  # the server's usual form: digits, at most ``scale`` after the point
        frac = m.group(1) or ""
        if len(frac) <= scale:
            digits = s.replace(".", "", 1) + "0" * (scale - len(frac))
            return _twos_complement(int(digits))
    return _twos_complement(_unscaled(_finite_decimal(s), scale))


class ColumnValueError(ConfigError):
    """A value the change event cannot carry as itself: the task stops rather than emit a
    different one. ``text`` is the value's PostgreSQL text; the column is named where it is
    known (`named_errors`). Subclasses say why and what to do (`problem`)."""

    def __init__(self, text: str, column: str | None = None) -> None:
        self.text = text
        self.column = column
        where = f"{column}: " if column else ""
        super().__init__(where + self.problem())

    def problem(self) -> str:
        raise NotImplementedError


class SpecialDecimalError(ColumnValueError):
    """A numeric NaN or ±Infinity met in ``decimal.handling.mode=precise``, which has no form
    for them: Debezium stops the connector here too (SpecialValueDecimal.fromLogical)."""

    def problem(self) -> str:
        return (
            f"numeric value {self.text!r} has no Connect Decimal form with "
            f"decimal.handling.mode=precise; set decimal.handling.mode=string (or double) to "
            f"capture NaN and Infinity"
        )


class IntervalRangeError(ColumnValueError):
    """An interval past int64 microseconds in ``interval.handling.mode=numeric``: a
    MicroDuration cannot hold it (Debezium's cast clamps it to a different value)."""

    def problem(self) -> str:
        return (
            f"interval {self.text!r} is beyond int64 microseconds (about 292 000 years), the "
            f"reach of io.debezium.time.MicroDuration; set interval.handling.mode=string to "
            f"capture it as an ISO 8601 duration"
        )


class TimestampRangeError(ColumnValueError):
    """A timestamp past int64 epoch microseconds (after 294247-01-10): an int64 field cannot
    hold it (a Java consumer would read another, negative, number)."""

    def problem(self) -> str:
        return (
            f"timestamp {self.text!r} is beyond int64 microseconds since the epoch (after "
            f"294247-01-10), the reach of io.debezium.time.MicroTimestamp; set "
            f"time.precision.mode=connect (milliseconds) or leave the column out with "
            f"column.exclude.list"
        )


class TimestampMarkerError(ColumnValueError):
    """A real timestamp whose Debezium value equals the marker Debezium emits for
    ``infinity``/``-infinity`` (PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY): every consumer
    would read it as infinity, so no event can carry it as itself."""

    def problem(self) -> str:
        return (
            f"timestamp {self.text!r} equals Debezium's marker for 'infinity' (epoch "
            f"microseconds {TIMESTAMP_POSITIVE_INFINITY}) and would be read as infinity; "
            f"change the value, or leave the column out with column.exclude.list"
        )


def named_errors(convert: Converter, column: str) -> Converter:
    """``convert`` whose `ColumnValueError` names ``column`` (e.g. 'table public.t,
    column n')."""

    def named(raw: bytes | None) -> Any:
        try:
            return convert(raw)
        except ColumnValueError as exc:
            raise type(exc)(exc.text, column) from None

    return named


def _finite_decimal(s: str) -> Decimal:
    """``s`` as a finite Decimal; `SpecialDecimalError` for NaN and ±Infinity."""
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise ValueError(f"not a numeric value: {s!r}") from None
    if not d.is_finite():
        raise SpecialDecimalError(s)
    return d


def _exact(d: Decimal) -> tuple[int, int]:
    """(unscaled, exponent) of a finite Decimal, exactly (no context rounding)."""
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    # (through a Decimal of exponent 0, not a digit string: int(str) stops at 4300 digits,
    # and a numeric holds up to 147 455)
    n = int(Decimal((0, digits, 0)))
    return (-n if sign else n), exp


def _unscaled(d: Decimal, scale: int) -> int:
    """The unscaled integer of ``d`` at ``scale``, rounding half up (away from zero)."""
    n, exp = _exact(d)
    shift = exp + scale
    if shift >= 0:
        return n * int(10**shift)
    unit = int(10**-shift)
    q, r = divmod(abs(n), unit)
    if 2 * r >= unit:
        q += 1
    return -q if n < 0 else q


def _date_value(s: str) -> int:
    if s == "infinity":
        return DATE_POSITIVE_INFINITY_DAYS
    if s == "-infinity":
        return DATE_NEGATIVE_INFINITY_DAYS
    return _parse_date(s)


# the markers as io.debezium.time.Timestamp (millis) values; both are whole milliseconds, so a
# consumer reading millis * 1000 meets the markers themselves
_MARKERS = (TIMESTAMP_POSITIVE_INFINITY, TIMESTAMP_NEGATIVE_INFINITY)
_MILLIS_MARKERS = tuple(m // 1000 for m in _MARKERS)


def _timestamp_function(millis: bool) -> Callable[[str], int]:
    markers = _MILLIS_MARKERS if millis else _MARKERS

    def convert(s: str) -> int:
        if s == "infinity":
            micros = TIMESTAMP_POSITIVE_INFINITY
        elif s == "-infinity":
            micros = TIMESTAMP_NEGATIVE_INFINITY
        else:
            micros = _parse_timestamp(s)[0]
            value = micros // 1000 if millis else micros
            if value in markers:  # a real value a consumer would read as infinity
                raise TimestampMarkerError(s)
            if not _INT64_MIN <= value <= _INT64_MAX:  # (past year 294247 in microseconds)
                raise TimestampRangeError(s)
            return value
        return micros // 1000 if millis else micros

    return convert


_UTC_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00")


def _timestamptz_value(s: str, width: int | None) -> str:
    m = _UTC_TIMESTAMP.fullmatch(s)
    if m is not None:  # the sessions run in UTC: most values need only a reshuffle
        day, hms, frac = m.groups()
        if width is not None and 0 < width <= 9:
            return f"{day}T{hms}.{((frac or '') + '000000000')[:width]}Z"
        frac = (frac or "").rstrip("0")
        return f"{day}T{hms}.{frac}Z" if frac else f"{day}T{hms}Z"
    if s in ("infinity", "-infinity"):
        return s
    local, offset = _parse_timestamp(s)
    return _zoned_timestamp(local - (offset or 0) * 1_000_000, width)
