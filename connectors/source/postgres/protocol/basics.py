"""What the PostgreSQL source needs of the replication protocol before it streams, without
pgoutput's message classes (`pgoutput` re-exports these): an LSN's text form and the
placeholder of an unchanged TOASTed value. A snapshot, the first thing a new connector does,
then starts without building pgoutput's eighteen message dataclasses (~8 ms)."""

from __future__ import annotations

import select
from typing import Final

__all__ = ["UNCHANGED_TOAST", "lsn_to_str", "readable", "str_to_lsn"]


def readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has data to read within ``timeout`` seconds: poll(2), which takes any
    descriptor (select(2) refuses those from 1 024 on, which a worker of many open segments
    reaches once hub raised its limit of open files)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(timeout, 0.0) * 1000))


def lsn_to_str(lsn: int) -> str:
    """Format an LSN the way PostgreSQL does: ``0x16B374D848`` -> ``"16/B374D848"``."""
    if not 0 <= lsn < 1 << 64:
        raise ValueError(f"LSN {lsn} is outside 0..2**64-1")
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def str_to_lsn(text: str) -> int:
    """Parse ``"16/B374D848"`` into an integer LSN; raises ``ValueError`` on anything else."""
    high, sep, low = text.strip().partition("/")
    if not sep or not high or not low or len(high) > 8 or len(low) > 8:
        raise ValueError(f"{text!r} is not an LSN; expected two hex numbers like '16/B374D848'")
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an LSN; expected two hex numbers like '16/B374D848'"
        ) from None


class _UnchangedToast:
    """The type of `UNCHANGED_TOAST`."""

    _instance: _UnchangedToast | None = None

    def __new__(cls) -> _UnchangedToast:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"

    def __reduce__(self) -> str:
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST: Final = _UnchangedToast()
"""Stands for a TOASTed value the change left alone: the server did not send it."""
