"""The C row codec (connectors/source/postgres/_rowcodec.c) against its reference, PyRowCodec:
same bytes, same None, same exception types, on values in each kind's fast form and outside."""

from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.source.postgres import rowcodec as rc
from connectors.source.postgres.protocol.pgoutput import UNCHANGED_TOAST
from connectors.source.postgres.rowcodec import PyRowCodec
from connectors.source.postgres.snapshot import parse_copy_text
from connectors.source.postgres.types import Oid, TypeMapper

if os.environ.get("HUB_REQUIRE_SPEEDUPS") == "1":  # CI: a missing C build fails here
    from connectors.source.postgres import _rowcodec  # type: ignore[attr-defined]
else:
    # built only where a C compiler was at install time (hub then runs the same bytes through
    # PyRowCodec, which the other tests cover); CI sets HUB_REQUIRE_SPEEDUPS, so never skips
    _rowcodec = pytest.importorskip(
        "connectors.source.postgres._rowcodec",
        reason="the C row codec was not built (no C compiler at install time)",
    )
CRowCodec = _rowcodec.RowCodec

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def numeric_typmod(precision: int, scale: int) -> int:
    return ((precision << 16) | (scale & 0x7FF)) + 4


# (oid, typmod, mapper modes): a column of each kind and arg the codec knows
COLUMNS: dict[str, tuple[int, int, dict[str, Any]]] = {
    "int4": (Oid.INT4, -1, {}),
    "int8": (Oid.INT8, -1, {}),
    "bool": (Oid.BOOL, -1, {}),
    "text": (Oid.TEXT, -1, {}),
    "uuid": (Oid.UUID, -1, {}),
    "numeric_12_2": (Oid.NUMERIC, numeric_typmod(12, 2), {}),
    "numeric_38_0": (Oid.NUMERIC, numeric_typmod(38, 0), {}),
    "numeric_38_10": (Oid.NUMERIC, numeric_typmod(38, 10), {}),
    "numeric_60_30": (Oid.NUMERIC, numeric_typmod(60, 30), {}),
    "numeric_neg_scale": (Oid.NUMERIC, numeric_typmod(10, -2), {}),
    "numeric_free": (Oid.NUMERIC, -1, {}),
    "numeric_string": (Oid.NUMERIC, numeric_typmod(12, 2), {"decimal_handling_mode": "string"}),
    "timestamptz": (Oid.TIMESTAMPTZ, -1, {}),
    "timestamptz_0": (Oid.TIMESTAMPTZ, 0, {}),
    "timestamptz_3": (Oid.TIMESTAMPTZ, 3, {}),
    "timestamptz_6": (Oid.TIMESTAMPTZ, 6, {}),
    "timestamp": (Oid.TIMESTAMP, -1, {}),
    "timestamp_3": (Oid.TIMESTAMP, 3, {}),
    "timestamp_connect": (Oid.TIMESTAMP, -1, {"time_precision_mode": "connect"}),
    "date": (Oid.DATE, -1, {}),
    "float8": (Oid.FLOAT8, -1, {}),
    "bytea": (Oid.BYTEA, -1, {}),
    "interval": (Oid.INTERVAL, -1, {}),
}


def field(column: int, name: str, col: str) -> tuple[int, str, int, int, Callable[..., Any]]:
    oid, typmod, modes = COLUMNS[col]
    mapper = TypeMapper(**modes)
    kind, arg = mapper.fast_kind(oid, typmod)
    return (column, name, kind, arg, mapper.converter(oid, typmod))


def test_kinds_are_used() -> None:
    kinds = {field(0, "a", c)[2:4] for c in COLUMNS}
    for k in range(rc.KIND_INT, rc.KIND_DATE + 1):
        assert any(kind == k for kind, _ in kinds)
    assert (rc.KIND_TIMESTAMPTZ, 0) in kinds and (rc.KIND_TIMESTAMP, 1) in kinds


def test_the_c_module_is_used() -> None:
    assert CRowCodec is not PyRowCodec
    assert rc.RowCodec is CRowCodec


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - the exception type is the result
        return ("raises", type(e))


def check(method: str, fields: Sequence[Any], key: Sequence[int], *args: Any) -> Any:
    """The outcome of ``codec.method(*args)``, which the C codec and the reference share."""
    py, c = PyRowCodec(fields, key), CRowCodec(fields, key)
    expected = outcome(lambda: getattr(py, method)(*args))
    assert outcome(lambda: getattr(c, method)(*args)) == expected, (method, fields, key, args)
    return expected


def check_values(fields: Sequence[Any], key: Sequence[int], values: Sequence[Any]) -> Any:
    return check("values", fields, key, values)


