"""The exclusive write lock of a data directory.

An ``flock`` on ``<data>/.lock`` held for as long as the writer runs; the file holds the
writer's pid, so a second writer can say who holds it, and on a second line a random token of
this opening, which the writer's durable marks carry (hub.log.mark: a reader believes a mark
only while the lock file names its writer; pids repeat, a container's hub is always pid 1).
The kernel drops the lock when the process dies, even by ``kill -9``, so a stale file never
blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
import time

from hub.log import files
from hub.log.errors import LogLockedError


class DirectoryLock:
    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, files.LOCK_FILE)
        self._fd = -1

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, files.FILE_MODE)
        try:
            _flock_soon(fd, fcntl.LOCK_EX)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip().split("\n")[0]
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            if holder == str(os.getpid()):
                who = "this process (the log is already open here)"
            raise LogLockedError(os.path.dirname(self.path), who) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{os.urandom(8).hex()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


def _flock_soon(fd: int, kind: int, tries: int = 10) -> None:
    """``flock`` without waiting on a holder, tried a few times 20 ms apart: a reader's
    `held` probe holds the lock shared for an instant, and a writer starting then is not
    refused for it. BlockingIOError when it stays held."""
    for i in range(tries):
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if i == tries - 1:
                raise
            time.sleep(0.02)


def held(directory: str) -> bool:
    """Whether a writer holds the data directory's lock now (its flock: true of a writer in
    another container too, or of an older hub's, whose lock file names no token; a pid
    check cannot tell those)."""
    try:
        fd = os.open(os.path.join(directory, files.LOCK_FILE), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _named(directory: str) -> tuple[int | None, int | None]:
    """The pid and the token the lock file in ``directory`` names (None where it names none:
    no file, or a writer of an older hub, which writes its pid alone)."""
    try:
        with open(os.path.join(directory, files.LOCK_FILE), "rb") as f:
            lines = f.read(64).split(b"\n")
    except OSError:
        return None, None
    pid = int(lines[0]) if lines[0].isdigit() else None
    try:
        token = int(lines[1], 16) if len(lines) > 1 and lines[1] else None
    except ValueError:
        token = None
    return pid, token


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is there (another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # (alive, another user's)
    return True


def writer_token(directory: str) -> int | None:
    """The token of the writer the lock file in ``directory`` names (None: none, or a
    writer of an older hub, which writes its pid alone)."""
    return _named(directory)[1]


def live_writer_token(directory: str) -> int | None:
    """`writer_token`, while the process the lock file names lives: once its writer is gone
    (killed, crashed), everything in the files is what the next writer finds, not only what
    that one had made durable (its written bytes outlive it in the page cache)."""
    pid, token = _named(directory)
    if pid is None or (pid != os.getpid() and not pid_alive(pid)):
        return None
    return token


def writer_pid(directory: str) -> int | None:
    """The pid of another live process the lock file in ``directory`` names (the writer that
    has the log open, as far as a reader can tell without taking the lock: a pid the system
    gave again since can make this a false "open"), or None."""
    pid = _named(directory)[0]
    return pid if pid is not None and pid != os.getpid() and pid_alive(pid) else None
