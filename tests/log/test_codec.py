"""The records-section codec: the C accelerator (hub.log._speedups) against the pure-Python
reference (hub.log._pycodec).

Set HUB_REQUIRE_SPEEDUPS=1 to make a missing C build fail this module instead of limiting it
to the reference implementation.
"""

from __future__ import annotations

import abc
import gc
import mmap
import os
import sys
import typing
from array import array
from collections import namedtuple
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.log import _pycodec

REQUIRE_SPEEDUPS = os.environ.get("HUB_REQUIRE_SPEEDUPS") == "1"
if REQUIRE_SPEEDUPS:
    # Deliberately unguarded: a missing or broken build fails the whole module.
    from hub.log import _speedups as _required_speedups  # noqa: F401

Rec = namedtuple("Rec", "topic partition offset timestamp key value headers")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
EMPTY: tuple[()] = ()

SOME = settings(max_examples=150, deadline=None)
MANY = settings(max_examples=400, deadline=None)


def _load(name: str) -> ModuleType:
    if name == "py":
        return _pycodec
    if REQUIRE_SPEEDUPS:
        from hub.log import _speedups

        return _speedups
    return pytest.importorskip("hub.log._speedups", reason="C extension not built")


@pytest.fixture(scope="module")
def c() -> ModuleType:
    return _load("c")


@pytest.fixture(scope="module", params=["py", "c"])
def codec(request: pytest.FixtureRequest) -> ModuleType:
    return _load(request.param)


@pytest.fixture(scope="module", params=["py", "c"])
def encoder(request: pytest.FixtureRequest) -> ModuleType:
    return _load(request.param)


@pytest.fixture(scope="module", params=["py", "c"])
def decoder(request: pytest.FixtureRequest) -> ModuleType:
    return _load(request.param)


# ---------------------------------------------------------------------------------------------
# helpers and strategies


def varint(v: int) -> bytes:
    """Zigzag varint of a signed 64-bit value (Kafka ByteUtils.writeVarlong)."""
    assert INT64_MIN <= v <= INT64_MAX
    z = ((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def nullable(b: bytes | None) -> bytes:
    return varint(-1) if b is None else varint(len(b)) + b


def record(body: bytes) -> bytes:
    return varint(len(body)) + body


def body_of(
    key: bytes | None = None,
    value: bytes | None = None,
    headers: list[tuple[bytes | None, bytes | None]] = (),  # type: ignore[assignment]
    ts_delta: int = 0,
    offset_delta: int = 0,
) -> bytes:
    out = b"\x00" + varint(ts_delta) + varint(offset_delta) + nullable(key) + nullable(value)
    out += varint(len(headers))
    for hk, hv in headers:
        out += nullable(hk) + nullable(hv)
    return out


def decode_outcome(
    impl: ModuleType, buf: Any, pos: int, end: int, count: int, base: int, first: int
) -> Any:
    """The records, or ValueError; any other exception fails the test."""
    try:
        return impl.decode_records(buf, pos, end, count, base, first, "topic", 7, Rec)
    except ValueError:
        return ValueError


def expected_records(batch: tuple[Any, ...], base: int, topic: str, partition: int) -> list[Rec]:
    keys, values, headers, ts = batch
    return [
        Rec(
            topic,
            partition,
            base + i,
            ts if isinstance(ts, int) else ts[i],
            keys[i],
            values[i],
            tuple(tuple(h) for h in headers[i]) if headers is not None and headers[i] else (),
        )
        for i in range(len(values))
    ]


blobs = st.one_of(st.binary(max_size=24), st.binary(min_size=100, max_size=300))
maybe_blobs = st.one_of(st.none(), blobs)
keys_st = st.one_of(st.none(), st.sampled_from([b"", b"a", b"user-1", b"user-2"]), blobs)
header_entries = st.one_of(
    st.none(),
    st.lists(st.tuples(st.text(max_size=8), st.one_of(st.none(), st.binary(max_size=16))),
             max_size=3),
)  # fmt: skip


@st.composite
def timestamps_st(draw: st.DrawFn, n: int) -> int | list[int]:
    kind = draw(st.sampled_from(["const", "ms", "wide"]))
    if kind == "const":
        return draw(st.integers(INT64_MIN, INT64_MAX))
    if kind == "ms":  # realistic: milliseconds, small deltas either way
        base = draw(st.integers(0, 2**41))
        return [base + d for d in draw(st.lists(st.integers(-(10**7), 10**7), min_size=n,
                                                max_size=n))]  # fmt: skip
    # anywhere in int64, any two within 2**62 of each other: every delta fits in 64 bits
    lo = draw(st.integers(INT64_MIN, INT64_MAX))
    hi = min(lo + 2**62, INT64_MAX)
    return draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))


@st.composite
def batches(draw: st.DrawFn, max_records: int = 12) -> tuple[Any, ...]:
    n = draw(st.integers(0, max_records))
    keys = draw(st.lists(keys_st, min_size=n, max_size=n))
    values = draw(st.lists(maybe_blobs, min_size=n, max_size=n))
    headers = draw(st.one_of(st.none(), st.lists(header_entries, min_size=n, max_size=n)))
    ts = draw(timestamps_st(n))
    return keys, values, headers, ts


# ---------------------------------------------------------------------------------------------
# murmur2

KAFKA_MURMUR2 = {  # org.apache.kafka.common.utils.UtilsTest.testMurmur2
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
    b"": 275646681,
}