def check_one(col: str, raw: bytes | None) -> Any:
    fields = [field(0, "v", col), field(1, "k", "int4")]
    return check_values(fields, [1, 0], [raw, b"7"])


# -- per kind: listed edge cases -------------------------------------------------------------

INTS = [
    "0", "-0", "7", "-7", "007", "-007", "+5", " 5", "5 ", "1_000", "", "-", "12a", "٣",
    "9223372036854775807", "-9223372036854775808", "-9223372036854775809",
    "9999999999999999999", "18446744073709551615", "18446744073709551616",
    "-9999999999999999999", "123456789012345678901234",
]  # fmt: skip
BOOLS = ["t", "f", "true", "false", "T", "TRUE", "", "tru", "1", "yes"]
NUMERICS = [
    "0", "-0", "-0.00", "0.00", "1", "-1", "1.5", "1.55", "1.555", "-1.555", "1.005", "127",
    "128", "-128", "-129", "255", "32767", "32768", "-32768", "12345678901.23", "007.50",
    "99999999999999999999999999999999999999", "-99999999999999999999999999999999999999",
    "170141183460469231731687303715884105727", "170141183460469231731687303715884105728",
    "9999999999999999999999999999999999999999", "1e5", "1E-2", "+1", "1.", ".5", "-.5",
    "NaN", "Infinity", "-Infinity", "", "-", "1..2", "1.2.3", " 1", "١٢",
]  # fmt: skip
TIMESTAMPTZS = [
    "2024-03-01 12:34:56+00", "2024-03-01 12:34:56.5+00", "2024-03-01 12:34:56.123456+00",
    "2024-03-01 12:34:56.100000+00", "2024-03-01 12:34:56.000000+00",
    "2024-03-01 12:34:56.1234567+00", "2024-03-01 12:34:56.+00", "2024-03-01 12:34:56+05:30",
    "2024-03-01 12:34:56-08", "2024-03-01 12:34:56+00:00", "2024-03-01 12:34:56+0000",
    "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00", "2024-13-45 99:99:99+00",
    "0044-03-15 12:00:00+00 BC", "0044-03-15 12:00:00+01 BC", "12345-01-01 00:00:00+00",
    "infinity", "-infinity", "2024-03-01T12:34:56+00", "2024-03-01 12:34:56", "",
    "2024-03-01 12:34:56.5+00 ", "2024-03-01 12:34:5+00",
]  # fmt: skip
TIMESTAMPS = [
    "1970-01-01 00:00:00", "1969-12-31 23:59:59.999999", "1969-12-31 23:59:59.9995",
    "1969-12-31 23:59:59.0001", "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999",
    "2000-02-29 12:00:00", "1900-02-29 12:00:00", "2020-02-30 00:00:00", "2021-02-29 00:00:00",
    "2020-00-10 00:00:00", "2020-13-10 00:00:00", "2020-01-00 00:00:00", "2020-01-32 00:00:00",
    "2020-01-01 24:00:00", "2020-01-01 23:60:00", "2020-01-01 23:59:60", "0000-01-01 00:00:00",
    "2020-01-01 00:00:00.1234567", "2020-01-01 00:00:00.", "2020-01-01T00:00:00",
    "2020-01-01 00:00:00+00", "0044-03-15 12:00:00 BC", "12345-01-01 00:00:00", "infinity",
    "-infinity", "", "2020-01-01", "2020-1-01 00:00:00",
    # Debezium's +infinity marker as a real value (refused), and next to it
    "294247-01-10 04:00:25.2", "294247-01-10 04:00:25.200999", "294247-01-10 04:00:25.201",
    "294247-01-10 04:00:25.199999",
]  # fmt: skip
DATES = [
    "1970-01-01", "1969-12-31", "0001-01-01", "9999-12-31", "2000-02-29", "1900-02-29",
    "2020-02-30", "2020-13-01", "2020-00-01", "2020-01-00", "0000-01-01", "0044-03-15 BC",
    "12345-01-01", "infinity", "-infinity", "", "2020-1-1", "2020-01-01 ",
]  # fmt: skip


@pytest.mark.parametrize(
    ("cols", "texts"),
    [
        (["int4", "int8"], INTS),
        (["bool"], BOOLS),
        (["numeric_12_2", "numeric_38_0", "numeric_38_10", "numeric_60_30",
          "numeric_neg_scale", "numeric_free", "numeric_string"], NUMERICS),
        (["timestamptz", "timestamptz_0", "timestamptz_3", "timestamptz_6"], TIMESTAMPTZS),
        (["timestamp", "timestamp_3", "timestamp_connect"], TIMESTAMPS),
        (["date"], DATES),
    ],
)  # fmt: skip
def test_edge_cases(cols: list[str], texts: list[str]) -> None:
    for col in cols:
        for text in texts:
            check_one(col, text.encode())
        check_one(col, None)
        check_one(col, b"\xff\xfe")


