"""Consumer: reads records from assigned partitions, alone or as a member of a group.

Two ways to get partitions, as in Kafka: ``assign`` (explicit, no group membership; offsets
may still be committed under ``group_id``) or ``subscribe`` (group membership; partitions are
assigned and moved by the coordinator, see hub.log.group).

Positions: a partition's position is the next offset ``poll`` returns. Without one, the
committed offset of the group is used, else ``auto_offset_reset`` (earliest / latest / none).
An out-of-range position (e.g. removed by retention) is reset the same way.

``poll`` returns only durable records (below the high watermark) unless
``read_uncommitted=True``. With ``enable_auto_commit`` the positions of records returned by
earlier polls are committed every ``auto_commit_interval_ms`` and before partitions are
released; otherwise call ``commit`` after processing (at-least-once).

Not thread-safe: use one consumer per thread, like Kafka's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

from hub.log import codec
from hub.log.backend import Listener
from hub.log.errors import LogError, OffsetOutOfRangeError, RebalanceInProgressError
from hub.log.group import OffsetAndMetadata
from hub.log.record import Record, TopicPartition

log = logging.getLogger("hub.log")

if TYPE_CHECKING:
    from hub.log.log import Log


class NoOffsetError(LogError):
    def __init__(self, tp: TopicPartition) -> None:
        self.tp = tp
        super().__init__(
            f"no committed offset for {tp} and auto.offset.reset=none; seek or commit one first"
        )


class Consumer:
    def __init__(
        self,
        log: Log,
        *,
        group_id: str | None = None,
        auto_offset_reset: Literal["earliest", "latest", "none"] = "latest",
        enable_auto_commit: bool = False,
        auto_commit_interval_ms: int = 5000,
        session_timeout_ms: int = 10_000,
        max_poll_records: int = 500,
        fetch_max_bytes: int = 1 << 20,
        read_uncommitted: bool = False,
    ) -> None:
        if auto_offset_reset not in ("earliest", "latest", "none"):
            raise ValueError("auto_offset_reset must be earliest, latest or none")
        self._log = log
        self.group_id = group_id
        self._reset = auto_offset_reset
        self._auto_commit = enable_auto_commit and group_id is not None
        self._auto_commit_interval = auto_commit_interval_ms / 1000
        self._last_auto_commit = time.monotonic()
        self._session_timeout_ms = session_timeout_ms
        self.max_poll_records = max_poll_records
        self._fetch_max_bytes = fetch_max_bytes
        self._durable_only = not read_uncommitted
        self._assigned: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._buffers: dict[TopicPartition, tuple[list[Record], int]] = {}
        self._deferred: Exception | None = None  # a poll's error, raised at the next (`_fetch`)
        # the partition each position is of, and its topic's id (`_made_again`); the
        # partitions this consumer has read again from the start of a topic made again
        self._parts: dict[TopicPartition, tuple[object, str | None]] = {}
        self._remade: set[TopicPartition] = set()
        self._member_id: str | None = None
        self._subscription: tuple[str, ...] = ()
        self._on_assign: Listener | None = None
        self._on_revoke: Listener | None = None
        self._on_lost: Listener | None = None
        self._next = 0
        self._closed = False

    # -- assignment -------------------------------------------------------------------------
    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        if self._member_id is not None:
            raise LogError("this consumer is subscribed; call unsubscribe() before assign()")
        tps = list(dict.fromkeys(partitions))
        for tp in tps:
            self._log.partition(tp.topic, tp.partition)  # validates topic and partition
        for tp in set(self._assigned) - set(tps):
            self._drop(tp)
        self._assigned = tps

    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: Listener | None = None,
        on_revoke: Listener | None = None,
        on_lost: Listener | None = None,
    ) -> None:
        if self.group_id is None:
            raise LogError("subscribe() needs a group_id; use assign() without one")
        topics = tuple(dict.fromkeys(topics))
        for t in topics:
            self._log.topic(t)
        self.unsubscribe()
        self._subscription = topics
        self._on_assign, self._on_revoke = on_assign, on_revoke
        self._on_lost = on_lost
        self._member_id = self._log.groups.join(self.group_id, topics, self._session_timeout_ms)

    def unsubscribe(self) -> None:
        if self._member_id is not None and self.group_id is not None:
            member = self._member_id
            try:
                self._revoke(set(self._assigned))
            finally:  # (a listener that raises must not keep the member in the group, its
                # partitions owned until its session ends: 300 s for a sink)
                self._log.groups.leave(self.group_id, member)
                self._member_id = None
                self._assigned = []
        self._assigned = []

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    @property
    def member_id(self) -> str | None:
        return self._member_id

    def _drop(self, tp: TopicPartition) -> None:
        self._positions.pop(tp, None)
        self._buffers.pop(tp, None)
        self._parts.pop(tp, None)
        self._remade.discard(tp)

    def _revoke(self, tps: set[TopicPartition]) -> None:
        if not tps:
            return
        if self._on_revoke is not None:
            self._on_revoke(tps)
        if self._auto_commit:
            self._commit_positions(tps)
        assert self.group_id is not None and self._member_id is not None
        self._log.groups.release(self.group_id, self._member_id, tps)
        for tp in tps:
            self._drop(tp)
        self._assigned = [tp for tp in self._assigned if tp not in tps]

    def _sync_group(self) -> None:
        if self._member_id is None or self.group_id is None:
            return
        try:
            _gen, owned, revoke = self._log.groups.sync(self.group_id, self._member_id)
        except RebalanceInProgressError:
            # expelled (session timeout): what it held is lost (maybe owned by another member
            # already: no commit for it); rejoin with nothing owned
            lost = set(self._assigned)
            for tp in lost:
                self._drop(tp)
            self._assigned = []
            listener = self._on_lost or self._on_revoke
            if lost and listener is not None:
                listener(lost)
            self._member_id = self._log.groups.join(
                self.group_id, self._subscription, self._session_timeout_ms
            )
            _gen, owned, revoke = self._log.groups.sync(self.group_id, self._member_id)
        self._revoke(revoke)
        added = owned - set(self._assigned)
        if added:
            self._assigned.extend(sorted(added, key=lambda t: (t.topic, t.partition)))
            if self._on_assign is not None:
                self._on_assign(added)

    # -- positions --------------------------------------------------------------------------
    def _initial_position(self, tp: TopicPartition) -> int:
        if self.group_id is not None:
            committed = self._log.groups.committed(self.group_id, tp)
            if committed is not None:
                return committed.offset
        return self._reset_position(tp)

    def _reset_position(self, tp: TopicPartition) -> int:
        part = self._log.partition(tp.topic, tp.partition)
        if self._reset == "earliest":
            return part.log_start_offset
        if self._reset == "latest":
            return part.high_watermark
        raise NoOffsetError(tp)

    def position(self, tp: TopicPartition) -> int:
        pos = self._positions.get(tp)
        if pos is None:
            pos = self._positions[tp] = self._initial_position(tp)
        return pos

    def seek(self, tp: TopicPartition, offset: int) -> None:
        part = self._log.partition(tp.topic, tp.partition)
        if offset < part.log_start_offset or offset > part.log_end_offset:
            raise OffsetOutOfRangeError(
                tp.topic, tp.partition, offset, part.log_start_offset, part.log_end_offset
            )
        self._buffers.pop(tp, None)
        self._positions[tp] = offset
        self._parts[tp] = (part, self._log.topic(tp.topic).id)  # (of this topic: kept)

    def seek_to_beginning(self, tps: Iterable[TopicPartition] | None = None) -> None:
        for tp in list(tps or self._assigned):
            self.seek(tp, self._log.partition(tp.topic, tp.partition).log_start_offset)

    def seek_to_end(self, tps: Iterable[TopicPartition] | None = None) -> None:
        for tp in list(tps or self._assigned):
            self.seek(tp, self._log.partition(tp.topic, tp.partition).high_watermark)

    def offsets_for_times(
        self, times: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int | None]:
        """First offset with timestamp >= the given ms per partition (None if none)."""
        return {
            tp: self._log.partition(tp.topic, tp.partition).offset_for_timestamp(ts)
            for tp, ts in times.items()
        }

    def seek_to_time(self, timestamp: int, tps: Iterable[TopicPartition] | None = None) -> None:
        for tp in list(tps or self._assigned):
            off = self._log.partition(tp.topic, tp.partition).offset_for_timestamp(timestamp)
            if off is None:
                self.seek_to_end([tp])
            else:
                self.seek(tp, off)

    # -- polling ----------------------------------------------------------------------------
    def poll(
        self, timeout: float = 0.0, max_records: int | None = None, max_bytes: int | None = None
    ) -> list[Record]:
        """Records from the assigned partitions, waiting up to ``timeout`` seconds for some;
        with ``max_bytes``, no partition is read once the records' values hold that many
        (Kafka's fetch.max.bytes: one partition's fetch may pass it, a record at least)."""
        if self._deferred is not None:
            exc, self._deferred = self._deferred, None
            raise exc
        limit = max_records or self.max_poll_records
        deadline = time.monotonic() + timeout
        while True:
            seq = self._log.durable_seq
            self._sync_group()
            for tp in self._assigned:  # every assigned partition has a position once polled,
                if tp not in self._positions:  # as with Kafka's consumer, so that a commit
                    self.position(tp)  # covers those this poll's limit left unread too
            self._maybe_auto_commit()
            out = self._fetch(limit, max_bytes)
            remaining = deadline - time.monotonic()
            if out or remaining <= 0:
                return out
            if self._log.read_only:
                for tp in self._assigned:
                    self._log.partition(tp.topic, tp.partition).refresh()
                if self._fetch_ready():
                    continue
                time.sleep(min(remaining, 0.05))
            else:
                self._log.wait_for_data(seq, min(remaining, 0.1))

    def _fetch_ready(self) -> bool:
        for tp in self._assigned:
            part = self._log.partition(tp.topic, tp.partition)
            if self.position(tp) < part.high_watermark:
                return True
        return False

    def _fetch(self, limit: int, max_bytes: int | None = None) -> list[Record]:
        out: list[Record] = []
        n = len(self._assigned)
        size = 0
        for i in range(n):
            if len(out) >= limit or (max_bytes is not None and size >= max_bytes):
                break
            tp = self._assigned[(self._next + i) % n]
            try:
                got = self._take(tp, limit - len(out))
                if max_bytes is not None:
                    size += codec.value_bytes(got)
                out.extend(got)
            except Exception as exc:
                if not out:
                    raise
                # records of other partitions were taken (their positions moved past them):
                # they are handed over, and the error raised at the next poll, as Kafka's
                # consumer does (raised now, they were never delivered)
                self._deferred = exc
                break
        if n:
            self._next = (self._next + 1) % n
        return out

    def _made_again(self, tp: TopicPartition, part: object) -> None:
        """A topic deleted and made again under its name (another id): this consumer reads
        the new partition from its start; its position was of the old one, and the new
        topic's records below it were never delivered. Commits of it are then held to what
        was delivered of the new one (`commit`)."""
        seen = self._parts.get(tp)
        if seen is not None and seen[0] is part:
            return
        topic_id = self._log.topic(tp.topic).id
        self._parts[tp] = (part, topic_id)
        if seen is None or seen[1] is None or topic_id is None or seen[1] == topic_id:
            return
        start = self._log.watermarks(tp)[0]
        log.warning("%s-%d: the topic was deleted and made again: reading it from offset %d",
                    tp.topic, tp.partition, start)  # fmt: skip
        self._buffers.pop(tp, None)
        self._positions[tp] = start
        self._remade.add(tp)

    def _current(self, tps: Iterable[TopicPartition]) -> None:
        """`_made_again` for each of ``tps`` still there (before a commit of them)."""
        for tp in tps:
            try:
                part = self._log.partition(tp.topic, tp.partition)
            except LogError:  # (deleted, not made again: nothing of it to commit)
                continue
            self._made_again(tp, part)

    def _take(self, tp: TopicPartition, limit: int) -> list[Record]:
        part = self._log.partition(tp.topic, tp.partition)
        self._made_again(tp, part)
        buffered = self._buffers.get(tp)
        if buffered is None:
            pos = self.position(tp)
            try:
                records, nxt = part.records(
                    pos, self._fetch_max_bytes, durable_only=self._durable_only
                )
            except OffsetOutOfRangeError as exc:
                if self._reset not in ("earliest", "latest"):
                    raise  # (auto.offset.reset=none: it names the offset and the range, as
                    # Kafka's does; "no committed offset" had sent the user after the group)
                to = self._positions[tp] = self._reset_position(tp)
                log.warning(  # (as Kafka's clients say it: retention passed a slow reader)
                    "%s-%d: offset %d is out of range (valid offsets are %d..%d): going on "
                    "from %d (auto.offset.reset=%s)%s", tp.topic, tp.partition, pos,
                    exc.start, exc.end, to, self._reset,
                    f", offsets {pos} to {to - 1} skipped" if to > pos else "",
                )  # fmt: skip
                return []
            if not records:
                if nxt > pos:  # compacted-away range: skip it
                    self._positions[tp] = nxt
                return []
            buffered = (records, nxt)
        records, nxt = buffered
        taken = records[:limit]
        rest = records[limit:]
        if rest:
            self._buffers[tp] = (rest, nxt)
            self._positions[tp] = rest[0].offset
        else:
            self._buffers.pop(tp, None)
            self._positions[tp] = nxt
        return taken

    # -- commits ----------------------------------------------------------------------------
    def commit(
        self, offsets: Mapping[TopicPartition, int] | None = None, metadata: str = ""
    ) -> None:
        """Commit the given offsets (next offset to read), or the current positions, each
        with ``metadata``."""
        if self.group_id is None:
            raise LogError("commit() needs a group_id")
        if offsets is None:
            self._commit_positions(set(self._assigned))
        else:
            self._current(offsets)
            # (of a topic made again, no further than what was delivered of the new one: a
            # caller's offsets of the old one would skip the new one's first records)
            held = {tp: min(o, self._positions.get(tp, 0)) if tp in self._remade else o
                    for tp, o in offsets.items()}  # fmt: skip
            self._log.groups.commit(
                self.group_id,
                {tp: OffsetAndMetadata(o, metadata) for tp, o in held.items()},
                self._member_id,
            )

    def _commit_positions(self, tps: set[TopicPartition]) -> None:
        self._current(tps)
        offsets = {tp: self._positions[tp] for tp in tps if tp in self._positions}
        if offsets and self.group_id is not None:
            self._log.groups.commit(self.group_id, offsets, self._member_id)
        self._last_auto_commit = time.monotonic()

    def _maybe_auto_commit(self) -> None:
        if (
            self._auto_commit
            and time.monotonic() - self._last_auto_commit >= self._auto_commit_interval
        ):
            self._commit_positions(set(self._assigned))

    def committed(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, tuple[int, str]]:
        if self.group_id is None:
            return {}
        out = {}
        for tp in tps:
            om = self._log.groups.committed(self.group_id, tp)
            if om is not None:
                out[tp] = (om.offset, om.metadata)
        return out

    def heartbeat(self) -> None:
        """Keep the group membership alive without fetching (a paused sink)."""
        self._sync_group()

    def leave_group_now(self) -> None:
        """Give the group this member's partitions now, from another thread (the one polling
        is stuck in a call): the others take them at once instead of after the session
        timeout. Nothing is committed; a later poll of this consumer finds itself expelled."""
        member = self._member_id
        if member is not None and self.group_id is not None:
            self._log.groups.leave(self.group_id, member)

    def lag(self) -> dict[TopicPartition, int]:
        """Records between the position and the high watermark, per assigned partition."""
        return {
            tp: max(
                self._log.partition(tp.topic, tp.partition).high_watermark - self.position(tp), 0
            )
            for tp in self._assigned
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._auto_commit and self._member_id is None and self._assigned:
            self._commit_positions(set(self._assigned))
        self.unsubscribe()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
