"""Source offsets in a compacted internal topic: ``__connect_offsets`` unless the worker
config's ``offset.storage.topic`` names another.

Records use Kafka Connect's format, so tools that read Connect's offsets topic read ours:
key ``["<connector>", {<source partition>}]``, value ``{<source offset>}`` as JSON; a null
value deletes the partition's offset.

Besides user offsets, each source task keeps a checkpoint under the key
``["<connector>", {"hub.task": <id>}]``: ``{"seq": S, "window": {"topic/partition":
start_offset, ...} | null}``. ``seq`` counts the records the task handed to the log and that
are covered by stored offsets; ``window`` is written (durably) before a commit makes new
records durable and cleared when the offsets are stored. After a crash inside that window the
runtime scans those log ranges for the task's ``hub.source.seq`` headers to learn which
replayed records are already in the log (see hub.runtime.source_runner).

A write is several records, and a log backend need not append them atomically (on Kafka a
crash can land the first ones only), so each kind of write is ordered such that any prefix of
it reads back as the whole write or none of it:

* a task's commit: the checkpoint goes first and carries the commit's offsets too
  (``"offsets": [[partition, offset], ...]``, applied in log order when the topic is read);
  the per-partition records follow in Connect's format for tools that read them. Never new
  offsets with the old checkpoint, whose open window would then skip replayed records that are
  not in the log.
* offsets changed by hand (a STOPPED connector's, over REST) or forgotten (every offset
  null): one record ``["<connector>", {"hub.offsets": "altered"}]`` first, ``{"gen": G,
  "offsets": [...]}``, then the connector's checkpoints again without the offsets they
  carried (or deleted, when forgotten), then the per-partition records. Every checkpoint
  written from then on carries ``"gen": G``; an older checkpoint's window is void (its
  replayed records no longer line up with its seqs), so one record closes the windows of all
  the connector's tasks. No older record carries offsets after such a write: one could
  otherwise bring back a deleted offset once compaction has dropped its tombstone.

A write that lands in part leaves per-partition records behind the offsets a checkpoint or
alteration record carries; compaction would drop those when the key is written again.
Reading the topic (at start, and after a write that failed) rewrites the per-partition
records that differ from what was read.

Thread safety: one lock; every write is fsynced before it returns.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from hub.log import Record, TopicExistsError, TopicPartition
from hub.log.backend import LogBackend, TransactionalProducer
from hub.runtime.storage import single_partition, tail

TOPIC = "__connect_offsets"
TASK_KEY = "hub.task"
ALTERED_KEY = "hub.offsets"


def partition_key(partition: Mapping[str, Any]) -> str:
    return json.dumps(partition, sort_keys=True, separators=(",", ":"))


class OffsetStore:
    def __init__(
        self,
        log: LogBackend,
        topic: str = TOPIC,
        replication_factor: int | None = None,
        repair: bool = True,
    ) -> None:
        """``repair=False`` (distributed workers): reading the topic rewrites nothing (a
        worker's repair could land after another's newer commit of the same partitions)."""
        self._log = log
        self._repair = repair
        self._next = 0  # the offset after the last record read
        self._reads = 0  # records read from the topic so far (a transaction's commit checks)
        self.topic = topic
        self._tp = TopicPartition(topic, 0)
        self._lock = threading.Lock()
        # connector -> partition key -> (partition, offset)
        self._offsets: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {}
        self._tasks: dict[tuple[str, int], dict[str, Any]] = {}
        self._gens: dict[str, int] = {}  # connector -> generation of its offsets (by hand)
        # connector -> partition key -> (partition, value) of its latest per-partition record
        self._plain: dict[str, dict[str, tuple[dict[str, Any], Any]]] = {}
        self._stale = False  # a write failed: what landed of it is unknown until read again
        # (connector, partition key) -> the task whose checkpoint carried its latest offset
        self._carrier: dict[tuple[str, str], int] = {}
        try:
            if not log.has_topic(topic):
                log.create_topic(
                    topic, 1, {"cleanup.policy": "compact", "segment.bytes": str(16 << 20)},
                    replication_factor,
                )  # fmt: skip
            else:
                single_partition(log, topic, "offsets")
        except TopicExistsError:  # (another worker of a cluster created it first)
            single_partition(log, topic, "offsets")
        with self._lock:
            # (to the last stable offset only: a transaction a killed worker's task left open
            # is aborted when that task starts again, which is after this; each source task
            # reads on to the end then, `refresh`)
            self._load(wait=False)

    def _load(self, wait: bool = True) -> None:
        """Read the topic; rewrite the per-partition records behind what it holds (a write
        that landed in part). Under the lock. ``wait``: to the end as it is now (with
        transactions, one still open below it is waited for, not read past: the records
        after it could be a task's last commit); else up to the first one still open."""
        self._offsets, self._tasks, self._gens, self._plain = {}, {}, {}, {}
        self._carrier = {}
        self._next = 0
        end = self._log.watermarks(self._tp)[1] if wait else None
        self._read(self._log.scan(self._tp, 0, end=end))
        if not self._repair:
            self._stale = False
            return
        repairs: list[tuple[bytes, bytes | None]] = []
        for connector, plain in self._plain.items():
            have = self._offsets.get(connector, {})
            for pkey in {*plain, *have}:
                partition, value = have.get(pkey) or (plain[pkey][0], None)
                if pkey not in plain or plain[pkey][1] != value:
                    encoded = None if value is None else json.dumps(value).encode()
                    repairs.append((_key(connector, partition), encoded))
        for connector, have in self._offsets.items():  # carried only, never written plain
            if connector not in self._plain:
                for partition, value in have.values():
                    repairs.append((_key(connector, partition), json.dumps(value).encode()))
        if repairs:
            self._log.append_durable(self._tp, [k for k, _ in repairs], [v for _, v in repairs])
            for k, v in repairs:
                self._apply(k, v)
        self._stale = False

    def _read(self, records: Iterable[Record]) -> None:
        for r in records:
            self._reads += 1
            self._next = max(self._next, r.offset + 1)
            if r.key is not None:
                self._apply(r.key, r.value)

    def refresh(self, repair: tuple[str, int] | None = None) -> None:
        """Read what other workers wrote since: before a task another worker ran starts
        here, so it starts from that worker's last commit. ``repair`` (connector, task id):
        rewrite the per-partition records behind the offsets that task's last checkpoints
        carry (a commit that landed in part), which no other task writes."""
        with self._lock:
            if self._stale:
                self._load()
            else:
                self._read(tail(self._log, self._tp, self._next))
            if repair is None:
                return
            connector, task_id = repair
            plain = self._plain.get(connector, {})
            items: list[tuple[bytes, bytes | None]] = []
            for pkey, (partition, value) in self._offsets.get(connector, {}).items():
                carried = self._carrier.get((connector, pkey))
                if carried == task_id and (pkey not in plain or plain[pkey][1] != value):
                    items.append((_key(connector, partition), json.dumps(value).encode()))
            if items:
                self._append(connector, items, {})

    def _fresh(self) -> None:
        """Read the topic again after a failed write (under the lock)."""
        if self._stale:
            self._load()

    def _apply(self, key: bytes, value: bytes | None) -> None:
        try:
            connector, partition = json.loads(key)
        except (ValueError, TypeError):
            return  # not ours (Connect's format is a 2-element array)
        doc = None if value is None else json.loads(value)
        if TASK_KEY in partition and len(partition) == 1:
            if doc is None:
                self._tasks.pop((connector, partition[TASK_KEY]), None)
                return
            for p, o in doc.pop("offsets", None) or ():  # the commit it heads
                self._apply_offset(connector, p, o)
                self._carrier[(connector, partition_key(p))] = partition[TASK_KEY]
            self._tasks[(connector, partition[TASK_KEY])] = doc
            return
        if partition == {ALTERED_KEY: "altered"}:
            if doc is None:
                self._gens.pop(connector, None)
                return
            for p, o in doc.get("offsets") or ():
                self._apply_offset(connector, p, o)
                self._carrier.pop((connector, partition_key(p)), None)
            self._gens[connector] = int(doc.get("gen", 0))
            return
        self._apply_offset(connector, partition, doc)
        self._plain.setdefault(connector, {})[partition_key(partition)] = (partition, doc)

    def _apply_offset(
        self, connector: str, partition: dict[str, Any], offset: dict[str, Any] | None
    ) -> None:
        offsets = self._offsets.setdefault(connector, {})
        if offset is None:
            offsets.pop(partition_key(partition), None)
        else:
            offsets[partition_key(partition)] = (partition, offset)

    def offsets(self, connector: str) -> dict[str, dict[str, Any]]:
        """partition key -> offset, for ``SourceTaskContext``."""
        with self._lock:
            self._fresh()
            return {k: v[1] for k, v in self._offsets.get(connector, {}).items()}

    def partitions(self, connector: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(partition, offset) pairs, as the REST API shows them."""
        with self._lock:
            self._fresh()
            return list(self._offsets.get(connector, {}).values())

    def task_checkpoint(self, connector: str, task_id: int) -> dict[str, Any]:
        """``{"seq": S, "window": ...}``; the window of a checkpoint older than the last
        change of the offsets by hand is void (None)."""
        with self._lock:
            self._fresh()
            cp = dict(self._tasks.get((connector, task_id), {"seq": 0, "window": None}))
            if cp.pop("gen", 0) < self._gens.get(connector, 0):
                cp["window"] = None
            return cp

    def write(
        self,
        connector: str,
        offsets: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]],
        task: tuple[int, dict[str, Any]] | None = None,
        via: TransactionalProducer | None = None,
    ) -> None:
        """Store offsets (None deletes) and optionally a task checkpoint, durably; the
        checkpoint heads the write and carries the offsets (see the module's doc). ``via``:
        the records go in the task's open transaction, which is then committed."""
        with self._lock:
            self._fresh()
            items: list[tuple[bytes, bytes | None]] = []
            if task is not None:
                doc = dict(task[1])
                if offsets:
                    doc["offsets"] = _pairs(offsets)
                gen = self._gens.get(connector, 0)
                if gen:
                    doc["gen"] = gen
                items.append((_key(connector, {TASK_KEY: task[0]}), json.dumps(doc).encode()))
            if via is None:
                self._append(connector, items, offsets)
                return
            items = self._records(connector, items, offsets)
            reads = self._reads
        # (the transaction commits outside the lock: against a slow coordinator that takes
        # up to 30 s, which the other tasks' commits and the REST API's reads need not wait)
        try:
            via.send_many(self._tp.topic, [v for _, v in items], keys=[k for k, _ in items],
                          partition=0)  # fmt: skip
            via.commit_transaction()
        except BaseException:
            with self._lock:
                self._stale = True  # (whether it committed is not known: read it again)
            raise
        with self._lock:
            if self._reads != reads:
                # the topic was read meanwhile, maybe past these records (a newer commit of
                # the same keys after them): applied now they could undo it; read it again
                self._stale = True
                return
            for k, v in items:
                self._apply(k, v)

    def alter(
        self,
        connector: str,
        offsets: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]],
    ) -> None:
        """Offsets changed by hand (a STOPPED connector's): stored with a new generation,
        which voids its tasks' unfinished commit windows (see the module's doc)."""
        with self._lock:
            self._fresh()
            self._by_hand(connector, offsets, forget=False)

    def forget(self, connector: str) -> None:
        """Delete every offset and checkpoint of a connector (its generation stays, so a
        checkpoint that outlived this is void)."""
        with self._lock:
            self._fresh()
            parts = self._offsets.get(connector, {})
            self._by_hand(connector, {k: (p, None) for k, (p, _) in parts.items()}, forget=True)

    def _by_hand(
        self,
        connector: str,
        offsets: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]],
        forget: bool,
    ) -> None:
        gen = self._gens.get(connector, 0) + 1
        doc = {"gen": gen, "offsets": _pairs(offsets)}
        items: list[tuple[bytes, bytes | None]] = [
            (_key(connector, {ALTERED_KEY: "altered"}), json.dumps(doc).encode())
        ]
        for (c, t), cp in sorted(self._tasks.items()):
            if c == connector:  # again without the offsets it carried (or gone)
                value = None if forget else json.dumps({**cp, "window": None}).encode()
                items.append((_key(connector, {TASK_KEY: t}), value))
        self._append(connector, items, offsets)

    def _append(
        self,
        connector: str,
        items: list[tuple[bytes, bytes | None]],
        offsets: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]],
    ) -> None:
        """``items``, then the offsets' records in Connect's format (under the lock)."""
        items = self._records(connector, items, offsets)
        if not items:
            return
        try:
            self._log.append_durable(self._tp, [k for k, _ in items], [v for _, v in items])
        except BaseException:
            self._stale = True  # (part of it may have landed: read the topic again)
            raise
        for k, v in items:
            self._apply(k, v)

    @staticmethod
    def _records(
        connector: str,
        items: list[tuple[bytes, bytes | None]],
        offsets: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]],
    ) -> list[tuple[bytes, bytes | None]]:
        """``items`` followed by the offsets' records in Connect's format."""
        for partition, offset in offsets.values():
            value = None if offset is None else json.dumps(offset).encode()
            items.append((_key(connector, partition), value))
        return items


def _pairs(
    offsets: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]],
) -> list[list[Any]]:
    return [[dict(p), None if o is None else dict(o)] for p, o in offsets.values()]


def _key(connector: str, partition: Mapping[str, Any]) -> bytes:
    """Connect's key: ``["<connector>", {<partition>}]``."""
    return json.dumps([connector, dict(partition)], sort_keys=True, separators=(",", ":")).encode()