def test_known_values() -> None:
    assert check_one("numeric_12_2", b"-0.00")[1][0] == b'{"v":"AA==","k":7}'
    assert check_one("numeric_12_2", b"NaN")[0] == "raises"
    assert check_one("date", b"2020-02-30")[1][0] == b'{"v":18322,"k":7}'
    assert check_one("timestamptz_3", b"2024-03-01 12:34:56.5+00")[1][0] == (
        b'{"v":"2024-03-01T12:34:56.500Z","k":7}'
    )
    assert check_one("timestamp_3", b"1969-12-31 23:59:59.9995")[1][0] == b'{"v":-1,"k":7}'
    assert check_one("int8", b"-9223372036854775809") == ("ok", None)  # orjson: past 64 bits
    assert check_one("text", b"\xed\xa0\x80")[0] == "raises"  # a UTF-8 encoded surrogate
    # a real timestamp equal to Debezium's +infinity marker would read as infinity: refused
    for col in ("timestamp", "timestamp_3", "timestamp_connect"):
        assert check_one(col, b"294247-01-10 04:00:25.2")[0] == "raises", col
    assert check_one("timestamp_3", b"294247-01-10 04:00:25.200999")[0] == "raises"
    assert check_one("timestamp", b"294247-01-10 04:00:25.200001")[1][0] == (
        b'{"v":9223372036825200001,"k":7}'
    )
    # MicroDuration: exact (a month is 2 629 800 000 000 µs), past int64 refused
    assert check_one("interval", b"100000 days 00:00:01.000001")[1][0] == (
        b'{"v":8640000001000001,"k":7}'
    )
    assert check_one("interval", b"35 years 00:00:00.000007")[1][0] == (
        b'{"v":1104516000000007,"k":7}'
    )
    assert check_one("interval", b"1000000 years")[0] == "raises"


def test_strings() -> None:
    every = bytes(range(128))
    for col in ("text", "uuid"):
        check_one(col, every)
        for b in range(256):
            check_one(col, bytes([b]))
            check_one(col, b"a" + bytes([b]) + b"z")
        for text in ["", "héllo", "\u2028\u2029", "日本語", "\U0001f600", "\x7f/", '"\\']:
            check_one(col, text.encode())
        for bad in [b"\xc0\x80", b"\xe0\x80\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80",
                    b"\xf8\x88\x80\x80\x80", b"\xc3", b"\xe6\x97", b"\xf0\x9f\x98", b"\x80",
                    b"ok\xc3(", b"\xf5\x80\x80\x80"]:  # fmt: skip
            assert check_one(col, bad)[0] == "raises"


# -- per kind: generated ---------------------------------------------------------------------

digits = st.text("0123456789", min_size=1, max_size=45)
sign = st.sampled_from(["", "-"])


@st.composite
def int_texts(draw: Any) -> str:
    return str(draw(sign) + draw(digits))


@st.composite
def numeric_texts(draw: Any) -> str:
    text: str = draw(sign) + draw(digits)
    if draw(st.booleans()):
        text += "." + draw(st.text("0123456789", min_size=1, max_size=35))
    return text


@st.composite
def datetime_texts(draw: Any, with_time: bool, tz: bool) -> str:
    year = draw(st.sampled_from([1, 2, 4, 100, 1582, 1900, 1969, 1970, 2000, 2024, 9999]))
    year = draw(st.one_of(st.just(year), st.integers(0, 9999)))
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32))
    text = f"{year:04d}-{month:02d}-{day:02d}"
    if with_time:
        h, m, s = draw(st.integers(0, 24)), draw(st.integers(0, 60)), draw(st.integers(0, 60))
        text += f" {h:02d}:{m:02d}:{s:02d}"
        frac = draw(st.text("0123456789", max_size=7))
        if frac or draw(st.booleans()):
            text += "." + frac
        if tz:
            text += draw(st.sampled_from(["+00", "+00", "+00", "-03", "+05:30", "+00:00", ""]))
    if draw(st.integers(0, 9)) == 0:
        text += " BC"
    return text


noise = st.binary(max_size=12) | st.text(max_size=12).map(str.encode)

