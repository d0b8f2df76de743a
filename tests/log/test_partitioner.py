"""Kafka's default partitioner, checked against Kafka's own test vectors."""

from __future__ import annotations

import pytest

from hub.log import _pycodec, default_partition, murmur2, to_positive

# org.apache.kafka.common.utils.UtilsTest#testMurmur2
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("impl", [murmur2, _pycodec.murmur2], ids=["active", "python"])
@pytest.mark.parametrize("key", list(KAFKA_VECTORS))
def test_murmur2_matches_kafka(impl, key: bytes) -> None:  # type: ignore[no-untyped-def]
    assert impl(key) == KAFKA_VECTORS[key]


def test_to_positive_clears_the_sign_bit_like_kafka() -> None:
    # Kafka's toPositive is `n & 0x7fffffff`, not abs(): -1 -> 2147483647, MIN -> 0
    assert to_positive(-1) == 0x7FFFFFFF
    assert to_positive(-(2**31)) == 0
    assert to_positive(5) == 5


def test_default_partition() -> None:
    # toPositive(murmur2("foobar")) = 1357151166; % 50 = 16
    assert default_partition(b"foobar", 50) == 16
    assert default_partition(b"21", 3) == (-973932308 & 0x7FFFFFFF) % 3
