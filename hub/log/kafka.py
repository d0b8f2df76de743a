"""The log on Apache Kafka through confluent-kafka (librdkafka): the second implementation of
the backend seam (`hub.log.backend`), issue 16's first part: every part of `LogBackend`
(topics, produce, scans, durable appends, group consumers, group offsets), tested against a
Kafka-protocol broker (tests/log/test_kafka_backend.py). Not built yet: the worker choosing
this backend from its config, transactions, distributed workers (docs/kafka-backend.md).

Records keep the embedded log's semantics where the runtime relies on them: an idempotent
producer (``acks=all``: retries neither duplicate nor reorder, which the source runner's seq
recovery needs), Kafka's own murmur2 partitioner (as `hub.log.default_partition`), a send of
many records refused whole when one is past the topic's ``max.message.bytes``, and ``flush``
raising the first failed delivery. A scan reads until a fetch comes back empty at the end
rather than stopping at the high watermark (a broker may report it low: docs/kafka-backend.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
)
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource, ConfigSource
from confluent_kafka.cimpl import NewTopic

from hub.errors import ConfigError, TransientError
from hub.log.backend import LINEAGE_TOPIC, Listener, LogBackend
from hub.log.errors import (
    CommitNotMadeError,
    InvalidTopicError,
    LogError,
    ProducerFencedError,
    RebalanceInProgressError,
    RecordTooLargeError,
    TopicExistsError,
    UnknownTopicError,
)
from hub.log.group import GroupInfo, MemberInfo, PartitionLag
from hub.log.packed import Packed
from hub.log.record import Header, PartitionInfo, Record, TopicInfo, TopicPartition

TIMEOUT_S = 30.0
TXN_TIMEOUT_MS = 20000  # a source task's transactions (transaction.timeout.ms)

# client properties only consumers take (librdkafka warns when a producer is given them)
_CONSUMER_ONLY = ("session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms",
                  "auto.offset.reset", "enable.auto.commit", "isolation.level",
                  "partition.assignment.strategy", "group.", "fetch.")  # fmt: skip


def _not_consumer_only(conf: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in conf.items() if not k.startswith(_CONSUMER_ONLY)}


logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 1048588  # Kafka's default max.message.bytes
_PAST_END_FETCHES = 20  # a scan to the end ends after so many fetches with records past it


# a commit not made for now: the coordinator not reached (a broker down, the network cut)
_UNREACHED = (
    KafkaError._WAIT_COORD,
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.REQUEST_TIMED_OUT,
)

# a commit refused because the group moved on (the embedded log's RebalanceInProgressError)
_REBALANCED = (
    KafkaError._ASSIGNMENT_LOST,  # (librdkafka's own answer for a commit after a lost assignment)
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
)


class KafkaDeliveryError(LogError, TransientError):
    """Records sent to Kafka were not acknowledged (the first failed delivery report); the
    producer refuses further sends (a task restarts with a new one)."""


class KafkaRecordTooLargeError(LogError, ConfigError):
    """The broker refused a batch past the topic's max.message.bytes (after sending began:
    part of the send may have landed)."""


_NO_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"  # (Kafka's zero Uuid, base64: a broker without ids)


def _kafka_error(exc: KafkaException) -> KafkaError:
    err: KafkaError = exc.args[0]
    return err


class KafkaLog:
    """The log backend on a Kafka cluster. ``config`` holds librdkafka's client properties
    (``bootstrap.servers``, ``security.protocol``, ``sasl.*``, ``ssl.*``) with Kafka's names;
    ``replication.factor`` is the internal and auto-created topics' replication factor."""

    def __init__(
        self,
        config: Mapping[str, Any],
        replication_factor: int = 1,
        transaction_prefix: str | None = None,
    ) -> None:
        """``transaction_prefix``: source tasks write in transactions (the worker config's
        ``exactly.once.source.support: enabled``) with ids ``<prefix>-<connector>-<task>``."""
        self._conf = {str(k): v for k, v in config.items()}
        self.name = str(self._conf.get("bootstrap.servers", ""))  # (no secret in it)
        self.replication_factor = replication_factor
        self.transaction_prefix = transaction_prefix
        # (a worker config's value is checked where it is read: hub.cli.connect)
        self.transaction_timeout_ms = int(self._conf.get("transaction.timeout.ms", TXN_TIMEOUT_MS))
        self._admin = AdminClient(_not_consumer_only(self._conf))
        # the properties only consumers take, checked now as the admin client's are: a bad
        # one (session.timeout.ms: abc) failed the first consumer, after the offsets topic
        # had been created, as "unexpected KafkaException"
        Consumer({**self._conf, "group.id": self._conf.get("group.id") or "hub-check"}).close()
        self._util: Consumer | None = None
        self._internal: KafkaProducer | None = None  # append_durable's
        self._lock = threading.Lock()
        self._limits: dict[str, int] = {}
        self.groups = KafkaGroups(self)

    # -- topics ------------------------------------------------------------------------------
    def _topics(self) -> dict[str, Any]:
        topics: dict[str, Any] = self._admin.list_topics(timeout=TIMEOUT_S).topics
        return topics

    def client_config(self) -> dict[str, Any]:
        """The librdkafka properties this log's clients start from (the worker config's:
        bootstrap servers, security, timeouts)."""
        return dict(self._conf)

    def check_reachable(self, timeout_s: float) -> int:
        """Ask the cluster for its metadata: how many brokers it has; `KafkaException` when no
        broker answers within ``timeout_s``."""
        return len(self._admin.list_topics(timeout=timeout_s).brokers)

    def has_topic(self, name: str) -> bool:
        return name in self._topics()

    def topics(self, include_internal: bool = False) -> list[str]:
        return sorted(t for t in self._topics() if include_internal or not t.startswith("__"))

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, Any] | None = None,
        replication_factor: int | None = None,
    ) -> None:
        conf = {str(k): str(v) for k, v in (config or {}).items()}
        factor = self.replication_factor if replication_factor is None else replication_factor
        topic = NewTopic(name, partitions, factor, config=conf)
        try:
            self._admin.create_topics([topic])[name].result(TIMEOUT_S)
        except KafkaException as exc:
            code = _kafka_error(exc).code()
            if code == KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicExistsError(name) from None
            if code in (KafkaError.INVALID_REPLICATION_FACTOR, KafkaError.INVALID_CONFIG):
                what = ("replication factor" if code == KafkaError.INVALID_REPLICATION_FACTOR
                        else "config")  # fmt: skip
                raise ConfigError(
                    f"the Kafka cluster refused to create topic {name!r} (replication factor "
                    f"{factor}, config {conf or '{}'}): {_kafka_error(exc).str()}; set the "
                    f"{what} it takes (replication factor: the worker's replication.factor or "
                    "*.storage.replication.factor, a connector's "
                    "topic.creation.default.replication.factor; at most the number of "
                    "brokers, or -1 for the cluster's default)"
                ) from None
            raise
        deadline = time.monotonic() + TIMEOUT_S
        while not self.has_topic(name):  # (metadata reaches every broker a moment later)
            if time.monotonic() > deadline:
                raise LogError(f"topic {name!r} was created but does not show in the metadata")
            time.sleep(0.05)

    def delete_topic(self, name: str, internal: bool = False) -> None:
        if name.startswith("__") and not internal:
            raise InvalidTopicError(name, "internal topics cannot be deleted")
        try:
            self._admin.delete_topics([name], operation_timeout=TIMEOUT_S)[name].result(TIMEOUT_S)
        except KafkaException as exc:
            if _kafka_error(exc).code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise UnknownTopicError(name) from None
            raise
        deadline = time.monotonic() + TIMEOUT_S
        while self.has_topic(name):  # (a topic being deleted cannot be made again yet)
            if time.monotonic() > deadline:
                raise LogError(f"topic {name!r} was deleted but still shows in the metadata")
            time.sleep(0.05)

    def partition_count(self, topic: str) -> int:
        md = self._topics().get(topic)
        if md is None:
            raise UnknownTopicError(topic)
        return len(md.partitions)

    def describe(self, name: str) -> TopicInfo:
        """Partitions with their watermarks (the high watermark is both the end and the
        durable end: what the in-sync replicas hold), no sizes; the config set on the topic
        (``DYNAMIC_TOPIC_CONFIG`` entries)."""
        md = self._topics().get(name)
        if md is None:
            raise UnknownTopicError(name)
        parts = []
        for p in sorted(md.partitions):
            lo, hi = self.watermarks(TopicPartition(name, p))
            parts.append(PartitionInfo(p, lo, hi, hi, None, None))
        explicit = {
            k: str(e.value) for k, e in self._config_entries(name).items()
            if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and e.value is not None
            and not e.is_sensitive
        }  # fmt: skip
        return TopicInfo(name, tuple(parts), explicit, name.startswith("__"), self.topic_id(name))

    def topic_id(self, name: str) -> str | None:
        """Kafka's topic id (KIP-516), as its tools print it; None when the cluster has none
        to give (a broker before 2.8 answers the all-zero id, or cannot describe topics)."""
        from confluent_kafka import TopicCollection

        future = self._admin.describe_topics(TopicCollection([name]), request_timeout=TIMEOUT_S)[
            name
        ]
        try:
            described = future.result()
        except KafkaException as exc:
            if _kafka_error(exc).code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise UnknownTopicError(name) from None
            logger.warning("topic %s: the cluster does not give its id (%s)", name,
                           _kafka_error(exc).str())  # fmt: skip
            return None
        found = getattr(described, "topic_id", None)
        text = str(found) if found is not None else ""
        return None if not text or text == _NO_TOPIC_ID else text

    def topic_ids(self, name: str) -> tuple[str, ...]:
        """Its id, then the ids the last record of ``__hub_topic_lineage`` for it lists, when
        that record was written for this id (a topic made again later continues nothing)."""
        own = self.topic_id(name)
        if own is None:
            return ()
        if not self.has_topic(LINEAGE_TOPIC):
            return (own,)
        doc: Any = None
        for r in self.scan(TopicPartition(LINEAGE_TOPIC, 0)):
            if r.key == name.encode():
                doc = json.loads(r.value) if r.value is not None else None
        if not isinstance(doc, dict) or doc.get("id") != own:
            return (own,)
        return (own, *(str(i) for i in doc.get("continues", ()) if i and i != own))

    def continue_topic(self, name: str, ids: Sequence[str]) -> None:
        own = self.topic_id(name)
        if own is None:  # (no id to compare: a sink keeps its stored offsets as they are)
            return
        if not self.has_topic(LINEAGE_TOPIC):
            with contextlib.suppress(TopicExistsError):
                self.create_topic(LINEAGE_TOPIC, 1, {"cleanup.policy": "compact"})
        doc = {"id": own, "continues": [i for i in dict.fromkeys(ids) if i and i != own]}
        self.append_durable(TopicPartition(LINEAGE_TOPIC, 0), [name.encode()],
                            [json.dumps(doc).encode()])  # fmt: skip

    def topic_properties(self, name: str) -> dict[str, str]:
        return {k: str(e.value) for k, e in sorted(self._config_entries(name).items())
                if e.value is not None and not e.is_sensitive}  # fmt: skip

    def _config_entries(self, topic: str) -> dict[str, Any]:
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        try:
            got: dict[str, Any] = self._admin.describe_configs([res])[res].result(TIMEOUT_S)
        except KafkaException as exc:
            if _kafka_error(exc).code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise UnknownTopicError(topic) from None
            raise
        return got

    def offset_for_timestamp(self, tp: TopicPartition, timestamp: int) -> int | None:
        got = self._utility().offsets_for_times(
            [KafkaTopicPartition(tp.topic, tp.partition, timestamp)], timeout=TIMEOUT_S
        )
        if got[0].error is not None:
            raise KafkaException(got[0].error)
        offset = int(got[0].offset)
        return None if offset < 0 else offset

    def max_message_bytes(self, topic: str) -> int:
        """The topic's max.message.bytes (asked once per topic)."""
        limit = self._limits.get(topic)
        if limit is None:
            entries = self._config_entries(topic)
            entry = entries.get("max.message.bytes")
            limit = int(entry.value) if entry is not None else DEFAULT_MAX_MESSAGE_BYTES
            self._limits[topic] = limit
        return limit

    # -- offsets and reads -------------------------------------------------------------------
    def _utility(self) -> Consumer:
        if self._util is None:
            self._util = Consumer(
                {
                    **self._conf,
                    "group.id": f"hub-util-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    # the high watermark, not the last stable offset (below the first record
                    # of a transaction still open): a read to the end waits for those
                    "isolation.level": "read_uncommitted",
                }  # fmt: skip
            )
        return self._util

    def watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        lo, hi = self._utility().get_watermark_offsets(
            KafkaTopicPartition(tp.topic, tp.partition), timeout=TIMEOUT_S, cached=False
        )
        return int(lo), int(hi)

    def scan(self, tp: TopicPartition, start: int = 0, end: int | None = None) -> Iterator[Record]:
        """To the end the client reports and a fetch after it that brings no record (a
        broker may report the end too low); with ``end``, to the first end reported at or
        past it (others appending all the while leave no empty fetch). Committed records only
        (read_committed): without ``end``, to the first transaction still open (the last
        stable offset); with ``end``, such a transaction below it is waited for."""
        consumer = Consumer(
            {
                **self._conf,
                "group.id": f"hub-scan-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
                # a fetch at the end comes back at once, not after the broker's 500 ms wait
                # for more (a scan of an empty partition took 1 s, three at every start)
                "fetch.wait.max.ms": 10,
            }
        )
        try:
            lo, reported = self.watermarks(tp)
            consumer.assign([KafkaTopicPartition(tp.topic, tp.partition, max(start, lo))])
            # the end: the client says the partition is read up to its end (EOF), and a fetch
            # after that finds nothing more (a broker may report the end too low); or, while
            # others append all the while (no fetch comes back empty), the twentieth fetch
            # with records past the EOF once the end reported at the start is read (a margin
            # for a broker that reports it too low: Tansu): a worker's start read the offsets
            # topic for as long as another's task committed a transaction every poll
            deadline = time.monotonic() + TIMEOUT_S
            at_end = False
            past_end = 0  # fetches with records since the EOF
            position = max(start, lo)
            while True:
                # (short waits until the end: a consume waits its whole timeout for fewer
                # than 1000 records; 0.25 s made every scan of a small topic last 0.35 s)
                got = consumer.consume(1000, 0.1 if at_end else 0.02)
                records = []
                for m in got:
                    err = m.error()
                    if err is None:
                        record = _record(m)
                        records.append(record)
                        position = record.offset + 1
                    elif err.code() == KafkaError._PARTITION_EOF:
                        at_end = True
                    else:
                        raise KafkaException(err)
                if end is not None and (at_end or not records):
                    # past the markers that end transactions, which are not records
                    (where,) = consumer.position([KafkaTopicPartition(tp.topic, tp.partition)])
                    position = max(position, where.offset)
                if end is not None and position >= end and (at_end or len(got) < 1000):
                    # past ``end`` with the client's queue drained (it queues a fetched
                    # batch whole): every batch that began before ``end`` was read
                    yield from records
                    return
                if records:
                    yield from records
                    deadline = time.monotonic() + TIMEOUT_S
                    if end is None and at_end:
                        past_end += 1
                        if past_end >= _PAST_END_FETCHES and position >= reported:
                            return
                elif at_end and end is None:  # (below ``end``: wait for it)
                    # a fetch after the end found no record (on a topic with transactions the
                    # client reports the end again after each fetch: not "nothing came back")
                    return
                elif time.monotonic() > deadline:
                    raise LogError(f"reading {tp} from Kafka: no end within {TIMEOUT_S:.0f} s")
        finally:
            consumer.close()

    def append_durable(
        self, tp: TopicPartition, keys: Sequence[bytes | None], values: Sequence[bytes | None]
    ) -> None:
        with self._lock:  # (the offsets and config stores write from their own threads)
            if self._internal is None:
                self._internal = self.producer()
            try:
                self._internal.send_many(tp.topic, values, keys=keys, partition=tp.partition)
                self._internal.flush()
            except BaseException:
                self._internal = None  # a failed producer refuses further sends: a new one
                raise

    # -- clients -----------------------------------------------------------------------------
    def producer(self, **config: Any) -> KafkaProducer:
        return KafkaProducer(
            self, compression=config.get("compression"),
            keyless_partition=config.get("keyless_partition"),
        )  # fmt: skip

    def transactional_producer(self, transactional_id: str, **config: Any) -> KafkaProducer:
        return KafkaProducer(
            self, compression=config.get("compression"), transactional_id=transactional_id,
            keyless_partition=config.get("keyless_partition"),
        )  # fmt: skip

    def consumer(self, **config: Any) -> KafkaConsumer:
        return KafkaConsumer(
            self,
            group_id=config.get("group_id"),
            auto_offset_reset=config.get("auto_offset_reset", "latest"),
            max_poll_records=int(config.get("max_poll_records", 500)),
            max_poll_interval_ms=config.get("max_poll_interval_ms"),
        )

    def close(self) -> None:
        if self._internal is not None:
            self._internal.flush()
            self._internal = None
        if self._util is not None:
            self._util.close()
            self._util = None


