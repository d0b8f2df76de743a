"""One column value of a binlog row image, from its column type and TABLE_MAP metadata.

The formats are the server's on-disk ("binary") forms as the replication protocol sends them:
integers little-endian; DATETIME2, TIMESTAMP2 and TIME2 big-endian with an offset and 0-3
bytes of fractional seconds (by the column's fsp); NEWDECIMAL in groups of nine decimal digits
big-endian with the sign in the top bit; strings behind a 1- or 2-byte length (4 for the
longest blobs); ENUM as an index, SET as a bit mask; BIT big-endian.

Values come out as: int (YEAR as its year, 0 for 0000), float, decimal.Decimal,
datetime.date, datetime.datetime (DATETIME naive; TIMESTAMP as UTC seconds + microseconds in
an aware datetime), datetime.timedelta (TIME, negative and past 24 h included), str (text in
its column charset), bytes (binary strings, BLOB, BIT as its bytes, GEOMETRY as SRID + WKB),
ENUM as its 1-based index and SET as its bit mask (the labels are in the table map). A date
or datetime the calendar cannot hold (zero dates such as 0000-00-00) is `ZeroDate` with its
fields, so the caller decides (Debezium: null when the column is nullable).
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Context, Decimal
from typing import Any, NamedTuple

from connectors.source.mysql.charsets import codec as _encoding  # (a collation's codec)


class T:
    """Column types (MySQL's enum_field_types)."""

    DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, NULL, TIMESTAMP, LONGLONG, INT24 = range(10)
    DATE, TIME, DATETIME, YEAR, NEWDATE, VARCHAR, BIT, TIMESTAMP2, DATETIME2, TIME2 = range(10, 20)
    JSON, NEWDECIMAL, ENUM, SET, TINY_BLOB, MEDIUM_BLOB, LONG_BLOB, BLOB = range(245, 253)
    VAR_STRING, STRING, GEOMETRY = 253, 254, 255
    # MariaDB's COMPRESSED columns (10.3+): logged with these types, their values compressed
    # (`uncompressed`); the TABLE_MAP reader gives them as VARCHAR and BLOB, ``compressed``
    BLOB_COMPRESSED, VARCHAR_COMPRESSED = 140, 141


NUMERIC = frozenset({T.TINY, T.SHORT, T.INT24, T.LONG, T.LONGLONG, T.FLOAT, T.DOUBLE,
                     T.NEWDECIMAL, T.DECIMAL})  # fmt: skip
BLOBS = frozenset({T.TINY_BLOB, T.MEDIUM_BLOB, T.LONG_BLOB, T.BLOB})
_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
_EXACT = Context(prec=100)  # DECIMAL has at most 65 digits: nothing is rounded
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ZeroDate(NamedTuple):
    """A DATE/DATETIME the calendar cannot hold (``0000-00-00``, ``2024-00-10``...)."""

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0
    microsecond: int = 0


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a TABLE_MAP: binlog type and metadata, and what FULL row metadata adds."""

    type: int
    meta: int  # the type's metadata (see `read_metadata`); for STRING: real type << 8 | len
    nullable: bool = True
    name: str | None = None
    unsigned: bool = False
    charset: int | None = None  # collation id for character columns
    labels: tuple[str, ...] = ()  # ENUM/SET values
    # MariaDB's UUID, INET6, INET4 (`types.EXTENDED`): the binlog logs them as BINARY(16) /
    # BINARY(4), only the DDL (the schema history) or the catalog says which they are
    ext: str = ""
    # a POINT column ("point"; the binlog logs every spatial type as GEOMETRY: FULL row
    # metadata's geometry types, or the catalog, say which)
    geometry: str = ""
    compressed: bool = False  # MariaDB's COMPRESSED: each value as `uncompressed` reads it

    @property
    def real_type(self) -> int:
        """STRING columns carry ENUM and SET as their real type in the metadata."""
        if self.type == T.STRING and self.meta >> 8 in (T.ENUM, T.SET):
            return self.meta >> 8
        return self.type


def string_max_len(meta: int) -> int:
    """A CHAR/BINARY column's length in bytes from its STRING metadata (lengths past 255 keep
    their two high bits in the real-type byte)."""
    return (((meta >> 4) & 0x300) ^ 0x300) + (meta & 0xFF)


def bit_bytes(meta: int) -> int:
    """A BIT(n) value's size: whole bytes (low byte of the metadata) and one for the bits
    past them (high byte)."""
    return (meta & 0xFF) + (1 if meta >> 8 else 0)


def read_metadata(types: bytes, data: memoryview, pos: int) -> tuple[list[int], int]:
    """Each column's metadata from the TABLE_MAP metadata block at ``pos``."""
    out = []
    for t in types:
        if t in (T.FLOAT, T.DOUBLE, T.TIMESTAMP2, T.DATETIME2, T.TIME2, T.JSON, T.GEOMETRY) or (
            t in BLOBS
        ):
            out.append(data[pos])
            pos += 1
        elif t in (T.VARCHAR, T.VAR_STRING):
            out.append(data[pos] | data[pos + 1] << 8)
            pos += 2
        elif t in (T.NEWDECIMAL, T.BIT):
            out.append(data[pos] << 8 | data[pos + 1])  # precision/scale, bytes/bits... see use
            pos += 2
        elif t in (T.STRING, T.ENUM, T.SET):
            out.append(data[pos] << 8 | data[pos + 1])  # real type, length
            pos += 2
        else:
            out.append(0)
    return out, pos


