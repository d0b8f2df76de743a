"""The Debezium change event every source writes: the envelope
``{before, after, source, transaction, op, ts_ms, ts_us, ts_ns}`` and its Connect schemas
(JsonConverter form), the ``source`` block's common head, transaction metadata (the
``transaction`` block of each event and the BEGIN/END records of ``<topic.prefix>.transaction``),
and the records of one change: a delete is followed by a tombstone (``tombstones.on.delete``),
a primary-key change is a delete of the old key (and its tombstone) and a create of the new.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from hub.runtime import json_default
from hub.runtime.api import HUB_VERSION_MARK, UNAVAILABLE_HEADER, Header, JsonMap, SourceRecord

VERSION = "2.7.0" + HUB_VERSION_MARK  # Debezium's event format version hub follows, as ours

SNAPSHOT_MARKERS = (
    "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


OPS = ("c", "u", "d", "r", "t")  # create, update, delete, read (snapshots), truncate


def op_metrics(*counts: Mapping[str, int]) -> dict[str, float]:
    """A source task's change events so far by operation, as `SourceTask.metrics` keys
    ``op_events:<op>`` (the console charts their rates): the sum of ``counts`` (the
    stream's, its snapshot's), each counted as the task hands the events over."""
    return {f"op_events:{op}": float(sum(c.get(op, 0) for c in counts)) for op in OPS}


def source_schema(name: str, fields: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``source`` block's schema: the fields every Debezium connector has (version,
    connector, name, ts_ms, snapshot, db, sequence, ts_us, ts_ns), then ``fields``, the
    connector's own (PostgreSQL: schema, table, txId, lsn, xmin; MySQL: table, server_id,
    gtid, file, pos, row, thread, query)."""
    head: list[dict[str, Any]] = [
        {"type": "string", "optional": False, "field": "version"},
        {"type": "string", "optional": False, "field": "connector"},
        {"type": "string", "optional": False, "field": "name"},
        {"type": "int64", "optional": False, "field": "ts_ms"},
        {
            "type": "string",
            "optional": True,
            "name": "io.debezium.data.Enum",
            "version": 1,
            "parameters": {"allowed": SNAPSHOT_MARKERS},
            "default": "false",
            "field": "snapshot",
        },  # fmt: skip
        {"type": "string", "optional": False, "field": "db"},
        {"type": "string", "optional": True, "field": "sequence"},
        {"type": "int64", "optional": True, "field": "ts_us"},
        {"type": "int64", "optional": True, "field": "ts_ns"},
    ]
    return {
        "type": "struct", "fields": head + [dict(f) for f in fields], "optional": False,
        "name": name, "field": "source",
    }  # fmt: skip


TRANSACTION_BLOCK_SCHEMA: dict[str, Any] = {
    "type": "struct",
    "fields": [
        {"type": "string", "optional": False, "field": "id"},
        {"type": "int64", "optional": False, "field": "total_order"},
        {"type": "int64", "optional": False, "field": "data_collection_order"},
    ],
    "optional": True,
    "name": "event.block",
    "version": 1,
    "field": "transaction",
}

TXN_KEY_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": False,
    "name": "io.debezium.connector.common.TransactionMetadataKey", "version": 1,
    "fields": [{"type": "string", "optional": False, "field": "id"}],
}  # fmt: skip
TXN_VALUE_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": False,
    "name": "io.debezium.connector.common.TransactionMetadataValue", "version": 1,
    "fields": [
        {"type": "string", "optional": False, "field": "status"},
        {"type": "string", "optional": False, "field": "id"},
        {"type": "int64", "optional": True, "field": "event_count"},
        {"type": "array", "optional": True, "field": "data_collections", "items": {
            "type": "struct", "optional": False, "name": "event.collection", "version": 1,
            "fields": [
                {"type": "string", "optional": False, "field": "data_collection"},
                {"type": "int64", "optional": False, "field": "event_count"}]}},
        {"type": "int64", "optional": False, "field": "ts_ms"},
    ],
}  # fmt: skip


def envelope_schema(
    name: str, row_schema: Mapping[str, Any] | None, source: Mapping[str, Any]
) -> dict[str, Any]:
    fields: list[dict[str, Any]] = []
    if row_schema is not None:
        fields += [{**row_schema, "field": "before"}, {**row_schema, "field": "after"}]
    fields += [
        dict(source),
        TRANSACTION_BLOCK_SCHEMA,
        {"type": "string", "optional": False, "field": "op"},
        {"type": "int64", "optional": True, "field": "ts_ms"},
        {"type": "int64", "optional": True, "field": "ts_us"},
        {"type": "int64", "optional": True, "field": "ts_ns"},
    ]
    return {"type": "struct", "fields": fields, "optional": False, "name": name, "version": 2}


