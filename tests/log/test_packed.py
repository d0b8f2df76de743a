"""Packed records (`hub.log.packed`): the C encoder against the reference, its LZ4 frames
against lz4's own decoder, and `Producer.send_packed` against `send_many` through a real log."""

from __future__ import annotations

import dataclasses
import os
from array import array
from itertools import accumulate
from types import ModuleType
from typing import Any

import lz4.frame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.log import Log, _pycodec
from hub.log.errors import RecordTooLargeError
from hub.log.packed import Packed

if os.environ.get("HUB_REQUIRE_SPEEDUPS") == "1":
    from hub.log import _speedups as _required  # noqa: F401  (a missing build fails here)


@pytest.fixture(scope="module")
def c() -> ModuleType:
    return pytest.importorskip(  # CI imports it unguarded above (HUB_REQUIRE_SPEEDUPS=1)
        "hub.log._speedups",
        reason="the C log codec was not built (no C compiler at install time); the producer "
        "tests below run the reference path then",
    )


def ends(items: list[bytes]) -> bytes:
    return array("q", accumulate(map(len, items))).tobytes() if items else b""


def packed(keys: list[bytes] | None, values: list[bytes], start: int = 0, stop: int | None = None,
           wrap: tuple[bytes, bytes, bytes, bytes] = (b"", b"", b"", b"")) -> Packed:  # fmt: skip
    return Packed(b"".join(values), ends(values), b"".join(keys) if keys is not None else None,
                  ends(keys) if keys is not None else None, start,
                  len(values) if stop is None else stop, wrap)  # fmt: skip


