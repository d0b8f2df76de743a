"""Moving a consumer group's committed offsets on a topic (``hub groups reset``, the REST API
and the console): to the earliest or latest durable offset, an offset, or the first record
at or after a time; planned first (what each partition has and gets), applied only when the
group has no active member (a running consumer would overwrite it with its next commit)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hub.errors import ConfigError
from hub.log.errors import OffsetOutOfRangeError
from hub.log.group import OffsetAndMetadata
from hub.log.record import TopicPartition

if TYPE_CHECKING:
    from hub.log.log import Log

Target = Literal["earliest", "latest", "offset", "timestamp"]


@dataclass(frozen=True, slots=True)
class ResetRow:
    topic: str
    partition: int
    current: int | None  # the committed offset now (None: none)
    new: int


def refuse_active(log: Log, group: str, action: str) -> None:
    if log.groups.has_members(group):
        raise ConfigError(
            f"cannot {action} group {group!r}: it has active members; stop its consumers "
            "first (a sink connector: stop it)"
        )


def plan_reset(
    log: Log, group: str, topic: str, to: Target, value: int | None = None,
    partition: int | None = None,
) -> list[ResetRow]:  # fmt: skip
    """Where each partition of ``topic`` (or just ``partition``) would move; ``value`` is
    the offset (``to="offset"``) or the time in epoch milliseconds (``to="timestamp"``)."""
    if to in ("offset", "timestamp") and value is None:
        raise ConfigError(f"a reset to {to} needs a value")
    info = log.describe(topic)
    parts = info.partitions
    if partition is not None:
        log.partition(topic, partition)  # validates
        parts = (info.partitions[partition],)
    rows = []
    for p in parts:
        if to == "earliest":
            new = p.start_offset
        elif to == "latest":
            new = p.durable_offset
        elif to == "offset":
            assert value is not None
            if not p.start_offset <= value <= p.durable_offset:
                raise OffsetOutOfRangeError(
                    topic, p.partition, value, p.start_offset, p.durable_offset
                )
            new = value
        else:
            assert value is not None
            found = log.partition(topic, p.partition).offset_for_timestamp(value)
            new = p.durable_offset if found is None else found
        current = log.groups.committed(group, TopicPartition(topic, p.partition))
        rows.append(ResetRow(topic, p.partition, current.offset if current else None, new))
    return rows


def apply_reset(log: Log, group: str, rows: list[ResetRow]) -> None:
    refuse_active(log, group, "reset")
    now = time.time_ns() // 1_000_000
    log.groups.commit(
        group, {TopicPartition(r.topic, r.partition): OffsetAndMetadata(r.new, "", now)
                for r in rows},
    )  # fmt: skip
