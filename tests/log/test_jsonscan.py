"""The C JSON scanner (``json_valid``, ``json_lines`` in hub.log._speedups) against orjson,
the parser the JSON converter reads with: what the scanner vouches for, orjson reads; what
orjson refuses, the scanner refuses; and what it declines on purpose (numbers orjson would
turn into a float or refuse as infinity, deep nesting) it says so rather than guess.

Set HUB_REQUIRE_SPEEDUPS=1 to make a missing C build fail this module.
"""

from __future__ import annotations

import json
import os
import random
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

if os.environ.get("HUB_REQUIRE_SPEEDUPS") == "1":
    from hub.log import _speedups as c_codec
else:
    c_codec = pytest.importorskip("hub.log._speedups", reason="C extension not built")

MANY = settings(max_examples=400, deadline=None)


def orjson_reads(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def valid(data: bytes) -> bool:
    result: bool = c_codec.json_valid([data])
    return result


# (document, what the scanner answers, what orjson answers)
CASES = [
    (b"{}", True, True),
    (b"[]", True, True),
    (b'{"a":[1,{"b":null,"c":true,"d":false}],"e":"\\/\\b\\f\\n\\r\\t\\"\\\\"}', True, True),
    (b' {"a" : 1 , "b" : [ 1 , 2 ] }\t', True, True),
    (b'"text"', True, True),
    (b"-0", True, True),
    (b"null", True, True),
    (b'{"a":1E+2,"b":-0.0e-0,"c":1e-400}', True, True),
    (b'{"\xe2\x82\xac":"\xf0\x9f\x98\x80\x7f"}', True, True),  # 3 and 4 bytes, DEL
    (b'{"a":"\\ud83d\\ude00","b":"\\u0000"}', True, True),  # a pair, a NUL escape
    (b'{"a":18446744073709551615,"b":-9223372036854775808}', True, True),  # orjson's ints
    # orjson reads them, as a float: declined (the raw text would keep what orjson loses)
    (b'{"a":18446744073709551616}', False, True),
    (b'{"a":-9223372036854775809}', False, True),
    (b'{"a":123456789012345678901234567890}', False, True),
    (b"[1.7976931348623157e308]", False, True),  # near the double's limit: not vouched
    # what orjson refuses
    (b"[1e400]", False, False),  # infinity
    (b'{"a":"\\ud800"}', False, False),  # a lone high surrogate
    (b'{"a":"\\udc00"}', False, False),  # a low one first
    (b'{"a":"\\ud800\\u0041"}', False, False),
    (b'{"a":"\xed\xa0\x80"}', False, False),  # a surrogate in UTF-8
    (b'{"a":"\xc0\x80"}', False, False),  # overlong
    (b'{"a":"\xf4\x90\x80\x80"}', False, False),  # past U+10FFFF
    (b'{"\xff":1}', False, False),
    (b'{"a":"\xe2\x82"}', False, False),  # cut short
    (b'{"a":"\x1f"}', False, False),  # a control character
    (b'{"a":"\\x"}', False, False),
    (b'{"a":"\\u12G4"}', False, False),
    (b"\xef\xbb\xbf{}", False, False),  # a BOM
    (b"", False, False),
    (b"  ", False, False),
    (b"[1,]", False, False),
    (b"{,}", False, False),
    (b"[,1]", False, False),
    (b'{"a"}', False, False),
    (b'{"a":}', False, False),
    (b"{1:2}", False, False),
    (b'{"a":1,}', False, False),
    (b'{"a":1}{', False, False),
    (b'{"a":1} x', False, False),
    (b'{"a":1\x0c}', False, False),
    (b'{"a":01}', False, False),
    (b'{"a":1.}', False, False),
    (b'{"a":.5}', False, False),
    (b'{"a":-}', False, False),
    (b'{"a":1e}', False, False),
    (b'{"a":+1}', False, False),
    (b"[tru]", False, False),
    (b"[nul]", False, False),
    (b"[NaN]", False, False),
    (b"[Infinity]", False, False),
    (b'{"a":"unterminated}', False, False),
    (b"[" * 254 + b"]" * 254, True, True),
    # deeper than the scanner goes: orjson.dumps writes 254 levels at most (a sink's decoded
    # path then fails the record), so the scanner does not vouch for more
    (b"[" * 255 + b"]" * 255, False, True),
    (b"[" * 1025 + b"]" * 1025, False, False),  # deeper than orjson goes
]


@pytest.mark.parametrize(("doc", "scanner", "reads"), CASES)
def test_the_scanner_on_edge_cases(doc: bytes, scanner: bool, reads: bool) -> None:
    assert orjson_reads(doc) is reads  # (the table's claim about orjson holds)
    assert valid(doc) is scanner


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False, max_value=1e200, min_value=-1e200)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25,
)