class KafkaGroups:
    """The groups' committed offsets through Kafka's admin API (`hub.log.backend.GroupAdmin`).
    Kafka has no call that forgets one partition's committed offset: ``delete_offsets`` with
    partitions deletes the group and commits the others again, which needs the group empty
    (a STOPPED connector's, as the worker's offsets endpoints require)."""

    def __init__(self, log: KafkaLog) -> None:
        self._log = log

    def _committed(self, group: str) -> dict[TopicPartition, int]:
        req = ConsumerGroupTopicPartitions(group)
        got = self._log._admin.list_consumer_group_offsets([req])[group].result(TIMEOUT_S)
        return {
            TopicPartition(str(p.topic), int(p.partition)): int(p.offset)
            for p in got.topic_partitions or ()
            if p.offset is not None and p.offset >= 0
        }

    def describe(self, group: str) -> GroupInfo:
        committed = self._committed(group)
        desc = self._log._admin.describe_consumer_groups([group])[group].result(TIMEOUT_S)
        members, owners = [], {}
        for m in desc.members or ():
            mine = tuple(
                TopicPartition(str(p.topic), int(p.partition))
                for p in (m.assignment.topic_partitions if m.assignment else None) or ()
            )
            members.append(MemberInfo(m.member_id, tuple(sorted({tp.topic for tp in mine})), mine))
            owners.update({tp: m.member_id for tp in mine})
        parts = []
        for tp in sorted({*committed, *owners}, key=lambda t: (t.topic, t.partition)):
            end = self._log.watermarks(tp)[1]
            done = committed.get(tp)
            lag = None if done is None else max(end - done, 0)
            parts.append(PartitionLag(tp.topic, tp.partition, done, end, lag, owners.get(tp)))
        # Kafka's names (Stable, Empty, PreparingRebalance...), not the client's enum's
        raw = str(getattr(desc.state, "name", desc.state))
        state = "".join(w.capitalize() for w in raw.replace("REBALANCING", "REBALANCE").split("_"))
        return GroupInfo(group, state, 0, tuple(members), tuple(parts))

    def commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        req = ConsumerGroupTopicPartitions(
            group, [KafkaTopicPartition(tp.topic, tp.partition, o) for tp, o in offsets.items()]
        )
        self._log._admin.alter_consumer_group_offsets([req])[group].result(TIMEOUT_S)

    def list_groups(self) -> list[str]:
        got = self._log._admin.list_consumer_groups().result(TIMEOUT_S)
        return sorted(
            str(g.group_id) for g in got.valid or ()
            if not str(g.group_id).startswith(("hub-util-", "hub-scan-"))  # (our readers')
        )  # fmt: skip

    def has_members(self, group: str) -> bool:
        """Members listed, or any state but EMPTY and DEAD (Tansu lists no members; an
        UNKNOWN state counts as active: a reset then waits rather than races a consumer)."""
        desc = self._log._admin.describe_consumer_groups([group])[group].result(TIMEOUT_S)
        state = str(getattr(desc.state, "name", desc.state)).upper()
        return bool(desc.members) or state not in ("EMPTY", "DEAD")

    def delete_offsets(self, group: str, tps: list[TopicPartition] | None = None) -> None:
        kept = {} if tps is None else {tp: o for tp, o in self._committed(group).items()
                                      if tp not in set(tps)}  # fmt: skip
        try:
            self._log._admin.delete_consumer_groups([group])[group].result(TIMEOUT_S)
        except KafkaException as exc:
            if _kafka_error(exc).code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise
        self.commit(group, kept)