@pytest.mark.parametrize(("data", "expected"), KAFKA_MURMUR2.items())
def test_murmur2_kafka_vectors(codec: ModuleType, data: bytes, expected: int) -> None:
    assert codec.murmur2(data) == expected
    assert codec.murmur2(bytearray(data)) == expected
    assert codec.murmur2(memoryview(data)) == expected


@SOME
@given(st.binary(max_size=70))
def test_murmur2_matches_reference(c: ModuleType, data: bytes) -> None:
    h = c.murmur2(data)
    assert h == _pycodec.murmur2(data)
    assert -(2**31) <= h < 2**31
    assert c.murmur2(bytearray(data)) == c.murmur2(memoryview(data)) == h
    assert c.murmur2(data=data) == h


def test_murmur2_rejects_non_bytes(codec: ModuleType) -> None:
    with pytest.raises(TypeError):
        codec.murmur2("abc")
    with pytest.raises(TypeError):
        codec.murmur2(None)


# ---------------------------------------------------------------------------------------------
# encoding: C against the reference


@SOME
@given(batches())
def test_encode_records_matches_reference(c: ModuleType, batch: tuple[Any, ...]) -> None:
    assert c.encode_records(*batch) == _pycodec.encode_records(*batch)


@SOME
@given(batches(max_records=30), st.integers(1, 12), st.data())
def test_partition_encode_matches_reference(
    c: ModuleType, batch: tuple[Any, ...], num_partitions: int, data: st.DataObject
) -> None:
    sticky = data.draw(st.integers(0, num_partitions - 1))
    assert c.partition_encode(*batch, num_partitions, sticky) == _pycodec.partition_encode(
        *batch, num_partitions, sticky
    )


@SOME
@given(batches(max_records=8), st.data())
def test_encode_accepts_any_bytes_like(
    encoder: ModuleType, batch: tuple[Any, ...], data: st.DataObject
) -> None:
    keys, values, headers, ts = batch
    kinds = st.sampled_from([bytes, bytearray, memoryview])

    def convert(b: bytes | None) -> Any:
        return None if b is None else data.draw(kinds)(b)

    keys2 = [convert(k) for k in keys]
    values2 = tuple(convert(v) for v in values)  # any sequence, not only lists
    headers2 = (
        None if headers is None
        else [None if e is None else tuple((k, convert(v)) for k, v in e) for e in headers]
    )  # fmt: skip
    assert encoder.encode_records(keys2, values2, headers2, ts) == _pycodec.encode_records(*batch)
    assert encoder.partition_encode(keys2, values2, headers2, ts, 5, 2) == (
        _pycodec.partition_encode(*batch, 5, 2)
    )


def test_encode_known_bytes(codec: ModuleType) -> None:
    got = codec.encode_records([b"k", None], [None, b"vv"], [[("h", b"x")], None], [10, 7])
    first = record(body_of(b"k", None, [(b"h", b"x")], 0, 0))
    second = record(body_of(None, b"vv", [], -3, 1))
    assert got == (first + second, 2, 10, 10)


def test_encode_empty(codec: ModuleType) -> None:
    assert codec.encode_records([], [], None, 123) == (b"", 0, -1, -1)
    assert codec.encode_records([], [], [], []) == (b"", 0, -1, -1)
    assert codec.partition_encode([], [], None, 5, 3, 2) == [None, None, None]


def test_encode_header_entries_none_or_empty(codec: ModuleType) -> None:
    plain = codec.encode_records([None] * 3, [b"v"] * 3, None, 5)
    assert codec.encode_records([None] * 3, [b"v"] * 3, [None, [], ()], 5) == plain


def test_encode_large_fields_and_varint_boundaries(codec: ModuleType) -> None:
    sizes = [0, 1, 63, 64, 65, 8191, 8192, 8193, 1 << 20]
    keys = [b"k" * s for s in sizes]
    values = [b"\xff" * s for s in reversed(sizes)]
    headers = [[("h" * s, b"x" * s)] for s in sizes]
    ts = [0, 63, -64, 64, -65, 2**20, -(2**40), 2**62, -(2**62)]
    enc = codec.encode_records(keys, values, headers, ts)
    assert enc == _pycodec.encode_records(keys, values, headers, ts)
    recs = codec.decode_records(enc[0], 0, len(enc[0]), enc[1], 0, enc[2], "t", 0, Rec)
    assert recs == expected_records((keys, values, headers, ts), 0, "t", 0)


def test_encode_int64_extremes(encoder: ModuleType, decoder: ModuleType) -> None:
    for ts in ([INT64_MAX, INT64_MAX, 0, -1], [INT64_MIN, -1, INT64_MIN], INT64_MIN, INT64_MAX):
        n = 3 if isinstance(ts, int) else len(ts)
        batch = ([None] * n, [b"v"] * n, None, ts)
        enc = encoder.encode_records(*batch)
        recs = decoder.decode_records(enc[0], 0, len(enc[0]), n, INT64_MAX - n + 1, enc[2], "t",
                                      0, Rec)  # fmt: skip
        assert recs == expected_records(batch, INT64_MAX - n + 1, "t", 0)


def test_encode_length_mismatches(codec: ModuleType) -> None:
    with pytest.raises(ValueError):
        codec.encode_records([b"a"], [b"a", b"b"], None, 0)
    with pytest.raises(ValueError):
        codec.encode_records([b"a", None], [b"a", b"b"], [None], 0)
    with pytest.raises(ValueError):
        codec.encode_records([b"a", None], [b"a", b"b"], None, [1, 2, 3])
    with pytest.raises(ValueError):
        codec.partition_encode([b"a"], [b"a", b"b"], None, 0, 3, 0)
    with pytest.raises(ValueError):
        codec.partition_encode([b"a"], [b"b"], None, [], 3, 0)