GENERATED = [
    (["int4", "int8"], int_texts()),
    (["bool"], st.sampled_from(["t", "f", "true", "false"])),
    (["numeric_12_2", "numeric_38_0", "numeric_38_10", "numeric_60_30", "numeric_neg_scale"],
     numeric_texts()),
    (["timestamptz", "timestamptz_0", "timestamptz_3"], datetime_texts(True, True)),
    (["timestamp", "timestamp_3"], datetime_texts(True, False)),
    (["date"], datetime_texts(False, False)),
]  # fmt: skip


@pytest.mark.parametrize(("cols", "texts"), GENERATED)
@SETTINGS
@given(data=st.data())
def test_generated(cols: list[str], texts: Any, data: Any) -> None:
    col = data.draw(st.sampled_from(cols))
    raw = data.draw(texts.map(str.encode) | noise)
    check_one(col, raw)


@SETTINGS
@given(text=st.text(max_size=80) | st.binary(max_size=40))
def test_generated_strings(text: Any) -> None:
    check_one("text", text.encode() if isinstance(text, str) else text)


# -- rows: keys, NULL, TOAST, slow paths -----------------------------------------------------

ROW_COLS = ["int4", "text", "numeric_12_2", "timestamptz", "bool", "date", "timestamp",
            "float8", "bytea", "interval", "numeric_free"]  # fmt: skip
SAMPLE = {
    "int4": [b"42", b"-7", b"0012"], "text": [b"hello \"world\"\n", b"\xc3\xa9"],
    "numeric_12_2": [b"1234.5", b"-0.01", b"1e3"], "timestamptz": [b"2024-01-02 03:04:05.6+00"],
    "bool": [b"t", b"f"], "date": [b"2024-02-29", b"infinity"],
    "timestamp": [b"2024-02-29 01:02:03.5"], "float8": [b"1.5", b"NaN", b"-Infinity"],
    "bytea": [b"\\x00ff"], "interval": [b"1 day 02:03:04"], "numeric_free": [b"1.50"],
}  # fmt: skip


@SETTINGS
@given(data=st.data())
def test_rows(data: Any) -> None:
    ncols = data.draw(st.integers(0, 8))
    cols = [data.draw(st.sampled_from(ROW_COLS)) for _ in range(ncols)]
    order = data.draw(st.permutations(range(ncols)))
    fields = [field(order[j], f'c{j}\t"é', cols[order[j]]) for j in range(ncols)]
    key = data.draw(st.lists(st.integers(0, ncols - 1), max_size=3)) if ncols else []
    values: list[Any] = []
    for c in cols:
        v = data.draw(
            st.sampled_from(SAMPLE[c])
            | st.just(None)
            | st.just(UNCHANGED_TOAST).filter(lambda _: data.draw(st.integers(0, 5)) == 0)
        )
        if v is not None and v is not UNCHANGED_TOAST and data.draw(st.integers(0, 4)) == 0:
            v = memoryview(b"__" + v)[2:]
        values.append(v)
    check_values(fields, key, values)
    check_values(fields, key, tuple(values))


def test_row_shapes() -> None:
    f = [field(0, "a", "int4"), field(1, "b", "text"), field(-1, "c", "text")]
    shapes: list[list[Any]] = [
        [b"1", b"x", b"y"], [b"1", None, None], [b"1", UNCHANGED_TOAST, b"y"],
        [b"1", b"x", UNCHANGED_TOAST], [b"1"], [], [b"1", "str", b"y"],
        [b"1", bytearray(b"x"), b"y"], [b"1", 3, b"z"], [b"1", memoryview(b"abcd")[::2], b"y"],
    ]  # fmt: skip
    for values in shapes:
        for key in ([], [0], [2, 0], [-1]):
            check_values(f, key, values)
    assert CRowCodec(f, [1]).values([b"5", b"k", None]) == (
        b'{"a":5,"b":"k","c":null}',
        b'{"b":"k"}',
    )
    assert CRowCodec([], []).values([]) == (b"{}", None)
    c = CRowCodec(f, [0])
    assert c.fields == tuple(f) and c.key == (0,)
    as_lists = [list(x) for x in f]  # any sequences
    assert CRowCodec(as_lists, (1,)).values([b"1", b"2", b"3"]) == (
        PyRowCodec(as_lists, (1,)).values([b"1", b"2", b"3"])
    )
    with pytest.raises(TypeError):
        CRowCodec([(0, "a", 0, 0)], [])
    with pytest.raises(IndexError):
        CRowCodec(f, [3])


