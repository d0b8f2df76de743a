"""Record batch v2 framing: header layout, CRC32C coverage, compression."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.log import batch, codec

records_st = st.lists(
    st.tuples(
        st.one_of(st.none(), st.binary(max_size=40)),
        st.one_of(st.none(), st.binary(max_size=200)),
        st.lists(
            st.tuples(st.text(max_size=10), st.one_of(st.none(), st.binary(max_size=10))),
            max_size=3,
        ),
        st.integers(min_value=0, max_value=2**41),
    ),
    min_size=1,
    max_size=50,
)


def _build(recs, compression="none"):  # type: ignore[no-untyped-def]
    keys = [r[0] for r in recs]
    values = [r[1] for r in recs]
    headers = [r[2] for r in recs]
    ts = [r[3] for r in recs]
    enc = codec.encode_records(keys, values, headers, ts)
    return batch.build_batch(*enc, compression=compression)


@settings(max_examples=150, deadline=None)
@given(records_st, st.sampled_from(batch.SUPPORTED_COMPRESSION), st.integers(0, 2**40))
def test_round_trip_any_codec(recs, compression, base) -> None:  # type: ignore[no-untyped-def]
    data = _build(recs, compression)
    batch.set_base_offset(data, base)
    h = batch.parse_header(data)
    assert h.record_count == len(recs) and h.base_offset == base
    assert h.last_offset == base + len(recs) - 1
    assert h.compression == compression
    assert h.max_timestamp == max(r[3] for r in recs)
    out = batch.decode_batch(data, 0, h, "t", 3)
    assert [(r.key, r.value, [tuple(x) for x in r.headers], r.timestamp) for r in out] == [
        (k, v, [tuple(x) for x in hs], t) for k, v, hs, t in recs
    ]
    assert [r.offset for r in out] == list(range(base, base + len(recs)))
    assert {(r.topic, r.partition) for r in out} == {("t", 3)}


def test_header_layout_is_kafkas() -> None:
    data = _build([(b"k", b"v", [], 1000), (None, b"w", [("h", b"1")], 1005)])
    batch.set_base_offset(data, 42)
    base, length, epoch, magic, crc, attrs = struct.unpack_from(">qiibIh", data)
    assert (base, magic, attrs) == (42, 2, 0)
    assert length == len(data) - 12
    last_delta, first_ts, max_ts, pid, pepoch, seq, count = struct.unpack_from(">iqqqhii", data, 23)
    assert (last_delta, first_ts, max_ts, pid, pepoch, seq, count) == (1, 1000, 1005, -1, -1, -1, 2)
    # CRC32C covers attributes..end, so the base offset can change without re-checksumming
    import crc32c

    assert crc == crc32c.crc32c(bytes(data[21:]))


def test_every_flipped_byte_inside_the_crc_is_detected() -> None:
    data = _build([(b"key", b"value" * 20, [("a", b"b")], 7)])
    for i in range(batch.CRC_START, len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(batch.InvalidBatchError):
            batch.parse_header(bad)


def test_torn_batch_is_rejected() -> None:
    data = _build([(b"key", b"value", [], 7)])
    for cut in range(len(data)):
        with pytest.raises(batch.InvalidBatchError):
            batch.parse_header(bytes(data[:cut]))