@st.composite
def packed_args(draw: Any) -> tuple[Any, ...]:
    n = draw(st.integers(0, 25))
    # big values now and then: a record past a section's max_bytes, offsets past 64 kB
    value = st.binary(max_size=300) | st.binary(min_size=70_000, max_size=70_100)
    values = draw(st.lists(st.binary(max_size=300), min_size=n, max_size=n))
    if draw(st.booleans()):
        # rows alike (same layout, a few bytes apart, a longer or shorter one now and then):
        # the LZ4 writer turns their equal runs into matches against the previous row
        base = draw(st.binary(min_size=1, max_size=300))
        for i in range(n):
            v = bytearray(base)
            for _ in range(draw(st.integers(0, 4))):
                v[draw(st.integers(0, len(v) - 1))] = draw(st.integers(0, 255))
            values[i] = bytes(v[: draw(st.integers(0, len(v)))]) if draw(st.booleans()) else (
                bytes(v) + draw(st.binary(max_size=20))
            )  # fmt: skip
    if n and draw(st.booleans()):
        values[draw(st.integers(0, n - 1))] = draw(value)
    keys = draw(st.none() | st.lists(st.binary(max_size=20), min_size=n, max_size=n)
                | st.just([b'{"key":%012d}' % (i * 7) for i in range(n)]))  # fmt: skip
    start = draw(st.integers(0, n))
    stop = draw(st.integers(start, n))
    piece = st.binary(max_size=5) | st.binary(min_size=40, max_size=2600)
    wrap = tuple(draw(piece) for _ in range(4))
    p = packed(keys, values, start, stop, wrap)  # type: ignore[arg-type]
    return (
        p.values, p.value_ends, p.keys, p.key_ends, p.start, p.stop, p.wrap,
        draw(st.none() | st.sampled_from(["hub.source.seq", "é", ""])),
        draw(st.binary(max_size=12)), draw(st.integers(-5, 2**40)), draw(st.integers(0, 2**41)),
        draw(st.integers(1, 4)), 0, draw(st.sampled_from([64, 3000, 1 << 20])),
        draw(st.integers(1, 40)),
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(packed_args())
def test_c_encodes_packed_records_as_the_reference(c: ModuleType, args: tuple[Any, ...]) -> None:
    assert c.encode_packed(*args) == _pycodec.encode_packed(*args)


@settings(max_examples=300, deadline=None)
@given(packed_args())
def test_lz4_frames_decode_to_the_reference_sections(c: ModuleType, args: tuple[Any, ...]) -> None:
    want, largest = _pycodec.encode_packed(*args)
    got = c.encode_packed_lz4(*args)
    assert got is not None and got[1] == largest
    assert [None if p is None else len(p) for p in got[0]] == [
        None if p is None else len(p) for p in want
    ]
    for frames, sections in zip(got[0], want, strict=True):
        for (frame, *meta), (records, *want_meta) in zip(frames or (), sections or (), strict=True):
            assert meta == want_meta
            assert lz4.frame.decompress(frame) == records


def test_lz4_rows_alike_cost_what_differs(c: ModuleType) -> None:
    """Rows of the same layout: the bytes equal to the previous row's at the same place
    (field names, padding) become matches, the rest (the id, the random text) literals."""
    values = [b'{"id":%07d,"txt":"%s","pad":"%s","n":%d}' % (i, os.urandom(8).hex().encode(),
              b"x" * 40, i % 7) for i in range(1000)]  # fmt: skip
    args = packed(None, values)
    [frames], _ = c.encode_packed_lz4(args.values, args.value_ends, None, None, 0, 1000,
                                      args.wrap, None, b"", 1, 0, 1, 0, 1 << 20, 16384)  # fmt: skip
    size = sum(len(f[0]) for f in frames)
    raw = sum(map(len, values))
    assert lz4.frame.decompress(frames[0][0])[-200:] == _pycodec.encode_packed(
        args.values, args.value_ends, None, None, 0, 1000, args.wrap, None, b"", 1, 0, 1, 0,
        1 << 20, 16384)[0][0][0][0][-200:]  # fmt: skip
    # ~96 B a row, of which 16 B of random hex and 1-2 digits differ
    assert size < raw * 0.5, (size, raw)


def test_lz4_repeated_wrap_costs_a_few_bytes_a_record(c: ModuleType) -> None:
    schema = b'{"schema":' + bytes(range(256)) * 9 + b',"payload":'
    values = [b'{"id":%d,"name":"n%d"}' % (i, i) for i in range(1000)]
    args = packed(None, values, wrap=(schema, b"}", b"", b""))
    [frames], _ = c.encode_packed_lz4(args.values, args.value_ends, None, None, 0, 1000,
                                      args.wrap, "hub.source.seq", b"t/0/", 1, 0, 1, 0, 1 << 20,
                                      16384)  # fmt: skip
    size = sum(len(f[0]) for f in frames)
    raw = len(args.values) + 1000 * (len(schema) + 1 + 30)
    assert size < raw * 0.05  # the schema (2.3 kB a record) costs a match each


def test_a_section_past_one_lz4_block_asks_for_the_plain_encoder(c: ModuleType) -> None:
    p = packed(None, [b"x" * (5 << 20)])
    args = (p.values, p.value_ends, None, None, 0, 1, p.wrap, None, b"", 0, 0, 1, 0, 1 << 20, 10)
    assert c.encode_packed_lz4(*args) is None
    assert c.encode_packed(*args) == _pycodec.encode_packed(*args)


@pytest.mark.parametrize("impl", ["py", "c"])
def test_bad_ends_are_refused(c: ModuleType, impl: str) -> None:
    mod = _pycodec if impl == "py" else c
    good = array("q", [3, 6]).tobytes()
    cases = [
        (b"abcdef", array("q", [4, 3]).tobytes(), 0, 2),  # out of order
        (b"abc", good, 0, 2),  # past the buffer
        (b"abcdef", good, 1, 3),  # stop past the records
        (b"abcdef", good, 2, 1),  # start after stop
    ]
    for values, value_ends, start, stop in cases:
        with pytest.raises(ValueError):
            mod.encode_packed(values, value_ends, None, None, start, stop, (b"",) * 4, None, b"",
                              0, 0, 1, 0, 100, 10)  # fmt: skip


@pytest.mark.parametrize("compress_bodies", [False, True], ids=["wrap", "bodies"])
@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_send_packed_writes_what_send_many_writes(
    tmp_path: Any, compression: str, compress_bodies: bool
) -> None:
    log = Log(str(tmp_path / "data"), background=False)
    try:
        for t in ("packed", "lists"):
            log.create_topic(t, 3)
        keys = [b"k%d" % i for i in range(500)]
        values = [b"v%d" % i * (i % 7) for i in range(500)]
        wrap = (b'{"payload":', b"}", b'{"k":', b"}")
        p = dataclasses.replace(
            packed(keys, values, 10, 480, wrap), compress_bodies=compress_bodies
        )
        producer = log.producer(compression=compression, max_batch_bytes=2000)
        producer.send_packed(p, "packed", header_key="seq", header_prefix=b"c/0/", first_seq=11,
                             timestamp=1234)  # fmt: skip
        k, v = p.lists()
        headers = [(("seq", b"c/0/%d" % (11 + i)),) for i in range(len(v))]
        producer.send_many("lists", v, keys=k, headers=headers, timestamps=1234)
        producer.flush()
        for part in range(3):
            got, _ = log.partition("packed", part).records(0)
            want, _ = log.partition("lists", part).records(0)
            assert [r[3:] for r in got] == [r[3:] for r in want]
            assert len(got) > 100  # keyed: spread over the three partitions
    finally:
        log.close()


def test_records_alike_beyond_the_wrap_take_less_room_with_compress_bodies(tmp_path: Any) -> None:
    """Change events repeat much besides their wrap (a source block each): compressed whole,
    not only with the wrap as matches."""
    log = Log(str(tmp_path / "data"), background=False)
    try:
        body = b'{"source":{"version":"2.7.0","connector":"mysql","db":"shop","row":%d}}'
        values = [body % i for i in range(2000)]
        sizes = []
        for bodies in (False, True):
            topic = f"t{int(bodies)}"
            log.create_topic(topic, 1)
            p = dataclasses.replace(packed(None, values, 0, 2000, (b"{", b"}", b"", b"")),
                                    compress_bodies=bodies)  # fmt: skip
            producer = log.producer(compression="lz4")
            producer.send_packed(p, topic)
            producer.flush()
            got, _ = log.partition(topic, 0).records(0)
            assert [r.value for r in got] == p.lists()[1]
            sizes.append(log.partition(topic, 0).size_bytes())
        assert sizes[1] < sizes[0] / 2, sizes
    finally:
        log.close()


def test_send_packed_refuses_a_record_past_max_message_bytes(tmp_path: Any) -> None:
    log = Log(str(tmp_path / "data"), background=False)
    try:
        log.create_topic("t", 1, {"max.message.bytes": 1000})
        producer = log.producer(compression="lz4")
        with pytest.raises(RecordTooLargeError):
            producer.send_packed(packed(None, [b"a", b"x" * 2000]), "t")
        producer.flush()
        assert log.partition("t", 0).records(0)[0] == []  # nothing of the call was written
    finally:
        log.close()