@pytest.mark.parametrize(("num_partitions", "sticky"), [(0, 0), (-1, 0), (3, 3), (3, -1)])
def test_partition_encode_bad_partitions(codec: ModuleType, num_partitions: int,
                                         sticky: int) -> None:  # fmt: skip
    with pytest.raises(ValueError):
        codec.partition_encode([b"a"], [b"b"], None, 0, num_partitions, sticky)
    with pytest.raises(ValueError):
        codec.partition_encode([], [], None, 0, num_partitions, sticky)


@pytest.mark.parametrize("pair", [("k",), ("k", b"v", b"w"), ()])
def test_encode_header_pair_of_wrong_size(codec: ModuleType, pair: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        codec.encode_records([None], [b"v"], [[pair]], 0)


def test_encode_bad_types(codec: ModuleType) -> None:
    with pytest.raises(TypeError):
        codec.encode_records(["str key"], [b"v"], None, 0)
    with pytest.raises(TypeError):
        codec.encode_records([None], [123], None, 0)
    with pytest.raises(TypeError):
        codec.encode_records([None], [b"v"], None, [1.5])
    with pytest.raises(TypeError):
        codec.partition_encode(["str key"], [b"v"], None, 0, 4, 0)
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate has no UTF-8
        codec.encode_records([None], [b"v"], [[("\ud800", b"x")]], 0)


def test_encode_keyword_arguments(codec: ModuleType) -> None:
    args = {"keys": [b"k"], "values": [b"v"], "headers": None, "timestamps": 9}
    assert codec.encode_records(**args) == _pycodec.encode_records([b"k"], [b"v"], None, 9)
    assert codec.partition_encode(**args, num_partitions=2, sticky=1) == (
        _pycodec.partition_encode([b"k"], [b"v"], None, 9, 2, 1)
    )
    assert codec.murmur2(data=b"abc") == 479470107


# C-only behaviour where the reference emits corrupt output (see _speedups.c)


def test_c_rejects_timestamp_deltas_beyond_int64(c: ModuleType) -> None:
    with pytest.raises(ValueError):
        c.encode_records([None, None], [b"", b""], None, [INT64_MIN, INT64_MAX])
    with pytest.raises(ValueError):
        c.encode_records([None, None], [b"", b""], None, [INT64_MAX, -2])
    with pytest.raises(ValueError):
        c.partition_encode([None, None], [b"", b""], None, [1, INT64_MIN], 2, 1)
    # the same timestamps in different partitions are fine: deltas are per partition
    keys = [b"a", b"d"]
    parts = [(_pycodec.murmur2(k) & 0x7FFFFFFF) % 2 for k in keys]
    assert parts[0] != parts[1]
    out = c.partition_encode(keys, [b"", b""], None, [INT64_MIN, INT64_MAX], 2, 0)
    assert out == _pycodec.partition_encode(keys, [b"", b""], None, [INT64_MIN, INT64_MAX], 2, 0)


@pytest.mark.parametrize("ts", [2**63, -(2**63) - 1, [0, 2**64]])
def test_c_rejects_timestamps_beyond_int64(c: ModuleType, ts: Any) -> None:
    with pytest.raises(ValueError):
        c.encode_records([None, None], [b"", b""], None, ts)


def test_c_measures_buffers_in_bytes(c: ModuleType) -> None:
    value = memoryview(array("H", [1, 2, 3]))  # 3 items, 6 bytes
    enc = c.encode_records([None], [value], None, 0)
    (rec,) = c.decode_records(enc[0], 0, len(enc[0]), 1, 0, 0, "t", 0, Rec)
    assert rec.value == value.tobytes()
    assert _pycodec.decode_records(enc[0], 0, len(enc[0]), 1, 0, 0, "t", 0, Rec) == [rec]


def test_c_survives_input_mutated_while_encoding(c: ModuleType) -> None:
    values = [b"a", b"b", b"c"]

    class Shrinking:
        def __index__(self) -> int:
            values.clear()
            return 0

    with pytest.raises(RuntimeError):
        c.encode_records([None, None, None], values, None, [Shrinking(), 1, 2])

    headers: list[Any] = [[("k", b"v")], None]

    class Growing:
        def __index__(self) -> int:  # runs in pass 1, after record 0 was measured
            headers[0].append(("more", b"x" * 100))
            return 0

    with pytest.raises(RuntimeError):
        c.encode_records([None, None], [b"v", b"w"], headers, [Growing(), 0])


def test_c_releases_references(c: ModuleType) -> None:
    value = b"value-" + os.urandom(8)
    topic = "topic-" + os.urandom(8).hex()
    before = (sys.getrefcount(value), sys.getrefcount(topic))
    for _ in range(50):
        enc = c.encode_records([None, b"k"], [value, value], [[("a", value)], None], [1, 2])
        c.partition_encode([None, b"k"], [value, value], [[("a", value)], None], 5, 3, 1)
        with pytest.raises(ValueError):
            c.encode_records([None, b"k"], [value, value], [[("a", value, 1)], None], [1, 2])
        with pytest.raises(TypeError):
            c.partition_encode([None, b"k"], [value, "x"], None, 0, 3, 1)
        recs = c.decode_records(enc[0], 0, len(enc[0]), 2, 0, 1, topic, 0, Rec)
        assert len(recs) == 2
        del recs
        with pytest.raises(ValueError):  # the second record is cut short
            c.decode_records(enc[0], 0, len(enc[0]) - 1, 2, 0, 1, topic, 0, Rec)
    gc.collect()
    assert (sys.getrefcount(value), sys.getrefcount(topic)) == before


# ---------------------------------------------------------------------------------------------
# round trips, within and across implementations


@SOME
@given(batches(), st.integers(0, 2**62))
def test_round_trip(encoder: ModuleType, decoder: ModuleType, batch: tuple[Any, ...],
                    base: int) -> None:  # fmt: skip
    data, count, first, max_ts = encoder.encode_records(*batch)
    n = len(batch[1])
    assert count == n
    if n:
        ts = batch[3]
        assert first == (ts if isinstance(ts, int) else ts[0])
        assert max_ts == (ts if isinstance(ts, int) else max(ts))
    recs = decoder.decode_records(data, 0, len(data), count, base, first, "orders", 3, Rec)
    assert recs == expected_records(batch, base, "orders", 3)
    assert all(type(r) is Rec for r in recs)


@settings(max_examples=100, deadline=None)
@given(batches(max_records=20), st.integers(1, 9), st.data())
def test_partition_round_trip(encoder: ModuleType, decoder: ModuleType, batch: tuple[Any, ...],
                              num_partitions: int, data: st.DataObject) -> None:  # fmt: skip
    keys, values, headers, ts = batch
    sticky = data.draw(st.integers(0, num_partitions - 1))
    out = encoder.partition_encode(keys, values, headers, ts, num_partitions, sticky)
    assert len(out) == num_partitions
    want: list[list[int]] = [[] for _ in range(num_partitions)]
    for i, k in enumerate(keys):
        want[sticky if k is None else (_pycodec.murmur2(k) & 0x7FFFFFFF) % num_partitions].append(i)
    for p, idx in enumerate(want):
        if not idx:
            assert out[p] is None
            continue
        enc, count, first, max_ts = out[p]
        sub = (
            [keys[i] for i in idx],
            [values[i] for i in idx],
            None if headers is None else [headers[i] for i in idx],
            ts if isinstance(ts, int) else [ts[i] for i in idx],
        )
        assert count == len(idx)
        assert first == (ts if isinstance(ts, int) else ts[idx[0]])
        assert max_ts == (ts if isinstance(ts, int) else max(sub[3]))  # type: ignore[type-var]
        recs = decoder.decode_records(enc, 0, len(enc), count, 100, first, "t", p, Rec)
        assert recs == expected_records(sub, 100, "t", p)


# ---------------------------------------------------------------------------------------------
# decoding


def _sample() -> tuple[bytes, int, int]:
    enc, count, first, _ = _pycodec.encode_records(
        [b"k1", None, b"k3"], [b"v1", b"v2", None], [None, [("h", b"1"), ("\u00e9", None)], []],
        [1000, 990, 1010],
    )  # fmt: skip
    return enc, count, first


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "mmap", "window"])
def test_decode_buffer_types(decoder: ModuleType, kind: str, tmp_path: Any) -> None:
    enc, count, first = _sample()
    want = _pycodec.decode_records(enc, 0, len(enc), count, 5, first, "t", 1, Rec)
    assert [r.headers for r in want] == [(), (("h", b"1"), ("\u00e9", None)), ()]
    pos, end = 0, len(enc)
    if kind == "bytes":
        buf: Any = enc
    elif kind == "bytearray":
        buf = bytearray(enc)
    elif kind == "memoryview":
        buf = memoryview(b"xx" + enc)[2:]
    elif kind == "window":
        buf, pos, end = b"junk" + enc + b"more junk", 4, 4 + len(enc)
    else:
        path = tmp_path / "seg"
        path.write_bytes(b"\x00" * 3 + enc)
        with open(path, "rb") as f:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        pos, end = 3, 3 + len(enc)
    assert decoder.decode_records(buf, pos, end, count, 5, first, "t", 1, Rec) == want
    if kind == "mmap":
        buf.close()  # BufferError if the decoder kept the buffer exported


