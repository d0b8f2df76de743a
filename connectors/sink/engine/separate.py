"""Statements for targets whose ``MERGE`` cannot apply a batch in one statement: Redshift's
takes one ``WHEN MATCHED`` clause (update or delete, not both), and the Snowflake stand-in's
cannot run inside a transaction. A batch's keyed changes are staged as one relation (as the
default `merge` stages them) and applied by up to three statements::

    UPDATE t AS cur SET c = s.c, … FROM stage AS s WHERE cur.k = s.k AND NOT s.__hub_delete
    INSERT INTO t (k, c, …) SELECT … FROM stage AS s WHERE NOT s.__hub_delete
      AND NOT EXISTS (SELECT 1 FROM t AS cur WHERE cur.k = s.k)
    DELETE FROM t AS cur USING stage AS s WHERE cur.k = s.k AND s.__hub_delete

The same effect as the ``MERGE``: the engine collapses a batch to at most one change per key,
so no key is both updated and deleted. The engine's own rows (``_hub_offsets``, the table
owners) are written by ``DELETE`` + ``INSERT`` or ``INSERT … WHERE NOT EXISTS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.sink.engine.dialect import Dialect, Merge
from connectors.sink.engine.merge import DELETE_FLAG, KEEP_PREFIX, staged_changes
from connectors.sink.engine.naming import TableRef


class SeparateStatements(Dialect):
    """`Dialect` applying batches with ``UPDATE`` / ``INSERT`` / ``DELETE`` instead of
    ``MERGE``. ``alias_delete``: the target's ``DELETE`` takes aliases (Redshift's grammar
    names none: the rows of the table and of the staging relation, then a table's name, are
    named by their own names)."""

    alias_delete = True

    def key_equal(self, a: str, b: str, kind: str | None) -> str:
        """SQL for two key values being one key (Redshift's text comparison ignores
        trailing blanks: its dialect adds their lengths)."""
        return f"{a} = {b}"

    def merge(self, m: Merge) -> None:
        q, t = self.quote, self.table_name(m.table)
        cols = staged_changes(m)
        rel = self.stage("merge", cols)
        kinds = {c.name: c.type.kind for c in cols}
        keys = self.key_exprs(m.key, cols, "s")
        on = " AND ".join(self.key_equal(f"cur.{q(k)}", keys[k], kinds[k]) for k in m.key)
        flag = f"s.{q(DELETE_FLAG)}"
        live = f" AND NOT {flag}" if m.deletes else ""
        if m.count:
            rows = cols[: len(m.rows)]
            sets = []
            for c in rows:
                if c.name in m.key:
                    continue
                e = self.select_expr(c, f"s.{q(c.name)}")
                if c.name in m.keep:  # an unchanged TOASTed value: the row's current one
                    new = m.kept_value(c.name, e)
                    e = f"CASE WHEN s.{q(KEEP_PREFIX + c.name)} THEN cur.{q(c.name)} ELSE {new} END"
                sets.append(f"{q(c.name)} = {e}")
            if sets:
                self.execute(
                    f"UPDATE {t} AS cur SET {', '.join(sets)} FROM {rel} AS s WHERE {on}{live}"
                )
            names = ", ".join(q(c.name) for c in rows)
            exprs = ", ".join(self.select_expr(c, f"s.{q(c.name)}") for c in rows)
            self.execute(
                f"INSERT INTO {t} ({names}) SELECT {exprs} FROM {rel} AS s WHERE "
                f"NOT EXISTS (SELECT 1 FROM {t} AS cur WHERE {on}){live}"
            )
        if m.deletes:
            if m.soft:
                self.execute(
                    f"UPDATE {t} AS cur SET {q('__deleted')} = TRUE FROM {rel} AS s "
                    f"WHERE {on} AND {flag}"
                )
            elif self.alias_delete:
                self.execute(f"DELETE FROM {t} AS cur USING {rel} AS s WHERE {on} AND {flag}")
            else:  # no aliases: the rows of both by their tables' own names
                theirs = self.key_exprs(m.key, cols, rel)
                own = " AND ".join(
                    self.key_equal(f"{q(m.table.name)}.{q(k)}", theirs[k], kinds[k]) for k in m.key
                )
                mark = f"{rel}.{q(DELETE_FLAG)}"
                self.execute(f"DELETE FROM {t} USING {rel} WHERE {own} AND {mark}")
        self.unstage(rel)

    def upsert_values(
        self,
        table: TableRef,
        key: Sequence[str],
        names: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        replace: bool,
    ) -> None:
        q, t, p = self.quote, self.table_name(table), self.param
        cols = ", ".join(q(n) for n in names)
        match = " AND ".join(f"{q(k)} = {p}" for k in key)
        at = [names.index(k) for k in key]
        for row in rows:
            keys = [row[i] for i in at]
            if replace:
                self.execute(f"DELETE FROM {t} WHERE {match}", keys)
                self.execute(f"INSERT INTO {t} ({cols}) VALUES ({', '.join([p] * len(row))})", row)
            else:
                self.execute(
                    f"INSERT INTO {t} ({cols}) SELECT {', '.join([p] * len(row))} "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {match})",
                    [*row, *keys],
                )
