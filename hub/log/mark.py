"""Where a partition's durable data ends, as its writer publishes it for read-only readers.

The writer makes batches durable by writing them and then fsyncing the file: between the two,
and after a failed write cuts the file back (hub.log.partition's rollback), the file holds
bytes that are not durable. A read-only reader in another process sees only the file; served
those bytes, it delivered records the writer then took back and gave other records the same
offsets. So after each fsync the writer publishes its durable end in ``durable.mark``: the
active segment's base offset, the byte position in it, the next offset and the token of the
writer's opening (hub.log.lock), with a CRC. The file is rewritten in place and never
fsynced: a reader sees the page cache, and after a power loss the file is older (or missing)
and the writer rewrites it when it opens the partition. A reader scans no further than the
mark (see `Partition._scan_tail`), while the data directory's lock file names the mark's
writer and that process lives; with no mark, one of another writer (an older hub, which
writes none, has had the directory since), or its writer gone (killed: what it wrote
outlives it, and is what the next writer finds), it scans to the end of the file.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
import zlib

from hub.log import files
from hub.log.lock import live_writer_token, writer_token

MARK_FILE = "durable.mark"
# segment base offset, byte position in it, next offset, and the writer's token: a mark is
# believed only while the data directory's lock file names the same writer (an older hub,
# which writes no mark, may have appended since: its readers stopped at the stale mark)
_BODY = struct.Struct("<qqqQ")
_CRC = struct.Struct("<I")
_SIZE = _BODY.size + _CRC.size
_TORN_RETRIES = 50  # a read that met a write half-way is read again


Mark = tuple[int, int, int]


class MarkWriter:
    """The writer's side: `publish` after each fsync (partition lock held)."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, MARK_FILE)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, files.FILE_MODE)
        self._last: Mark | None = None
        # (the lock file, written when the writer took the directory: <data>/<topic>/<p>)
        self._token = writer_token(os.path.dirname(os.path.dirname(directory))) or 0

    def publish(self, base: int, position: int, next_offset: int) -> None:
        mark = (base, position, next_offset)
        if mark == self._last or self._fd < 0:
            return
        body = _BODY.pack(*mark, self._token)
        try:
            os.pwrite(self._fd, body + _CRC.pack(zlib.crc32(body)), 0)
        except OSError:  # readers see less until the next publish: never more than is durable
            self._last = None
            return
        self._last = mark

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


class MarkReader:
    """A read-only reader's side: `read` the last mark published (None when there is none)."""

    def __init__(self, directory: str) -> None:
        """``directory``: the partition's, in ``<data>/<topic>/``."""
        self.path = os.path.join(directory, MARK_FILE)
        self.data_dir = os.path.dirname(os.path.dirname(directory))
        self._fd = -1
        self._last: Mark | None = None

    def read(self) -> Mark | None:
        """The mark now; the one read before while a write keeps tearing the read (or the
        writer has made the file and not written it yet)."""
        if self._fd >= 0 and not self._same_file():  # (the topic deleted and made again)
            self.close()
            self._last = None
        if self._fd < 0:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return None
        for _ in range(_TORN_RETRIES):
            data = os.pread(self._fd, _SIZE, 0)
            if len(data) < _SIZE:
                return self._last
            body = data[: _BODY.size]
            if _CRC.unpack_from(data, _BODY.size)[0] == zlib.crc32(body):
                base, position, next_offset, token = _BODY.unpack(body)
                if not token or token != live_writer_token(self.data_dir):
                    # (another writer since, or none alive: the files are all there is)
                    return None
                self._last = (base, position, next_offset)
                return self._last
            time.sleep(0.0001)
        return self._last

    def _same_file(self) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(self._fd)
        return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