def test_decode_releases_buffer_on_error(decoder: ModuleType) -> None:
    enc, count, first = _sample()
    buf = bytearray(enc)
    with pytest.raises(ValueError):
        decoder.decode_records(buf, 0, len(buf) - 1, count, 0, first, "t", 0, Rec)
    buf.extend(b"!")  # BufferError if an export leaked


def test_decode_zero_records(decoder: ModuleType) -> None:
    assert decoder.decode_records(b"abc", 1, 1, 0, 0, 0, "t", 0, Rec) == []
    assert decoder.decode_records(b"", 0, 0, -3, 0, 0, "t", 0, Rec) == []
    with pytest.raises(ValueError):
        decoder.decode_records(b"abc", 1, 2, 0, 0, 0, "t", 0, Rec)


def test_decode_header_keys_repeated_or_alike(encoder: ModuleType, decoder: ModuleType) -> None:
    # (the C decoder shares a header key str with the record before when the bytes match)
    hdrs = [
        [("ab", b"1"), ("ac", b"2"), ("ab", None)], [("ab", b"3")], [("é", b"")], [("\xe9", b"")],
        [], [("a", b"4"), ("ab", b"5")], [("ab", b"6")],
    ]  # fmt: skip
    batch = ([None] * len(hdrs), [b"v"] * len(hdrs), hdrs, 1)
    enc = encoder.encode_records(*batch)
    recs = decoder.decode_records(enc[0], 0, len(enc[0]), enc[1], 0, enc[2], "t", 0, Rec)
    assert [list(r.headers) for r in recs] == hdrs


