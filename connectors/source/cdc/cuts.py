"""Snapshot cuts: the streamed changes a resumed snapshot already read.

A fresh snapshot reads every table in the database snapshot of the stream's start position,
so the stream from there has neither a gap nor an overlap with it. A snapshot resumed after
a crash (or re-taken by ``snapshot.mode=always`` while streaming goes on from its stored
position) reads the rest in a *new* database snapshot, consistent at a later position P,
while the stream still starts at the first position: the changes committed in between come
twice, once in the rows read and once streamed.

For a table with a primary key that is harmless: each change is an upsert or a delete by
key, so a replay ends in the latest row (and the deletes it replays remove rows the first
attempt emitted after its stored offset, which the log keeps). A table without one is
different: a sink appends its rows, so a row read and then streamed again stays twice, and
nothing says which rows of an earlier attempt still stand. So a resumed snapshot reads each
keyless table it has not finished whole: first a truncate event (what earlier attempts
emitted of it goes), then every row in the new database snapshot; and the stream drops
every change to it that commits before P (the table's *cut*), since the read holds them.

Positions are the source's own, compared as the source orders them: an LSN, or a binlog
``[file, pos]``. The cuts are dropped once the stream is past the last of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.source.cdc.captured import listed

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SnapshotCuts:
    """Per table without a key that a snapshot attempt read whole: the position its database
    snapshot was consistent at (changes to it that commit before are dropped)."""

    positions: Mapping[str, Any] = field(default_factory=dict)

    def extended(self, tables: Iterable[str], position: Any) -> SnapshotCuts:
        """After an attempt that reads ``tables`` whole in a snapshot at ``position``."""
        return SnapshotCuts({**self.positions, **dict.fromkeys(tables, position)})

    def position(self, table: str) -> Any:
        """The position before which changes to ``table`` are dropped (None: none are)."""
        return self.positions.get(table)

    def passed(self, position: Any) -> bool:
        """Is the stream at ``position`` past every cut (they can be dropped)?"""
        keys = [_key(p) for p in self.positions.values()]
        return not keys or _key(position) >= max(keys)

    def __bool__(self) -> bool:
        return bool(self.positions)

    def to_json(self) -> dict[str, Any]:
        return dict(self.positions)

    @classmethod
    def load(cls, data: Mapping[str, Any] | None) -> SnapshotCuts:
        return cls(dict(data or {}))


def _key(position: Any) -> Any:
    """A position as it orders: an LSN as is; a binlog [file, pos] by the file's number (not
    its name: binlog.999999 comes before binlog.1000000), then the position."""
    if isinstance(position, (list, tuple)):
        file, pos = position
        base, _, number = str(file).rpartition(".")
        return (base, int(number) if number.isdigit() else -1, str(file), int(pos))
    return position


def precedes(position: Any, cut: Any) -> bool:
    """Does ``position`` come before ``cut`` (as the source orders them)?"""
    return bool(_key(position) < _key(cut))


def truncated(tables: Sequence[tuple[str, bool]], start: int) -> list[str]:
    """The tables without a key among ``tables`` ((qualified name, has a key), in the order
    the snapshot reads them) from index ``start`` (the table a resumed snapshot goes on
    with) on: a snapshot that is not the connector's first reads each of them whole, after
    a truncate event (a sink may hold rows an earlier attempt emitted)."""
    return [n for n, keyed in tables[start:] if not keyed]


def key_changed(table: str, stored: Sequence[str] | None, now: Sequence[str]) -> bool:
    """Whether a resumed snapshot's position in ``table`` (``stored``: the columns it is of,
    empty for a table without a key, None when the offset does not say) is of other columns
    than the table's key ``now`` (a primary key added, dropped or changed while the task was
    stopped): the position then means nothing, and the table is read again from its start;
    had it no key, after a truncate event too (see `truncated`): the sinks appended its rows
    read before."""
    if stored is None or list(stored) == list(now):
        return False
    was = f"({', '.join(stored)})" if stored else "none"
    log.warning(
        "the primary key of %s changed while the snapshot stopped in it (it was %s, it is "
        "(%s)): it is read again from its start%s", table, was, ", ".join(now) or "none",
        ", after a truncate event (its rows read before came without a key)" if not stored
        else ", after a truncate event (without a key, the sinks append its rows)" if not now
        else "",
    )  # fmt: skip
    return True


def written_before(
    connector: str, tables: Sequence[tuple[str, bool, str]], written: Callable[[str], bool]
) -> list[str]:
    """The tables without a key, among ``tables`` ((qualified name, has a key, topic)), whose
    topics were written to before, for a snapshot without a stored position (the connector
    renamed, its offsets reset): read after a truncate event, as after an earlier attempt
    (`truncated`), since the sinks may hold their rows already. Said in a warning."""
    out = [name for name, keyed, topic in tables if not keyed and written(topic)]
    if out:
        shown = listed(out)
        log.warning(
            "%s: no stored position, but the topics of %s (without a primary key) hold records "
            "already (the connector renamed? its offsets reset?): they are read after a "
            "truncate event, so that the sinks do not hold their rows twice", connector, shown,
        )  # fmt: skip
    return out
