"""Runs one sink task: a member of the consumer group ``connect-<name>``.

Batches: a batch is handed to ``put`` as soon as the consumer has drained what is durable
(``batch.linger.ms`` waits for more, within ``batch.max.wait.ms``; ``batch.size`` caps it),
after conversion. Every ``offset.flush.interval.ms`` (and before partitions move or the task
stops) the runner calls ``flush`` and, only after it returned, commits the group's offsets.
A sink that keeps its offsets in its target returns them from ``open`` and the runner seeks
there, so a crash between the target's commit and the group commit duplicates nothing.

The offsets ``flush`` gets and the group commits are those after the records the runner has
handled: put, sent to the dead letter queue, or filtered out (not the consumer's position,
which may be past records gathered and not yet put). A record that never reached the target
is thus covered by them, and a sink keeping offsets in its target stores them in ``flush``, so
a dead-lettered record that ends its partition is not taken again at the next start.
"""

from __future__ import annotations

import logging
import time

from hub.errors import ConfigError, ResumeError, TransientError
from hub.log import (
    CommitNotMadeError,
    OffsetOutOfRangeError,
    RebalanceInProgressError,
    Record,
    TopicPartition,
    codec,
)
from hub.log.backend import holds
from hub.runtime.api import EncodedSinkRecords, SinkRecord, SinkTask, SinkTaskContext
from hub.runtime.errors import RetryStopped
from hub.runtime.runner import RunnerContext

log = logging.getLogger(__name__)


# the metadata of a group offset this connector's task committed after its target stored it
STORED_FIRST = "hub:stored-in-target"


class _StageError(Exception):
    """A record's failure at a stage other than ``put``: the stage, the class executing it
    (a DLQ record's ``__connect.errors.class.name``) and the error."""

    def __init__(self, stage: str, executing: type, cause: Exception) -> None:
        super().__init__(str(cause))
        self.stage, self.executing, self.cause = stage, executing, cause


# SinkRecord's fields, in the order `_convert_all` builds them
_SINK_RECORD_FIELDS = (
    "topic", "partition", "offset", "timestamp", "key", "value", "headers", "key_schema",
    "value_schema", "original_topic", "original_partition", "original_offset",
)  # fmt: skip


TOPIC_REFRESH_S = 1.0  # how often topics.regex is matched against the log's topics