def test_converter_errors() -> None:
    def type_error(raw: bytes) -> Any:
        raise TypeError("no")

    def key_error(raw: bytes) -> Any:
        raise KeyError("no")

    unencodable = [(0, "a", rc.KIND_PY, 0, lambda raw: object())]
    assert check_values(unencodable, [], [b"1"]) == ("ok", None)
    too_big = [(0, "a", rc.KIND_PY, 0, lambda raw: 2**70)]
    assert check_values(too_big, [], [b"1"]) == ("ok", None)
    for kind in range(rc.KIND_DATE + 1):
        if kind == rc.KIND_BOOL:  # every text is in its fast form: convert is never called
            continue
        assert check_values([(0, "a", kind, 2, type_error)], [], [b"x\xff"]) == ("ok", None)
        assert check_values([(0, "a", kind, 2, key_error)], [], [b"x\xff"]) == ("raises", KeyError)
    # the first field that gives None wins over a later field's exception
    fields = [(0, "a", rc.KIND_PY, 0, type_error), (1, "b", rc.KIND_PY, 0, key_error)]
    assert check_values(fields, [], [b"1", b"2"]) == ("ok", None)
    assert check_values(fields, [], [UNCHANGED_TOAST, b"2"]) == ("ok", None)


# -- pgoutput TupleData ----------------------------------------------------------------------


def tuple_data(values: Sequence[Any]) -> bytes:
    out = [struct.pack("!h", len(values))]
    for v in values:
        if v is None:
            out.append(b"n")
        elif v is UNCHANGED_TOAST:
            out.append(b"u")
        else:
            out.append(b"t" + struct.pack("!i", len(v)) + v)
    return b"".join(out)


def check_tuple(fields: Sequence[Any], key: Sequence[int], buf: bytes, pos: int) -> Any:
    return check("tuple", fields, key, buf, pos)


@SETTINGS
@given(data=st.data())
def test_tuple(data: Any) -> None:
    ncols = data.draw(st.integers(0, 6))
    cols = [data.draw(st.sampled_from(ROW_COLS)) for _ in range(ncols)]
    fields = [field(j, f"c{j}", cols[j]) for j in range(ncols)]
    nvals = ncols + data.draw(st.sampled_from([0, 0, 0, 1, -1]))
    values = [
        data.draw(st.sampled_from(SAMPLE[cols[j]] if j < ncols else [b"x"]) | st.just(None))
        for j in range(max(nvals, 0))
    ]
    if values and data.draw(st.integers(0, 4)) == 0:
        values[data.draw(st.integers(0, len(values) - 1))] = UNCHANGED_TOAST
    head = data.draw(st.binary(max_size=3))
    buf = head + tuple_data(values) + data.draw(st.binary(max_size=3))
    key = [0] if ncols else []
    got = check_tuple(fields, key, buf, len(head))
    if nvals >= ncols:
        assert got[0] == "ok"
    cut = data.draw(st.integers(0, len(buf)))
    check_tuple(fields, key, buf[:cut], min(len(head), cut))
    # a byte changed anywhere after pos
    if len(buf) > len(head):
        i = data.draw(st.integers(len(head), len(buf) - 1))
        mutated = buf[:i] + bytes([data.draw(st.integers(0, 255))]) + buf[i + 1 :]
        check_tuple(fields, key, mutated, len(head))


def test_tuple_errors() -> None:
    f = [field(0, "a", "int4"), field(1, "b", "text")]
    for buf in [b"", b"\x00", b"\x00\x02t\x00\x00\x00\x011", b"\x00\x02t\x00\x00\x00\x011b",
                b"\x00\x02t\x00\x00\x00\x011\xff", b"\x00\x01n", b"\xff\xff",
                b"\x00\x02t\xff\xff\xff\xff1n", b"\x00\x02t\x00\x00\x00\x051n",
                b"\x00\x02nn", b"\x00\x03nnn", b"\x00\x02nu"]:  # fmt: skip
        for pos in (0, 1, len(buf), len(buf) + 1):
            check_tuple(f, [0], buf, pos)
            check_tuple([], [], buf, pos)
    assert CRowCodec(f, [1]).tuple(b"\x00\x02t\x00\x00\x00\x0212n!", 0) == (
        b'{"a":12,"b":null}',
        b'{"b":null}',
        10,
    )


# -- pgoutput change messages ------------------------------------------------------------------

WRAP = (b'{"schema":1,"payload":', b"}", b'{"schema":2,"payload":', b"}")
SRC = (b',"source":{"sequence":"[\\"5\\",\\"', b'\\"]","lsn":')
TS_NS = 1_764_000_000_123_456_789


def change_message(kind: bytes, parts: Sequence[tuple[bytes, Sequence[Any]]]) -> bytes:
    """A pgoutput Insert/Update/Delete of relation 7: (tag, tuple values) parts."""
    return kind + struct.pack("!I", 7) + b"".join(tag + tuple_data(v) for tag, v in parts)


