"""Apply one collapsed `TableBatch` inside the open transaction, through the dialect.

Order: a truncate (`Dialect.truncate`), the old rows that updates and deletes of a keyless
table take away (`keyless`), the keyed changes — upserts and deletes of the batch's key, at
most one per key — as one `Merge` (`Dialect.merge`), and the appended rows of a table without
key (`Dialect.insert`). With ``insert.mode=insert`` keyed rows are inserted too (a key already
in the table is the target's error). Soft deletes (``delete.mode=soft``) set ``__deleted =
TRUE`` instead of deleting, and written rows get ``__deleted = FALSE``. Which statements run
is the dialect's: this module only decides what is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from connectors.sink.engine import keyless
from connectors.sink.engine.batch import TableBatch
from connectors.sink.engine.dialect import Dialect, Merge, StagedColumn, TableInfo
from connectors.sink.engine.errors import SinkFatalError
from connectors.sink.engine.types import (
    ARRAY,
    BITS,
    BOOLEAN,
    BYTES,
    DECIMAL,
    JSON,
    STRING,
    VDECIMAL,
    Column,
    ColumnType,
)
from connectors.sink.engine.unavailable import Unavailable

# (added to a table that has rows, delete.mode switched to soft: they are live, so false)
DELETED = Column("__deleted", ColumnType(BOOLEAN), None, False)
# the kinds of PostgreSQL's variable-length types, which TOAST may store out of line
_TOASTABLE = {STRING, JSON, BYTES, ARRAY, DECIMAL, VDECIMAL, BITS}


def staged(
    table: str,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    unavailable: Unavailable | None = None,
    keep: dict[str, list[bool]] | None = None,
    held: Callable[[], list[frozenset[str] | None]] | None = None,
    missing: Callable[[Mapping[str, Any], Column], Any] | None = None,
) -> list[StagedColumn]:
    """Column-major canonical values of ``rows`` (a missing column is NULL). With ``keep``
    (keyed upserts), a row that does not carry a column keeps the target's value, as with one
    change at a time (``keep[column]`` marks those rows), and with ``unavailable`` too do
    placeholder values (staged as NULL) but where ``held()`` says a row holds the
    placeholder in other columns only, or in none (inserts, snapshot reads).
    ``missing(row, column)`` is the value of a column a row does not carry (default: the
    column's default)."""
    names = [c.name for c in columns]
    values: list[Sequence[Any]]
    try:  # rows of one schema have every column: transpose in C
        if len(names) == 1:
            values = [[row[names[0]] for row in rows]]
        elif rows:
            values = list(zip(*map(itemgetter(*names), rows), strict=True))
        else:
            values = [[] for _ in names]
    except KeyError:  # (a row that does not carry a column: `missing`)
        values = [
            [row[c.name] if c.name in row else (missing(row, c) if missing else c.default)
             for row in rows]
            for c in columns
        ]  # fmt: skip
        if keep is not None:  # rows of several schemas: what one does not carry, it keeps
            for n in names:
                lacks = [n not in row for row in rows]
                if any(lacks):
                    keep[n] = lacks
    out = []
    known: list[frozenset[str] | None] | None = None
    for c, vals in zip(columns, values, strict=True):
        toastable = keep is not None and unavailable is not None and c.type.kind in _TOASTABLE
        if toastable and unavailable is not None and keep is not None and unavailable.any_in(vals):
            mask = [unavailable.is_placeholder(v) for v in vals]
            if held is not None:  # (asked only here: a placeholder-like value is rare)
                known = known if known is not None else held()
                name = c.name
                mask = [m and (h is None or name in h) for m, h in zip(mask, known, strict=True)]
            if c.name in keep:
                mask = [a or b for a, b in zip(mask, keep[c.name], strict=True)]
            keep[c.name] = mask
            vals = [None if m else v for v, m in zip(vals, mask, strict=True)]
        conv = c.convert
        col: list[Any] = list(vals)
        if conv is not None:
            try:
                col = [None if v is None else conv(v) for v in vals]
            except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
                raise SinkFatalError(
                    f"table {table}, column {c.name} ({c.type}): a value cannot be read: {exc!r}"
                ) from None
        out.append(StagedColumn(c.name, c.type, col))
    return out


OLD_PREFIX = "__hub_old_"


def copy_moved(
    d: Dialect,
    tb: TableBatch,
    info: TableInfo,
    keys: Sequence[Column],
    moved: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
) -> None:
    """Copy the target's row of each re-keyed row's old key under its new key (`TableBatch.
    moves`), before the batch's deletes and merge: the merge then keeps the values the
    re-keyed row's create holds as unchanged-TOAST placeholders, as it does for an update
    (they had become NULL: no row under the new key held them). Two statements, each reading
    the old rows as the statement found them: an INSERT of the new keys the table lacks, then
    an UPDATE of those it has (a key another move leaves, or one the batch deletes), so that
    keys moved round (a swap, a shift) each get the row that was under their old key."""
    name = str(tb.table)
    new = staged(name, keys, [row for row, _ in moved])
    old = [
        StagedColumn(OLD_PREFIX + c.name, c.type, c.values)
        for c in staged(name, keys, [old for _, old in moved])
    ]  # fmt: skip
    rel = d.stage("moved", [*new, *old])
    q, table = d.quote, d.table_name(tb.table)
    pairs = zip(tb.pk, old, strict=True)
    on = " AND ".join(f"o.{q(k)} = {d.select_expr(c, f's.{q(c.name)}')}" for k, c in pairs)
    rest = [n for n in info.columns if n not in tb.pk]
    picked = [f"{d.select_expr(c, f's.{q(c.name)}')} AS {q(c.name)}" for c in new]
    picked += [f"o.{q(n)} AS {q(n)}" for n in rest]
    rows = f"(SELECT {', '.join(picked)} FROM {rel} AS s JOIN {table} AS o ON {on}) AS m"
    there = " AND ".join(f"cur.{q(k)} = m.{q(k)}" for k in tb.pk)
    names = ", ".join(q(n) for n in [*tb.pk, *rest])
    d.execute(
        f"INSERT INTO {table} ({names}) SELECT {', '.join(f'm.{q(n)}' for n in [*tb.pk, *rest])} "
        f"FROM {rows} WHERE NOT EXISTS (SELECT 1 FROM {table} AS cur WHERE {there})"
    )
    if rest:
        sets = ", ".join(f"{q(n)} = m.{q(n)}" for n in rest)
        d.execute(f"UPDATE {table} AS cur SET {sets} FROM {rows} WHERE {there}")
    d.unstage(rel)


def apply(
    d: Dialect,
    tb: TableBatch,
    info: TableInfo,
    columns: Sequence[Column],
    *,
    upsert: bool,
    soft: bool,
    unavailable: Unavailable | None = None,
) -> None:
    name = str(tb.table)
    if tb.truncate:
        d.truncate(tb.table, soft=soft)
    keyless.remove(d, tb, info, columns, staged, soft=soft)
    cols = list(columns)
    plain: list[Mapping[str, Any]] = []  # rows to insert as they are
    if tb.pk and tb.keyed:
        by_name = {c.name: c for c in cols}
        deletes = tb.deletes()
        dels = staged(name, [by_name[k] for k in tb.pk], deletes) if deletes else []
        rows = tb.upserts()
        moved = tb.moved() if upsert else []
        if moved:  # (first: a later delete may take an old key's row)
            copy_moved(d, tb, info, [by_name[k] for k in tb.pk], moved)
        rewritten = tb.rewritten(moved=False) if upsert and not soft else []
        if rewritten:
            # deleted and written again: a new row, not an update of the old one, which
            # matters only for target columns a row does not carry (they must be NULL)
            target = {n.casefold() for n in info.columns} - {DELETED.name}
            rewritten = [
                r for r in rewritten if not target <= {n.casefold() for n in r}
            ]  # fmt: skip
        if rewritten:
            gone = staged(name, [by_name[k] for k in tb.pk], rewritten)
            d.merge(Merge(tb.table, tb.pk, [], gone, {}, False, False))
        if upsert:
            keep: dict[str, list[bool]] = {}
            up = (
                staged(name, cols, rows, unavailable, keep, tb.upserts_held, tb.missing)
                if rows
                else []
            )
            if soft and up:
                up.append(StagedColumn(DELETED.name, DELETED.type, [False] * len(rows)))
            constraint = tuple(info.pk) == tuple(tb.pk)
            casts = {
                n: info.columns[n] for n in keep
                if n in info.columns and info.columns[n] != d.sql_type(by_name[n].type)
            }  # fmt: skip
            d.merge(Merge(tb.table, tb.pk, up, dels, keep, soft, constraint, casts))
        else:
            if dels:
                d.merge(Merge(tb.table, tb.pk, [], dels, {}, soft, False))
            again = tb.rewritten() if not soft else []
            if again:  # deleted and inserted again in the batch: the delete first (collapsed
                # away, it had left the old row for the INSERT to collide with)
                gone = staged(name, [by_name[k] for k in tb.pk], again)
                d.merge(Merge(tb.table, tb.pk, [], gone, {}, False, False))
            plain = rows
    appended = tb.appends(soft)
    if plain or appended:
        stage_cols = staged(name, cols, plain + appended, missing=tb.missing)
        if soft:
            marks = [False] * len(plain) + (tb.dead_marks() if tb.dead else [False] * len(appended))
            stage_cols.append(StagedColumn(DELETED.name, DELETED.type, marks))
        d.insert(tb.table, stage_cols)
