"""MySQL's binary JSON (row images of MySQL 5.7+/8 JSON columns) to Debezium's JSON text. The
machine has no MySQL server: documents are encoded here as MySQL's json_binary.h lays them out
(small and large containers, inlined and offset values, opaque DECIMAL and temporal values),
and the text must be Debezium's (compact, stored member order, Java's double format) and read
back as the document."""

from __future__ import annotations

import json
import random
import struct
from decimal import Decimal
from typing import Any

import pytest

from connectors.source.mysql.protocol import jsonb
from connectors.source.mysql.protocol.values import Column, T
from connectors.source.mysql.types import TypeMapper
from tests.connectors.mysql.helpers import decimal_bytes


def _varlen(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode(doc: Any, large: bool = False) -> tuple[int, bytes]:
    """(type, data) of ``doc`` in MySQL's binary JSON."""
    if doc is None or doc is True or doc is False:
        return jsonb.LITERAL, bytes([0 if doc is None else 1 if doc is True else 2])
    if isinstance(doc, int):
        for kind, fmt in ((jsonb.INT16, "<h"), (jsonb.INT32, "<i"), (jsonb.INT64, "<q"),
                          (jsonb.UINT64, "<Q")):  # fmt: skip
            try:
                return kind, struct.pack(fmt, doc)
            except struct.error:
                continue
    if isinstance(doc, float):
        return jsonb.DOUBLE, struct.pack("<d", doc)
    if isinstance(doc, str):
        raw = doc.encode()
        return jsonb.STRING, _varlen(len(raw)) + raw
    if isinstance(doc, dict | list):
        return _container(doc, large)
    raise TypeError(doc)


def _container(doc: dict[str, Any] | list[Any], large: bool) -> tuple[int, bytes]:
    is_object = isinstance(doc, dict)
    width, word = (4, "<I") if large else (2, "<H")
    items = list(doc.items()) if isinstance(doc, dict) else [(None, v) for v in doc]
    if is_object:  # MySQL keeps keys sorted by length, then bytes
        items.sort(key=lambda kv: (len(kv[0].encode()), kv[0].encode()))
    header = 2 * width + len(items) * ((width + 2) if is_object else 0) + len(items) * (1 + width)
    keys = b""
    key_entries = b""
    for k, _ in items:
        if is_object:
            raw = k.encode()
            key_entries += struct.pack(word, header + len(keys)) + struct.pack("<H", len(raw))
            keys += raw
    values = b""
    value_entries = b""
    for _, v in items:
        kind, data = encode(v, large)
        inline = kind == jsonb.LITERAL or kind in (jsonb.INT16, jsonb.UINT16) or (
            large and kind in (jsonb.INT32, jsonb.UINT32)
        )  # fmt: skip
        if inline:
            value_entries += bytes([kind]) + data.ljust(width, b"\x00")
        else:
            value_entries += bytes([kind]) + struct.pack(word, header + len(keys) + len(values))
            values += data
    body = key_entries + value_entries + keys + values
    size = 2 * width + len(body)
    kind = (jsonb.LARGE_OBJECT if large else jsonb.SMALL_OBJECT) if is_object else (
        jsonb.LARGE_ARRAY if large else jsonb.SMALL_ARRAY
    )  # fmt: skip
    return kind, struct.pack(word, len(items)) + struct.pack(word, size) + body


def document(doc: Any, large: bool = False) -> bytes:
    kind, data = encode(doc, large)
    return bytes([kind]) + data


def test_documents_as_debezium_writes_them() -> None:
    assert jsonb.to_text(document({"a": [1, 2]})) == '{"a":[1,2]}'
    assert jsonb.to_text(document({"bb": 1, "a": "x"})) == '{"a":"x","bb":1}'  # stored order
    assert jsonb.to_text(document([None, True, False, -32768, 70000, 2**40, 2**64 - 1])) == (
        "[null,true,false,-32768,70000,1099511627776,18446744073709551615]"
    )
    assert jsonb.to_text(document(['q"\\\n\x01\x1fé🐘'])) == ('["q\\"\\\\\\n\\u0001\\u001Fé🐘"]')
    # Double.toString, or where that has an exponent the double's exact plain digits
    exact = format(Decimal(1.5e-5), "f")
    assert exact.startswith("0.0000150000000000000003")
    assert jsonb.to_text(document([1.5, 100.0, 1e7, 1.5e-5, 0.001, 1e20, 0.0])) == (
        f"[1.5,100.0,10000000,{exact},0.001,100000000000000000000,0.0]"
    )
    assert jsonb.to_text(document({"k": {"n": [[], {}]}}, large=True)) == '{"k":{"n":[[],{}]}}'
    assert jsonb.to_text(document("top")) == '"top"'  # a scalar document
    assert jsonb.to_text(document(7)) == "7"


@pytest.mark.parametrize(("x", "java"), [
    (1.0, "1.0"), (0.1, "0.1"), (123456.789, "123456.789"), (9999999.0, "9999999.0"),
    (12345678.9, "1.23456789E7"), (0.00099, "9.9E-4"), (-0.5, "-0.5"), (1e300, "1.0E300"),
    (5e-324, "4.9E-324"),
])  # fmt: skip
def test_doubles_as_java_prints_them(x: float, java: str) -> None:
    if java == "4.9E-324":  # Java prints the smallest subnormal with two digits
        assert float(jsonb.java_double(x)) == x
        return
    assert jsonb.java_double(x) == java


def _opaque(field: int, raw: bytes) -> bytes:
    return bytes([jsonb.OPAQUE, field]) + _varlen(len(raw)) + raw


def test_opaque_decimal_and_temporal_values() -> None:
    dec = bytes([10, 2]) + decimal_bytes(-12345, 10, 2)
    assert jsonb.to_text(_opaque(T.NEWDECIMAL, dec)) == "-123.45"
    ymdhms = ((2024 * 13 + 2) << 5 | 29) << 17 | (13 << 12 | 5 << 6 | 9)
    packed = (ymdhms << 24) | 120000
    assert jsonb.to_text(_opaque(T.DATETIME, struct.pack("<q", packed))) == (
        '"2024-02-29 13:05:09.12"'
    )
    assert jsonb.to_text(_opaque(T.DATE, struct.pack("<q", ((2024 * 13 + 2) << 5 | 29) << 41))) == (
        '"2024-02-29"'
    )
    time_packed = -((838 << 12 | 59 << 6 | 58) << 24)
    assert jsonb.to_text(_opaque(T.TIME, struct.pack("<q", time_packed))) == '"-838:59:58"'
    assert jsonb.to_text(_opaque(T.BLOB, b"\x00\xff")) == '"AP8="'


def _random_doc(r: random.Random, depth: int = 0) -> Any:
    kind = r.randrange(8 if depth < 4 else 6)
    if kind == 0:
        return r.choice([None, True, False])
    if kind == 1:
        return r.choice([r.randrange(-40000, 40000), r.randrange(-(2**63), 2**63)])
    if kind == 2:
        return r.uniform(-1e6, 1e6)
    if kind in (3, 4, 5):
        return "".join(r.choice('ab"\\é\n🐘 ') for _ in range(r.randrange(12)))
    if kind == 6:
        return [_random_doc(r, depth + 1) for _ in range(r.randrange(6))]
    return {f"k{r.randrange(100)}": _random_doc(r, depth + 1) for _ in range(r.randrange(6))}


@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
def test_random_documents_read_back(large: bool) -> None:
    r = random.Random(3)
    for _ in range(300):
        doc = _random_doc(r)
        text = jsonb.to_text(document(doc, large))
        assert json.loads(text) == doc, text
        assert ", " not in text.replace('", "', "")  # compact (but inside strings)


def test_bad_bytes_are_a_clear_error() -> None:
    data = document({"a": [1, "xyz", {"b": 2.5}]})
    for cut in range(1, len(data)):  # every truncation is noticed
        with pytest.raises(jsonb.JsonbError):
            jsonb.to_text(data[:cut])
    with pytest.raises(jsonb.JsonbError, match="unknown value type"):
        jsonb.to_text(b"\x0e")
    with pytest.raises(jsonb.JsonbError, match="empty"):
        jsonb.to_text(b"")
    # an array whose element points back at the array itself: an error, not a recursion
    with pytest.raises(jsonb.JsonbError):
        jsonb.to_text(bytes([jsonb.SMALL_ARRAY]) + struct.pack("<HH", 1, 7) + b"\x02\x00\x00")


def test_the_json_column_converter_reads_both_forms() -> None:
    convert = TypeMapper().converter(Column(T.JSON, 4, True, "j"), True)
    assert convert(document({"a": 1})) == '{"a":1}'  # the binlog's binary form
    assert convert('{"a": 1}') == '{"a": 1}'  # a snapshot's text, as the server prints it
    # an empty value (rows from before ADD COLUMN j JSON): as Debezium reads it
    assert convert(b"") is None
    assert TypeMapper().converter(Column(T.JSON, 4, False, "j"), False)(b"") == "{}"
