"""Value types of the log's public API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

Header = tuple[str, bytes | None]


class Record(NamedTuple):
    """A record read from the log. A tuple, so decoding millions of them stays cheap."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass(frozen=True, slots=True)
class AppendInfo:
    """Where an append landed: offsets ``base_offset..last_offset`` of one partition."""

    topic: str
    partition: int
    base_offset: int
    last_offset: int
    max_timestamp: int


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """A partition's state as ``hub topics describe`` shows it. ``size_bytes`` and
    ``segments`` are None where the backend does not say (Kafka)."""

    partition: int
    start_offset: int
    end_offset: int
    durable_offset: int
    size_bytes: int | None
    segments: int | None
    recovery: tuple[str, ...] = ()  # what recovery cut, oldest first (hub.log.recovery)


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    partitions: tuple[PartitionInfo, ...]
    config: dict[str, str]
    internal: bool
    # the topic's incarnation: another id under the same name is another topic (made again
    # after a delete); None where the backend has none (a topic made before ids)
    id: str | None = None