def _frac(data: memoryview, pos: int, fsp: int) -> tuple[int, int]:
    """Fractional seconds (microseconds) of ``fsp`` digits at ``pos``; returns (micros, pos)."""
    if fsp <= 0:
        return 0, pos
    if fsp <= 2:
        return data[pos] * 10000, pos + 1
    if fsp <= 4:
        return int.from_bytes(data[pos : pos + 2], "big") * 100, pos + 2
    return int.from_bytes(data[pos : pos + 3], "big"), pos + 3


def _signed_frac(data: memoryview, pos: int, fsp: int) -> tuple[int, int]:
    """The fraction of a TIME2, in its own signed width (negative times borrow from it)."""
    if fsp <= 0:
        return 0, pos
    width = 1 if fsp <= 2 else 2 if fsp <= 4 else 3
    return int.from_bytes(data[pos : pos + width], "big"), pos + width


def _decimal(data: memoryview, pos: int, precision: int, scale: int) -> tuple[Decimal, int]:
    """NEWDECIMAL: groups of nine digits in 4 bytes, the rest in fewer, integral part then
    fraction, big-endian; the sign is the top bit flipped, a negative value's bytes inverted.
    Read as the unscaled integer, group by group."""
    int_full, int_rest = divmod(precision - scale, 9)
    frac_full, frac_rest = divmod(scale, 9)
    size = _DIG2BYTES[int_rest] + 4 * (int_full + frac_full) + _DIG2BYTES[frac_rest]
    raw = bytearray(data[pos : pos + size])
    negative = not raw[0] & 0x80
    raw[0] ^= 0x80
    if negative:
        raw = bytearray(b ^ 0xFF for b in raw)
    from_bytes = int.from_bytes
    n = _DIG2BYTES[int_rest]
    value = from_bytes(raw[:n], "big") if n else 0
    at = n
    for _ in range(int_full + frac_full):
        value = value * 1_000_000_000 + from_bytes(raw[at : at + 4], "big")
        at += 4
    if frac_rest:
        value = value * 10**frac_rest + from_bytes(raw[at:], "big")
    return Decimal(-value if negative else value).scaleb(-scale, _EXACT), pos + size


def _length(data: memoryview, pos: int, width: int) -> tuple[int, int]:
    return int.from_bytes(data[pos : pos + width], "little"), pos + width


