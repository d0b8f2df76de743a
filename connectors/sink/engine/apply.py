"""Apply one collapsed `TableBatch` inside the open transaction: stage, then a few statements.

Order: truncate (``DELETE FROM t``), deletes (``DELETE … USING`` the staged keys), then the
rows: ``INSERT … SELECT … ON CONFLICT (key) DO UPDATE`` when the table's primary key is the
batch's key, ``DELETE … USING`` + ``INSERT … SELECT`` when the table has no such constraint,
and a plain ``INSERT … SELECT`` for ``insert.mode=insert`` and tables without a key. Deletes
and upserts of one batch never share a key (collapse), so their order cannot matter.
Soft deletes (``delete.mode=soft``) set ``__deleted = TRUE`` instead of deleting, and written
rows get ``__deleted = FALSE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from connectors.sink.engine.batch import TableBatch
from connectors.sink.engine.dialect import Dialect, StagedColumn, TableInfo, qualified, quote
from connectors.sink.engine.errors import SinkFatalError
from connectors.sink.engine.types import BOOLEAN, Column, ColumnType

DELETED = Column("__deleted", ColumnType(BOOLEAN))


def staged(
    table: str, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]
) -> list[StagedColumn]:
    """Column-major canonical values of ``rows`` (a missing column is NULL)."""
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
    rows = tb.upserts()
    if not rows:
        return
    cols = list(columns)
    stage_cols = staged(name, cols, rows)
    if soft:
        cols.append(DELETED)
        stage_cols.append(StagedColumn(DELETED.name, DELETED.type, [False] * len(rows)))
    rel = d.stage("up", stage_cols)
    names = ", ".join(quote(c.name) for c in cols)
    exprs = ", ".join(d.select_expr(sc, f"{rel}.{quote(sc.name)}") for sc in stage_cols)
    insert = f"INSERT INTO {t} ({names}) SELECT {exprs} FROM {rel}"
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
