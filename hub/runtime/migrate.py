"""Copy a worker's log from one backend to another (the embedded log to a Kafka cluster, or
back), so a user can move without taking new snapshots: ``hub log export`` / ``hub log import``.

What is copied:

* every topic (a MySQL source's schema history too; not the brokers' ``__consumer_offsets``)
  with its partition count and the config set on it, each partition's records in order with
  their keys, values, headers and timestamps;
* the connector configs topic and the source offsets topic (under the destination's
  ``*.storage.topic`` names), record for record: the sources resume from their offsets;
* the consumer groups' committed offsets of the copied partitions (a sink that keeps its
  offsets in the group resumes where it was).

The destination assigns offsets from 0, so a partition keeps its offsets only when the source
holds every offset from 0 to its end (no retention or compaction removed any). A sink that
keeps its offsets in its target (DuckDB, PostgreSQL, the file sink) needs them kept: a copy
that would shift a partition is refused unless ``allow_offset_shift`` is given, and the
groups' offsets are then translated (the committed offset moves to the first copied record at
or after it). A source task's open recovery window (a worker killed, never restarted) names
log offsets too: it is refused when the partitions it names would shift.

Nothing may run on either side meanwhile (the CLI holds the embedded log's lock; on Kafka, a
group with members is refused, and a source partition that grew during the copy fails it),
and no destination topic may exist yet: a copy is never mixed into what is there.

A copy marks the destination while it runs (`hub.runtime.copymark`: no worker using the
storage topics it writes starts there until it is done, and the same copy run again deletes
what a stopped one made); it writes the records, then the configs and offsets topics, then
the groups' offsets, so a copy stopped part way (killed, interrupted, failed) never leaves
offsets past the records copied.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.errors import ConfigError, HubError
from hub.log import Record, TopicPartition
from hub.log.backend import COPY_MARKER_TOPIC, LINEAGE_TOPIC, LogBackend, LogProducer
from hub.runtime.copymark import Marker
from hub.runtime.offsets import ALTERED_KEY, TASK_KEY
from hub.runtime.storage import StorageTopics

BATCH = 5000
# the brokers' own (groups' offsets are copied through the group API); the status topic is
# not copied either: the workers write it again
NOT_COPIED = frozenset(
    {"__consumer_offsets", "__transaction_state", LINEAGE_TOPIC, COPY_MARKER_TOPIC}
)
RECORD_OVERHEAD = 100  # (the embedded producer's per-record allowance against max.message.bytes)


@dataclass
class PartitionPlan:
    tp: TopicPartition
    start: int
    count: int
    # whether the copy keeps every record's offset: the records hold the offsets 0, 1, 2 ...
    # with none missing (read from the records: a broker may report its end low), and the
    # partition does not end past them (an emptied partition, a transaction marker)
    kept: bool
    storage: bool = False  # a configs/offsets topic: read by key, its offsets do not matter
    end: int = 0  # its end when counted: a worker writing the source meanwhile moves it
    largest: int = 0  # its largest record, as the embedded producer sizes it
    zero_timestamps: int = 0  # records with timestamp 0 (Kafka's client sends them as now)


@dataclass
class CopyPlan:
    """What a copy would do: per destination topic, its source topic and partitions."""

    topics: dict[str, str]  # destination -> source, the storage topics first
    partitions: dict[str, list[PartitionPlan]]  # by source topic
    configs: dict[str, dict[str, str]]  # by source topic: the config set on it
    groups: dict[str, dict[TopicPartition, int]]  # group -> committed offsets (copied tps)
    open_windows: dict[str, list[str]] = field(default_factory=dict)  # task -> topic/partition
    replication: dict[str, int | None] = field(default_factory=dict)  # destination -> factor
    dropped: dict[str, dict[str, str]] = field(default_factory=dict)  # configs not taken
    raised: dict[str, int] = field(default_factory=dict)  # max.message.bytes made to fit
    storage: tuple[str, ...] = ()  # the destination's configs and offsets topics' names

    @property
    def shifted(self) -> list[PartitionPlan]:
        """Data partitions whose records would get other offsets."""
        return [p for ps in self.partitions.values() for p in ps if not p.kept and not p.storage]

    @property
    def records(self) -> int:
        return sum(p.count for ps in self.partitions.values() for p in ps)


def topic_mapping(
    src: LogBackend, src_storage: StorageTopics, dst_storage: StorageTopics
) -> dict[str, str]:
    """The topics a copy writes: destination name -> source name."""
    renamed = {src_storage.configs: dst_storage.configs, src_storage.offsets: dst_storage.offsets}
    topics: dict[str, str] = {}
    # the storage topics first: the offsets read (and copied) before the records they cover,
    # so a source that wrote meanwhile resumes from offsets the copied records include
    names = src.topics(include_internal=True)
    if src_storage.offsets not in names:
        _no_offsets_topic(src, src_storage, names)
    names = [n for n in renamed if n in names] + [n for n in names if n not in renamed]
    for name in names:
        if name in NOT_COPIED or name == src_storage.status:
            continue
        dest = renamed.get(name, name)
        if dest in topics or (name not in renamed and dest in renamed.values()):
            raise ConfigError(
                f"topic {name!r} would be {dest!r} there, which is (or replaces) a storage "
                "topic (the worker config's *.storage.topic names): name other storage topics"
            )
        topics[dest] = name
    return topics


def _no_offsets_topic(src: LogBackend, storage: StorageTopics, names: list[str]) -> None:
    """ConfigError when the source has no offsets topic of the name the worker config gives
    but holds a topic of source offsets by another name (Connect's keys,
    ``["connector", {partition}]``): copied as a plain topic, its sources would start over
    on the destination, writing their records again."""
    for name in names:
        if name in NOT_COPIED or name in (storage.configs, storage.status):
            continue
        try:
            first = next(iter(src.scan(TopicPartition(name, 0))), None)
            key = json.loads(first.key) if first is not None and first.key else None
        except (ValueError, UnicodeDecodeError, HubError):
            continue
        if isinstance(key, list) and len(key) == 2 and isinstance(key[0], str) and isinstance(
            key[1], dict
        ):  # fmt: skip
            raise ConfigError(
                f"the source has no offsets topic {storage.offsets!r}, but {name!r} holds "
                "source offsets: give the worker config that names it (offset.storage.topic; "
                "for the data directory, --embedded-worker-config), or its sources start over"
            )


def existing(topics: dict[str, str], dst: LogBackend, redone: Iterable[str] = ()) -> None:
    """ConfigError when the destination holds any of the topics already (but for those a
    stopped copy made, ``redone``: deleted before this one)."""
    skip = set(redone)
    there = sorted(t for t in topics if t not in skip and dst.has_topic(t))
    if there:
        raise ConfigError(
            f"the destination already has {', '.join(there)}: a copy goes into topics of its "
            "own (delete them there, or name other storage topics in the worker config)"
        )


def plan_copy(
    src: LogBackend,
    src_storage: StorageTopics,
    dst_storage: StorageTopics,
    dst_is_embedded: bool = False,
) -> CopyPlan:
    """Read the source (one pass over every partition, counting) and say what a copy does."""
    topics = topic_mapping(src, src_storage, dst_storage)
    storage = {src_storage.configs, src_storage.offsets}
    partitions: dict[str, list[PartitionPlan]] = {}
    configs: dict[str, dict[str, str]] = {}
    for source in topics.values():
        info = src.describe(source)
        configs[source] = dict(info.config)
        plans = []
        for p in info.partitions:
            tp = TopicPartition(source, p.partition)
            count, kept, largest, zeros = 0, True, 0, 0
            for r in src.scan(tp, p.start_offset):
                kept = kept and r.offset == count
                count += 1
                largest = max(largest, _size(r))
                zeros += r.timestamp == 0
            kept = kept and p.durable_offset <= count  # (a broker may say less, not more)
            plans.append(PartitionPlan(tp, p.start_offset, count, kept, source in storage,
                                       p.end_offset, largest, zeros))  # fmt: skip
        partitions[source] = plans
    copied = {p.tp for ps in partitions.values() for p in ps}
    groups: dict[str, dict[TopicPartition, int]] = {}
    for group in src.groups.list_groups():
        committed = {
            TopicPartition(p.topic, p.partition): p.committed
            for p in src.groups.describe(group).partitions
            if p.committed is not None and TopicPartition(p.topic, p.partition) in copied
        }
        if committed:
            groups[group] = committed
    plan = CopyPlan(topics, partitions, configs, groups,
                    storage=(dst_storage.configs, dst_storage.offsets))  # fmt: skip
    if src.has_topic(src_storage.offsets):
        plan.open_windows = _open_windows(src, src_storage.offsets)
    plan.replication = {dst_storage.configs: dst_storage.configs_replication,
                        dst_storage.offsets: dst_storage.offsets_replication}  # fmt: skip
    if dst_is_embedded:  # what the embedded log cannot take: named, and left out
        from hub.log.config import TopicConfig
        from hub.log.log import INTERNAL_TOPIC_CONFIG

        known = set(TopicConfig.parse({}).to_properties())
        effective = getattr(src, "topic_properties", None)
        for source, config in configs.items():
            for k, v in list(config.items()):
                try:
                    TopicConfig.parse({k: v})
                except ConfigError:
                    plan.dropped.setdefault(source, {})[k] = v
                    del config[k]
            if effective is not None:
                # the values in effect on the cluster, not only those set on the topic: a
                # broker-wide log.retention.ms=-1 (or a broker that reports every value as a
                # default) had left the embedded 7-day delete policy to remove what the
                # cluster kept
                for k, v in effective(source).items():
                    if k in known and k not in config:
                        try:
                            TopicConfig.parse({k: v})
                        except ConfigError:
                            continue  # (a cluster default the embedded log has its own of)
                        config[k] = v
            if source in storage:  # (connector configs and offsets: compacted, whatever)
                config.update(INTERNAL_TOPIC_CONFIG)
            # a record the cluster holds (its limit applies to compressed batches) fits
            need = max((p.largest for p in partitions[source]), default=0)
            limit = TopicConfig.parse(config).max_message_bytes
            if need > limit:
                config["max.message.bytes"] = str(need + 4096)  # (and its batch's header)
                plan.raised[source] = need + 4096
    else:
        _colliding(list(topics))
        # the embedded log's retention and cleanup policy, set on the cluster's topic (the
        # cluster's own defaults, say log.retention.hours=24, had deleted what it kept)
        effective = getattr(src, "topic_properties", None)
        for source, config in configs.items():
            if effective is not None and source not in storage:
                props = effective(source)
                for k in ("cleanup.policy", "retention.ms", "retention.bytes"):
                    if k not in config and k in props:
                        config[k] = props[k]
    return plan


def _colliding(names: list[str]) -> None:
    """ConfigError when two topics' names differ only in '.' and '_', which a Kafka cluster
    refuses (their metrics would share a name): the second's creation failed mid-copy."""
    seen: dict[str, str] = {}
    for name in sorted(names):
        other = seen.setdefault(name.replace(".", "_"), name)
        if other != name:
            raise ConfigError(
                f"topics {other!r} and {name!r} differ only in '.' and '_', which a Kafka "
                "cluster refuses to hold side by side: copy one into a topic of another name "
                "first (hub topics create, then a connector or hub produce), and delete it"
            )


