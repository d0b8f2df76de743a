"""Debezium's mapping of MySQL/MariaDB column types to Connect schemas and values.

One description of a column serves both paths: the binlog's TABLE_MAP (`Column`, with what
``binlog_row_metadata=FULL`` adds) and, for the snapshot, the catalog (`catalog_column` builds
the same `Column` from ``information_schema.COLUMNS``), so a table's snapshot and streamed
events carry the same schema. The converters take a value as either path decodes it: the
binlog decoder (`protocol.values`) or PyMySQL's text protocol (a connection whose session time
zone is UTC).

Mapping (Debezium's MySQL connector): TINYINT, SMALLINT int16 (SMALLINT UNSIGNED int32);
MEDIUMINT, INT int32 (INT UNSIGNED int64); BIGINT int64 (UNSIGNED by
``bigint.unsigned.handling.mode``); FLOAT float32; DOUBLE float64; DECIMAL by
``decimal.handling.mode``; BIT(1) boolean, BIT(n) ``io.debezium.data.Bits`` (little-endian
bytes); DATE ``io.debezium.time.Date``; DATETIME ``Timestamp`` (fsp <= 3) or
``MicroTimestamp``; TIMESTAMP ``ZonedTimestamp`` (UTC, the column's fraction digits); TIME
``MicroTime`` (negative and past 24 h kept); YEAR ``io.debezium.time.Year``; CHAR, VARCHAR,
TEXT strings; BINARY, VARBINARY, BLOB by ``binary.handling.mode``; ENUM ``Enum`` and SET
``EnumSet`` with ``allowed``; JSON ``io.debezium.data.Json``; GEOMETRY
``io.debezium.data.geometry.Geometry`` {wkb, srid} and POINT ``io.debezium.data.geometry.Point``
{x, y, wkb, srid} (an SRID of 0: null); MariaDB's UUID ``io.debezium.data.Uuid``
(as Debezium's MariaDB connector), INET6 and INET4 strings, as the server prints them (the
binlog holds their bytes). Zero dates (``0000-00-00``) are null in a
nullable column and the epoch in a NOT NULL one, as in Debezium.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.source.cdc.masks import NONE as NO_MASKS
from connectors.source.cdc.masks import ColumnMasks
from connectors.source.cdc.modes import BinaryMode, DecimalMode, TimePrecision
from connectors.source.mysql.ddl import literal_bytes
from connectors.source.mysql.protocol import jsonb
from connectors.source.mysql.protocol.values import BLOBS, Column, T, ZeroDate, string_max_len
from hub.errors import ConfigError
from hub.runtime import unscaled_bytes

Converter = Callable[[Any], Any]
_EPOCH_DATE = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1)
BINARY_CHARSET = 63

GEOMETRY_FIELDS = (
    {"type": "bytes", "optional": False, "field": "wkb"},
    {"type": "int32", "optional": True, "field": "srid"},
)


# Debezium's Point: a Geometry with its coordinates
POINT_FIELDS = (
    {"type": "double", "optional": False, "field": "x"},
    {"type": "double", "optional": False, "field": "y"},
    {"type": "bytes", "optional": True, "field": "wkb"},
    {"type": "int32", "optional": True, "field": "srid"},
)


def _geometry(v: Any) -> dict[str, Any]:
    """The server's spatial value (its SRID, 4 bytes little-endian, then the WKB) as
    Debezium's Geometry: SRID 0 is none (null), as Debezium reads it."""
    srid = int.from_bytes(v[:4], "little")
    return {"wkb": bytes(v[4:]), "srid": srid or None}


def _point(v: Any) -> dict[str, Any]:
    """A POINT column's value as Debezium's Point: its coordinates from the WKB (a 2D
    point: byte order, type 1, x, y)."""
    out = _geometry(v)
    wkb = out["wkb"]
    if len(wkb) != 21 or int.from_bytes(wkb[1:5], "little" if wkb[0] else "big") != 1:
        raise ValueError(f"not the WKB of a 2D point: {wkb.hex()}")
    x, y = struct.unpack("<dd" if wkb[0] else ">dd", wkb[5:21])
    return {"x": x, "y": y, **out}


