"""One segment of a partition: a ``.log`` file of record batches and its two indexes.

Binary format: Kafka v2 record batches (hub.log.batch) back to back, offsets increasing, the
first batch's base offset >= the segment's base offset (the file name).

Invariants:
* ``size`` counts every appended byte; bytes past ``written_size`` are still in memory
  (``_pending``), bytes past ``durable_size`` are in the file but not yet fsynced.
* An offset index entry is added every ``index_interval`` bytes, a time index entry whenever
  a batch raises the segment's max timestamp (and once more when the segment is sealed).
* Sealed segments are immutable and fsynced, their indexes included.
* A segment opened for a read-only reader (``reader=True``) opens its ``.log`` and index files
  together and maps the indexes at once, so the pair stays consistent even if a compaction
  swaps in new files under the same names; ``replaced`` tells when that happened.

Not thread-safe: the caller holds the partition lock.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
from collections.abc import Callable, Iterator

from hub.log import batch as _batch
from hub.log import files
from hub.log.batch import BatchHeader, InvalidBatchError
from hub.log.index import OffsetIndex, TimeIndex
from hub.log.recovery import Truncation, last_intact_offset

log = logging.getLogger(__name__)

_SCAN_CHUNK = 1 << 20
_IOV_MAX = 1024  # buffers per pwritev call (Linux's IOV_MAX)


class InvalidBatchAt(InvalidBatchError):
    """An invalid batch at a known place: ``path`` and byte ``position`` in it."""

    def __init__(self, path: str, position: int, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.position = position

    def __str__(self) -> str:
        return f"{self.reason} at byte {self.position} of {self.path}"


def _not_indexed(path: str, position: int, base: int, indexed: int) -> InvalidBatchAt:
    return InvalidBatchAt(path, position, f"batch says it starts at offset {base}, where the "
                          f"index has offset {indexed}")  # fmt: skip


def _went_back(path: str, position: int, base: int, prev: int) -> InvalidBatchAt:
    return InvalidBatchAt(path, position, f"batch says it starts at offset {base}, after "
                          f"offset {prev}")  # fmt: skip


def _open_if_exists(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


def _write_indexes(*indexes: OffsetIndex | TimeIndex) -> None:
    """The indexes' files made if missing, and written (fsync)."""
    for index in indexes:
        if not os.path.exists(index.path):
            open(index.path, "wb", opener=files.private_opener).close()
        index.flush(fsync=True)


