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

    CREATE TABLE "_hub_table_topics" (table_schema VARCHAR, table_name VARCHAR, topic VARCHAR,
                                      PRIMARY KEY (table_schema, table_name))

``table_schema`` is ``''`` for a table without a schema.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.sink.engine.dialect import Dialect, quote
from connectors.sink.engine.naming import TableRef

TABLE = "_hub_table_topics"
_T = quote(TABLE)


def ensure_table(d: Dialect) -> None:
    d.execute(
        f"CREATE TABLE IF NOT EXISTS {_T} (table_schema VARCHAR NOT NULL, "
        "table_name VARCHAR NOT NULL, topic VARCHAR NOT NULL, "
        "PRIMARY KEY (table_schema, table_name))"
    )


def read(d: Dialect) -> dict[TableRef, str]:
    rows = d.execute(f"SELECT table_schema, table_name, topic FROM {_T}")
    return {TableRef(str(s) or None, str(n)): str(t) for s, n, t in rows}


def write(d: Dialect, owners: Mapping[TableRef, str], *, replace: bool) -> None:
    """Store the owners; an existing row is overwritten only with ``replace``."""
    p = d.param
    rows = sorted(((t.schema or "", t.name), topic) for t, topic in owners.items())
    values = ", ".join([f"({p}, {p}, {p})"] * len(rows))
    action = "UPDATE SET topic = EXCLUDED.topic" if replace else "NOTHING"
    d.execute(
        f"INSERT INTO {_T} (table_schema, table_name, topic) VALUES {values} "
        f"ON CONFLICT (table_schema, table_name) DO {action}",
        [x for (s, n), topic in rows for x in (s, n, topic)],
    )
