"""What the runtime needs from a log: the seam between the connect runtime and its log.

The runners, the offsets and config stores and the dead letter queue use a log only through
these protocols (`hub.runtime.runner.RunnerContext.log` is a `LogBackend`), and ``mypy
--strict`` holds them to it. The embedded log (`hub.log.Log`) is the one implementation today;
the Kafka backend (`hub.log.kafka`, issue 16, docs/kafka-backend.md) the second. What stays
embedded only (a data directory, maintenance, segment files, the CLI's commands) is not here.
The console's views of topics and groups (hub/api/browse.py) and group resets
(hub/log/resets.py) read through it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from hub.log.group import GroupInfo
from hub.log.packed import Packed
from hub.log.record import Header, Record, TopicInfo, TopicPartition

Listener = Callable[[set[TopicPartition]], None]

# Kafka: which topics continue others' offsets (`LogBackend.continue_topic`): key the topic's
# name, value {"id": its id, "continues": [ids]} (the embedded log keeps them in topic.json)
LINEAGE_TOPIC = "__hub_topic_lineage"
# the last copy between logs into this one (`hub log export/import`): its state and the
# topics it made (hub.runtime.copymark); a worker refuses the storage topics of an unfinished one
COPY_MARKER_TOPIC = "__hub_copy_in_progress"


class LogProducer(Protocol):
    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] | None = None,
        timestamp: int | None = None,
        partition: int | None = None,
    ) -> object:
        """Buffer one record (appended at the latest by ``flush``)."""

    def send_many(
        self,
        topic: str,
        values: Sequence[bytes | None],
        keys: Sequence[bytes | None] | None = None,
        headers: Sequence[Sequence[Header] | None] | None = None,
        timestamps: int | Sequence[int] | None = None,
        partition: int | None = None,
        seq_header: tuple[str, bytes, int] | None = None,
    ) -> object:
        """Append records now, all or none of them (`RecordTooLargeError`: none);
        ``seq_header`` (key, prefix, first_seq) gives record i the header
        ``(key, prefix + b"%d" % (first_seq + i))``."""

    def send_packed(
        self,
        records: Packed,
        topic: str,
        *,
        header_key: str | None = None,
        header_prefix: bytes = b"",
        first_seq: int = 0,
        timestamp: int | None = None,
        partition: int | None = None,
    ) -> object:
        """Append packed records now, as ``send_many`` (a backend may expand them)."""

    def flush(self, durable: bool = True) -> object:
        """Everything sent so far appended and durable (or the first failure raised)."""


class TransactionalProducer(LogProducer, Protocol):
    """A source task's producer on a log with transactions (Kafka with the worker's
    ``exactly.once.source.support: enabled``, KIP-618). Made with a transactional id, it
    fences every earlier producer of that id first (their open transaction is aborted, their
    next send or commit fails with `ProducerFencedError`). The first send after a commit
    opens a transaction; readers (read_committed) see its records when it commits."""

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (something was sent since the last commit)."""

    def commit_transaction(self) -> None:
        """Commit the open transaction (nothing when none is open); `ProducerFencedError`
        when a newer producer of the same id exists."""

    def abort_transaction(self) -> None:
        """Abort the open transaction, if any (best effort: a failure is logged)."""