class SinkRunner:
    def __init__(self, ctx: RunnerContext, task: SinkTask) -> None:
        self.ctx = ctx
        self.connector = ctx.connector
        self.task = task
        self.log = ctx.log
        self.topics = ctx.common.topics
        self.topics_regex = ctx.common.topics_regex
        self.batch_size = ctx.common.batch_size
        self.batch_max_bytes = ctx.common.batch_max_bytes
        self.linger = min(ctx.common.batch_linger_ms, ctx.common.batch_max_wait_ms) / 1000
        self.state = ctx.state
        self.errors = ctx.errors
        self.consumer = ctx.log.consumer(
            group_id=f"connect-{ctx.connector}",
            auto_offset_reset=ctx.common.auto_offset_reset,
            max_poll_records=self.batch_size,
            max_poll_interval_ms=ctx.common.max_poll_interval_ms,
        )
        self._dirty = False
        self._done: dict[TopicPartition, int] = {}  # next offset after the handled records
        # what this task last committed to its group: an idle sink commits nothing new (it
        # had rewritten its unchanged offsets every second, fsync'd: ~10 KB/s a sink idle)
        self._committed: dict[TopicPartition, int] = {}
        self._stopping = False
        self._failed = False
        self.lost = False  # set by the worker when it lost this task's lease: no last commit
        self._moved: set[TopicPartition] = set()  # partitions assigned or taken since a look
        self._waiting: set[str] = set()  # configured topics that do not exist yet
        # the task writes batches still encoded (its class has the fast path)
        self._encoded = type(task).put_encoded is not SinkTask.put_encoded

    def _subscribed_topics(self) -> list[str]:
        """The configured topics that exist, and the ones topics.regex matches. A missing
        topic is waited for, not created: its source creates it with the partitions it asks
        for (``topic.creation.default.partitions``), and a sink that created it first with
        one partition would decide that by a race."""
        existing = set(self.log.topics(include_internal=True))  # (one metadata request)
        found = [t for t in self.topics if t in existing]
        missing = [t for t in self.topics if t not in found and t not in self._waiting]
        if missing:
            log.warning("%s: topic(s) %s do not exist: waiting for them to be created (by "
                        "their source, or hub topics create)", self.connector,
                        ", ".join(missing))  # fmt: skip
        self._waiting = {t for t in self.topics if t not in found}
        if not self.topics_regex:
            return found
        import re

        pattern = re.compile(self.topics_regex)
        internal = self.ctx.internal_topics
        return sorted({*found, *(t for t in existing if pattern.fullmatch(t)
                                 and not t.startswith("__") and t not in internal)})  # fmt: skip

    def _on_assign(self, tps: set[TopicPartition]) -> None:
        self._moved |= tps
        for tp in tps:  # (another member may have committed them meanwhile)
            self._committed.pop(tp, None)
        stored = self.task.open(tps)
        if len(stored) < len(tps):
            self._new_to(tps - stored.keys())
        if self.task.skips_below_stored and len(stored) < len(tps):
            self._none_stored(tps - stored.keys())
        for tp, offset in stored.items():
            if self.task.skips_below_stored:
                # (asked, not left to seek: a Kafka consumer's seek past the end raises
                # nothing, the client resets the position by itself)
                end = self.log.watermarks(tp)[1]
                # (a broker may report the end low, Tansu after a batch of several records:
                # a task moved to another worker had failed for good on records it held)
                if offset > end and not holds(self.log, tp, offset - 1):
                    self._past_the_end(tp, offset, end)
            try:
                self.consumer.seek(tp, offset)
            except OffsetOutOfRangeError as exc:
                if offset > exc.end and self.task.skips_below_stored:
                    self._past_the_end(tp, offset, exc.end)
                if offset < exc.start:
                    self._below_the_start(tp, offset, exc)
                    continue
                log.warning(  # (past the end, a task that does not skip: the group's offset)
                    "%s: the target's stored offset cannot be used: %s", self.connector, exc
                )

    def _new_to(self, tps: set[TopicPartition]) -> None:
        """Partitions neither the target nor the group holds an offset of (a sink added,
        renamed, or pointed at a new target): written from the log's start, which retention
        may have moved past records whose rows the target then lacks; said."""
        if self.ctx.common.auto_offset_reset != "earliest":  # (it starts at the end)
            return
        try:
            got = self.consumer.committed(tps)
        except Exception:  # noqa: BLE001 - the group's offsets: said by _none_stored
            return
        for tp in sorted(tps - got.keys(), key=lambda t: (t.topic, t.partition)):
            start = self.log.watermarks(tp)[0]
            if start > 0:
                log.warning(
                    "%s: writes %s[%d] from the log's start, offset %d: the records before it "
                    "were removed by retention (retention.ms, retention.bytes), so the target "
                    "lacks the rows only they held (a new snapshot of the source, or an "
                    "incremental snapshot of its tables, copies them)",
                    self.connector, tp.topic, tp.partition, start,
                )  # fmt: skip

    def _none_stored(self, tps: set[TopicPartition]) -> None:
        """Partitions the target holds no offset of, though this connector's task committed
        one to the group after the target had stored it (`STORED_FIRST`): the target lost
        every transaction that wrote them (a crash with synchronous_commit=off, a failover to
        a replica that was behind, a restore), or it is another target. The group's offset
        would skip what the target never got: write them from the log's start. An offset set
        otherwise (PATCH /connectors/<name>/offsets, hub groups reset, an older hub) is the
        group's to give: the task resumes from it, as before."""
        try:
            got = self.consumer.committed(tps)
        except Exception as exc:  # noqa: BLE001 - the group's offsets, as before
            log.warning("%s: could not read the group's committed offsets: %s", self.connector,
                        exc)  # fmt: skip
            return
        committed = {tp: off for tp, (off, meta) in got.items() if meta == STORED_FIRST}
        for tp in sorted(committed, key=lambda t: (t.topic, t.partition)):
            start = self.log.watermarks(tp)[0]
            if committed[tp] < start:  # (a new target, its group's offset left behind)
                log.warning(
                    "%s: the target holds no offset of %s[%d] and the group's, %d, is below "
                    "the log's start, %d: writing from there; the records before it were "
                    "removed by retention, so the target lacks the rows only they held (a new "
                    "snapshot of the source, or an incremental snapshot, copies them)",
                    self.connector, tp.topic, tp.partition, committed[tp], start,
                )  # fmt: skip
            if committed[tp] <= start:
                continue
            log.warning(
                "%s: the target holds no offset of %s[%d] though the group committed %d: it "
                "lost the transactions that wrote it (a crash with synchronous_commit=off, a "
                "failover to a replica that was behind, a restore), or it is another target; "
                "writing the partition from the log's start, offset %d",
                self.connector, tp.topic, tp.partition, committed[tp], start,
            )  # fmt: skip
            try:
                self.consumer.seek(tp, start)
            except OffsetOutOfRangeError as exc:  # (retention moved the start meanwhile)
                self.consumer.seek(tp, exc.start)

    def _below_the_start(self, tp: TopicPartition, offset: int, exc: OffsetOutOfRangeError) -> None:
        """The target is behind the log's start: it went back (a restore, a failover) after
        retention deleted what it had not read. Go on as Kafka's consumer resets an offset out
        of range (``auto.offset.reset``): from the log start, not from the group's offset,
        which would skip the records between that are still in the log."""
        reset = self.ctx.common.auto_offset_reset
        for _ in range(5):  # (retention may move the start again meanwhile)
            to = exc.start if reset == "earliest" else self.log.watermarks(tp)[1]
            try:
                self.consumer.seek(tp, to)
                break
            except OffsetOutOfRangeError as again:
                exc = again
        else:  # (the group's offset / auto.offset.reset, as before)
            log.warning("%s: the target's stored offset cannot be used: %s", self.connector, exc)
            return
        log.warning(
            "%s: the target's stored offset for %s[%d] is %d, below the log's start %d: "
            "retention deleted offsets %d to %d before the target had them, they are lost to "
            "it; going on from offset %d (consumer.override.auto.offset.reset=%s)",
            self.connector, tp.topic, tp.partition, offset, exc.start, offset, exc.start - 1,
            to, reset,
        )  # fmt: skip

    def _past_the_end(self, tp: TopicPartition, offset: int, end: int) -> None:
        """The target holds offsets past the log's end: the topic was deleted and made again
        (or the log lost its tail). The task would skip the new records below its stored
        offset as written, and the group commit past them: stop, saying how to replay."""
        raise ConfigError(
            f"{self.connector}: the target's stored offset for {tp.topic}[{tp.partition}] is "
            f"{offset}, past the log's end {end}: the topic was deleted and made again, or "
            "the log lost records. To write the topic from its start, delete the connector's "
            "rows of that topic from the target's _hub_offsets table (and empty the tables "
            "without a key it writes: they would get their rows again), then restart the "
            "connector"
        )

    def _on_revoke(self, tps: set[TopicPartition]) -> None:
        self._moved |= tps
        if not self._failed and not self.lost:  # (after a failed batch the position is past
            # unwritten records; a lost task's successor may have written since)
            self._flush_and_commit()
        for tp in tps:
            self._done.pop(tp, None)
        self.task.close(tps)

    def _on_lost(self, tps: set[TopicPartition]) -> None:
        """Partitions taken away without a hand-over (this member was expelled: a batch
        outlasted the session or poll interval). Another member may own them already: no
        group commit (it would fail, and could move the group's offset back). A task that
        keeps its offsets in the target stores what it wrote (its target refuses positions
        older than its own); the others' unflushed records are read again by the new owner
        (at least once, as Connect does)."""
        self._moved |= tps
        log.warning("%s task %d: lost partitions %s (expelled from the group: a batch took "
                    "longer than consumer.override.max.poll.interval.ms?); their new owner "
                    "resumes them",
                    self.connector, self.ctx.task_id,
                    ", ".join(sorted(f"{tp.topic}/{tp.partition}" for tp in tps)))  # fmt: skip
        if not self._failed and self._dirty and self.task.offsets_in_target:
            positions = dict(self._done)  # (every partition held: a flush covers them all)
            self.errors.retry("TASK_FLUSH", lambda: self.task.flush(positions))
            self._dirty = False
        for tp in tps:
            self._done.pop(tp, None)
        self.task.close(tps)

    def _convert(self, r: Record) -> SinkRecord:
        """``r`` read by the converters; a failure is reported as its stage's (Connect's
        KEY_CONVERTER or VALUE_CONVERTER) and its converter's class."""
        try:
            key, key_schema = self.ctx.key_converter.to_value(r.key)
        except Exception as exc:
            raise _StageError("KEY_CONVERTER", type(self.ctx.key_converter), exc) from exc
        try:
            value, value_schema = self.ctx.value_converter.to_value(r.value)
        except Exception as exc:
            raise _StageError("VALUE_CONVERTER", type(self.ctx.value_converter), exc) from exc
        return SinkRecord(
            r.topic, r.partition, r.offset, r.timestamp, key, value, r.headers,
            key_schema, value_schema, r.topic, r.partition, r.offset,
        )  # fmt: skip

    def run(self) -> None:
        self.task.start(
            self.ctx.config, SinkTaskContext(self.connector, self.ctx.task_id, self.log.topic_ids)
        )
        subscribed = self._subscribed_topics()
        if subscribed:  # (none yet: waited for below; Kafka refuses an empty subscription)
            self.consumer.subscribe(
                subscribed,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
        self.state.running()
        last_commit = last_refresh = time.monotonic()
        try:
            while not self._stopping:
                refresh = self.topics_regex or self._waiting
                if refresh and time.monotonic() - last_refresh >= TOPIC_REFRESH_S:
                    # topics.regex also takes topics created after the start (a source's new
                    # tables), and a missing topic is taken once it exists: re-subscribe when
                    # the set changes
                    last_refresh = time.monotonic()
                    now_matching = self._subscribed_topics()
                    if now_matching and now_matching != subscribed:  # (Kafka: none empty)
                        subscribed = now_matching
                        self.consumer.subscribe(
                            subscribed,
                            on_assign=self._on_assign,
                            on_revoke=self._on_revoke,
                            on_lost=self._on_lost,
                        )
                if not subscribed:
                    time.sleep(0.2)
                    continue
                batch = self._gather()
                if batch and not self.lost:
                    began = time.monotonic()
                    self._put(batch)
                    self.state.last_apply_ms = (time.monotonic() - began) * 1000
                    self._dirty = True
                    # the last offset per partition (records are tuples: topic, partition,
                    # offset first; a batch at a time, in one C call)
                    ends = codec.last_offsets(batch)
                    active = self.ctx.active_topics
                    for (topic, p), offset in ends.items():
                        self._done[TopicPartition(topic, p)] = offset + 1
                        active.add(topic)
                    self.state.add_records(len(batch))
                if self.lost:  # (left behind by a stop, or its lease lost: commits nothing)
                    break
                if time.monotonic() - last_commit >= self.ctx.flush_interval:
                    self._flush_and_commit()
                    last_commit = time.monotonic()
        except BaseException:
            # the consumer's position is past the batch that failed: commit nothing; the
            # restarted task resumes from the last commit (or the target's own offsets)
            self._failed = True
            raise
        finally:
            try:
                if not self._failed and not self.lost:
                    self._flush_and_commit()
            except BaseException:
                self._failed = True  # (the revoke at the close must not flush again)
                raise
            finally:  # (a last flush that fails still leaves the group at once)
                self.consumer.close()

    def _convert_all(self, batch: list[Record]) -> list[SinkRecord] | None:
        """The batch converted in one call per converter; None when a record fails to convert
        (then `_put` converts one by one and reports the ones that fail)."""
        if not batch:
            return []
        topics, partitions, offsets, stamps, raw_keys, raw_values, headers = map(
            list, zip(*batch, strict=True)
        )
        try:
            keys, key_schemas = self.ctx.key_converter.to_values(raw_keys)
            values, value_schemas = self.ctx.value_converter.to_values(raw_values)
        except Exception:  # noqa: BLE001 - found and reported record by record
            return None
        converted = [c if type(c) is list else list(c)  # (a converter may return tuples)
                     for c in (keys, values, key_schemas, value_schemas)]  # fmt: skip
        if any(len(c) != len(batch) for c in converted):
            raise ValueError("a converter's to_values returned a list of another length")
        keys, values, key_schemas, value_schemas = converted
        # (the records made a batch at a time, without a Python call each)
        if self.ctx.chain is not None:  # a transform may rename the topic
            origins = (topics, partitions, offsets)
        else:
            nones = [None] * len(batch)
            origins = (nones, nones, nones)
        records: list[SinkRecord] = codec.slot_objects(SinkRecord, _SINK_RECORD_FIELDS, (
            topics, partitions, offsets, stamps, keys, values, headers, key_schemas,
            value_schemas, *origins,
        ))  # fmt: skip
        return records

    def _put(self, batch: list[Record]) -> None:
        pairs: list[tuple[Record, SinkRecord]] = []
        chain = self.ctx.chain
        if chain is None and self._encoded and self._put_encoded(batch):
            return
        converted = self._convert_all(batch)
        if converted is not None and chain is None:  # the common case: no per-record work
            self._put_pairs(batch, converted)
            return
        for i, r in enumerate(batch):
            if converted is not None:
                rec: SinkRecord | None = converted[i]
            else:
                try:
                    rec = self._convert(r)
                except _StageError as err:  # a record the converter cannot read
                    self.errors.failed(err.stage, err.cause, r, err.executing)
                    continue
            if chain is not None and rec is not None:
                try:
                    rec = chain.apply(rec)
                except Exception as exc:
                    # (the transform's class, as Connect names it)
                    executing = getattr(exc, "transform_type", None) or type(chain)
                    self.errors.failed("TRANSFORMATION", exc, r, executing)
                    continue
            if rec is not None:  # None: filtered out, its offset is committed all the same
                pairs.append((r, rec))
        if not pairs:
            return
        self._put_pairs([r for r, _ in pairs], [s for _, s in pairs])

    def _put_encoded(self, batch: list[Record]) -> bool:
        """The batch to the task's `SinkTask.put_encoded`; False when it declined it, or
        failed with errors.tolerance=all (then the decoded path isolates the poison)."""
        encoded = EncodedSinkRecords(batch, self.ctx.key_converter, self.ctx.value_converter)
        try:
            done: bool = self.errors.retry("TASK_PUT", lambda: self.task.put_encoded(encoded))
            return done
        except (ResumeError, TransientError, RetryStopped):
            raise  # (the target, not a record: see _put_pairs)
        except Exception as exc:
            if not self._isolates(exc):
                raise
            return False

    def _isolates(self, exc: Exception) -> bool:
        """Whether a failed ``put``'s batch is put again record by record (errors.tolerance=all,
        `SinkTask.isolates_failures`): not for an error of the target itself (its config, its
        disk), nor for a task whose failed put may have written part of the batch."""
        return (
            self.errors.tolerate
            and type(self.task).isolates_failures
            and not isinstance(exc, ConfigError | OSError)
        )

    def _put_pairs(self, raws: list[Record], records: list[SinkRecord]) -> None:
        """``put`` the records; with errors.tolerance=all, a batch that fails is put again
        one record at a time and the records that fail go to the dead letter queue."""
        if not records:
            return
        try:
            self.errors.retry("TASK_PUT", lambda: self.task.put(list(records)))  # (a fresh list:
            # a task may sort or empty it, and a retry and the isolation below need it whole)
            return
        except (ResumeError, TransientError, RetryStopped):
            # the task restarts from its target's offsets: nothing to isolate; a target down
            # past errors.retry.timeout is no record's fault (isolating, every record of the
            # batch went to the dead letter queue, its offsets committed), nor is a stop
            # heard while retrying
            raise
        except Exception as exc:
            if not self._isolates(exc):
                raise
            if len(records) == 1:
                self.errors.failed("TASK_PUT", exc, raws[0], type(self.task))
                return
        # errors.tolerance=all: isolate the poison, one record at a time; failures to the DLQ
        for raw, rec in zip(raws, records, strict=True):
            try:
                self.errors.retry("TASK_PUT", lambda rec=rec: self.task.put([rec]))  # type: ignore[misc]
            except (ResumeError, TransientError, RetryStopped):
                raise
            except Exception as exc:
                if not self._isolates(exc):
                    raise
                self.errors.failed("TASK_PUT", exc, raw, type(self.task))

    def _gather(self) -> list[Record]:
        """The next batch. Idle, it waits (up to 0.2 s, woken as soon as records are durable)
        for the first records; then it takes what else is durable right now and hands the
        batch over: low load gives small batches at once, and under load the records that
        arrived while the target applied the previous batch make the next one big. With
        ``batch.linger.ms`` it keeps gathering that long for more (within
        ``batch.max.wait.ms``); ``batch.size`` caps it, and ``batch.max.bytes`` (its records'
        values, as Kafka's fetch.max.bytes caps a poll: 2 000 rows of 500 KB had made one
        batch of 1 GB, 8 GB in a DuckDB sink)."""
        out: list[Record] = []
        deadline = 0.0
        size, cap = 0, self.batch_max_bytes
        self._moved = set()
        while len(out) < self.batch_size and size < cap and not self._stopping:
            if not out:
                got = self.consumer.poll(0.2, self.batch_size, cap)
                if not got:
                    return out  # nothing: the caller commits when due, then asks again
                deadline = time.monotonic() + self.linger
            else:
                # a long linger (a warehouse sink's minute) waits in steps: a stop is heard
                remaining = deadline - time.monotonic()
                got = self.consumer.poll(
                    min(max(remaining, 0.0), 0.5), self.batch_size - len(out), cap - size
                )
                if not got and not self._moved:
                    if time.monotonic() >= deadline:
                        break  # drained what is durable (and lingered, if asked to)
                    continue
            if self._moved:  # partitions changed owner in that poll: what was gathered of
                # them before is read again (from the commit, or the target's offsets)
                moved, self._moved = self._moved, set()
                out = [r for r in out if TopicPartition(r[0], r[1]) not in moved]
                held = self.consumer.assignment()
                got = [r for r in got if TopicPartition(r[0], r[1]) in held]
                size = codec.value_bytes(out)
            out.extend(got)
            size += codec.value_bytes(got)
        return out

    def _flush_and_commit(self) -> None:
        done = self._done
        positions = {tp: done[tp] for tp in self.consumer.assignment() if tp in done}
        if self._dirty:
            self.errors.retry("TASK_FLUSH", lambda: self.task.flush(positions))
            self._dirty = False
        committed = self._committed
        if positions and all(committed.get(tp) == off for tp, off in positions.items()):
            self.state.committed()  # (nothing new since the last commit)
        elif positions and not self.lost:  # (left behind inside the flush: commits nothing)
            try:
                # (marked when the target stored them first: a group offset so marked with
                # none in the target means the target lost them, `_none_stored`)
                meta = STORED_FIRST if self.task.skips_below_stored else ""
                self.consumer.commit(positions, meta)
            except RebalanceInProgressError as exc:
                # the group moved on (this member was expelled, its next poll hears of it):
                # the partitions' owner resumes from the last commit, or from the target's
                # own offsets the flush above stored
                log.warning("%s task %d: offsets not committed, the group rebalanced: %s",
                            self.connector, self.ctx.task_id, exc)  # fmt: skip
            except CommitNotMadeError as exc:  # (a cluster not reached: the next one tries)
                log.warning("%s task %d: %s; the next commit carries them", self.connector,
                            self.ctx.task_id, exc)  # fmt: skip
            else:
                committed.update(positions)
                self.state.committed()
        self.state.lag = sum(self.consumer.lag().values())

    def abandon(self) -> None:
        """Left behind inside a call that does not return (another thread: the worker's
        stop): the group takes back its partitions now, not once its poll interval passed
        (a restarted task would wait that long for them). It writes and commits nothing
        more (``lost``)."""
        self.lost = True
        leave = getattr(self.consumer, "leave_group_now", None)
        if leave is not None:
            leave()

    def stop(self) -> None:
        self._stopping = True
        self.errors.stopping.set()
