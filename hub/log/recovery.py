"""What recovery cut, said out loud: the log line and the partition's recovery notes.

When the writer opens a partition it truncates the active segment at the first batch that is
torn, corrupt (CRC) or out of sequence, as Kafka does. That must never pass silently: the cut
is described by a ``Truncation`` (segment file, byte position, bytes cut, the first and last
offsets cut as far as intact batches past the damage show them), logged (an ERROR when
complete batches were lost, a WARNING for a torn last batch, the usual trace of a crash
before a flush) and kept in ``<partition>/recovery.json`` so ``hub topics describe`` shows
it after the log line has scrolled away. The file holds a JSON list of the last
``KEEP_NOTES`` cuts and of every older one with intact batches past it (readers read past
those offsets by its note), each ``Truncation.to_dict()`` plus ``"time_ms"``; it is replaced
atomically and readable by the owner only.

Thread safety: called by the partition while it opens, before anyone else can use it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from hub.log import batch as _batch
from hub.log import files
from hub.log.batch import InvalidBatchError

log = logging.getLogger("hub.log")

KEEP_NOTES = 10
_SEARCH_BYTES = 64 << 20  # past a cut, look this far (the file's end) for intact batches


@dataclass(frozen=True)
class Truncation:
    """A cut made by recovery: ``path`` was truncated to ``position`` (``bytes_cut`` bytes
    gone). ``first_offset`` is the first offset lost; ``last_offset`` the last offset of an
    intact batch found past the damage (None: no intact batch after it, e.g. a torn tail)."""

    path: str
    position: int
    bytes_cut: int
    first_offset: int
    last_offset: int | None
    reason: str

    @property
    def torn_tail(self) -> bool:
        """Only an incomplete last batch was cut: what a crash before a flush leaves."""
        return self.last_offset is None and "torn" in self.reason

    def describe(self) -> str:
        name = os.path.basename(self.path)
        if self.last_offset is None:
            what = f"offsets from {self.first_offset} (no intact batch after the damage)"
        else:
            n = self.last_offset - self.first_offset + 1
            what = f"offsets {self.first_offset}..{self.last_offset} ({n} records)"
        return (
            f"recovery cut {self.bytes_cut} bytes from {name} at byte {self.position}: "
            f"{what}; reason: {self.reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def last_intact_offset(fd: int, position: int, size: int) -> int | None:
    """The last offset of the last intact (CRC-checked) batch between ``position`` and
    ``size`` of the file, searching past damage byte by byte; None if there is none. Reads
    at most the file's last ``_SEARCH_BYTES`` bytes."""
    start = max(position, size - _SEARCH_BYTES)
    buf = os.pread(fd, size - start, start)
    magic_at = 16  # base offset (8), length (4), leader epoch (4), then magic
    last = None
    p = 0
    while p + _batch.HEADER_SIZE <= len(buf):
        if buf[p + magic_at] != 2:
            nxt = buf.find(b"\x02", p + magic_at + 1)
            if nxt < 0:
                break
            p = nxt - magic_at
            continue
        try:
            header = _batch.parse_header(buf, p, check_crc=True)
        except InvalidBatchError:
            p += 1
            continue
        last = header.last_offset
        p += header.size
    return last


def kept(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The notes to keep: the last `KEEP_NOTES`, and every cut with intact batches past it
    at any age (readers behind it read past its offsets by its note: `Partition._cut_gap`;
    rotated out, a group behind it was stuck again)."""
    recent = notes[-KEEP_NOTES:]
    old = [n for n in notes[:-KEEP_NOTES] if n.get("last_offset") is not None]
    return old + recent


def report(partition_dir: str, cut: Truncation) -> None:
    """Log the cut and add it to the partition's recovery notes."""
    if cut.torn_tail:
        log.warning("%s (a batch that was being written when the process stopped)",
                    cut.describe())  # fmt: skip
    else:
        log.error(
            "%s; the records cut are lost from this log: re-send them from their source "
            "if they were acknowledged (see 'hub topics describe')", cut.describe()
        )  # fmt: skip
    notes = read_notes(partition_dir)
    notes.append({**cut.to_dict(), "time_ms": time.time_ns() // 1_000_000})
    path = os.path.join(partition_dir, files.RECOVERY_NOTES)
    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, files.FILE_MODE)
        with os.fdopen(fd, "w") as f:
            json.dump(kept(notes), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        files.fsync_dir(partition_dir)
    except OSError as exc:  # the log line above still says it
        log.error("could not write %s: %s", path, exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def read_notes(partition_dir: str) -> list[dict[str, Any]]:
    """The partition's recovery notes, oldest first ([] when there are none or they are
    unreadable: they are a report, never needed to open the log)."""
    try:
        with open(os.path.join(partition_dir, files.RECOVERY_NOTES)) as f:
            notes = json.load(f)
    except (OSError, ValueError):
        return []
    return [n for n in notes if isinstance(n, dict)] if isinstance(notes, list) else []


def note_lines(partition_dir: str) -> tuple[str, ...]:
    """One line per recorded cut, for ``hub topics describe``."""
    out = []
    for n in read_notes(partition_dir):
        try:
            cut = Truncation(**{k: n[k] for k in Truncation.__dataclass_fields__})
        except (KeyError, TypeError):
            continue
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(n.get("time_ms", 0)) / 1000))
        out.append(f"{when} UTC {cut.describe()}")
    return tuple(out)