def envelope(
    op: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    source: dict[str, Any],
    transaction: dict[str, Any] | None = None,
    ts_ns: int | None = None,
) -> dict[str, Any]:
    if ts_ns is None:
        ts_ns = time.time_ns()
    return {
        "before": before, "after": after, "source": source, "transaction": transaction,
        "op": op, "ts_ms": ts_ns // 1_000_000, "ts_us": ts_ns // 1_000, "ts_ns": ts_ns,
    }  # fmt: skip


class Transaction:
    """Transaction metadata of one source transaction (``provide.transaction.metadata``):
    the events' order in it, overall and per topic."""

    __slots__ = ("id", "counts", "total")

    def __init__(self, ident: str) -> None:
        self.id = ident
        self.counts: dict[str, int] = {}
        self.total = 0

    def block(self, topic: str, metadata: bool) -> dict[str, Any] | None:
        """Count one event of ``topic``; its ``transaction`` block when ``metadata``."""
        self.total += 1
        n = self.counts[topic] = self.counts.get(topic, 0) + 1
        if not metadata:
            return None
        return {"id": self.id, "total_order": self.total, "data_collection_order": n}

    def metadata_record(
        self, prefix: str, status: str, ts_ms: int, partition: JsonMap, offset: JsonMap,
        real_names: Mapping[str, str] | None = None,
    ) -> SourceRecord:  # fmt: skip
        """The BEGIN or END record of ``<prefix>.transaction``; ``real_names`` gives a topic's
        table by its real name (topics are sanitized)."""
        end = status == "END"
        real = real_names or {}
        cut = len(prefix) + 1
        value = {
            "status": status, "id": self.id,
            "event_count": self.total if end else None,
            "data_collections": [
                {"data_collection": real.get(topic, topic[cut:]), "event_count": n}
                for topic, n in self.counts.items()
            ] if end else None,
            "ts_ms": ts_ms,
        }  # fmt: skip
        return SourceRecord(
            f"{prefix}.transaction", value, {"id": self.id}, partition, offset,
            key_schema=TXN_KEY_SCHEMA, value_schema=TXN_VALUE_SCHEMA,
        )  # fmt: skip


def truncate_record(
    topic: str,
    source: dict[str, Any],
    partition: JsonMap,
    offset: JsonMap,
    value_schema: dict[str, Any] | None,
    block: dict[str, Any] | None = None,
    keyless: bool = False,
) -> SourceRecord:
    """Debezium's truncate event (``op: t``) of a table: no key, no rows; in the topic's
    first partition, and refused by the runtime in a topic of several (``ordered``: a sink
    would apply it out of order with the table's changes in the others) but for a table
    without a key (``keyless``: a snapshot reading one again whole), whose records are all
    in that partition too."""
    return SourceRecord(
        topic,
        envelope("t", None, None, source, block),
        None,
        partition,
        offset,
        partition=0,
        value_schema=value_schema,
        ordered=not keyless,
    )


OLD_KEY_HEADER = "__debezium.oldkey"
NEW_KEY_HEADER = "__debezium.newkey"


def unavailable_header(columns: list[str]) -> tuple[tuple[str, bytes], ...]:
    """The header naming the columns whose value is the unavailable-value placeholder, a
    JSON array of their names (a name may hold a comma); none: no header, and a sink takes
    every value for what it is."""
    return ((UNAVAILABLE_HEADER, orjson.dumps(columns)),) if columns else ()


def rekey_headers(other_key: Mapping[str, Any], op: str) -> tuple[tuple[str, bytes], ...]:
    """Debezium's headers on the two events of a row whose primary key changed: the delete
    names the new key (``__debezium.newkey``), the create the old one (``__debezium.oldkey``),
    each as JSON (what Connect's SimpleHeaderConverter writes for a struct)."""
    name = NEW_KEY_HEADER if op == "d" else OLD_KEY_HEADER
    return ((name, orjson.dumps(other_key, default=json_default)),)


def change_records(
    topic: str, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
    key: dict[str, Any] | None, source: dict[str, Any], block: dict[str, Any] | None,
    partition: JsonMap, offset: JsonMap, *, key_schema: dict[str, Any] | None,
    value_schema: dict[str, Any], tombstones: bool, headers: tuple[Header, ...] = (),
) -> list[SourceRecord]:  # fmt: skip
    """The records of one change event: the event, and after a delete of a keyed row (with
    ``tombstones.on.delete``) a tombstone (null value) so compaction can drop the key."""
    value = envelope(op, before, after, source, block)
    out = [SourceRecord(
        topic, value, key, partition, offset, headers=headers, key_schema=key_schema,
        value_schema=value_schema,
    )]  # fmt: skip
    if op == "d" and tombstones and key is not None:
        out.append(SourceRecord(topic, None, key, partition, offset, key_schema=key_schema))
    return out