def _size(r: Record) -> int:
    """A record's size as the embedded producer checks it against max.message.bytes."""
    size = RECORD_OVERHEAD + len(r.key or b"") + len(r.value or b"")
    return size + sum(len(k) + len(v or b"") for k, v in r.headers or ())


def _open_windows(src: LogBackend, topic: str) -> dict[str, list[str]]:
    """The source tasks whose last checkpoint has an open recovery window: task -> the
    topic/partitions it names."""
    latest: dict[bytes, bytes | None] = {}
    for r in src.scan(TopicPartition(topic, 0)):
        if r.key is not None:
            latest[r.key] = r.value
    gens: dict[str, int] = {}  # connector -> generation of its offsets changed by hand
    checkpoints: list[tuple[str, Any, dict[str, Any]]] = []
    for key, value in latest.items():
        try:
            connector, partition = json.loads(key)
            doc = json.loads(value) if value is not None else None
        except (ValueError, TypeError):
            continue
        if not isinstance(partition, dict) or not isinstance(doc, dict):
            continue
        if partition.get(ALTERED_KEY) is not None:
            gens[connector] = max(gens.get(connector, 0), int(doc.get("gen", 0)))
        elif TASK_KEY in partition:
            checkpoints.append((connector, partition[TASK_KEY], doc))
    out = {}
    for connector, task, doc in checkpoints:
        window = doc.get("window")
        if window and int(doc.get("gen", 0)) >= gens.get(connector, 0):  # (else void)
            out[f"{connector} task {task}"] = sorted(window)
    return out


