"""The exclusive write lock of a data directory.

An ``flock`` on ``<data>/.lock`` held for as long as the writer runs; the file holds the
writer's pid so a second writer can say who holds it. The kernel drops the lock when the
process dies, even by ``kill -9``, so a stale file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os

from hub.log import files
from hub.log.errors import LogLockedError


class DirectoryLock:
    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, files.LOCK_FILE)
        self._fd = -1

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, files.FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            if holder == str(os.getpid()):
                who = "this process (the log is already open here)"
            raise LogLockedError(os.path.dirname(self.path), who) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