def test_decode_record_types(c: ModuleType) -> None:
    enc, count, first = _sample()

    class Typed(typing.NamedTuple):
        topic: str
        partition: int
        offset: int
        timestamp: int
        key: bytes | None
        value: bytes | None
        headers: tuple[tuple[str, bytes | None], ...]

    class WithDict(Rec):  # a __dict__: built by calling the class
        pass

    def factory(*fields: Any) -> tuple[Any, ...]:
        return ("made", *fields)

    want = _pycodec.decode_records(enc, 0, len(enc), count, 5, first, "t", 1, Rec)
    for cls in (Rec, Typed, WithDict, factory):
        got = c.decode_records(enc, 0, len(enc), count, 5, first, "t", 1, cls)
        assert got == _pycodec.decode_records(enc, 0, len(enc), count, 5, first, "t", 1, cls)
        if cls is not factory:
            assert all(type(r) is cls for r in got)
            assert got == want
            assert [hash(r) for r in got] == [hash(tuple(r)) for r in want]
            assert got[0].offset == 5 and got[2].timestamp == 1010
    recs = c.decode_records(enc, 0, len(enc), count, 5, first, "t", 1, Rec)
    assert recs[0].headers is EMPTY and recs[2].headers is EMPTY  # the shared empty tuple


def test_decode_reentrant_record_factory(codec: ModuleType) -> None:
    """cls may run any code, the collector included: no half-built list may be visible."""
    enc, count, first = _sample()
    calls = []

    def factory(*fields: Any) -> tuple[Any, ...]:
        gc.collect()
        for o in gc.get_objects():
            if type(o) is list and len(o) == count:
                list(o)  # would crash on an unfilled slot
        calls.append(fields)
        return fields

    got = codec.decode_records(enc, 0, len(enc), count, 5, first, "t", 1, factory)
    assert (
        got
        == calls
        == [
            tuple(r)
            for r in _pycodec.decode_records(enc, 0, len(enc), count, 5, first, "t", 1, Rec)
        ]
    )


def test_decode_keyword_arguments(codec: ModuleType) -> None:
    enc, count, first = _sample()
    got = codec.decode_records(buf=enc, pos=0, end=len(enc), count=count, base_offset=0,
                               first_timestamp=first, topic="t", partition=0, cls=Rec)  # fmt: skip
    assert got == _pycodec.decode_records(enc, 0, len(enc), count, 0, first, "t", 0, Rec)


