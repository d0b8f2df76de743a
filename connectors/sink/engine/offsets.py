"""The ``_hub_offsets`` table: the next offset to read per connector, topic and partition,
written in the same transaction as the rows it covers (exactly-once into the target).

    _hub_offsets (connector STRING, topic STRING, partition INT32, next_offset INT64,
                  PRIMARY KEY (connector, topic, partition))

in the dialect's type names (`Dialect.create_table`), written by `Dialect.upsert_values`.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.errors import OffsetsMovedError
from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.types import INT32, INT64, STRING, ColumnType

TABLE = "_hub_offsets"
REF = TableRef(None, TABLE)
_KEY = ("connector", "topic", "partition")
_NAMES = (*_KEY, "next_offset")


def ensure_table(d: Dialect) -> None:
    text, int32, int64 = (d.sql_type(ColumnType(k)) for k in (STRING, INT32, INT64))
    columns = dict(zip(_NAMES, (text, text, int32, int64), strict=True))
    d.create_table(REF, columns, _KEY, if_not_exists=True)


def read(d: Dialect, connector: str) -> dict[tuple[str, int], int]:
    q = d.quote
    rows = d.query(
        f"SELECT {q('topic')}, {q('partition')}, {q('next_offset')} FROM {d.table_name(REF)} "
        f"WHERE {q('connector')} = {d.param}",
        [connector],
    )
    out: dict[tuple[str, int], int] = {}
    for t, part, off in rows:  # one row per key; should a target hold two, the further counts
        key = (str(t), int(part))
        out[key] = max(out.get(key, -1), int(off))
    return out


def write(d: Dialect, connector: str, offsets: Mapping[tuple[str, int], int]) -> None:
    rows = [(connector, t, part, off) for (t, part), off in sorted(offsets.items())]
    d.upsert_values(REF, _KEY, _NAMES, rows, replace=True)


def check(
    where: str,
    stored: Mapping[tuple[str, int], int],
    expected: Mapping[tuple[str, int], int | None],
) -> None:
    """`OffsetsMovedError` unless ``stored`` (read in the writing transaction) still holds
    what the task read (``expected``; None: no row): else another writer committed since."""
    for key, off in expected.items():
        if stored.get(key) != off:
            raise OffsetsMovedError(
                f"{where}: {key[0]}[{key[1]}] holds {stored.get(key)} in _hub_offsets, this "
                f"task read {off} (another writer committed)"
            )