class LogSegment:
    def __init__(
        self,
        directory: str,
        base_offset: int,
        *,
        index_interval: int,
        active: bool,
        state: str = "",
        reader: bool = False,
    ) -> None:
        """``reader``: open for a read-only partition (see the module docstring); raises
        FileNotFoundError when the segment is deleted or replaced while being opened."""
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval = index_interval
        self.state = state  # "" or one of the transient suffixes (cleaned / swap)
        self.path = files.segment_path(directory, base_offset, files.LOG_SUFFIX, state)
        flags = os.O_RDWR | os.O_CREAT if active else os.O_RDONLY
        self._fd = os.open(self.path, flags, files.FILE_MODE)
        st = os.fstat(self._fd)
        self._file_id = (st.st_dev, st.st_ino)
        self.size = self.written_size = self.durable_size = st.st_size
        index_path = files.segment_path(directory, base_offset, files.INDEX_SUFFIX, state)
        time_path = files.segment_path(directory, base_offset, files.TIMEINDEX_SUFFIX, state)
        try:
            if reader:
                self.index, self.time_index = self._map_indexes(index_path, time_path)
            else:
                self.index = OffsetIndex(index_path, base_offset, active=active)
                self.time_index = TimeIndex(time_path, base_offset, active=active)
        except BaseException:  # (out of descriptors: none of ours left open)
            if getattr(self, "index", None) is not None:
                self.index.close()
            os.close(self._fd)
            raise
        self.mapped_size = self.size  # .log size when a reader's indexes were mapped
        self._reader = reader
        self._told_index_damaged = False
        self.active = active
        self.next_offset = base_offset  # set by recover() / the partition for sealed segments
        self._max_timestamp: int | None = None if not active else -1
        self._pending: list[bytes | bytearray] = []
        self._bytes_since_index = 0
        self.created_at = time.time()

    def make_index_files(self) -> None:
        """Create this (new, empty) segment's index files: a roll makes them with it, which
        tells its empty segment from a file put there by hand (hub.log.strays)."""
        for index in (self.index, self.time_index):
            if not os.path.exists(index.path):
                open(index.path, "wb", opener=files.private_opener).close()

    # -- read-only readers -----------------------------------------------------------------
    def _map_indexes(self, index_path: str, time_path: str) -> tuple[OffsetIndex, TimeIndex]:
        """Map both indexes from files opened now, after the .log, and check the .log is still
        the file at ``path``: a compaction renames the new indexes in before the new .log, so
        an unchanged .log means the indexes opened belong to it."""
        fds = [_open_if_exists(index_path), _open_if_exists(time_path)]
        try:
            if not self._is_current():
                raise FileNotFoundError(errno.ENOENT, "segment replaced while opening", self.path)
            return (
                OffsetIndex.mapped(index_path, self.base_offset, fds[0]),
                TimeIndex.mapped(time_path, self.base_offset, fds[1]),
            )
        finally:
            for fd in fds:
                if fd is not None:
                    os.close(fd)

    def _is_current(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == self._file_id

    def replaced(self) -> bool:
        """True when the file at ``path`` is gone or is another file (compaction swap)."""
        return not self._is_current()

    def reload_indexes(self) -> None:
        """Reader: map the indexes again (they grew, or the writer sealed them). Keeps the old
        mappings if the segment was replaced meanwhile; the partition will reopen it."""
        try:
            index, time_index = self._map_indexes(self.index.path, self.time_index.path)
        except FileNotFoundError:
            return
        self.index.close()
        self.time_index.close()
        self.index, self.time_index = index, time_index
        self._max_timestamp = None
        self.mapped_size = self.size

    def file_size(self) -> int:
        return os.fstat(self._fd).st_size

    # -- appends --------------------------------------------------------------------------
    def append(
        self, data: bytes | bytearray | tuple[bytearray, bytes], header: BatchHeader
    ) -> None:
        """Buffer one batch (base offset already set; whole, or as (header, records)) for
        the next flush."""
        self._register(header)
        if isinstance(data, tuple):
            self._pending.extend(data)
        else:
            self._pending.append(data)
        self.size += header.size

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
        for i in range(0, len(data), _IOV_MAX):
            group = data[i : i + _IOV_MAX]
            total = sum(len(d) for d in group)
            done = os.pwritev(self._fd, group, position)
            if done != total:  # a partial write: finish it plainly
                blob = memoryview(b"".join(group))
                while done < total:
                    done += os.pwrite(self._fd, blob[done:], position + done)
            position += total
        return position

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def flush_indexes(self, written_size: int, end_offset: int) -> None:
        """Write out the index entries of batches that are in the file (below ``written_size``
        and ``end_offset``); entries of batches appended since stay buffered."""
        self.index.flush(below=written_size)
        self.time_index.flush(below=end_offset - self.base_offset)

    def flush(self, fsync: bool = True) -> None:
        """Write and (with ``fsync``) sync everything buffered. Lock held, no flush running."""
        data, position = self.take_pending()
        self.written_size = self.write_chunk(data, position)
        if fsync and self.durable_size < self.written_size:
            self.sync()
            self.durable_size = self.written_size
        self.index.flush()
        self.time_index.flush()

    def rollback(self, next_offset: int) -> int:
        """Go back to the last durable point after a failed write: drop the buffered batches,
        cut the file to ``durable_size`` (bytes past it may be torn or never synced) and forget
        the index entries past it. ``next_offset`` is the offset after the last durable batch.
        Returns the bytes dropped. Lock held, no flush running."""
        dropped = self.size - self.durable_size
        self._pending = []
        self.size = self.written_size = self.durable_size  # (first: the cut may fail)
        self.next_offset = next_offset
        self.index.drop_from(self.durable_size)
        self.time_index.drop_from(next_offset - self.base_offset)
        self._max_timestamp = None  # from the time index again
        self._bytes_since_index = 0
        if os.fstat(self._fd).st_size > self.durable_size:
            os.ftruncate(self._fd, self.durable_size)
        return dropped

    @property
    def unflushed(self) -> bool:
        return self.durable_size < self.size

    # -- reads ----------------------------------------------------------------------------
    @property
    def max_timestamp(self) -> int:
        if self._max_timestamp is None:
            last = self.time_index.last()
            if last is not None:
                self._max_timestamp = last[0]
            else:  # (no time index, or a damaged one not used: from the batches themselves)
                newest = -1
                with contextlib.suppress(InvalidBatchError):
                    for _, header in self.iter_batches(0):
                        newest = max(newest, header.max_timestamp)
                self._max_timestamp = newest
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
        written size). Raises InvalidBatchAt at a torn or (with ``check_crc``) bad batch."""
        end = self.written_size if end is None else end
        buf: bytes = b""
        buf_pos = position
        while position < end:
            rel = position - buf_pos
            if rel + _batch.HEADER_SIZE > len(buf):
                buf = self.read_at(position, min(_SCAN_CHUNK, end - position))
                buf_pos, rel = position, 0
            try:
                header = _batch.parse_header(buf, rel, header_only=True)
                if position + header.size > end:
                    raise InvalidBatchError(
                        f"torn batch ({end - position} of {header.size} bytes present)"
                    )
                if check_crc:
                    if rel + header.size > len(buf):
                        size = min(max(_SCAN_CHUNK, header.size), end - position)
                        buf = self.read_at(position, size)
                        buf_pos, rel = position, 0
                    _batch.verify_crc(buf, rel, header)
            except InvalidBatchError as exc:
                raise InvalidBatchAt(self.path, position, exc.reason) from None
            yield position, header
            position += header.size

    def find_position(self, offset: int) -> int | None:
        """File position of the batch holding ``offset`` (or the first after it), or None.
        A batch's base offset is outside its CRC: one that goes back from the batch before is
        damage (InvalidBatchAt), not a batch to skip past."""
        for position, header in self._batches_for(offset):
            if header.last_offset >= offset:
                return position
        return None

    def find_timestamp(self, timestamp: int) -> int | None:
        """First offset whose batch max timestamp is >= ``timestamp`` (batch granularity).
        Batches are CRC-checked here (a damaged max timestamp or base offset had answered a
        later offset, skipping records a read of the same place refuses)."""
        start = self.time_index.lookup(timestamp)
        for _, header in self._batches_for(start, check_crc=True):
            if header.last_offset >= start and header.max_timestamp >= timestamp:
                return header.base_offset
        return None

    def _batches_for(
        self, offset: int, check_crc: bool = False
    ) -> Iterator[tuple[int, BatchHeader]]:
        """The batches from the one the offset index gives for ``offset`` on, each after
        the one before in offsets (InvalidBatchAt where one is not). The index is a hint,
        written without a checksum: an entry that leads to no batch, or to one that does not
        start at its offset, is damage of the index or of the batch, so the batches are read
        from the segment's start instead; damage of the batches shows there too. (An entry
        pointing past the end had read as "no batch here": a compacted segment's records
        after it were skipped as compacted away, an active segment's readers stalled.)"""
        indexed, pos = self.index.lookup(offset)
        if pos >= self.written_size:
            # entries of batches not in the file yet (appended, still buffered) or past a
            # reader's scan are no damage: nothing of them to read in this view
            end = os.fstat(self._fd).st_size if self._reader else self.size
            if pos < end:
                return
        if pos > 0:
            prev = None
            try:
                for position, header in self.iter_batches(pos, check_crc=check_crc):
                    if prev is None and header.base_offset != indexed:
                        raise _not_indexed(self.path, position, header.base_offset, indexed)
                    self._after(position, header, prev)
                    prev = header.last_offset
                    yield position, header
            except InvalidBatchAt:
                if prev is not None:
                    raise  # (past the indexed batch: the damage is in the batches)
            else:
                if prev is not None:
                    return
        # from the start. Where a batch starts at the indexed position with another offset,
        # one of the two is damaged (a batch's base offset is outside its CRC): the batch's
        # is right if it follows the batch before without a gap, and taken for damaged if not
        # (a compacted segment's gaps cannot tell); where no batch starts there, the index is
        prev = None
        told = pos == 0
        for position, header in self.iter_batches(0, check_crc=check_crc):
            if (
                position == pos > 0 and header.base_offset != indexed
                and (prev is None or header.base_offset != prev + 1)
            ):  # fmt: skip
                raise _not_indexed(self.path, position, header.base_offset, indexed)
            if not told and position >= pos:
                told = True
                self._index_damaged(pos, indexed)
            self._after(position, header, prev)
            prev = header.last_offset
            yield position, header
        if not told:
            self._index_damaged(pos, indexed)

    def _after(self, position: int, header: BatchHeader, prev: int | None) -> None:
        """InvalidBatchAt for a batch whose offsets do not follow ``prev`` (the last offset
        of the batch before, if any) or are outside the segment's (its base offset is outside
        its CRC: a damaged one had been answered as a later offset)."""
        if prev is not None and header.base_offset <= prev:
            raise _went_back(self.path, position, header.base_offset, prev)
        end = self.next_offset if self.next_offset > self.base_offset else None
        if header.base_offset < self.base_offset or (end is not None and header.last_offset >= end):
            raise InvalidBatchAt(self.path, position, (
                f"batch says it holds offsets {header.base_offset} to {header.last_offset}, "
                f"outside its segment's ({self.base_offset} to "
                f"{'' if end is None else end - 1})"))  # fmt: skip

    def _index_damaged(self, pos: int, indexed: int) -> None:
        if self._told_index_damaged:
            return
        self._told_index_damaged = True
        log.warning(
            "%s: its index says offset %d is at byte %d, where no batch of that offset is: "
            "the index is damaged, and the segment is read from its start instead (slower); "
            "stop the worker and delete the .index file to have it made again",
            self.path, indexed, pos,
        )  # fmt: skip

    # -- recovery -------------------------------------------------------------------------
    def recover(
        self, full: bool, before_cut: Callable[[Truncation], None] | None = None
    ) -> Truncation | None:
        """Validate the tail, truncate a torn or corrupt end, rebuild lost index entries.

        ``full`` rescans the whole segment (after an unclean shutdown); otherwise only from the
        last index entry that still points at an intact batch. Returns what was cut, if
        anything (the caller reports it: hub.log.recovery). ``before_cut`` is called with it
        before the file is cut: what must outlive a crash right after the cut is written
        there (the cut removes intact batches past the damage, and with them the only
        record that their offsets were handed out).
        """
        size = os.fstat(self._fd).st_size
        entries = self.index.entries()
        keep = 0 if full else self.intact_index_entries(size)
        self.index.truncate_entries(keep)
        position, self.next_offset = (
            (entries[keep - 1][1], entries[keep - 1][0]) if keep else (0, self.base_offset)
        )
        times = [e for e in self.time_index.entries() if e[1] < self.next_offset]
        self.time_index.truncate_entries(len(times))
        self._max_timestamp = times[-1][0] if times else -1
        self.size = self.written_size = self.durable_size = position
        self._bytes_since_index = 0
        reason = ""
        try:
            for pos, header in self.iter_batches(position, size, check_crc=True):
                if header.base_offset != self.next_offset:  # an active segment's batches are
                    reason = (  # contiguous: anything else is garbage
                        f"batch at byte {pos} starts at offset {header.base_offset}, "
                        f"expected {self.next_offset}"
                    )
                    break
                self._register(header)
                self.size = self.written_size = self.durable_size = pos + header.size
        except InvalidBatchError as exc:
            reason = exc.reason
        truncated = size - self.size
        cut = None
        if truncated:
            last = last_intact_offset(self._fd, self.size, size)
            if last is not None and last < self.next_offset:
                last = None  # an old batch's copy, not records past the damage
            cut = Truncation(
                self.path, self.size, truncated, self.next_offset, last, reason or "torn batch"
            )
            if before_cut is not None:
                before_cut(cut)
            os.ftruncate(self._fd, self.size)
            os.fsync(self._fd)
        try:
            self.index.flush()
            self.time_index.flush()
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # (the entries are hints, kept in memory: the partition's next flush writes them;
            # a log stopped with a full disk must open without room for them)
            log.warning(
                "%s: its index entries are not written (%s); they are written with a later "
                "flush, nothing of the records is affected", self.path, exc.strerror,
            )  # fmt: skip
        return cut

    def intact_index_entries(self, size: int) -> int:
        """Index entries up to and including the last one that points at an intact batch
        (within ``size`` bytes of the file); entries past it may point at lost data."""
        for i in range(len(self.index) - 1, -1, -1):
            off, pos = self.index.at(i)
            if pos < size and self._batch_ok_at(pos, off, size):
                return i + 1
        return 0

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

    def last_batch_next_offset(self) -> int | None:
        """Next offset after the last batch (scanned from the last index entry when it points
        at a batch of that offset inside the file, else from the start); None when the
        segment holds no batch (an index entry past a cut file read as its base offset,
        which set the healthy segment after it aside)."""
        offset, pos = self.index.last()
        start = 0
        if 0 < pos < self.written_size:
            head = self.read_at(pos, _batch.HEADER_SIZE)
            try:
                if _batch.parse_header(head, 0, header_only=True).base_offset == offset:
                    start = pos
            except InvalidBatchError:
                pass
        nxt = None
        for _, header in self.iter_batches(start):
            nxt = header.next_offset
        return nxt

    def rebuild_indexes(self) -> None:
        """The offset and time indexes of a sealed segment made again from its batches (a
        roll killed before the seal wrote them, or files lost): they are hints, the scan
        stops at the first batch that is not intact (a reader reports it)."""
        index = OffsetIndex(self.index.path, self.base_offset, active=True)
        times = TimeIndex(self.time_index.path, self.base_offset, active=True)
        index.truncate_entries(0)
        times.truncate_entries(0)
        since, newest = 0, -1
        try:
            for pos, header in self.iter_batches(0, check_crc=True):
                if pos > 0 and since >= self.index_interval:
                    index.append(header.base_offset, pos)
                    since = 0
                if header.max_timestamp > newest:
                    times.append(header.max_timestamp, header.base_offset)
                    newest = header.max_timestamp
                since += header.size
        except InvalidBatchError:
            pass
        _write_indexes(index, times)
        index.close()
        times.close()

    # -- lifecycle ------------------------------------------------------------------------
    def seal(self) -> None:
        """Flush, fsync and make read-only; records the final max timestamp in the time index."""
        self.flush(fsync=True)
        last = self.time_index.last()
        if self.max_timestamp >= 0 and (last is None or last[0] < self.max_timestamp):
            self.time_index.append(self.max_timestamp, self.next_offset - 1)
        _write_indexes(self.index, self.time_index)  # what may fail (disk full) comes first:
        self.index.seal()  # a failure leaves the segment active
        self.time_index.seal()
        self.active = False

    def close(self) -> None:
        """Flush (an active segment) and close. The descriptor is closed even when the flush
        fails (a full disk): an open one keeps a deleted file's blocks until the process
        exits."""
        try:
            if self._fd >= 0 and self.active:
                self.flush(fsync=True)
            self.index.close()
            self.time_index.close()
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Close without writing anything more (a segment about to be discarded)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.index.close(write=False)
        self.time_index.close(write=False)

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
