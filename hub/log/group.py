"""Consumer groups: membership, partition assignment, hand-over, committed offsets.

Membership lives in the writer process. A member joins with its subscription; every change
(join, leave, a member silent for longer than its session timeout) starts a new generation
and recomputes the target assignment with Kafka's range assignor. Hand-over is safe: a
partition moves to its new member only after the old one released it (after committing) or
expired, so two members never consume one partition at the same time. A commit from a member
that no longer owns the partition is rejected (RebalanceInProgressError).

Committed offsets are records of the compacted internal topic ``__consumer_offsets``
(key ``{"group","topic","partition"}``, value ``{"offset","metadata","timestamp"}``, JSON),
written durably before ``commit`` returns, and read back on open.

Thread safety: one lock guards all state; commits append under it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.log.errors import (
    CorruptRecordError,
    ReadOnlyLogError,
    RebalanceInProgressError,
    UnknownPartitionError,
)
from hub.log.record import TopicPartition

if TYPE_CHECKING:
    from hub.log.log import Log

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"


@dataclass
class Member:
    member_id: str
    topics: tuple[str, ...]
    session_timeout_ms: int
    last_seen: float = field(default_factory=time.monotonic)


@dataclass
class _Group:
    generation: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    target: dict[TopicPartition, str] = field(default_factory=dict)
    owner: dict[TopicPartition, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OffsetAndMetadata:
    offset: int
    metadata: str = ""
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class MemberInfo:
    member_id: str
    topics: tuple[str, ...]
    assignment: tuple[TopicPartition, ...]


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end_offset: int
    lag: int | None
    owner: str | None


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group: str
    state: str  # Stable, Empty
    generation: int
    members: tuple[MemberInfo, ...]
    partitions: tuple[PartitionLag, ...]


def range_assign(
    members: Mapping[str, Member], partitions: Mapping[str, int]
) -> dict[TopicPartition, str]:
    """Kafka's RangeAssignor: per topic, contiguous ranges to members sorted by id."""
    out: dict[TopicPartition, str] = {}
    for topic, count in sorted(partitions.items()):
        subscribed = sorted(m for m, mem in members.items() if topic in mem.topics)
        if not subscribed:
            continue
        per, extra = divmod(count, len(subscribed))
        start = 0
        for i, member in enumerate(subscribed):
            n = per + (1 if i < extra else 0)
            for p in range(start, start + n):
                out[TopicPartition(topic, p)] = member
            start += n
    return out


# A process stopped (SIGSTOP, a VM paused, swapping) or held up whole stops every member's
# heartbeats at once: that time does not count against their sessions (it had expelled a
# worker's own sinks after a 10 s pause, each warning that a batch took too long). A thread
# notes the time every _TICK_S from the first join until the log closes; a gap over _STALL_S
# is a stall (the coordinator's lock held that long by one commit is one too: no member could
# beat meanwhile).
_TICK_S = 0.5
_STALL_S = 2.0


