"""One batch's changes to one table, collapsed by key in offset order.

Collapse: for a keyed table only the last change per key survives (a later update replaces an
earlier one, a delete removes the row, a create after a delete writes it again); a truncate
drops what came before it in the batch and marks the table to be emptied first. A table with
no key is append only: every upsert is a new row, in order. The columns are the union of the
columns the batch's records carried. When a column's type changes inside a batch, the table's
changes are cut into two `TableBatch`es at that point, applied one after the other (in the same
transaction), so each value is read with the schema it was written with.

Not thread-safe: one batch is built and applied by one task thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.records import DELETE, TRUNCATE, UPSERT, Change
from connectors.sink.engine.types import Column
from connectors.sink.engine.unavailable import Unavailable


def _same(a: Column, b: Column) -> bool:
    """Same type, values read the same way (Time in millis and MicroTime are both TIME)."""
    if a.type != b.type:
        return False
    if a.convert is None or b.convert is None:
        return a.convert is b.convert
    return a.convert is b.convert or a.convert.__qualname__ == b.convert.__qualname__


@dataclass(slots=True)
class TableBatch:
    table: TableRef
    pk: tuple[str, ...] = ()
    truncate: bool = False
    keyed: dict[Any, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    appended: list[Mapping[str, Any]] = field(default_factory=list)
    columns: dict[str, Column] = field(default_factory=dict)
    unavailable: Unavailable | None = None
    _last_cols: tuple[Column, ...] | None = None

    def add(self, ch: Change) -> bool:
        """Take ``ch``; False (nothing taken) when a column's type differs from this batch's."""
        if ch.op == TRUNCATE:
            self.truncate = True
            self.keyed.clear()
            self.appended.clear()
            return True
        if ch.columns is not self._last_cols:
            if not self._merge(ch.columns):
                return False
            self._last_cols = ch.columns
        assert ch.row is not None
        if ch.key is None:
            if ch.op == UPSERT:
                self.appended.append(ch.row)
            return True
        if not self.pk:
            self.pk = ch.pk
        row = ch.row
        if ch.op == UPSERT and self.unavailable is not None:
            prev = self.keyed.get(ch.key)
            if prev is not None and prev[0] == UPSERT:  # unchanged TOAST values: keep them
                row = self.unavailable.fill(row, prev[1])
        self.keyed[ch.key] = (ch.op, row)
        return True

    def _merge(self, cols: tuple[Column, ...]) -> bool:
        have = self.columns
        for c in cols:
            old = have.get(c.name)
            if old is not None and old is not c and not _same(old, c):
                return False
        for c in cols:
            have.setdefault(c.name, c)
        return True

    def upserts(self) -> list[Mapping[str, Any]]:
        rows = [row for op, row in self.keyed.values() if op == UPSERT]
        return rows + self.appended

    def deletes(self) -> list[Mapping[str, Any]]:
        return [row for op, row in self.keyed.values() if op == DELETE]


def collapse(changes: list[Change], unavailable: Unavailable | None = None) -> list[TableBatch]:
    """Changes (in offset order) grouped per table and collapsed by key; a table's batches
    are in offset order."""
    out: list[TableBatch] = []
    open_: dict[TableRef, TableBatch] = {}
    for ch in changes:
        tb = open_.get(ch.table)
        if tb is None or not tb.add(ch):
            tb = open_[ch.table] = TableBatch(ch.table, unavailable=unavailable)
            out.append(tb)
            tb.add(ch)
    return out
