"""MySQL's binary JSON (the JSON column type of MySQL 5.7+, as row images carry it) as JSON
text, the way Debezium's MySQL connector writes it (mysql-binlog-connector-java's
``JsonStringFormatter``): compact, object members in their stored order, doubles as Java's
``Double.toString`` prints them unless that has an exponent (then ``BigDecimal``'s exact plain
digits), DECIMAL as its plain digits, dates and times as quoted strings with the fraction's
trailing zeros trimmed, other opaque values as quoted base64, control characters as
``\\uXXXX`` in upper-case hex. Unlike that library, a negative TIME keeps its value (it
mangles them). MariaDB's JSON is text and never comes here.

Layout (MySQL's ``json_binary.h``): a value is a type byte then its data. Objects and arrays
(small: 2-byte counts and offsets; large: 4-byte) hold the element count and their size in
bytes, then (objects) key entries of offset + 2-byte length, then value entries of a type
byte + offset, or the value itself where it fits in the offset's bytes (literals, 16-bit
integers, and in the large form 32-bit ones); offsets count from the start of the object or
array after its type byte. Strings have a variable-length size (7 bits a byte, low bits
first); opaque values a field type byte, a variable-length size and the field's binary form.
"""

from __future__ import annotations

import base64
import math
import struct
from decimal import Decimal

from connectors.source.mysql.protocol.values import T, _decimal

SMALL_OBJECT, LARGE_OBJECT, SMALL_ARRAY, LARGE_ARRAY, LITERAL = 0, 1, 2, 3, 4
INT16, UINT16, INT32, UINT32, INT64, UINT64, DOUBLE, STRING, OPAQUE = 5, 6, 7, 8, 9, 10, 11, 12, 15


class JsonbError(ValueError):
    """Bytes that are no MySQL binary JSON (the message says where)."""


MAX_DEPTH = 100  # MySQL's own limit on a document's nesting


def to_text(data: bytes) -> str:
    """The JSON text of one non-empty binary JSON document (the caller decides what an empty
    value is: Debezium gives null in a nullable column, ``{}`` in a NOT NULL one)."""
    if not data:
        raise JsonbError("binary JSON: an empty value")
    out: list[str] = []
    _value(data[0], memoryview(data), 1, len(data), out, 0)
    return "".join(out)


def _unpack(fmt: str, data: memoryview, pos: int, end: int) -> int:
    size = struct.calcsize(fmt)
    if pos < 0 or pos + size > end:
        raise JsonbError(f"binary JSON truncated at byte {pos}")
    value: int = struct.unpack_from(fmt, data, pos)[0]
    return value


