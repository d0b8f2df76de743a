"""Updates and deletes of tables without a key, by their full old row (REPLICA IDENTITY FULL).

Each old row takes away exactly ONE target row equal to it, column by column with
``IS NOT DISTINCT FROM`` (NULL matches NULL), as PostgreSQL's apply worker does for such a
table; an old row no target row equals changes nothing. Identical old rows are staged once
with their count ``n``, and one statement numbers the matching rows of each (a window over the
target's row identifier, which the dialect names: DuckDB's ``rowid``, PostgreSQL's ``ctid``)
and takes the first ``n``:

    DELETE FROM t WHERE rowid IN (SELECT rid FROM (SELECT cur.rowid AS rid, s.n,
      row_number() OVER (PARTITION BY s.g) AS rn FROM t AS cur JOIN stage s ON cur.a IS NOT
      DISTINCT FROM s.a AND …) WHERE rn <= n)

Both sides go through the dialect's `match_expr` (PostgreSQL compares JSON as ``jsonb``: a
``json`` column has no ``=``). A column no old row holds NULL in is compared with ``=`` (the
same there), so the target can hash-join on it. Two distinct old rows never match the same
target row, so the groups cannot compete. With ``delete.mode=soft`` only live rows
(``__deleted`` not true) match; a delete marks its row, an update's old row is replaced
(deleted) as with hard deletes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connectors.sink.engine.batch import TableBatch
from connectors.sink.engine.dialect import Dialect, StagedColumn, TableInfo
from connectors.sink.engine.errors import SinkFatalError
from connectors.sink.engine.records import hashable
from connectors.sink.engine.types import INT64, Column, ColumnType

_G, _N = "__hub_g", "__hub_n"
# apply's `staged`: column-major canonical values of rows (passed in: apply imports this module)
Stager = Callable[[str, Sequence[Column], Sequence[Mapping[str, Any]]], list[StagedColumn]]


def remove(
    d: Dialect,
    tb: TableBatch,
    info: TableInfo,
    columns: Sequence[Column],
    staged: Stager,
    *,
    soft: bool,
) -> None:
    """Take away one target row per old row in ``tb.removed`` (before the batch's rows are
    written)."""
    if not tb.removed:
        return
    if d.row_id is None:
        raise SinkFatalError(
            f"table {tb.table} has no key, and this target has no row identifier to apply "
            "its updates and deletes by the old row; give the table a primary key"
        )
    if soft:  # updates replace a row, deletes mark one: two statements, in that order
        _remove(d, tb, info, columns, staged, [b for r, b in tb.removed if r], mark=False)
        _remove(d, tb, info, columns, staged, [b for r, b in tb.removed if not r], mark=True)
    else:
        _remove(d, tb, info, columns, staged, [b for _, b in tb.removed], mark=False)


def _remove(
    d: Dialect,
    tb: TableBatch,
    info: TableInfo,
    columns: Sequence[Column],
    staged: Stager,
    images: list[Mapping[str, Any]],
    *,
    mark: bool,
) -> None:
    if not images:
        return
    names = set().union(*(img.keys() for img in images))
    cols = [c for c in columns if c.name in names and c.name in info.columns]
    groups: dict[Any, int] = {}
    distinct: list[Mapping[str, Any]] = []
    counts: list[int] = []
    for img in images:
        k = hashable(tuple(img.get(c.name) for c in cols))
        i = groups.get(k)
        if i is None:
            groups[k] = len(distinct)
            distinct.append(img)
            counts.append(1)
        else:
            counts[i] += 1
    sc = staged(str(tb.table), cols, distinct)
    sc.append(StagedColumn(_G, ColumnType(INT64), list(range(len(distinct)))))
    sc.append(StagedColumn(_N, ColumnType(INT64), counts))
    rel = d.stage("old", sc)
    q, t, rid = d.quote, d.table_name(tb.table), d.row_id
    conds = []
    for c in sc[: len(cols)]:
        # '=' where no old row holds NULL (the same there, and it lets the target hash-join)
        op = "IS NOT DISTINCT FROM" if None in c.values else "="
        cur = d.match_expr(c, f"cur.{q(c.name)}")
        conds.append(f"{cur} {op} {d.match_expr(c, d.select_expr(c, f's.{q(c.name)}'))}")
    if "__deleted" in info.columns:  # a soft-deleted row is gone already
        conds.append(f"cur.{q('__deleted')} IS NOT TRUE")
    match = (
        f"SELECT cur.{rid} AS rid, s.{q(_N)} AS n, "
        f"row_number() OVER (PARTITION BY s.{q(_G)}) AS rn "
        f"FROM {t} AS cur JOIN {rel} AS s ON {' AND '.join(conds) or 'TRUE'}"
    )
    which = f"{rid} IN (SELECT rid FROM ({match}) AS m WHERE rn <= n)"
    if mark:
        d.execute(f"UPDATE {t} SET {q('__deleted')} = TRUE WHERE {which}")
    else:
        d.execute(f"DELETE FROM {t} WHERE {which}")
    d.unstage(rel)
