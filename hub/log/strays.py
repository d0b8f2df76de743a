"""Segment files that cannot belong to a partition are set aside, never adopted.

A ``.log`` file found in a partition directory is a segment only if it fits the sequence the
log itself writes: its first batch starts at or after the offset in its name; a sealed
(not last) segment has its offset index, which sealing always writes; and the last segment
starts where the one before it ends, since a roll opens it at the log end offset (compacted
topics excepted: the cleaner may have removed the previous segment's last records). A stray
one (a copy, a restored backup, a file named by hand such as ``…99999.log``) would otherwise
move the log end or hide records; the writer renames it and its index files to
``<name>.quarantined`` and logs a warning naming it.

Thread safety: called by the writer while it opens a partition, before anyone else uses it.
"""

from __future__ import annotations

import logging
import os

from hub.log import batch as _batch
from hub.log import files
from hub.log.batch import InvalidBatchError

log = logging.getLogger("hub.log")


def _first_batch_base(path: str) -> int | None:
    with open(path, "rb") as f:
        head = f.read(_batch.LENGTH_PREFIX)
    peek = _batch.peek_length(head, 0)
    return peek[0] if peek is not None else None


def _next_offset(directory: str, base: int) -> int:
    """The offset after the last batch of the (sealed) segment at ``base``."""
    from hub.log.segment import LogSegment

    seg = LogSegment(directory, base, index_interval=1 << 30, active=False)
    try:
        return seg.last_batch_next_offset()
    finally:
        seg.close()


def _problem(directory: str, base: int, prev: int | None, last: bool, compact: bool) -> str:
    path = files.segment_path(directory, base, files.LOG_SUFFIX)
    first = _first_batch_base(path)
    if first is not None and first < base:
        return f"its first batch has offset {first}, below the offset {base} in its name"
    if not last:
        if not os.path.exists(files.segment_path(directory, base, files.INDEX_SUFFIX)):
            return "it has no offset index, which every sealed segment has"
        return ""
    if prev is not None and not compact:
        try:
            end = _next_offset(directory, prev)
        except InvalidBatchError:
            return ""  # damage in the segment before: a reader will report it
        if base != end:
            return f"it starts at offset {base}, but the segment before it ends at {end}"
    return ""


def set_aside(directory: str, bases: list[int], compact: bool) -> list[int]:
    """``bases`` without the stray segments, which are renamed aside (and reported). The
    last segment is checked first, against the one before it, until one fits."""
    bases = list(bases)
    strays = []
    while bases:
        prev = bases[-2] if len(bases) > 1 else None
        problem = _problem(directory, bases[-1], prev, True, compact)
        if not problem:
            break
        strays.append((bases.pop(), problem))
    kept = []
    for base in bases[:-1]:
        problem = _problem(directory, base, None, False, compact)
        if problem:
            strays.append((base, problem))
        else:
            kept.append(base)
    kept.extend(bases[-1:])
    for base, problem in strays:
        _quarantine(directory, base, problem)
    return kept


def _quarantine(directory: str, base: int, problem: str) -> None:
    for suffix in files.SEGMENT_SUFFIXES:
        path = files.segment_path(directory, base, suffix)
        if os.path.exists(path):
            target = path + files.QUARANTINE_SUFFIX
            n = 1
            while os.path.exists(target):
                n += 1
                target = f"{path}{files.QUARANTINE_SUFFIX}.{n}"
            os.replace(path, target)
    files.fsync_dir(directory)
    log.warning(
        "set aside %s as %s%s: it does not belong to this partition (%s); hub ignores "
        "it from now on: look at it, then delete it",
        files.segment_path(directory, base, files.LOG_SUFFIX), files.offset_name(base),
        files.LOG_SUFFIX + files.QUARANTINE_SUFFIX, problem,
    )  # fmt: skip