def _size(data: bytes | None) -> int:
    return 0 if data is None else len(data)


def _record(m: Any) -> Record:
    headers = tuple((k, v) for k, v in (m.headers() or ()))
    return Record(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(),
                  headers)  # fmt: skip


# what a transaction's operation answers when a newer producer of its id exists
_FENCED = (
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError._FENCED,
)


class KafkaProducer:
    """``transactional_id``: every send after a commit opens a transaction (KIP-618's
    source task producer); made, it has fenced the id's earlier producers. With
    ``keyless_partition``, a record without a key (and without a partition) goes to that
    partition, instead of one librdkafka picks."""

    def __init__(
        self,
        log: KafkaLog,
        compression: str | None = None,
        transactional_id: str | None = None,
        keyless_partition: int | None = None,
    ) -> None:
        self._log = log
        self._keyless = keyless_partition
        self.transactional_id = transactional_id
        self._in_txn = False
        # fenced, or failed for good: no abort (it would wait its whole timeout), no send
        self._unusable = False
        # the first failed delivery; the callback holds this list, not the producer (a
        # cycle through the client would keep a dropped producer's threads and connections
        # until the garbage collector's next full pass)
        failures: list[KafkaError] = []
        self._failures = failures

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None and not failures:
                failures.append(err)

        # the error that made the producer unusable (fenced, a sequence lost): its sends then
        # fail with a bare "fatal error", this says which (`_cause`)
        self._fatal: list[KafkaError] = []

        txn: dict[str, Any] = {}
        if transactional_id is not None:
            # the coordinator aborts a transaction its producer left open after this: a
            # read to the end (hub.log.kafka.KafkaLog.scan with ``end``) waits that long at
            # most, below its own 30 s (Kafka's default, 60 s, would make it fail first); a
            # record not delivered by then fails (librdkafka wants it so)
            limit = log.transaction_timeout_ms
            txn = {"transaction.timeout.ms": limit, "message.timeout.ms": limit}
        self._p = Producer(
            {# what waits for the brokers, at most (Java's buffer.memory is 32 MB; librdkafka's
             # own default, 1 GB, grew a worker to 400 MB behind a slow broker); a full queue
             # makes sends wait. The client's properties may say otherwise
             "queue.buffering.max.kbytes": 32768,
             **_not_consumer_only(log._conf), "enable.idempotence": True, "acks": "all",
             "linger.ms": 5,
             "partitioner": "murmur2_random",
             # a record not acknowledged by then fails, rather than arriving after a flush
             # gave up on it (and after a restarted task's recovery scan)
             "message.timeout.ms": int(TIMEOUT_S * 1000),
             # the topic's max.message.bytes is checked before sending, not the client's
             "message.max.bytes": 1 << 29,
             "compression.type": compression if compression not in (None, "producer") else "none",
             # one callback for the producer, called for the failures only (a Python call a
             # record halved the throughput: bench/kafka_bench.py)
             "on_delivery": delivered, "delivery.report.only.error": True,
             **txn, **({} if transactional_id is None else {"transactional.id": transactional_id})}
        )  # fmt: skip
        if transactional_id is not None:
            try:  # fences the earlier producers of the id, aborting what they left open
                self._p.init_transactions(TIMEOUT_S)
            except KafkaException as exc:
                raise self._txn_error(exc, "starting its transactions") from None

    def _txn_error(self, exc: KafkaException, doing: str) -> LogError:
        err = self._cause(_kafka_error(exc))
        assert self.transactional_id is not None
        if err.code() in _FENCED or err.fatal():
            # (for good: the coordinator aborts what was open, or a newer producer did)
            self._unusable, self._in_txn = True, False
        if err.code() in _FENCED:
            return ProducerFencedError(self.transactional_id, err.str())
        if err.fatal():
            return KafkaDeliveryError(f"{doing} failed for transactional id "
                                      f"{self.transactional_id!r}: {err.str()}")  # fmt: skip
        return KafkaDeliveryError(f"{doing} failed: {err.str()}")

    def _cause(self, err: KafkaError) -> KafkaError:
        """The error behind librdkafka's bare "fatal error" (the next poll raises it)."""
        if err.code() != KafkaError._FATAL:
            return err
        if not self._fatal:
            try:
                self._p.poll(0)
            except KafkaException as exc:
                if _kafka_error(exc).fatal():
                    self._fatal.append(_kafka_error(exc))
            except SystemError:  # (see flush)
                pass
        return self._fatal[0] if self._fatal else err

    def _failed_for_good(self, exc: KafkaException | SystemError) -> NoReturn:
        """Raise what a flush or poll raised: a fatal error (fenced) as our error. It comes
        as a KafkaException, or (confluent-kafka 2.16) as the cause of a SystemError from
        serving the reports of the records it purged meanwhile."""
        raised = exc if isinstance(exc, KafkaException) else exc.__cause__
        if isinstance(raised, KafkaException):
            cause = self._cause(_kafka_error(raised))
            if cause.fatal():
                if not self._fatal:
                    self._fatal.append(cause)
                self._raise_failed()
        raise exc

    def _begin(self) -> None:
        """Open a transaction for what is sent next (a transactional producer, none open)."""
        if self.transactional_id is None or self._in_txn:
            return
        self._raise_failed()
        try:
            self._p.begin_transaction()
        except KafkaException as exc:
            raise self._txn_error(exc, "opening a transaction") from None
        self._in_txn = True

    @property
    def in_transaction(self) -> bool:
        return self._in_txn

    def commit_transaction(self) -> None:
        if not self._in_txn:
            return
        self._raise_failed()  # (a record not delivered: the commit would fail anyway)
        try:
            self._p.commit_transaction(TIMEOUT_S)
        except KafkaException as exc:
            error = self._txn_error(exc, "committing a transaction")
            if _kafka_error(exc).txn_requires_abort():
                self.abort_transaction()
            raise error from None
        self._in_txn = False

    def abort_transaction(self) -> None:
        if not self._in_txn:
            return
        self._in_txn = False
        if self._unusable:  # (the coordinator aborts it: a newer producer fenced this one)
            return
        try:
            self._p.abort_transaction(TIMEOUT_S)
        except KafkaException as exc:  # (fenced or fatal: the coordinator aborts it anyway)
            logger.warning("aborting transaction of %r: %s", self.transactional_id,
                           _kafka_error(exc).str())  # fmt: skip

    def _produce(self, topic: str, value: bytes | None, key: bytes | None,
                 headers: Sequence[Header] | None, timestamp: int | None,
                 partition: int | None) -> None:  # fmt: skip
        self._raise_failed()  # (later records must not land before the failed ones' replay)
        kw: dict[str, Any] = {}
        if headers:
            kw["headers"] = list(headers)
        if timestamp is not None:
            kw["timestamp"] = timestamp
        if partition is not None:
            kw["partition"] = partition
        elif key is None and self._keyless is not None:
            kw["partition"] = self._keyless
        while True:
            try:
                self._p.produce(topic, value=value, key=key, **kw)
                return
            except BufferError:  # the client's queue is full: let it send, then again
                try:
                    self._p.poll(0.01)  # (0.1 s waits cost a third of the throughput)
                except (KafkaException, SystemError) as exc:
                    self._failed_for_good(exc)
            except KafkaException as exc:  # (a transaction's state: fenced, failed)
                if self.transactional_id is None:
                    raise
                raise self._txn_error(exc, "sending") from None

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] | None = None,
        timestamp: int | None = None,
        partition: int | None = None,
    ) -> None:
        self._check(topic, [key], [value], [headers])
        self._begin()
        self._produce(topic, value, key, headers, timestamp, partition)

    def _check(
        self,
        topic: str,
        keys: Sequence[bytes | None],
        values: Sequence[bytes | None],
        headers: Sequence[Sequence[Header] | None] | None,
    ) -> None:
        """Refuse the whole send when one record is past the topic's max.message.bytes."""
        limit = self._log.max_message_bytes(topic)
        if (
            headers is None
            and 100 + max(map(_size, values), default=0) + max(map(_size, keys), default=0) <= limit
        ):  # (no record can be past it: no record-by-record sum)
            return
        for i, v in enumerate(values):
            size = 100 + (len(v) if v is not None else 0)
            k = keys[i]
            size += len(k) if k is not None else 0
            for hk, hv in (headers[i] if headers is not None else None) or ():
                size += len(hk) + (len(hv) if hv is not None else 0)
            if size > limit:
                raise RecordTooLargeError(topic, size, limit)

    def send_many(
        self,
        topic: str,
        values: Sequence[bytes | None],
        keys: Sequence[bytes | None] | None = None,
        headers: Sequence[Sequence[Header] | None] | None = None,
        timestamps: int | Sequence[int] | None = None,
        partition: int | None = None,
        seq_header: tuple[str, bytes, int] | None = None,
    ) -> None:
        keys = keys if keys is not None else [None] * len(values)
        if seq_header is not None:
            if headers is not None:
                raise ValueError("seq_header needs headers=None")
            hk, prefix, first = seq_header
            headers = [((hk, prefix + b"%d" % (first + i)),) for i in range(len(values))]
        self._check(topic, keys, values, headers)
        self._begin()
        if (
            headers is None
            and timestamps is None
            and partition is None
            and (self._keyless is None or None not in keys)
        ):
            # the common case a record at a time, without building keyword arguments
            produce, failures = self._p.produce, self._failures
            for v, k in zip(values, keys, strict=True):
                if failures:
                    self._raise_failed()
                try:
                    produce(topic, v, k)
                except (BufferError, KafkaException):  # the slow path waits or says why
                    self._produce(topic, v, k, None, None, None)
            return
        for i, v in enumerate(values):
            ts = timestamps if timestamps is None or isinstance(timestamps, int) else timestamps[i]
            self._produce(topic, v, keys[i], headers[i] if headers is not None else None, ts,
                          partition)  # fmt: skip

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
    ) -> None:
        keys, values = records.lists()
        seq = (header_key, header_prefix, first_seq) if header_key is not None else None
        self.send_many(topic, values, keys=keys, timestamps=timestamp, partition=partition,
                       seq_header=seq)  # fmt: skip

    def _raise_failed(self) -> None:
        if self._fatal:
            self._unusable, self._in_txn = True, False
            err = self._fatal[0]
            if self.transactional_id is not None and err.code() in _FENCED:
                raise ProducerFencedError(self.transactional_id, err.str())
            raise KafkaDeliveryError(f"the Kafka producer failed for good: {err.str()}")
        if not self._failures:
            return
        err = self._failures[0]
        if self.transactional_id is not None and err.code() in _FENCED:
            self._unusable, self._in_txn = True, False
            raise ProducerFencedError(self.transactional_id, err.str())
        if err.code() == KafkaError.MSG_SIZE_TOO_LARGE:  # a batch the broker refused
            raise KafkaRecordTooLargeError(f"Kafka refused a batch as too large: {err}")
        raise KafkaDeliveryError(f"a record was not delivered to Kafka: {err}")

    def flush(self, durable: bool = True) -> None:
        try:
            left = self._p.flush(TIMEOUT_S + 5)
        except (KafkaException, SystemError) as exc:
            self._failed_for_good(exc)
        self._raise_failed()
        if left:
            raise KafkaDeliveryError(f"{left} records not acknowledged by Kafka within "
                                     f"{TIMEOUT_S:.0f} s")  # fmt: skip


