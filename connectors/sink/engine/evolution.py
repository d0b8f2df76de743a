"""Schema evolution: make a target table able to take a batch's columns.

``schema.evolution=basic``: a missing table is created with the mapped types and the batch's
key as its primary key; a missing column is added (nullable; the rows the table has get the
field schema's default, as the source's got it); a column whose type is narrower
than the incoming one is widened when a type holds both (`wider`), and left alone when it
already holds the incoming values. A column of a type the sink does not make (made by hand:
``timestamp(3)``, a domain) or a text one takes any values as they are, the target converting
them on writing (or refusing them, naming the column). Anything else raises
`SchemaChangeError` naming table, column and both types. ``schema.evolution=none`` raises
`MissingTableError` instead of any DDL. Columns the records no longer carry stay in the
table: an update leaves their values as they are (as applying one change at a time would), a
row written anew (inserted, or deleted and written again in the batch) has them NULL.

In a target whose identifiers are case-insensitive (DuckDB, for ASCII letters only: ``Ä`` and
``ä`` are two names there), a table or column that differs from an existing one (or another of
the batch) only in case raises `NameCollisionError`
naming both, before any DDL: the batch fails, and its records go to the dead letter queue or
stop the task, per ``errors.tolerance``; other tables are not affected.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from connectors.sink.engine.dialect import Dialect, StagedColumn, TableInfo, fold_ascii
from connectors.sink.engine.errors import (
    MissingTableError,
    NameCollisionError,
    SchemaChangeError,
    ValueNotHeldError,
)
from connectors.sink.engine.naming import TableRef, clip
from connectors.sink.engine.types import FLOAT64, INT64, STRING, Column
from connectors.sink.engine.widening import wider

log = logging.getLogger(__name__)


def check_names(d: Dialect, table: TableRef, have: Iterable[str], new: Iterable[str]) -> None:
    """`NameCollisionError` when the target would take two of the names for one: alike but
    for case where identifiers are case-insensitive, alike in the bytes a target keeps of a
    long name (PostgreSQL: 63)."""
    have, new = list(have), list(new)
    cut = d.max_name_bytes
    if cut is not None:
        kept = {clip(n, cut): n for n in have}
        for n in new:
            other = kept.setdefault(clip(n, cut), n)
            if other != n:
                why = f"it keeps the first {cut} bytes of a name"
                raise NameCollisionError(str(table), "columns", other, n, why)
    if not d.case_insensitive:
        return
    seen = {fold_ascii(n): n for n in have}
    for n in new:
        other = seen.setdefault(fold_ascii(n), n)
        if other != n:
            raise NameCollisionError(str(table), "columns", other, n)


def aligned(d: Dialect, info: TableInfo, names: Iterable[str]) -> TableInfo:
    """``info`` with its columns and key named as ``names`` spell them where a target that
    folds names (`Dialect.folds_names`) takes them for one (``name`` for ``Name``); two of
    ``names`` that fold to one then leave one of them unmatched, a collision for `evolve`.
    Likewise where a target cuts long names (`Dialect.max_name_bytes`: PostgreSQL keeps 63
    bytes, and a column of 64 made once was added again after a restart, and failed)."""
    cut = d.max_name_bytes
    if not d.folds_names and cut is None:
        return info
    # by the folded name: the info may hold the target's names or an earlier batch's spelling
    folded = {fold_ascii(c): c for c in info.columns} if d.folds_names else {}
    spelled: dict[str, str] = {}
    for n in names:
        if n in info.columns:
            continue
        c = folded.get(fold_ascii(n)) if d.folds_names else None
        if c is None and cut is not None and clip(n, cut) != n and clip(n, cut) in info.columns:
            c = clip(n, cut)
        if c is not None and c not in spelled:
            spelled[c] = n
    if not spelled:
        return info
    columns = {spelled.get(c, c): t for c, t in info.columns.items()}
    return TableInfo(columns, tuple(spelled.get(k, k) for k in info.pk))


def create(d: Dialect, table: TableRef, columns: Sequence[Column], pk: Sequence[str]) -> TableInfo:
    if d.case_insensitive:
        twin = d.folded_twin(table)
        if twin is not None:
            raise NameCollisionError(str(table), "tables", twin, str(table))
    check_names(d, table, (), [c.name for c in columns])
    if table.schema is not None:
        d.create_schema(table.schema)
    types = {c.name: d.sql_type(c.type) for c in columns}
    d.create_table(table, types, pk)
    return TableInfo(types, tuple(pk))


def fill(d: Dialect, table: TableRef, column: Column) -> None:
    """Set a column just added to ``table`` to its default in every row: the rows the source
    had when it added the column hold the default there (``ALTER TABLE ... ADD COLUMN c int
    DEFAULT 5`` fills them), and no change of theirs comes to say so. The value goes through
    staging, as any value of that column does."""
    q = d.quote
    conv = column.convert
    try:
        default = column.default if conv is None else conv(column.default)
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:  # (a source's slip: the
        log.warning(  # rows keep NULL there, as without a default; the batch goes on)
            "table %s, column %s: its default %r cannot be read (%s): the rows the table has "
            "keep NULL there", table, column.name, column.default, exc,
        )  # fmt: skip
        return
    staged = StagedColumn(column.name, column.type, [default])
    relation = d.stage("default", [staged])  # (never a name from data: SQL text)
    try:
        value = d.select_expr(staged, f"s.{q(column.name)}")
        sql = (
            f"UPDATE {d.table_name(table)} SET {q(column.name)} = "
            f"(SELECT {value} FROM {relation} s) WHERE TRUE"
        )
        # where DDL commits at once (Snowflake, BigQuery), so does the fill: held for the
        # batch's transaction, a failed batch left the column added and its rows NULL, and
        # the next try found the column there and filled nothing
        d.execute(sql) if d.transactional_ddl else d.ddl(sql)
    finally:
        d.unstage(relation)


FILL_PREFIX = "__hub_fill_"  # a column being added and filled where DDL commits at once


def _add_filled(
    d: Dialect, table: TableRef, c: Column, sql_type: str, have: Mapping[str, str]
) -> None:
    """Add ``c`` with its default in the rows there, where each DDL statement commits alone
    (Snowflake, BigQuery): under a name of the engine's first, filled, then renamed, so a
    crash between the ADD and the fill leaves no column ``c`` whose rows the next try would
    take as filled (they kept NULL for good), only the half-made one, made again."""
    temp = FILL_PREFIX + c.name
    if temp in have:  # (a try cut short)
        d.drop_column(table, temp)
    d.add_column(table, temp, sql_type)
    fill(d, table, replace(c, name=temp))
    try:
        d.rename_column(table, temp, c.name)
    except Exception:
        if not _has_column(d, table, c.name):
            raise
        # another task of the connector added and filled it meanwhile: its column stays
        with contextlib.suppress(Exception):
            d.drop_column(table, temp)


def _has_column(d: Dialect, table: TableRef, name: str) -> bool:
    """Whether ``table`` has the column now (read at once where DDL commits alone; a
    table's description may lag, BigQuery's emulator's does)."""
    try:
        d.query(f"SELECT {d.quote(name)} FROM {d.table_name(table)} WHERE FALSE")
    except Exception:  # noqa: BLE001 - no such column (or not known now: the caller raises)
        return False
    return True


def evolve(
    d: Dialect, table: TableRef, info: TableInfo, columns: Sequence[Column], allowed: bool
) -> TableInfo:
    """``info`` updated after the DDL that lets ``columns`` in (none when nothing changes)."""
    changed = dict(info.columns)
    check_names(d, table, changed, [c.name for c in columns if c.name not in changed])
    for c in columns:
        incoming = d.sql_type(c.type)
        existing = changed.get(c.name)
        if existing == incoming or (existing is not None and d.holds(existing, c.type)):
            continue
        if existing is None:
            if not allowed:
                raise MissingTableError(
                    f"table {table}: column {c.name} ({incoming}) does not exist and "
                    "schema.evolution=none; add it or set schema.evolution=basic"
                )
            if c.default is not None and not d.transactional_ddl:
                _add_filled(d, table, c, incoming, changed)
            else:
                d.add_column(table, c.name, incoming)
                if c.default is not None:
                    fill(d, table, c)
            changed[c.name] = incoming
            continue
        have = d.column_type(existing)
        if have is None or (have.kind == STRING and c.type.kind != STRING):
            # a column made by hand, of a type the sink does not make (timestamp(3), a
            # domain, citext) or a text one (varchar(36) for a uuid, text for JSON): the
            # target converts the values on writing, or refuses them (an error naming the
            # column), as Debezium's JDBC sink leaves it to the database
            continue
        if have.kind == FLOAT64 and c.type.kind == INT64:
            # (a double holds every integer up to 2**53 exactly: the values are checked as
            # they are written, `inexact_in_doubles`; a schemaless JSON number written 10.5,
            # then 11, had stopped the sink: "no type holds both")
            continue
        w = wider(have, c.type)
        if w is None:
            raise SchemaChangeError(str(table), c.name, existing, incoming, "no type holds both")
        if w == have:
            continue  # the column already holds every incoming value
        target = d.sql_type(w)
        if not allowed:
            raise SchemaChangeError(
                str(table), c.name, existing, incoming, "widening needs schema.evolution=basic"
            )
        if c.name in info.pk and not d.widens_keys:
            raise SchemaChangeError(
                str(table), c.name, existing, incoming, "a primary key column is not altered"
            )
        d.widen_column(table, c.name, target, existing)
        changed[c.name] = target
    return info if changed == info.columns else TableInfo(changed, info.pk)


def integers_into_doubles(d: Dialect, info: TableInfo, columns: Sequence[Column]) -> list[str]:
    """The 64-bit integer columns the table holds as doubles (`evolve` lets integers in; a
    double rounds one past 2**53, so each value is checked: `inexact_in_doubles`)."""
    return [
        c.name for c in columns
        if c.type.kind == INT64 and c.name in info.columns
        and (held := d.column_type(info.columns[c.name])) is not None and held.kind == FLOAT64
    ]  # fmt: skip


def inexact_in_doubles(
    d: Dialect, info: TableInfo, columns: Sequence[Column],
    rows: Callable[[], Iterable[Mapping[str, Any]]],
) -> None:  # fmt: skip
    """`ValueNotHeldError` for a 64-bit integer past 2**53 bound for a column the table holds
    as a double (``rows`` called only when there is such a column)."""
    names = integers_into_doubles(d, info, columns)
    if not names:
        return
    for row in rows():
        for name in names:
            v = row.get(name)
            if type(v) is int and not -(2**53) <= v <= 2**53:
                raise ValueNotHeldError(name, f"the integer {v}", f"{info.columns[name]} exactly")
