"""The worker's three internal topics, as Kafka Connect names them in a worker config
(``config.storage.topic``, ``offset.storage.topic``, ``status.storage.topic``), and the status
store: connector and task states in Connect's status topic format, so tools that read
Connect's status topic read hub's.

Status records (JSON): key ``status-connector-<name>`` or ``status-task-<name>-<id>``, value
``{"state": "RUNNING", "trace": null | "<stack trace>", "worker_id": "host:port",
"generation": 0}``; a connector deleted gets null values (tombstones) for its keys. The
worker publishes what changed about once a second (`StatusStore.publish`), so the topic
follows the states without a write per transition; what a worker killed meanwhile never
wrote, the next one overwrites at its start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from hub.errors import ConfigError
from hub.log import Record, TopicExistsError, TopicPartition
from hub.log.backend import LogBackend, holds

log = logging.getLogger(__name__)
_LEGAL = re.compile(r"[A-Za-z0-9._-]{1,249}")


@dataclass(frozen=True, slots=True)
class StorageTopics:
    configs: str = "__connect_configs"
    offsets: str = "__connect_offsets"
    status: str = "__connect_status"
    # copies of each when created on a cluster (Connect's *.storage.replication.factor;
    # None: the backend's default, the worker's replication.factor; -1: the cluster's own)
    configs_replication: int | None = None
    offsets_replication: int | None = None
    status_replication: int | None = None

    @classmethod
    def of(cls, props: dict[str, object], where: str) -> StorageTopics:
        """Take Connect's ``*.storage.topic``, ``*.storage.replication.factor`` and
        ``*.storage.partitions`` properties out of ``props`` (a worker config read from
        ``where``); the defaults for those not given."""
        fields: dict[str, str | int] = {}
        for field, prop in (("configs", "config.storage"), ("offsets", "offset.storage"),
                            ("status", "status.storage")):  # fmt: skip
            if f"{prop}.topic" in props:
                value = props.pop(f"{prop}.topic")
                if (not isinstance(value, str) or not _LEGAL.fullmatch(value)
                        or value in (".", "..")):  # fmt: skip
                    raise ConfigError(
                        f"{where}: {prop}.topic must be a topic name (letters, digits, '.', "
                        f"'_', '-'; at most 249), not {value!r}"
                    )
                fields[field] = value
            if f"{prop}.replication.factor" in props:
                fields[f"{field}_replication"] = replication_factor(
                    props.pop(f"{prop}.replication.factor"), f"{where}: {prop}.replication.factor"
                )
            if f"{prop}.partitions" in props:
                value = props.pop(f"{prop}.partitions")
                if str(value).strip() != "1":
                    raise ConfigError(
                        f"{where}: {prop}.partitions is {value!r}, but hub keeps its "
                        f"{field} in one partition (Connect's offsets and status topics have "
                        "25 and 5): remove the property"
                    )
        topics = cls(**fields)  # type: ignore[arg-type]
        if len({topics.configs, topics.offsets, topics.status}) != 3:
            raise ConfigError(
                f"{where}: config.storage.topic, offset.storage.topic and status.storage.topic "
                "must be three different topics"
            )
        return topics


def replication_factor(value: object, what: str) -> int:
    """A replication factor property: -1 (the cluster's default) or at least 1."""
    try:
        factor = int(str(value).strip())
    except ValueError:
        factor = 0
    if factor != -1 and factor < 1:
        raise ConfigError(
            f"{what} must be -1 (the cluster's default.replication.factor) or at least 1, "
            f"not {value!r}"
        )
    return factor


def single_partition(log: LogBackend, topic: str, what: str) -> None:
    """Refuse a storage topic of several partitions: hub reads and writes partition 0 only
    (Connect's own offsets topic, 25 partitions, would lose the offsets in the others)."""
    count = log.partition_count(topic)
    if count != 1:
        raise ConfigError(
            f"the {what} topic {topic!r} has {count} partitions; hub keeps its {what} in one "
            f"(partition 0) and would miss what the others hold: name a topic of hub's own "
            "(config.storage.topic, offset.storage.topic, status.storage.topic)"
        )


def only_compacted(log: LogBackend, topic: str, what: str) -> None:
    """Refuse a storage topic whose cleanup.policy is not compact alone, as Kafka Connect
    does: retention would delete the offsets (sources starting over), the connector configs
    and the statuses that no newer record has replaced."""
    try:
        policy = log.topic_properties(topic).get("cleanup.policy")
    except Exception as exc:  # noqa: BLE001 - a broker that describes no config: not known
        logging.getLogger(__name__).warning(
            "cannot read the cleanup.policy of the %s topic %r (%s): it must be compact", what,
            topic, exc,
        )  # fmt: skip
        return
    if policy is not None and {p.strip() for p in policy.split(",")} != {"compact"}:
        raise ConfigError(
            f"the {what} topic {topic!r} has cleanup.policy={policy}: retention would delete "
            f"the {what} no newer record replaced. Make it compact (on Kafka: kafka-configs "
            f"--alter --entity-type topics --entity-name {topic} --add-config "
            f"cleanup.policy=compact; in the embedded log: hub topics alter {topic} --config "
            "cleanup.policy=compact), or name a topic of hub's own (config.storage.topic, "
            "offset.storage.topic, status.storage.topic)"
        )


def check_storage(log: LogBackend, storage: StorageTopics) -> None:
    """No unfinished copy into the log writes these storage topics (`hub.runtime.copymark`),
    and every existing storage topic of one partition and compacted, before any of them is
    created."""
    from hub.runtime.copymark import unfinished

    mark = unfinished(log)
    if mark is not None and {storage.configs, storage.offsets} & set(mark.storage):
        raise ConfigError(
            f"this log holds {mark.describe()} that has not finished ('hub log export' or "
            "'hub log import' stopped part way, or still runs): its records, offsets and "
            "configs may be partial. Run the same command again (it deletes what the "
            "stopped copy made and copies again), or 'hub log undo-copy' to delete it only, "
            "then start the worker"
        )
    for topic, what in ((storage.configs, "connector configs"), (storage.offsets, "offsets"),
                        (storage.status, "status")):  # fmt: skip
        if log.has_topic(topic):
            single_partition(log, topic, what)
            only_compacted(log, topic, what)


def tail(log: LogBackend, tp: TopicPartition, start: int) -> Iterator[Record]:
    """The records of a one-partition storage topic from offset ``start`` on: nothing, at
    the cost of asking for its end, when nothing was added (the distributed workers read
    each other's writes this way, hub.runtime.worker)."""
    if not log.has_topic(tp.topic):
        return iter(())
    end = log.watermarks(tp)[1]
    if end <= start:
        return iter(())
    # (to that end: a transaction still open below it is waited for, not read past)
    return log.scan(tp, start, end=end)


class Remade:
    """Whether a storage topic was deleted and made again (a cluster that lost it) since it
    was read: it ends before the offset already read (``tail`` from there would never return
    what the new one holds), or, checked every ``id_check_s``, it has another topic id (it
    grew past that offset before this worker read it again: ``tail`` would skip its first
    records)."""

    def __init__(self, log: LogBackend, tp: TopicPartition, id_check_s: float = 10.0) -> None:
        self._log, self._tp, self._every = log, tp, id_check_s
        self._id: str | None = None
        self._checked = -math.inf
        self._low: tuple[int, int] | None = None  # (end, read) found held though reported low

    def __call__(self, read: int) -> bool:
        log, tp = self._log, self._tp
        if not log.has_topic(tp.topic):
            return False
        end = log.watermarks(tp)[1]
        # (an end reported low, the records there: a broker's low end, Tansu's after a batch
        # of several records, had every worker read the status topic again every second)
        if end < read and self._low != (end, read):
            if read > 0 and holds(log, tp, read - 1):
                self._low = (end, read)
                return self._identity()
            self._id = None  # (noted again below)
            self._checked = -math.inf
            self._identity()
            return True
        return self._identity()

    def note(self) -> None:
        """The topic's id as it is now (read whole just now)."""
        self._checked = -math.inf
        self._identity()

    def _identity(self) -> bool:
        now = time.monotonic()
        if now - self._checked < self._every:
            return False
        self._checked = now
        try:
            ids = self._log.topic_ids(self._tp.topic)
        except Exception:  # noqa: BLE001 - a cluster not answering: the next check
            return False
        if not ids:  # (a cluster that gives no ids)
            return False
        was, self._id = self._id, ids[0]
        return was is not None and was != ids[0]


def status_value(state: str, trace: str | None, worker_id: str) -> bytes:
    return json.dumps(
        {"state": state, "trace": trace, "worker_id": worker_id, "generation": 0}
    ).encode()


class StatusStore:
    def __init__(
        self, log: LogBackend, topic: str, replication_factor: int | None = None,
        id_check_s: float = 10.0,
    ) -> None:  # fmt: skip
        self._log = log
        self.topic = topic
        self._replication = replication_factor
        self._tp = TopicPartition(topic, 0)
        self._remade = Remade(log, self._tp, id_check_s)
        # _lock guards the state below and is never held across a call to the log (a read
        # of the status waited up to 30 s while the status job asked an unreachable
        # cluster); _io orders the reads and writes of the topic
        self._lock = threading.Lock()
        self._io = threading.Lock()
        self._written: dict[bytes, bytes] = {}  # key -> the value it holds now
        self._retry_at = 0.0  # (after a failed write: when to try again)
        self._wait = 0.0
        self._next = 0  # the offset after the last record read
        if log.has_topic(topic):
            single_partition(log, topic, "status")
            self._read(log.scan(self._tp))
            self._remade.note()

    def _read(self, records: Iterable[Record]) -> None:
        for r in records:
            self._next = max(self._next, r.offset + 1)
            if r.key is None:
                continue
            if r.value is None:
                self._written.pop(r.key, None)
            else:
                self._written[r.key] = r.value

    def refresh(self) -> None:
        """Read what other workers wrote since (distributed workers). A topic that ends
        before what was read was made again (a cluster that lost it): read whole, and what
        this worker had written is written again at its next publish."""
        with self._io:
            start = self._next
            if self._remade(start):
                log.warning("the status topic %s was made again (the cluster lost it?): "
                            "reading it from its start", self.topic)  # fmt: skip
                records = list(self._log.scan(self._tp, 0))
                with self._lock:
                    self._written.clear()
                    self._next = 0
                    self._read(records)
                return
            records = list(tail(self._log, self._tp, start))
            with self._lock:
                self._read(records)

    def keys_of(self, connector: str) -> list[bytes]:
        """The keys the topic holds for ``connector`` (its own and its tasks')."""
        task = re.compile(rb"status-task-" + re.escape(connector.encode()) + rb"-\d+")
        with self._lock:
            return [k for k in self._written if k == f"status-connector-{connector}".encode()
                    or task.fullmatch(k)]  # fmt: skip

    def get(self, key: bytes) -> bytes | None:
        """What the topic holds for ``key`` (as of the last read or write)."""
        with self._lock:
            return self._written.get(key)

    def backing_off(self) -> bool:
        """A write failed a moment ago: the periodic publish waits."""
        return time.monotonic() < self._retry_at

    def publish(
        self,
        states: Mapping[bytes, bytes | None],
        keep_others: bool = False,
        backoff: bool = False,
    ) -> int:
        """Make the topic say ``states`` (key -> value, None: deleted): the keys whose value
        changed are written, the keys not in ``states`` deleted (unless ``keep_others``); how
        many records that took. With ``backoff`` (the periodic publish) a failure makes the
        next calls do nothing for a while (1 s, doubling to 60 s): a cluster refusing the
        writes is told about once in a while, not every second, and the offset store's writes
        do not queue behind these."""
        with self._io:
            with self._lock:
                if backoff and time.monotonic() < self._retry_at:
                    return 0
                items: list[tuple[bytes, bytes | None]] = [
                    (k, v) for k, v in states.items() if self._written.get(k) != v
                ]
                if not keep_others:
                    items += [(k, None) for k in self._written if k not in states]
            if not items:
                return 0
            try:
                if not self._log.has_topic(self.topic):  # (new, or deleted meanwhile: all)
                    # (another worker of a cluster may create it first: then it is there)
                    with contextlib.suppress(TopicExistsError):
                        self._log.create_topic(self.topic, 1, {
                            "cleanup.policy": "compact", "segment.bytes": str(16 << 20)},
                            self._replication)  # fmt: skip
                    with self._lock:
                        self._written.clear()
                    items = [(k, v) for k, v in states.items() if v is not None]
                self._log.append_durable(self._tp, [k for k, _ in items], [v for _, v in items])
            except Exception:
                with self._lock:
                    self._wait = min(max(self._wait * 2, 1.0), 60.0)
                    self._retry_at = time.monotonic() + self._wait
                raise
            with self._lock:
                self._wait = 0.0
                for k, v in items:
                    if v is None:
                        self._written.pop(k, None)
                    else:
                        self._written[k] = v
            return len(items)
