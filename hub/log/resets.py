"""Moving a consumer group's committed offsets on a topic (``hub groups reset``, the REST API
and the console): to the earliest or latest durable offset, an offset, or the first record
at or after a time; planned first (what each partition has and gets), applied only when the
group has no active member (a running consumer would overwrite it with its next commit). On
either log backend (`hub.log.backend.LogBackend`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hub.errors import ConfigError
from hub.log.errors import OffsetOutOfRangeError
from hub.log.record import TopicPartition

if TYPE_CHECKING:
    from hub.log.backend import LogBackend

Target = Literal["earliest", "latest", "offset", "timestamp"]


@dataclass(frozen=True, slots=True)
class ResetRow:
    topic: str
    partition: int
    current: int | None  # the committed offset now (None: none)
    new: int


def refuse_active(log: LogBackend, group: str, action: str) -> None:
    if log.groups.has_members(group):
        raise ConfigError(
            f"cannot {action} group {group!r}: it has active members; stop its consumers "
            "first (a sink connector: stop it)"
        )


def plan_reset(
    log: LogBackend, group: str, topic: str, to: Target, value: int | None = None,
    partition: int | None = None,
) -> list[ResetRow]:  # fmt: skip
    """Where each partition of ``topic`` (or just ``partition``) would move; ``value`` is
    the offset (``to="offset"``) or the time in epoch milliseconds (``to="timestamp"``)."""
    if to in ("offset", "timestamp") and value is None:
        raise ConfigError(f"a reset to {to} needs a value")
    info = log.describe(topic)
    parts = info.partitions
    if partition is not None:
        if not 0 <= partition < len(parts):
            raise ConfigError(f"topic {topic!r} has partitions 0..{len(parts) - 1}")
        parts = (info.partitions[partition],)
    committed = {(p.topic, p.partition): p.committed for p in log.groups.describe(group).partitions}
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
            found = log.offset_for_timestamp(TopicPartition(topic, p.partition), value)
            new = p.durable_offset if found is None else found
        rows.append(ResetRow(topic, p.partition, committed.get((topic, p.partition)), new))
    return rows


def apply_reset(log: LogBackend, group: str, rows: list[ResetRow]) -> None:
    refuse_active(log, group, "reset")
    log.groups.commit(group, {TopicPartition(r.topic, r.partition): r.new for r in rows})