def check_change(
    fields: Sequence[Any], key: Sequence[int], buf: bytes, block: bytes | None = None
) -> Any:
    return check("change", fields, key, buf, WRAP, SRC, 2**40 + 5, block, TS_NS)


@SETTINGS
@given(data=st.data())
def test_change(data: Any) -> None:
    ncols = data.draw(st.integers(1, 5))
    cols = [data.draw(st.sampled_from(ROW_COLS)) for _ in range(ncols)]
    fields = [field(j, f"c{j}", cols[j]) for j in range(ncols)]
    key = data.draw(st.sampled_from([[], [0], [ncols - 1, 0]]))

    def row() -> list[Any]:
        values = [data.draw(st.sampled_from(SAMPLE[cols[j]]) | st.just(None)) for j in range(ncols)]
        if data.draw(st.integers(0, 6)) == 0:
            values[data.draw(st.integers(0, ncols - 1))] = UNCHANGED_TOAST
        return values

    kind = data.draw(st.sampled_from([b"I", b"U", b"D"]))
    if kind == b"I":
        parts = [(b"N", row())]
    elif kind == b"D":
        parts = [(data.draw(st.sampled_from([b"K", b"O"])), row())]
    else:
        parts = data.draw(st.sampled_from([[(b"N", row())], [(b"O", row()), (b"N", row())],
                                           [(b"K", row()), (b"N", row())]]))  # fmt: skip
    buf = change_message(kind, parts)
    block = data.draw(st.sampled_from([None, b'{"id":"1:2","total_order":3}']))
    got = check_change(fields, key, buf, block)
    assert got[0] == "ok"
    # declined: the old row of a keyed table's update, a 'K' update (key changed), TOAST
    values = [v for _, v in parts]
    declined = (
        any(UNCHANGED_TOAST in v for v in values)
        or (kind == b"U" and parts[0][0] == b"K")
        or (kind == b"U" and parts[0][0] == b"O" and bool(key))
    )  # fmt: skip
    if declined:
        assert got[1] is None
    elif got[1] is not None:
        value, k = got[1]
        op = {b"I": b"c", b"U": b"u", b"D": b"d"}[kind]
        assert value.startswith(WRAP[0] + b'{"before":') and value.endswith(
            b',"op":"' + op + b'","ts_ms":1764000000123,"ts_us":1764000000123456,'
            b'"ts_ns":1764000000123456789}' + WRAP[1]
        )  # fmt: skip
        assert b'"lsn":1099511627781,"xmin":null},"transaction":' + (block or b"null") in value
        assert (k is None) == (not key)
    cut = data.draw(st.integers(0, len(buf)))
    check_change(fields, key, buf[:cut])
    i = data.draw(st.integers(0, len(buf) - 1))
    check_change(fields, key, buf[:i] + bytes([data.draw(st.integers(0, 255))]) + buf[i + 1 :])
    check_change(fields, key, buf + b"x")


def test_change_shapes() -> None:
    f = [field(0, "id", "int4"), field(1, "t", "text")]
    new = [b"12", b'a"b']
    insert = change_message(b"I", [(b"N", new)])
    for codec in (PyRowCodec, CRowCodec):
        value, key = codec(f, [0]).change(insert, WRAP, SRC, 77, None, TS_NS)
        assert key == b'{"schema":2,"payload":{"id":12}}'
        assert value == (
            b'{"schema":1,"payload":{"before":null,"after":{"id":12,"t":"a\\"b"}'
            + SRC[0] + b"77" + SRC[1] + b'77,"xmin":null},"transaction":null,"op":"c",'
            b'"ts_ms":1764000000123,"ts_us":1764000000123456,"ts_ns":1764000000123456789}}'
        )  # fmt: skip
        # a delete's key comes from its old row; an update of a keyless table keeps its old row
        _, key = codec(f, [0]).change(change_message(b"D", [(b"K", [b"3", None])]), WRAP, SRC,
                                      1, None, TS_NS)  # fmt: skip
        assert key == b'{"schema":2,"payload":{"id":3}}'
        value, key = codec(f, []).change(
            change_message(b"U", [(b"O", [b"3", b"x"]), (b"N", new)]), WRAP, SRC, 1, None, TS_NS
        )
        assert key is None
        assert b'{"before":{"id":3,"t":"x"},"after":{"id":12,' in value
        # now: the clock's time
        value, _ = codec(f, [0]).change(insert, WRAP, SRC, 77, None, None)
        ts = int(re.search(rb'"ts_ns":(\d+)', value).group(1))  # type: ignore[union-attr]
        assert abs(ts - time.time_ns()) < 60 * 10**9
        for other in (b"T" + insert[1:], insert[:6], b"I" + insert[1:5] + b"K" + insert[6:]):
            assert codec(f, [0]).change(other, WRAP, SRC, 77, None, TS_NS) is None
        with pytest.raises(TypeError):
            codec(f, [0]).change(insert, WRAP[:3], SRC, 77, None, TS_NS)


