"""``Log``: a data directory of topics, the entry point of the log library.

One process opens a directory for writing (``DirectoryLock``); any number may open it with
``read_only=True`` and see what the writer made durable. The writer runs one background
thread that applies the flush policy (``flush_interval_ms`` unless a topic sets ``flush.ms``)
and, every ``maintenance_interval_ms``, retention and compaction. With
``maintenance_interval_ms=None`` the thread only flushes and the owner schedules
``run_maintenance`` itself (the connect worker does: hub.runtime.scheduler).

The flusher sleeps until something is to be done: an append wakes it, and with the default
policy (0 ms) it writes and fsyncs at once, or ``GROUP_COMMIT_S`` (5 ms) after its previous
flush ended if that was sooner. Records appended meanwhile go together in the next fsync, so
under load each one covers everything that arrived during the previous one (group commit),
and an idle log costs no wake-ups. With a positive interval it wakes that
long after a partition's last flush instead; ``None`` leaves flushing to the callers (and to
topics that set ``flush.ms``).

Shutdown: ``close`` flushes everything and leaves a ``.clean_shutdown`` marker; without it the
next open rescans every active segment in full (CRC of every batch) instead of just its tail.

Thread safety: all methods may be called from any thread.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

from hub.log import _malloc, cleaner, files
from hub.log.config import TopicConfig
from hub.log.errors import (
    InvalidTopicError,
    LogError,
    LogStorageError,
    MissingLogDirError,
    ReadOnlyLogError,
    TopicDirectoryExistsError,
    TopicExistsError,
    UnknownTopicError,
)
from hub.log.failures import storage_error
from hub.log.lock import DirectoryLock
from hub.log.partition import Partition, PartitionClosedError
from hub.log.record import Record, TopicInfo, TopicPartition
from hub.log.topic import Topic, TopicMeta

if TYPE_CHECKING:
    from hub.log.consumer import Consumer
    from hub.log.producer import Producer

log = logging.getLogger(__name__)

CLEAN_SHUTDOWN = ".clean_shutdown"
_RETRY_S = 0.1  # the flusher's next round after an unexpected error
# the least time between the end of a flush round and the start of the next: appends that
# arrive meanwhile share its fsync. At 1 000 single-row appends a second the flusher's fsync
# per append cost ~0.12 of a core here; this caps it at 200 rounds a second
GROUP_COMMIT_S = 0.005
OFFSETS_TOPIC = "__consumer_offsets"
INTERNAL_TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": str(16 << 20)}


def _half_created(directory: str) -> bool:
    """Whether ``directory`` is what a topic create that crashed half-way leaves: an empty
    directory, or one holding only the temporary ``topic.json.tmp``."""
    if os.path.islink(directory) or not os.path.isdir(directory):
        return False
    return set(os.listdir(directory)) <= {files.TOPIC_META + ".tmp"}


class Log:
    def __init__(
        self,
        path: str,
        *,
        read_only: bool = False,
        flush_interval_ms: int | None = 0,
        maintenance_interval_ms: int | None = 300_000,
        background: bool = True,
    ) -> None:
        if not read_only:
            _malloc.tune()  # a writer's 1 MB records sections reuse warm memory
        self.path = os.path.abspath(path)
        self.read_only = read_only
        self.flush_interval_ms = flush_interval_ms
        self.maintenance_interval_ms = maintenance_interval_ms
        self._lock = threading.RLock()
        self._maintenance = threading.Lock()  # one retention/compaction pass at a time
        self._topics: dict[str, Topic] = {}
        self._trashed: set[str] = set()  # topics whose delete was cut short (their trash)
        self.data_ready = threading.Condition()
        self._wake = threading.Event()  # the flusher's: records appended, or stop
        self._durable_seq = 0
        self._closed = False
        self._dir_lock: DirectoryLock | None = None
        if read_only:
            if not os.path.isdir(self.path):
                raise MissingLogDirError(self.path)
            clean = True
        else:
            files.make_dirs(self.path)
            if os.stat(self.path).st_mode & 0o077:  # records may hold secrets: owner only
                os.chmod(self.path, files.DIR_MODE)
            self._dir_lock = DirectoryLock(self.path)
            self._dir_lock.acquire()
            marker = os.path.join(self.path, CLEAN_SHUTDOWN)
            clean = os.path.isfile(marker)
            if clean:
                os.unlink(marker)
                files.fsync_dir(self.path)
        try:
            self._load(clean)
            from hub.log.group import GroupCoordinator

            if not read_only and OFFSETS_TOPIC not in self._topics:
                self.create_topic(OFFSETS_TOPIC, 1, INTERNAL_TOPIC_CONFIG)
            self.groups = GroupCoordinator(self)
            if not read_only:
                self._forget_deleted_topics()
        except BaseException:
            self._release()
            raise
        self._stop = threading.Event()
        self.flusher_rounds = 0  # times the flusher woke and looked (tests: idle means none)
        self._thread: threading.Thread | None = None
        if background and not read_only:
            self._thread = threading.Thread(target=self._run, name="hub-log", daemon=True)
            self._thread.start()

    # -- topics ----------------------------------------------------------------------------
    def _load(self, clean: bool) -> None:
        for name in sorted(os.listdir(self.path)):
            directory = os.path.join(self.path, name)
            if name.startswith(files.TRASH_PREFIX):
                if not self.read_only:
                    shutil.rmtree(directory, ignore_errors=True)  # an interrupted delete
                    self._trashed.add(name[len(files.TRASH_PREFIX) :].rsplit(".", 1)[0])
                continue
            if name.startswith(".") or not os.path.isdir(directory):
                continue
            meta = Topic.read_meta(directory)
            if meta is None:
                continue
            cfg = TopicConfig.parse(
                meta.config, where=f"config in {os.path.join(directory, files.TOPIC_META)}"
            )
            topic_id = meta.id
            if topic_id is None and not self.read_only:  # made before topics had ids
                try:
                    Topic.write_new_meta(directory, replace(meta, id=(new := Topic.new_id())))
                    topic_id = new
                except OSError as exc:  # (a full disk: the topic opens all the same)
                    log.warning("topic %s: cannot give it an id (%s)", meta.name, exc)
            try:
                self._topics[meta.name] = Topic(
                    directory,
                    meta.name,
                    meta.partitions,
                    cfg,
                    topic_id=topic_id,
                    continues=meta.continues,
                    read_only=self.read_only,
                    clean_shutdown=clean,
                    on_durable=self._notify,
                    on_append=None if self.read_only else self._wake.set,
                )
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE):
                    raise
                for opened in self._topics.values():  # (their files: the count needs some)
                    with contextlib.suppress(Exception):
                        opened.close()
                segments = sum(f.endswith(files.LOG_SUFFIX) for _, _, fs in os.walk(self.path)
                               for f in fs)  # fmt: skip
                raise LogError(
                    f"cannot open the log in {self.path}: {exc.strerror}; it keeps a file "
                    f"open per segment and one per partition, and has {segments} segments: "
                    f"raise the limit of open files (ulimit -n, now {_open_files_limit()}; "
                    "LimitNOFILE= in a systemd unit), or use fewer segments (a larger "
                    "segment.bytes, a shorter retention)"
                ) from None

    def _notify(self) -> None:
        with self.data_ready:
            self._durable_seq += 1
            self.data_ready.notify_all()

    @property
    def durable_seq(self) -> int:
        return self._durable_seq

    def wait_for_data(self, seq: int, timeout: float) -> None:
        """Block until some partition's high watermark moves past ``seq`` or ``timeout``."""
        with self.data_ready:
            if self._durable_seq == seq:
                self.data_ready.wait(timeout)

    def _writable(self, operation: str) -> None:
        if self.read_only:
            raise ReadOnlyLogError(self.path, operation)

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, Any] | None = None,
        replication_factor: int | None = None,  # (one copy on one machine: ignored)
    ) -> TopicInfo:
        self._writable(f"create topic {name!r}")
        problem = files.topic_name_problem(name)
        if problem:
            raise InvalidTopicError(name, problem)
        if not 1 <= partitions <= files.MAX_PARTITIONS:
            raise InvalidTopicError(name, (
                f"partitions must be from 1 to {files.MAX_PARTITIONS}, not {partitions} (each "
                "one keeps files open)"))  # fmt: skip
        cfg = TopicConfig.parse(dict(config or {}), where=f"config of topic {name!r}")
        with self._lock:
            if name in self._topics:
                raise TopicExistsError(name)
            directory = os.path.join(self.path, name)
            if os.path.lexists(directory):  # no topic.json (else the topic would be known)
                if not _half_created(directory):
                    raise TopicDirectoryExistsError(name, directory)
                shutil.rmtree(directory)  # a create that crashed before its topic.json
            topic_id = Topic.new_id()
            props = cfg.to_properties(include_defaults=False)
            try:
                Topic.write_new_meta(directory, TopicMeta(name, topic_id, partitions, props))
                topic = Topic(
                    directory, name, partitions, cfg, topic_id=topic_id,
                    read_only=False, clean_shutdown=True, on_durable=self._notify,
                    on_append=self._wake.set,
                )  # fmt: skip
            except OSError as exc:  # (a full disk: a clear error, nothing half made left)
                shutil.rmtree(directory, ignore_errors=True)
                raise storage_error(
                    exc, self.path, os.path.join(directory, files.TOPIC_META), 0,
                    f" while creating topic {name!r}", outcome="the topic is not created",
                ) from exc  # fmt: skip
            self._topics[name] = topic
            return topic.info()

    def alter_topic(self, name: str, config: Mapping[str, Any]) -> TopicInfo:
        self._writable(f"alter topic {name!r}")
        with self._lock:
            topic = self.topic(name)
            cfg = topic.config.with_overrides(config, where=f"config of topic {name!r}")
            was = topic.config, topic.id
            topic.config, topic.id = cfg, topic.id or Topic.new_id()
            try:
                topic.write_meta()
            except BaseException as exc:
                topic.config, topic.id = was
                if isinstance(exc, OSError):
                    raise storage_error(
                        exc, self.path, os.path.join(topic.directory, files.TOPIC_META), 0,
                        f" while altering topic {name!r}", outcome="its config is unchanged",
                    ) from exc  # fmt: skip
                raise
            for p in topic.partitions:
                p.config = cfg
            self._wake.set()  # a flush.ms the flusher sleeps on may have changed
            return topic.info()

    def delete_topic(self, name: str, internal: bool = False) -> None:
        """``internal``: an internal topic (``__*``) too (a stopped copy's, deleted to redo
        it: hub.runtime.copymark)."""
        self._writable(f"delete topic {name!r}")
        if self.topic(name).internal and not internal:
            raise InvalidTopicError(name, "internal topics cannot be deleted")
        # the offsets go first: a delete cut short after the files leaves none behind for a
        # topic made again under the name (and again after: any committed meanwhile). Not
        # under the log's lock: a commit holds the groups' lock, then takes the log's
        self.groups.forget_topic(name)
        with self._maintenance, self._lock:  # never under a running compaction
            topic = self.topic(name)
            if topic.internal and not internal:
                raise InvalidTopicError(name, "internal topics cannot be deleted")
            del self._topics[name]
            topic.close()
            tomb = os.path.join(self.path, f"{files.TRASH_PREFIX}{name}.{uuid.uuid4().hex}")
            os.replace(topic.directory, tomb)
            files.fsync_dir(self.path)
            shutil.rmtree(tomb, ignore_errors=True)
        self.groups.forget_topic(name)

    def _forget_deleted_topics(self) -> None:
        """Drop the committed offsets of topics whose delete was cut short (their files were
        in the trash) and that were not made again: offsets committed while the delete ran
        would have had a topic made again under the name skip its first records."""
        gone = sorted(
            (self.groups.topics_with_offsets() & self._trashed) - set(self._topics)
        )  # fmt: skip
        for name in gone:
            log.warning(
                "committed offsets of deleted topic %r dropped (its deletion was cut short)", name
            )
            self.groups.forget_topic(name)

    def topic(self, name: str) -> Topic:
        with self._lock:
            topic = self._topics.get(name)
            if self.read_only and (topic is None or not self._current(topic)):
                self._refresh_topics()
                topic = self._topics.get(name)
        if topic is None:
            raise UnknownTopicError(name)
        return topic

    @staticmethod
    def _current(topic: Topic) -> bool:
        """Read-only: ``topic`` is still the one its directory holds (not deleted, or deleted
        and made again: a reader had gone on serving the deleted topic's records). The file
        is read again only when its stat changed (a read-only reader asks at every fetch)."""
        try:
            st = os.stat(os.path.join(topic.directory, files.TOPIC_META))
        except FileNotFoundError:
            return False
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        now = time.monotonic()
        if topic.meta_seen == seen and now - topic.meta_read < 1.0:  # (and once a second:
            return True  # a file made again may get the same inode, time and size)
        topic.meta_read = now
        try:
            meta = Topic.read_meta(topic.directory)
        except LogError:
            return True  # (being written: as it was)
        current = meta is not None and meta.id == topic.id  # (one made before ids: given one)
        if current:
            topic.meta_seen = seen
        return current

    def _refresh_topics(self) -> None:
        """Read-only: pick up topics created and forget topics deleted by the writer."""
        for name, topic in list(self._topics.items()):
            if not self._current(topic):
                topic.close()
                del self._topics[name]
        for name in os.listdir(self.path):
            directory = os.path.join(self.path, name)
            if name.startswith(".") or not os.path.isdir(directory):
                continue
            meta = Topic.read_meta(directory)
            if meta and meta.name not in self._topics:
                self._topics[meta.name] = Topic(
                    directory, meta.name, meta.partitions, TopicConfig.parse(meta.config),
                    topic_id=meta.id, continues=meta.continues,
                    read_only=True, clean_shutdown=True, on_durable=None,
                )  # fmt: skip

    def has_topic(self, name: str) -> bool:
        with self._lock:
            return name in self._topics

    def topics(self, include_internal: bool = False) -> list[str]:
        with self._lock:
            if self.read_only:
                self._refresh_topics()
            return sorted(n for n in self._topics if include_internal or not n.startswith("__"))

    def describe(self, name: str) -> TopicInfo:
        topic = self.topic(name)
        if self.read_only:
            for p in topic.partitions:
                p.refresh()
        return topic.info()

    def topic_ids(self, name: str) -> tuple[str, ...]:
        return self.topic(name).ids()

    def continue_topic(self, name: str, ids: Sequence[str]) -> None:
        self._writable(f"alter topic {name!r}")
        with self._lock:
            topic = self.topic(name)
            was = topic.continues
            topic.continues = tuple(i for i in dict.fromkeys(ids) if i and i != topic.id)
            try:
                topic.write_meta()
            except BaseException:
                topic.continues = was
                raise

    def partition(self, topic: str, partition: int) -> Partition:
        return self.topic(topic).partition(partition)

    # -- clients ---------------------------------------------------------------------------
    def producer(self, **config: Any) -> Producer:
        from hub.log.producer import Producer

        return Producer(self, **config)

    # one writer per data directory: a source task's records and offsets need no transaction
    # (its recovery scan finds what a crash left), and no other process can write meanwhile
    transaction_prefix: str | None = None
    transaction_timeout_ms = 0

    def transactional_producer(self, transactional_id: str, **config: Any) -> NoReturn:
        raise LogError("the embedded log has no transactions (transaction_prefix is None)")

    def consumer(self, **config: Any) -> Consumer:
        from hub.log.consumer import Consumer

        if "max_poll_interval_ms" in config:
            # one process's members only go silent when their thread does not poll (a stall
            # of the whole process does not count: `GroupCoordinator`'s clock), so the
            # session timeout plays Kafka's max.poll.interval.ms (300 s unless given): at 10 s
            # a sink batch that took longer was written again and again, never committed
            interval = config.pop("max_poll_interval_ms")
            config["session_timeout_ms"] = interval if interval is not None else 300_000
        return Consumer(self, **config)

    # -- the rest of the backend seam (hub.log.backend.LogBackend) ---------------------------
    def partition_count(self, topic: str) -> int:
        return len(self.topic(topic).partitions)

    def watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        """(log start offset, high watermark: the durable end) of ``tp``."""
        part = self.partition(tp.topic, tp.partition)
        return part.log_start_offset, part.high_watermark

    def scan(self, tp: TopicPartition, start: int = 0, end: int | None = None) -> Iterator[Record]:
        """The durable records of ``tp`` from ``start`` (`Partition.scan`), up to ``end``
        when given."""
        records = self.partition(tp.topic, tp.partition).scan(start)
        if end is None:
            return records
        return itertools.takewhile(lambda r: r.offset < end, records)

    def topic_properties(self, name: str) -> dict[str, str]:
        return self.topic(name).config.to_properties()

    def offset_for_timestamp(self, tp: TopicPartition, timestamp: int) -> int | None:
        return self.partition(tp.topic, tp.partition).offset_for_timestamp(timestamp)

    def append_durable(
        self, tp: TopicPartition, keys: Sequence[bytes | None], values: Sequence[bytes | None]
    ) -> None:
        """Keyed records as one batch, fsynced before returning (`Partition.append_records`)."""
        self.partition(tp.topic, tp.partition).append_records(keys, values)

    # -- durability and maintenance ----------------------------------------------------------
    def flush(self) -> None:
        """Make every appended record durable (fsync) and visible to readers."""
        with self._lock:
            topics = list(self._topics.values())
        for topic in topics:
            for p in topic.partitions:
                p.flush()

    def run_maintenance(
        self, now: int | None = None, force_compaction: bool = False
    ) -> dict[str, int]:
        """Apply retention and compaction to every partition once. Returns counts."""
        stats = {"segments_deleted": 0, "partitions_compacted": 0}
        if self.read_only:
            return stats
        failed: Exception | None = None  # (raised once every partition had its turn)
        with self._maintenance:
            with self._lock:
                topics = list(self._topics.values())
            for topic in topics:
                if topic.closed:
                    continue  # deleted meanwhile
                for p in topic.partitions:
                    # one partition failing (a damaged segment, a full disk) holds up no
                    # other's retention or compaction: each pass had stopped at the same one
                    try:
                        stats["segments_deleted"] += p.apply_retention(now)
                        if topic.config.compact and cleaner.clean(p, now, force=force_compaction):
                            stats["partitions_compacted"] += 1
                    except PartitionClosedError:
                        continue  # (its topic deleted meanwhile)
                    except Exception as exc:  # noqa: BLE001 - raised below, or logged here
                        if failed is not None:
                            log.error("log maintenance of %s-%d failed: %s", p.topic, p.index,
                                      exc)  # fmt: skip
                        failed = failed or exc
        if failed is not None:
            raise failed
        return stats

    def _run(self) -> None:
        interval = self.maintenance_interval_ms
        period = math.inf if interval is None else interval / 1000  # None: the owner runs it
        next_maintenance = time.monotonic() + period
        last_report = -math.inf
        wait: float | None = 0.0
        last_flush = -math.inf  # when the last round that flushed something ended
        while True:
            self._wake.wait(wait)
            if self._stop.is_set():
                return
            gap = last_flush + GROUP_COMMIT_S - time.monotonic()
            if gap > 0 and self._stop.wait(gap):
                return
            # cleared before looking: an append from here on wakes the next round
            self._wake.clear()
            if self._stop.is_set():  # close() set both after the look above: its wake-up
                return  # was just cleared, and the next wait could be for ever
            self.flusher_rounds += 1
            try:
                due, flushed = self._flush_due()
                now = time.monotonic()
                if flushed:
                    last_flush = now
                if now >= next_maintenance:
                    self.run_maintenance()
                    now = time.monotonic()
                    next_maintenance = now + period
                due = min(due, next_maintenance)
                wait = None if due == math.inf else max(due - now, 0.0)
            except Exception as exc:  # keep the flusher alive; the next round retries
                wait = _RETRY_S
                now = time.monotonic()
                if now - last_report >= 60:  # not a traceback every round
                    if isinstance(exc, LogStorageError):  # (it names the file and the cause)
                        log.error("log maintenance failed: %s", exc)
                    else:
                        log.exception("log maintenance failed")
                    last_report = now
                else:
                    log.debug("log maintenance failed again: %s", exc)

    def _flush_due(self) -> tuple[float, bool]:
        """Flush every partition whose policy asks for it now; when the next one will
        (``time.monotonic()``, inf: none waits), and whether any was flushed."""
        with self._lock:
            topics = list(self._topics.values())
        default = self.flush_interval_ms
        nxt = math.inf
        flushed = False
        for topic in topics:
            for p in topic.partitions:
                due = p.flusher_deadline(default)
                if due is None:
                    continue
                if due > time.monotonic():
                    nxt = min(nxt, due)
                    continue
                flushed = True
                with contextlib.suppress(LogStorageError):  # rolled back and reported by
                    p.flush()  # the partition
        return nxt, flushed

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
        self.groups.close()
        with self._maintenance, self._lock:
            # (a partition whose failed write could not be cut back: its tail is checked at
            # the next open, as after a crash)
            broken = any(p.broken for t in self._topics.values() for p in t.partitions)
            failed: OSError | None = None
            try:
                for topic in self._topics.values():  # (every one, past one that fails)
                    try:
                        topic.close()
                    except OSError as exc:
                        failed = failed or exc
                if not self.read_only and not broken and failed is None:
                    marker = os.path.join(self.path, CLEAN_SHUTDOWN)
                    with open(marker, "w", opener=files.private_opener):
                        pass
                    files.fsync_dir(self.path)
            except OSError as exc:  # (the marker: without it the next open checks the tails)
                failed = failed or exc
            finally:
                self._release()  # (the lock, whatever failed: a new Log may open it)
        self._notify()
        if failed is not None:
            raise storage_error(failed, self.path, self.path, 0, " while closing", outcome=(
                "what was durable stays; the next open checks the segments' tails, as after a "
                "crash")) from failed  # fmt: skip

    def _release(self) -> None:
        if self._dir_lock is not None:
            self._dir_lock.release()
            self._dir_lock = None

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_files_limit() -> str:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
