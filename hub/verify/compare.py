"""Comparing a source table with its sink table, both streamed as comparable tuples.

Pass 1 streams both sides once and computes, per side, the row count and an order-independent
checksum: the sum, modulo 2**64, of a 64-bit BLAKE2b digest of each row's ``repr``. Equal
counts and sums mean equal multisets of rows (but for a 2**-64 chance). Only when they differ,
pass 2 reads the sink's rows into a map (key -> rows; for a table without a key the whole row
is the key) and streams the source against it, to name the first ``limit`` differences:
rows missing in the sink, rows the sink has in excess, and rows whose values differ (with the
columns that differ). Memory: constant in pass 1; the sink table's rows in pass 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

from hub.verify.api import Row, SourceTable, TargetTable

MASK64 = (1 << 64) - 1


@dataclass
class TableResult:
    source: str  # schema.table in the source
    target: str  # the sink's table
    source_rows: int
    target_rows: int
    equal: bool
    differences: list[str] = field(default_factory=list)
    note: str = ""
    error: str = ""  # why the table could not be compared (then no counts)


def _digest(row: Row) -> int:
    return int.from_bytes(blake2b(repr(row).encode(), digest_size=8).digest(), "little")


def _summary(rows: Iterable[Row]) -> tuple[int, int]:
    n = total = 0
    for row in rows:
        n += 1
        total = (total + _digest(row)) & MASK64
    return n, total


def compare(source: SourceTable, target: TargetTable, limit: int = 10) -> TableResult:
    if not target.exists:
        n = source.count()
        return TableResult(
            source.name, target.name, n, 0, n == 0,
            [] if n == 0 else [f"the sink has no table {target.name}"],
        )  # fmt: skip
    n_source, sum_source = _summary(source.rows())
    n_target, sum_target = _summary(target.rows())
    result = TableResult(source.name, target.name, n_source, n_target, False)
    notes = list(source.lossy)
    if target.extra:
        notes.append(f"the sink has columns the source has not: {', '.join(target.extra)}")
    result.note = "; ".join(notes)
    if n_source == n_target and sum_source == sum_target and not target.missing:
        result.equal = True
        return result
    if target.missing:  # (its values read as NULL: equal rows when the source's are NULL)
        result.differences.append(f"the sink has no column {', '.join(target.missing)}")
    if n_source != n_target or sum_source != sum_target:
        result.differences += _differences(source, target, limit)
    return result


def _show_key(names: tuple[str, ...], key: tuple[Any, ...]) -> str:
    return ", ".join(f"{n}={_show(v)}" for n, v in zip(names, key, strict=True))


def _show(v: Any) -> str:
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
        v = v[1]  # a tagged value: its payload
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _differences(source: SourceTable, target: TargetTable, limit: int) -> Iterator[str]:
    names = tuple(c.name for c in source.columns)
    key_at = [names.index(k) for k in source.key] if source.key else list(range(len(names)))
    key_names = tuple(names[i] for i in key_at)

    def key_of(row: Row) -> tuple[Any, ...]:
        return tuple(row[i] for i in key_at)

    sink: dict[tuple[Any, ...], list[Row]] = {}
    for row in target.rows():
        sink.setdefault(key_of(row), []).append(row)
    found = 0
    for row in source.rows():
        key = key_of(row)
        rows = sink.get(key)
        if rows and row in rows:
            rows.remove(row)
            continue
        if found >= limit:
            return
        found += 1
        if not rows:
            yield f"missing in the sink: {_show_key(key_names, key)}"
            continue
        other = rows.pop(0)
        cols = [
            f"{n} (source {_show(a)}, sink {_show(b)})"
            for n, a, b in zip(names, row, other, strict=True)
            if a != b
        ]
        yield f"differs at {_show_key(key_names, key)}: {'; '.join(cols)}"
    for key, rows in sink.items():
        for _ in rows:
            if found >= limit:
                return
            found += 1
            yield f"not in the source: {_show_key(key_names, key)}"
