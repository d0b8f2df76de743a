"""A packed snapshot chunk's rows split for emission (both sources): runs of plain reads
(``source.snapshot`` "true"), written as packed batches without an object per row, and the
rows emitted one by one: those with a marker of their own (a table's first and last, the
snapshot's first and last) and those the codec declined."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator


def read_runs(
    start: int, end: int, rows: int, declined: Collection[int], marker: Callable[[int], str]
) -> Iterator[tuple[int, int, str | None]]:
    """For rows ``start..end-1`` of a chunk of ``rows`` rows, in order: ``(a, b, None)`` for a
    run of plain reads a..b-1, ``(i, i + 1, marker)`` for a row of its own. ``marker(i)`` is
    asked in row order, once per row that may have one (it can be stateful: the snapshot's
    first row)."""
    candidates = {0, rows - 1, start} | set(declined)
    run = start
    for i in sorted(c for c in candidates if start <= c < end):
        mark = marker(i)
        if mark == "true" and i not in declined:
            continue
        if run < i:
            yield run, i, None
        run = i + 1
        yield i, i + 1, mark
    if run < end:
        yield run, end, None
