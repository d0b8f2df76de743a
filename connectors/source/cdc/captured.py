"""The tables a source's lists took at its last run, kept among its offsets, so that a start
can name the tables new to them.

A table added to ``table.include.list`` (or taken out of an exclude list, or a database added
to the captured ones) has its changes captured from the stored position on; the rows it held
before are not read, as in Debezium, where an incremental snapshot copies them. Without a
word they were missing from the sinks for good. A start that streams on from a stored
position now warns, naming those tables and the signal that copies their rows.

The set is the source partition's own offset (``{**partition, "captured": "tables"}``): a
short digest per table, written through an offset-only record whenever it changes (at a
start, and when a check while streaming finds tables made since), so it is stored with the
offsets of the records before it, never ahead of them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from connectors.source.cdc.filters import patterns
from hub.runtime.api import JsonMap, SourceRecord, offset_update

log = logging.getLogger(__name__)
R = TypeVar("R")

CHECK_S = 30.0  # how often a stream looks for tables made since (their changes are captured)
MAX_TABLES = 50_000  # past it the set is stored as unknown (its offset would pass 700 kB)
MAX_IDS = 10_000  # past it the tables' ids are not kept (~25 bytes a table in the offset)


# how to copy a table's rows while streaming, for the warnings
COPY_ROWS = (
    "copy them with an incremental snapshot: an execute-snapshot signal naming them (a row "
    "in signal.data.collection, or the console's snapshot form)"
)


def listed(names: Sequence[str], at_most: int = 10) -> str:
    """``names`` for a message: the first ``at_most`` joined, then how many more."""
    more = f" and {len(names) - at_most} more" if len(names) > at_most else ""
    return ", ".join(names[:at_most]) + more


def _digest(name: str) -> str:
    return hashlib.blake2b(name.encode(), digest_size=6).hexdigest()


_MISSING = object()  # (no set stored: a first start, or a task from before this)


class CapturedTables:
    """The captured tables' set of one source partition (its last stored one, and now)."""

    def __init__(self, connector: str, partition: JsonMap, stored: JsonMap | None) -> None:
        self.connector = connector
        self.partition: JsonMap = {**partition, "captured": "tables"}
        held = stored.get("tables", _MISSING) if stored else _MISSING
        # the set the last run stored: None when it was past MAX_TABLES (nothing compared)
        self.before: set[str] | None = (
            {str(d) for d in held} if isinstance(held, list) else None
        )  # fmt: skip
        # what is stored, or will be with the pending record (None: past MAX_TABLES)
        self._written: Any = self.before if held is not _MISSING else _MISSING
        self._pending: SourceRecord | None = None
        self._names: set[str] = set()  # the tables captured now (the last `update`'s)
        # column.include.list and column.exclude.list as the last run had them (None: a set
        # stored by an earlier hub, or none), and as this run has them
        lists = stored.get("columns") if stored else None
        self.lists_before: tuple[str, str] | None = (
            (str(lists[0]), str(lists[1])) if isinstance(lists, list) and len(lists) == 2 else None
        )  # fmt: skip
        self._lists = self.lists_before
        # the tables' ids (PostgreSQL's OIDs) by digest, as the last run stored them and as
        # they are now: a table dropped and made again under its name has another
        ids = stored.get("ids") if stored else None
        self._ids_before: dict[str, int] = (
            {str(k): int(v) for k, v in ids.items()} if isinstance(ids, dict) else {}
        )  # fmt: skip
        self._ids: dict[str, int] = dict(self._ids_before)
        # tables whose changes were not captured for a while, and why (`missed`): told of at
        # the next start, then dropped
        missed = stored.get("missed") if stored else None
        self._missed: dict[str, str] = (
            {str(k): str(v) for k, v in missed.items()} if isinstance(missed, dict) else {}
        )  # fmt: skip

    @classmethod
    def of(cls, context: Any, partition: JsonMap) -> CapturedTables:
        """The set stored for ``partition`` among the task's offsets (`SourceTaskContext`)."""
        stored = context.offset({**partition, "captured": "tables"})
        return cls(context.connector, partition, stored)

    def start(
        self, tables: Iterable[str], *, streams_on: bool, told: Collection[str] = (),
        existed: Callable[[str], bool] | None = None,
        column_lists: tuple[str, str] = ("", ""),
        columns: Callable[[str], Sequence[str]] | None = None,
        ids: Mapping[str, int] | None = None,
    ) -> list[str]:  # fmt: skip
        """Note the tables the lists take at this start; when the start streams on from a
        stored position (no snapshot reads them), warn of those the last run did not capture
        (but those in ``told``, warned of already, and those ``existed`` says were made after
        the stored position: their rows are all in the stream) and return them. Without
        ``existed`` (PostgreSQL: nothing says when a table was made) the warning says that
        a table made while the connector was stopped needs no copy.

        ``column_lists`` are this run's column.include.list and column.exclude.list; when
        they changed since the last run, the columns of the tables captured before that they
        keep now and did not keep then (of ``columns``: a table's columns but its key's,
        which are always kept) are warned of too.

        ``ids``: the tables' ids (PostgreSQL's OIDs); one held before under another id was
        dropped and made again while the connector was stopped, which nothing else says:
        warned of."""
        names = sorted(set(tables))
        if columns is not None or not streams_on:  # (else compared at a later start)
            self._lists = column_lists
        new: list[str] = []
        if streams_on and self.before is not None:
            new = [
                n for n in names
                if _digest(n) not in self.before and n not in told
                and (existed is None or existed(n))
            ]  # fmt: skip
        if new:
            many = len(new) > 1
            shown = listed(new)
            its, it = ("their", "they") if many else ("its", "it")
            if existed is not None:
                why = (
                    f"new to the lists since the last run: {its} changes from the stored "
                    f"position on reach the topics, but the rows {it} held before are not "
                    f"read; {COPY_ROWS}"
                )
            else:
                why = (
                    "new to the lists since the last run, or made while the connector was "
                    f"stopped: {its} changes from the stored position on reach the topics; "
                    f"rows {it} held before that position (left out by the lists until now) "
                    f"are not read: {COPY_ROWS} (one made while the connector was stopped "
                    "needs none: its rows are all in the stream)"
                )
            log.warning("%s: %s captured from now on, %s", self.connector, shown, why)
        if self._missed:
            for name, why in sorted(self._missed.items()):
                log.warning(
                    "%s: %s: its changes for a while were not captured (%s); they are not in "
                    "the topics: %s", self.connector, name, why,
                    COPY_ROWS.replace("copy them", "copy its rows again"),
                )  # fmt: skip
            self._missed = {}
            self.update(names, force=True)
        if streams_on and ids is not None and self._ids_before:
            again = [
                n for n in names if n not in new and n in ids
                and self._ids_before.get(_digest(n), ids[n]) != ids[n]
            ]  # fmt: skip
            if again:
                shown = listed(again)
                log.warning(
                    "%s: %s dropped and created again while the connector was stopped: the "
                    "sinks keep the rows the old table had; its changes from the stored "
                    "position on reach the topics. Empty its table in the sinks, then %s",
                    self.connector, shown, COPY_ROWS.replace("copy them", "copy its rows"),
                )  # fmt: skip
        if streams_on and columns is not None and self.lists_before not in (None, column_lists):
            assert self.lists_before is not None
            self._new_columns(
                [n for n in names if n not in new and self._held(n)], columns, self.lists_before
            )  # fmt: skip
        self.update(names, force=self._lists != self.lists_before, ids=ids)
        return new

    def missed(self, tables: Iterable[str], why: str) -> list[SourceRecord]:
        """Note that ``tables``' changes were not captured for a while (``why``), to be told
        of at the next start, whatever stops this run: the set's record to store at once."""
        self._missed.update(dict.fromkeys(tables, why))
        self.update(self._names, force=True)
        return self.take()

    def _held(self, name: str) -> bool:
        return self.before is not None and _digest(name) in self.before

    def _new_columns(
        self, names: Sequence[str], columns: Callable[[str], Sequence[str]],
        before: tuple[str, str],
    ) -> None:  # fmt: skip
        """Warn of the columns the column lists keep now and did not keep at the last run:
        their values reach the topics as rows change, the rows before keep none."""
        was, now = _column_filter(before), _column_filter(self._lists or ("", ""))
        added = [
            f"{n}.{c}" for n in names for c in columns(n)
            if now(f"{n}.{c}") and not was(f"{n}.{c}")
        ]  # fmt: skip
        if not added:
            return
        shown = listed(added)
        log.warning(
            "%s: column(s) %s captured from now on (column.include.list or column.exclude.list "
            "changed since the last run): a row's value reaches the topics when the row "
            "changes; the rows the sinks hold keep none (null) until then: %s",
            self.connector, shown, COPY_ROWS.replace("copy them", "copy their rows"),
        )  # fmt: skip

    def update(
        self, tables: Iterable[str], *, force: bool = False, ids: Mapping[str, int] | None = None
    ) -> None:
        """The tables captured now (a check while streaming: tables made since are captured
        from their first change); written at the next `take` when the set changed (or
        ``force``: the column lists did). Past MAX_TABLES the set stored says so (None), and
        no start compares."""
        names = self._names = set(tables)
        value = {_digest(n) for n in names} if len(names) <= MAX_TABLES else None
        if ids is not None and value is not None:
            now = (
                {_digest(n): int(i) for n, i in ids.items() if n in names}
                if len(names) <= MAX_IDS else {}
            )  # fmt: skip
            force = force or now != self._ids
            self._ids = now
        if value == self._written and not force:
            return
        if value is None:
            log.info("%s: more than %d captured tables: a table new to the lists is not told "
                     "of at a restart", self.connector, MAX_TABLES)  # fmt: skip
        self._written = value
        self._pending = offset_update(
            self.partition,
            {
                "tables": sorted(value) if value is not None else None,
                **({"columns": list(self._lists)} if self._lists is not None else {}),
                **({"missed": dict(self._missed)} if self._missed else {}),
                **({"ids": dict(self._ids)} if self._ids and value is not None else {}),
            },
        )

    def with_set(self, records: Sequence[R]) -> Sequence[R | SourceRecord]:
        """A poll's ``records`` with a changed set's record first (the poll's last record
        stays the one of the task's position); a poll of none carries none."""
        if records and self._pending is not None:
            return [*self.take(), *records]
        return records

    def take(self) -> list[SourceRecord]:
        """The offset-only record of a changed set, once (to put among a poll's records)."""
        out, self._pending = self._pending, None
        return [out] if out is not None else []


def _column_filter(lists: tuple[str, str]) -> Callable[[str], bool]:
    """Whether column.include.list and column.exclude.list as ``lists`` keep a column
    (``<ns>.<table>.<column>``), as `Filters.column` does."""
    include = patterns("column.include.list", lists[0])
    exclude = patterns("column.exclude.list", lists[1])
    return lambda name: (
        (not include or any(p.fullmatch(name) for p in include))
        and not any(p.fullmatch(name) for p in exclude)
    )