class LogConsumer(Protocol):
    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: Listener | None = None,
        on_revoke: Listener | None = None,
        on_lost: Listener | None = None,
    ) -> None:
        """Join the group for ``topics``; the listeners get the partitions added / removed.
        ``on_lost`` gets partitions taken away without a hand-over (the member was expelled:
        its session or poll interval expired), which another member may own already: no
        commit for them can succeed. Without it, ``on_revoke`` gets them (as Kafka's
        ``ConsumerRebalanceListener`` does)."""

    def assignment(self) -> set[TopicPartition]: ...

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` next (`OffsetOutOfRangeError` outside the log)."""

    def poll(
        self, timeout: float = 0.0, max_records: int | None = None, max_bytes: int | None = None
    ) -> list[Record]:
        """Durable records of the assigned partitions, waiting up to ``timeout`` s."""

    def commit(
        self, offsets: Mapping[TopicPartition, int] | None = None, metadata: str = ""
    ) -> None:
        """Store the group's next offsets (the positions, if None), each with ``metadata``
        (Kafka's offset metadata: who committed it, say)."""

    def committed(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, tuple[int, str]]:
        """The group's committed offsets of ``tps`` that it has, with their metadata."""

    def lag(self) -> dict[TopicPartition, int]: ...

    def heartbeat(self) -> None:
        """Keep the group membership alive while not polling (a paused connector)."""

    @property
    def member_id(self) -> str | None: ...

    def close(self) -> None: ...


class GroupAdmin(Protocol):
    """The groups' committed offsets, as the worker's offsets endpoints and its sink-lag job
    read and change them."""

    def describe(self, group: str) -> GroupInfo:
        """Members and, per partition, the committed offset, the end and the lag."""

    def commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Store offsets for partitions no live member owns (a STOPPED connector's)."""

    def delete_offsets(self, group: str, tps: list[TopicPartition] | None = None) -> None:
        """Forget the committed offsets of ``tps`` (all of the group's if None)."""

    def list_groups(self) -> list[str]:
        """The groups with members or committed offsets, sorted."""

    def has_members(self, group: str) -> bool:
        """Whether a consumer is in the group now (its commits would undo a reset)."""


class LogBackend(Protocol):
    @property
    def groups(self) -> GroupAdmin: ...

    def has_topic(self, name: str) -> bool: ...

    def topics(self, include_internal: bool = False) -> list[str]: ...

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, Any] | None = None,
        replication_factor: int | None = None,
    ) -> object:
        """`TopicExistsError` if it exists. ``replication_factor``: copies of each partition
        on a cluster (None: the backend's default; -1: the cluster's own
        ``default.replication.factor``); a log on one machine keeps one and ignores it."""

    def delete_topic(self, name: str, internal: bool = False) -> None:
        """Delete it, its records and its groups' offsets (an internal topic, ``__*``, only
        with ``internal``); returns once a topic of its name may be created again."""

    def partition_count(self, topic: str) -> int: ...

    def describe(self, name: str) -> TopicInfo:
        """Its partitions (start, end, durable end, and size where known) and its config as
        set (`UnknownTopicError` if there is no such topic)."""

    def topic_ids(self, name: str) -> tuple[str, ...]:
        """The topic's id (`TopicInfo.id`: another id under the same name is another topic,
        made again after a delete), then the ids of the topics it continues (`continue_topic`);
        () where the backend keeps none."""

    def continue_topic(self, name: str, ids: Sequence[str]) -> None:
        """Record that topic ``name`` continues the topics of ``ids`` (a copy of them with
        every offset kept: ``hub log import``), so offsets stored for those are its own."""

    def topic_properties(self, name: str) -> dict[str, str]:
        """The topic's effective configuration (defaults included)."""

    def offset_for_timestamp(self, tp: TopicPartition, timestamp: int) -> int | None:
        """The first offset whose record's timestamp is at or after ``timestamp`` (epoch
        ms); None when there is none."""

    def watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        """(first offset, durable end): records below the end survive a crash."""

    def scan(self, tp: TopicPartition, start: int = 0, end: int | None = None) -> Iterator[Record]:
        """The durable records of ``tp`` from ``start`` to its durable end, in order. With
        ``end`` (a durable end the caller read before): every record of a batch that began
        before it, and possibly more, however fast others append meanwhile."""

    def append_durable(
        self, tp: TopicPartition, keys: Sequence[bytes | None], values: Sequence[bytes | None]
    ) -> None:
        """Append keyed records to ``tp`` in order and make them durable before returning
        (how the internal topics are written). The embedded log appends them all or nothing;
        Kafka may land a prefix of them when the process dies mid-call, so writers order
        their records such that any prefix reads back consistently (hub.runtime.offsets)."""

    def producer(self, **config: Any) -> LogProducer: ...

    @property
    def transaction_prefix(self) -> str | None:
        """Source tasks write in transactions (`transactional_producer`) with ids
        ``<prefix>-<connector>-<task>``; None: they do not (the embedded log, one writer per
        data directory, needs none)."""

    @property
    def transaction_timeout_ms(self) -> int:
        """How long a transaction may stay open before the broker aborts it (0: none)."""

    def transactional_producer(self, transactional_id: str, **config: Any) -> TransactionalProducer:
        """A producer writing in transactions, having fenced the id's earlier producers."""

    def consumer(self, **config: Any) -> LogConsumer: ...

    def close(self) -> None: ...


def holds(log: LogBackend, tp: TopicPartition, offset: int) -> bool:
    """Whether ``tp`` reaches ``offset`` (holds it, or a later record: compaction), whatever
    end the broker reports: Tansu reports a partition's end as its last batch's first offset
    + 1 (docs/kafka-backend.md), hundreds of records short after a big batch, so an end
    below an offset read before does not by itself mean the topic was made again. Reads one
    record; a scan from past the end starts at the partition's start instead."""
    for r in log.scan(tp, offset):
        return r.offset >= offset
    return False
