"""Sparse indexes of one segment: offset -> file position, and timestamp -> offset.

Binary formats (big-endian, as Kafka's):

* ``OffsetIndex`` (``.index``): 8-byte entries, 4-byte offset relative to the segment's base
  offset + 4-byte byte position of the batch that starts at or contains it in the ``.log``.
* ``TimeIndex`` (``.timeindex``): 12-byte entries, 8-byte timestamp + 4-byte relative offset
  of the first batch whose max timestamp reached it.

Invariants: entries strictly increase in both fields (time index: timestamps strictly increase,
offsets do not decrease). An entry is a hint: a lookup gives a floor to start scanning from, so a
lost or truncated tail costs only a longer scan, never a wrong answer.

Memory: the active segment's entries live in a bytearray (appended entries go to the file on
``flush``); a sealed segment's index is loaded on first use, so opening a big log reads no
index at all: read into memory up to 64 KiB, memory-mapped beyond (a mapping keeps a descriptor
of its own). A read-only reader loads an index from a descriptor opened together with the
``.log`` (``mapped``), so a compaction swap cannot pair an old ``.log`` with a new index.

Files are never shortened in place: a truncation writes a temporary file, fsyncs it and renames
it over the index, so a reader that mapped the old file keeps a valid mapping (no SIGBUS).

Not thread-safe: the caller holds the partition lock.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import struct
from typing import Any, Self

from hub.log.files import private_opener

log = logging.getLogger("hub.log")

_OFFSET_ENTRY = struct.Struct(">II")
_TIME_ENTRY = struct.Struct(">qI")
_READ_WHOLE = 64 * 1024  # (the index of a segment of up to ~32 MiB at the default interval)


class _SparseIndex:
    entry: struct.Struct

    def __init__(self, path: str, base_offset: int, *, active: bool) -> None:
        self.path = path
        self.base_offset = base_offset
        self._active = active
        self._buf: Any = None  # bytearray (active) or mmap (sealed), loaded lazily
        self._written = 0  # bytes of _buf already in the file
        if active:
            self._load_active()

    # -- loading -------------------------------------------------------------------------
    def _load_active(self) -> None:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        usable = len(data) - len(data) % self.entry.size
        self._buf = bytearray(data[:usable])
        self._written = len(data)
        if usable != len(data):
            self._rewrite()

    @classmethod
    def mapped(cls, path: str, base_offset: int, fd: int | None) -> Self:
        """A sealed index mapped now from ``fd`` (None: no index file). The caller closes
        ``fd``; the mapping stays valid after the file is renamed, replaced or deleted."""
        index = cls(path, base_offset, active=False)
        index._map(fd)
        return index

    def _map(self, fd: int | None) -> None:
        """A small index is read (Python's mmap keeps a descriptor of its own, as long as the
        mapping: one more per sealed segment, next to its log file's), a large one mapped."""
        size = os.fstat(fd).st_size if fd is not None else 0
        size -= size % self.entry.size
        old = self._buf
        if fd is None or not size:
            self._buf = b""
        elif size <= _READ_WHOLE:
            self._buf = os.pread(fd, size, 0)
        else:
            self._buf = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        if isinstance(old, mmap.mmap):
            old.close()
        if self._buf and not self._sane():
            # a damaged index (it is a derived, unchecked file): its entries are hints, and
            # none is better than wrong ones (a time lookup skipped records): scan instead
            log.warning("%s is damaged (its entries are out of order): not used", self.path)
            self._buf = b""

    def _sane(self) -> bool:
        """Entries in order, as appends write them (Kafka's sanity check of an index)."""
        prev: tuple[int, int] | None = None
        for entry in self.entry.iter_unpack(self._buf):
            if prev is not None and not self._follows(prev, entry):
                return False
            prev = entry
        return True

    def _follows(self, prev: tuple[int, int], entry: tuple[int, int]) -> bool:
        return entry[0] > prev[0] and entry[1] > prev[1]

    def _view(self) -> Any:
        if self._buf is None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                self._buf = b""
                return self._buf
            try:
                self._map(fd)
            finally:
                os.close(fd)
        return self._buf

    # -- queries -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._view()) // self.entry.size

    def _entry(self, i: int) -> tuple[int, int]:
        a, b = self.entry.unpack_from(self._view(), i * self.entry.size)
        return a, b

    def _floor(self, key: int, field: int) -> int:
        """Index of the last entry whose ``field`` <= key, or -1."""
        lo, hi = 0, len(self) - 1
        found = -1
        while lo <= hi:
            mid = (lo + hi) // 2
            if self._entry(mid)[field] <= key:
                found = mid
                lo = mid + 1
            else:
                hi = mid - 1
        return found

    # -- changes (active segment only) ---------------------------------------------------
    def _append(self, a: int, b: int) -> None:
        if not self._active:
            raise RuntimeError(f"index {self.path} is sealed")
        self._buf += self.entry.pack(a, b)

    def truncate_entries(self, n: int) -> None:
        """Keep the first ``n`` entries."""
        if not self._active:
            raise RuntimeError(f"index {self.path} is sealed")
        if n < len(self):
            end = n * self.entry.size
            del self._buf[end:]
            try:
                self._rewrite()
            except OSError:  # (a full disk: every open cuts entries, which must not need room)
                with contextlib.suppress(OSError):
                    os.unlink(self.path + ".tmp")
                os.truncate(self.path, end)
                self._written = min(self._written, end)

    def drop_from(self, field_value: int) -> None:
        """Forget the entries whose second field (offset index: position; time index: relative
        offset) is ``field_value`` or more: they describe batches a failed write rolled back.
        Works on a full disk: the file is shortened in place when it cannot be rewritten."""
        size = self.entry.size
        end = len(self._buf)
        while end and self.entry.unpack_from(self._buf, end - size)[1] >= field_value:
            end -= size
        if end == len(self._buf):
            return
        del self._buf[end:]
        if self._written > end:
            try:
                self._rewrite()
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(self.path + ".tmp")
                os.truncate(self.path, end)
                self._written = end

    def _rewrite(self) -> None:
        """Replace the file with the entries in memory (tmp file, fsync, rename): a reader that
        mapped the old file keeps it; truncating in place would kill it with SIGBUS."""
        tmp = self.path + ".tmp"
        with open(tmp, "wb", opener=private_opener) as f:
            f.write(self._buf)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._written = len(self._buf)

    def flush(self, fsync: bool = False, *, below: int | None = None) -> None:
        """Append the entries not yet in the file. With ``below``, stop at the first entry
        whose second field (offset index: position; time index: relative offset) is not below
        it: entries of batches still only in memory must not reach the file before them."""
        if not self._active:
            return
        end = len(self._buf)
        if below is not None:
            size = self.entry.size
            while end > self._written and self.entry.unpack_from(self._buf, end - size)[1] >= below:
                end -= size  # entries are ordered: the ones to hold back are at the end
        if self._written < end:
            try:
                with open(self.path, "ab", opener=private_opener) as f:
                    f.write(self._buf[self._written : end])
                    if fsync:
                        os.fsync(f.fileno())
            except OSError:  # e.g. disk full: no torn entry may stay for the next append
                with contextlib.suppress(OSError):
                    os.truncate(self.path, self._written)
                raise
            self._written = end
        elif fsync and os.path.exists(self.path):
            with open(self.path, "ab", opener=private_opener) as f:
                os.fsync(f.fileno())

    def seal(self) -> None:
        """Write out and fsync; from now on the index is read-only and mapped on demand."""
        if self._active:
            if not os.path.exists(self.path):
                open(self.path, "wb", opener=private_opener).close()
            self.flush(fsync=True)
            self._active = False
            self._buf = None

    def close(self, write: bool = True) -> None:
        """Close, writing the entries not in the file yet unless ``write`` is false (an
        index about to be discarded)."""
        if self._active and write:
            self.flush()
        if isinstance(self._buf, mmap.mmap):
            self._buf.close()
        self._buf = None


class OffsetIndex(_SparseIndex):
    entry = _OFFSET_ENTRY

    def append(self, offset: int, position: int) -> None:
        self._append(offset - self.base_offset, position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """``(offset, position)`` of the last entry at or before ``offset``, else (base, 0)."""
        i = self._floor(offset - self.base_offset, 0)
        if i < 0:
            return self.base_offset, 0
        rel, pos = self._entry(i)
        return self.base_offset + rel, pos

    def last(self) -> tuple[int, int]:
        n = len(self)
        if n == 0:
            return self.base_offset, 0
        return self.at(n - 1)

    def at(self, i: int) -> tuple[int, int]:
        """``(offset, position)`` of entry ``i``."""
        rel, pos = self._entry(i)
        return self.base_offset + rel, pos

    def entries(self) -> list[tuple[int, int]]:
        return [(self.base_offset + r, p) for r, p in (self._entry(i) for i in range(len(self)))]


class TimeIndex(_SparseIndex):
    entry = _TIME_ENTRY

    def _follows(self, prev: tuple[int, int], entry: tuple[int, int]) -> bool:
        return entry[0] > prev[0] and entry[1] >= prev[1]  # (a batch's newer records)

    def append(self, timestamp: int, offset: int) -> None:
        self._append(timestamp, offset - self.base_offset)

    def lookup(self, timestamp: int) -> int:
        """Offset to start scanning from for the first record at or after ``timestamp``."""
        i = self._floor(timestamp - 1, 0)
        if i < 0:
            return self.base_offset
        return self.base_offset + self._entry(i)[1]

    def last(self) -> tuple[int, int] | None:
        """``(timestamp, offset)`` of the last entry."""
        n = len(self)
        if n == 0:
            return None
        ts, rel = self._entry(n - 1)
        return ts, self.base_offset + rel

    def entries(self) -> list[tuple[int, int]]:
        return [(t, self.base_offset + r) for t, r in (self._entry(i) for i in range(len(self)))]
