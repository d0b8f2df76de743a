"""Segment files that cannot belong to a partition are set aside, never adopted.

A ``.log`` file found in a partition directory is a segment only if it fits the sequence the
log itself writes: its first batch starts at or after the offset in its name, and the last
segment does not start before the one before it ends, since a roll opens it at the log end
offset (compacted topics excepted: the cleaner may have removed the previous segment's last
records). An empty last segment past the end of the one before is a roll's if its index
files exist (a roll makes them with it): the one before lost its tail since, and the empty
segment is kept, so the log end never moves back. A sealed segment without its offset
index (a roll killed before the seal wrote it) gets its indexes made again from its batches.
A stray one (a copy, a restored backup, a file named by hand such as ``…99999.log``) would otherwise
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


def _next_offset(directory: str, base: int) -> int | None:
    """The offset after the last batch of the (sealed) segment at ``base``; None: unknown."""
    from hub.log.segment import LogSegment

    seg = LogSegment(directory, base, index_interval=1 << 30, active=False)
    try:
        return seg.last_batch_next_offset()
    finally:
        seg.close()


def _rebuild_indexes(directory: str, base: int, interval: int) -> None:
    from hub.log.segment import LogSegment

    seg = LogSegment(directory, base, index_interval=interval, active=False)
    try:
        seg.rebuild_indexes()
    finally:
        seg.close()
    log.warning(
        "%s had no offset index (a roll stopped before it was written, or the file was "
        "lost): made again from its batches", files.segment_path(directory, base, files.LOG_SUFFIX),
    )  # fmt: skip


def _problem(directory: str, base: int, prev: int | None, last: bool, compact: bool) -> str:
    path = files.segment_path(directory, base, files.LOG_SUFFIX)
    first = _first_batch_base(path)
    if first is not None and first < base:
        return f"its first batch has offset {first}, below the offset {base} in its name"
    if not last:
        return ""
    if prev is not None and not compact:
        try:
            end = _next_offset(directory, prev)
        except InvalidBatchError:
            return ""  # damage in the segment before: a reader will report it
        if end is None:
            return ""  # (nothing readable in the one before: a reader reports it)
        if base < end:
            return f"it starts at offset {base}, but the segment before it ends at {end}"
        if base > end:
            rolled = first is None and os.path.exists(
                files.segment_path(directory, base, files.INDEX_SUFFIX)
            )  # (empty, and its index files made with it: a roll's; see LogSegment)
            if first != base and not rolled:  # a file named by hand
                return f"it starts at offset {base}, past the end ({end}) of the one before"
            # a roll's segment after one that lost its tail (damage): the newest, healthy
            # records (or the log end, if it is empty) stay: set aside, the log end would
            # move back and offsets be handed out twice
            log.warning(
                "%s ends at offset %d but the next segment starts at %d: offsets %d to %d "
                "are lost (damage in that segment)",
                files.segment_path(directory, prev, files.LOG_SUFFIX), end, base, end, base - 1,
            )  # fmt: skip
    return ""


def set_aside(
    directory: str, bases: list[int], compact: bool, index_interval: int = 4096
) -> tuple[list[int], int]:
    """``bases`` without the stray segments, which are renamed aside (and reported), and the
    highest offset those may have handed out (0 if none: a log left without segments starts
    there, not below offsets it handed out). The last segment is checked first, against the
    one before it, until one fits. A sealed segment without its offset index gets it made
    again."""
    bases = list(bases)
    strays = []
    for i, base in enumerate(bases[:-1]):
        if not os.path.exists(files.segment_path(directory, base, files.INDEX_SUFFIX)):
            # a roll's segment whose seal was cut short, or a file put there by hand (a copy,
            # a restored backup): only one that fits between its neighbours is this log's
            problem = _between(directory, bases, i)
            if problem:
                strays.append((base, problem))
            else:
                _rebuild_indexes(directory, base, index_interval)
    bases = [b for b in bases if b not in {base for base, _ in strays}]
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
    reach = max((_reach(directory, base) for base, _ in strays), default=0)
    for base, problem in strays:
        _quarantine(directory, base, problem)
    return kept, reach


def _between(directory: str, bases: list[int], i: int) -> str:
    """Why the sealed segment ``bases[i]`` without an index does not fit between the
    segment before (its batches must start at or after that one's end) and the one after
    (they must end at or before its base); "" when it fits."""
    first, last = _span(directory, bases[i])
    if i > 0:
        try:
            end = _next_offset(directory, bases[i - 1])
        except InvalidBatchError:
            end = None
        if end is not None and first is not None and first < end:
            return f"its first batch has offset {first}, inside the segment before it"
    if last is not None and last > bases[i + 1]:
        return f"its batches end at offset {last}, past the start of the next segment"
    return ""


def _reach(directory: str, base: int) -> int:
    """The highest offset a segment set aside may have handed out (its name's, or past its
    batches' headers, read as far as they go)."""
    first, found = _span(directory, base)
    if first is None or found is None:
        return base
    # (a first batch whose offset is damaged below the name: its span counted from the name)
    return max(base, found, base + found - first)


def _span(directory: str, base: int) -> tuple[int | None, int | None]:
    """(the first batch's offset, the highest offset after a batch) of the segment at
    ``base``, its headers read as far as they go; (None, None) without a batch."""
    from hub.log.segment import LogSegment

    first: int | None = None
    found: int | None = None
    seg = LogSegment(directory, base, index_interval=1 << 30, active=False)
    try:
        for _, header in seg.iter_batches(0):
            if first is None:
                first = header.base_offset
            found = max(found or 0, header.next_offset)
    except (InvalidBatchError, OSError):
        pass
    finally:
        seg.close()
    return first, found


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