def _varlen(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    n = shift = 0
    for _ in range(5):
        if pos >= end:
            raise JsonbError(f"binary JSON truncated at byte {pos}")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
    raise JsonbError("binary JSON: a length of more than 5 bytes")


def _value(kind: int, data: memoryview, pos: int, end: int, out: list[str], depth: int) -> None:
    """The value of type ``kind`` whose data starts at ``pos`` (before ``end``)."""
    if kind in (SMALL_OBJECT, LARGE_OBJECT, SMALL_ARRAY, LARGE_ARRAY):
        if depth >= MAX_DEPTH:
            raise JsonbError(f"binary JSON nested deeper than {MAX_DEPTH}")
        _container(kind, data, pos, end, out, depth + 1)
    elif kind == LITERAL:
        literal = _unpack("<B", data, pos, end)
        if literal > 2:
            raise JsonbError(f"binary JSON: unknown literal {literal}")
        out.append(("null", "true", "false")[literal])
    elif kind in _INTS:
        out.append(str(_unpack(_INTS[kind], data, pos, end)))
    elif kind == DOUBLE:
        out.append(debezium_double(struct.unpack("<d", bytes(_slice(data, pos, 8, end)))[0]))
    elif kind == STRING:
        n, pos = _varlen(data, pos, end)
        out.append(quote(bytes(_slice(data, pos, n, end)).decode("utf-8")))
    elif kind == OPAQUE:
        field = _unpack("<B", data, pos, end)
        n, pos = _varlen(data, pos + 1, end)
        out.append(_opaque(field, bytes(_slice(data, pos, n, end))))
    else:
        raise JsonbError(f"binary JSON: unknown value type {kind}")


_INTS = {INT16: "<h", UINT16: "<H", INT32: "<i", UINT32: "<I", INT64: "<q", UINT64: "<Q"}


def _slice(data: memoryview, pos: int, n: int, end: int) -> memoryview:
    if pos < 0 or n < 0 or pos + n > end:
        raise JsonbError(f"binary JSON truncated at byte {pos}")
    return data[pos : pos + n]


def _container(
    kind: int, data: memoryview, base: int, end: int, out: list[str], depth: int
) -> None:
    large = kind in (LARGE_OBJECT, LARGE_ARRAY)
    word = "<I" if large else "<H"
    width = 4 if large else 2
    count = _unpack(word, data, base, end)
    size = _unpack(word, data, base + width, end)
    if size > end - base:
        raise JsonbError(f"binary JSON: a container of {size} bytes in {end - base}")
    stop = base + size
    is_object = kind in (SMALL_OBJECT, LARGE_OBJECT)
    entries = base + 2 * width
    keys = entries
    values = entries + (count * (width + 2) if is_object else 0)
    out.append("{" if is_object else "[")
    for i in range(count):
        if i:
            out.append(",")
        if is_object:
            key_at = keys + i * (width + 2)
            offset = _unpack(word, data, key_at, stop)
            length = _unpack("<H", data, key_at + width, stop)
            out.append(quote(bytes(_slice(data, base + offset, length, stop)).decode("utf-8")))
            out.append(":")
        entry = values + i * (1 + width)
        vtype = _unpack("<B", data, entry, stop)
        if vtype == LITERAL or vtype in (INT16, UINT16) or (large and vtype in (INT32, UINT32)):
            _value(vtype, data, entry + 1, stop, out, depth)  # inlined in the entry
        else:
            offset = _unpack(word, data, entry + 1, stop)
            if offset >= size:
                raise JsonbError(f"binary JSON: a value offset {offset} past its container")
            _value(vtype, data, base + offset, stop, out, depth)
    out.append("}" if is_object else "]")


def _opaque(field: int, raw: bytes) -> str:
    """An opaque value by its MySQL field type: DECIMAL as a number, temporal types as quoted
    strings, anything else as quoted base64."""
    if field in (T.NEWDECIMAL, T.DECIMAL) and len(raw) >= 2:
        precision, scale = raw[0], raw[1]
        value, _ = _decimal(memoryview(raw), 2, precision, scale)
        return _plain(value)
    if field in (T.DATE, T.DATETIME, T.TIMESTAMP, T.TIME) and len(raw) >= 8:
        packed = int.from_bytes(raw[:8], "little", signed=True)
        if field == T.TIME:
            return quote(_time(packed))
        return quote(_datetime(packed, field == T.DATE))
    return quote(base64.b64encode(raw).decode("ascii"))


def _plain(d: Decimal) -> str:
    return format(d, "f")


def _datetime(packed: int, date_only: bool) -> str:
    """MySQL's packed datetime (``TIME_to_longlong_datetime_packed``)."""
    negative = packed < 0
    packed = abs(packed)
    micros = packed % (1 << 24)
    ymdhms = packed >> 24
    ymd, hms = ymdhms >> 17, ymdhms % (1 << 17)
    ym = ymd >> 5
    year, month, day = ym // 13, ym % 13, ymd % (1 << 5)
    hour, minute, second = hms >> 12, (hms >> 6) % (1 << 6), hms % (1 << 6)
    text = f"{'-' if negative else ''}{year:04d}-{month:02d}-{day:02d}"
    if date_only:
        return text
    return text + f" {hour:02d}:{minute:02d}:{second:02d}" + _fraction(micros)


def _time(packed: int) -> str:
    """MySQL's packed time (``TIME_to_longlong_time_packed``)."""
    negative = packed < 0
    packed = abs(packed)
    micros = packed % (1 << 24)
    hms = packed >> 24
    hour, minute, second = (hms >> 12) % (1 << 10), (hms >> 6) % (1 << 6), hms % (1 << 6)
    return f"{'-' if negative else ''}{hour:02d}:{minute:02d}:{second:02d}" + _fraction(micros)


def _fraction(micros: int) -> str:
    """Fractional seconds with the trailing zeros trimmed (none for a whole second)."""
    return ("." + f"{micros:06d}".rstrip("0")) if micros else ""


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
            "\t": "\\t"}  # fmt: skip


def quote(s: str) -> str:
    """A JSON string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def debezium_double(x: float) -> str:
    """A JSON double as the library writes it: ``Double.toString``, or, when that has an
    exponent, ``new BigDecimal(x).toPlainString()`` (the double's exact decimal value)."""
    text = java_double(x)
    if "E" in text:
        return format(Decimal(x), "f")
    return text


def java_double(x: float) -> str:
    """``Double.toString(x)``: the shortest digits that read back as ``x``, in plain notation
    from 10^-3 up to 10^7 (with at least one fraction digit), else as ``d.dddE±n``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    digits, exp = _shortest(abs(x))  # value = 0.d1d2... * 10^exp
    if 1e-3 <= abs(x) < 1e7:
        if exp <= 0:
            return f"{sign}0.{'0' * -exp}{digits}"
        whole, frac = digits[:exp].ljust(exp, "0"), digits[exp:]
        return f"{sign}{whole}.{frac or '0'}"
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{exp - 1}"


def _shortest(x: float) -> tuple[str, int]:
    """(digits, exp) with x = 0.digits * 10**exp, digits the shortest that round-trip."""
    text = repr(x)  # Python's repr is the shortest round-trip form
    mantissa, _, e = text.partition("e")
    exp = int(e) if e else 0
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # position of the decimal point relative to the digits
    point = len(whole) + exp
    lead = len(whole + frac) - len((whole + frac).lstrip("0"))
    digits = digits.rstrip("0") or "0"
    return digits, point - lead