GOOD = record(body_of(b"key", b"value", [(b"h", b"v")], 3, 0))
MALFORMED = {
    "truncated varint": (b"\x80", 1),
    "varint longer than 10 bytes": (b"\x80" * 10 + b"\x01", 1),
    "truncated length": (GOOD[:-1], 1),
    "record length 0": (varint(0), 1),
    "negative record length": (varint(-1) + body_of(), 1),
    "record past the batch": (varint(50) + body_of(), 1),
    "negative key length": (record(b"\x00\x00\x00" + varint(-2) + varint(-1) + b"\x00"), 1),
    "key past the record": (record(b"\x00\x00\x00" + varint(9) + b"abc" + b"\x01\x00"), 1),
    "value past the record": (record(b"\x00\x00\x00\x01" + varint(5) + b"abc\x00"), 1),
    "negative header count": (record(b"\x00\x00\x00\x01\x01" + varint(-1)), 1),
    "header count past the record": (record(b"\x00\x00\x00\x01\x01" + varint(3) + b"\x02a\x01"), 1),
    "null header key": (record(body_of(None, None, [(None, b"v")])), 1),
    "negative header value length": (record(b"\x00\x00\x00\x01\x01\x02\x02a" + varint(-5)), 1),
    "invalid utf-8 header key": (record(body_of(None, None, [(b"\xff\xfe", b"v")])), 1),
    "surrogate in header key": (record(body_of(None, None, [(b"\xed\xa0\x80", None)])), 1),
    "length longer than the contents": (varint(len(GOOD) - 1 + 1) + GOOD[1:] + b"\x00", 1),
    "length shorter than the contents": (varint(len(GOOD) - 2) + GOOD[1:], 1),
    "trailing bytes": (GOOD + b"\x00", 1),
    "fewer records than counted": (GOOD + GOOD, 3),
    "huge count": (GOOD, 2**40),
    "attributes only": (varint(1) + b"\x00", 1),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_decode_malformed(codec: ModuleType, case: str) -> None:
    buf, count = MALFORMED[case]
    with pytest.raises(ValueError):
        codec.decode_records(buf, 0, len(buf), count, 0, 0, "t", 0, Rec)
    with pytest.raises(ValueError):
        codec.decode_records(b"\x00" + buf + b"\x00", 1, 1 + len(buf), count, 0, 0, "t", 0, Rec)


def test_decode_good_sample_is_good(codec: ModuleType) -> None:
    assert (
        codec.decode_records(GOOD + GOOD, 0, 2 * len(GOOD), 2, 10, 100, "t", 0, Rec)
        == [Rec("t", 0, 10, 103, b"key", b"value", (("h", b"v"),))] * 2
    )


@pytest.mark.parametrize(("pos", "end"), [(0, 100), (-1, 5), (3, 2), (2**70, 2**70)])
def test_c_decode_rejects_a_window_outside_the_buffer(c: ModuleType, pos: int, end: int) -> None:
    buf = GOOD + b"\x00" * 10
    with pytest.raises(ValueError):
        c.decode_records(buf, pos, end, 1, 0, 0, "t", 0, Rec)


@pytest.mark.parametrize("last", [0x00, 0x01, 0x02, 0x40, 0x7F])
@pytest.mark.parametrize("base", [0, INT64_MAX, INT64_MIN, 2**80, -(2**80)])
def test_decode_ten_byte_varints(codec: ModuleType, last: int, base: int) -> None:
    """A 10-byte varlong: the reference keeps the bits above 64 of its last byte; so does C."""
    ten = b"\xff" * 9 + bytes([last])
    raw = (2**63 - 1) | (last << 63)
    delta = (raw >> 1) ^ -(raw & 1)
    buf = record(b"\x00" + ten + ten + b"\x01\x01\x00")
    want = [Rec("topic", 7, base + delta, base + delta, None, None, ())]
    assert decode_outcome(codec, buf, 0, len(buf), 1, base, base) == want


def test_decode_offsets_beyond_int64(c: ModuleType) -> None:
    buf = record(body_of(ts_delta=INT64_MAX, offset_delta=INT64_MAX))
    for base in (INT64_MAX, INT64_MIN, 2**64, -(2**70), True):
        assert decode_outcome(c, buf, 0, len(buf), 1, base, base) == decode_outcome(
            _pycodec, buf, 0, len(buf), 1, base, base
        )


# fuzzing: the C decoder and the reference must agree on every input, on the outcome (records or
# ValueError) and on the records

offsets_st = st.one_of(
    st.integers(0, 2**40),
    st.sampled_from([INT64_MIN, INT64_MAX, INT64_MAX - 1]),
    st.integers(-(2**70), 2**70),
)

# varint fields: canonical encodings of plausible and extreme values, and arbitrary bytes
varint_field = st.one_of(
    st.integers(-3, 300).map(varint),
    st.integers(INT64_MIN, INT64_MAX).map(varint),
    st.binary(min_size=1, max_size=11),
    st.integers(0, 0x7F).map(lambda last: b"\xff" * 9 + bytes([last])),
)
nullable_field = st.one_of(
    st.one_of(st.none(), st.binary(max_size=8)).map(nullable),
    st.tuples(varint_field, st.binary(max_size=8)).map(b"".join),
)
header_key_field = st.one_of(
    st.text(max_size=4).map(lambda s: nullable(s.encode())),
    nullable_field,
)


@st.composite
def raw_records(draw: st.DrawFn) -> bytes:
    body = bytes([draw(st.integers(0, 255))]) + draw(varint_field) + draw(varint_field)
    body += draw(nullable_field) + draw(nullable_field)
    headers = draw(st.lists(st.tuples(header_key_field, nullable_field), max_size=3))
    body += draw(st.one_of(st.just(varint(len(headers))), varint_field))
    body += b"".join(k + v for k, v in headers)
    if draw(st.integers(0, 9)):
        return record(body)
    return draw(varint_field) + body


@MANY
@given(st.binary(max_size=200), st.data())
def test_fuzz_decode_random_bytes(c: ModuleType, buf: bytes, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(buf)))
    end = data.draw(st.integers(pos, len(buf)))
    count = data.draw(st.integers(-1, 6))
    base, first = data.draw(offsets_st), data.draw(offsets_st)
    assert decode_outcome(c, buf, pos, end, count, base, first) == decode_outcome(
        _pycodec, buf, pos, end, count, base, first
    )


@MANY
@given(st.lists(raw_records(), max_size=4), st.integers(-1, 1), offsets_st, offsets_st,
       st.binary(max_size=3), st.binary(max_size=3))  # fmt: skip
def test_fuzz_decode_structured(c: ModuleType, recs: list[bytes], extra: int, base: int,
                                first: int, prefix: bytes, suffix: bytes) -> None:  # fmt: skip
    body = b"".join(recs)
    buf = prefix + body + suffix
    pos, end = len(prefix), len(prefix) + len(body)
    count = len(recs) + extra
    for window in ((pos, end), (pos, len(buf))):
        assert decode_outcome(c, buf, *window, count, base, first) == decode_outcome(
            _pycodec, buf, *window, count, base, first
        )


mutations = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 2**16)),
    st.tuples(st.just("flip"), st.integers(0, 2**16), st.integers(0, 7)),
    st.tuples(st.just("set"), st.integers(0, 2**16), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 2**16), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 2**16)),
)


def mutate(buf: bytearray, op: tuple[Any, ...]) -> None:
    if not buf:
        return
    i = op[1] % len(buf)
    if op[0] == "truncate":
        del buf[i:]
    elif op[0] == "flip":
        buf[i] ^= 1 << op[2]
    elif op[0] == "set":
        buf[i] = op[2]
    elif op[0] == "insert":
        buf.insert(i, op[2])
    else:
        del buf[i]


@MANY
@given(batches(max_records=6), st.lists(mutations, min_size=1, max_size=3),
       st.integers(-1, 1), offsets_st, st.booleans())  # fmt: skip
def test_fuzz_decode_mutated_encodings(c: ModuleType, batch: tuple[Any, ...],
                                       ops: list[tuple[Any, ...]], extra: int, base: int,
                                       use_mmap_like: bool) -> None:  # fmt: skip
    enc, count, first, _ = _pycodec.encode_records(*batch)
    buf = bytearray(enc)
    for op in ops:
        mutate(buf, op)
    data: Any = memoryview(bytes(buf)) if use_mmap_like else bytes(buf)
    assert decode_outcome(c, data, 0, len(buf), count + extra, base, first) == decode_outcome(
        _pycodec, data, 0, len(buf), count + extra, base, first
    )


# ---------------------------------------------------------------------------------------------
# seq_header: the source runner's per-record sequence header, written by the codec


