"""Apply one collapsed `TableBatch` inside the open transaction: stage, then a few statements.

Order: truncate (``DELETE FROM t``), deletes (``DELETE … USING`` the staged keys), the old
rows that updates and deletes of a keyless table take away (`keyless`), then the rows:
``INSERT … SELECT … ON CONFLICT (key) DO UPDATE`` when the table's primary key is the batch's
key, ``DELETE … USING`` + ``INSERT … SELECT`` when the table has no such constraint,
and a plain ``INSERT … SELECT`` for ``insert.mode=insert`` and tables without a key. Deletes
and upserts of one batch never share a key (collapse), so their order cannot matter.
Soft deletes (``delete.mode=soft``) set ``__deleted = TRUE`` instead of deleting, and written
rows get ``__deleted = FALSE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from connectors.sink.engine import keyless
from connectors.sink.engine.batch import TableBatch
from connectors.sink.engine.dialect import Dialect, StagedColumn, TableInfo, qualified, quote
from connectors.sink.engine.errors import SinkFatalError
from connectors.sink.engine.types import ARRAY, BOOLEAN, BYTES, JSON, STRING, Column, ColumnType
from connectors.sink.engine.unavailable import Unavailable

DELETED = Column("__deleted", ColumnType(BOOLEAN))
_TOASTABLE = {STRING, JSON, BYTES, ARRAY}


def staged(
    table: str,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    unavailable: Unavailable | None = None,
    keep: dict[str, list[bool]] | None = None,
) -> list[StagedColumn]:
    """Column-major canonical values of ``rows`` (a missing column is NULL). With
    ``unavailable`` and ``keep``, placeholder values become NULL and ``keep[column]`` marks
    the rows whose current value must stay."""
    names = [c.name for c in columns]
    values: list[Sequence[Any]]
    try:  # rows of one schema have every column: transpose in C
        if len(names) == 1:
            values = [[row[names[0]] for row in rows]]
        elif rows:
            values = list(zip(*map(itemgetter(*names), rows), strict=True))
        else:
            values = [[] for _ in names]
    except KeyError:
        values = [[row.get(n) for row in rows] for n in names]
    out = []
    for c, vals in zip(columns, values, strict=True):
        toastable = keep is not None and unavailable is not None and c.type.kind in _TOASTABLE
        if toastable and unavailable is not None and keep is not None and unavailable.any_in(vals):
            mask = [unavailable.is_placeholder(v) for v in vals]
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


def _match(pk: Sequence[str], a: str, b: str) -> str:
    return " AND ".join(f"{a}.{quote(k)} = {b}.{quote(k)}" for k in pk)


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
    t = qualified(tb.table)
    name = str(tb.table)
    if tb.truncate:
        d.execute(f'UPDATE {t} SET "__deleted" = TRUE' if soft else f"DELETE FROM {t}")
    pk = tb.pk
    deletes = tb.deletes()
    if deletes:
        by_name = {c.name: c for c in columns}
        key_cols = [by_name[k] for k in pk]
        rel = d.stage("del", staged(name, key_cols, deletes))
        cond = _match(pk, t, rel)
        if soft:
            d.execute(f'UPDATE {t} SET "__deleted" = TRUE FROM {rel} WHERE {cond}')
        else:
            d.execute(f"DELETE FROM {t} USING {rel} WHERE {cond}")
        d.unstage(rel)
    keyless.remove(d, tb, info, columns, staged, soft=soft)
    rows = tb.upserts(soft)
    if not rows:
        return
    cols = list(columns)
    keyed_upsert = bool(pk and upsert and tb.keyed and tuple(info.pk) == tuple(pk))
    keep: dict[str, list[bool]] = {}
    stage_cols = staged(name, cols, rows, unavailable, keep if keyed_upsert else None)
    if soft:
        cols.append(DELETED)
        marks_ = tb.dead_marks() if tb.dead else [False] * len(rows)
        stage_cols.append(StagedColumn(DELETED.name, DELETED.type, marks_))
    marks = [StagedColumn(f"__hub_keep_{c}", ColumnType(BOOLEAN), m) for c, m in keep.items()]
    rel = d.stage("up", stage_cols + marks)
    names = ", ".join(quote(c.name) for c in cols)
    exprs = []
    for sc in stage_cols:
        e = d.select_expr(sc, f"{rel}.{quote(sc.name)}")
        if sc.name in keep:  # an unchanged TOASTed value: the row's current one
            mark = f"{rel}.{quote('__hub_keep_' + sc.name)}"
            e = f"CASE WHEN {mark} THEN cur.{quote(sc.name)} ELSE {e} END"
        exprs.append(e)
    source = rel
    if keep:
        source = f"{rel} LEFT JOIN {t} AS cur ON {_match(pk, 'cur', rel)}"
    insert = f"INSERT INTO {t} ({names}) SELECT {', '.join(exprs)} FROM {source}"
    if pk and upsert and tb.keyed:
        if tuple(info.pk) == tuple(pk):
            rest = [c.name for c in cols if c.name not in pk]
            on = ", ".join(quote(k) for k in pk)
            if rest:
                sets = ", ".join(f"{quote(n)} = EXCLUDED.{quote(n)}" for n in rest)
                insert += f" ON CONFLICT ({on}) DO UPDATE SET {sets}"
            else:
                insert += f" ON CONFLICT ({on}) DO NOTHING"
        else:  # the table has no primary key on these columns: replace the rows
            d.execute(f"DELETE FROM {t} USING {rel} WHERE {_match(pk, t, rel)}")
    d.execute(insert)
    d.unstage(rel)