def read_value(c: Column, data: memoryview, pos: int) -> tuple[Any, int]:
    """The value of column ``c`` at ``pos``; returns (value, position after it)."""
    t, meta = c.type, c.meta
    if t == T.LONG:
        return int.from_bytes(data[pos : pos + 4], "little", signed=not c.unsigned), pos + 4
    if t == T.LONGLONG:
        return int.from_bytes(data[pos : pos + 8], "little", signed=not c.unsigned), pos + 8
    if t == T.TINY:
        return int.from_bytes(data[pos : pos + 1], "little", signed=not c.unsigned), pos + 1
    if t == T.SHORT:
        return int.from_bytes(data[pos : pos + 2], "little", signed=not c.unsigned), pos + 2
    if t == T.INT24:
        return int.from_bytes(data[pos : pos + 3], "little", signed=not c.unsigned), pos + 3
    if t in (T.VARCHAR, T.VAR_STRING):
        n, pos = _length(data, pos, 1 if meta < 256 else 2)
        return _text(c, bytes(data[pos : pos + n])), pos + n
    if t == T.STRING:
        real = meta >> 8
        if real == T.ENUM:
            width = meta & 0xFF
            return int.from_bytes(data[pos : pos + width], "little"), pos + width
        if real == T.SET:
            width = meta & 0xFF
            return int.from_bytes(data[pos : pos + width], "little"), pos + width
        max_len = string_max_len(meta)
        n, pos = _length(data, pos, 1 if max_len < 256 else 2)
        raw = bytes(data[pos : pos + n])
        if c.charset == 63 and n < max_len:  # BINARY(n): the binlog drops the 0x00 padding
            return raw.ljust(max_len, b"\x00"), pos + n
        return _text(c, raw), pos + n
    if t in BLOBS or t == T.GEOMETRY or t == T.JSON:
        n, pos = _length(data, pos, meta)
        raw = bytes(data[pos : pos + n])
        if t in BLOBS:
            return _text(c, raw), pos + n
        return raw, pos + n  # GEOMETRY: SRID (4 bytes LE) + WKB; JSON: MySQL's binary form
    if t == T.NEWDECIMAL:
        return _decimal(data, pos, meta >> 8, meta & 0xFF)
    if t == T.DOUBLE:
        return struct.unpack_from("<d", data, pos)[0], pos + 8
    if t == T.FLOAT:
        return struct.unpack_from("<f", data, pos)[0], pos + 4
    if t == T.DATETIME2:
        packed = int.from_bytes(data[pos : pos + 5], "big") - 0x8000000000
        micros, pos = _frac(data, pos + 5, meta)
        ymd, hms = packed >> 17, packed & 0x1FFFF
        year, month, day = (ymd >> 5) // 13, (ymd >> 5) % 13, ymd & 31
        hour, minute, second = hms >> 12, (hms >> 6) & 63, hms & 63
        return _datetime(year, month, day, hour, minute, second, micros), pos
    if t == T.TIMESTAMP2:
        seconds = int.from_bytes(data[pos : pos + 4], "big")
        micros, pos = _frac(data, pos + 4, meta)
        if seconds == 0 and micros == 0:  # below TIMESTAMP's range: the zero date
            return ZeroDate(0, 0, 0), pos
        return _EPOCH + dt.timedelta(seconds=seconds, microseconds=micros), pos
    if t == T.TIME2:
        return _time2(data, pos, meta)
    if t == T.DATE:
        v = int.from_bytes(data[pos : pos + 3], "little")
        year, month, day = v >> 9, (v >> 5) & 15, v & 31
        try:
            return dt.date(year, month, day), pos + 3
        except ValueError:
            return ZeroDate(year, month, day), pos + 3
    if t == T.YEAR:
        v = data[pos]
        return (1900 + v if v else 0), pos + 1
    if t == T.BIT:  # metadata: bits past whole bytes (high byte), whole bytes (low byte)
        nbytes = bit_bytes(meta)
        return bytes(data[pos : pos + nbytes]), pos + nbytes
    if t == T.TIMESTAMP:
        seconds = int.from_bytes(data[pos : pos + 4], "little")
        if seconds == 0:  # the zero date
            return ZeroDate(0, 0, 0), pos + 4
        return _EPOCH + dt.timedelta(seconds=seconds), pos + 4
    if t == T.DATETIME:  # the pre-5.6 layout (MySQL 5.5, mysql56_temporal_format=OFF):
        # 8 bytes, YYYYMMDDhhmmss as an integer (no fraction: MariaDB 5.3's DATETIME(n) has
        # metadata, and another layout)
        if meta:
            raise ValueError("a DATETIME(n) of MariaDB 5.3's layout is not supported yet")
        v = int.from_bytes(data[pos : pos + 8], "little")
        d, hms = divmod(v, 1_000_000)
        return _datetime(d // 10000, d // 100 % 100, d % 100, hms // 10000, hms // 100 % 100,
                         hms % 100, 0), pos + 8  # fmt: skip
    if t == T.TIME:  # the pre-5.6 layout: 3 bytes, ±HHMMSS as an integer
        if meta:
            raise ValueError("a TIME(n) of MariaDB 5.3's layout is not supported yet")
        v = int.from_bytes(data[pos : pos + 3], "little", signed=True)
        n = abs(v)
        total = ((n // 10000) * 3600 + n // 100 % 100 * 60 + n % 100) * 1_000_000
        return dt.timedelta(microseconds=-total if v < 0 else total), pos + 3
    raise ValueError(f"column type {t} is not supported in row images")


def _text(c: Column, raw: bytes) -> str | bytes:
    """Character data in its column's charset; binary columns (charset 63) stay bytes."""
    if c.charset is None or c.charset == 63:
        return raw
    return raw.decode(_encoding(c.charset))


Decoder = Callable[[memoryview, int], tuple[Any, int]]


def uncompressed(raw: bytes) -> bytes:
    """A MariaDB COMPRESSED column's value as stored (and logged): empty, or a header byte
    then either the value (header 0) or, with its high bit set, the value's length in the
    header's low 3 bits' number of big-endian bytes and its zlib stream (raw deflate when
    the header has 0x08)."""
    if not raw:
        return raw
    head = raw[0]
    if not head & 0x80:
        return raw[1:]
    n = head & 0x07
    length = int.from_bytes(raw[1 : 1 + n], "big")
    out = zlib.decompress(raw[1 + n :], -zlib.MAX_WBITS if head & 0x08 else zlib.MAX_WBITS)
    if len(out) != length:
        raise ValueError(f"a compressed value of {len(out)} bytes, its header says {length}")
    return out


@functools.lru_cache(maxsize=4096)
def decoder(c: Column) -> Decoder:
    """`read_value` for one column, its type's branch chosen once: the common types (integers,
    strings) as closures of their own, the others through `read_value`."""
    if c.compressed:  # its stored bytes, uncompressed, then as the type's
        stored = decoder(replace(c, compressed=False, charset=63))

        def compressed(data: memoryview, pos: int) -> tuple[Any, int]:
            raw, end = stored(data, pos)
            return _text(c, uncompressed(raw)), end

        return compressed
    t, signed = c.type, not c.unsigned
    width = {T.LONG: 4, T.LONGLONG: 8, T.TINY: 1, T.SHORT: 2, T.INT24: 3}.get(t)
    if width is not None:
        from_bytes = int.from_bytes

        def integer(data: memoryview, pos: int) -> tuple[Any, int]:
            end = pos + width
            return from_bytes(data[pos:end], "little", signed=signed), end

        return integer
    if t in (T.VARCHAR, T.VAR_STRING) and (c.charset is None or c.charset == 63):
        one = c.meta < 256

        def binary(data: memoryview, pos: int) -> tuple[Any, int]:
            if one:
                n = data[pos]
                pos += 1
            else:
                n = data[pos] | data[pos + 1] << 8
                pos += 2
            return bytes(data[pos : pos + n]), pos + n

        return binary
    if t in (T.VARCHAR, T.VAR_STRING) or (t == T.STRING and c.meta >> 8 not in (T.ENUM, T.SET)
                                          and c.charset not in (None, 63)):  # fmt: skip
        max_len = string_max_len(c.meta) if t == T.STRING else c.meta
        one = max_len < 256
        encoding = _encoding(c.charset) if c.charset not in (None, 63) else None

        def text(data: memoryview, pos: int) -> tuple[Any, int]:
            if one:
                n = data[pos]
                pos += 1
            else:
                n = data[pos] | data[pos + 1] << 8
                pos += 2
            raw = bytes(data[pos : pos + n])
            return (raw.decode(encoding) if encoding else raw), pos + n

        return text
    if t == T.NEWDECIMAL:
        precision, scale = c.meta >> 8, c.meta & 0xFF
        return lambda data, pos: _decimal(data, pos, precision, scale)
    if t == T.DATETIME2:
        fsp = c.meta
        from_bytes = int.from_bytes

        def datetime2(data: memoryview, pos: int) -> tuple[Any, int]:
            packed = from_bytes(data[pos : pos + 5], "big") - 0x8000000000
            micros, end = _frac(data, pos + 5, fsp)
            ymd, hms = packed >> 17, packed & 0x1FFFF
            ym = ymd >> 5
            return _datetime(ym // 13, ym % 13, ymd & 31, hms >> 12, (hms >> 6) & 63, hms & 63,
                             micros), end  # fmt: skip

        return datetime2
    return lambda data, pos: read_value(c, data, pos)


def _datetime(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int) -> Any:
    try:
        return dt.datetime(y, mo, d, h, mi, s, us)
    except ValueError:
        return ZeroDate(y, mo, d, h, mi, s, us)


def _time2(data: memoryview, pos: int, fsp: int) -> tuple[dt.timedelta, int]:
    intpart = int.from_bytes(data[pos : pos + 3], "big") - 0x800000
    frac, end = _signed_frac(data, pos + 3, fsp)
    width = end - pos - 3
    if intpart < 0 and frac:
        intpart += 1
        frac -= 1 << (8 * width)
    scale = {0: 0, 1: 10000, 2: 100, 3: 1}[width]
    micros_frac = frac * scale
    negative = intpart < 0 or (intpart == 0 and micros_frac < 0)
    hms = abs(intpart)
    hours, minutes, seconds = (hms >> 12) & 0x3FF, (hms >> 6) & 63, hms & 63
    total = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + abs(micros_frac)
    return dt.timedelta(microseconds=-total if negative else total), end