# -- COPY text -------------------------------------------------------------------------------

_COPY_ESCAPES = {ord("\\"): "\\\\", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r",
                 ord("\b"): "\\b", ord("\f"): "\\f", ord("\v"): "\\v"}  # fmt: skip


def copy_text(rows: Sequence[Sequence[str | None]]) -> bytes:
    """COPY TO STDOUT text format, as the server writes it."""
    return b"".join(
        "\t".join("\\N" if v is None else v.translate(_COPY_ESCAPES) for v in row).encode() + b"\n"
        for row in rows
    )


def check_copy(fields: Sequence[Any], key: Sequence[int], data: bytes) -> Any:
    """copy_packed of C and of the reference give the same buffers, with the key and
    without; the outcome with the key, its rows unpacked (`unpack`)."""
    result = None
    for k in (key, []):
        packed = outcome(lambda k=k: PyRowCodec(fields, k).copy_packed(data))  # type: ignore[misc]
        assert outcome(lambda k=k: CRowCodec(fields, k).copy_packed(data)) == packed, (  # type: ignore[misc]
            fields, data,
        )  # fmt: skip
        if packed[0] == "ok":
            packed = ("ok", unpack(packed[1], data))
        result = packed if result is None else result
    return result


def unpack(packed: Any, data: bytes) -> list[Any]:
    """copy_packed's buffers as (struct, key, None) per row, (None, None, values) for a
    declined one; checks the line ends against the rows of ``data``."""
    structs, ends, keys, key_ends, line_ends, declined = packed
    ends, lines = memoryview(ends).cast("q"), memoryview(line_ends).cast("q")
    kends = memoryview(key_ends).cast("q") if key_ends is not None else None
    declined = dict(declined)
    out = []
    for i in range(len(ends)):
        line = data[lines[i - 1] if i else 0 : lines[i]]
        assert (
            parse_copy_text(line if line.endswith(b"\n") else line + b"\n")[0]
            == (parse_copy_text(data)[i])
        )
        if i in declined:
            assert ends[i] == (ends[i - 1] if i else 0)
            out.append((None, None, declined[i]))
            continue
        key = None
        if keys is not None and kends is not None:
            key = keys[kends[i - 1] if i else 0 : kends[i]]
        out.append((structs[ends[i - 1] if i else 0 : ends[i]], key, None))
    assert len(lines) == len(ends) and (not len(lines) or lines[-1] == len(data))
    return out


COPY_TEXTS = {
    "int4": st.sampled_from(["1", "-12", "007", "99999999999999999999"]),
    "text": st.text(max_size=20),
    "numeric_12_2": numeric_texts(),
    "timestamptz": datetime_texts(True, True),
    "date": datetime_texts(False, False),
    "float8": st.sampled_from(["1.5", "NaN", "1e300"]),
}


@SETTINGS
@given(data=st.data())
def test_copy_packed(data: Any) -> None:
    ncols = data.draw(st.integers(1, 5))
    cols = [data.draw(st.sampled_from(sorted(COPY_TEXTS))) for _ in range(ncols)]
    fields = [field(j, f"c{j}", cols[j]) for j in range(ncols)]
    rows = [
        [data.draw(COPY_TEXTS[c] | st.none()) for c in cols]
        for _ in range(data.draw(st.integers(0, 4)))
    ]
    text = copy_text(rows)
    got = check_copy(fields, [0], text)
    if got[0] == "ok":
        # the server's form round trips (an empty line is a row of one empty field)
        assert len(got[1]) == len(rows)
    check_copy(fields, [0], text.rstrip(b"\n"))