@SOME
@given(
    batches(max_records=30),
    st.text(min_size=1, max_size=20),
    st.binary(max_size=20),
    st.integers(0, 2**62),
    st.integers(1, 6),
)
def test_seq_header_matches_explicit_headers(
    c: ModuleType, batch: tuple[Any, ...], key: str, prefix: bytes, first: int, parts: int
) -> None:
    keys, values, _, ts = batch
    spelled = [((key, prefix + b"%d" % (first + i)),) for i in range(len(values))]
    for impl in (c, _pycodec):
        assert impl.encode_records(keys, values, None, ts, (key, prefix, first)) == (
            _pycodec.encode_records(keys, values, spelled, ts)
        )
        assert impl.partition_encode(keys, values, None, ts, parts, 0, (key, prefix, first)) == (
            _pycodec.partition_encode(keys, values, spelled, ts, parts, 0)
        )


def test_seq_header_decodes_to_its_numbers(codec: ModuleType) -> None:
    enc = codec.encode_records([b"k", None, b"m"], [b"1", b"2", None], None, 5,
                               seq_header=("hub.source.seq", b"c/0/", 98))  # fmt: skip
    recs = codec.decode_records(enc[0], 0, len(enc[0]), enc[1], 0, enc[2], "t", 0, Rec)
    assert [r.headers for r in recs] == [
        (("hub.source.seq", b"c/0/98"),), (("hub.source.seq", b"c/0/99"),),
        (("hub.source.seq", b"c/0/100"),),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("seq_header", "error"),
    [
        (("k", b"p", -1), ValueError),
        (("k", b"p", 2**63 - 2), ValueError),  # the third record's seq would pass int64
        (("k", "p", 0), TypeError),
        ((b"k", b"p", 0), TypeError),
        (("k", b"p"), TypeError),
        (["k", b"p", 0], TypeError),
    ],
)
def test_seq_header_refuses_what_it_cannot_write(
    codec: ModuleType, seq_header: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        codec.encode_records([None] * 3, [b"v"] * 3, None, 1, seq_header)
    with pytest.raises(error):
        codec.partition_encode([None] * 3, [b"v"] * 3, None, 1, 2, 0, seq_header)


def test_seq_header_and_headers_are_exclusive(codec: ModuleType) -> None:
    with pytest.raises(ValueError, match="headers=None"):
        codec.encode_records([None], [b"v"], [None], 1, ("k", b"p", 0))


# ---------------------------------------------------------------------------------------------
# slot_columns / slot_objects: the runners' records a batch at a time


class _Slots:
    __slots__ = ("a", "b", "__weakref__")

    def __init__(self, a: Any, b: Any) -> None:
        self.a, self.b = a, b


class _SubSlots(_Slots):
    __slots__ = ("c",)


class _OwnNew(_Slots):
    __slots__ = ()

    def __new__(cls, *args: Any) -> _OwnNew:
        return super().__new__(cls)


def test_slot_columns_reads_every_object(codec: ModuleType) -> None:
    objs = [_Slots(i, str(i)) for i in range(5)]
    assert codec.slot_columns(objs, _Slots, ("b", "a")) == [
        ["0", "1", "2", "3", "4"], [0, 1, 2, 3, 4],
    ]  # fmt: skip
    assert codec.slot_columns([], _Slots, ("a",)) == [[]]


def test_slot_columns_is_none_for_another_type_or_an_unset_slot(codec: ModuleType) -> None:
    sub = _SubSlots(1, 2)
    assert codec.slot_columns([_Slots(1, 2), sub], _Slots, ("a",)) is None
    unset = _Slots.__new__(_Slots)
    unset.a = 1
    assert codec.slot_columns([_Slots(1, 2), unset], _Slots, ("a",)) == [[1, 1]]
    assert codec.slot_columns([_Slots(1, 2), unset], _Slots, ("a", "b")) is None
    # the inherited slots of a subclass are read through its own type
    sub.c = 3
    assert codec.slot_columns([sub], _SubSlots, ("a", "c")) == [[1], [3]]


@pytest.mark.parametrize("names", [("nope",), ("__init__",), (1,)])
def test_slot_columns_refuses_what_is_not_a_slot(codec: ModuleType, names: tuple[Any]) -> None:
    with pytest.raises(TypeError):
        codec.slot_columns([_Slots(1, 2)], _Slots, names)


def test_slot_objects_builds_without_init(codec: ModuleType) -> None:
    objs = codec.slot_objects(_Slots, ("b", "a"), (["x", "y"], [1, [2]]))
    assert [type(o) for o in objs] == [_Slots, _Slots]
    assert [(o.a, o.b) for o in objs] == [(1, "x"), ([2], "y")]
    assert codec.slot_objects(_Slots, ("a",), ([],)) == []
    refs = sys.getrefcount(_Slots)
    del objs
    gc.collect()
    assert sys.getrefcount(_Slots) <= refs - 2  # the objects' references to their type went


@pytest.mark.parametrize(
    ("cls", "names", "columns"),
    [
        (_OwnNew, ("a",), ([1],)),  # a __new__ of its own would be skipped
        (_Slots, ("a", "b"), ([1], [1, 2])),  # columns of different sizes
        (_Slots, ("a",), ((1,),)),  # a column that is not a list
        (_Slots, ("a", "b"), ([1],)),  # names and columns differ in number
        (_Slots, (), ()),
        (_Slots, ("nope",), ([1],)),
    ],
)
def test_slot_objects_refuses_bad_input(
    codec: ModuleType, cls: type, names: tuple[Any, ...], columns: tuple[Any, ...]
) -> None:
    with pytest.raises(TypeError):
        codec.slot_objects(cls, names, columns)


class _Big:
    __slots__ = tuple(f"s{i}" for i in range(50))


class _Small:
    __slots__ = ("x",)


_Small.y = _Big.__dict__["s49"]  # type: ignore[attr-defined]  # another class's slot


class _Abstract(abc.ABC):
    __slots__ = ("a",)

    @abc.abstractmethod
    def f(self) -> None: ...


def test_slots_of_another_class_or_an_abstract_class_are_refused(codec: ModuleType) -> None:
    # (C would read and write past the object's end with another class's slot offsets)
    with pytest.raises(TypeError, match="another class"):
        codec.slot_columns([_Small()], _Small, ("y",))
    with pytest.raises(TypeError, match="another class"):
        codec.slot_objects(_Small, ("y",), ([1],))
    with pytest.raises(TypeError):
        codec.slot_objects(_Abstract, ("a",), ([1],))


def test_slot_columns_does_not_fall_back_to_getattr(codec: ModuleType) -> None:
    class WithGetattr:
        __slots__ = ("a",)

        def __getattr__(self, name: str) -> Any:
            return "fallback"

    assert codec.slot_columns([WithGetattr()], WithGetattr, ("a",)) is None


@pytest.mark.parametrize(
    ("headers", "seq_header", "ts", "error"),
    [
        ([None], ("k", "p", 0), 1, TypeError),  # the tuple's types before headers
        (None, ("k", bytearray(b"p"), 0), 1, TypeError),
        (None, ("k", type("B", (bytes,), {})(b"p"), 0), 1, TypeError),  # exactly bytes
        (None, ("k", "p", 0), [2**64], TypeError),  # seq_header before the timestamps
    ],
)
def test_seq_header_errors_as_the_reference(
    codec: ModuleType, headers: Any, seq_header: Any, ts: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        codec.encode_records([None], [b"v"], headers, ts, seq_header)


# -- nonfinite: where the JSON converter looks for floats orjson would write as null ----------

_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(st.text(max_size=2), kids, max_size=4)
        | st.lists(kids, max_size=3).map(tuple)
    ),
    max_leaves=20,
)


