"""A partition: an ordered list of segments, the last one active.

Offsets: ``log_start_offset`` (first segment's base) <= ``high_watermark`` (everything before it
is fsynced, the only part readers see unless they ask otherwise) <= ``log_end_offset`` (next
offset to assign). Appends go to the active segment's memory buffer; ``flush`` writes and
fsyncs them and advances the high watermark.

On open (writer), transient files of an interrupted retention or compaction are resolved,
stray segment files are set aside (hub.log.strays), then the active segment's tail is
validated by CRC and a torn or corrupt end truncated, and the cut reported (hub.log.recovery).
A new partition directory and its first segment file are made durable (directory fsync) at
once.

A failed write (disk full, I/O error) rolls the partition back to its high watermark: the
active segment's file and indexes are cut to the durable size and every record not durable yet
is dropped, so nothing half-written stays pending to be written twice; ``epoch`` moves, which
tells the producers that had appended here (hub.log.producer), and LogStorageError is raised.

A read-only partition never changes a file; it stops at the first invalid batch (one that is
complete but damaged is kept as ``corruption`` and raised to a reader that gets there) and, on
``refresh``, makes its segment list match the directory: segments deleted by retention are
closed and dropped (``log_start_offset`` moves), segments a compaction swapped are reopened,
the previous last segment is scanned to its end before new segments are added. Files vanishing
while a reader opens them (retention, compaction) make it list the directory again.

Offsets are contiguous except where compaction removed records, so ``read`` never skips
offsets silently: a gap anywhere else raises CorruptRecordError.

Thread safety: every public method takes ``self.lock``; waiting readers are woken through the
shared ``data_ready`` condition when the high watermark moves (``on_durable``), and the log's
flusher through ``on_append`` when records are appended. After ``close`` (log closed or
topic deleted) every operation raises PartitionClosedError.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from hub.log import batch as _batch
from hub.log import codec, files, recovery, strays
from hub.log.batch import BatchHeader, InvalidBatchError
from hub.log.config import TopicConfig
from hub.log.errors import (
    CorruptRecordError,
    FatalError,
    KeylessRecordError,
    LogError,
    LogStorageError,
    OffsetOutOfRangeError,
    ReadOnlyLogError,
    RecordTooLargeError,
)
from hub.log.failures import ReportLimiter, storage_error
from hub.log.mark import Mark, MarkReader, MarkWriter
from hub.log.record import AppendInfo, PartitionInfo, Record
from hub.log.recovery import Truncation
from hub.log.segment import InvalidBatchAt, LogSegment

log = logging.getLogger(__name__)
_OPEN_ATTEMPTS = 100  # read-only: times to list the directory again while segments vanish
_SWAP_WAIT_S = 10.0  # read-only: how long to wait for a compaction's swap to end
_REMAP_BYTES = 1 << 20  # read-only: map the active segment's indexes again after this growth


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class PartitionClosedError(LogError, FatalError):
    """A partition was used after its log was closed or its topic deleted."""

    def __init__(self, topic: str, partition: int, directory: str) -> None:
        self.topic = topic
        self.partition = partition
        self.directory = directory
        super().__init__(
            f"partition closed: log closed or topic deleted ({topic}-{partition}, {directory}); "
            "open the log again (or recreate the topic) and get a new partition from it"
        )


def _corrupt(exc: InvalidBatchError, seg: LogSegment, position: int) -> CorruptRecordError:
    """CorruptRecordError naming the segment file and the bad batch's byte position."""
    if isinstance(exc, InvalidBatchAt):
        return CorruptRecordError(exc.path, exc.position, exc.reason)
    return CorruptRecordError(seg.path, position, exc.reason)