def _encodings(value: Any) -> list[bytes]:
    """The same value as several writers format it."""
    return [
        orjson.dumps(value),
        json.dumps(value).encode(),  # spaces after separators, non-ASCII as \\u escapes
        json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(),
        json.dumps(value, indent=1).encode(),  # several lines
    ]


@MANY
@given(json_values)
def test_every_writers_documents_are_vouched_for(value: Any) -> None:
    for doc in _encodings(value):
        assert valid(doc), doc


@MANY
@given(json_values, st.randoms(use_true_random=False))
def test_a_damaged_document_is_vouched_for_only_when_orjson_reads_it(
    value: Any, rnd: random.Random
) -> None:
    interesting = b'{}[]",:\\-+.eE0123456789 \t\n\x00\x1f\x7f\x80\xbf\xc2\xe0\xed\xf0\xf4\xff'
    for doc in _encodings(value):
        for _ in range(10):
            b = bytearray(doc)
            op = rnd.randrange(4)
            i = rnd.randrange(len(b) + 1)
            if op == 0 and b:  # a byte changed
                b[min(i, len(b) - 1)] = rnd.choice(interesting)
            elif op == 1 and b:  # a byte dropped
                del b[min(i, len(b) - 1)]
            elif op == 2:  # a byte added
                b.insert(i, rnd.choice(interesting))
            else:  # cut short
                del b[i:]
            damaged = bytes(b)
            if valid(damaged):
                assert orjson_reads(damaged), damaged


def test_json_lines_joins_documents_on_lines() -> None:
    docs: list[bytes | None] = [b'{"a":1}', None, b" [2, 3] ", b"null", b"-1.5e3", b"true"]
    out = c_codec.json_lines(docs, b"")
    assert out == b'{"a":1}\nnull\n [2, 3] \nnull\n-1.5e3\ntrue\n'
    assert c_codec.json_lines([], b"") == b""
    # the envelope's payload, when every document has the prefix and the closing brace
    pre = b'{"schema":{"type":"struct"},"payload":'
    assert c_codec.json_lines([pre + b'{"a":1}}', None, pre + b"[1] }"], pre) == (
        b'{"a":1}\nnull\n[1] \n'
    )


@pytest.mark.parametrize(
    ("docs", "prefix"),
    [
        ([b'{"a":1}', b'"a string"'], b""),  # a string's line is its text: not the document
        ([b'{"a":\n1}'], b""),  # on two lines
        ([b'{"a":"\r"}'], b""),  # a CR (invalid JSON anyway)
        ([b'{"a":1}', b"{not json"], b""),
        (
            [b'{"schema":{},"payload":{"a":1}}', b'{"schema":{"x":1},"payload":{"a":1}}'],
            b'{"schema":{},"payload":',
        ),  # another schema  # fmt: skip
        ([b'{"schema":{},"payload":{"a":1} '], b'{"schema":{},"payload":'),  # no closing brace
        ([b'{"schema":{},"payload":'], b'{"schema":{},"payload":'),  # nothing after it
    ],
)
def test_json_lines_declines_what_it_cannot_write_as_it_is(
    docs: list[bytes | None], prefix: bytes
) -> None:
    assert c_codec.json_lines(docs, prefix) is None


