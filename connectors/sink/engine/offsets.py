"""The ``_hub_offsets`` table: the next offset to read per connector, topic and partition,
written in the same transaction as the rows it covers (exactly-once into the target).

    CREATE TABLE "_hub_offsets" (connector VARCHAR, topic VARCHAR, "partition" INTEGER,
                                 next_offset BIGINT, PRIMARY KEY (connector, topic, "partition"))
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.sink.engine.dialect import Dialect, quote

TABLE = "_hub_offsets"
_T = quote(TABLE)


def ensure_table(d: Dialect) -> None:
    d.execute(
        f"CREATE TABLE IF NOT EXISTS {_T} (connector VARCHAR NOT NULL, topic VARCHAR NOT NULL, "
        '"partition" INTEGER NOT NULL, next_offset BIGINT NOT NULL, '
        'PRIMARY KEY (connector, topic, "partition"))'
    )


def read(d: Dialect, connector: str) -> dict[tuple[str, int], int]:
    p = d.param
    rows = d.execute(
        f'SELECT topic, "partition", next_offset FROM {_T} WHERE connector = {p}', [connector]
    )
    return {(str(t), int(part)): int(off) for t, part, off in rows}


def write(d: Dialect, connector: str, offsets: Mapping[tuple[str, int], int]) -> None:
    p = d.param
    rows = sorted(offsets.items())
    values = ", ".join([f"({p}, {p}, {p}, {p})"] * len(rows))
    d.execute(
        f'INSERT INTO {_T} (connector, topic, "partition", next_offset) VALUES {values} '
        'ON CONFLICT (connector, topic, "partition") DO UPDATE SET '
        "next_offset = EXCLUDED.next_offset",
        [x for (t, part), off in rows for x in (connector, t, part, off)],
    )