def _schema(kind: str, optional: bool, name: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "optional": optional}
    if name is not None:
        out["name"] = name
        out["version"] = 1
    out.update(extra)
    return out


# MariaDB's types the binlog logs as BINARY(n): their names and n
EXTENDED = {"uuid": 16, "inet6": 16, "inet4": 4}


def uuid_text(b: bytes) -> str:
    """A UUID column's 16 bytes as MariaDB prints them (lower case, in byte order)."""
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def inet4_text(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def inet6_text(b: bytes) -> str:
    """An INET6 column's 16 bytes as MariaDB prints them: an IPv4-compatible (96 zero bits,
    then not 0.0.x.x) or IPv4-mapped (``::ffff:``) address with its IPv4 part dotted;
    otherwise lower-case groups without leading zeros, the longest run of zero groups (the
    first of equal runs, one group included) as ``::``."""
    if not any(b[:12]) and (b[12] or b[13]):
        return "::" + inet4_text(b[12:])
    if not any(b[:10]) and b[10:12] == b"\xff\xff":
        return "::ffff:" + inet4_text(b[12:])
    groups = [b[i] << 8 | b[i + 1] for i in range(0, 16, 2)]
    best_at, best_len, at = -1, 0, 0
    while at < 8:
        if groups[at]:
            at += 1
            continue
        end = at
        while end < 8 and not groups[end]:
            end += 1
        if end - at > best_len:
            best_at, best_len = at, end - at
        at = end
    text = [f"{g:x}" for g in groups]
    if best_len == 0:
        return ":".join(text)
    return ":".join(text[:best_at]) + "::" + ":".join(text[best_at + best_len :])


_EXT_TEXT = {"uuid": uuid_text, "inet6": inet6_text, "inet4": inet4_text}
_HEX = re.compile(r"[0-9a-fA-F]{32}")


def _ext_bytes(ext: str, text: str) -> bytes | None:
    """A UUID / INET6 / INET4 literal (a column default as the DDL wrote it) as the column's
    bytes; None if it is not one."""
    import ipaddress

    try:
        if ext == "uuid":
            digits = text.replace("-", "") if len(text) == 36 else text
            return bytes.fromhex(digits) if _HEX.fullmatch(digits) else None
        if ext == "inet6":
            return ipaddress.IPv6Address(text).packed
        return ipaddress.IPv4Address(text).packed
    except ValueError:
        return None


_INTEGER = re.compile(r"[+-]?[0-9]+")
_BITS = re.compile(r"[bB]'([01]*)'")
_HEX_LITERAL = re.compile(r"[xX]'((?:[0-9a-fA-F]{2})*)'|0x((?:[0-9a-fA-F]{2})+)")
_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})[ T]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(\.[0-9]{1,6})?"
)
_ZERO_DATE = re.compile(r"0000-00-00(?:[ T]00:00:00(?:\.0{1,6})?)?")
_DATES = (T.DATE, T.NEWDATE, T.DATETIME, T.DATETIME2)
_TIME = re.compile(r"(-)?([0-9]{1,3}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _integer(text: str) -> int | None:
    """An integer column's default as the server stores it: a number rounded half away
    from zero (1e2 is 100, 2.5 is 3), a hex literal's value (0xff, x'ff')."""
    if _INTEGER.fullmatch(text):
        return int(text)
    if m := _HEX_LITERAL.fullmatch(text):
        digits = m[1] if m[1] is not None else m[2]
        return int(digits, 16) if digits else 0
    if _NUMBER.fullmatch(text):
        if "e" in text.lower():  # a float literal: rounded half to even (2.5e0 is 2)
            return round(float(text))
        return int(Decimal(text).quantize(Decimal(1), ROUND_HALF_UP))
    return None


def _label(text: str, labels: tuple[str, ...]) -> str | None:
    """An ENUM/SET label as the column defines it, matched as the server matches it (case
    and trailing spaces aside)."""
    if text in labels:
        return text
    want = text.rstrip(" ").casefold()
    found = [v for v in labels if v.casefold() == want]
    return found[0] if len(found) == 1 else None


def _cut(digits: str, c: Column) -> int:
    """A time's fraction (its digits) in microseconds, cut to the column's precision as the
    server cuts it (TIME2/DATETIME2's metadata)."""
    fsp = c.meta if c.type in (T.TIME2, T.DATETIME2) else 6
    return int(digits[:fsp].ljust(6, "0")[:6]) if digits else 0


class TypeMapper:
    def __init__(
        self, decimal_mode: str = "precise", time_mode: str = "adaptive_time_microseconds",
        binary_mode: str = "bytes", bigint_unsigned: str = "long",
    ) -> None:  # fmt: skip
        self.decimals = DecimalMode(decimal_mode)
        self.times = TimePrecision(time_mode)
        self.binary = BinaryMode(binary_mode)
        self.bigint_precise = bigint_unsigned == "precise"
        # column.mask.* / column.truncate.* (`cdc.masks`), applied by `MySqlTable`
        self.masks: ColumnMasks = NO_MASKS

    def schema(self, c: Column, optional: bool) -> dict[str, Any]:
        if c.ext:
            return _schema("string", optional, "io.debezium.data.Uuid" if c.ext == "uuid" else None)
        t = c.real_type
        if t in (T.TINY, T.SHORT):
            return _schema("int32" if t == T.SHORT and c.unsigned else "int16", optional)
        if t in (T.INT24, T.LONG):
            return _schema("int64" if t == T.LONG and c.unsigned else "int32", optional)
        if t == T.LONGLONG:
            if c.unsigned and self.bigint_precise:  # Connect Decimal, whatever the decimal mode
                return DecimalMode("precise").schema(20, 0, optional)
            return _schema("int64", optional)
        if t == T.FLOAT:
            return _schema("float", optional)
        if t == T.DOUBLE:
            return _schema("double", optional)
        if t in (T.NEWDECIMAL, T.DECIMAL):
            return self.decimals.schema(c.meta >> 8, c.meta & 0xFF, optional)
        if t == T.DATE:
            return self.times.date_schema(optional)
        if t in (T.DATETIME2, T.DATETIME):
            return self.times.timestamp_schema(c.meta if t == T.DATETIME2 else 0, optional)
        if t in (T.TIMESTAMP2, T.TIMESTAMP):
            return _schema("string", optional, "io.debezium.time.ZonedTimestamp")
        if t in (T.TIME2, T.TIME):
            if self.times.connect:
                return _schema("int32", optional, "org.apache.kafka.connect.data.Time")
            return _schema("int64", optional, "io.debezium.time.MicroTime")
        if t == T.YEAR:
            return _schema("int32", optional, "io.debezium.time.Year")
        if t == T.BIT:
            bits = bit_length(c)
            if bits == 1:
                return _schema("boolean", optional)
            return _schema("bytes", optional, "io.debezium.data.Bits",
                           parameters={"length": str(bits)})  # fmt: skip
        if t == T.ENUM:
            return _schema("string", optional, "io.debezium.data.Enum",
                           parameters={"allowed": ",".join(c.labels)})  # fmt: skip
        if t == T.SET:
            return _schema("string", optional, "io.debezium.data.EnumSet",
                           parameters={"allowed": ",".join(c.labels)})  # fmt: skip
        if t == T.JSON:
            return _schema("string", optional, "io.debezium.data.Json")
        if t == T.GEOMETRY and c.geometry == "point":
            return _schema("struct", optional, "io.debezium.data.geometry.Point",
                           fields=[dict(f) for f in POINT_FIELDS],
                           doc="Geometry (POINT)")  # fmt: skip
        if t == T.GEOMETRY:
            return _schema("struct", optional, "io.debezium.data.geometry.Geometry",
                           fields=[dict(f) for f in GEOMETRY_FIELDS],
                           doc="Geometry")  # fmt: skip
        if t in (T.VARCHAR, T.VAR_STRING, T.STRING) or t in BLOBS:
            if c.charset == BINARY_CHARSET:
                return self.binary.schema(optional)
            return _schema("string", optional)
        raise ConfigError(f"column {c.name!r}: MySQL column type {t} is not supported")

    def default_of(self, c: Column, text: str) -> Any:
        """A column's default as the schema history holds it (its DDL text) as the value the
        binlog decoder gives, for the constants that read the same in every row: numbers,
        ENUM/SET labels, text, dates, datetimes, times, bits and binary strings written in hex;
        a zero date as its text (which the converters read as the rows' zero date: no
        default in a nullable column, day 0 in a NOT NULL one, as Debezium's); None for an
        expression (``NOW()``, ``(uuid())``), TIMESTAMP (its text is in the DDL session's
        time zone), a binary string written as text, and MySQL's JSON (left out, as no
        default)."""
        if c.ext:
            return _ext_bytes(c.ext, text)
        t = c.real_type
        # (as the server stores the DDL's literal, which the catalog then shows: a number
        # written 1e2 or 0xff, rounded; a 2-digit YEAR; a DECIMAL rounded to its scale; an
        # ENUM/SET label in any case, a SET's in its order; a CHAR without trailing spaces;
        # a time's fraction cut to its precision; a date of 1-digit parts. The sinks fill the
        # rows a table had with it: the DDL's text, not the server's value, had stayed there)
        if t == T.YEAR and text in ("0", "00"):
            return None  # (0000 written as a number, 2000 as text: the DDL's quotes are gone)
        if t in (T.TINY, T.SHORT, T.INT24, T.LONG, T.LONGLONG, T.YEAR):
            n = _integer(text)
            if n is not None and t == T.YEAR and 0 < n < 100:
                n += 2000 if n < 70 else 1900
            return n
        if t in (T.NEWDECIMAL, T.DECIMAL):
            if not _NUMBER.fullmatch(text):
                return None
            scale = c.meta & 0xFF if t == T.NEWDECIMAL else 0
            return Decimal(text).quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP)
        if t in (T.FLOAT, T.DOUBLE):
            return float(text) if _NUMBER.fullmatch(text) else None
        if t == T.ENUM:
            return _label(text, c.labels)
        if t == T.SET:
            if not text:
                return text
            got = [_label(v, c.labels) for v in text.split(",")]
            if None in got:
                return None
            return ",".join(v for v in c.labels if v in got)
        if t in (T.VARCHAR, T.VAR_STRING, T.STRING, *BLOBS) and c.charset != BINARY_CHARSET:
            if text.startswith("(") or text.endswith("(...)"):
                return None
            raw = literal_bytes(text)  # x'6869', b'0110100001101001': 'hi'
            if raw is not None:
                from connectors.source.mysql.charsets import UnknownCharsetError, codec

                try:
                    text = raw.decode(codec(c.charset or 45))
                except (UnknownCharsetError, LookupError, UnicodeDecodeError):
                    return None
            return text.rstrip(" ") if t == T.STRING else text  # (CHAR: as it reads back)
        if t == T.BIT:  # b'101' (the DDL's and the catalog's form), or a number
            m = _BITS.fullmatch(text)
            n = int(m[1] or "0", 2) if m else (int(text) if _INTEGER.fullmatch(text) else None)
            size = (bit_length(c) + 7) // 8
            if n is None or n < 0 or n >= 1 << (size * 8):
                return None
            return n.to_bytes(size, "big")  # (as the binlog holds it)
        if c.charset == BINARY_CHARSET and (m := _HEX_LITERAL.fullmatch(text)):
            # x'00ff' / 0x00ff (x'': none): its bytes (a string's depend on the DDL session's
            # charset, and the catalog's text loses bytes: none)
            raw = bytes.fromhex(m[1] if m[1] is not None else m[2])
            if t == T.STRING:  # BINARY(n): padded as the server pads it
                raw = raw.ljust(string_max_len(c.meta), b"\0")
            return raw
        if t in (*_DATES, T.TIMESTAMP, T.TIMESTAMP2) and _ZERO_DATE.fullmatch(text):
            return text  # (the zero date, in any time zone: the converters tell it)
        try:  # (an impossible date, an expression: no default)
            if t in (T.DATE, T.NEWDATE) and (m := _DATE.fullmatch(text)):
                return dt.date(int(m[1]), int(m[2]), int(m[3]))
            if t in (T.DATETIME, T.DATETIME2) and (m := _DATETIME.fullmatch(text)):
                y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
                return dt.datetime(y, mo, d, h, mi, sec, _cut((m[7] or "")[1:], c))
            if t in (T.TIME, T.TIME2) and (m := _TIME.fullmatch(text)):
                sign = -1 if m[1] else 1
                frac = _cut(m[5] or "", c)
                return sign * dt.timedelta(hours=int(m[2]), minutes=int(m[3]),
                                           seconds=int(m[4]), microseconds=frac)  # fmt: skip
        except ValueError:
            return None
        return None  # (TIMESTAMP's text is in the session's time zone: not known here)

    def converter(self, c: Column, nullable: bool) -> Converter:
        """value (as the binlog decoder or PyMySQL gives it) -> the event's value; never
        called with None."""
        if c.ext:  # the binlog's bytes, or the server's text (a snapshot)
            text = _EXT_TEXT[c.ext]
            return lambda v: v if isinstance(v, str) else text(bytes(v))
        t = c.real_type
        if t in (T.TINY, T.SHORT, T.INT24, T.LONG):
            return int
        if t == T.LONGLONG:
            if c.unsigned and self.bigint_precise:
                return lambda v: unscaled_bytes(int(v))
            if c.unsigned:
                return lambda v: v - (1 << 64) if v >= 1 << 63 else v  # Debezium's wrap
            return int
        if t == T.FLOAT:
            return _float32
        if t == T.DOUBLE:
            return float
        if t in (T.NEWDECIMAL, T.DECIMAL):
            scale = c.meta & 0xFF
            convert = self.decimals.converter(scale)
            return lambda v: convert(v if isinstance(v, Decimal) else Decimal(v))
        if t == T.DATE:
            zero = None if nullable else 0
            return lambda v: zero if _zero(v) else (v - _EPOCH_DATE).days
        if t in (T.DATETIME2, T.DATETIME):
            millis = self.times.timestamp_millis(c.meta if t == T.DATETIME2 else 0)
            zero = None if nullable else 0
            div = 1000 if millis else 1

            def datetime_(v: Any) -> Any:
                if _zero(v):
                    return zero
                d = v - _EPOCH
                micros = (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds
                return micros // div

            return datetime_
        if t in (T.TIMESTAMP2, T.TIMESTAMP):
            fsp = c.meta if t == T.TIMESTAMP2 else 0
            zero_ts = None if nullable else "1970-01-01T00:00:00Z"
            return lambda v: zero_ts if _zero(v) else zoned(v, fsp)
        if t in (T.TIME2, T.TIME):
            if self.times.connect:
                return lambda v: _micros(v) // 1000
            return _micros
        if t == T.YEAR:
            return int
        if t == T.BIT:
            if bit_length(c) == 1:
                return lambda v: bool(int.from_bytes(v, "big"))
            n = (bit_length(c) + 7) // 8
            return lambda v: int.from_bytes(v, "big").to_bytes(n, "little")
        if t == T.ENUM:
            labels = c.labels
            return lambda v: v if isinstance(v, str) else (labels[v - 1] if v else "")
        if t == T.SET:
            labels = c.labels
            return lambda v: v if isinstance(v, str) else ",".join(
                label for i, label in enumerate(labels) if v >> i & 1
            )  # fmt: skip
        if t == T.JSON:  # MySQL's binary form from the binlog, its text from a snapshot
            empty = None if nullable else "{}"  # an empty value, as Debezium reads it

            def json_(v: Any) -> Any:
                if isinstance(v, str):
                    return v
                return jsonb.to_text(bytes(v)) if len(v) else empty

            return json_
        if t == T.GEOMETRY and c.geometry == "point":
            return _point
        if t == T.GEOMETRY:
            return _geometry
        if c.charset == BINARY_CHARSET:
            encode = self.binary.converter()
            return lambda v: encode(v if isinstance(v, bytes) else v.encode())
        return lambda v: v if isinstance(v, str) else bytes(v).decode("utf-8", "replace")


def bit_length(c: Column) -> int:
    return (c.meta & 0xFF) * 8 + (c.meta >> 8)


def _zero(v: Any) -> bool:
    """A zero or otherwise impossible date: ZeroDate from the binlog, a string from PyMySQL."""
    return isinstance(v, ZeroDate | str)


def _float32(v: Any) -> float:
    """A FLOAT's value as its shortest decimal that is the same float32 (1.1, not the
    widened 1.100000023841858), as Debezium's (a Java float) and whichever way it was read."""
    x = float(v)
    # (a subnormal float32 holds fewer digits: its shortest form may have fewer than 6)
    start = 1 if 0 < abs(x) < 1.1754943508222875e-38 else 6
    for digits in range(start, 10):
        y = float(f"{x:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", y))[0] == x:
            return y
    return x