def test_json_valid_takes_any_document_and_none() -> None:
    assert c_codec.json_valid([b'"key"', None, b'{"id":\n 1}', b"7"]) is True
    assert c_codec.json_valid([b'"key"', b"{"]) is False
    assert c_codec.json_valid([]) is True


@pytest.mark.parametrize("fn", ["json_valid", "json_lines"])
def test_bad_arguments_are_type_errors(fn: str) -> None:
    f = getattr(c_codec, fn)
    args: tuple[Any, ...] = () if fn == "json_valid" else (b"",)
    with pytest.raises(TypeError):
        f((b"{}",), *args)  # a tuple, not a list
    with pytest.raises(TypeError):
        f([b"{}", "{}"], *args)  # a str item
    with pytest.raises(TypeError):
        f([bytearray(b"{}")], *args)
    if fn == "json_lines":
        with pytest.raises(TypeError):
            f([b"{}"], "")


def test_an_item_index_reads_that_element_of_each_record() -> None:
    # (the file sink hands over its batch of log records, keys item 4, values item 5)
    docs: list[bytes | None] = [b'{"a":1}', None, b"[2]", b"7"]
    keys: list[bytes | None] = [b'"k"', None, b'{"id":1}', b"1"]
    records = [("t", 0, i, 0, k, d, ()) for i, (k, d) in enumerate(zip(keys, docs, strict=True))]
    assert c_codec.json_lines(records, b"", 5) == b'{"a":1}\nnull\n[2]\n7\n'
    assert c_codec.json_lines(records, b"", item=5) == c_codec.json_lines(docs, b"")
    with pytest.raises(TypeError, match="bytes or None, not tuple"):  # (item None: as if none)
        c_codec.json_lines(records, b"", None)
    assert c_codec.json_valid(records, 4) is True
    assert c_codec.json_valid([*records, ("t", 0, 9, 0, b"{", None, ())], item=4) is False
    for bad in ([("t", 0)], [b"{}"], [None]):  # too short, not tuples
        with pytest.raises(TypeError, match="tuples of more than 4 items"):
            c_codec.json_valid(bad, 4)
    with pytest.raises(ValueError, match="item must be >= 0"):
        c_codec.json_lines(records, b"", -1)
    with pytest.raises(TypeError):
        c_codec.json_valid(records, "4")


def test_the_module_object_is_the_codecs() -> None:
    from hub.log import codec

    assert isinstance(c_codec, ModuleType)
    assert codec.json_lines is (c_codec.json_lines if codec.ACCELERATED else None)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@MANY
@given(st.lists(JSON_VALUES, max_size=12))
def test_json_split_gives_each_element_as_orjson_writes_it_alone(values: list[Any]) -> None:
    # (the converters encode a batch of values with one orjson call and split it here)
    alone = [orjson.dumps(v) for v in values]
    assert c_codec.json_split(orjson.dumps(values), len(values)) == alone


@pytest.mark.parametrize("data, count", [
    (b"[1,2]", 3), (b"[1,2]", 1), (b"[]", 1), (b"[1]", 0), (b"[1,,2]", 3), (b"[,1]", 2),
    (b"[1,]", 2), (b'["a,b]', 1), (b"[[1,2]", 1), (b"[1]]", 1), (b"{}", 0), (b"", 0),
    (b"[", 0), (b'["\\"]', 1), (b"[}]", 1),
])  # fmt: skip
def test_json_split_refuses_what_is_not_an_array_of_that_many(data: bytes, count: int) -> None:
    assert c_codec.json_split(data, count) is None


def test_json_split_of_nothing_and_bad_arguments() -> None:
    assert c_codec.json_split(b"[]", 0) == []
    assert c_codec.json_split(b'["a\\\\",{"b":[]}]', 2) == [b'"a\\\\"', b'{"b":[]}']
    with pytest.raises(TypeError):
        c_codec.json_split("[1]", 1)
    with pytest.raises(ValueError):
        c_codec.json_split(b"[1]", -1)
