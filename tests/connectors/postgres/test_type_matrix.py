"""Every type in the matrix, end to end, against the JSON Debezium 2.x's PostgreSQL connector
emits.

One table has a column per type; rows with typical values, edge cases and NULL are inserted
before the connector starts (the snapshot reads them with COPY text, ``op: r``) and the same
values again once it streams (pgoutput, ``op: c``). Each event's ``after`` is compared field by
field with `MATRIX`, a hand-written table of what Debezium's ``PostgresConnector`` writes through
Kafka's ``JsonConverter`` (``bytes`` as base64), and each field's Connect schema with the
schema Debezium gives the column. The sources of the expected values are Debezium's
``PostgresValueConverter`` and the expectations of its ``AbstractRecordsProducerTest`` (2.7),
for the streaming (text) decoding where its snapshot (JDBC objects) differs, as it does for BC
and infinite dates; our two paths must agree with each other all the same.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.runtime.worker import Worker
from tests.connectors.postgres.helpers import failure, source_config, start, wait_for
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration


# -- how Debezium's values look in JSON ------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def dec(unscaled: int) -> str:
    """A Connect Decimal: BigInteger.toByteArray() of the unscaled value, base64."""
    size = ((unscaled if unscaled >= 0 else ~unscaled).bit_length() + 8) // 8
    return b64(unscaled.to_bytes(size, "big", signed=True))


def vsd(scale: int, unscaled: int) -> dict[str, Any]:
    """An io.debezium.data.VariableScaleDecimal struct."""
    return {"scale": scale, "value": dec(unscaled)}


def days(y: int, m: int, d: int) -> int:
    """io.debezium.time.Date: days since the epoch (proleptic Gregorian; years 1..9999 via
    datetime, later ones shifted by whole 400-year cycles of 146097 days)."""
    cycles = (y - 1) // 400 if y > 9999 else 0
    return (dt.date(y - 400 * cycles, m, d) - dt.date(1970, 1, 1)).days + 146097 * cycles


def micros(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> int:
    """io.debezium.time.MicroTimestamp: micros since the epoch of the wall clock as if UTC."""
    return ((days(y, mo, d) * 24 + h) * 60 + mi) * 60_000_000 + s * 1_000_000 + us


def duration(y: int, mo: int, d: int, h: int, mi: int, s: float) -> int:
    """io.debezium.time.MicroDuration.durationMicros with DAYS_PER_MONTH_AVG = 365.25 / 12, in
    exact integers (Debezium computes in double and can be 1 µs off): a month is 30.4375 days,
    2 629 800 000 000 µs."""
    return (
        (y * 12 + mo) * 2_629_800_000_000 + d * 86_400_000_000
        + (h * 60 + mi) * 60_000_000 + round(s * 1_000_000)
    )  # fmt: skip


# PgStatement.DATE_POSITIVE_INFINITY / DATE_NEGATIVE_INFINITY, read as micros (documented)
TS_PINF = 9223372036825200000
TS_NINF = -9223372036832400000
# DateTimeFormat.date('infinity' / '-infinity') -> POSITIVE/NEGATIVE_INFINITY_LOCAL_DATE,
# LocalDate.parse("-5877611-06-21") / ("-5877611-06-22"): both in year -5877611 (sic)
DATE_PINF = -2147472692
DATE_NINF = -2147472691


# -- Connect schemas ------------------------------------------------------------------------------


def sch(
    type_: str, name: str | None = None, optional: bool = True, **params: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_, "optional": optional}
    if name is not None:
        out["name"] = name
        out["version"] = 1
    if params:
        out["parameters"] = {k.replace("_", "."): v for k, v in params.items()}
    return out


def arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "optional": True, "items": items}


def decimal(scale: int, precision: int | None = None) -> dict[str, Any]:
    s = sch("bytes", "org.apache.kafka.connect.data.Decimal", scale=str(scale))
    if precision is not None:
        s["parameters"]["connect.decimal.precision"] = str(precision)
    return s


VSD = {
    "type": "struct",
    "fields": [
        {"type": "int32", "optional": False, "field": "scale"},
        {"type": "bytes", "optional": False, "field": "value"},
    ],
    "optional": True,
    "name": "io.debezium.data.VariableScaleDecimal",
    "version": 1,
    "doc": "Variable scaled decimal",
}
STRING = sch("string")
JSON_S = sch("string", "io.debezium.data.Json")
ENUM_ALLOWED = "sad,ok,happy"


POINT = {
    "type": "struct",
    "fields": [
        {"type": "double", "optional": False, "field": "x"},
        {"type": "double", "optional": False, "field": "y"},
        {"type": "bytes", "optional": True, "field": "wkb"},
        {"type": "int32", "optional": True, "field": "srid"},
    ],
    "optional": True,
    "name": "io.debezium.data.geometry.Point",
    "version": 1,
    "doc": "Geometry (POINT)",
}


def point(x: float, y: float) -> dict[str, Any]:
    """io.debezium.data.geometry.Point.createValue: x, y and their little-endian WKB."""
    wkb = b"\x01" + (1).to_bytes(4, "little") + struct.pack("<d", x) + struct.pack("<d", y)
    return {"x": x, "y": y, "wkb": b64(wkb), "srid": None}


def bits(length: int) -> dict[str, Any]:
    return sch("bytes", "io.debezium.data.Bits", length=str(length))


# -- the matrix -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A column: its SQL type, four SQL literals (a fifth row is all NULL), what Debezium
    emits for each, and the Connect schema of the field."""

    name: str
    ddl: str
    literals: tuple[str, str, str, str]
    expected: tuple[Any, Any, Any, Any]
    schema: dict[str, Any]


