"""The ``_hub_offsets`` table: the next offset to read per connector, topic and partition,
written in the same transaction as the rows it covers (exactly-once into the target).

    _hub_offsets (connector STRING, topic STRING, partition INT32, next_offset INT64,
                  topic_id STRING, PRIMARY KEY (connector, topic, partition))

in the dialect's type names (`Dialect.create_table`), written by `Dialect.upsert_values`.
``topic_id`` is the log's id of the topic the offset was read from (`hub.log.TopicInfo.id`;
'' when the log had none, NULL in rows written before it existed): a topic deleted and made
again, or a log whose data directory was emptied, has another, and the offset is not its.
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
_NAMES = (*_KEY, "next_offset", "topic_id")


def ensure_table(d: Dialect) -> None:
    """Create the table, or add ``topic_id`` to one made before it existed."""
    text, int32, int64 = (d.sql_type(ColumnType(k)) for k in (STRING, INT32, INT64))
    info = d.describe(REF)
    if info is None:
        columns = dict(zip(_NAMES, (text, text, int32, int64, text), strict=True))
        d.create_table(REF, columns, _KEY, if_not_exists=True)
    elif "topic_id" not in info.columns:
        d.add_column(REF, "topic_id", text)


def read(d: Dialect, connector: str) -> dict[tuple[str, int], int]:
    return {tp: off for tp, (off, _) in read_rows(d, connector).items()}


def read_rows(d: Dialect, connector: str) -> dict[tuple[str, int], tuple[int, str | None]]:
    """(topic, partition) -> (next offset, topic id; None: not known)."""
    q = d.quote
    rows = d.query(
        f"SELECT {q('topic')}, {q('partition')}, {q('next_offset')}, {q('topic_id')} "
        f"FROM {d.table_name(REF)} WHERE {q('connector')} = {d.param}",
        [connector],
    )
    out: dict[tuple[str, int], tuple[int, str | None]] = {}
    for t, part, off, tid in rows:  # one row per key; should a target hold two, the further
        key = (str(t), int(part))
        if key not in out or int(off) > out[key][0]:
            out[key] = (int(off), str(tid) if tid else None)
    return out


def others(d: Dialect, connector: str, topics: set[str]) -> dict[str, set[str]]:
    """Per topic of ``topics``, the other connectors whose offsets of it the target holds."""
    q = d.quote
    rows = d.query(
        f"SELECT DISTINCT {q('connector')}, {q('topic')} FROM {d.table_name(REF)} "
        f"WHERE {q('connector')} <> {d.param}",
        [connector],
    )
    out: dict[str, set[str]] = {}
    for c, t in rows:
        if str(t) in topics:
            out.setdefault(str(t), set()).add(str(c))
    return out


def write(
    d: Dialect,
    connector: str,
    offsets: Mapping[tuple[str, int], int],
    topic_ids: Mapping[str, tuple[str, ...]],
) -> None:
    """``topic_ids``: per topic its id first (`SinkTaskContext.topic_ids`)."""
    rows = [(connector, t, part, off, next(iter(topic_ids.get(t, ())), ""))
            for (t, part), off in sorted(offsets.items())]  # fmt: skip
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
