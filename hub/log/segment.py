"""One segment of a partition: a ``.log`` file of record batches and its two indexes.

Binary format: Kafka v2 record batches (hub.log.batch) back to back, offsets increasing, the
first batch's base offset >= the segment's base offset (the file name).

Invariants:
* ``size`` counts every appended byte; bytes past ``written_size`` are still in memory
  (``_pending``), bytes past ``durable_size`` are in the file but not yet fsynced.
* An offset index entry is added every ``index_interval`` bytes, a time index entry whenever
  a batch raises the segment's max timestamp (and once more when the segment is sealed).
* Sealed segments are immutable and fsynced, their indexes included.

Not thread-safe: the caller holds the partition lock.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from hub.log import batch as _batch
from hub.log import files
from hub.log.batch import BatchHeader, InvalidBatchError
from hub.log.index import OffsetIndex, TimeIndex

_SCAN_CHUNK = 1 << 20


class LogSegment:
    def __init__(
        self,
        directory: str,
        base_offset: int,
        *,
        index_interval: int,
        active: bool,
        state: str = "",
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval = index_interval
        self.state = state  # "" or one of the transient suffixes (cleaned / swap)
        self.path = files.segment_path(directory, base_offset, files.LOG_SUFFIX, state)
        flags = os.O_RDWR | os.O_CREAT if active else os.O_RDONLY
        self._fd = os.open(self.path, flags, 0o644)
        self.size = self.written_size = self.durable_size = os.fstat(self._fd).st_size
        self.index = OffsetIndex(
            files.segment_path(directory, base_offset, files.INDEX_SUFFIX, state),
            base_offset,
            active=active,
        )
        self.time_index = TimeIndex(
            files.segment_path(directory, base_offset, files.TIMEINDEX_SUFFIX, state),
            base_offset,
            active=active,
        )
        self.active = active
        self.next_offset = base_offset  # set by recover() / the partition for sealed segments
        self._max_timestamp: int | None = None if not active else -1
        self._pending: list[bytes | bytearray] = []
        self._bytes_since_index = 0
        self.created_at = time.time()

    # -- appends --------------------------------------------------------------------------
    def append(self, data: bytes | bytearray, header: BatchHeader) -> None:
        """Buffer one batch (base offset already set) for the next flush."""
        self._register(header)
        self._pending.append(data)
        self.size += len(data)

    def _register(self, header: BatchHeader) -> None:
        """Index a batch that starts at ``self.size``."""
        if self.size > 0 and self._bytes_since_index >= self.index_interval:
            self.index.append(header.base_offset, self.size)
            self._bytes_since_index = 0
        if header.max_timestamp > self.max_timestamp:
            self.time_index.append(header.max_timestamp, header.base_offset)
            self._max_timestamp = header.max_timestamp
        self._bytes_since_index += header.size
        self.next_offset = header.next_offset

    def take_pending(self) -> tuple[list[bytes | bytearray], int]:
        """Hand the buffered batches and their file position to a flusher (lock held)."""
        data, self._pending = self._pending, []
        return data, self.size - sum(len(d) for d in data)

    def write_chunk(self, data: list[bytes | bytearray], position: int) -> int:
        """Write taken batches at ``position``. Safe without the partition lock: nobody else
        writes that range, and readers never read past ``written_size``."""
        total = sum(len(d) for d in data)
        done = 0
        if data and len(data) < 1024:
            done = os.pwritev(self._fd, data, position)
        if done != total:  # a partial write, or too many buffers for one call
            blob = memoryview(b"".join(data))
            while done < total:
                done += os.pwrite(self._fd, blob[done:], position + done)
        return position + total

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def flush(self, fsync: bool = True) -> None:
        """Write and (with ``fsync``) sync everything buffered. Lock held, no flush running."""
        data, position = self.take_pending()
        self.written_size = self.write_chunk(data, position)
        if fsync and self.durable_size < self.written_size:
            self.sync()
            self.durable_size = self.written_size
        self.index.flush()
        self.time_index.flush()

    @property
    def unflushed(self) -> bool:
        return self.durable_size < self.size

    # -- reads ----------------------------------------------------------------------------
    @property
    def max_timestamp(self) -> int:
        if self._max_timestamp is None:
            last = self.time_index.last()
            self._max_timestamp = last[0] if last else -1
        return self._max_timestamp

    def modified_ms(self) -> int:
        """Last modification time of the .log file (for segments without a time index)."""
        return int(os.stat(self.path).st_mtime * 1000)

    def read_at(self, position: int, size: int) -> bytes:
        return os.pread(self._fd, size, position)

    def iter_batches(
        self, position: int = 0, end: int | None = None, check_crc: bool = False
    ) -> Iterator[tuple[int, BatchHeader]]:
        """``(position, header)`` of each batch from ``position`` to ``end`` (default: the
        written size). Raises InvalidBatchError at a torn or (with ``check_crc``) bad batch."""
        end = self.written_size if end is None else end
        buf: bytes = b""
        buf_pos = position
        while position < end:
            rel = position - buf_pos
            if rel + _batch.HEADER_SIZE > len(buf):
                buf = self.read_at(position, min(_SCAN_CHUNK, end - position))
                buf_pos, rel = position, 0
            header = _batch.parse_header(buf, rel, header_only=True)
            if position + header.size > end:
                raise InvalidBatchError(f"torn batch at byte {position} of {self.path}")
            if check_crc:
                if rel + header.size > len(buf):
                    buf = self.read_at(position, min(max(_SCAN_CHUNK, header.size), end - position))
                    buf_pos, rel = position, 0
                _batch.verify_crc(buf, rel, header)
            yield position, header
            position += header.size

    def find_position(self, offset: int) -> int | None:
        """File position of the batch holding ``offset`` (or the first after it), or None."""
        _, pos = self.index.lookup(offset)
        for position, header in self.iter_batches(pos):
            if header.last_offset >= offset:
                return position
        return None

    def find_timestamp(self, timestamp: int) -> int | None:
        """First offset whose batch max timestamp is >= ``timestamp`` (batch granularity)."""
        start = self.time_index.lookup(timestamp)
        for _, header in self.iter_batches(self.index.lookup(start)[1]):
            if header.last_offset >= start and header.max_timestamp >= timestamp:
                return header.base_offset
        return None

    # -- recovery -------------------------------------------------------------------------
    def recover(self, full: bool) -> int:
        """Validate the tail, truncate a torn or corrupt end, rebuild lost index entries.

        ``full`` rescans the whole segment (after an unclean shutdown); otherwise only from the
        last index entry that still points at an intact batch. Returns bytes truncated.
        """
        size = os.fstat(self._fd).st_size
        entries = self.index.entries()
        keep = 0
        if not full:
            for i in range(len(entries) - 1, -1, -1):
                off, pos = entries[i]
                if pos < size and self._batch_ok_at(pos, off, size):
                    keep = i + 1
                    break
        self.index.truncate_entries(keep)
        position, self.next_offset = (
            (entries[keep - 1][1], entries[keep - 1][0]) if keep else (0, self.base_offset)
        )
        times = [e for e in self.time_index.entries() if e[1] < self.next_offset]
        self.time_index.truncate_entries(len(times))
        self._max_timestamp = times[-1][0] if times else -1
        self.size = self.written_size = self.durable_size = position
        self._bytes_since_index = 0
        try:
            for pos, header in self.iter_batches(position, size, check_crc=True):
                if header.base_offset != self.next_offset:
                    break  # an active segment's batches are contiguous: anything else is garbage
                self._register(header)
                self.size = self.written_size = self.durable_size = pos + header.size
        except InvalidBatchError:
            pass
        truncated = size - self.size
        if truncated:
            os.ftruncate(self._fd, self.size)
            os.fsync(self._fd)
        self.index.flush()
        self.time_index.flush()
        return truncated

    def _batch_ok_at(self, position: int, offset: int, size: int) -> bool:
        head = self.read_at(position, _batch.HEADER_SIZE)
        peek = _batch.peek_length(head, 0)
        if peek is None or peek[0] != offset or position + peek[1] > size:
            return False
        try:
            _batch.parse_header(self.read_at(position, peek[1]), 0, check_crc=True)
        except InvalidBatchError:
            return False
        return True

    def last_batch_next_offset(self) -> int:
        """Next offset after the last batch (scans from the last index entry)."""
        _, pos = self.index.last()
        nxt = self.base_offset
        for _, header in self.iter_batches(pos):
            nxt = header.next_offset
        return nxt

    # -- lifecycle ------------------------------------------------------------------------
    def seal(self) -> None:
        """Flush, fsync and make read-only; records the final max timestamp in the time index."""
        self.flush(fsync=True)
        last = self.time_index.last()
        if self.max_timestamp >= 0 and (last is None or last[0] < self.max_timestamp):
            self.time_index.append(self.max_timestamp, self.next_offset - 1)
        self.index.seal()
        self.time_index.seal()
        self.active = False

    def close(self) -> None:
        if self._fd >= 0:
            if self.active:
                self.flush(fsync=True)
            os.close(self._fd)
            self._fd = -1
        self.index.close()
        self.time_index.close()

    def file_paths(self) -> list[str]:
        return [self.path, self.index.path, self.time_index.path]

    def delete(self) -> None:
        """Close and remove the files (renamed to ``.deleted`` first so a crash leaves no
        half-deleted segment that looks live)."""
        self.close()
        for path in self.file_paths():
            if os.path.exists(path):
                os.replace(path, path + files.DELETED_SUFFIX)
        files.fsync_dir(self.directory)
        for path in self.file_paths():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + files.DELETED_SUFFIX)