class Partition:
    def __init__(
        self,
        directory: str,
        topic: str,
        index: int,
        config: TopicConfig,
        *,
        read_only: bool = False,
        clean_shutdown: bool = True,
        on_durable: Callable[[], None] | None = None,
        on_append: Callable[[], None] | None = None,
    ) -> None:
        self.directory = directory
        self.topic = topic
        self.index = index
        self.config = config
        self.read_only = read_only
        self.lock = threading.RLock()
        self._flushing = False  # a flush is writing outside the lock
        self._flush_done = threading.Condition(self.lock)
        self._on_durable = on_durable
        self._on_append = on_append
        self._flusher_called = False  # on_append sent, and the flusher has not looked since
        self.segments: list[LogSegment] = []
        self._bases: list[int] = []
        self._unflushed_records = 0
        self._last_flush = time.monotonic()
        self.truncated_bytes = 0
        self._closed = False
        self.corruption: CorruptRecordError | None = None  # read-only: damage at the end
        self.epoch = 0  # counts rollbacks that dropped appended records (see _roll_back)
        self.write_error: LogStorageError | None = None  # the last one
        # a rollback that could not cut the file: appends and flushes raise it until reopened
        self.broken: LogStorageError | None = None
        self._reports = ReportLimiter()
        self._gaps_told: set[tuple[int, int]] = set()  # recovery cuts read past (warned)
        self._mark: MarkWriter | None = None  # the durable end published (hub.log.mark)
        self._marks: MarkReader | None = None  # read-only: the writer's
        if not read_only:
            if not os.path.isdir(directory):
                files.make_dirs(directory)
                files.fsync_dir(os.path.dirname(directory))
            from hub.log.cleaner import resolve_interrupted

            resolve_interrupted(directory)
        else:
            self._marks = MarkReader(directory)
        self._load(clean_shutdown)
        if not read_only:
            self._mark = MarkWriter(directory)
            self._publish()

    # -- loading ---------------------------------------------------------------------------
    def _segment_bases(self) -> list[int]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return self._bases_in(names)

    def _bases_in(self, names: list[str]) -> list[int]:
        bases = []
        for name in names:
            if not name.endswith(files.LOG_SUFFIX):
                continue  # cheap filter first: readers list the directory on every refresh
            parsed = files.parse_segment_file(name)
            if parsed and parsed[1] == files.LOG_SUFFIX and parsed[2] == "":
                bases.append(parsed[0])
        return sorted(bases)

    def _load(self, clean_shutdown: bool) -> None:
        self.log_end_offset = self.high_watermark = 0
        if self.read_only:
            self._refresh()
            return
        from hub.log.cleaner import CHECKPOINT

        compacted = self.config.compact or os.path.exists(os.path.join(self.directory, CHECKPOINT))
        interval = self.config.index_interval_bytes
        bases, aside = strays.set_aside(self.directory, self._segment_bases(), compacted, interval)
        created = not bases
        if created:
            bases = [aside]  # (0 for a new partition; never below offsets handed out)
        for i, base in enumerate(bases):
            last = i == len(bases) - 1
            seg = LogSegment(self.directory, base, index_interval=interval, active=last)
            if not last:
                seg.next_offset = bases[i + 1]
            self.segments.append(seg)
        self._bases = list(bases)
        if created:
            files.fsync_dir(self.directory)  # the new .log's name must survive a power loss
        active = self.segments[-1]
        cut = active.recover(full=not clean_shutdown, before_cut=self._before_cut)
        if cut is not None:
            self.truncated_bytes = cut.bytes_cut
            reach = _reach_past(cut)
            if reach is not None:
                self._go_on_after(reach)
        self._dated(self.segments[-1])
        self.log_end_offset = self.high_watermark = self.segments[-1].next_offset

    @staticmethod
    def _dated(seg: LogSegment) -> None:
        """segment.ms counts from the segment's first record (its batch's timestamp), as in
        Kafka, not from this process's start: a worker restarted more often than segment.ms
        never rolled a slow topic by time, and a compacted one was never cleaned."""
        try:
            first = next(seg.iter_batches(0, seg.size), None)
        except InvalidBatchAt:
            return
        if first is not None and 0 <= first[1].max_timestamp < seg.created_at * 1000:
            seg.created_at = first[1].max_timestamp / 1000

    def _before_cut(self, cut: Truncation) -> None:
        """Before the active segment is cut: the cut noted, and where intact batches past
        the damage go with it, the empty segment new records start in made (its index files
        first, as a roll makes them: hub.log.strays keeps it). Made after the cut, a crash
        in between had left no trace of those batches' offsets: the next open handed them
        out again."""
        recovery.report(self.directory, cut)
        reach = _reach_past(cut)
        if reach is not None:
            _make_segment_files(self.directory, reach)

    def _go_on_after(self, reach: int) -> None:
        """After a cut of damage with intact batches past it: new records start at ``reach``,
        past every offset the segment held. The offsets cut were handed out: a group that
        committed past them, given them again, would skip the new records that got them."""
        old = self.segments[-1]
        if old.size == 0:  # (nothing left of it: a segment at ``reach`` takes its place)
            old.delete()
            self.segments.pop()
            self._bases.pop()
        else:
            old.seal()
            old.next_offset = reach
        _make_segment_files(self.directory, reach)
        seg = LogSegment(self.directory, reach, index_interval=self.config.index_interval_bytes,
                         active=True)  # fmt: skip
        self.segments.append(seg)
        self._bases.append(reach)
        files.fsync_dir(self.directory)
        log.warning("%s: new records start at offset %d, after the offsets cut", self.directory,
                    reach)  # fmt: skip

    def _scan_tail(self, seg: LogSegment, mark: Mark | None = None) -> None:
        """Read-only: find the end of the valid batches without changing the file, and no
        further than the writer's durable ``mark`` (hub.log.mark). The first scan starts at the
        last index entry that points at an intact batch: the writer may have written index
        entries of batches that are not in the file yet."""
        size = seg.file_size()
        if mark is not None and seg.base_offset >= mark[0]:
            size = min(size, mark[1] if seg.base_offset == mark[0] else 0)
        if size < seg.size:  # cut since the last scan (damage at the writer's start): again
            seg.next_offset = seg.base_offset
        if seg.next_offset == seg.base_offset:
            keep = seg.intact_index_entries(size)
            seg.next_offset, pos = seg.index.at(keep - 1) if keep else (seg.base_offset, 0)
        else:
            pos = seg.size
        seg.size = seg.written_size = seg.durable_size = pos
        self.corruption = None
        try:
            for p, header in seg.iter_batches(pos, size, check_crc=True):
                seg.next_offset = header.next_offset
                seg.size = seg.written_size = seg.durable_size = p + header.size
        except InvalidBatchAt as exc:
            if "torn" not in exc.reason:  # not a batch being written: damage, which readers
                self.corruption = _corrupt(exc, seg, exc.position)  # must hear about

    def refresh(self) -> None:
        """Read-only: pick up batches and segments the writer made durable since, drop the
        segments it deleted and reopen the ones it compacted. A no-op for the writer."""
        with self.lock:
            self._check_open()
            if self.read_only:
                self._refresh()

    def _refresh(self) -> None:
        old_last = self.segments[-1] if self.segments else None
        mark = self._marks.read() if self._marks is not None else None  # (before the files)
        self._sync_segments()
        for seg, nxt in zip(self.segments, self.segments[1:], strict=False):
            if seg is old_last:  # sealed by a roll since the last scan: scan it to its end
                seg.reload_indexes()  # the final (sealed) indexes and max timestamp
                self._scan_tail(seg)  # (all durable: a roll fsyncs before the next is made)
            seg.next_offset = nxt.base_offset
        if self.segments:
            last = self.segments[-1]
            self._scan_tail(last, mark)
            if last.size - last.mapped_size >= _REMAP_BYTES:
                last.reload_indexes()  # the writer indexed what it appended since
            self.log_end_offset = self.high_watermark = last.next_offset

    def _sync_segments(self) -> None:
        """Read-only: make ``segments`` match the ``.log`` files in the directory."""
        mine = {s.base_offset: s for s in self.segments}
        opened: list[LogSegment] = []
        for attempt in range(_OPEN_ATTEMPTS):
            bases = self._settled_bases()
            try:
                segments = [self._current_segment(mine, base, opened) for base in bases]
                break
            except FileNotFoundError:  # deleted or swapped since the listing: list again
                if attempt == _OPEN_ATTEMPTS - 1:
                    for seg in opened:
                        seg.close()
                    raise
        kept = {id(s) for s in segments}
        for seg in self.segments + opened:
            if id(seg) not in kept:
                seg.close()
        self.segments = segments
        self._bases = bases

    def _settled_bases(self) -> list[int]:
        """Read-only: the segments' bases, listed while no compaction swap is under way. The
        cleaner moves the old segments of a group aside before it renames the new one in
        (cleaner._finish_swap, while ``cleaning.json`` exists): a listing in between lacks
        segments, and a reader trusting it would skip their records as if compacted away.
        A listing the directory changed under (its mtime moved) is taken again."""
        deadline = time.monotonic() + _SWAP_WAIT_S
        while True:
            try:
                before = os.stat(self.directory).st_mtime_ns
                names = os.listdir(self.directory)
                after = os.stat(self.directory).st_mtime_ns
            except FileNotFoundError:
                return []
            if files.CLEANING_MANIFEST not in names and before == after:
                return self._bases_in(names)
            abandoned = before == after and self._swap_abandoned()
            if abandoned and (old := self._before_the_swap(names)) is not None:
                return old
            if abandoned or time.monotonic() > deadline:
                if files.CLEANING_MANIFEST not in names:
                    return self._bases_in(names)  # (a directory that never settles)
                raise LogError(
                    f"{self.directory}: a compaction's swap of segments is under way "
                    f"({files.CLEANING_MANIFEST}): the worker was stopped in the middle of "
                    "it, or it failed (see the worker's log); start the worker again (hub "
                    "run) to finish the swap, then read again"
                )
            time.sleep(0.002 if before != after else 0.01)

    def _swap_abandoned(self) -> bool:
        """Whether no process writes the log (the one that began a swap was killed): nothing
        finishes the swap before a writer opens the log, and waiting for it is no use."""
        from hub.log.lock import held

        return not held(os.path.dirname(os.path.dirname(self.directory)))

    def _before_the_swap(self, names: list[str]) -> list[int] | None:
        """The bases of an abandoned swap's segments as they were before it, when every
        segment it replaces is still whole in its place (it was stopped before it moved one
        aside: its new segment is only in the swap files); None when it went further."""
        try:
            with open(os.path.join(self.directory, files.CLEANING_MANIFEST)) as f:
                replaces = [int(b) for b in json.load(f)["replaces"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        present = set(names)
        for base in replaces:
            for suffix in (files.LOG_SUFFIX, files.INDEX_SUFFIX):
                name = os.path.basename(files.segment_path(self.directory, base, suffix))
                if name not in present or name + files.DELETED_SUFFIX in present:
                    return None
        return self._bases_in(names)

    def _current_segment(
        self, mine: dict[int, LogSegment], base: int, opened: list[LogSegment]
    ) -> LogSegment:
        seg = mine.get(base)
        if seg is not None and not seg.replaced():
            return seg
        seg = LogSegment(self.directory, base, index_interval=1 << 30, active=False, reader=True)
        opened.append(seg)
        mine[base] = seg
        return seg

    # -- offsets ---------------------------------------------------------------------------
    @property
    def log_start_offset(self) -> int:
        with self.lock:
            return self.segments[0].base_offset if self.segments else 0

    @property
    def active(self) -> LogSegment:
        if not self.segments:
            self._check_open()
        return self.segments[-1]

    def _check_open(self) -> None:
        if self._closed:
            raise PartitionClosedError(self.topic, self.index, self.directory)

    def size_bytes(self) -> int:
        with self.lock:
            return sum(s.size for s in self.segments)

    def info(self) -> PartitionInfo:
        with self.lock:
            return PartitionInfo(
                partition=self.index,
                start_offset=self.log_start_offset,
                end_offset=self.log_end_offset,
                durable_offset=self.high_watermark,
                size_bytes=self.size_bytes(),
                segments=len(self.segments),
                recovery=recovery.note_lines(self.directory),
            )

    # -- appends ---------------------------------------------------------------------------
    def append_batch(
        self, data: bytearray | tuple[bytearray, bytes], *, now: int | None = None
    ) -> AppendInfo:
        """Append one built batch (``build_batch``, or the (header, records) pair of
        ``build_batch_parts``); assigns its offsets."""
        if self.read_only:
            raise ReadOnlyLogError(self.directory, "append")
        head = data[0] if isinstance(data, tuple) else data
        size = len(data[0]) + len(data[1]) if isinstance(data, tuple) else len(data)
        if size > self.config.max_message_bytes:
            raise RecordTooLargeError(self.topic, size, self.config.max_message_bytes)
        with self.lock:
            self._check_open()
            if self.broken is not None:
                raise self.broken
            self._maybe_roll(size, now if now is not None else now_ms())
            base = self.log_end_offset
            _batch.set_base_offset(head, base)
            header = _batch.parse_header(head, 0, header_only=True)
            self.active.append(data, header)
            self.log_end_offset = header.next_offset
            self._unflushed_records += header.record_count
            fm = self.config.flush_messages
            if fm is not None and self._unflushed_records >= fm:
                self.flush()
            elif not self._flusher_called and self._on_append is not None:
                self._flusher_called = True
                self._on_append()
            return AppendInfo(
                self.topic, self.index, base, header.last_offset, header.max_timestamp
            )

    def _maybe_roll(self, incoming: int, now: int) -> None:
        seg = self.active
        if seg.size == 0:
            return
        too_big = seg.size + incoming > self.config.segment_bytes
        too_old = now - int(seg.created_at * 1000) >= self.config.segment_ms
        if too_big or too_old:
            self.roll()

    def roll(self) -> None:
        """Seal the active segment (fsync) and start a new one at the log end offset."""
        with self.lock:
            if self.read_only:
                raise ReadOnlyLogError(self.directory, "roll a segment")
            self._check_open()
            self.flush()  # everything durable first, rolled back if it fails
            old = self.active
            if old.size == 0:
                return
            seg: LogSegment | None = None
            try:
                # sealed (its indexes written) before the next segment exists: killed in
                # between, the old one was a sealed segment without an index on restart
                old.seal()
                seg = LogSegment(
                    self.directory,
                    self.log_end_offset,
                    index_interval=self.config.index_interval_bytes,
                    active=True,
                )
                seg.make_index_files()
            except OSError as exc:  # e.g. disk full: the data is durable, the old segment
                if seg is not None:  # stays the active one
                    seg.delete()
                elif os.path.exists(path := files.segment_path(
                    self.directory, self.log_end_offset, files.LOG_SUFFIX)
                ):  # fmt: skip
                    with contextlib.suppress(OSError):  # (made, then its indexes failed)
                        os.unlink(path)
                if not old.active:  # (sealed: opened again for appends)
                    old.close()
                    try:
                        old = LogSegment(self.directory, old.base_offset,
                                         index_interval=self.config.index_interval_bytes,
                                         active=True)  # fmt: skip
                        old.recover(full=False)
                    except OSError as again:  # (out of descriptors still): no appends
                        self.broken = self._roll_back(again, 0)  # until the log is opened
                        raise self.broken from exc
                    self.segments[-1] = old
                raise self._roll_back(exc, 0) from exc
            old.next_offset = self.log_end_offset
            self.segments.append(seg)
            self._bases.append(seg.base_offset)
            files.fsync_dir(self.directory)
            self._mark_durable(self.log_end_offset)

    def _wait_for_flush(self) -> None:
        while self._flushing:
            self._flush_done.wait()

    def flush(self, fsync: bool = True) -> None:
        """Write buffered batches; with ``fsync`` make them durable and visible to readers.

        The write and the fsync run outside the partition lock (and outside the GIL), so
        producers keep appending while a flush is on its way to disk. A failed write rolls
        the partition back to its last durable offset and raises LogStorageError."""
        with self.lock:
            if self.read_only or not self.segments:
                return  # closed: close() made everything appended durable
            if self.broken is not None:
                raise self.broken
            self._wait_for_flush()
            if not self.segments:  # closed while waiting (a topic deleted): close() flushed
                return
            seg = self.active
            data, position = seg.take_pending()
            end_offset = self.log_end_offset
            if not data and (not fsync or seg.durable_size == seg.written_size):
                if fsync:
                    self._mark_durable(end_offset)
                return
            self._flushing = True
        try:
            written = seg.write_chunk(data, position)
            if fsync:
                seg.sync()
        except BaseException as exc:
            with self.lock:
                seg._pending[:0] = data  # dropped with everything else not durable
                self._flushing = False
                self._flush_done.notify_all()
                err = self._roll_back(exc, sum(len(d) for d in data))
            if isinstance(exc, Exception):
                raise err from exc
            raise
        with self.lock:
            seg.written_size = written
            if fsync:
                seg.durable_size = written
                self._mark_durable(end_offset)
            self._flushing = False
            self._flush_done.notify_all()
            try:
                seg.flush_indexes(written, end_offset)
            except OSError as exc:  # the batches are durable; the entries are written later
                err = storage_error(exc, self.directory, seg.index.path, 0, outcome=(
                    "the records are durable and nothing was dropped: the segment's index "
                    "entries are written with a later flush"))  # fmt: skip
                self._reports.report(err, None)

    def _roll_back(self, exc: BaseException, needed: int) -> LogStorageError:
        """After a failed write: put the active segment back at its last durable batch and
        drop every record not durable yet (lock held, no flush running). Producers that
        appended here since their last flush find ``epoch`` moved and get the error."""
        seg = self.active
        dropped = self.log_end_offset - self.high_watermark
        self.log_end_offset = self.high_watermark
        self._unflushed_records = 0
        try:
            dropped_bytes = seg.rollback(self.high_watermark)
            err = storage_error(exc, self.directory, seg.path, needed or dropped_bytes)
        except OSError as cut:  # the file's tail is not known now: no write until reopened
            dropped_bytes = 0
            err = self.broken = storage_error(
                cut, self.directory, seg.path, needed, " while cutting the file back after a "
                "failed write: this partition takes no writes until the log is opened again "
                "(restart hub)",
            )  # fmt: skip
        if dropped or self.broken is not None:
            self.epoch += 1
            self.write_error = err
        self._reports.report(err, dropped, dropped_bytes)
        return err

    def _publish(self) -> None:
        """Tell read-only readers where the durable data ends (lock held)."""
        if self._mark is not None and self.segments:
            seg = self.segments[-1]
            self._mark.publish(seg.base_offset, seg.durable_size, self.high_watermark)

    def _mark_durable(self, offset: int) -> None:
        self._last_flush = time.monotonic()
        if offset == self.log_end_offset:
            self._unflushed_records = 0
        if self.high_watermark < offset:
            self.high_watermark = offset
            if self._on_durable is not None:
                self._on_durable()
        self._publish()  # (the same mark again is not written)

    def flush_due(self, default_ms: int | None) -> bool:
        """True when the flush.ms policy asks for a flush now."""
        due = self.flush_deadline(default_ms)
        return due is not None and time.monotonic() >= due

    def flush_deadline(self, default_ms: int | None) -> float | None:
        """When (``time.monotonic()``) the flush.ms policy (``default_ms`` unless the topic
        sets it) asks for a flush of the records not durable yet: at once with 0, else that
        long after the last flush; None when nothing waits or there is no policy."""
        interval = self.config.flush_ms if self.config.flush_ms is not None else default_ms
        if interval is None or self.high_watermark == self.log_end_offset:
            return None
        return self._last_flush + interval / 1000

    def flusher_deadline(self, default_ms: int | None) -> float | None:
        """``flush_deadline``, for the log's flusher, which the next append calls again unless
        it comes back at the returned deadline anyway (a positive interval) or there is no
        policy to apply."""
        self._flusher_called = False  # first: an append from here on calls it
        due = self.flush_deadline(default_ms)
        if due is not None and due > time.monotonic():
            self._flusher_called = True  # it comes back then: appends need not call it
        elif self.config.flush_ms is None and default_ms is None:
            self._flusher_called = True  # no policy: nothing to call it for (alter_topic wakes it)
        return due

    def flush_appended(self) -> None:
        """Make durable every record appended before this call (and whatever else is
        buffered). A flush already running that covers them is waited for instead of
        followed by another fsync: callers that flush together share one (group commit)."""
        with self.lock:
            end = self.log_end_offset
            self._wait_for_flush()
            if self.high_watermark >= end:
                return
        self.flush()

    # -- reads -----------------------------------------------------------------------------
    def _check_offset(self, offset: int) -> None:
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRangeError(
                self.topic, self.index, offset, self.log_start_offset, self.log_end_offset
            )

    def read(self, offset: int, max_bytes: int = 1 << 20, *, durable_only: bool = True) -> bytes:
        """Whole batches starting with the one that holds ``offset``: at least one batch (even
        past ``max_bytes``) when there is data, else b"". Every batch is CRC-checked."""
        return self._read(offset, max_bytes, durable_only)[0]

    def _read(self, offset: int, max_bytes: int, durable_only: bool) -> tuple[bytes, str, int]:
        """``read``, plus the segment file and byte position the data starts at."""
        try:
            return self._read_at(offset, max_bytes, durable_only)
        except CorruptRecordError as exc:  # say which records are out of reach
            where = f"{self.topic}-{self.index} cannot be read from offset {offset}"
            if where in exc.reason:
                raise
            raise CorruptRecordError(exc.path, exc.position, f"{exc.reason}; {where}") from None

    def _read_at(self, offset: int, max_bytes: int, durable_only: bool) -> tuple[bytes, str, int]:
        with self.lock:
            self._check_open()
            self._check_offset(offset)
            if not durable_only and not self.read_only:
                self.flush(fsync=False)
            try:
                found = self._find(offset, max_bytes, durable_only)
            except CorruptRecordError:
                # damage recovery noted as cut, left in a sealed segment (the writer was
                # killed after making the segment new records start in, before the cut): read
                # on past the offsets the note gives, as past those a cut removed
                reach = self._noted_cut_end(offset)
                if reach is None:
                    raise
                found = self._find(reach, max_bytes, durable_only)
            if found is not None and self._skips(offset, found[0]) and self.read_only:
                self._refresh()  # our view of the files may be stale: look again
                self._check_offset(offset)
                found = self._find(offset, max_bytes, durable_only)
            if found is None:
                if self.corruption is not None and offset >= self.high_watermark:
                    raise self.corruption  # never end quietly where the data is damaged
                return b"", "", 0
            data, seg, pos = found
            if self._skips(offset, data):
                first = _batch.peek_length(data, 0)
                assert first is not None
                raise CorruptRecordError(
                    seg.path,
                    pos,
                    f"offsets {offset}..{first[0] - 1} are missing: the next batch starts at "
                    f"{first[0]}, and only compaction may remove offsets",
                )
            return data, seg.path, pos

    def _find(
        self, offset: int, max_bytes: int, durable_only: bool
    ) -> tuple[bytes, LogSegment, int] | None:
        """Whole batches from the first one holding ``offset`` or after it, their segment and
        position; None when there is nothing there (yet)."""
        limit = self.high_watermark if durable_only else self.log_end_offset
        i = max(bisect.bisect_right(self._bases, offset) - 1, 0)
        while offset < limit and i < len(self.segments):
            seg = self.segments[i]
            end = seg.durable_size if durable_only else seg.written_size
            try:
                pos = seg.find_position(offset) if offset < seg.next_offset else None
            except InvalidBatchError as exc:
                raise _corrupt(exc, seg, 0) from exc
            if pos is None or pos >= end:
                i += 1
                continue
            return self._whole_batches(seg, pos, end, max_bytes, limit, offset), seg, pos
        return None

    def _skips(self, offset: int, data: bytes) -> bool:
        """Whether ``data``, read for ``offset``, starts after it where no compaction can
        have removed records, nor a recovery cut damage: the data is damaged or this reader's
        view is stale."""
        first = _batch.peek_length(data, 0)
        return (
            first is not None and first[0] > offset
            and not self._compaction_gap(offset) and not self._cut_gap(offset, first[0])
        )  # fmt: skip

    def _cut_gap(self, offset: int, reach: int) -> bool:
        """Whether the offsets from ``offset`` up to ``reach`` are ones a recovery cut with
        the damage and the log went on after (`_go_on_after`; the cut is in the partition's
        recovery notes and was reported): a reader behind it reads on past it, with a
        warning, as it would read past records retention deleted. It had stopped for good."""
        for first, last in self._noted_cuts():
            if first <= offset and reach <= last + 1:
                if (first, last) not in self._gaps_told:
                    self._gaps_told.add((first, last))
                    log.warning(
                        "%s-%d: offsets %d..%d were cut by recovery with the damage around "
                        "them (see 'hub topics describe'); reading on from offset %d",
                        self.topic, self.index, offset, reach - 1, reach,
                    )  # fmt: skip
                return True
        return False

    def _noted_cut_end(self, offset: int) -> int | None:
        """The offset after a recovery cut noted as holding ``offset``, if one is."""
        return next((last + 1 for first, last in self._noted_cuts() if first <= offset <= last),
                    None)  # fmt: skip

    def _noted_cuts(self) -> Iterator[tuple[int, int]]:
        """The first and last offset of each cut the partition's recovery notes hold."""
        for note in recovery.read_notes(self.directory):
            first, last = note.get("first_offset"), note.get("last_offset")
            if isinstance(first, int) and isinstance(last, int):
                yield first, last

    def _compaction_gap(self, offset: int) -> bool:
        """Whether offsets missing from ``offset`` on may be records compaction removed: the
        topic is (or was, if the cleaner ever ran) compacted, and they lie before the active
        segment, which is never cleaned."""
        if offset >= self.segments[-1].base_offset:
            return False
        if self.config.compact:
            return True
        from hub.log.cleaner import CHECKPOINT

        return os.path.exists(os.path.join(self.directory, CHECKPOINT))

    def _whole_batches(
        self, seg: LogSegment, pos: int, end: int, max_bytes: int, limit: int, offset: int
    ) -> bytes:
        """The whole batches from ``pos`` (which holds ``offset`` or the first after it) up to
        ``max_bytes``, CRC-checked, their base offsets (outside the CRC) checked against each
        other and the log end: one damaged bit there delivered records under offsets they do
        not have, or stalled a reader with no error."""
        data = seg.read_at(pos, min(max(max_bytes, _batch.HEADER_SIZE), end - pos))
        out_end = 0
        prev_next: int | None = None
        while True:
            peek = _batch.peek_length(data, out_end)
            if peek is None:
                break
            if peek[0] >= limit:  # (under the lock: a batch below the durable end is below
                if out_end == 0 and offset < limit:  # the high watermark too)
                    raise CorruptRecordError(
                        seg.path, pos, f"the batch there says it starts at offset {peek[0]}, "
                        f"past the log's end {limit}",
                    )  # fmt: skip
                break
            if prev_next is not None and (
                peek[0] < prev_next or (peek[0] > prev_next and not self._compaction_gap(prev_next))
            ):  # fmt: skip
                break  # serve what is intact; the next read (find_position) reports it
            size = peek[1]
            if out_end + size > len(data):
                if out_end == 0 and pos + size <= end:  # first batch larger than max_bytes
                    data = seg.read_at(pos, size)
                else:
                    break
            try:
                header = _batch.parse_header(data, out_end, check_crc=True)
            except InvalidBatchError as exc:
                if out_end:
                    break  # serve what is intact; the next read reports the bad batch
                raise CorruptRecordError(seg.path, pos + out_end, exc.reason) from exc
            prev_next = header.next_offset
            out_end += size
        return data[:out_end]

    def scan(self, start: int | None = None, chunk_bytes: int = 4 << 20) -> Iterator[Record]:
        """Every durable record from ``start`` (default: the log start) to the high watermark
        as of each read: how internal topics are loaded and windows rescanned."""
        offset = self.log_start_offset if start is None else max(start, self.log_start_offset)
        while offset < self.high_watermark:
            records, nxt = self.records(offset, chunk_bytes)
            yield from records
            if nxt <= offset:
                if self._compaction_gap(offset):
                    break  # (compaction removed the records up to the durable end)
                raise CorruptRecordError(  # below the high watermark: never end quietly, a
                    self.directory, 0, f"no record could be read at offset {offset}, below "
                    f"the high watermark {self.high_watermark}",  # group's committed offsets
                )  # fmt: skip  # would load from older ones
            offset = nxt

    def append_records(
        self,
        keys: Sequence[bytes | None],
        values: Sequence[bytes | None],
        *,
        timestamp: int | None = None,
        flush: bool = True,
    ) -> AppendInfo:
        """Append keyed records as one batch (and fsync): how internal topics are written."""
        if self.config.compact and None in keys:
            raise KeylessRecordError(self.topic)
        enc = codec.encode_records(keys, values, None, now_ms() if timestamp is None else timestamp)
        batch = _batch.build_batch(*enc)
        with self.lock:
            epoch = self.epoch
            info = self.append_batch(batch)
        if flush:
            self.flush_appended()
            if self.epoch != epoch:  # another thread's failed flush dropped it (the flusher's)
                assert self.write_error is not None
                raise self.write_error
        return info

    def records(
        self, offset: int, max_bytes: int = 1 << 20, *, durable_only: bool = True
    ) -> tuple[list[Record], int]:
        """Decoded records at or after ``offset`` and the offset to read from next."""
        data, path, file_pos = self._read(offset, max_bytes, durable_only)
        out: list[Record] = []
        pos = 0
        nxt = offset if data else self._past_compacted(offset)
        while pos < len(data):
            header = _batch.parse_header(data, pos, check_crc=False)
            recs = decode_checked(
                data, pos, header, self.topic, self.index, path, file_position=file_pos + pos
            )
            if header.base_offset < offset:
                recs = [r for r in recs if r.offset >= offset]
            out.extend(recs)
            nxt = max(nxt, header.next_offset)
            pos += header.size
        return out, nxt

    def _past_compacted(self, offset: int) -> int:
        """Where to read next when nothing is found at or after ``offset``: past the segment
        holding it when compaction removed the rest of its records (offsets are never taken
        again, so a reader there would wait for ever, its lag never 0), else ``offset``."""
        with self.lock:
            if not self.segments or not self._compaction_gap(offset):
                return offset
            i = bisect.bisect_right(self._bases, offset)
            return self._bases[i] if i < len(self._bases) else offset

    def offset_for_timestamp(self, timestamp: int) -> int | None:
        """The first offset whose record timestamp is >= ``timestamp`` (None: none yet)."""
        with self.lock:
            self._check_open()
            for seg in self.segments:
                if seg.max_timestamp < timestamp and not (seg is self.active and seg.size):
                    continue
                try:
                    start = seg.find_timestamp(timestamp) if seg.size else None
                except InvalidBatchError as exc:
                    raise _corrupt(exc, seg, 0) from exc
                if start is None:
                    continue
                offset = start
                while offset < min(seg.next_offset, self.high_watermark):
                    recs, nxt = self.records(offset)
                    for r in recs:
                        if r.timestamp >= timestamp:
                            return r.offset
                    if nxt <= offset:
                        break
                    offset = nxt
            return None

    # -- retention -------------------------------------------------------------------------
    def apply_retention(self, now: int | None = None) -> int:
        """Delete whole sealed segments past retention.ms / retention.bytes. Returns count.
        An active segment whose newest record is past retention.ms is rolled first (as
        Kafka does), so a topic nobody writes to any more is emptied too."""
        if self.read_only or not self.config.delete:
            return 0
        now = now_ms() if now is None else now
        deleted = 0
        with self.lock:
            rms, rbytes = self.config.retention_ms, self.config.retention_bytes
            active = self.active if self.segments else None
            if active is not None and active.size and rms >= 0 and not self._closed:
                newest = active.max_timestamp if active.max_timestamp >= 0 else active.modified_ms()
                if now - newest > rms:
                    with contextlib.suppress(LogStorageError):  # (reported; the next round)
                        self.roll()
            total = sum(s.size for s in self.segments)
            while len(self.segments) > 1:
                seg = self.segments[0]
                newest = seg.max_timestamp if seg.max_timestamp >= 0 else seg.modified_ms()
                expired = rms >= 0 and now - newest > rms
                oversize = rbytes >= 0 and total - seg.size >= rbytes
                if not (expired or oversize):  # (not emptiness: compaction never moves the start)
                    break
                total -= seg.size
                self.segments.pop(0)
                self._bases.pop(0)
                seg.delete()
                deleted += 1
        return deleted

    # -- lifecycle -------------------------------------------------------------------------
    def replace_segments(self, old: list[LogSegment], new: LogSegment | None) -> None:
        """Swap sealed ``old`` segments (consecutive) for ``new`` (compaction). Lock held."""
        i = self.segments.index(old[0])
        self.segments[i : i + len(old)] = [new] if new is not None else []
        self._bases = [s.base_offset for s in self.segments]

    def close(self) -> None:
        with self.lock:
            self._wait_for_flush()
            if not self.read_only and self.segments and not self._closed:
                with contextlib.suppress(LogStorageError):  # rolled back and reported:
                    self.flush()  # what is durable stays, the rest is gone
            self._closed = True
            failed: OSError | None = None
            for seg in self.segments:  # (every one, even past one that fails: disk full)
                try:
                    seg.close()
                except OSError as exc:
                    failed = failed or exc
            self.segments = []
            self._bases = []
            for mark in (self._mark, self._marks):
                if mark is not None:
                    mark.close()
            if failed is not None:
                raise failed


def _reach_past(cut: Truncation) -> int | None:
    """The offset after the intact batches a cut removed past the damage (they were handed
    out), or None when there were none."""
    held = cut.last_offset
    # (a record takes bytes: an offset further on is no batch of this segment's)
    if held is not None and cut.first_offset <= held < cut.first_offset + cut.bytes_cut:
        return held + 1
    return None


def _make_segment_files(directory: str, base: int) -> None:
    """An empty segment's files at ``base``, its index files before its .log (an empty .log
    without them is taken for one named by hand and set aside), made durable."""
    for suffixes in ((files.INDEX_SUFFIX, files.TIMEINDEX_SUFFIX), (files.LOG_SUFFIX,)):
        for suffix in suffixes:
            path = files.segment_path(directory, base, suffix)
            if not os.path.exists(path):
                open(path, "wb", opener=files.private_opener).close()
        files.fsync_dir(directory)  # (the index files' names first, even after a power loss)


def decode_checked(
    data: bytes,
    pos: int,
    header: BatchHeader,
    topic: str,
    partition: int,
    path: str,
    *,
    file_position: int | None = None,
) -> list[Record]:
    """Records of the batch at ``pos`` of ``data``; a malformed batch raises
    CorruptRecordError naming ``path`` and ``file_position`` (default ``pos``): where the batch
    is in the segment file."""
    try:
        return _batch.decode_batch(data, pos, header, topic, partition)
    except InvalidBatchError as exc:
        where = pos if file_position is None else file_position
        raise CorruptRecordError(path, where, exc.reason) from exc
