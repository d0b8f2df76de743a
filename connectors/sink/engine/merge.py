"""The default statements of `Dialect.merge` and `Dialect.upsert_values`: standard ``MERGE``,
which DuckDB (≥ 1.4), PostgreSQL (≥ 15), BigQuery, Snowflake and Redshift all run.

A batch's keyed changes are staged as ONE relation (the rows, then the deleted keys with their
other columns NULL, and a ``__hub_delete`` flag), applied by ONE statement::

    MERGE INTO t AS cur USING stage AS s ON cur.k = s.k
    WHEN MATCHED AND s.__hub_delete THEN DELETE            -- soft: UPDATE SET __deleted = TRUE
    WHEN MATCHED THEN UPDATE SET c = s.c, …                 -- kept: CASE WHEN s.__hub_keep_c
    WHEN NOT MATCHED AND NOT s.__hub_delete THEN INSERT (k, c, …) VALUES (s.k, s.c, …)

The staging relation holds at most one change per key (collapse), as ``MERGE`` requires.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.types import BOOLEAN, ColumnType

if TYPE_CHECKING:
    from connectors.sink.engine.dialect import Dialect, Merge, StagedColumn

DELETE_FLAG = "__hub_delete"
KEEP_PREFIX = "__hub_keep_"
_BOOL = ColumnType(BOOLEAN)


def staged_changes(m: Merge) -> list[StagedColumn]:
    """The rows, then the deleted keys (other columns NULL), a delete flag when there are
    deletes, and the keep marks: one relation."""
    from connectors.sink.engine.dialect import StagedColumn

    n, nd = m.count, len(m.deletes[0].values) if m.deletes else 0
    if not n:
        cols = list(m.deletes)
    else:
        dels = {c.name: c.values for c in m.deletes}
        none = [None] * nd
        cols = [StagedColumn(c.name, c.type, c.values + dels.get(c.name, none)) for c in m.rows]
    if nd:
        cols.append(StagedColumn(DELETE_FLAG, _BOOL, [False] * n + [True] * nd))
    for name, mask in m.keep.items():
        cols.append(StagedColumn(KEEP_PREFIX + name, _BOOL, [*mask, *([False] * nd)]))
    return cols


def merge(d: Dialect, m: Merge) -> None:
    q = d.quote
    cols = staged_changes(m)
    rel = d.stage("merge", cols)
    rows = cols[: len(m.rows)] if m.count else []
    exprs = {c.name: d.select_expr(c, f"s.{q(c.name)}") for c in rows}
    keys = d.key_exprs(m.key, cols, "s")
    kept = {n: m.kept_value(n, exprs[n]) for n in m.casts if n in exprs}
    sql = merge_sql(d, m.table, m.key, rel, exprs, deletes=bool(m.deletes), keep=m.keep,
                    soft=m.soft, keys=keys, kept=kept)  # fmt: skip
    d.execute(sql)
    d.unstage(rel)


def merge_sql(
    d: Dialect,
    table: TableRef,
    key: Sequence[str],
    rel: str,
    exprs: Mapping[str, str],
    *,
    deletes: bool,
    keep: Collection[str] = (),
    soft: bool = False,
    keys: Mapping[str, str] | None = None,
    kept: Mapping[str, str] | None = None,
) -> str:
    """The ``MERGE`` of staging relation ``rel`` (aliased ``s``: one change per key, a
    `DELETE_FLAG` column when ``deletes``) into ``table``; ``exprs``: column -> the expression
    of its new value (none: a relation of deletes only); ``keys``: key column -> its value as
    the target holds it (a decimal is staged unscaled; default: as staged); ``kept``: a kept
    column -> its new value's expression where it is not ``exprs``' (`Merge.kept_value`)."""
    q = d.quote
    on = " AND ".join(f"cur.{q(k)} = {keys[k] if keys else f's.{q(k)}'}" for k in key)
    sql = [f"MERGE INTO {d.table_name(table)} AS cur USING {rel} AS s ON {on}"]
    flag = f"s.{q(DELETE_FLAG)}"
    if deletes:
        if soft:
            sql.append(f"WHEN MATCHED AND {flag} THEN UPDATE SET {q('__deleted')} = TRUE")
        else:
            sql.append(f"WHEN MATCHED AND {flag} THEN DELETE")
    if exprs:
        sets = []
        for name, e in exprs.items():
            if name in key:
                continue
            if name in keep:  # an unchanged TOASTed value: the row's current one
                new = kept.get(name, e) if kept else e
                e = f"CASE WHEN s.{q(KEEP_PREFIX + name)} THEN cur.{q(name)} ELSE {new} END"
            sets.append(f"{q(name)} = {e}")
        if sets:
            sql.append(f"WHEN MATCHED THEN UPDATE SET {', '.join(sets)}")
        names = ", ".join(q(n) for n in exprs)
        only = f" AND NOT {flag}" if deletes else ""
        sql.append(
            f"WHEN NOT MATCHED{only} THEN INSERT ({names}) VALUES ({', '.join(exprs.values())})"
        )
    return " ".join(sql)


def upsert_values(
    d: Dialect,
    table: TableRef,
    key: Sequence[str],
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    replace: bool,
) -> None:
    if not rows:
        return
    q, p = d.quote, d.param
    first = "SELECT " + ", ".join(f"{p} AS {q(n)}" for n in names)
    more = " UNION ALL SELECT " + ", ".join([p] * len(names))
    source = first + more * (len(rows) - 1)
    on = " AND ".join(f"cur.{q(k)} = s.{q(k)}" for k in key)
    sql = f"MERGE INTO {d.table_name(table)} AS cur USING ({source}) AS s ON {on}"
    rest = [n for n in names if n not in key]
    if replace and rest:
        sql += " WHEN MATCHED THEN UPDATE SET " + ", ".join(f"{q(n)} = s.{q(n)}" for n in rest)
    values = ", ".join(f"s.{q(n)}" for n in names)
    sql += f" WHEN NOT MATCHED THEN INSERT ({', '.join(q(n) for n in names)}) VALUES ({values})"
    d.execute(sql, [v for row in rows for v in row])
