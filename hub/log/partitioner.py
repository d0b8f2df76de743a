"""Kafka's default partitioner, so a key lands in the same partition number as with Kafka."""

from __future__ import annotations

from hub.log.codec import murmur2


def to_positive(n: int) -> int:
    """Kafka's Utils.toPositive: clear the sign bit (not abs())."""
    return n & 0x7FFFFFFF


def default_partition(key: bytes, num_partitions: int) -> int:
    """``toPositive(murmur2(key)) % num_partitions``, as Kafka's BuiltInPartitioner."""
    return to_positive(murmur2(key)) % num_partitions


__all__ = ["default_partition", "murmur2", "to_positive"]
