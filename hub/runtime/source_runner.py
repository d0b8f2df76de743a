"""Runs one source task: poll, convert, append to the log, checkpoint offsets exactly once.

Records reach the log's files whenever the log flushes (its background flusher makes them
durable as soon as they are appended), which need not coincide with a commit. So the runner
keeps a *window*: the records appended since the last commit. Protocol:

1. before the first record of a window goes to a topic, store the task checkpoint
   ``{"seq": committed, "window": {topic/partition: log end offset}}`` for every partition
   of every topic the window writes to (fsync);
2. append records, each with the header ``hub.source.seq`` = ``<connector>/<task>/<seq>``;
3. at commit (every ``offset.flush.interval.ms`` and at stop): flush the producer, then store
   the source offsets and ``{"seq": last, "window": null}`` together (fsync);
4. ``task.commit()``: the source may now acknowledge (PostgreSQL confirms its slot).

After a crash inside a window, some of its records may be durable and others not. On start
the runner scans the window's log ranges for its own headers and, while the task replays from
the stored offsets (sources replay deterministically), drops exactly the records whose seq is
already in the log. So the log receives every record once, whatever the moment of the crash.

A task that fails (an exception from ``poll``, a record refused by the log) stores the offsets
of what its earlier polls wrote, when nothing of the failing poll reached the log: the restart
resumes right after them, which matters for a source that cannot replay exactly (a snapshot
re-read in a new transaction would otherwise write its rows again). A record over its topic's
``max.message.bytes`` fails the task with `SourceRecordTooLargeError` (topic, table, key, size).

On a log with transactions (Kafka, the worker's ``exactly.once.source.support: enabled``,
KIP-618's model) there is no window: the task's producer has the transactional id
``<prefix>-<connector>-<task>`` and, made, fences the earlier producers of that id (a
zombie's next write fails; its open transaction is aborted). The records a transaction sent
and the offsets that cover them commit together after every poll (``transaction.boundary:
poll``) or every ``transaction.boundary.interval.ms`` (``interval``); a failed task aborts
its open transaction, and read_committed readers never see an aborted one's records.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import operator
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from itertools import repeat
from typing import Any

from hub.errors import ConfigError
from hub.log import RecordTooLargeError, TopicExistsError, TopicPartition, codec
from hub.log.backend import LogProducer, TransactionalProducer, holds
from hub.log.packed import Packed
from hub.runtime.api import (
    EncodedBatch,
    SourceBatch,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from hub.runtime.converters import JsonConverter
from hub.runtime.offsets import OffsetStore, partition_key
from hub.runtime.runner import RunnerContext
from hub.runtime.too_large import too_large

log = logging.getLogger(__name__)

SEQ_HEADER = "hub.source.seq"

# what `SourceRunner._append_fast` reads of every record (`codec.slot_columns`)
_FAST_FIELDS = (
    "topic", "partition", "key", "key_schema", "value", "value_schema", "source_partition",
    "source_offset", "headers", "timestamp", "replayable", "encoded",
)  # fmt: skip


class _PackedRun:
    """A packed EncodedBatch waiting in `SourceRunner._append`: its records take the seqs
    ``first_seq``.. in order; ``span`` is [first, last] index of the poll's records in it,
    and when it was made (`_RUNS`)."""

    __slots__ = ("packed", "first_seq", "timestamp", "span")

    def __init__(self, packed: Packed, first_seq: int, timestamp: int, i: int) -> None:
        self.packed = packed
        self.first_seq = first_seq
        self.timestamp = timestamp
        self.span = [i, i, next(_RUNS)]


# the runs of a poll are sent in the order they were made: that of their first records (a
# batch's records share its index: those a transform sent to several partition slots of a
# topic keep their order)
_RUNS = itertools.count()


def _list_run(
    groups: dict[tuple[str, int | None], list[Any]], slot: tuple[str, int | None], i: int,
    last: dict[str, int | None],
) -> Any:  # fmt: skip
    """The (keys, values, headers, timestamps, span) lists records of ``slot`` go on to: its
    last run, or a new one after a packed run or after a record of the topic with another
    partition slot (``last``: each topic's slot so far; the runs are sent in poll order, so a
    topic's records keep their order in every partition whatever slots they take: a record
    given partition 0 between two keyed ones that land there had gone after both); ``span``
    is [first, last] index of the poll's records in it (the caller sets last) and when it was
    made (`_RUNS`)."""
    topic, partition = slot
    switched = last.get(topic, partition) != partition
    last[topic] = partition
    runs = groups.get(slot)
    if runs is None:
        runs = groups[slot] = []
    elif type(runs[-1]) is not _PackedRun and not switched:
        return runs[-1]
    run: tuple[list[Any], ...] = ([], [], [], [], [i, i, next(_RUNS)])
    runs.append(run)
    return run


def _span(run: Any) -> list[int]:
    return run.span if type(run) is _PackedRun else run[4]


# properties of the runtime that change no record a task emits (nor their order): a change to
# them keeps a crashed run's records recognisable (seqs are given before transforms run)
_RUNTIME_ONLY = (
    "transforms", "predicates", "key.converter", "value.converter", "header.converter",
    "errors.", "offset.flush.", "producer.override.", "topic.creation.",
)  # fmt: skip


def config_fingerprint(config: Mapping[str, Any], neutral: frozenset[str] = frozenset()) -> str:
    """A digest of a source task's config but its runtime-only properties and the task's
    ``replay_neutral`` ones: a crashed run's records are recognised by their place in the
    sequence only under the same config."""
    import hashlib
    import json

    from hub.config import is_secret, looks_secret

    kept = {
        k: v for k, v in config.items()  # (a password changes no record, and a digest of
        if not str(k).startswith(_RUNTIME_ONLY)  # one is no one's to keep: any name that
        and not is_secret(str(k)) and not looks_secret(str(k))  # may hold one is left out)
        and str(k) not in neutral
    }  # fmt: skip
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SourceRunner:
    def __init__(self, ctx: RunnerContext, task: SourceTask, offsets: OffsetStore) -> None:
        self.ctx = ctx
        self.connector = ctx.connector
        self.task_id = ctx.task_id
        self.task = task
        self.log = ctx.log
        self.offsets = offsets
        self.state = ctx.state
        self.errors = ctx.errors
        c = ctx.common
        self._txn: TransactionalProducer | None = None
        self._interval = ctx.flush_interval
        self._per_poll = False
        if ctx.log.transaction_prefix is not None:  # KIP-618 (see the module's doc)
            self._per_poll = c.transaction_boundary == "poll"
            interval_ms = c.transaction_boundary_interval_ms or c.offset_flush_interval_ms
            limit = ctx.log.transaction_timeout_ms
            if not self._per_poll:
                self._interval = interval_ms / 1000
                if interval_ms * 2 > limit:
                    name = "transaction.boundary.interval.ms"
                    if c.transaction_boundary_interval_ms is None:
                        name = "offset.flush.interval.ms"
                    raise ConfigError(
                        f"{ctx.connector}: with transaction.boundary: interval a transaction "
                        f"stays open up to {name} ({interval_ms}), but Kafka aborts one open "
                        f"longer than the worker's transaction.timeout.ms ({limit}): keep it "
                        "below half of that"
                    )
            # (checked first: made, the producer has fenced the task's earlier ones, another
            # worker's or a zombie's: their open transaction is aborted, their next write fails)
            self._txn = ctx.log.transactional_producer(
                f"{ctx.log.transaction_prefix}-{ctx.connector}-{ctx.task_id}",
                compression=c.producer_compression_type,
                keyless_partition=0 if task.keyless_in_order else None,
            )
        self.producer: LogProducer = self._txn or ctx.log.producer(
            compression=c.producer_compression_type,
            keyless_partition=0 if task.keyless_in_order else None,
        )
        self._prefix = f"{ctx.connector}/{ctx.task_id}/".encode()
        self._window: dict[str, int] = {}  # "topic/partition" -> log end offset at start
        self._pending: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._topics: set[str] = set()
        self._commit_requested = False  # SourceTaskContext.request_commit
        # the log may hold part of the poll being written (a send failed after others, or
        # failed in a way that may have left part of it): no offset may be stored then
        self._log_unsure = False
        self.stopping = threading.Event()
        self.lost = False  # set by the worker when it lost this task's lease: no last commit
        # distributed: whether this worker's leases are known to be held (a commit waits)
        self.may_commit: Callable[[], bool] | None = None
        self._config_print = config_fingerprint(ctx.config, task.replay_neutral)
        self._config_changed = False

    # -- recovery ----------------------------------------------------------------------------
    def _recover(self) -> tuple[int, set[int]]:
        """The committed seq, and the seqs of a crashed window already durable in the log."""
        cp = self.offsets.task_checkpoint(self.connector, self.task_id)
        committed = int(cp.get("seq", 0))
        present: set[int] = set()
        was = cp.get("config")
        self._config_changed = (
            bool(cp.get("window")) and was is not None and was != self._config_print
        )
        if self._config_changed:
            # the records are matched by their place in the sequence the task replays: a
            # source config changed since may emit other records at those places (a table
            # left out, another topic), which were skipped as written and lost
            log.warning(
                "%s task %d: its config changed since a run that did not finish its commit; "
                "what that run wrote will be written again (at least once: a sink table "
                "without a key may hold those rows twice)",
                self.connector, self.task_id,
            )  # fmt: skip
            return committed, present
        for key, start in (cp.get("window") or {}).items():
            topic, _, p = key.rpartition("/")
            if not self.log.has_topic(topic):
                continue
            tp = TopicPartition(topic, int(p))
            # (to the end as it is now: the other tasks writing on meanwhile leave no end;
            # none past the window's start: nothing of the window was written)
            reported = self.log.watermarks(tp)[1]
            end: int | None = reported
            if reported <= int(start):
                # (a broker may report the end low, Tansu after a batch of several records,
                # as an exported log's: the window's records were then written again)
                if not holds(self.log, tp, int(start)):
                    continue
                end = None  # (to the end a scan finds)
            for r in self.log.scan(tp, int(start), end=end):
                for hk, hv in r.headers:
                    if hk == SEQ_HEADER and hv is not None and hv.startswith(self._prefix):
                        seq = int(hv[len(self._prefix) :])
                        if seq > committed:
                            present.add(seq)
        if present:
            log.info(
                "%s task %d: %d records of an unfinished commit are already in the log; "
                "they will not be written again", self.connector, self.task_id, len(present),
            )  # fmt: skip
        return committed, present

    # -- main loop ----------------------------------------------------------------------------
    def run(self) -> None:
        if self._txn is not None:
            # the offsets as the last transaction of this task committed them (read after
            # the fencing: what the earlier producer left open is aborted, not waited for)
            self.offsets.refresh()
        self._seq, self._skip = self._recover()
        self._committed_seq = self._seq
        # an unfinished window stays open until the next commit: a second crash before it
        # must still rescan the records the first run left in the log
        cp = self.offsets.task_checkpoint(self.connector, self.task_id)
        # (a crashed run under another config: its window is not this run's to rescan; kept,
        # a second crash would match its records against this run's and skip them)
        self._window = {} if self._config_changed else dict(cp.get("window") or {})
        context = SourceTaskContext(
            self.connector, self.task_id, self.offsets.offsets(self.connector), self._inexact,
            self._json_encoding(), self._request_commit, self._internal_topic,
            self._topic_written,
        )  # fmt: skip
        self.task.start(self.ctx.config, context)
        self.state.running()
        last_commit = time.monotonic()
        ok = False
        try:
            while not self.stopping.is_set():
                records = self.task.poll()
                if self.lost:  # (left behind by a stop, or its lease lost: writes nothing)
                    break
                if records and self.may_commit is not None and not self._leases_held():
                    break  # (its lease was lost while it was frozen, or a stop came meanwhile)
                if records:
                    self._append(records)
                    if self._per_poll:  # (transaction.boundary: poll)
                        self._commit_requested = True
                if self._commit_requested or time.monotonic() - last_commit >= self._interval:
                    self._commit_requested = False
                    self.commit()
                    last_commit = time.monotonic()
            ok = True
        finally:
            if self.lost:
                self._give_up()
            elif ok:
                self.commit()
            elif self._txn is not None:
                # nothing of the unfinished transaction is committed: the restarted task
                # sends it again from the offsets of the last one
                self._txn.abort_transaction()
            elif not self._log_unsure:
                # nothing of the failing poll is in the log: store what the earlier ones wrote
                self._store_after_failure()
            else:
                # the task failed part-way through a poll: store no offset (the failed records
                # were not written); what was appended is flushed and, being inside the open
                # window, is found and skipped by the restarted task's recovery
                self.producer.flush()

    def _give_up(self) -> None:
        """The worker lost this task's lease (its session expired: paused, cut off) and
        another worker may run it and have committed since: store nothing. A last commit
        here had put this task's older offsets after the new holder's, so a later restart
        wrote again what the new holder had written (917 k records in a review's run)."""
        log.warning("%s task %d: its lease was lost to another worker, or a stop came while "
                    "it was inside a call or waiting for its lease to be confirmed: stopped "
                    "without committing", self.connector, self.task_id)  # fmt: skip
        if self._txn is not None:
            with contextlib.suppress(Exception):  # (fenced already, most likely)
                self._txn.abort_transaction()

    def _store_after_failure(self) -> None:
        try:
            self._store()
        except Exception as exc:  # the task's own failure is the one to report
            log.error("%s task %d: storing offsets after its failure failed: %s",
                      self.connector, self.task_id, exc)  # fmt: skip

    def _json_encoding(self) -> tuple[bool, bool] | None:
        kc, vc = self.ctx.key_converter, self.ctx.value_converter
        if self.ctx.chain is not None:
            return None
        if type(kc) is not JsonConverter or type(vc) is not JsonConverter:
            return None
        return kc.schemas_enable, vc.schemas_enable

    def _internal_topic(self, name: str, config: Mapping[str, str]) -> list[bytes | None]:
        if not self.log.has_topic(name):
            with contextlib.suppress(TopicExistsError):  # (created meanwhile)
                self.log.create_topic(name, 1, dict(config))
        return [r.value for r in self.log.scan(TopicPartition(name, 0))]

    def _topic_written(self, name: str) -> bool:
        if not self.log.has_topic(name):
            return False
        return any(
            self.log.watermarks(TopicPartition(name, p))[1] > 0
            for p in range(self.log.partition_count(name))
        )  # fmt: skip

    def _request_commit(self) -> None:
        self._commit_requested = True

    def _inexact(self) -> None:
        if self._skip:
            log.info(
                "%s task %d: the task cannot replay exactly; the %d records of the unfinished "
                "commit will be written again (at least once)", self.connector, self.task_id,
                len(self._skip),
            )  # fmt: skip
        self._skip.clear()

    def _append(self, records: Sequence[SourceRecord | SourceBatch | EncodedBatch]) -> None:
        if self.ctx.chain is None and not self._skip and type(records) is list:
            one = records[0] if len(records) == 1 else None
            if type(one) is SourceBatch and self._append_columns(one):
                return
            cols = codec.slot_columns(records, SourceRecord, _FAST_FIELDS)
            if cols is not None and self._append_fast(records, cols):
                return
        # per (topic, partition): its runs in order, each a list-run (keys, values, headers,
        # timestamps) or a _PackedRun
        groups: dict[tuple[str, int | None], list[Any]] = {}
        last_slot: dict[str, int | None] = {}  # each topic's last partition slot (_list_run)
        now = time.time_ns() // 1_000_000
        last_partition: object = None
        pkey = ""
        pending: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # stored once written
        skip, prefix = self._skip, self._prefix
        seq = self._seq
        skipping = set(skip)  # (as they were: put back if the poll fails before a send)
        written = 0
        in_order: set[str] = set()  # topics of `SourceRecord.ordered` records
        chain = self.ctx.chain
        # without transforms, the records' keys and values in one call per converter (None:
        # one failed, so each is converted on its own and the failure reported)
        converted = None if chain is not None else self._convert_all(records)
        j = 0  # the next of them
        try:
            for i, item in enumerate(records):
                if item.source_partition is not last_partition:  # usually one object per poll
                    last_partition = item.source_partition
                    pkey = partition_key(item.source_partition)
                pending[pkey] = (item.source_partition, item.source_offset)  # type: ignore[assignment]
                if type(item) is SourceBatch:
                    if not item.values:  # (an offset update)
                        continue
                    enc = self._convert_batch(item) if chain is None else None
                    if enc is not None:  # (converted: as an EncodedBatch from here)
                        item = enc
                if type(item) is EncodedBatch:
                    n = len(item.packed) if item.packed is not None else len(item.values)
                    seq = self._append_batch(item, groups, seq, now, i, last_slot)
                    written += n
                    continue
                # a batch's records (transformed, or one failed to convert) keep its index:
                # the poll's unit of what is written whole (`_written_prefix`)
                members: Sequence[SourceRecord]
                if type(item) is SourceBatch:
                    members, batch = item.records(now), True
                else:
                    assert isinstance(item, SourceRecord)
                    members, batch = (item,), False
                for r in members:
                    if not r.topic:  # an offset update (api.offset_update): nothing to write
                        continue
                    kv = None
                    if converted is not None and not r.encoded and not batch:
                        kv = converted[j]
                        j += 1
                    written += 1
                    if r.replayable:
                        seq += 1
                        if skip and seq in skip:
                            skip.discard(seq)
                            continue
                        seq_header: tuple[tuple[str, bytes], ...] = (
                            (SEQ_HEADER, prefix + b"%d" % seq),
                        )
                    else:
                        seq_header = ()
                    if r.encoded:  # the converters' bytes already (no transforms: _json_encoding)
                        key, value = r.key, r.value
                    elif kv is not None:
                        key, value = kv
                    else:
                        if chain is not None:
                            if r.timestamp is None:
                                r = replace(r, timestamp=now)
                            try:
                                r = chain.apply(r)  # type: ignore[assignment]
                            except Exception as exc:
                                self.errors.failed("TRANSFORMATION", exc)
                                continue
                            if r is None:  # filtered out: its offset still moves on
                                continue
                        try:
                            key = self.ctx.key_converter.from_value(r.key, r.key_schema)
                            value = self.ctx.value_converter.from_value(r.value, r.value_schema)
                        except Exception as exc:  # e.g. a value JSON cannot represent
                            self.errors.failed("VALUE_CONVERTER", exc)
                            continue
                    if r.ordered:
                        in_order.add(r.topic)
                    g = _list_run(groups, (r.topic, r.partition), i, last_slot)
                    g[4][1] = i
                    g[0].append(key)
                    g[1].append(value)
                    g[2].append((*r.headers, *seq_header) if r.headers else seq_header)
                    g[3].append(r.timestamp if r.timestamp is not None else now)
            for topic, _ in groups:
                self._ensure_topic(topic)
            for topic in in_order:  # (records no other partition may hold: truncates)
                self._one_partition(topic, "the connector writes records to it that must be "
                                    "ordered with all the others (truncate events)")  # fmt: skip
            self._open_window({topic for topic, _ in groups})
        except BaseException:
            # a record (or a topic) failed before anything of the poll was sent: the seqs
            # and the crashed window's records to skip are as before it (counting the poll's
            # unwritten records, the stored checkpoint closed the window: its records were
            # written twice)
            skip.clear()
            skip.update(skipping)
            raise
        self._seq = seq
        sent: list[Any] = []
        self._log_unsure = True
        ordered = sorted(
            ((_span(run)[2], topic, partition, run)
             for (topic, partition), runs in groups.items() for run in runs),
            key=lambda entry: entry[0],
        )  # fmt: skip
        for _, topic, partition, run in ordered:
            try:
                if type(run) is _PackedRun:
                    self.producer.send_packed(
                        run.packed, topic, header_key=SEQ_HEADER, header_prefix=prefix,
                        first_seq=run.first_seq, timestamp=run.timestamp,
                        partition=partition,
                    )  # fmt: skip
                else:
                    keys, values, headers, stamps, _ = run
                    self.producer.send_many(
                        topic, values, keys=keys, headers=headers, timestamps=stamps,
                        partition=partition,
                    )  # fmt: skip
            except RecordTooLargeError as exc:  # nothing of this run was appended
                self._written_prefix(records, groups, sent)
                ks, vs = run.packed.lists() if type(run) is _PackedRun else run[:2]
                raise too_large(exc, ks, vs) from None
            sent.append(run)
        self._log_unsure = False
        self._pending.update(pending)
        self.state.add_records(written)

    def _append_fast(self, records: list[SourceRecord], cols: list[list[Any]]) -> bool:
        """The common poll, a batch at a time: plain records of one topic, partitioned by key,
        without headers, converted (no transforms) and written in one call each, their seq
        headers written by the codec. False (nothing done) for any other poll."""
        topics, parts, keys, key_schemas, values, value_schemas = cols[:6]
        source_partitions, source_offsets, headers, stamps, replayable, encoded = cols[6:]
        n = len(records)
        topic = topics[0] if n else ""
        if (
            not topic or topics.count(topic) != n or parts.count(None) != n
            or headers.count(()) != n or replayable.count(True) != n
            or encoded.count(False) != n
        ):  # fmt: skip
            return False
        try:
            keys = self.ctx.key_converter.from_values(keys, key_schemas)
            values = self.ctx.value_converter.from_values(values, value_schemas)
        except Exception:  # noqa: BLE001 - _append converts one by one, reporting the failure
            return False
        now = time.time_ns() // 1_000_000
        none = stamps.count(None)
        ts: int | list[int] = (
            now if none == n else stamps if not none else [now if t is None else t for t in stamps]
        )
        pending: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        first = source_partitions[0]
        if all(map(operator.is_, source_partitions, repeat(first, n))):  # the usual poll
            # (the same object: equal dicts may still differ in key, {"t": 1} and {"t": True})
            pending[partition_key(first)] = (first, source_offsets[-1])
        else:
            last: object = None
            pkey = ""
            for sp, so in zip(source_partitions, source_offsets, strict=True):
                if sp is not last:
                    last, pkey = sp, partition_key(sp)
                pending[pkey] = (sp, so)
        self._send_converted(topic, keys, values, ts, pending)
        return True

    def _append_columns(self, b: SourceBatch) -> bool:
        """A poll of one `SourceBatch` (no transforms, no crashed window replayed): converted
        a column at a time and written in one call; False (nothing done) when a record fails
        to convert (`_append` then reports it)."""
        enc = self._convert_batch(b)
        if enc is None:
            return False
        pending = {partition_key(b.source_partition): (b.source_partition, b.source_offset)}
        if enc.values:
            ts = b.timestamp if b.timestamp is not None else time.time_ns() // 1_000_000
            self._send_converted(b.topic, enc.keys, enc.values, ts, pending)  # type: ignore[arg-type]
        else:  # (an offset update)
            self._pending.update(pending)  # type: ignore[arg-type]
        return True

    def _convert_batch(self, b: SourceBatch) -> EncodedBatch | None:
        """A `SourceBatch` through the task's converters (one call a column); None when a
        record fails (converted one by one then, the failure reported)."""
        n = len(b.values)
        try:
            keys = self.ctx.key_converter.from_values(
                b.keys if b.keys is not None else [None] * n, [b.key_schema] * n
            )
            values = self.ctx.value_converter.from_values(b.values, [b.value_schema] * n)
        except Exception:  # noqa: BLE001 - converted one by one, the failure reported
            return None
        return EncodedBatch(b.topic, keys, values, b.source_partition, b.source_offset, b.timestamp)

    def _send_converted(
        self,
        topic: str,
        keys: list[bytes | None],
        values: list[bytes | None],
        ts: int | list[int],
        pending: dict[str, tuple[dict[str, Any], dict[str, Any]]],
    ) -> None:
        """A poll's converted records of one topic, partitioned by key, written in one call,
        their seq headers written by the codec; then its offsets are pending."""
        n = len(values)
        first_seq = self._seq + 1
        self._ensure_topic(topic)
        self._open_window({topic})
        self._log_unsure = True
        try:
            self.producer.send_many(
                topic,
                values,
                keys=keys,
                timestamps=ts,
                seq_header=(SEQ_HEADER, self._prefix, first_seq),
            )
        except RecordTooLargeError as exc:  # nothing of the poll was appended (nor counted)
            self._log_unsure = False
            raise too_large(exc, keys, values) from None
        self._seq += n
        self._log_unsure = False
        self._pending.update(pending)
        self.state.add_records(n)

    def _convert_all(
        self, records: Sequence[SourceRecord | SourceBatch | EncodedBatch]
    ) -> list[tuple[bytes | None, bytes | None]] | None:
        """The keys and values of the records to convert (with a topic, not encoded), in
        order, converted a batch at a time; None when there are none or one fails."""
        plain = [r for r in records  # (as _append takes them: subclasses too)
                 if isinstance(r, SourceRecord) and r.topic and not r.encoded]  # fmt: skip
        if not plain:
            return None
        try:
            keys = self.ctx.key_converter.from_values(
                [r.key for r in plain], [r.key_schema for r in plain]
            )
            values = self.ctx.value_converter.from_values(
                [r.value for r in plain], [r.value_schema for r in plain]
            )
        except Exception:  # noqa: BLE001 - converted one by one, the failure reported
            return None
        return list(zip(keys, values, strict=True))

    def _written_prefix(
        self,
        records: Sequence[SourceRecord | SourceBatch | EncodedBatch],
        groups: dict[tuple[str, int | None], list[Any]],
        sent: list[Any],
    ) -> None:
        """After a refused send: when what reached the log is the poll's first records, and
        only they, note their offsets (stored at the failure, as an earlier poll's are)."""
        done = {id(run) for run in sent}
        first_unsent = min(
            _span(run)[0] for runs in groups.values() for run in runs if id(run) not in done
        )
        if any(_span(run)[1] >= first_unsent for run in sent):
            return  # records after one that is not in the log are: no offset covers that
        for r in records[:first_unsent]:
            self._pending[partition_key(r.source_partition)] = (
                r.source_partition, r.source_offset,  # type: ignore[assignment]
            )  # fmt: skip
        self._log_unsure = False

    def _append_batch(
        self,
        b: EncodedBatch,
        groups: dict[tuple[str, int | None], list[Any]],
        seq: int,
        now: int,
        i: int,
        last: dict[str, int | None],
    ) -> int:
        """Group an EncodedBatch's records (as _append does one record's); the last seq."""
        prefix, skip = self._prefix, self._skip
        stamp = b.timestamp if b.timestamp is not None else now
        if b.packed is not None:
            n = len(b.packed)
            if not skip:  # the bulk path: no object per record
                last[b.topic] = None  # (a run of its own: the next list run is a new one)
                runs = groups.get((b.topic, None))
                if runs is None:
                    runs = groups[(b.topic, None)] = []
                runs.append(_PackedRun(b.packed, seq + 1, stamp, i))
                return seq + n
            keys, values = b.packed.lists()
        else:
            keys, values = b.keys, b.values
            n = len(values)
        g = _list_run(groups, (b.topic, None), i, last)
        g[4][1] = i
        if skip:  # replaying a crashed window: drop what is already in the log
            kept = [i for i in range(n) if seq + 1 + i not in skip]
            skip.difference_update(range(seq + 1, seq + n + 1))
            keys, values = [keys[i] for i in kept], [values[i] for i in kept]
            seqs = [seq + 1 + i for i in kept]
        else:
            seqs = range(seq + 1, seq + n + 1)  # type: ignore[assignment]
        g[0].extend(keys)
        g[1].extend(values)
        g[2].extend([((SEQ_HEADER, prefix + b"%d" % s),) for s in seqs])
        g[3].extend([stamp] * len(values))
        return seq + n

    def _open_window(self, topics: set[str]) -> None:
        """Durably note where the window starts in every partition of topics new to it."""
        new = {t for t in topics if f"{t}/0" not in self._window}
        if not new or self._txn is not None:  # (a transaction needs no window: read_committed
            return  # readers never see what an aborted one sent)
        for t in sorted(new):
            for p in range(self.log.partition_count(t)):
                # from the durable end, not the log end: a failed write (disk full) rolls
                # the partition back to it, and our records may then land below the log end
                # of this moment
                self._window[f"{t}/{p}"] = self.log.watermarks(TopicPartition(t, p))[1]
        checkpoint = {"seq": self._committed_seq, "window": dict(self._window),
                      "config": self._config_print}  # fmt: skip
        self.offsets.write(self.connector, {}, (self.task_id, checkpoint))

    def _ensure_topic(self, topic: str) -> None:
        if topic in self._topics:
            return
        if topic in self.ctx.internal_topics:  # (a topic name, prefix or route gone wrong)
            raise ConfigError(
                f"{self.connector}: its records would go to {topic!r}, one of the worker's "
                "internal topics (config/offset/status.storage.topic); change the topic its "
                "records get (topic, topic.prefix or a routing transform)"
            )
        if not self.log.has_topic(topic):
            try:
                c = self.ctx.common
                self.log.create_topic(
                    topic, c.topic_creation_default_partitions, self.ctx.topic_configs,
                    c.topic_creation_default_replication_factor,
                )  # fmt: skip
            except Exception:
                if not self.log.has_topic(topic):  # not a lost race with another task
                    raise
        why = self.task.one_partition(topic)
        if why is not None:
            self._one_partition(topic, why)
        self._topics.add(topic)
        self.ctx.active_topics.add(topic)

    def _one_partition(self, topic: str, why: str) -> None:
        """ConfigError when ``topic`` has several partitions, for ``why`` it must have one."""
        if (n := self.log.partition_count(topic)) > 1:
            raise ConfigError(
                f"{self.connector}: topic {topic!r} has {n} partitions, and {why}: a sink "
                "would apply them out of order with the records in the other partitions; "
                "write to a topic of one partition, or skip truncates (skipped.operations: t)"
            )

    def forget_topics(self) -> None:
        """Report each topic to the connector's active topics again when next written to
        (after a reset of them)."""
        self._topics = set()

    def _leases_held(self) -> bool:
        """Distributed: True once the worker's leases are confirmed, False when this task's
        was lost or the task stops. A poll made just before the worker froze past its session
        (SIGSTOP, a paused VM) returns after the freeze with what it had read, the lease may be
        another worker's by then, and that worker may have written newer changes of the same
        rows: written now, these land after them (a PostgreSQL slot does not prevent it: the
        zombie's socket still held the WAL it was sent). Held until the worker's next lease
        polls say which it is, as commits are."""
        if self.may_commit is None or self.may_commit():
            return True
        log.info("%s task %d: writing held until the worker's leases are confirmed",
                 self.connector, self.task_id)  # fmt: skip
        while not (self.lost or self.stopping.is_set()):
            if self.may_commit():
                return True
            time.sleep(0.02)
        # the poll is not written: no last commit either (``task.commit`` acknowledges what
        # the task returned, this poll's records too: a PostgreSQL slot would move past them)
        self.lost = True
        return False

    def commit(self) -> None:
        if self.may_commit is not None and not self.may_commit():
            # (frozen past its session: the lease may be another worker's, whose offsets are
            # newer; the worker's next lease poll releases it, or says it is still held)
            log.info("%s task %d: commit deferred until the worker's leases are confirmed",
                     self.connector, self.task_id)  # fmt: skip
            return
        if self._store():
            self.task.commit()
            self.state.committed()

    def _store(self) -> bool:
        """Make the window durable and store its offsets; False when there was nothing."""
        txn = self._txn
        if not self._window and not self._pending and not (txn and txn.in_transaction):
            return False
        self.producer.flush()  # the window's records are durable from here on
        if self.may_commit is not None and not self.may_commit():
            # (frozen while flushing, a likely place for it: checked again, or the offsets
            # went after those another worker committed meanwhile)
            log.info("%s task %d: commit deferred until the worker's leases are confirmed",
                     self.connector, self.task_id)  # fmt: skip
            return False
        # while the replay has not yet passed all the records a crashed run left in the log,
        # the window that holds them stays open: a crash now must find the rest of them again
        keep = dict(self._window) if self._skip else None
        # (in a transaction: the offsets go in it, and it commits)
        self.offsets.write(
            self.connector, self._pending,
            (self.task_id, {"seq": self._seq, "window": keep, "config": self._config_print}),
            via=txn,
        )  # fmt: skip
        self._committed_seq = self._seq
        if keep is None:
            self._window.clear()
        self._pending.clear()
        return True

    def stop(self) -> None:
        self.stopping.set()
        self.errors.stopping.set()
