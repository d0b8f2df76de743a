"""Change events written straight as the bytes Kafka's JsonConverter would give them.

With JSON converters and no transforms (`SourceTaskContext.json_encoding`), a row change need
not become the envelope's dicts and then JSON: `EventEncoder` fills a per-table bytes template
(schema, source block, envelope) with the row's struct from `rowcodec.RowCodec`. The bytes
equal ``JsonConverter.from_value(envelope(...), value_schema)`` of the slow path exactly (the
tests compare them), so consumers cannot tell the two apart; the slow path still serves rows
the codec declines (unchanged TOAST values), transforms and other converters.
"""

from __future__ import annotations

from typing import Any

import orjson

from connectors.source.cdc.envelope import VERSION
from connectors.source.postgres.events import CONNECTOR, TableSchema
from connectors.source.postgres.rowcodec import (
    KIND_PY,
    CopyPacked,
    PyRowCodec,
    RowCodec,
    Wrap,
)


def _lit(doc: Any) -> bytes:
    """JSON of ``doc`` made safe inside a bytes %-template."""
    return orjson.dumps(doc).replace(b"%", b"%%")


class _Table:
    """One table's codec and the constant pieces of its events' bytes."""

    __slots__ = (
        "codec", "head", "tail", "change_a", "change_a0", "change_b", "snapshot_src", "key_head",
        "key_tail", "txn", "txn_parts", "wrap",
    )  # fmt: skip

    def __init__(self, schema: TableSchema, enc: EventEncoder) -> None:
        self.codec = RowCodec(*schema.codec_fields())
        key_schemas, value_schemas = enc.json_encoding
        self.head = b'{"schema":' + orjson.dumps(schema.value_schema) + b',"payload":' if (
            value_schemas
        ) else b""  # fmt: skip
        self.tail = b"}" if value_schemas else b""
        common = (
            b',"source":{"version":' + _lit(VERSION) + b',"connector":' + _lit(CONNECTOR)
            + b',"name":' + enc.name + b',"ts_ms":%d,"snapshot":'
        )  # fmt: skip
        table = b',"schema":' + _lit(schema.schema) + b',"table":' + _lit(schema.table)
        # a change's source block around its LSN, %-formatted once per transaction:
        # (ts_ms, last commit) and (ts_us, ts_ns, txId)
        self.change_a = common + b'"false","db":' + enc.db + b',"sequence":"[\\"%d\\",\\"'
        # (with no commit before it known, the first transaction after a fresh start: null)
        self.change_a0 = common + b'"false","db":' + enc.db + b',"sequence":"[null,\\"'
        self.change_b = b'\\"]","ts_us":%d,"ts_ns":%d' + table + b',"txId":%d,"lsn":'
        # a snapshot read's: (ts_ms, marker, ts_us, ts_ns, lsn)
        self.snapshot_src = (
            common + b'"%s","db":' + enc.db + b',"sequence":null,"ts_us":%d,"ts_ns":%d' + table
            + b',"txId":null,"lsn":%s,"xmin":null},"transaction":null,"op":"r","ts_ms":'
        )  # fmt: skip
        if key_schemas and schema.key_schema is not None:
            self.key_head = b'{"schema":' + orjson.dumps(schema.key_schema) + b',"payload":'
            self.key_tail = b"}"
        else:
            self.key_head = self.key_tail = b""
        self.txn: tuple[int, int, int] | None = None
        self.txn_parts = (b"", b"")
        self.wrap: Wrap = (self.head, self.tail, self.key_head, self.key_tail)

    def source_parts(self, ts_us: int, last_commit: int, txid: int) -> tuple[bytes, bytes]:
        """A change's source block around its LSN, for a transaction's ``ts_us`` (commit
        time), the LSN of the commit before it and its ``txid`` (cached per transaction)."""
        txn = (ts_us, last_commit, txid)
        if self.txn != txn:
            self.txn = txn
            self.txn_parts = (
                self.change_a % (ts_us // 1000, last_commit)
                if last_commit
                else self.change_a0 % (ts_us // 1000,),
                self.change_b % (ts_us, ts_us * 1000, txid),
            )
        return self.txn_parts


class EventEncoder:
    """Encoded events of one task: ``json_encoding`` is (key schemas.enable, value
    schemas.enable)."""

    def __init__(self, json_encoding: tuple[bool, bool], db: str, name: str) -> None:
        self.json_encoding = json_encoding
        self.db = _lit(db)
        self.name = _lit(name)
        self._tables: dict[int, tuple[TableSchema, _Table]] = {}

    def table(self, schema: TableSchema) -> _Table:
        got = self._tables.get(id(schema))
        if got is None or got[0] is not schema:  # TableSchemas are replaced, never changed
            if len(self._tables) > 4096:
                self._tables.clear()
            got = self._tables[id(schema)] = (schema, _Table(schema, self))
        return got[1]

    @staticmethod
    def snapshot_wrap(
        t: _Table, *, ts_us: int, lsn: int | None, ts_ns: int, marker: str = "true"
    ) -> tuple[bytes, bytes]:
        """(head, tail): ``head + after + tail`` is the value of a read event."""
        ns = b"%d" % ts_ns
        source = t.snapshot_src % (
            ts_us // 1000, marker.encode(), ts_us, ts_us * 1000,
            b"null" if lsn is None else b"%d" % lsn,
        )  # fmt: skip
        return t.head + b'{"before":null,"after":', b"".join(
            (source, ns[:-6], b',"ts_us":', ns[:-3], b',"ts_ns":', ns, b"}", t.tail)
        )


class SnapshotRows:
    """What the snapshot reader thread calls for one table's chunks: its COPY text straight
    to the rows' ``after`` structs and keys, packed (`RowCodec.copy_packed`). The task wraps
    them into values only as they are written (`EventEncoder.snapshot_wrap`, applied by the
    log's encoder): a chunk of whole values would hold the schema's bytes once per row."""

    def __init__(self, t: _Table) -> None:
        self.t = t
        # the C codec encodes a table of fast kinds only without the GIL
        self.gil_free = not isinstance(t.codec, PyRowCodec) and all(
            f[2] != KIND_PY for f in t.codec.fields
        )

    def copy_packed(self, data: bytes) -> CopyPacked:
        return self.t.codec.copy_packed(data)
