"""Failed writes: the error a partition raises after rolling back, and how it is logged.

A write that fails (disk full, I/O error) is rolled back by the partition to its last durable
offset (``Partition._roll_back``), then reported as a ``LogStorageError`` naming the directory,
the bytes it needed and the bytes free. While the disk stays full every flush fails again, so
the log line is rate-limited: the first failure is logged, then at most one line a minute with
the number of failures since.

Thread safety: ``ReportLimiter`` is used under the partition lock.
"""

from __future__ import annotations

import errno
import logging
import os
import time

from hub.log.errors import LogStorageError

log = logging.getLogger("hub.log")

REPORT_EVERY_S = 60.0


def free_bytes(directory: str) -> int:
    """Bytes an unprivileged writer may still use in ``directory``'s file system (-1: unknown)."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return -1
    return st.f_bavail * st.f_frsize


def storage_error(
    exc: BaseException, directory: str, path: str, needed: int, more: str = "",
    outcome: str | None = None,
) -> LogStorageError:  # fmt: skip
    """The LogStorageError for ``exc``, raised while writing ``needed`` bytes to ``path``
    (``more``: what else the reader must know, after the cause; ``outcome``: what the
    failure left, when it is not a write's rollback)."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.ENOSPC:
        cause = "no space left on device"
    elif code == errno.EDQUOT:
        cause = "disk quota exceeded"
    elif isinstance(exc, OSError):
        cause = exc.strerror or type(exc).__name__
    else:
        cause = f"{type(exc).__name__}: {exc}"
    return LogStorageError(
        directory, path, needed, free_bytes(directory), code, cause + more, outcome
    )


class ReportLimiter:
    """Logs the first failure at once, then at most one line every ``REPORT_EVERY_S``."""

    def __init__(self) -> None:
        self._last = -REPORT_EVERY_S
        self._suppressed = 0

    def report(
        self, err: LogStorageError, dropped_offsets: int | None, dropped_bytes: int = 0
    ) -> None:
        """``dropped_offsets`` None: nothing was rolled back (an index entry's write)."""
        now = time.monotonic()
        if now - self._last < REPORT_EVERY_S:
            self._suppressed += 1
            return
        since = f" ({self._suppressed} more failed writes since the last report)"
        dropped = (
            ""
            if dropped_offsets is None
            else f"; {dropped_offsets} records ({dropped_bytes} bytes) not yet durable were "
            "dropped (their producer gets this error)"
        )
        log.error("%s%s%s", err, dropped, since if self._suppressed else "")
        self._last = now
        self._suppressed = 0
