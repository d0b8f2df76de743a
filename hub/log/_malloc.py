"""Keeps glibc from unmapping the log's big buffers as soon as they are freed.

glibc serves an allocation of 128 kB or more with its own ``mmap`` and, on ``free``,
``munmap``s it (or trims the heap top past ``M_TRIM_THRESHOLD``), so the next 1 MB records
section or COPY chunk page-faults its way in again: on the benchmark's VM, writing into fresh
1 MB buffers ran at 1.8 GB/s against 13 GB/s into reused ones, and a snapshot row's records
encoding took 1.17 µs instead of 0.59 µs. `tune` raises both thresholds once per process, so
big buffers come from the heap and freed ones are reused warm; the heap keeps at most
``_TRIM`` bytes of free memory at its top.

It also limits glibc to ``_ARENAS`` arena (``M_ARENA_MAX``; glibc's default is 8 per core).
Each thread otherwise takes its own, and a thread's arena grows by 64 MB heaps that glibc
unmaps as soon as one is wholly free, whatever the trim threshold: the task thread, whose
records sections the log's flusher frees, page-faulted ~15 times a call into fresh memory
(37 k faults, 0.33 s of system time in a 5 M-row snapshot; 0.8 k and 0.02 s with one arena).
Hub's threads allocate mostly with the GIL held, so they seldom contend for the arena's lock.
A user's ``MALLOC_ARENA_MAX`` (or ``glibc.malloc.arena_max`` tunable) wins. Linux with glibc
only; a no-op elsewhere.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_ARENAS = 1
_MMAP = 32 << 20  # allocations from 32 MB on still get their own mapping
_TRIM = 64 << 20
_done = False


def tune() -> None:
    """Once per process; ``HUB_MALLOC_TUNE=0`` leaves glibc's defaults alone."""
    global _done
    if _done or not sys.platform.startswith("linux") or os.environ.get("HUB_MALLOC_TUNE") == "0":
        return
    _done = True
    try:
        # the process's own symbols, libc's among them: ctypes.util.find_library would run
        # `ldconfig -p` in a subprocess (~4 ms of every start)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, _MMAP)
    mallopt(_M_TRIM_THRESHOLD, _TRIM)
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "MALLOC_ARENA_MAX" not in os.environ and "malloc.arena_max" not in tunables:
        # the user's own setting wins
        mallopt(_M_ARENA_MAX, _ARENAS)