def test_copy_packed_shapes() -> None:
    f = [field(0, "a", "int4"), field(1, "b", "text"), field(2, "c", "float8")]
    for data in [b"", b"\n", b"\n\n1\tx\t1\n\n", b"1\tx", b"1\tx\t1\n2", b"1\t\\N\t\\N\n",
                 b"1\t\\\\N\t1\n", b"1\t\\Nx\t1\n", b"1\ta\\\t1\n", b"1\t\\\\\t2\n",
                 b"1\ta\\tb\\nc\\rd\\be\\ff\\vg\\qh\\\\i\\.\t3\n", b"1\t\xff\t1\n",
                 b"1\tx\n", b"1\tx\t1\t4\n", b"1\tx\tNaN\n", b"\t\t\n", b"1\tx\tnope\n",
                 b"x\t\xc3\xa9\t1\r\n"]:  # fmt: skip
        check_copy(f, [0, 1], data)
    data = b"1\tx\t1e400\n2\t\\N\t2\n"
    assert unpack(CRowCodec(f, [0]).copy_packed(data), data) == [
        (b'{"a":1,"b":"x","c":"Infinity"}', b'{"a":1}', None),
        (b'{"a":2,"b":null,"c":2.0}', b'{"a":2}', None),
    ]
    unencodable = [(0, "a", rc.KIND_PY, 0, lambda raw: object()), field(1, "b", "text")]
    data = b"1\t\\N\n"
    assert unpack(CRowCodec(unencodable, []).copy_packed(data), data) == (
        unpack(PyRowCodec(unencodable, []).copy_packed(data), data)
    ) == [(None, None, [b"1", None])]  # fmt: skip


_SIMPLE_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
_OCTAL_HEX = re.compile(rb"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2})")


def copy_unescape(data: bytes) -> list[list[bytes | None]]:
    """parse_copy_text plus the octal and hex escapes of COPY FROM (the server never writes
    them; the C parser reads them as COPY FROM does)."""

    def octal_hex(m: re.Match[bytes]) -> bytes:
        s = m[1]
        return bytes([int(s[1:], 16) if s[:1] == b"x" else int(s, 8) & 0xFF])

    out = []
    for line in data.split(b"\n"):
        if not line:
            continue
        row: list[bytes | None] = []
        for f in line.split(b"\t"):
            if f == b"\\N":
                row.append(None)
                continue
            pieces = re.split(rb"(\\.)", f, flags=re.S)
            buf = b""
            for i, p in enumerate(pieces):
                if i % 2 == 0:
                    buf += p
                    continue
                rest = pieces[i + 1] if i + 1 < len(pieces) else b""
                m = _OCTAL_HEX.match(p + rest)
                if m:
                    buf += octal_hex(m)
                    pieces[i + 1] = (p + rest)[m.end() :]
                else:
                    buf += _SIMPLE_ESCAPES.get(p[1:], p[1:])
            row.append(buf)
        out.append(row)
    return out


def test_copy_octal_hex() -> None:
    f = [field(0, "a", "bytea"), field(1, "b", "text")]
    cases = [b"\\101\\x41\\x4a\\x4\\x\\xg\\0\\7\\77\\777\\1011\\x411\\\\101\t\\\\x41\n",
             b"a\\101b\tc\\x7Fd\n", b"\\342\\202\\254\t\\x\n", b"\\\\\\101\t\\x0\n"]  # fmt: skip
    for data in cases:
        want = [PyRowCodec(f, [0]).values(row) for row in copy_unescape(data)]
        got = unpack(CRowCodec(f, [0]).copy_packed(data), data)
        assert [(g[0], g[1]) for g in got] == want
    # a row's position (its key's text) is read by parse_copy_text, the same way
    assert parse_copy_text(b"\\101\\x42\\103x\tz\n")[0][0] == b"ABCx"


@SETTINGS
@given(st.lists(st.lists(st.binary(max_size=6) | st.none(), min_size=2, max_size=2), max_size=3))
def test_copy_octal_hex_generated(rows: list[list[bytes | None]]) -> None:
    f = [field(0, "a", "bytea"), field(1, "b", "bytea")]
    data = b"".join(
        b"\t".join(
            b"\\N" if v is None
            else b"".join(b"\\%o" % b if b % 3 else b"\\x%x" % b for b in v) or b"\\x"
            for v in row
        ) + b"\n"
        for row in rows
    )  # fmt: skip
    want = [PyRowCodec(f, [0]).values(r) for r in copy_unescape(data)]
    assert [(g[0], g[1]) for g in unpack(CRowCodec(f, [0]).copy_packed(data), data)] == want


def test_wide_and_long_rows() -> None:
    """Past the C code's stack buffers: many columns, long values, a key at the end."""
    cols = [ROW_COLS[j % len(ROW_COLS)] for j in range(150)]
    fields = [field(j, f"column_{j}", c) for j, c in enumerate(cols)]
    values: list[Any] = [SAMPLE[c][0] for c in cols]
    values[1] = "é\n\x01".encode() * 3000
    key = [149, 1, 0, 77]
    expected = check_values(fields, key, values)
    assert expected[0] == "ok" and len(expected[1][0]) > 15000
    check_tuple(fields, key, b"I" + tuple_data(values), 1)
    rows = [[v.decode("latin-1") for v in values]] * 3
    copy = copy_text(rows)
    assert check_copy(fields, key, copy)[0] == "ok"