def _micros(v: dt.timedelta) -> int:
    return (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds


def zoned(v: dt.datetime, fsp: int) -> str:
    """A TIMESTAMP as io.debezium.time.ZonedTimestamp in UTC, with the column's fraction
    digits (a naive value is UTC: the snapshot's session time zone)."""
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
    out = v.strftime("%Y-%m-%dT%H:%M:%S")
    if fsp:
        out += "." + f"{v.microsecond:06d}"[:fsp]
    return out + "Z"


# -- the catalog's description of a column as the binlog's ----------------------------------
_TYPES = {
    "tinyint": T.TINY, "smallint": T.SHORT, "mediumint": T.INT24, "int": T.LONG,
    "integer": T.LONG, "bigint": T.LONGLONG, "float": T.FLOAT, "double": T.DOUBLE,
    "real": T.DOUBLE, "decimal": T.NEWDECIMAL, "numeric": T.NEWDECIMAL, "date": T.DATE,
    "datetime": T.DATETIME2, "timestamp": T.TIMESTAMP2, "time": T.TIME2, "year": T.YEAR,
    "char": T.STRING, "binary": T.STRING, "varchar": T.VARCHAR, "varbinary": T.VARCHAR,
    "tinytext": T.BLOB, "text": T.BLOB, "mediumtext": T.BLOB, "longtext": T.BLOB,
    "tinyblob": T.BLOB, "blob": T.BLOB, "mediumblob": T.BLOB, "longblob": T.BLOB,
    "enum": T.STRING, "set": T.STRING, "bit": T.BIT, "json": T.JSON,
    "geometry": T.GEOMETRY, "point": T.GEOMETRY, "linestring": T.GEOMETRY,
    "polygon": T.GEOMETRY, "multipoint": T.GEOMETRY, "multilinestring": T.GEOMETRY,
    "multipolygon": T.GEOMETRY, "geometrycollection": T.GEOMETRY,
}  # fmt: skip
_LABEL = re.compile(r"'((?:[^']|'')*)'")


def catalog_column(
    name: str, data_type: str, column_type: str, nullable: bool, precision: int | None,
    scale: int | None, fsp: int | None, charset: str | None,
) -> Column:  # fmt: skip
    """A `Column` as a TABLE_MAP with FULL row metadata would describe it."""
    kind = data_type.lower()
    if kind in EXTENDED:  # as the binlog logs it: BINARY(n)
        return Column(T.STRING, T.STRING << 8 | EXTENDED[kind], nullable, name, False,
                      BINARY_CHARSET, (), kind)  # fmt: skip
    t = _TYPES.get(kind)
    if t is None:
        raise ConfigError(f"column {name!r}: type {column_type!r} is not supported")
    meta = 0
    labels: tuple[str, ...] = ()
    if kind in ("decimal", "numeric"):
        meta = (precision or 10) << 8 | (scale or 0)
    elif t in (T.DATETIME2, T.TIMESTAMP2, T.TIME2):
        meta = fsp or 0
    elif kind == "bit":
        bits = int(re.search(r"\((\d+)\)", column_type).group(1)) if "(" in column_type else 1  # type: ignore[union-attr]
        meta = (bits % 8) << 8 | bits // 8
    elif kind in ("enum", "set"):
        meta = (T.ENUM if kind == "enum" else T.SET) << 8
        inner = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
        labels = tuple(m.replace("''", "'") for m in _LABEL.findall(inner))
    cs = None
    if kind in ("binary", "varbinary") or kind.endswith("blob"):
        cs = BINARY_CHARSET
    elif charset is not None:
        cs = 45  # a text charset: the snapshot's values arrive decoded
    return Column(t, meta, nullable, name, "unsigned" in column_type.lower(), cs, labels,
                  geometry="point" if kind == "point" else "")  # fmt: skip