def _grown(plan: CopyPlan, src: LogBackend) -> list[str]:
    """The source partitions that grew since they were counted: a worker writes there."""
    out = []
    for parts in plan.partitions.values():
        for p in parts:
            end = src.watermarks(p.tp)[1]
            if end > p.end:
                out.append(f"{p.tp.topic}/{p.tp.partition} ({p.end:,} -> {end:,})")
    return out


def _writer(grown: list[str]) -> ConfigError:
    return ConfigError(
        f"the source was written to during the copy: {', '.join(grown[:5])}"
        f"{f' and {len(grown) - 5} more' if len(grown) > 5 else ''}. A worker runs on it: "
        "stop every worker there (sources too), then copy"
    )


def check_copy(
    plan: CopyPlan, src: LogBackend, dst: LogBackend, allow_offset_shift: bool,
    redone: Iterable[str] = (),
) -> None:  # fmt: skip
    """ConfigError when the copy must not go ahead (naming what and what to do); ``redone``:
    the topics a stopped copy made, which this one deletes first (`existing`)."""
    existing(plan.topics, dst, redone)
    grown = _grown(plan, src)
    if grown:
        raise _writer(grown)
    for side, log in (("source", src), ("destination", dst)):
        busy = [g for g in plan.groups if log.groups.has_members(g)]
        if busy:
            raise ConfigError(
                f"consumer group(s) {', '.join(busy)} have members on the {side}: stop the "
                "workers there first (a copy reads and writes a log nothing else uses)"
            )
    shifted = {f"{p.tp.topic}/{p.tp.partition}" for p in plan.shifted}
    stuck = {task: [tp for tp in tps if tp in shifted] for task, tps in plan.open_windows.items()}
    stuck = {task: tps for task, tps in stuck.items() if tps}
    if stuck:
        raise ConfigError(
            "source task(s) stopped without a clean stop ("
            + "; ".join(f"{t}: {', '.join(tps)}" for t, tps in sorted(stuck.items()))
            + ") have a recovery window over partitions whose offsets the copy would shift: "
            "start the worker on this log once and stop it (Ctrl-C), then copy"
        )
    if shifted and not allow_offset_shift:
        listed = sorted(shifted)
        more = f" and {len(listed) - 10} more" if len(listed) > 10 else ""
        raise ConfigError(
            f"{len(listed)} partition(s) do not hold every offset from 0 (retention or "
            "compaction removed records, or transactions, exactly.once.source.support, left "
            f"their markers): {', '.join(listed[:10])}{more}. Their records would "
            "get other offsets there, and a sink that keeps its offsets in its target (DuckDB, "
            "PostgreSQL, the file sink) would resume at the wrong record; group offsets are "
            "translated. Pass --allow-offset-shift to copy anyway (then reset such sinks)"
        )