# fmt: off
MATRIX: list[Col] = [
    Col("c_bool", "boolean", ("true", "false", "'t'", "'off'"), (True, False, True, False),
        sch("boolean")),
    Col("c_int2", "smallint", ("32767", "-32768", "0", "-1"), (32767, -32768, 0, -1),
        sch("int16")),
    Col("c_int4", "integer", ("2147483647", "-2147483648", "0", "42"),
        (2147483647, -2147483648, 0, 42), sch("int32")),
    Col("c_int8", "bigint",
        ("9223372036854775807", "-9223372036854775808", "0", "1550166368505037572"),
        (9223372036854775807, -9223372036854775808, 0, 1550166368505037572), sch("int64")),
    Col("c_oid", "oid", ("4000000000", "0", "1", "4294967295"), (4000000000, 0, 1, 4294967295),
        sch("int64")),
    Col("c_float4", "real", ("3.3", "3.4028235e38", "-0.5", "1e-10"),
        (3.3, 3.4028235e38, -0.5, 1e-10), sch("float")),
    Col("c_float8", "double precision", ("4.44", "1.7976931348623157e308", "-1e-300", "0"),
        (4.44, 1.7976931348623157e308, -1e-300, 0.0), sch("double")),
    Col("c_num", "numeric(10,2)", ("12345678.90", "-0.01", "1.005", "0"),
        (dec(1234567890), dec(-1), dec(101), dec(0)), decimal(2, 10)),
    Col("c_num0", "numeric(5,0)", ("99999", "-99999", "-128", "128"),
        (dec(99999), dec(-99999), dec(-128), dec(128)), decimal(0, 5)),
    Col("c_numv", "numeric",
        ("10.1111", "-12300", "123456789012345678901234567890.123456789000", "0.00100"),
        (vsd(4, 101111), vsd(0, -12300), vsd(9, 123456789012345678901234567890123456789),
         vsd(3, 1)), VSD),
    Col("c_money", "money", ("1234.11", "-1234.11", "92233720368547758.07", "0"),
        (dec(123411), dec(-123411), dec(9223372036854775807), dec(0)), decimal(2)),
    Col("c_char", "char(3)", ("'ab'", "''", "'a b'", "'xyz'"), ("ab ", "   ", "a b", "xyz"),
        STRING),
    Col("c_varchar", "varchar(20)", ("'žš'", "''", "E'tab\\there'", "'x'"),
        ("žš", "", "tab\there", "x"), STRING),
    Col("c_text", "text", ("'some text'", "E'line1\\nline2\\\\back\\r'", "'NULL'", "E'\\\\N'"),
        ("some text", "line1\nline2\\back\r", "NULL", "\\N"), STRING),
    Col("c_qchar", '"char"', ("'x'", "E'\\\\'", "'Z'", "' '"), ("x", "\\", "Z", " "), STRING),
    Col("c_name", "name", ("'somename'", "'a b'", "'ž'", "'x'"), ("somename", "a b", "ž", "x"),
        STRING),
    Col("c_bytea", "bytea", ("'\\x000102ff'", "''", "'\\x5c0a09'", "'\\xdeadbeef'"),
        (b64(b"\x00\x01\x02\xff"), "", b64(b"\\\n\t"), b64(b"\xde\xad\xbe\xef")), sch("bytes")),
    Col("c_uuid", "uuid",
        ("'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
         "'00000000-0000-0000-0000-000000000000'", "'{f0eebc999c0b4ef8bb6d6bb9bd380a11}'"),
        ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
         "00000000-0000-0000-0000-000000000000", "f0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        sch("string", "io.debezium.data.Uuid")),
    Col("c_json", "json",
        ("'{\"bar\": \"baz\"}'", "'[1, 2.50, \"ž\\n\\t\"]'", "'null'", "'{ }'"),
        ('{"bar": "baz"}', '[1, 2.50, "ž\\n\\t"]', "null", "{ }"), JSON_S),
    Col("c_jsonb", "jsonb",
        ("'{\"b\": 1, \"a\": [1, 2.50]}'", "'\"ž\\n\"'", "'null'", "'{}'"),
        ('{"a": [1, 2.50], "b": 1}', '"ž\\n"', "null", "{}"), JSON_S),
    Col("c_xml", "xml", ("'<foo>bar</foo><foo>bar</foo>'", "'<a x=\"1\">&amp;</a>'", "''",
                         "'text'"),
        ("<foo>bar</foo><foo>bar</foo>", '<a x="1">&amp;</a>', "", "text"),
        sch("string", "io.debezium.data.Xml")),
    Col("c_date", "date", ("'2016-11-04'", "'10000-01-01'", "'infinity'", "'-infinity'"),
        (days(2016, 11, 4), days(10000, 1, 1), DATE_PINF, DATE_NINF),
        sch("int32", "io.debezium.time.Date")),
    Col("c_date_bc", "date", ("'1970-01-01'", "'1969-12-31'", "'0001-01-01'", "'0044-03-15 BC'"),
        # 44 BC is astronomical year -43: 2 * 400-year cycles back from 757-03-15
        (0, -1, days(1, 1, 1), days(757, 3, 15) - 2 * 146097),
        sch("int32", "io.debezium.time.Date")),
    Col("c_time", "time", ("'13:51:30'", "'24:00:00'", "'00:00:00.000001'", "'23:59:59.999999'"),
        (49890000000, 86400000000, 1, 86399999999), sch("int64", "io.debezium.time.MicroTime")),
    Col("c_time3", "time(3)", ("'13:51:30.123'", "'00:00:00'", "'23:59:59.999'", "'12:00:00.5'"),
        (49890123, 0, 86399999, 43200500), sch("int32", "io.debezium.time.Time")),
    Col("c_timetz", "timetz",
        ("'13:51:30.123789+02'", "'00:00:00+14'", "'23:59:59.5-03:30'", "'12:00:00+00'"),
        ("11:51:30.123789Z", "10:00:00Z", "03:29:59.5Z", "12:00:00Z"),
        sch("string", "io.debezium.time.ZonedTime")),
    Col("c_ts", "timestamp",
        ("'2016-11-04 13:51:30.123456'", "'21016-11-04 13:51:30.123457'", "'infinity'",
         "'-infinity'"),
        (micros(2016, 11, 4, 13, 51, 30, 123456), micros(21016, 11, 4, 13, 51, 30, 123457),
         TS_PINF, TS_NINF), sch("int64", "io.debezium.time.MicroTimestamp")),
    Col("c_ts3", "timestamp(3)",
        ("'2016-11-04 13:51:30.123'", "'1936-10-25 22:10:12.608'", "'infinity'",
         "'1970-01-01 00:00:00'"),
        (micros(2016, 11, 4, 13, 51, 30, 123000) // 1000,
         micros(1936, 10, 25, 22, 10, 12, 608000) // 1000, TS_PINF // 1000, 0),
        sch("int64", "io.debezium.time.Timestamp")),
    Col("c_tstz", "timestamptz",
        ("'2016-11-04 13:51:30.123456+02'", "'2016-11-04 13:51:30+02'", "'infinity'",
         "'21016-11-04 13:51:30.123456+07'"),
        ("2016-11-04T11:51:30.123456Z", "2016-11-04T11:51:30.000000Z", "infinity",
         "+21016-11-04T06:51:30.123456Z"), sch("string", "io.debezium.time.ZonedTimestamp")),
    Col("c_tstz3", "timestamptz(3)",
        ("'2016-11-04 13:51:30.1+00'", "'-infinity'", "'1999-12-31 23:59:59.999-01'",
         "'2000-01-01 00:00:00+00'"),
        ("2016-11-04T13:51:30.100Z", "-infinity", "2000-01-01T00:59:59.999Z",
         "2000-01-01T00:00:00.000Z"), sch("string", "io.debezium.time.ZonedTimestamp")),
    Col("c_tstz0", "timestamptz(0)",
        ("'2016-11-04 13:51:30+02'", "'1970-01-01 00:00:00+00'", "'1969-12-31 23:59:59-00:30'",
         "'2000-02-29 12:00:00+05:45'"),
        ("2016-11-04T11:51:30Z", "1970-01-01T00:00:00Z", "1970-01-01T00:29:59Z",
         "2000-02-29T06:15:00Z"), sch("string", "io.debezium.time.ZonedTimestamp")),
    Col("c_interval", "interval",
        ("'1 year 2 months 3 days 04:05:06.78'", "'-1 days -02:03:04.5'", "'0'", "'1 mon'"),
        (duration(1, 2, 3, 4, 5, 6.78), duration(0, 0, -1, -2, -3, -4.5), 0,
         duration(0, 1, 0, 0, 0, 0)), sch("int64", "io.debezium.time.MicroDuration")),
    Col("c_bit1", "bit(1)", ("B'1'", "B'0'", "B'1'", "B'0'"), (True, False, True, False),
        sch("boolean")),
    Col("c_bit", "bit(10)", ("B'1000000001'", "B'0000000000'", "B'1111111111'", "B'0000000011'"),
        (b64(b"\x01\x02"), "", b64(b"\xff\x03"), b64(b"\x03")), bits(10)),
    Col("c_varbit", "varbit", ("B'101'", "B''", "B'111011010001000110000001000000001'", "B'0'"),
        (b64(b"\x05"), "", b64(bytes([1, 2, 35, 0xDA, 1])), ""), bits(2147483647)),
    # (Debezium gives it bit(16)'s schema; hub names the column type as Debezium's
    # column.propagate.source.type does, so that sinks do not widen its values to 16 bits)
    Col("c_varbit16", "varbit(16)", ("B'1000'", "B''", "B'0001'", "B'1111111111111111'"),
        (b64(b"\x08"), "", b64(b"\x01"), b64(b"\xff\xff")),
        {**bits(16), "parameters": {"length": "16", "__debezium.source.column.type": "VARBIT"}}),
    Col("c_inet", "inet", ("'192.168.2.0/12'", "'::1'", "'10.0.0.1/32'", "'2001:db8::1/64'"),
        ("192.168.2.0/12", "::1", "10.0.0.1", "2001:db8::1/64"), STRING),
    Col("c_cidr", "cidr",
        ("'192.168.100.128/25'", "'10'", "'2001:db8::/32'", "'0.0.0.0/0'"),
        ("192.168.100.128/25", "10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0"), STRING),
    Col("c_macaddr", "macaddr",
        ("'08:00:2b:01:02:03'", "'08-00-2B-01-02-03'", "'08002b:010203'", "'ff:ff:ff:ff:ff:ff'"),
        ("08:00:2b:01:02:03",) * 3 + ("ff:ff:ff:ff:ff:ff",), STRING),
    Col("c_macaddr8", "macaddr8",
        ("'08:00:2b:01:02:03:04:05'", "'08:00:2b:01:02:03'", "'0800.2b01.0203.0405'",
         "'00:00:00:00:00:00:00:00'"),
        ("08:00:2b:01:02:03:04:05", "08:00:2b:ff:fe:01:02:03", "08:00:2b:01:02:03:04:05",
         "00:00:00:00:00:00:00:00"), STRING),
    Col("c_int4range", "int4range", ("'[1,6)'", "'(1,6]'", "'empty'", "'[,5)'"),
        ("[1,6)", "[2,7)", "empty", "(,5)"), STRING),
    Col("c_numrange", "numrange", ("'[5.3,6.3)'", "'(,)'", "'[1.50,2]'", "'empty'"),
        ("[5.3,6.3)", "(,)", "[1.50,2]", "empty"), STRING),
    Col("c_daterange", "daterange", ("'[2019-03-31,infinity)'", "'[2019-03-31,2019-04-30]'",
                                     "'empty'", "'(,2019-01-01)'"),
        ("[2019-03-31,infinity)", "[2019-03-31,2019-05-01)", "empty", "(,2019-01-01)"), STRING),
    Col("c_enum", "mood", ("'sad'", "'happy'", "'ok'", "'sad'"), ("sad", "happy", "ok", "sad"),
        sch("string", "io.debezium.data.Enum", allowed=ENUM_ALLOWED)),
    Col("c_dom_num", "posnum", ("'1.5'", "'9999.99'", "'0.01'", "'10'"),
        (dec(150), dec(999999), dec(1), dec(1000)), decimal(2, 6)),
    Col("c_dom_text", "short_text", ("'abc'", "''", "'ž'", "'0123456789'"),
        ("abc", "", "ž", "0123456789"), STRING),
    Col("c_dom_ts", "stamp3", ("'2016-11-04 13:51:30.1234'", "'1970-01-01'", "'infinity'",
                               "'2000-01-01 00:00:00.001'"),
        (micros(2016, 11, 4, 13, 51, 30, 123000) // 1000, 0, TS_PINF // 1000,
         micros(2000, 1, 1, 0, 0, 0, 1000) // 1000), sch("int64", "io.debezium.time.Timestamp")),
    Col("c_hstore", "hstore",
        ("'\"key\" => \"val\"'", "''", "'\"k\"=>NULL'", r"""'"ž"=>"a\"b\\c"'"""),
        ('{"key":"val"}', "{}", '{"k":null}', '{"ž":"a\\"b\\\\c"}'), JSON_S),
    Col("c_hstore_multi", "hstore",
        ("'\"key1\" => \"val1\",\"key2\" => \"val2\",\"key3\" => \"val3\"'",
         "'\"key4\" => \"val4\",\"key5\" => NULL'",
         "'\"key_#1\" => \"val 1\",\"key 2\" =>\" ##123 78\"'",
         "'\"a\"=>\"1\",\"bb\"=>\"2\",\"ccc\"=>\"3\"'"),
        # java.util.HashMap's iteration order, as HStoreConverter.fromString fills one
        ('{"key1":"val1","key2":"val2","key3":"val3"}', '{"key5":null,"key4":"val4"}',
         '{"key_#1":"val 1","key 2":" ##123 78"}', '{"bb":"2","a":"1","ccc":"3"}'), JSON_S),
    Col("c_point", "point", ("'(1,1)'", "'(-1.5,1e300)'", "'(0,-0)'", "'( 2 , 3 )'"),
        (point(1.0, 1.0), point(-1.5, 1e300), point(0.0, -0.0), point(2.0, 3.0)), POINT),
    Col("c_tstz_bc", "timestamptz",
        ("'0044-03-15 12:00:00+00 BC'", "'0001-01-01 00:00:00+00'",
         "'9999-12-31 23:59:59.999999+00'", "'1969-12-31 23:59:59.5+00'"),
        ("-0043-03-15T12:00:00.000000Z", "0001-01-01T00:00:00.000000Z",
         "9999-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.500000Z"),
        sch("string", "io.debezium.time.ZonedTimestamp")),
    # edges: intervals exact to the microsecond up to int64 (past it the connector stops, see
    # test_values_the_events_cannot_carry_stop_the_connector), bit(8) zero (Debezium's
    # Bits drop the width: the sinks restore it from the schema's length), infinity and BC
    # array items, multidimensional arrays (nested under the one-dimensional schema)
    Col("c_interval_edge", "interval",
        ("'2562047788:00:54.775807'", "'-2562047788:00:54.775807'",
         "'100000 days 00:00:00.000001'", "'-35 years -00:00:00.000007'"),
        (2**63 - 1, -(2**63) + 1, 100_000 * 86_400_000_000 + 1,
         -35 * 12 * 2_629_800_000_000 - 7), sch("int64", "io.debezium.time.MicroDuration")),
    Col("c_bit8", "bit(8)", ("B'00000000'", "B'10000000'", "B'00000001'", "B'11111111'"),
        ("", b64(b"\x80"), b64(b"\x01"), b64(b"\xff")), bits(8)),
    Col("c_datearr_edge", "date[]",
        ("'{infinity,-infinity}'", "'{\"0044-03-15 BC\"}'", "'{5874897-12-31}'", "'{NULL}'"),
        ([DATE_PINF, DATE_NINF], [days(757, 3, 15) - 2 * 146097], [days(5874897, 12, 31)],
         [None]),
        arr(sch("int32", "io.debezium.time.Date"))),
    Col("c_tsarr_edge", "timestamp[]",
        ("'{infinity,-infinity}'", "'{\"0044-03-15 12:00:00 BC\"}'", "'{}'", "'{NULL}'"),
        ([TS_PINF, TS_NINF], [micros(757, 3, 15, 12) - 2 * 146097 * 86_400_000_000], [], [None]),
        arr(sch("int64", "io.debezium.time.MicroTimestamp"))),
    Col("c_int4arr2", "int[]", ("'{{1,2},{3,4}}'", "'{{NULL}}'", "'{{{1}}}'", "'{}'"),
        ([[1, 2], [3, 4]], [[None]], [[[1]]], []), arr(sch("int32"))),
    # arrays
    Col("c_int4arr", "int[]", ("'{1,2,3}'", "'{}'", "'{1,NULL,3}'", "'{-2147483648}'"),
        ([1, 2, 3], [], [1, None, 3], [-2147483648]), arr(sch("int32"))),
    Col("c_int2arr", "smallint[]", ("'{1,2}'", "'{}'", "'{NULL}'", "'{-32768}'"),
        ([1, 2], [], [None], [-32768]), arr(sch("int16"))),
    Col("c_int8arr", "bigint[]", ("'{1550166368505037572}'", "'{}'", "'{0,NULL}'", "'{-1}'"),
        ([1550166368505037572], [], [0, None], [-1]), arr(sch("int64"))),
    Col("c_oidarr", "oid[]", ("'{3,4000000000}'", "'{}'", "'{0}'", "'{1}'"),
        ([3, 4000000000], [], [0], [1]), arr(sch("int64"))),
    Col("c_boolarr", "boolean[]", ("'{t,f}'", "'{}'", "'{NULL,true}'", "'{false}'"),
        ([True, False], [], [None, True], [False]), arr(sch("boolean"))),
    Col("c_float4arr", "real[]", ("'{3.3,-0.5}'", "'{}'", "'{NULL}'", "'{1}'"),
        ([3.3, -0.5], [], [None], [1.0]), arr(sch("float"))),
    Col("c_float8arr", "float8[]", ("'{4.44,-1e-300}'", "'{}'", "'{NULL}'", "'{1}'"),
        ([4.44, -1e-300], [], [None], [1.0]), arr(sch("double"))),
    Col("c_textarr", "text[]",
        ("'{\"one\",\"two\",\"three\"}'", "'{}'", r"""'{"a,b","c\"d","NULL",NULL}'""",
         r"""'{""," x ","e\\f"}'"""),
        (["one", "two", "three"], [], ["a,b", 'c"d', "NULL", None], ["", " x ", "e\\f"]),
        arr(STRING)),
    Col("c_varchararr", "varchar(10)[]", ("'{vcone,vctwo}'", "'{}'", "'{ž}'", "'{NULL}'"),
        (["vcone", "vctwo"], [], ["ž"], [None]), arr(STRING)),
    Col("c_bpchararr", "char(5)[]", ("'{cone,ctwo}'", "'{}'", "'{\"a\"}'", "'{NULL}'"),
        (["cone ", "ctwo "], [], ["a    "], [None]), arr(STRING)),
    Col("c_numarr", "numeric(10,2)[]", ("'{1.2,3.4,5.6}'", "'{}'", "'{NULL,-0.01}'", "'{0}'"),
        ([dec(120), dec(340), dec(560)], [], [None, dec(-1)], [dec(0)]), arr(decimal(2, 10))),
    Col("c_varnumarr", "numeric[]", ("'{1.1,2.22,3.333}'", "'{}'", "'{NULL,-12300}'",
                                     "'{0.00100}'"),
        ([vsd(1, 11), vsd(2, 222), vsd(3, 3333)], [], [None, vsd(0, -12300)], [vsd(3, 1)]),
        arr(VSD)),
    Col("c_datearr", "date[]", ("'{2016-11-04,2016-11-05}'", "'{}'", "'{NULL}'", "'{1970-01-01}'"),
        ([days(2016, 11, 4), days(2016, 11, 5)], [], [None], [0]),
        arr(sch("int32", "io.debezium.time.Date"))),
    Col("c_timearr", "time[]", ("'{00:01:02,01:02:03}'", "'{}'", "'{NULL}'", "'{00:00:00.5}'"),
        ([62000000, 3723000000], [], [None], [500000]),
        arr(sch("int64", "io.debezium.time.MicroTime"))),
    Col("c_timetzarr", "timetz[]",
        ("'{13:51:02+02,14:51:03+02}'", "'{}'", "'{NULL}'", "'{00:00:00.5+00}'"),
        (["11:51:02Z", "12:51:03Z"], [], [None], ["00:00:00.5Z"]),
        arr(sch("string", "io.debezium.time.ZonedTime"))),
    Col("c_tsarr", "timestamp[]",
        ("'{\"2020-04-01 00:01:02\",\"2020-04-01 01:02:03\"}'", "'{}'", "'{NULL}'",
         "'{\"1970-01-01 00:00:00.000001\"}'"),
        ([micros(2020, 4, 1, 0, 1, 2), micros(2020, 4, 1, 1, 2, 3)], [], [None], [1]),
        arr(sch("int64", "io.debezium.time.MicroTimestamp"))),
    Col("c_tstzarr", "timestamptz[]",
        ("'{\"2020-04-01 13:51:02+02\",\"2020-04-01 14:51:03+02\"}'", "'{}'", "'{NULL}'",
         "'{\"2020-04-01 00:00:00.5+00\"}'"),
        (["2020-04-01T11:51:02.000000Z", "2020-04-01T12:51:03.000000Z"], [], [None],
         ["2020-04-01T00:00:00.500000Z"]),
        arr(sch("string", "io.debezium.time.ZonedTimestamp"))),
    Col("c_uuidarr", "uuid[]",
        ("'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,f0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'",
         "'{}'", "'{NULL}'", "'{00000000-0000-0000-0000-000000000000}'"),
        (["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "f0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"], [],
         [None], ["00000000-0000-0000-0000-000000000000"]),
        arr(sch("string", "io.debezium.data.Uuid"))),
    Col("c_jsonbarr", "jsonb[]",
        ("array['{\"bar\": \"baz\"}','{\"foo\": \"qux\"}']::jsonb[]", "'{}'", "'{NULL}'",
         "array['[1, \"a,b\"]']::jsonb[]"),
        (['{"bar": "baz"}', '{"foo": "qux"}'], [], [None], ['[1, "a,b"]']), arr(JSON_S)),
    Col("c_jsonarr", "json[]",
        ("array['{\"bar\": \"baz\"}','{\"foo\": \"qux\"}']::json[]", "'{}'", "'{NULL}'",
         "array['{ }']::json[]"),
        (['{"bar": "baz"}', '{"foo": "qux"}'], [], [None], ["{ }"]), arr(JSON_S)),
    Col("c_byteaarr", "bytea[]",
        ("array['\\x000102'::bytea, '\\x030405'::bytea]", "'{}'", "'{NULL}'",
         "array[''::bytea]"),
        ([b64(b"\x00\x01\x02"), b64(b"\x03\x04\x05")], [], [None], [""]), arr(sch("bytes"))),
    Col("c_inetarr", "inet[]",
        ("'{192.168.2.0/12,192.168.1.1,192.168.0.2/1}'", "'{}'", "'{NULL}'", "'{::1}'"),
        (["192.168.2.0/12", "192.168.1.1", "192.168.0.2/1"], [], [None], ["::1"]), arr(STRING)),
    Col("c_cidrarr", "cidr[]", ("'{192.168.100.128/25,192.168.0.0/25}'", "'{}'", "'{NULL}'",
                                "'{10.0.0.0/8}'"),
        (["192.168.100.128/25", "192.168.0.0/25"], [], [None], ["10.0.0.0/8"]), arr(STRING)),
    Col("c_macaddrarr", "macaddr[]",
        ("'{08:00:2b:01:02:03,08-00-2b-01-02-03}'", "'{}'", "'{NULL}'", "'{08002b:010203}'"),
        (["08:00:2b:01:02:03", "08:00:2b:01:02:03"], [], [None], ["08:00:2b:01:02:03"]),
        arr(STRING)),
    Col("c_int4rangearr", "int4range[]", ("'{\"[1,6)\",\"[1,4)\"}'", "'{}'", "'{NULL}'",
                                          "'{empty}'"),
        (["[1,6)", "[1,4)"], [], [None], ["empty"]), arr(STRING)),
    Col("c_rangearrs", "daterange[]", ("'{\"[2019-03-31,infinity)\",\"[2019-03-31,2019-04-30)\"}'",
                                       "'{}'", "'{NULL,empty}'", "'{\"(,)\"}'"),
        (["[2019-03-31,infinity)", "[2019-03-31,2019-04-30)"], [], [None, "empty"], ["(,)"]),
        arr(STRING)),
    Col("c_enumarr", "mood[]", ("'{sad,ok}'", "'{}'", "'{happy}'", "'{ok,happy,sad}'"),
        (["sad", "ok"], [], ["happy"], ["ok", "happy", "sad"]),
        # SchemaBuilder.array(Enum.builder(...)): the element schema is not optional
        arr(sch("string", "io.debezium.data.Enum", optional=False, allowed=ENUM_ALLOWED))),
]

# fmt: on

SETUP = [
    "CREATE EXTENSION hstore",
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    "CREATE DOMAIN posnum AS numeric(6,2) CHECK (VALUE > 0)",
    "CREATE DOMAIN short_text AS varchar(10)",
    "CREATE DOMAIN stamp3 AS timestamp(3)",
]


def create(conn: psycopg.Connection[Any], table: str, cols: list[Col]) -> None:
    body = ", ".join(f"{c.name} {c.ddl}" for c in cols)
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, {body})")


def insert(conn: psycopg.Connection[Any], table: str, cols: list[Col], first_id: int) -> None:
    """Rows ``first_id + 0..3`` with each column's literals, ``first_id + 4`` all NULL."""
    names = ", ".join(c.name for c in cols)
    for i in range(4):
        values = ", ".join(c.literals[i] for c in cols)
        conn.execute(f"INSERT INTO {table} (id, {names}) VALUES ({first_id + i}, {values})")
    conn.execute(f"INSERT INTO {table} (id) VALUES ({first_id + 4})")


def raw_events(worker: Worker, topic: str) -> list[dict[str, Any]]:
    """The JSON documents ({schema, payload}) of the topic's non-tombstone records."""
    log = worker.log
    if not log.has_topic(topic):
        return []
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        recs, offset = log.partition(topic, 0).records(offset)
        if not recs:
            return out
        out += [json.loads(r.value) for r in recs if r.value]


def same(got: Any, want: Any) -> bool:
    """Equal as JSON values; NaN equals NaN, floats compare exactly, bool is not an int."""
    if isinstance(want, float) and isinstance(got, float):
        return (math.isnan(want) and math.isnan(got)) or got == want
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    return type(got) is type(want) and got == want


def capture(
    pg_server: PgServer, pg_db: str, tmp_path: Path, table: str, cols: list[Col], **config: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Snapshot rows 1..5 and stream rows 11..15 of ``table``; the events of each, by id."""
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        create(conn, table, cols)
        insert(conn, table, cols, 1)
        worker = start(tmp_path, source_config(pg_server, pg_db, **config))
        topic = f"app.public.{table}"
        try:
            wait_for(lambda: len(raw_events(worker, topic)) >= 5 or failure(worker),
                     what="the snapshot")  # fmt: skip
            assert failure(worker) is None, failure(worker)
            insert(conn, table, cols, 11)
            wait_for(lambda: len(raw_events(worker, topic)) >= 10 or failure(worker),
                     what="the streamed rows")  # fmt: skip
            assert failure(worker) is None, failure(worker)
            evs = raw_events(worker, topic)
        finally:
            worker.stop()
    assert [e["payload"]["op"] for e in evs] == ["r"] * 5 + ["c"] * 5
    return evs[:5], evs[5:]


def check(evs: list[dict[str, Any]], cols: list[Col], first_id: int, path: str) -> list[str]:
    """Every field of every event against the matrix; the differences, as readable lines."""
    problems: list[str] = []
    for i, ev in enumerate(evs):
        after = ev["payload"]["after"]
        assert after["id"] == first_id + i
        for c in cols:
            want = c.expected[i] if i < 4 else None
            if c.name not in after:
                problems.append(f"{path} {c.name} row {i}: missing")
            elif not same(after[c.name], want):
                lit = c.literals[i] if i < 4 else "NULL"
                problems.append(f"{path} {c.name} {lit}: got {after[c.name]!r}, want {want!r}")
    fields = {f["field"]: f for f in evs[0]["schema"]["fields"][1]["fields"]}
    assert fields.pop("id") == {"type": "int32", "optional": False, "field": "id"}
    for c in cols:
        got = {k: v for k, v in fields.get(c.name, {}).items() if k != "field"}
        if got != c.schema:
            problems.append(f"{path} schema {c.name}: got {got}, want {c.schema}")
    return problems


def test_every_type_snapshot_and_streaming_as_debezium(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        for stmt in SETUP:
            conn.execute(stmt)
    snap, stream = capture(pg_server, pg_db, tmp_path, "matrix", MATRIX)
    problems = check(snap, MATRIX, 1, "snapshot") + check(stream, MATRIX, 11, "streaming")
    # the two paths must agree with each other, whatever either gets wrong
    for s, c in zip(snap, stream, strict=True):
        a, b = dict(s["payload"]["after"]), dict(c["payload"]["after"])
        a.pop("id"), b.pop("id")
        for name in a:
            if not same(a[name], b.get(name)):
                problems.append(
                    f"paths differ on {name}: snapshot {a[name]!r}, streaming {b.get(name)!r}"
                )
    assert snap[0]["schema"] == stream[0]["schema"]
    assert not problems, "\n".join(problems)


# -- non-default handling modes ------------------------------------------------------------------

MODES_A = {
    "decimal.handling.mode": "string",
    "time.precision.mode": "connect",
    "binary.handling.mode": "hex",
    "interval.handling.mode": "string",
}
# fmt: off
MATRIX_A: list[Col] = [
    Col("c_num", "numeric(10,2)", ("'1.5'", "'-0.01'", "'NaN'", "'12345678.90'"),
        ("1.50", "-0.01", "NAN", "12345678.90"), STRING),
    Col("c_numv", "numeric", ("'10.1111'", "'Infinity'", "'-Infinity'", "'0.00100'"),
        ("10.1111", "POSITIVE_INFINITY", "NEGATIVE_INFINITY", "0.00100"), STRING),
    Col("c_money", "money", ("1234.10", "-1234.11", "0", "92233720368547758.07"),
        ("1234.10", "-1234.11", "0.00", "92233720368547758.07"), STRING),
    Col("c_bytea", "bytea", ("'\\x000102ff'", "''", "'\\xDEADBEEF'", "'\\x5c'"),
        ("000102ff", "", "deadbeef", "5c"), STRING),
    Col("c_byteaarr", "bytea[]", ("array['\\x000102'::bytea, '\\x030405'::bytea]", "'{}'",
                                  "'{NULL}'", "array['\\xff'::bytea]"),
        (["000102", "030405"], [], [None], ["ff"]), arr(STRING)),
    Col("c_interval", "interval",
        ("'1 year 2 months 3 days 04:05:06.78'", "'-1 days -02:03:04.5'", "'0'", "'10 seconds'"),
        ("P1Y2M3DT4H5M6.78S", "P0Y0M-1DT-2H-3M-4.5S", "P0Y0M0DT0H0M0S", "P0Y0M0DT0H0M10S"),
        sch("string", "io.debezium.time.Interval")),
    Col("c_date", "date", ("'2016-11-04'", "'1969-12-31'", "'1970-01-01'", "'10000-01-01'"),
        (days(2016, 11, 4), -1, 0, days(10000, 1, 1)),
        sch("int32", "org.apache.kafka.connect.data.Date")),
    Col("c_time", "time", ("'13:51:30.123456'", "'00:00:00'", "'23:59:59.999'", "'12:00:00'"),
        (49890123, 0, 86399999, 43200000), sch("int32", "org.apache.kafka.connect.data.Time")),
    Col("c_ts", "timestamp",
        ("'2016-11-04 13:51:30.123456'", "'1936-10-25 22:10:12.608'", "'1970-01-01'",
         "'2000-01-01 00:00:00.0009'"),
        (micros(2016, 11, 4, 13, 51, 30, 123000) // 1000,
         micros(1936, 10, 25, 22, 10, 12, 608000) // 1000, 0, micros(2000, 1, 1) // 1000),
        sch("int64", "org.apache.kafka.connect.data.Timestamp")),
    Col("c_tstz", "timestamptz", ("'2016-11-04 13:51:30.123456+02'", "'2016-11-04 13:51:30+02'",
                                  "'-infinity'", "'1970-01-01 00:00:00.5+00'"),
        ("2016-11-04T11:51:30.123456Z", "2016-11-04T11:51:30.000000Z", "-infinity",
         "1970-01-01T00:00:00.500000Z"), sch("string", "io.debezium.time.ZonedTimestamp")),
]

MODES_B = {"decimal.handling.mode": "double", "time.precision.mode": "adaptive_time_microseconds"}
MATRIX_B: list[Col] = [
    Col("c_num", "numeric(10,2)", ("'1.5'", "'-0.01'", "'12345678.90'", "'0'"),
        (1.5, -0.01, 12345678.9, 0.0), sch("double")),
    Col("c_numv", "numeric", ("'10.1111'", "'-12300'", "'0.00100'", "'1e-20'"),
        (10.1111, -12300.0, 0.001, 1e-20), sch("double")),
    Col("c_money", "money", ("1234.11", "-1234.11", "0", "0.01"), (1234.11, -1234.11, 0.0, 0.01),
        sch("double")),
    # adaptive_time_microseconds: every time is MicroTime, timestamps stay adaptive
    Col("c_time3", "time(3)", ("'13:51:30.123'", "'00:00:00'", "'23:59:59.999'", "'12:00:00.5'"),
        (49890123000, 0, 86399999000, 43200500000), sch("int64", "io.debezium.time.MicroTime")),
    Col("c_ts3", "timestamp(3)", ("'2016-11-04 13:51:30.123'", "'1970-01-01'", "'infinity'",
                                  "'-infinity'"),
        (micros(2016, 11, 4, 13, 51, 30, 123000) // 1000, 0, TS_PINF // 1000, TS_NINF // 1000),
        sch("int64", "io.debezium.time.Timestamp")),
]


# fmt: on


@pytest.mark.parametrize(
    ("modes", "cols"),
    [(MODES_A, MATRIX_A), (MODES_B, MATRIX_B)],
    ids=["string-connect-hex", "double"],
)
def test_non_default_handling_modes(
    pg_server: PgServer, pg_db: str, tmp_path: Path, modes: dict[str, str], cols: list[Col]
) -> None:
    snap, stream = capture(pg_server, pg_db, tmp_path, "modes", cols, **modes)
    problems = check(snap, cols, 1, "snapshot") + check(stream, cols, 11, "streaming")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("ddl", "literal", "streamed"),
    [("numeric(10,2)", "'NaN'", False), ("numeric", "'Infinity'", True),
     ("numeric(5,1)[]", "'{1.5,NaN}'", True)],
)  # fmt: skip
def test_numeric_nan_in_precise_mode_stops_the_connector(
    pg_server: PgServer, pg_db: str, tmp_path: Path, ddl: str, literal: str, streamed: bool
) -> None:
    """SpecialValueDecimal.fromLogical throws for NaN/Infinity with decimal.handling.mode=precise
    ("set decimal handling mode to 'string'"): no event with a silent null, and the message
    names the table and the column."""
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE nan (id int PRIMARY KEY, n {ddl})")
        if not streamed:
            conn.execute(f"INSERT INTO nan VALUES (1, {literal})")
        worker = start(tmp_path, source_config(pg_server, pg_db))
        try:
            if streamed:
                wait_for(lambda: worker.status()["pg"][0].state == "RUNNING", what="running")
                time.sleep(1)  # the snapshot (of nothing) is done, the stream reads
                conn.execute(f"INSERT INTO nan VALUES (1, {literal})")
            trace = wait_for(lambda: failure(worker), what="the failure")
            special = literal.strip("'{}").split(",")[-1]
            assert f"numeric value '{special}'" in trace, trace
            assert "decimal.handling.mode=string" in trace
            assert "table public.nan, column n:" in trace
            assert raw_events(worker, "app.public.nan") == []
        finally:
            worker.stop()


@pytest.mark.parametrize(
    ("ddl", "literal", "streamed", "words"),
    [("timestamp", "'294247-01-10 04:00:25.2'", False, "Debezium's marker for 'infinity'"),
     ("timestamp(3)", "'294247-01-10 04:00:25.2'", True, "Debezium's marker for 'infinity'"),
     ("timestamp[]", "'{2000-01-01,\"294247-01-10 04:00:25.2\"}'", True,
      "Debezium's marker for 'infinity'"),
     ("interval", "'1000000 years'", False, "interval.handling.mode=string"),
     ("interval", "'-178000000 years'", True, "interval.handling.mode=string")],
)  # fmt: skip
def test_values_the_events_cannot_carry_stop_the_connector(
    pg_server: PgServer,
    pg_db: str,
    tmp_path: Path,
    ddl: str,
    literal: str,
    streamed: bool,
    words: str,
) -> None:
    """A real timestamp equal to Debezium's +infinity marker (it would land as infinity) and
    an interval past int64 microseconds (MicroDuration cannot hold it; Debezium clamps it to a
    different value): no event, and the message names the table and the column, and what to
    do."""
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE odd (id int PRIMARY KEY, v {ddl})")
        if not streamed:
            conn.execute(f"INSERT INTO odd VALUES (1, {literal})")
        worker = start(tmp_path, source_config(pg_server, pg_db))
        try:
            if streamed:
                wait_for(lambda: worker.status()["pg"][0].state == "RUNNING", what="running")
                time.sleep(1)  # the snapshot (of nothing) is done, the stream reads
                conn.execute(f"INSERT INTO odd VALUES (1, {literal})")
            trace = wait_for(lambda: failure(worker), what="the failure")
            assert "table public.odd, column v:" in trace, trace
            assert words in trace, trace
            assert raw_events(worker, "app.public.odd") == []
        finally:
            worker.stop()


# -- known gaps outside connectors/source/postgres/types.py --------------------------------------


def test_float_specials_reach_json(pg_server: PgServer, pg_db: str, tmp_path: Path) -> None:
    cols = [
        Col("c_float4", "real", ("'NaN'", "'Infinity'", "'-Infinity'", "0"),
            ("NaN", "Infinity", "-Infinity", 0.0), sch("float")),
        Col("c_float8", "float8", ("'NaN'", "'Infinity'", "'-Infinity'", "0"),
            ("NaN", "Infinity", "-Infinity", 0.0), sch("double")),
        Col("c_numv", "numeric", ("'NaN'", "'Infinity'", "'-Infinity'", "0"),
            ("NaN", "Infinity", "-Infinity", 0.0), sch("double")),
    ]  # fmt: skip
    snap, stream = capture(pg_server, pg_db, tmp_path, "floats", cols,
                           **{"decimal.handling.mode": "double"})  # fmt: skip
    problems = check(snap, cols, 1, "snapshot") + check(stream, cols, 11, "streaming")
    assert not problems, "\n".join(problems)


def test_columns_debezium_does_not_capture_are_left_out(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    # PostgresValueConverter.schemaBuilder returns null for these arrays ("still need to be
    # implemented") and for types the JDBC layer calls OTHER; TableSchemaBuilder then skips
    # the column ("Unexpected JDBC type ... will be ignored")
    dropped = {
        "c_intervalarr": ("interval[]", "'{1 day}'"),
        "c_moneyarr": ("money[]", "'{1.50}'"),
        "c_namearr": ("name[]", "'{a}'"),
        "c_xmlarr": ("xml[]", "array['<a/>'::xml]"),
        "c_varbitarr": ("varbit[]", "'{101}'"),
        "c_pointarr": ("point[]", "'{\"(1,1)\"}'"),
        "c_box": ("box", "'((0,0),(1,1))'"),
        "c_circle": ("circle", "'<(1,1),1>'"),
        "c_tsvector": ("tsvector", "'a b'"),
        "c_pg_lsn": ("pg_lsn", "'0/16B3748'"),
    }
    cols = [Col("c_int", "int", ("1", "2", "3", "4"), (1, 2, 3, 4), sch("int32"))]
    cols += [Col(n, t, (lit,) * 4, (None,) * 4, {}) for n, (t, lit) in dropped.items()]
    snap, stream = capture(pg_server, pg_db, tmp_path, "dropped", cols)
    for ev in snap + stream:
        assert set(ev["payload"]["after"]) == {"id", "c_int"}
    # include.unknown.datatypes=true: they come as their text; the scalar types, as
    # Debezium sends them, as the text's bytes in binary.handling.mode's form (a review's:
    # a plain string, which a consumer decoding base64 as Debezium's docs say read as garbage)
    for mode, decode in (("bytes", base64.b64decode), ("hex", bytes.fromhex)):
        snap, stream = capture(pg_server, pg_db, tmp_path / mode, f"dropped_{mode}", cols, **{
            "include.unknown.datatypes": "true", "binary.handling.mode": mode})  # fmt: skip
        for ev in snap + stream:
            assert set(ev["payload"]["after"]) == {"id", "c_int", *dropped}
            fields = {f["field"]: f for f in ev["schema"]["fields"][1]["fields"]}
            assert fields["c_box"]["type"] == ("bytes" if mode == "bytes" else "string")
            after = ev["payload"]["after"]
            if after["c_int"] is None:
                continue  # (each run's fifth row: all null)
            assert decode(after["c_box"]) == b"(1,1),(0,0)", mode
            assert decode(after["c_pg_lsn"]) == b"0/16B3748", mode
            assert decode(after["c_tsvector"]) == b"'a' 'b'", mode
            assert isinstance(after["c_moneyarr"], list), after  # (an array of its items)


def test_database_output_settings_do_not_change_values(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        for setting in ("DateStyle = 'SQL, DMY'", "IntervalStyle = 'iso_8601'",
                        "extra_float_digits = 0"):  # fmt: skip
            conn.execute(f'ALTER DATABASE "{pg_db}" SET {setting}')
    cols = [c for c in MATRIX if c.name in ("c_float8", "c_date", "c_ts", "c_interval")]
    cols.append(Col("c_sum", "float8", ("0.1::float8 + 0.2",) * 4, (0.30000000000000004,) * 4,
                    sch("double")))  # fmt: skip
    snap, stream = capture(pg_server, pg_db, tmp_path, "styles", cols)
    problems = check(snap, cols, 1, "snapshot") + check(stream, cols, 11, "streaming")
    assert not problems, "\n".join(problems)
