"""Debezium type mapping of PostgreSQL text-format values (connectors/source/postgres/types.py)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from connectors.source.postgres.types import (
    DATE_NEGATIVE_INFINITY_DAYS,
    DATE_POSITIVE_INFINITY_DAYS,
    TIMESTAMP_NEGATIVE_INFINITY,
    TIMESTAMP_POSITIVE_INFINITY,
    Oid,
    SpecialDecimalError,
    TimestampRangeError,
    TypeMapper,
    civil_from_days,
    days_from_civil,
    parse_array,
)
from hub.errors import ConfigError
from hub.runtime.converters import dumps
from tests.fixtures.postgres import PgServer


def conv(oid: int, text: str | None, typmod: int = -1, **modes: Any) -> Any:
    return TypeMapper(**modes).converter(oid, typmod)(None if text is None else text.encode())


def as_json(value: Any) -> Any:
    """The value as the JSON converter writes it (bytes -> base64)."""
    return json.loads(dumps(value))


def numeric_typmod(precision: int, scale: int) -> int:
    return ((precision << 16) | (scale & 0x7FF)) + 4


# -- scalars ---------------------------------------------------------------------------------


def test_null_is_none_for_every_type() -> None:
    m = TypeMapper()
    for oid in (Oid.BOOL, Oid.NUMERIC, Oid.BYTEA, Oid.DATE, 1007, 99999):
        assert m.converter(oid, -1)(None) is None


def test_bool_ints_floats() -> None:
    assert conv(Oid.BOOL, "t") is True and conv(Oid.BOOL, "f") is False
    assert conv(Oid.INT2, "-32768") == -32768
    assert conv(Oid.INT4, "2147483647") == 2147483647
    assert conv(Oid.INT8, "-9223372036854775808") == -(2**63)
    assert conv(Oid.OID, "4294967295") == 4294967295
    assert conv(Oid.FLOAT4, "1.5") == 1.5
    # JSON has no number for these: as Kafka's JsonConverter writes them (Jackson quotes them)
    assert conv(Oid.FLOAT8, "-Infinity") == "-Infinity"
    assert conv(Oid.FLOAT8, "NaN") == "NaN"
    assert conv(Oid.FLOAT4, "Infinity") == "Infinity"
    m = TypeMapper()
    assert m.schema(Oid.INT2, -1, False) == {"type": "int16", "optional": False}
    assert m.schema(Oid.OID)["type"] == "int64"
    assert m.schema(Oid.FLOAT4)["type"] == "float"
    assert m.schema(Oid.FLOAT8)["type"] == "double"
    assert m.schema(Oid.BOOL)["type"] == "boolean"


def test_numeric_precise_fixed_scale() -> None:
    tm = numeric_typmod(10, 2)
    assert as_json(conv(Oid.NUMERIC, "-1.50", tm)) == "/2o="  # -150 = 0xff6a
    assert conv(Oid.NUMERIC, "1.5", tm) == b"\x00\x96"  # 150: sign byte kept like BigInteger
    assert conv(Oid.NUMERIC, "0.00", tm) == b"\x00"
    with pytest.raises(SpecialDecimalError, match="decimal.handling.mode=string"):
        conv(Oid.NUMERIC, "NaN", tm)  # Debezium fails the connector, it has no Decimal NaN
    big = "123456789012345678901234567.89"
    got = conv(Oid.NUMERIC, big, numeric_typmod(30, 2))
    assert int.from_bytes(got, "big", signed=True) == 12345678901234567890123456789
    assert TypeMapper().schema(Oid.NUMERIC, tm) == {
        "type": "bytes",
        "optional": True,
        "name": "org.apache.kafka.connect.data.Decimal",
        "version": 1,
        "parameters": {"scale": "2", "connect.decimal.precision": "10"},
    }
    neg_scale = TypeMapper().schema(Oid.NUMERIC, numeric_typmod(5, -2))
    assert neg_scale["parameters"]["scale"] == "-2"
    assert conv(Oid.NUMERIC, "12300", numeric_typmod(5, -2)) == b"\x7b"  # 123


def test_numeric_precise_variable_scale() -> None:
    assert as_json(conv(Oid.NUMERIC, "1.500")) == {"scale": 1, "value": "Dw=="}  # 15
    assert conv(Oid.NUMERIC, "100") == {"scale": 0, "value": b"\x64"}
    assert conv(Oid.NUMERIC, "-0.001") == {"scale": 3, "value": b"\xff"}
    assert conv(Oid.NUMERIC, "0") == {"scale": 0, "value": b"\x00"}
    assert conv(Oid.NUMERIC, "0.000") == {"scale": 0, "value": b"\x00"}  # (Java's 0.000
    # stripTrailingZeros() is 0)
    assert conv(Oid.NUMERIC, "-128") == {"scale": 0, "value": b"\x80"}
    assert conv(Oid.NUMERIC, "128") == {"scale": 0, "value": b"\x00\x80"}
    for special in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(SpecialDecimalError) as info:
            conv(Oid.NUMERIC, special)
        assert info.value.text == special
    # past 4300 digits, as a numeric may hold (int() of such a digit string is refused)
    huge = "9" * 5000 + ".5"
    got = conv(Oid.NUMERIC, huge)
    assert got["scale"] == 1 and int.from_bytes(got["value"], "big", signed=True) == 10**5001 - 5
    s = TypeMapper().schema(Oid.NUMERIC, -1)
    assert s["type"] == "struct" and s["name"] == "io.debezium.data.VariableScaleDecimal"
    assert [f["field"] for f in s["fields"]] == ["scale", "value"]


def test_numeric_double_and_string_modes() -> None:
    tm = numeric_typmod(10, 2)
    assert conv(Oid.NUMERIC, "-1.50", tm, decimal_handling_mode="double") == -1.5
    assert conv(Oid.NUMERIC, "Infinity", -1, decimal_handling_mode="double") == "Infinity"
    assert conv(Oid.NUMERIC, "-1.50", tm, decimal_handling_mode="string") == "-1.50"
    # SpecialValueDecimal.toString(): the enum constant's name
    assert conv(Oid.NUMERIC, "NaN", -1, decimal_handling_mode="string") == "NAN"
    assert conv(Oid.NUMERIC, "Infinity", tm, decimal_handling_mode="string") == "POSITIVE_INFINITY"
    assert conv(Oid.NUMERIC, "-Infinity", -1, decimal_handling_mode="string") == "NEGATIVE_INFINITY"
    assert TypeMapper(decimal_handling_mode="double").schema(Oid.NUMERIC)["type"] == "double"
    assert TypeMapper(decimal_handling_mode="string").schema(Oid.NUMERIC, tm) == {
        "type": "string",
        "optional": True,
    }


def test_money() -> None:
    assert conv(Oid.MONEY, "-$1,234.56") == (-123456).to_bytes(3, "big", signed=True)
    assert conv(Oid.MONEY, "($1.00)", decimal_handling_mode="double") == -1.0
    assert conv(Oid.MONEY, "$1,000.10", decimal_handling_mode="string") == "1000.10"
    assert TypeMapper().schema(Oid.MONEY)["parameters"] == {"scale": "2"}


def test_strings_and_semantic_strings() -> None:
    m = TypeMapper()
    for oid in (Oid.TEXT, Oid.VARCHAR, Oid.BPCHAR, Oid.NAME, Oid.CHAR, Oid.INET, Oid.MACADDR):
        assert m.converter(oid, -1)("héllo ".encode()) == "héllo "
        assert m.schema(oid) == {"type": "string", "optional": True}
    assert m.schema(Oid.UUID)["name"] == "io.debezium.data.Uuid"
    assert m.schema(Oid.JSONB)["name"] == "io.debezium.data.Json"
    assert m.schema(Oid.JSON)["name"] == "io.debezium.data.Json"
    assert m.schema(Oid.XML)["name"] == "io.debezium.data.Xml"
    assert conv(Oid.JSONB, '{"a": [1, 2]}') == '{"a": [1, 2]}'
    assert conv(123456, "happy") == "happy"  # unknown OID (an enum): string
    enum = TypeMapper(enums={123456: ["sad", "happy"]})
    assert enum.schema(123456) == {
        "type": "string",
        "optional": True,
        "name": "io.debezium.data.Enum",
        "version": 1,
        "parameters": {"allowed": "sad,happy"},
    }


def test_bytea_modes() -> None:
    raw = "\\x00ff10"
    assert conv(Oid.BYTEA, raw) == b"\x00\xff\x10"
    assert conv(Oid.BYTEA, raw, binary_handling_mode="base64") == "AP8Q"
    assert conv(Oid.BYTEA, "\\xfbff", binary_handling_mode="base64-url-safe") == "-_8="
    assert conv(Oid.BYTEA, raw, binary_handling_mode="hex") == "00ff10"
    assert conv(Oid.BYTEA, "\\x") == b""
    assert conv(Oid.BYTEA, "a\\\\b\\000") == b"a\\b\x00"  # bytea_output = escape
    assert TypeMapper().schema(Oid.BYTEA)["type"] == "bytes"
    assert TypeMapper(binary_handling_mode="hex").schema(Oid.BYTEA)["type"] == "string"


def test_bits() -> None:
    assert conv(Oid.BIT, "1", 1) is True and conv(Oid.BIT, "0", 1) is False
    assert conv(Oid.VARBIT, "1", 1) is True
    assert conv(Oid.VARBIT, "", 1) is False  # (varbit(1) may hold B'': it stopped the task)
    assert conv(Oid.BIT, "101", 3) == b"\x05"
    assert conv(Oid.BIT, "1000000001", 10) == b"\x01\x02"  # little-endian
    assert conv(Oid.BIT, "000", 3) == b""
    assert TypeMapper().schema(Oid.BIT, 1)["type"] == "boolean"
    assert TypeMapper().schema(Oid.BIT, 10) == {
        "type": "bytes",
        "optional": True,
        "name": "io.debezium.data.Bits",
        "version": 1,
        "parameters": {"length": "10"},
    }
    assert TypeMapper().schema(Oid.VARBIT, -1)["parameters"] == {"length": "2147483647"}


# -- temporal --------------------------------------------------------------------------------


def test_calendar_helpers_round_trip() -> None:
    assert days_from_civil(1970, 1, 1) == 0
    assert days_from_civil(2000, 1, 1) == 10957
    for d in (-719528, -1, 0, 59, 10957, 2932896, DATE_POSITIVE_INFINITY_DAYS):
        assert days_from_civil(*civil_from_days(d)) == d


def test_date() -> None:
    assert conv(Oid.DATE, "1970-01-02") == 1
    assert conv(Oid.DATE, "1969-12-31") == -1
    assert conv(Oid.DATE, "2000-02-29") == 11016
    assert conv(Oid.DATE, "0001-01-01 BC") == -719528  # astronomical year 0
    assert conv(Oid.DATE, "10000-01-01") == 2932897
    assert conv(Oid.DATE, "infinity") == DATE_POSITIVE_INFINITY_DAYS
    assert conv(Oid.DATE, "-infinity") == DATE_NEGATIVE_INFINITY_DAYS
    assert TypeMapper().schema(Oid.DATE)["name"] == "io.debezium.time.Date"
    connect = TypeMapper(time_precision_mode="connect").schema(Oid.DATE)
    assert connect["name"] == "org.apache.kafka.connect.data.Date"


def test_time_modes() -> None:
    assert conv(Oid.TIME, "04:05:06.789012") == 14706789012
    assert conv(Oid.TIME, "24:00:00") == 86_400_000_000
    assert conv(Oid.TIME, "04:05:06.789", 3) == 14706789  # millis, io.debezium.time.Time
    assert conv(Oid.TIME, "04:05:06.789012", 6, time_precision_mode="connect") == 14706789
    micros = conv(Oid.TIME, "04:05:06.7", 1, time_precision_mode="adaptive_time_microseconds")
    assert micros == 14706700000
    m = TypeMapper()
    assert m.schema(Oid.TIME, -1)["name"] == "io.debezium.time.MicroTime"
    assert m.schema(Oid.TIME, 3) == {
        "type": "int32",
        "optional": True,
        "name": "io.debezium.time.Time",
        "version": 1,
    }
    connect = TypeMapper(time_precision_mode="connect").schema(Oid.TIME, 6)
    assert connect["name"] == "org.apache.kafka.connect.data.Time"
    assert connect["type"] == "int32"


def test_timetz() -> None:
    assert conv(Oid.TIMETZ, "01:00:00+02") == "23:00:00Z"
    assert conv(Oid.TIMETZ, "10:15:30.5-05:30") == "15:45:30.5Z"
    assert conv(Oid.TIMETZ, "00:00:00.123456+00") == "00:00:00.123456Z"
    # the end of the day stays the end of the day (Debezium's PostgresTimeBoundary)
    assert conv(Oid.TIMETZ, "24:00:00+00") == "24:00:00Z"
    assert conv(Oid.TIMETZ, "24:00:00+05") == "19:00:00Z"
    assert TypeMapper().schema(Oid.TIMETZ)["name"] == "io.debezium.time.ZonedTime"


def test_timestamp_modes() -> None:
    text = "2024-01-02 03:04:05.123456"
    assert conv(Oid.TIMESTAMP, text) == 1704164645123456
    assert conv(Oid.TIMESTAMP, text, 6) == 1704164645123456
    assert conv(Oid.TIMESTAMP, "2024-01-02 03:04:05.123", 3) == 1704164645123
    assert conv(Oid.TIMESTAMP, text, -1, time_precision_mode="connect") == 1704164645123
    assert conv(Oid.TIMESTAMP, "1969-12-31 23:59:59.999999") == -1
    assert conv(Oid.TIMESTAMP, "1969-12-31 23:59:59.999", 3) == -1
    assert conv(Oid.TIMESTAMP, "0001-01-01 00:00:00 BC") == -719528 * 86_400_000_000
    assert conv(Oid.TIMESTAMP, "infinity") == TIMESTAMP_POSITIVE_INFINITY == 9223372036825200000
    assert conv(Oid.TIMESTAMP, "-infinity") == TIMESTAMP_NEGATIVE_INFINITY
    assert conv(Oid.TIMESTAMP, "infinity", 3) == 9223372036825200
    # past int64 microseconds (PostgreSQL reaches year 294276): refused, unless in millis
    last = "294276-12-31 23:59:59.999999"
    with pytest.raises(TimestampRangeError, match="time.precision.mode=connect"):
        conv(Oid.TIMESTAMP, last)
    assert conv(Oid.TIMESTAMP, last, 3) == 9224318015999999
    assert conv(Oid.TIMESTAMP, "294247-01-10 04:00:54.775807") == 2**63 - 1
    m = TypeMapper()
    assert m.schema(Oid.TIMESTAMP, -1)["name"] == "io.debezium.time.MicroTimestamp"
    assert m.schema(Oid.TIMESTAMP, 2)["name"] == "io.debezium.time.Timestamp"
    connect = TypeMapper(time_precision_mode="connect").schema(Oid.TIMESTAMP, 6)
    assert connect["name"] == "org.apache.kafka.connect.data.Timestamp"


def test_timestamptz() -> None:
    text = "2024-01-02 03:04:05.5+05:30"
    # the fraction has the column's scale digits: 6 without a typmod, none (but what is
    # there) for timestamptz(0)
    assert conv(Oid.TIMESTAMPTZ, text) == "2024-01-01T21:34:05.500000Z"
    assert conv(Oid.TIMESTAMPTZ, text, 0) == "2024-01-01T21:34:05.5Z"
    assert conv(Oid.TIMESTAMPTZ, text, 6) == "2024-01-01T21:34:05.500000Z"
    assert conv(Oid.TIMESTAMPTZ, "2024-01-02 03:04:05+00", 3) == "2024-01-02T03:04:05.000Z"
    assert conv(Oid.TIMESTAMPTZ, "2000-01-01 00:00:00-01", 0) == "2000-01-01T01:00:00Z"
    assert conv(Oid.TIMESTAMPTZ, "1883-11-18 12:00:00-07:52:58", 0) == "1883-11-18T19:52:58Z"
    assert conv(Oid.TIMESTAMPTZ, "0044-03-15 12:00:00+00 BC") == "-0043-03-15T12:00:00.000000Z"
    assert conv(Oid.TIMESTAMPTZ, "infinity") == "infinity"
    assert conv(Oid.TIMESTAMPTZ, "-infinity") == "-infinity"
    assert TypeMapper().schema(Oid.TIMESTAMPTZ) == {
        "type": "string",
        "optional": True,
        "name": "io.debezium.time.ZonedTimestamp",
        "version": 1,
    }


def test_interval() -> None:
    assert conv(Oid.INTERVAL, "00:00:00") == 0
    assert (
        conv(Oid.INTERVAL, "3 days 04:05:06.5")
        == ((3 * 24 + 4) * 3600 + 5 * 60 + 6) * 10**6 + 500000
    )
    assert conv(Oid.INTERVAL, "-1 days +02:03:00") == -79_020_000_000
    assert conv(Oid.INTERVAL, "-02:03:04") == -7_384_000_000
    assert conv(Oid.INTERVAL, "1 mon") == 2_629_800_000_000  # 30.4375 days
    assert conv(Oid.INTERVAL, "1 year") == 31_557_600_000_000  # 365.25 days
    s = {"interval_handling_mode": "string"}
    assert conv(Oid.INTERVAL, "1 year 2 mons 3 days 04:05:06.789", **s) == "P1Y2M3DT4H5M6.789S"
    assert conv(Oid.INTERVAL, "-1 days +02:03:00", **s) == "P0Y0M-1DT2H3M0S"
    assert conv(Oid.INTERVAL, "-00:00:01.5", **s) == "P0Y0M0DT0H0M-1.5S"
    assert TypeMapper().schema(Oid.INTERVAL)["name"] == "io.debezium.time.MicroDuration"
    assert TypeMapper(**s).schema(Oid.INTERVAL)["name"] == "io.debezium.time.Interval"


# -- arrays, hstore, config --------------------------------------------------------------------


def test_parse_array_literals() -> None:
    assert parse_array("{}") == []
    # array_in skips ASCII whitespace around an unquoted element, nothing else
    assert parse_array("{\xa0x, y\u3000 ,\xa0NULL, NULL\t}") == [
        "\xa0x",
        "y\u3000",
        "\xa0NULL",
        None,
    ]
    assert parse_array("{1,2,NULL}") == ["1", "2", None]
    assert parse_array('{"a,b","c\\"d","e\\\\f",NULL,"NULL",null}') == [
        "a,b",
        'c"d',
        "e\\f",
        None,
        "NULL",
        None,
    ]
    assert parse_array('{"",  x y ," {}"}') == ["", "x y", " {}"]
    assert parse_array("{{1,2},{3,NULL}}") == [["1", "2"], ["3", None]]
    assert parse_array("[0:1]={7,8}") == ["7", "8"]
    with pytest.raises(ValueError):
        parse_array("{1,2")


def test_arrays() -> None:
    assert conv(1007, "{1,-2,NULL}") == [1, -2, None]
    assert conv(1009, '{"a b",NULL,""}') == ["a b", None, ""]
    assert conv(1007, "{}") == []
    assert conv(1007, "{{1,2},{3,4}}") == [[1, 2], [3, 4]]
    assert conv(1231, "{1.50,NULL}", numeric_typmod(5, 2)) == [b"\x00\x96", None]
    assert conv(1115, '{"1970-01-01 00:00:01",infinity}') == [
        1_000_000,
        TIMESTAMP_POSITIVE_INFINITY,
    ]
    assert conv(1001, '{"\\\\x01ff"}', binary_handling_mode="hex") == ["01ff"]
    assert TypeMapper().schema(1007, -1, False) == {
        "type": "array",
        "optional": False,
        "items": {"type": "int32", "optional": True},
    }
    assert TypeMapper(arrays={999: 123}).converter(999, -1)(b"{happy}") == ["happy"]


def test_hstore() -> None:
    text = '"a"=>"1", "b \\"q\\""=>NULL, "c"=>""'
    m = TypeMapper(hstore_oid=5555)
    assert m.converter(5555, -1)(text.encode()) == '{"a":"1","b \\"q\\"":null,"c":""}'
    assert m.schema(5555)["name"] == "io.debezium.data.Json"
    mm = TypeMapper(hstore_oid=5555, hstore_handling_mode="map")
    assert mm.converter(5555, -1)(text.encode()) == {"a": "1", 'b "q"': None, "c": ""}
    assert mm.converter(5555, -1)(b"") == {}
    assert mm.schema(5555)["type"] == "map"


def test_hstore_json_is_what_jackson_writes_of_a_java_hashmap() -> None:
    m = TypeMapper(hstore_oid=5555)
    convert = m.converter(5555, -1)
    # Debezium's own expectations (AbstractRecordsProducerTest): HashMap order, not text order
    assert convert(b'"key4"=>"val4", "key5"=>NULL') == '{"key5":null,"key4":"val4"}'
    assert convert(b'"a"=>"1", "bb"=>"2", "ccc"=>"3"') == '{"bb":"2","a":"1","ccc":"3"}'
    # 13 keys: the table grew to 32 buckets; "k0".hashCode() = 3365 -> bucket 5 ... "k9" -> 14,
    # "k10" = 104394 -> (104394 ^ 1) & 31 = 11, "k11" -> 10, "k12" -> 13, after the earlier ones
    many = ", ".join(f'"k{i}"=>"{i}"' for i in range(13))
    assert list(json.loads(convert(many.encode()))) == [
        "k0", "k1", "k2", "k3", "k4", "k5", "k11", "k6", "k10", "k7", "k8", "k12", "k9"
    ]  # fmt: skip
    # Jackson escapes only quote, backslash and control characters (upper-case hex)
    assert convert('"ž"=>"a\\"b\\\\c\x01\n"'.encode()) == '{"ž":"a\\"b\\\\c\\u0001\\n"}'
    assert convert(b"") == "{}"


def test_empty_varbit_point_ranges_and_enum_arrays() -> None:
    assert as_json(conv(Oid.VARBIT, "")) == ""
    assert conv(Oid.BIT, "0000", 4) == b""
    point = conv(Oid.POINT, "(1.5,-2)")
    assert point == {"x": 1.5, "y": -2.0, "srid": None,
                     "wkb": b"\x01\x01\x00\x00\x00" + bytes.fromhex("000000000000f83f") +
                     bytes.fromhex("00000000000000c0")}  # fmt: skip
    assert TypeMapper().schema(Oid.POINT)["name"] == "io.debezium.data.geometry.Point"
    # NaN and infinities as the float columns write them (orjson would write null)
    nan = conv(Oid.POINT, "(NaN,-Infinity)")
    assert (nan["x"], nan["y"]) == ("NaN", "-Infinity")
    assert conv(3905, '{"[1,6)",empty,NULL}') == ["[1,6)", "empty", None]  # int4range[]
    assert TypeMapper().schema(3913) == {
        "type": "array", "optional": True, "items": {"type": "string", "optional": True}
    }  # fmt: skip
    enum_array = TypeMapper(enums={777: ["a", "b"]}, arrays={778: 777}).schema(778)
    assert enum_array["items"]["optional"] is False  # SchemaBuilder.array(Enum.builder(...))


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        TypeMapper(decimal_handling_mode="exact")
    m = TypeMapper.from_config({"time.precision.mode": "connect", "money.fraction.digits": "3"})
    assert m.time_mode == "connect" and m.money_fraction_digits == 3


# -- against a real server -------------------------------------------------------------------

COLUMNS = [
    # (name, SQL type, SQL literal, expected Debezium JSON value)
    ("c_bool", "boolean", "true", True),
    ("c_int2", "smallint", "-32768", -32768),
    ("c_int4", "integer", "2147483647", 2147483647),
    ("c_int8", "bigint", "-9223372036854775808", -9223372036854775808),
    ("c_oid", "oid", "4294967295", 4294967295),
    ("c_float4", "real", "-1.5", -1.5),
    ("c_float8", "double precision", "-1.5e300", -1.5e300),
    ("c_num", "numeric(10,2)", "-1.5", "/2o="),
    ("c_num_big", "numeric(30,2)", "9999999999999999999999999999.99", "DJ8snNBGdO3qP////w=="),
    ("c_num_var", "numeric", "1.500", {"scale": 1, "value": "Dw=="}),
    ("c_money", "money", "-1234.56", "/h3A"),
    ("c_text", "text", "E'a\\tb ''c'' é'", "a\tb 'c' é"),
    ("c_bpchar", "char(4)", "'ab'", "ab  "),
    ("c_varchar", "varchar(10)", "'x'", "x"),
    ("c_name", "name", "'nm'", "nm"),
    ("c_bytea", "bytea", "'\\x00ff'::bytea", "AP8="),
    (
        "c_uuid",
        "uuid",
        "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    ),
    ("c_jsonb", "jsonb", '\'{"b": 1, "a": [true, null]}\'', '{"a": [true, null], "b": 1}'),
    ("c_json", "json", "'{\"b\":1}'", '{"b":1}'),
    ("c_xml", "xml", "'<a>1</a>'", "<a>1</a>"),
    ("c_date", "date", "'0044-03-15 BC'", -735160),
    ("c_date_inf", "date", "'infinity'", DATE_POSITIVE_INFINITY_DAYS),
    ("c_date_ninf", "date", "'-infinity'", DATE_NEGATIVE_INFINITY_DAYS),
    ("c_time", "time", "'24:00:00'", 86400000000),
    ("c_time3", "time(3)", "'04:05:06.789'", 14706789),
    ("c_timetz", "timetz", "'01:00:00+02'", "23:00:00Z"),
    ("c_ts", "timestamp", "'2024-01-02 03:04:05.123456'", 1704164645123456),
    ("c_ts3", "timestamp(3)", "'1969-12-31 23:59:59.999'", -1),
    ("c_ts_inf", "timestamp", "'infinity'", 9223372036825200000),
    ("c_ts_ninf", "timestamp", "'-infinity'", -9223372036832400000),
    ("c_tstz", "timestamptz", "'2024-01-02 03:04:05.5+05:30'", "2024-01-01T21:34:05.500000Z"),
    ("c_tstz6", "timestamptz(6)", "'2024-01-02 03:04:05-01'", "2024-01-02T04:04:05.000000Z"),
    ("c_tstz_inf", "timestamptz", "'-infinity'", "-infinity"),
    ("c_interval", "interval", "'-1 day +02:03:00'", -79020000000),
    ("c_interval2", "interval", "'1 mon 2 days 00:00:01.5'", 2802601500000),
    ("c_inet", "inet", "'192.168.0.1/24'", "192.168.0.1/24"),
    ("c_cidr", "cidr", "'10.0.0.0/8'", "10.0.0.0/8"),
    ("c_macaddr", "macaddr", "'08:00:2B:01:02:03'", "08:00:2b:01:02:03"),
    ("c_bit1", "bit(1)", "B'1'", True),
    ("c_bit10", "bit(10)", "B'1000000001'", "AQI="),
    ("c_varbit", "varbit", "B'101'", "BQ=="),
    ("c_mood", "mood", "'happy'", "happy"),
    ("c_int_arr", "int[]", "'{1,NULL,-3}'", [1, None, -3]),
    ("c_int_arr2", "int[][]", "'{{1,2},{3,4}}'", [[1, 2], [3, 4]]),
    (
        "c_text_arr",
        "text[]",
        "ARRAY['a,b', 'c\"d', 'e\\f', NULL, 'NULL', '']",
        ["a,b", 'c"d', "e\\f", None, "NULL", ""],
    ),
    ("c_empty_arr", "text[]", "'{}'", []),
    (  # (Unicode spaces at an element's edge are its own: they had been stripped, silently)
        "c_text_arr_spaces",
        "text[]",
        "ARRAY[E'\\u00a0x', E'y\\u3000', E'\\u00a0NULL', E'\\u2028', E'\\u001f']",
        ["\xa0x", "y\u3000", "\xa0NULL", "\u2028", "\x1f"],
    ),
    ("c_num_arr", "numeric(5,2)[]", "'{1.5,NULL}'", ["AJY=", None]),
    ("c_date_arr", "date[]", "'{1970-01-02,infinity}'", [1, DATE_POSITIVE_INFINITY_DAYS]),
    (
        "c_tstz_arr",
        "timestamptz[]",
        "'{\"1970-01-01 00:00:00+00\"}'",
        ["1970-01-01T00:00:00.000000Z"],
    ),
    (
        "c_uuid_arr",
        "uuid[]",
        "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'",
        ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
    ),
    ("c_null", "integer", "NULL", None),
]


def test_real_server_text_values(pg_server: PgServer, pg_db: str) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'Asia/Kolkata'")  # offsets in timestamptz text
        conn.execute("CREATE TYPE mood AS ENUM ('sad', 'happy')")
        cols = ", ".join(f"{name} {sqltype}" for name, sqltype, _, _ in COLUMNS)
        conn.execute(f"CREATE TABLE t ({cols})")
        values = ", ".join(literal for _, _, literal, _ in COLUMNS)
        conn.execute(f"INSERT INTO t VALUES ({values})")
        meta = conn.execute(
            "SELECT attname, atttypid, atttypmod FROM pg_attribute"
            " WHERE attrelid = 't'::regclass AND attnum > 0 ORDER BY attnum"
        ).fetchall()
        enum_oid = conn.execute("SELECT 'mood'::regtype::oid").fetchone()
        texts = conn.execute(
            # bpchar::text drops the padding its output function (what pgoutput sends) keeps
            "SELECT "
            + ", ".join(
                f"format('%s', {name})" if name == "c_bpchar" else f"{name}::text"
                for name, _, _, _ in COLUMNS
            )
            + " FROM t"
        ).fetchone()
        bc_days = conn.execute("SELECT '0044-03-15 BC'::date - '1970-01-01'::date").fetchone()
    assert enum_oid is not None and texts is not None and bc_days == (-735160,)
    mapper = TypeMapper(enums={int(enum_oid[0]): ["sad", "happy"]})
    got = {}
    for (name, oid, typmod), text in zip(meta, texts, strict=True):
        convert = mapper.converter(int(oid), int(typmod))
        got[name] = as_json(convert(None if text is None else text.encode()))
        mapper.schema(int(oid), int(typmod))  # every column has a schema
    expected = {name: value for name, _, _, value in COLUMNS}
    assert got == expected
    assert mapper.schema(int(enum_oid[0]))["name"] == "io.debezium.data.Enum"