class CopyFailed(HubError):
    """A copy stopped part way: what it created is named, to delete before trying again."""


def copy_log(
    src: LogBackend,
    dst: LogBackend,
    plan: CopyPlan,
    progress: Callable[[str, int, int], None] | None = None,
    origin: str = "another log",
) -> dict[str, dict[TopicPartition, int]]:
    """Copy what ``plan`` says (the records it counted, no more); the groups' offsets as
    committed on the destination. `CopyFailed` naming the topics made when it stops (an
    interrupt too: Ctrl-C, SIGTERM); the destination stays marked until it is redone.
    ``origin`` names the source in the mark (the same copy run again redoes it)."""
    made: list[str] = []
    try:
        return _copy(src, dst, plan, progress, made, origin)
    except BaseException as exc:
        if not isinstance(exc, Exception | KeyboardInterrupt):
            raise
        why = ("it was interrupted" if isinstance(exc, KeyboardInterrupt)
               else f"{type(exc).__name__}: {exc}")  # fmt: skip
        raise CopyFailed(
            f"the copy stopped ({why}); it had created {', '.join(made) or 'no topic'} on "
            "the destination, where workers using the storage topics it writes refuse to "
            "start until the copy is done: run the same command again to delete what this "
            "one made and copy again (or 'hub log undo-copy' there to delete it only)"
        ) from exc


