"""The ``_hub_table_topics`` table: which topic writes each target table, when the table name
is made of the topic (``table.name.format`` with ``${topic}``).

``${topic}`` turns a topic's dots into underscores, so two topics can name one table (source
tables ``"a.b"`` and ``a_b`` give ``srv.public.a.b`` and ``srv.public.a_b``, both
``srv_public_a_b``). The first topic that writes a table owns it; a second one is a
`TableCollisionError` naming both, instead of one table silently mixing two sources' rows (a
delete in one taking the other's row). The owner is written in the same transaction as the
rows, so it outlives restarts and is shared by the connector's tasks (a claim that another task
committed first wins); a table that no longer exists is owned again by the next topic that
writes it.

    _hub_table_topics (table_schema STRING, table_name STRING, topic STRING,
                       PRIMARY KEY (table_schema, table_name))

``table_schema`` is ``''`` for a table without a schema.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.types import STRING, ColumnType

TABLE = "_hub_table_topics"
REF = TableRef(None, TABLE)
_KEY = ("table_schema", "table_name")
_NAMES = (*_KEY, "topic")


def ensure_table(d: Dialect) -> None:
    text = d.sql_type(ColumnType(STRING))
    d.create_table(REF, dict.fromkeys(_NAMES, text), _KEY, if_not_exists=True)


def read(d: Dialect) -> dict[TableRef, str]:
    names = ", ".join(d.quote(n) for n in _NAMES)
    rows = d.query(f"SELECT {names} FROM {d.table_name(REF)}")
    return {TableRef(str(s) or None, str(n)): str(t) for s, n, t in rows}


def write(d: Dialect, owners: Mapping[TableRef, str], *, replace: bool) -> None:
    """Store the owners; an existing row is overwritten only with ``replace``."""
    rows = sorted((t.schema or "", t.name, topic) for t, topic in owners.items())
    d.upsert_values(REF, _KEY, _NAMES, rows, replace=replace)
