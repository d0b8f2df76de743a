"""One batch's changes to one table, collapsed by key in offset order.

Collapse: for a keyed table only the last change per key survives (a later update replaces an
earlier one, a delete removes the row, a create after a delete writes it again); a truncate
drops what came before it in the batch and marks the table to be emptied first. With
``insert.mode=insert`` (`keep_all`) a key's upserts since its last delete are each kept, a row
of its own, as one change at a time inserts them. A table with
no key appends every upsert as a new row, in order; an update or delete that carries the full
old row (REPLICA IDENTITY FULL) first takes away ONE row equal to it: a row appended earlier
in the batch when one is (it is dropped, or marked dead for a soft delete), else one of the
target's rows (`removed`, applied before the batch's rows: what the batch appended was found
first). An old row is compared on its own columns only, a column an appended row lacks
reading as NULL, as the target compares it (a column added or dropped mid-batch changes
nothing). The columns are the union of the columns the batch's records carried. When a
column's type changes inside a batch, the table's changes are cut into two `TableBatch`es at
that point, applied one after the other (in the same transaction), so each value is read with
the schema it was written with.

Not thread-safe: one batch is built and applied by one task thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.records import DELETE, TRUNCATE, UPSERT, Change, hashable
from connectors.sink.engine.types import DECIMAL, Column
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
    # keyless tables with old images: rows of the target to take away, (replaced?, old row)
    removed: list[tuple[bool, Mapping[str, Any]]] = field(default_factory=list)
    dead: set[int] = field(default_factory=set)  # appended rows deleted later in the batch
    gone: set[int] = field(default_factory=set)  # appended rows replaced later in the batch
    _images: list[Mapping[str, Any] | None] = field(default_factory=list)
    # old-image column names -> image projected on them -> appended rows (built when needed)
    _indexes: dict[tuple[str, ...], dict[Any, list[int]]] = field(default_factory=dict)
    columns: dict[str, Column] = field(default_factory=dict)
    nulls: set[str] = field(default_factory=set)  # schemaless rows' null fields (`Change`)
    unavailable: Unavailable | None = None
    _last_cols: tuple[Column, ...] | None = None
    # keys deleted earlier in the batch and written again: a new row, whose columns the
    # change does not carry are NULL (not the old row's), so apply deletes them first
    replaced: set[Any] = field(default_factory=set)
    # keys whose row is known to hold the placeholder in these columns only (none: every
    # value is real, an insert's, a snapshot read's, an update's of hub's sources naming
    # none: `Change.exact`, `Change.held`); other keys: a value equal to a placeholder is one
    held: dict[Any, frozenset[str]] = field(default_factory=dict)
    # re-keyed rows (`Change.moved_from`) left holding placeholders: new key -> the fields of
    # the old key whose target row has their values (`apply` copies it under the new key
    # before the batch's merge deletes it); the rows of keys the batch deleted after writing
    # them (a re-keyed row's create takes its values from its old key's row); the keys of
    # the batch by their values as the target holds them (built on a first re-keyed row
    # whose old key is not found as the header spells it: a decimal key, say)
    moves: dict[Any, Mapping[str, Any]] = field(default_factory=dict)
    _dropped: dict[Any, Mapping[str, Any]] = field(default_factory=dict)
    _by_value: dict[Any, Any] | None = None
    # the batch's schemas, numbered as they come: the last one carrying each column, and the
    # one of each row taken after the first (by id: the rows live as long as the batch)
    _schema: int = 0
    _carried: dict[str, int] = field(default_factory=dict)
    _row_schemas: dict[int, int] = field(default_factory=dict)
    # the schemas seen (their columns), and whether one came back after another: records of
    # several partitions interleaved, so the batch's order is not the order of the changes
    _seen: set[tuple[str, ...]] = field(default_factory=set)
    _last_names: tuple[str, ...] = ()
    _interleaved: bool = False
    # insert.mode=insert: every upsert is a row of its own (a history table, a warehouse
    # that enforces no key keeps each); the earlier upserts of a key since its last delete
    # in the batch, which its last one does not replace
    keep_all: bool = False
    earlier: dict[Any, list[Mapping[str, Any]]] = field(default_factory=dict)
    # delete.mode=soft: a delete of a key the batch wrote starts the next batch (collapsed
    # here, the row was never written and so never marked: it vanished)
    soft: bool = False

    def add(self, ch: Change) -> bool:
        """Take ``ch``; False (nothing taken) when a column's type differs from this batch's,
        or when it is keyed and the batch holds keyless changes, or the other way round, or
        keyed by other columns (a primary key dropped or added): `apply` runs a batch's
        keyless removals, keyed writes and keyless appends each together, so changes on
        either side of such a change must not share a batch."""
        if ch.op != TRUNCATE and (
            (self.keyed and (ch.key is None or (ch.pk and self.pk and ch.pk != self.pk)))
            or (ch.key is not None and (self.appended or self.removed))
        ):  # fmt: skip
            return False
        if self.soft and ch.op == DELETE and ch.key is not None and (
            ch.key in self.earlier
            or ((prev := self.keyed.get(ch.key)) is not None and prev[0] == UPSERT)
        ):  # fmt: skip
            return False
        if self.soft and ch.op == TRUNCATE and (self.appended or self.has_upserts()):
            return False  # (the same: the rows before it land, then are marked)
        if ch.op == TRUNCATE:
            self.truncate = True
            self.keyed.clear()
            self.earlier.clear()
            self.appended.clear()
            self.removed.clear()
            self.dead.clear()
            self.gone.clear()
            self._images.clear()
            self._indexes.clear()
            self.replaced.clear()
            self.held.clear()
            self.moves.clear()
            self._dropped.clear()
            self._by_value = None
            self._row_schemas.clear()
            return True
        if ch.columns is not self._last_cols:
            if not self._merge(ch.columns):
                return False
            self._last_cols = ch.columns
            self._schema += 1
            for c in ch.columns:
                self._carried[c.name] = self._schema
            names = tuple(c.name for c in ch.columns)
            if names in self._seen and names != self._last_names:
                self._interleaved = True
            self._seen.add(names)
            self._last_names = names
        assert ch.row is not None
        if ch.nulls:
            self.nulls.update(ch.nulls)
        if ch.key is None:
            if ch.before is not None:
                self._remove(ch.before, replace=ch.op == UPSERT)
            if ch.op == UPSERT:
                if self._indexes and ch.image is not None:
                    i, image = len(self.appended), ch.image
                    for names, index in self._indexes.items():
                        index.setdefault(_project(image, names), []).append(i)
                self.appended.append(ch.row)
                self._images.append(ch.image)
                if self._schema > 1:
                    self._row_schemas[id(ch.row)] = self._schema
            return True
        if not self.pk:
            self.pk = ch.pk
        row = ch.row
        prev = self.keyed.get(ch.key)
        known = self._known(ch, prev)
        if ch.op == UPSERT:
            if prev is not None and prev[0] == UPSERT:
                if self.unavailable is not None and not ch.exact:  # unchanged TOAST values
                    row = self.unavailable.fill(row, prev[1], ch.held)  # keep them
                if self.keep_all:  # (a row of its own: what it does not carry, it lacks)
                    self.earlier.setdefault(ch.key, []).append(prev[1])
                elif prev[1].keys() != row.keys():  # columns this change does not carry keep
                    row = {**prev[1], **row}  # the earlier change's values, as the target would
            else:
                if prev is not None:
                    self.replaced.add(ch.key)
                    if self.moves:  # (written anew: not from where it was once moved from)
                        self.moves.pop(ch.key, None)
                if ch.moved_from is not None and self.unavailable is not None:
                    row = self._moved(ch.key, row, ch.moved_from)
        else:
            if self.earlier:
                self.earlier.pop(ch.key, None)  # (the delete takes every row of the key)
            if prev is not None and prev[0] == UPSERT and self.unavailable is not None:
                self._dropped[ch.key] = prev[1]  # (its `moves` entry stays, for a later move)
        self.keyed[ch.key] = (ch.op, row)
        if self._by_value is not None:
            self._by_value.setdefault(self._value_key(row), ch.key)
        if self._schema > 1:
            self._row_schemas[id(row)] = self._schema
        if known is not None:
            self.held[ch.key] = known
        elif self.held:
            self.held.pop(ch.key, None)
        return True

    def _known(
        self, ch: Change, prev: tuple[str, Mapping[str, Any]] | None
    ) -> frozenset[str] | None:
        """The columns ``ch``'s row holds the placeholder in once written over ``prev`` (the
        key's earlier change in the batch), when that is known."""
        if ch.op != UPSERT:
            return None
        if ch.exact:
            return frozenset()
        if ch.held is None:
            return None
        if prev is None or prev[0] != UPSERT:
            return ch.held
        before = self.held.get(ch.key)
        if before is None:
            return None  # (what it takes from the earlier row may be placeholders)
        return (ch.held & before) | (before - ch.row.keys() if ch.row is not None else before)

    def _moved(
        self, key: Any, row: Mapping[str, Any], header: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """A re-keyed row's create (``row``, under ``key``) with its placeholders taken from
        its old key's row: the one written earlier in the batch, if any; what that leaves
        unavailable comes from the target's row of the old key (`moves`), or of the key
        that row was itself moved from."""
        assert self.unavailable is not None
        if not self.pk or not self.unavailable.holds(row) or any(k not in header for k in self.pk):
            return row
        old = {k: self._header_value(k, header[k]) for k in self.pk}
        if self._value_key(old) is None:
            return row  # (not a key of this table's key columns: nothing to copy from)
        source: Mapping[str, Any] = old
        found = self._find(old)
        if found is not None:
            prev = self.keyed[found]
            held = prev[1] if prev[0] == UPSERT else self._dropped.get(found)
            if held is not None:
                row = self.unavailable.fill(row, held)
                source = self.moves.get(found, old)
        if self.unavailable.holds(row):
            self.moves[key] = source
        return row

    def _header_value(self, name: str, v: Any) -> Any:
        """A key value as a header spells it, as the key's record spells it: a decimal is
        its text (Connect's SimpleHeaderConverter, hub's sources), not base64."""
        c = self.columns.get(name)
        if type(v) is str and c is not None and c.type.kind == DECIMAL:
            try:
                return Decimal(v)
            except ArithmeticError:
                return v
        return v

    def _find(self, old: Mapping[str, Any]) -> Any:
        """The batch's key of the row an old-key header names, or None."""
        key = hashable(tuple(old[k] for k in self.pk))
        if key in self.keyed:
            return key
        if self._by_value is None:
            self._by_value = {}
            for k, (op, row) in self.keyed.items():
                held = row if op == UPSERT else self._dropped.get(k, row)
                self._by_value.setdefault(self._value_key(held), k)
        return self._by_value.get(self._value_key(old))

    def _value_key(self, row: Mapping[str, Any]) -> Any:
        """A row's key as the target holds it (each key column's `Column.convert`)."""
        out = []
        for k in self.pk:
            v, c = row.get(k), self.columns.get(k)
            if v is not None and c is not None and c.convert is not None:
                try:
                    v = c.convert(v)
                except (ValueError, TypeError, KeyError, ArithmeticError):
                    return None
            out.append(v)
        return hashable(tuple(out))

    def _remove(self, before: Mapping[str, Any], replace: bool) -> None:
        names = tuple(sorted(before))
        index = self._indexes.get(names)
        if index is None:  # the first old row of these columns: index what came so far
            index = self._indexes[names] = {}
            for i, image in enumerate(self._images):
                if image is not None and i not in self.dead and i not in self.gone:
                    index.setdefault(_project(image, names), []).append(i)
        hits = index.get(_project(before, names))
        while hits:  # rows taken by an old row of other columns are still listed here
            i = hits.pop()
            if i not in self.dead and i not in self.gone:
                (self.gone if replace else self.dead).add(i)
                return
        self.removed.append((replace, before))

    def _merge(self, cols: tuple[Column, ...]) -> bool:
        have = self.columns
        for c in cols:
            old = have.get(c.name)
            if old is not None and old is not c and not _same(old, c):
                return False
        for c in cols:
            have.setdefault(c.name, c)
        return True

    def missing(self, row: Mapping[str, Any], column: Column) -> Any:
        """The value of ``column`` in a ``row`` of this batch that does not carry it: the
        column's default when a later schema of the batch carries it (added after the row
        was written, the source's ``ADD COLUMN`` gave the row its default), else NULL
        (dropped before: the source never held a value there). When schemas came back in
        the batch (partitions interleaved), which came first is not known: the default, as
        for a column added (the common case)."""
        if self._interleaved:
            return column.default
        if self._row_schemas.get(id(row), 1) < self._carried.get(column.name, 0):
            return column.default
        return None

    def has_upserts(self) -> bool:
        return any(op == UPSERT for op, _ in self.keyed.values())

    def upserts(self) -> list[Mapping[str, Any]]:
        """The keyed rows to write (the last change of their key; with `keep_all`, the
        earlier ones too)."""
        last = [row for op, row in self.keyed.values() if op == UPSERT]
        if not self.earlier:
            return last
        return [row for rows in self.earlier.values() for row in rows] + last

    def upserts_held(self) -> list[frozenset[str] | None]:
        """For each of `upserts`: the columns that hold the placeholder, when known (none:
        every value is real)."""
        held = self.held
        earlier: list[frozenset[str] | None] = [None] * sum(map(len, self.earlier.values()))
        return earlier + [held.get(k) for k, (op, _) in self.keyed.items() if op == UPSERT]

    def appends(self, soft: bool = False) -> list[Mapping[str, Any]]:
        """The rows of a table without key to append (deleted ones only when ``soft`` keeps
        them, `dead_marks` tells which)."""
        if not self.dead and not self.gone:
            return self.appended
        drop = self.gone if soft else self.gone | self.dead
        return [r for i, r in enumerate(self.appended) if i not in drop]

    def dead_marks(self) -> list[bool]:
        """For ``appends(soft=True)``: which rows are deleted (soft) already."""
        return [i in self.dead for i in range(len(self.appended)) if i not in self.gone]

    def moved(self) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        """The re-keyed rows to copy from the target's row of their old key, as (the new
        row, the old key's fields), each while its last change writes it."""
        keyed = self.keyed
        return [(keyed[k][1], old) for k, old in self.moves.items() if keyed[k][0] == UPSERT]

    def deletes(self) -> list[Mapping[str, Any]]:
        return [row for op, row in self.keyed.values() if op == DELETE]

    def rewritten(self, moved: bool = True) -> list[Mapping[str, Any]]:
        """The rows of keys deleted and written again in the batch (see `replaced`); without
        ``moved``, not those a re-keyed row takes from its old key's row (`moves`)."""
        keyed, moves = self.keyed, self.moves if not moved else {}
        return [keyed[k][1] for k in self.replaced if keyed[k][0] == UPSERT and k not in moves]


def _project(row: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    """``row``'s values of ``names`` (a missing column is NULL), hashable."""
    return hashable(tuple(row.get(n) for n in names))


def collapse(
    changes: list[Change],
    unavailable: Unavailable | None = None,
    keep_all: bool = False,
    soft: bool = False,
) -> list[TableBatch]:
    """Changes (in offset order) grouped per table and collapsed by key (with ``keep_all``,
    insert.mode=insert: each upsert kept, `TableBatch.earlier`; with ``soft``, soft
    deletes: a delete of a key written in the batch opens the next); a table's batches are
    in offset order."""
    out: list[TableBatch] = []
    open_: dict[TableRef, TableBatch] = {}
    for ch in changes:
        tb = open_.get(ch.table)
        if tb is None or not tb.add(ch):
            tb = open_[ch.table] = TableBatch(
                ch.table, unavailable=unavailable, keep_all=keep_all, soft=soft
            )
            out.append(tb)
            tb.add(ch)
    return out