def _has_nonfinite(v: Any) -> bool:
    if isinstance(v, float):
        return v != v or v in (float("inf"), float("-inf"))
    if isinstance(v, dict):
        return any(_has_nonfinite(x) for x in v.values())
    if isinstance(v, list | tuple):
        return any(_has_nonfinite(x) for x in v)
    return False


@SOME
@given(value=_JSONISH)
def test_nonfinite_finds_every_nan_and_infinity(codec: ModuleType, value: Any) -> None:
    assert codec.nonfinite(value) is _has_nonfinite(value)
    assert codec.nonfinite([value, 1.5]) is _has_nonfinite(value)


def test_nonfinite_past_orjsons_depth_and_in_a_cycle(codec: ModuleType) -> None:
    deep: Any = 1.5
    for _ in range(300):
        deep = [deep]
    assert codec.nonfinite(deep) is True  # (deeper than orjson writes: the caller looks)
    cycle: list[Any] = [1]
    cycle.append(cycle)
    assert codec.nonfinite(cycle) is True
    assert codec.nonfinite({"k": (None, "x", 2**70, True)}) is False


# ---------------------------------------------------------------------------------------------
# value_bytes / last_offsets: what the sink runner reads of every record of a batch

_RECORDS = st.lists(
    st.builds(
        Rec,
        st.sampled_from(["a", "b", "a.b"]),
        st.integers(0, 3),
        st.integers(0, 2**40),
        st.just(0),
        st.none() | st.binary(max_size=8),
        st.none() | st.binary(max_size=40),
        st.just(()),
    ),  # fmt: skip
    max_size=60,
)


@SOME
@given(_RECORDS)
def test_value_bytes_and_last_offsets_match_reference(c: ModuleType, records: list[Any]) -> None:
    expected = {(r.topic, r.partition): r.offset for r in records}
    assert c.last_offsets(records) == _pycodec.last_offsets(records) == expected
    total = sum(len(r.value) for r in records if r.value is not None)
    assert c.value_bytes(records) == _pycodec.value_bytes(records) == total


def test_last_offsets_compares_equal_topics_and_partitions_by_value(c: ModuleType) -> None:
    # (runs of one partition are usually one str and one int object; equal ones are one key)
    t1, t2 = "to" + "pic", "".join(["to", "pic"])
    assert t1 == t2 and t1 is not t2
    records = [Rec(t1, 2**70, 5, 0, None, b"x", ()), Rec(t2, 2**70 + 0, 6, 0, None, None, ())]
    assert c.last_offsets(records) == {(t1, 2**70): 6}
    assert c.last_offsets([]) == {} and c.value_bytes([]) == 0


@pytest.mark.parametrize(
    "records", [(Rec("t", 0, 1, 0, None, b"x", ()),), [("t", 0, 1)], [None]]
)  # fmt: skip
def test_value_bytes_and_last_offsets_refuse_what_is_not_records(
    c: ModuleType, records: Any
) -> None:
    with pytest.raises(TypeError):
        c.last_offsets(records)
    with pytest.raises(TypeError):
        c.value_bytes(records)


def test_value_bytes_refuses_a_value_that_is_not_bytes(c: ModuleType) -> None:
    with pytest.raises(TypeError, match="neither bytes nor None"):
        c.value_bytes([Rec("t", 0, 1, 0, None, "text", ())])