def _copy(
    src: LogBackend,
    dst: LogBackend,
    plan: CopyPlan,
    progress: Callable[[str, int, int], None] | None,
    made: list[str],
    origin: str,
) -> dict[str, dict[TopicPartition, int]]:
    # the mark first (then each topic the copy makes, before it and after), then the
    # records, then the configs and offsets topics, then the groups' offsets: a copy stopped
    # at any point leaves no offset past a record it did not copy, and a mark
    storage = {d for d, s in plan.topics.items() if any(p.storage for p in plan.partitions[s])}
    marker = Marker(dst, origin, plan.storage)
    order = [d for d in plan.topics if d not in storage] + [d for d in plan.topics if d in storage]
    old_offsets: dict[TopicPartition, list[int]] = {}  # shifted partitions: old offset by index
    for dest in order:
        source = plan.topics[dest]
        parts = plan.partitions[source]
        total = sum(p.count for p in parts)
        marker.making(dest)
        dst.create_topic(dest, len(parts), plan.configs[source], plan.replication.get(dest))
        marker.made(dest)  # (its id: a redo deletes only a topic of that id)
        made.append(dest)
        producer = dst.producer()
        done = 0
        for part in parts:
            shifted = not part.kept
            if shifted:
                old_offsets[part.tp] = []
            batch: list[Record] = []
            left = part.count  # (records written since the count are not copied)
            for r in src.scan(part.tp, part.start):
                if not left:
                    break
                left -= 1
                if shifted:
                    old_offsets[part.tp].append(r.offset)
                elif r.offset != part.count - left - 1:
                    raise ConfigError(
                        f"{part.tp.topic}/{part.tp.partition} changed during the copy (offset "
                        f"{r.offset} where {part.count - left - 1} was counted): is a worker "
                        "or retention running on the source?"
                    )
                batch.append(r)
                if len(batch) >= BATCH:
                    _send(producer, dest, part.tp.partition, batch)
                    done += len(batch)
                    batch = []
                    marker.alive()
                    if progress is not None:
                        progress(dest, done, total)
            if left:
                raise ConfigError(
                    f"{part.tp.topic}/{part.tp.partition} ended {left:,} record(s) short of the "
                    f"{part.count:,} counted: retention or compaction removed records from the "
                    "source during the copy (copy again; raise its retention.ms meanwhile)"
                )
            if batch:
                _send(producer, dest, part.tp.partition, batch)
                done += len(batch)
        producer.flush()
        if all(p.kept for p in parts) and not any(p.storage for p in parts):
            # every offset kept: offsets a sink stored in its target for the source's topic
            # are the copy's too (else the topic's new id reads as a topic made again)
            ids = src.topic_ids(source)
            if ids:
                dst.continue_topic(dest, ids)
        if progress is not None:
            progress(dest, done, total)
    grown = _grown(plan, src)
    if grown:
        raise _writer(grown)
    out: dict[str, dict[TopicPartition, int]] = {}
    renamed = {source: dest for dest, source in plan.topics.items()}
    counted = {p.tp: p.count for ps in plan.partitions.values() for p in ps}
    for group, committed in plan.groups.items():
        moved = {}
        for tp, offset in committed.items():
            olds = old_offsets.get(tp)
            # (past what was copied: at its end, where the next record written there goes)
            new = min(offset, counted[tp]) if olds is None else bisect.bisect_left(olds, offset)
            moved[TopicPartition(renamed[tp.topic], tp.partition)] = new
        dst.groups.commit(group, moved)
        out[group] = moved
    marker.done()
    return out


def _send(producer: LogProducer, topic: str, partition: int, batch: list[Record]) -> None:
    producer.send_many(
        topic,
        [r.value for r in batch],
        keys=[r.key for r in batch],
        headers=[r.headers for r in batch],
        timestamps=[r.timestamp for r in batch],
        partition=partition,
    )