class GroupCoordinator:
    def __init__(self, log: Log) -> None:
        self._log = log
        self._lock = threading.RLock()
        self._groups: dict[str, _Group] = {}
        self._offsets: dict[str, dict[TopicPartition, OffsetAndMetadata]] = {}
        self._ticked = time.monotonic()
        self._clock: threading.Thread | None = None
        self._closed = threading.Event()
        self._load()

    def close(self) -> None:
        self._closed.set()
        if self._clock is not None and self._clock is not threading.current_thread():
            self._clock.join()

    def _run_clock(self) -> None:
        while not self._closed.wait(_TICK_S):
            with self._lock:
                self._stalled(time.monotonic())

    def _stalled(self, now: float) -> None:
        """Every member's silence of a stall (a gap in the clock's ticks) forgiven."""
        gap = now - self._ticked
        self._ticked = now
        if gap > _STALL_S:
            for g in self._groups.values():
                for mem in g.members.values():
                    mem.last_seen = min(now, mem.last_seen + gap - _TICK_S)

    # -- committed offsets -----------------------------------------------------------------
    def _load(self) -> None:
        if not self._log.has_topic(OFFSETS_TOPIC) and not self._log.read_only:
            return
        try:
            part = self._log.partition(OFFSETS_TOPIC, 0)
        except Exception:
            return
        if self._log.read_only:
            part.refresh()
        try:
            for r in part.scan():
                if r.key is None:
                    continue
                k = json.loads(r.key)
                tp = TopicPartition(k["topic"], k["partition"])
                if r.value is None:
                    self._offsets.get(k["group"], {}).pop(tp, None)
                else:
                    v = json.loads(r.value)
                    self._offsets.setdefault(k["group"], {})[tp] = OffsetAndMetadata(
                        v["offset"], v.get("metadata", ""), v.get("timestamp", 0)
                    )
        except CorruptRecordError as exc:
            if not self._log.read_only:  # (a writer would commit over offsets it never read)
                raise CorruptRecordError(exc.path, exc.position, (
                    f"{exc.reason}. The consumer groups' committed offsets past it cannot be "
                    "read: to start without the ones it holds, stop every hub using this "
                    "data directory and move that file and its .index and .timeindex out of "
                    "it (those groups then start as their auto.offset.reset says; hub's "
                    "database and warehouse sinks go on from the offsets kept in their "
                    "target)")) from None  # fmt: skip
            # (hub topics, hub consume: the log's records are there to read all the same)
            log.warning("the consumer groups' committed offsets past a damaged batch are not "
                        "shown: %s", exc)  # fmt: skip
        self._offsets = {g: o for g, o in self._offsets.items() if o}

    def _write(self, group: str, items: Mapping[TopicPartition, OffsetAndMetadata | None]) -> None:
        if self._log.read_only:
            raise ReadOnlyLogError(self._log.path, "commit consumer group offsets")
        keys: list[bytes | None] = []
        values: list[bytes | None] = []
        for tp, om in items.items():
            keys.append(
                json.dumps(
                    {"group": group, "topic": tp.topic, "partition": tp.partition}, sort_keys=True
                ).encode()
            )
            values.append(
                None
                if om is None
                else json.dumps(
                    {"offset": om.offset, "metadata": om.metadata, "timestamp": om.timestamp}
                ).encode()
            )
        if not keys:
            return
        self._log.partition(OFFSETS_TOPIC, 0).append_records(keys, values)

    def commit(
        self,
        group: str,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
        member_id: str | None = None,
    ) -> None:
        """Store offsets durably. A group member may commit only partitions it owns; a
        standalone consumer (no member id) only partitions no member owns."""
        now = time.time_ns() // 1_000_000
        items = {
            tp: om if isinstance(om, OffsetAndMetadata) else OffsetAndMetadata(om, "", now)
            for tp, om in offsets.items()
        }
        with self._lock:
            g = self._groups.get(group)
            if g is not None:
                self._expire(group, g)
                for tp in items:
                    owner = g.owner.get(tp)
                    if owner is not None and owner != member_id:
                        raise RebalanceInProgressError(group, member_id or "(standalone)")
                    if member_id is not None and owner is None:
                        raise RebalanceInProgressError(group, member_id)
            self._write(group, items)
            self._offsets.setdefault(group, {}).update(items)

    def committed(self, group: str, tp: TopicPartition) -> OffsetAndMetadata | None:
        with self._lock:
            return self._offsets.get(group, {}).get(tp)

    def delete_offsets(self, group: str, tps: list[TopicPartition] | None = None) -> None:
        with self._lock:
            stored = self._offsets.get(group, {})
            gone = list(stored) if tps is None else [tp for tp in tps if tp in stored]
            self._write(group, {tp: None for tp in gone})
            for tp in gone:
                stored.pop(tp, None)
            if not stored:
                self._offsets.pop(group, None)

    def topics_with_offsets(self) -> set[str]:
        with self._lock:
            return {tp.topic for offsets in self._offsets.values() for tp in offsets}

    def forget_topic(self, topic: str) -> None:
        with self._lock:
            for group in list(self._offsets):
                tps = [tp for tp in self._offsets[group] if tp.topic == topic]
                if tps and not self._log.read_only:
                    self.delete_offsets(group, tps)

    # -- membership ------------------------------------------------------------------------
    def join(self, group: str, topics: tuple[str, ...], session_timeout_ms: int) -> str:
        with self._lock:
            g = self._groups.setdefault(group, _Group())
            if self._clock is None and not self._closed.is_set():
                self._ticked = time.monotonic()
                self._clock = threading.Thread(
                    target=self._run_clock, name="hub-log-groups", daemon=True
                )
                self._clock.start()
            member_id = f"{group}-{uuid.uuid4().hex[:12]}"
            g.members[member_id] = Member(member_id, tuple(topics), session_timeout_ms)
            self._rebalance(g)
            return member_id

    def leave(self, group: str, member_id: str) -> None:
        with self._lock:
            g = self._groups.get(group)
            if g is None or member_id not in g.members:
                return
            del g.members[member_id]
            for tp in [tp for tp, m in g.owner.items() if m == member_id]:
                del g.owner[tp]
            self._rebalance(g)

    def sync(
        self, group: str, member_id: str
    ) -> tuple[int, set[TopicPartition], set[TopicPartition]]:
        """Heartbeat. Returns (generation, partitions the member may consume now, partitions
        it must release by calling ``release`` after committing). Raises if it was expelled."""
        with self._lock:
            g = self._groups.get(group)
            self._expire(group, g) if g else None
            if g is None or member_id not in g.members:
                raise RebalanceInProgressError(group, member_id)
            g.members[member_id].last_seen = time.monotonic()
            owned: set[TopicPartition] = set()
            revoke: set[TopicPartition] = set()
            for tp, m in list(g.owner.items()):
                if m == member_id and g.target.get(tp) != member_id:
                    revoke.add(tp)
            for tp, target in g.target.items():
                if target != member_id:
                    continue
                if g.owner.get(tp) in (None, member_id):
                    g.owner[tp] = member_id
                    owned.add(tp)
            return g.generation, owned, revoke

    def release(self, group: str, member_id: str, tps: set[TopicPartition]) -> None:
        with self._lock:
            g = self._groups.get(group)
            if g is None:
                return
            for tp in tps:
                if g.owner.get(tp) == member_id:
                    del g.owner[tp]

    def _expire(self, group: str, g: _Group) -> None:
        now = time.monotonic()
        if self._clock is not None:  # (a stall just ended: before the clock's next tick)
            self._stalled(now)
        gone = [
            m
            for m, mem in g.members.items()
            if (now - mem.last_seen) * 1000 > mem.session_timeout_ms
        ]
        for m in gone:
            del g.members[m]
            for tp in [tp for tp, o in g.owner.items() if o == m]:
                del g.owner[tp]
        if gone:
            self._rebalance(g)

    def refresh_topics(self) -> None:
        """Recompute assignments after partitions were added or topics created/deleted."""
        with self._lock:
            for g in self._groups.values():
                self._rebalance(g)

    def _rebalance(self, g: _Group) -> None:
        g.generation += 1
        topics = {t for m in g.members.values() for t in m.topics}
        counts = {t: len(self._log.topic(t).partitions) for t in topics if self._log.has_topic(t)}
        g.target = range_assign(g.members, counts)
        for tp in [tp for tp, m in g.owner.items() if m not in g.members]:
            del g.owner[tp]

    # -- introspection ---------------------------------------------------------------------
    def list_groups(self) -> list[str]:
        with self._lock:
            active = {n for n, g in self._groups.items() if g.members}
            return sorted(active | set(self._offsets))

    def describe(self, group: str) -> GroupInfo:
        with self._lock:
            g = self._groups.get(group)
            if g is not None:
                self._expire(group, g)
            members: tuple[MemberInfo, ...] = ()
            if g is not None:
                members = tuple(
                    MemberInfo(
                        m.member_id,
                        m.topics,
                        tuple(
                            sorted((tp for tp, o in g.target.items() if o == m.member_id), key=str)
                        ),
                    )
                    for m in g.members.values()
                )
            committed = dict(self._offsets.get(group, {}))
            tps = set(committed) | (set(g.target) if g else set())
            rows = []
            for tp in sorted(tps, key=lambda t: (t.topic, t.partition)):
                if not self._log.has_topic(tp.topic):
                    continue
                try:
                    part = self._log.partition(tp.topic, tp.partition)
                except UnknownPartitionError:  # (an offset stored for a partition the topic
                    continue  # lacks: one bad entry must not fail every view of the group)
                if self._log.read_only:
                    part.refresh()
                end = part.high_watermark
                c = committed.get(tp)
                rows.append(
                    PartitionLag(
                        tp.topic,
                        tp.partition,
                        c.offset if c else None,
                        end,
                        max(end - c.offset, 0) if c else None,
                        g.owner.get(tp) if g else None,
                    )  # fmt: skip
                )
            return GroupInfo(
                group,
                "Stable" if members else "Empty",
                g.generation if g else 0,
                members,
                tuple(rows),
            )

    def has_members(self, group: str) -> bool:
        with self._lock:
            g = self._groups.get(group)
            if g is not None:
                self._expire(group, g)
            return bool(g and g.members)