class KafkaConsumer:
    """A group consumer with the embedded consumer's listeners: on_assign gets the partitions
    added, on_revoke those taken away; a ``seek`` inside on_assign sets where the partition
    is read from. Cooperative rebalancing (``cooperative-sticky``, as Connect's sink tasks
    use): a member joining or leaving moves only the partitions that change owner; the others
    are neither revoked nor read again from their commit."""

    def __init__(
        self, log: KafkaLog, group_id: str | None, auto_offset_reset: str,
        max_poll_records: int, max_poll_interval_ms: int | None = None,
    ) -> None:  # fmt: skip
        self.max_poll_records = max_poll_records
        self.group_id = group_id or f"hub-{uuid.uuid4().hex}"
        conf: dict[str, Any] = {"session.timeout.ms": 6000, **log._conf}  # (the client's
        # properties may say otherwise)
        if max_poll_interval_ms is not None:  # (a connector's consumer.override.*: at least
            # the session timeout, as librdkafka requires)
            conf["max.poll.interval.ms"] = max(
                max_poll_interval_ms, int(conf["session.timeout.ms"])
            )
        self._c = Consumer(
            {
                **conf,
                # (not the client's to change: the listeners call incremental_assign and
                # incremental_unassign, which an eager assignor refuses)
                "partition.assignment.strategy": "cooperative-sticky",
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": auto_offset_reset,
            }
        )
        self._assigned: set[TopicPartition] = set()
        self._seeks: dict[TopicPartition, int] | None = None  # inside on_assign
        self._paused = False
        # read by other threads (the worker's sink-lag job): noted by the polling thread.
        # confluent-kafka's memberid() holds the GIL while it waits for librdkafka's group
        # thread, which may be waiting for a rebalance callback that needs the GIL: a
        # worker's stop hung on it
        self._member: str | None = None

    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: Listener | None = None,
        on_revoke: Listener | None = None,
        on_lost: Listener | None = None,
    ) -> None:
        def assigned(c: Any, parts: list[KafkaTopicPartition]) -> None:
            tps = {TopicPartition(p.topic, p.partition) for p in parts}
            added = tps - self._assigned
            self._assigned |= tps
            self._seeks = {}
            try:
                if on_assign is not None and added:
                    on_assign(added)
                for p in parts:
                    off = self._seeks.get(TopicPartition(p.topic, p.partition))
                    if off is not None:
                        p.offset = off
            finally:
                self._seeks = None
            c.incremental_assign(parts)
            if self._paused:  # (a paused sink: what it gets meanwhile stays paused too)
                c.pause(parts)
            self._member = c.memberid()

        def taken(listener: Listener | None) -> Callable[[Any, list[KafkaTopicPartition]], None]:
            def revoked(c: Any, parts: list[KafkaTopicPartition]) -> None:
                tps = {TopicPartition(p.topic, p.partition) for p in parts}
                gone = tps & self._assigned
                try:
                    if listener is not None and gone:
                        listener(gone)
                finally:
                    self._assigned -= tps
                    c.incremental_unassign(parts)

            return revoked

        self._c.subscribe(list(topics), on_assign=assigned, on_revoke=taken(on_revoke),
                          on_lost=taken(on_lost or on_revoke))  # fmt: skip

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if self._seeks is not None:
            self._seeks[tp] = offset
        else:
            self._c.seek(KafkaTopicPartition(tp.topic, tp.partition, offset))

    def poll(
        self, timeout: float = 0.0, max_records: int | None = None, max_bytes: int | None = None
    ) -> list[Record]:
        # (max_bytes: the client's own fetch.max.bytes bounds what it hands over)
        if self._paused:
            self._c.resume(self._c.assignment())
            self._paused = False
        out = []
        for m in self._c.consume(max_records or self.max_poll_records, timeout):
            err = m.error()
            if err is None:
                out.append(_record(m))
            elif err.code() == KafkaError._MAX_POLL_EXCEEDED:
                # (the member left the group; this poll rejoins it, the partitions it held
                # reach on_lost: not a failure of the consumer)
                logger.warning("Kafka consumer %s: %s", self.group_id, err.str())
            elif err.code() != KafkaError._PARTITION_EOF:
                raise KafkaException(err)
        if not self._assigned:
            self._member = None
        return out

    def commit(
        self, offsets: Mapping[TopicPartition, int] | None = None, metadata: str = ""
    ) -> None:
        try:
            if offsets is None:
                self._c.commit(asynchronous=False)
            elif offsets:
                parts = [
                    KafkaTopicPartition(tp.topic, tp.partition, o, metadata=metadata)
                    if metadata else KafkaTopicPartition(tp.topic, tp.partition, o)
                    for tp, o in offsets.items()
                ]  # fmt: skip
                self._c.commit(offsets=parts, asynchronous=False)
        except KafkaException as exc:
            code = _kafka_error(exc).code()
            if code in _REBALANCED:
                raise RebalanceInProgressError(self.group_id, self.member_id or "?") from exc
            if code in _UNREACHED:
                raise CommitNotMadeError(self.group_id, _kafka_error(exc).str()) from None
            raise

    def committed(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, tuple[int, str]]:
        asked = [KafkaTopicPartition(tp.topic, tp.partition) for tp in tps]
        if not asked:
            return {}
        return {
            TopicPartition(p.topic, p.partition): (int(p.offset), str(p.metadata or ""))
            for p in self._c.committed(asked, timeout=TIMEOUT_S)
            if p.offset is not None and p.offset >= 0
        }

    def lag(self) -> dict[TopicPartition, int]:
        out = {}
        for p in self._c.position(
            [KafkaTopicPartition(t.topic, t.partition) for t in self._assigned]
        ):
            _, hi = self._c.get_watermark_offsets(p, cached=True) or (-1, -1)
            if p.offset >= 0 and hi >= 0:  # (no fetch yet: no figure)
                out[TopicPartition(p.topic, p.partition)] = max(int(hi) - int(p.offset), 0)
        return out

    def heartbeat(self) -> None:
        """Stay in the group without taking records: pause the assignment and serve the
        client's callbacks (a later ``poll`` resumes it)."""
        if not self._paused:
            self._c.pause(self._c.assignment())
            self._paused = True
        m = self._c.poll(0)
        if m is not None and m.error() is None:  # fetched before the pause: read it again
            self._c.seek(KafkaTopicPartition(str(m.topic()), int(m.partition() or 0),
                                             int(m.offset() or 0)))  # fmt: skip

    @property
    def member_id(self) -> str | None:
        """The member id in the group as of the last assignment (None: no partitions)."""
        return self._member

    def close(self) -> None:
        self._c.close()


if TYPE_CHECKING:  # mypy --strict checks that KafkaLog implements the whole seam
    _: type[LogBackend] = KafkaLog
