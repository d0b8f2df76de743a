"""A partition: an ordered list of segments, the last one active.

Offsets: ``log_start_offset`` (first segment's base) <= ``high_watermark`` (everything before it
is fsynced, the only part readers see unless they ask otherwise) <= ``log_end_offset`` (next
offset to assign). Appends go to the active segment's memory buffer; ``flush`` writes and
fsyncs them and advances the high watermark.

On open (writer), transient files of an interrupted retention or compaction are resolved, then
the active segment's tail is validated by CRC and a torn or corrupt end truncated. A read-only
partition never changes a file; it stops at the first invalid batch and re-scans for new
batches on ``refresh``.

Thread safety: every public method takes ``self.lock``; waiting readers are woken through the
shared ``data_ready`` condition when the high watermark moves.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Callable

from hub.log import batch as _batch
from hub.log import files
from hub.log.batch import BatchHeader, InvalidBatchError
from hub.log.config import TopicConfig
from hub.log.errors import (
    CorruptRecordError,
    OffsetOutOfRangeError,
    ReadOnlyLogError,
    RecordTooLargeError,
)
from hub.log.record import AppendInfo, PartitionInfo, Record
from hub.log.segment import LogSegment


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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
        self.segments: list[LogSegment] = []
        self._bases: list[int] = []
        self._unflushed_records = 0
        self._last_flush = time.monotonic()
        self.truncated_bytes = 0
        if not read_only:
            os.makedirs(directory, exist_ok=True)
            from hub.log.cleaner import resolve_interrupted

            resolve_interrupted(directory)
        self._load(clean_shutdown)

    # -- loading ---------------------------------------------------------------------------
    def _segment_bases(self) -> list[int]:
        bases = []
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        for name in names:
            parsed = files.parse_segment_file(name)
            if parsed and parsed[1] == files.LOG_SUFFIX and parsed[2] == "":
                bases.append(parsed[0])
        return sorted(bases)

    def _load(self, clean_shutdown: bool) -> None:
        bases = self._segment_bases()
        if not bases and not self.read_only:
            bases = [0]
        interval = self.config.index_interval_bytes
        for i, base in enumerate(bases):
            last = i == len(bases) - 1
            seg = LogSegment(
                self.directory, base, index_interval=interval, active=last and not self.read_only
            )
            if not last:
                seg.next_offset = bases[i + 1]
            self.segments.append(seg)
        self._bases = list(bases)
        if not self.segments:
            self.log_end_offset = self.high_watermark = 0
            return
        active = self.segments[-1]
        if self.read_only:
            self._scan_tail(active)
        else:
            self.truncated_bytes = active.recover(full=not clean_shutdown)
        self.log_end_offset = self.high_watermark = active.next_offset

    def _scan_tail(self, seg: LogSegment) -> None:
        """Read-only: find the end of the valid batches without changing the file."""
        size = os.fstat(seg._fd).st_size
        pos = seg.index.last()[1] if seg.next_offset == seg.base_offset else seg.size
        if seg.next_offset == seg.base_offset:
            seg.size = seg.written_size = seg.durable_size = pos
        try:
            for p, header in seg.iter_batches(pos, size, check_crc=True):
                seg.next_offset = header.next_offset
                seg.size = seg.written_size = seg.durable_size = p + header.size
        except InvalidBatchError:
            pass  # a batch being written, or a torn tail the writer will truncate

    def refresh(self) -> None:
        """Read-only: pick up batches and segments the writer made durable since."""
        with self.lock:
            bases = self._segment_bases()
            new = [b for b in bases if not self._bases or b > self._bases[-1]]
            if self.segments and new:
                self.segments[-1].next_offset = new[0]
            for i, base in enumerate(new):
                seg = LogSegment(self.directory, base, index_interval=1 << 30, active=False)
                seg.next_offset = base
                if i < len(new) - 1:
                    seg.next_offset = new[i + 1]
                self.segments.append(seg)
                self._bases.append(base)
            if self.segments:
                self._scan_tail(self.segments[-1])
                self.log_end_offset = self.high_watermark = self.segments[-1].next_offset

    # -- offsets ---------------------------------------------------------------------------
    @property
    def log_start_offset(self) -> int:
        with self.lock:
            return self.segments[0].base_offset if self.segments else 0

    @property
    def active(self) -> LogSegment:
        return self.segments[-1]

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
            )

    # -- appends ---------------------------------------------------------------------------
    def append_batch(self, data: bytearray, *, now: int | None = None) -> AppendInfo:
        """Append one built batch (hub.log.batch.build_batch); assigns its offsets."""
        if self.read_only:
            raise ReadOnlyLogError(self.directory, "append")
        if len(data) > self.config.max_message_bytes:
            raise RecordTooLargeError(self.topic, len(data), self.config.max_message_bytes)
        with self.lock:
            self._maybe_roll(len(data), now if now is not None else now_ms())
            base = self.log_end_offset
            _batch.set_base_offset(data, base)
            header = _batch.parse_header(data, 0, header_only=True)
            self.active.append(data, header)
            self.log_end_offset = header.next_offset
            self._unflushed_records += header.record_count
            fm = self.config.flush_messages
            if fm is not None and self._unflushed_records >= fm:
                self.flush()
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
            self._wait_for_flush()
            old = self.active
            if old.size == 0:
                return
            old.seal()
            old.next_offset = self.log_end_offset
            seg = LogSegment(
                self.directory,
                self.log_end_offset,
                index_interval=self.config.index_interval_bytes,
                active=True,
            )
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
        producers keep appending while a flush is on its way to disk."""
        with self.lock:
            if self.read_only or not self.segments:
                return
            self._wait_for_flush()
            seg = self.active
            data, position = seg.take_pending()
            end_offset = self.log_end_offset
            if not data and (not fsync or seg.durable_size == seg.written_size):
                if fsync:
                    self._mark_durable(end_offset)
                return
            self._flushing = True
        ok = False
        try:
            written = seg.write_chunk(data, position)
            if fsync:
                seg.sync()
            ok = True
        finally:
            with self.lock:
                if ok:
                    seg.written_size = written
                    if fsync:
                        seg.durable_size = written
                        self._mark_durable(end_offset)
                    seg.index.flush()
                    seg.time_index.flush()
                else:  # e.g. disk full: keep the batches for the next attempt (same position)
                    seg._pending[:0] = data
                self._flushing = False
                self._flush_done.notify_all()

    def _mark_durable(self, offset: int) -> None:
        self._last_flush = time.monotonic()
        if offset == self.log_end_offset:
            self._unflushed_records = 0
        if self.high_watermark < offset:
            self.high_watermark = offset
            if self._on_durable is not None:
                self._on_durable()

    def flush_due(self, default_ms: int | None) -> bool:
        """True when the flush.ms policy asks for a flush now."""
        interval = self.config.flush_ms if self.config.flush_ms is not None else default_ms
        if interval is None or self.high_watermark == self.log_end_offset:
            return False
        return (time.monotonic() - self._last_flush) * 1000 >= interval

    # -- reads -----------------------------------------------------------------------------
    def _check_offset(self, offset: int) -> None:
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRangeError(
                self.topic, self.index, offset, self.log_start_offset, self.log_end_offset
            )

    def read(self, offset: int, max_bytes: int = 1 << 20, *, durable_only: bool = True) -> bytes:
        """Whole batches starting with the one that holds ``offset``: at least one batch (even
        past ``max_bytes``) when there is data, else b"". Every batch is CRC-checked."""
        with self.lock:
            self._check_offset(offset)
            if not durable_only and not self.read_only:
                self.flush(fsync=False)
            limit = self.high_watermark if durable_only else self.log_end_offset
            i = max(bisect.bisect_right(self._bases, offset) - 1, 0)
            while offset < limit and i < len(self.segments):
                seg = self.segments[i]
                end = seg.durable_size if durable_only else seg.written_size
                pos = seg.find_position(offset) if offset < seg.next_offset else None
                if pos is None or pos >= end:
                    i += 1
                    continue
                return self._whole_batches(seg, pos, end, max_bytes, limit)
            return b""

    def _whole_batches(
        self, seg: LogSegment, pos: int, end: int, max_bytes: int, limit: int
    ) -> bytes:
        data = seg.read_at(pos, min(max(max_bytes, _batch.HEADER_SIZE), end - pos))
        out_end = 0
        while True:
            peek = _batch.peek_length(data, out_end)
            if peek is None or peek[0] >= limit:
                break
            size = peek[1]
            if out_end + size > len(data):
                if out_end == 0 and pos + size <= end:  # first batch larger than max_bytes
                    data = seg.read_at(pos, size)
                else:
                    break
            try:
                _batch.parse_header(data, out_end, check_crc=True)
            except InvalidBatchError as exc:
                if out_end:
                    break  # serve what is intact; the next read reports the bad batch
                raise CorruptRecordError(seg.path, pos + out_end, exc.reason) from exc
            out_end += size
        return data[:out_end]

    def records(
        self, offset: int, max_bytes: int = 1 << 20, *, durable_only: bool = True
    ) -> tuple[list[Record], int]:
        """Decoded records at or after ``offset`` and the offset to read from next."""
        data = self.read(offset, max_bytes, durable_only=durable_only)
        out: list[Record] = []
        pos = 0
        nxt = offset
        while pos < len(data):
            header = _batch.parse_header(data, pos, check_crc=False)
            recs = decode_checked(data, pos, header, self.topic, self.index, self.active.path)
            if header.base_offset < offset:
                recs = [r for r in recs if r.offset >= offset]
            out.extend(recs)
            nxt = max(nxt, header.next_offset)
            pos += header.size
        return out, nxt

    def offset_for_timestamp(self, timestamp: int) -> int | None:
        """The first offset whose record timestamp is >= ``timestamp`` (None: none yet)."""
        with self.lock:
            for seg in self.segments:
                if seg.max_timestamp < timestamp and not (seg is self.active and seg.size):
                    continue
                start = seg.find_timestamp(timestamp) if seg.size else None
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
        """Delete whole sealed segments past retention.ms / retention.bytes. Returns count."""
        if self.read_only or not self.config.delete:
            return 0
        now = now_ms() if now is None else now
        deleted = 0
        with self.lock:
            rms, rbytes = self.config.retention_ms, self.config.retention_bytes
            total = sum(s.size for s in self.segments)
            while len(self.segments) > 1:
                seg = self.segments[0]
                newest = seg.max_timestamp if seg.max_timestamp >= 0 else seg.modified_ms()
                expired = rms >= 0 and now - newest > rms
                oversize = rbytes >= 0 and total - seg.size >= rbytes
                if not (expired or oversize or seg.size == 0):
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
            for seg in self.segments:
                seg.close()
            self.segments = []
            self._bases = []


def decode_checked(
    data: bytes, pos: int, header: BatchHeader, topic: str, partition: int, path: str
) -> list[Record]:
    try:
        return _batch.decode_batch(data, pos, header, topic, partition)
    except InvalidBatchError as exc:
        raise CorruptRecordError(path, pos, exc.reason) from exc
