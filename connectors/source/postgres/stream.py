"""Streaming: pgoutput messages from the slot turned into Debezium change events.

Without ``streaming`` the server sends each transaction whole, at its commit, in commit order;
the task emits events as the messages arrive (a transaction of a million rows is never held
in memory) and numbers the messages of each transaction, so the offset of every event is
(commit LSN, message number) and a restarted task replays exactly the same events after it.

The slot's confirmed position (``confirmed_flush_lsn``) moves only in `ChangeStream.durable`,
which the runtime calls once everything returned so far is durable in the log; it is the end
LSN of the last whole transaction returned, or the server's idle position from a keepalive.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import orjson

from connectors.source.cdc import bounds
from connectors.source.cdc.envelope import (
    VERSION,
    Transaction,
    envelope,
    now_ms,
    rekey_headers,
    truncate_record,
    unavailable_header,
)
from connectors.source.cdc.incremental import IncrementalSnapshot
from connectors.source.cdc.modes import BinaryMode
from connectors.source.postgres.config import PostgresSourceConfig
from connectors.source.postgres.encoded import EventEncoder
from connectors.source.postgres.errors import KeyOutsideIdentityError
from connectors.source.postgres.events import SOURCE_SCHEMA, TableSchema
from connectors.source.postgres.offsets import PostgresOffset
from connectors.source.postgres.protocol import pgoutput as pg
from connectors.source.postgres.protocol.pgoutput import lsn_to_str
from connectors.source.postgres.protocol.stream import ReplicationStream
from connectors.source.postgres.schemas import TableSchemas
from connectors.source.postgres.streamed import StreamedTransactions
from hub.errors import ConfigError
from hub.runtime.api import EncodedBatch, Header, JsonMap, SourceRecord, offset_update

log = logging.getLogger(__name__)

_ROW_KINDS = frozenset(b"IUD")
_KIND_OP = {0x49: "c", 0x55: "u", 0x44: "d"}
Out = list[SourceRecord | EncodedBatch]
_REL_ID = struct.Struct("!I")

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds

MESSAGE_KEY_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.MessageKey",
    "fields": [{"type": "string", "optional": True, "field": "prefix"}],
}  # fmt: skip


def message_value_schema(binary: BinaryMode) -> dict[str, Any]:
    """Debezium's MessageValue; its content in binary.handling.mode's form, as Debezium's
    (LogicalDecodingMessageMonitor)."""
    return {
        "type": "struct", "optional": False,
        "name": "io.debezium.connector.postgresql.MessageValue",
        "fields": [
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
            SOURCE_SCHEMA,
            {"type": "struct", "optional": True, "field": "message",
             "name": "io.debezium.connector.postgresql.Message", "fields": [
                {"type": "string", "optional": False, "field": "prefix"},
                {**binary.schema(True), "field": "content"}]},
        ],
    }  # fmt: skip


class _Txn(Transaction):
    __slots__ = ("commit_lsn", "xid", "ts_us", "event", "skipped", "cut", "deferred")

    def __init__(self, begin: pg.Begin) -> None:
        super().__init__(f"{begin.xid}:{begin.final_lsn}")
        self.commit_lsn = begin.final_lsn
        self.xid = begin.xid
        self.ts_us = begin.commit_time + PG_EPOCH_US
        self.event = 0  # messages handled so far
        self.skipped = False
        self.cut = False  # commits before a snapshot cut: some tables' changes are dropped
        # tables with a DEFERRABLE key: their changes by (relation, raw key), emitted as each
        # key's net change at the commit (`ChangeStream._settle`)
        self.deferred: dict[tuple[int, Any], _Slot] = {}


class _Slot:
    """One key of a table with a DEFERRABLE primary key, over a transaction: the row that
    held it before (`gone`: its old values, once a change took it away) and the rows
    the transaction put there (their values; at the commit one at most). Inside the
    transaction two rows may hold the key (``UPDATE id = id + 1``): a change of the old row
    takes away an equal row the transaction put there if there is one (equal rows are one
    to the sinks), else the row that held it before."""

    __slots__ = ("schema", "gone", "added", "lsn", "moved", "updated")

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self.gone: tuple[Any, ...] | None = None
        self.added: list[tuple[Any, ...]] = []
        self.lsn = 0
        # a row came or went by an insert, a delete or a changed key (not only updates in
        # place): under skipped.operations=u its net update is a delete and a create, the
        # events Debezium's PostgreSQL source sends for them
        self.moved = False
        # a row of the key was updated in place: under skipped.operations=c a row created
        # (or moved in) and updated comes as the update Debezium's events hold
        self.updated = False


class ChangeStream:
    def __init__(
        self,
        cfg: PostgresSourceConfig,
        schemas: TableSchemas,
        partition: JsonMap,
        resume: PostgresOffset,
        incremental: IncrementalSnapshot | None = None,
        json_encoding: tuple[bool, bool] | None = None,
    ) -> None:
        self.cfg = cfg
        self._message_wanted = cfg.message_wanted()
        binary = BinaryMode(cfg.binary_handling_mode)
        self._message_schema = message_value_schema(binary)
        self._message_content = binary.converter()
        self.schemas = schemas
        self.partition = partition
        self.resume: PostgresOffset | None = resume
        self.position = resume  # the offset of the last transaction or idle point handled
        self.lsn = resume.lsn or 0  # the LSN of the last thing handled
        self.db = cfg.dbname
        self.name = cfg.topic_prefix
        self.skipped_ops = cfg.skipped()
        self.tombstones = cfg.tombstones_on_delete
        self.metadata = cfg.provide_transaction_metadata
        self.stream: ReplicationStream | None = None
        self._txn: _Txn | None = None
        self._last_commit_lsn = resume.lsn_commit or 0
        self._completed = 0 if resume.in_transaction else (resume.lsn or 0)
        self._returned = 0  # the completed position as of the last poll's return
        self._idle_since = time.monotonic()
        self.incremental = incremental
        self._signal_relid: int | None = None
        # a blocking snapshot's tables, signalled in the transaction this poll ended at: the
        # stream stops there (`PostgresSourceTask` reads them, then opens a new stream)
        self.blocked: list[str] = []
        self.events = 0
        self.ops: Counter[str] = Counter()  # events by operation (c, u, d, r, t)
        self.batched = 0
        self.behind_ms = 0.0  # commit time to handling, for the last transaction
        # encoded events (SourceTaskContext.json_encoding): the rows' bytes, no dicts
        self.encoder = (
            EventEncoder(json_encoding, self.db, self.name) if json_encoding is not None else None
        )
        # pgoutput.streaming: large transactions arrive in blocks before their commit
        self.streamed = StreamedTransactions() if cfg.pgoutput_streaming else None
        self._replay: Iterator[tuple[bytes, int]] | None = None  # a committed streamed txn
        # messages of a read batch that come after a streamed transaction's replay
        self._held: tuple[Sequence[int], list[bytes], int] | None = None
        # changes a resumed snapshot read already (`connectors.source.cdc.cuts`): per
        # relation, the LSN its changes must commit at or after; dropped once past them all
        self._cut = resume.cut if resume.cut else None
        self._cut_json = self._cut.to_json() if self._cut is not None else None
        self._cut_at: dict[int, int] = {}

    def open(self, conn: Any) -> None:
        start = self.resume.start_lsn() if self.resume is not None else 0
        streaming = self.streamed is not None
        if streaming and conn.info.server_version < 140000:
            raise ConfigError(
                f"pgoutput.streaming needs PostgreSQL 14 or later (protocol version 2); the "
                f"server is {conn.info.server_version // 10000}: set pgoutput.streaming=false"
            )
        self.stream = ReplicationStream(
            conn, self.cfg.slot_name, [self.cfg.publication_name], start_lsn=start,
            messages=self.cfg.include_messages,
            status_interval=self.cfg.status_update_interval_ms / 1000,
            proto_version=2 if streaming else 1, streaming=streaming,
        )  # fmt: skip
        self.stream.start()
        log.info("streaming from slot %s at %s", self.cfg.slot_name, lsn_to_str(start))

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.streamed is not None:
            self.streamed.close()

    # -- acknowledging ------------------------------------------------------------------------
    def keep_alive(self) -> None:
        """A status update now and then while nothing is read (the connector paused): the
        server's wal_sender_timeout counts from our last message."""
        if self.stream is not None:
            self.stream.ping()

    def durable(self) -> None:
        """Everything returned by `poll` so far is durable: let the slot move past it."""
        if self.stream is not None and self._returned > self.stream.flushed_lsn:
            self.stream.send_feedback(self._returned)

    # -- reading --------------------------------------------------------------------------------
    def poll(self, max_records: int, timeout: float) -> Out:
        assert self.stream is not None
        out: Out = []
        deadline = time.monotonic() + timeout
        read = self.stream.read_batch
        handle = self._handle
        self.batched = 0  # records in out's EncodedBatches
        taken, max_bytes = 0, bounds.POLL_MAX_BYTES  # the messages' bytes (big rows)
        if self._replay is not None:
            self.stream.ping()  # nothing is read while replaying: keep the server's timer
        while len(out) + self.batched < max_records and taken < max_bytes and not self.blocked:
            if self._replay is not None:  # a committed streamed transaction comes first
                item = next(self._replay, None)
                if item is not None:
                    handle(item[0], item[1], out)
                    taken += len(item[0])
                    continue
                self._end_replay()
            if self._held is not None:  # read before that replay began: theirs is next
                starts, payloads, i = self._held
                self._held = None
            else:
                # a message gives one record or a few (a delete and its tombstone)
                starts, payloads = read(
                    max_records - len(out) - self.batched,
                    0 if out else max(deadline - time.monotonic(), 0),
                )  # fmt: skip
                if not payloads:
                    break
                i = 0
            n = len(payloads)
            # (a read takes what libpq holds: about a message or a socket buffer's worth)
            taken += sum(map(len, payloads)) if i == 0 else sum(map(len, payloads[i:]))
            while i < n:
                handle(payloads[i], starts[i], out)
                i += 1
                if self.blocked:  # (what was read past it is read again after the snapshot)
                    break
                if self._replay is not None and i < n:  # a streamed transaction committed
                    self._held = (starts, payloads, i)
                    break
        if out:
            self._idle_since = time.monotonic()
        elif self._txn is None and self._held is None and not self.blocked:
            self._idle(out)
        self._returned = self._completed
        return out

    def _idle(self, out: Out) -> None:
        """Nothing arrived and no transaction is open: move the offset (and so, once it is
        stored, the slot) to the server's position, so WAL does not pile up behind a quiet
        database."""
        assert self.stream is not None
        if self.resume is not None and self.resume.in_transaction:
            return  # the server is still re-reading up to the transaction we stopped inside
        lsn = self.stream.keepalive_lsn
        if lsn > self._completed and time.monotonic() - self._idle_since >= 1.0:
            self._completed = lsn
            self.position = self.position.at_idle(lsn)
            self._past_cut(lsn)
            out.append(offset_update(self.partition, self.position.to_dict()))

    def _end_replay(self) -> None:
        """After a streamed transaction: the relations it carried stay, as the server counts
        them sent once it committed (pgoutput's cleanup_rel_sync_cache) and sends none again
        before the tables' next DDL. (Going back to the ones seen outside it, events after
        a column added live and first used in a streamed transaction lacked the column.)"""
        self._replay = None

    def _streamed(self, kind: int, payload: bytes, lsn: int) -> bool:
        """Stream control messages, and the messages of an open stream block (spilled);
        False for everything else."""
        streamed = self.streamed
        assert streamed is not None
        if kind == 0x53:  # 'S' Stream Start
            msg = pg.decode(payload)
            assert isinstance(msg, pg.StreamStart)
            streamed.start(msg)
        elif kind == 0x45:  # 'E' Stream Stop
            streamed.stop()
        elif kind == 0x63:  # 'c' Stream Commit: handled as a regular transaction from here
            msg = pg.decode(payload)
            assert isinstance(msg, pg.StreamCommit)
            self._replay = streamed.commit(msg)
        elif kind == 0x41:  # 'A' Stream Abort
            msg = pg.decode(payload)
            assert isinstance(msg, pg.StreamAbort)
            streamed.abort(msg)
        elif streamed.current is not None:
            if kind != 0x4F:  # an Origin (no xid) starts some blocks: not needed, as outside
                streamed.add(payload, lsn)
        else:
            return False
        return True

    def _handle(self, payload: bytes, lsn: int, out: Out) -> None:
        kind = payload[0]
        if self.streamed is not None and self._streamed(kind, payload, lsn):
            return
        txn = self._txn
        if kind in _ROW_KINDS and txn is not None and txn.cut and self._cuts(txn, payload):
            txn.event += 1  # in the snapshot that read its table already
            return
        if (
            kind in _ROW_KINDS and self.encoder is not None and txn is not None
            and not txn.skipped and self._encoded_change(txn, kind, payload, lsn, out)
        ):  # fmt: skip
            return
        msg = pg.decode(payload)
        if kind == 0x42:  # Begin
            assert isinstance(msg, pg.Begin)
            txn = self._txn = _Txn(msg)
            txn.skipped = self._skips(txn.commit_lsn, 0)
            txn.cut = self._cut is not None and not self._cut.passed(txn.commit_lsn)
            if self.metadata and not txn.skipped:
                self._txn_record(txn, "BEGIN", out)
            return
        if kind == 0x43:  # Commit
            assert isinstance(msg, pg.Commit) and txn is not None
            self._commit(txn, msg, out)
            return
        if kind == 0x52:  # Relation
            assert isinstance(msg, pg.Relation)
            self.schemas.on_relation(msg)
            self._cut_at.pop(msg.relation_id, None)
            if f"{msg.namespace}.{msg.name}" == self.cfg.signal_data_collection:
                self._signal_relid = msg.relation_id
            return
        if kind in (0x49, 0x55, 0x44, 0x54):  # Insert, Update, Delete, Truncate
            if txn is None:
                raise pg.PgOutputError("a change outside a transaction", kind=chr(kind))
            txn.event += 1
            self._change(txn, msg, lsn, out)
            return
        if kind == 0x4D:  # logical message
            assert isinstance(msg, pg.LogicalMessage)
            self._message(txn, msg, out)
            return
        # Origin and Type need nothing: types are looked up with the relation

    def _cut_lsn(self, rel_id: int) -> int:
        lsn = self._cut_at.get(rel_id)
        if lsn is None:
            assert self._cut is not None
            sc = self.schemas.by_relation.get(rel_id)
            lsn = (self._cut.position(f"{sc.schema}.{sc.table}") if sc else None) or 0
            self._cut_at[rel_id] = lsn
        return lsn

    def _cuts(self, txn: _Txn, payload: bytes) -> bool:
        """Is this row change one a resumed snapshot read already (its table was read
        whole in a database snapshot consistent after the change committed)?"""
        return len(payload) >= 5 and txn.commit_lsn < self._cut_lsn(
            _REL_ID.unpack_from(payload, 1)[0]
        )

    def _past_cut(self, lsn: int) -> None:
        if self._cut is not None and self._cut.passed(lsn):
            self._cut = self._cut_json = None
            self._cut_at.clear()
            self.position = replace(self.position, cut=None)

    def _skips(self, commit_lsn: int, event: int) -> bool:
        resume = self.resume
        if resume is None:
            return False
        if resume.skips(commit_lsn, event):
            return True
        if commit_lsn > (resume.lsn_commit or 0):
            self.resume = None  # past the resume point for good
        return False

    def _commit(self, txn: _Txn, msg: pg.Commit, out: Out) -> None:
        self._txn = None
        if self.incremental is not None:
            self.incremental.committed(txn.xid)  # (a chunk read may not see it yet)
        self._last_commit_lsn = txn.commit_lsn
        resume = self.resume
        if resume is not None and resume.skips(txn.commit_lsn, 1 << 62):
            return  # wholly before the resume point: the offset must not go back to it
        if txn.deferred:
            self._settle(txn, out)
        if self.metadata and not (txn.skipped and self._skips(txn.commit_lsn, txn.event + 1)):
            txn.event += 1
            self._txn_record(txn, "END", out)
        self._completed = msg.end_lsn
        self.behind_ms = max(time.time_ns() / 1e6 - txn.ts_us / 1000, 0.0)
        inc = self.incremental
        if inc is not None and inc.blocking:  # a blocking snapshot's signal: stop here
            self.blocked = inc.take_blocking()
            self.position = self.position.with_incremental(inc.state())
        self.position = self.position.at_commit(txn.commit_lsn, msg.end_lsn, txn.xid, txn.ts_us)
        self._past_cut(txn.commit_lsn)
        self.lsn = msg.end_lsn
        if not self.blocked:  # (else the snapshot's offset, holding this one, comes instead)
            out.append(offset_update(self.partition, self.position.to_dict()))

    def _offset(self, txn: _Txn, lsn: int) -> dict[str, Any]:
        """The offset of an event: PostgresOffset.at_event(...).to_dict(), built directly
        (this runs for every event)."""
        self.lsn = lsn
        d: dict[str, Any] = {
            "lsn": lsn, "lsn_commit": txn.commit_lsn, "event": txn.event, "txId": txn.xid,
            "ts_usec": txn.ts_us,
        }  # fmt: skip
        if self.position.incremental is not None:
            d["incremental"] = dict(self.position.incremental)
        if self._cut_json is not None:
            d["cut"] = self._cut_json
        return d

    def _change(self, txn: _Txn, msg: Any, lsn: int, out: Out) -> None:
        skip = txn.skipped and self._skips(txn.commit_lsn, txn.event)
        inc = self.incremental
        if isinstance(msg, pg.Truncate):
            schemas = [self.schemas.by_relation.get(rid) for rid in msg.relation_ids]
            if txn.cut:  # a table a resumed snapshot read after this truncate: not again
                schemas = [
                    sc for sc, rid in zip(schemas, msg.relation_ids, strict=True)
                    if txn.commit_lsn >= self._cut_lsn(rid)
                ]  # fmt: skip
            captured = [sc for sc in schemas if sc is not None]
            if inc is not None and inc.open and not skip:
                for sc in captured:
                    inc.on_truncate(sc)  # the chunk's rows are gone
            if "t" in self.skipped_ops:
                return
            if txn.deferred:  # (the rows a DEFERRABLE-keyed table got before: gone)
                rels = set(msg.relation_ids)
                txn.deferred = {k: v for k, v in txn.deferred.items() if k[0] not in rels}
            if skip:  # emitted before the restart: count it as the emit path does
                for sc in captured:
                    self._block(txn, sc)
                return
            offset = self._offset(txn, lsn)
            for sc in captured:
                out.append(truncate_record(
                    sc.topic, self._source(sc, txn, lsn), self.partition, offset,
                    sc.value_schema, self._block(txn, sc),
                ))  # fmt: skip
            self.ops["t"] += len(captured)
            return
        if msg.relation_id == self._signal_relid and not skip and isinstance(msg, pg.Insert):
            self._signal(txn, msg, lsn, out)
        schema = self.schemas.by_relation.get(msg.relation_id)
        if schema is None:
            return  # not captured
        if isinstance(msg, pg.Insert):
            if "c" in self.skipped_ops:
                return
            if schema.deferrable_key:  # (`_settle` tells the incremental snapshot)
                self._defer(txn, msg.relation_id, schema, None, msg.new.values, lsn)
                return
            if skip:
                self._block(txn, schema)
                return
            if inc is not None and inc.open:
                inc.on_change(schema, msg.new.values)
            after = schema.row(msg.new.values)
            self._emit(txn, schema, "c", None, after, schema.key(after), lsn, out)
        elif isinstance(msg, pg.Update):
            skipped = self.skipped_ops
            if "u" in skipped and (schema.unkeyed is not None or msg.old is None):
                return  # (no key change it could be: the WAL has no old row)
            old = msg.old.values if msg.old is not None else None
            new_values: Sequence[Any] = msg.new.values
            if old is not None and pg.UNCHANGED_TOAST in new_values:
                new_values = schema.with_old_key(new_values, old)
            if schema.unkeyed is not None:
                # (also without an old row: the identity's columns did not change, so the WAL
                # has none, but the key may have: its old row would stay in the sinks)
                raise KeyOutsideIdentityError([schema.unkeyed], lsn_to_str(lsn))
            key_changed = (
                old is not None
                and bool(schema.key_columns)
                and schema.raw_key(old) != schema.raw_key(new_values)
            )
            # a changed key is a delete and a create, each skipped as its own operation, as
            # Debezium's (with skipped.operations=d the old key's row had been deleted too)
            halves = ("d" not in skipped, "c" not in skipped)
            if schema.deferrable_key and old is not None:  # (REPLICA IDENTITY FULL)
                # (every update, a skipped one too: the net change at the commit is right
                # only if its slots saw them; `_settle` skips by operation)
                self._defer(txn, msg.relation_id, schema, old, new_values, lsn, key_changed)
                return
            if (not key_changed and "u" in skipped) or (key_changed and not any(halves)):
                return
            if skip:
                for _ in range(sum(halves) if key_changed else 1):
                    self._block(txn, schema)
                return
            if inc is not None and inc.open:  # (the keys whose events are emitted)
                if not key_changed:
                    inc.on_change(schema, new_values, old)
                elif halves[1]:
                    inc.on_change(schema, new_values, old if halves[0] else None)
                else:
                    assert old is not None  # (a changed key: the WAL has the old row)
                    inc.on_change(schema, old)  # (a delete alone: the create is skipped)
            full = old if msg.old_kind == "O" else None
            new: Sequence[Any] = new_values
            if key_changed and full is None and pg.UNCHANGED_TOAST in new:
                new = self.schemas.current_values(schema, new)  # (no row keeps them)
            gone: list[str] = []
            after = schema.row(new, full, gone)
            if key_changed:
                assert old is not None
                # the primary key changed: a delete of the old key and a create of the new
                before = schema.row(old)
                old_key, new_key = schema.key(before), schema.key(after)
                assert old_key is not None and new_key is not None
                if halves[0]:
                    self._emit(txn, schema, "d", before, None, old_key, lsn, out,
                               rekey_headers(new_key, "d"))  # fmt: skip
                if halves[1]:
                    self._emit(txn, schema, "c", None, after, new_key, lsn, out,
                               rekey_headers(old_key, "c") + unavailable_header(gone))  # fmt: skip
                return
            old_row = schema.row(old) if old is not None else None
            self._emit(txn, schema, "u", old_row, after, schema.key(after), lsn, out,
                       unavailable_header(gone))  # fmt: skip
        else:  # Delete
            if "d" in self.skipped_ops:
                return
            if schema.deferrable_key:
                self._defer(txn, msg.relation_id, schema, msg.old.values, None, lsn)
                return
            if skip:
                self._block(txn, schema)
                return
            if schema.unkeyed is not None:
                raise KeyOutsideIdentityError([schema.unkeyed], lsn_to_str(lsn))
            if inc is not None and inc.open:
                inc.on_change(schema, msg.old.values)
            before = schema.row(msg.old.values)
            self._emit(txn, schema, "d", before, None, schema.key(before), lsn, out)

    @staticmethod
    def _defer(
        txn: _Txn, rel: int, schema: TableSchema, old: Sequence[Any] | None,
        new: Sequence[Any] | None, lsn: int, moved: bool = True,
    ) -> None:  # fmt: skip
        """A change of a table with a DEFERRABLE key, kept for the commit (`_settle`): the
        old row taken away from its key, the new one (its unchanged TOASTed values: the old
        row's) put under its key."""
        slots = txn.deferred
        if old is not None:
            row = tuple(old)
            slot = slots.get((rel, schema.raw_key(row)))
            if slot is None:
                slot = slots[(rel, schema.raw_key(row))] = _Slot(schema)
            if row in slot.added:
                slot.added.remove(row)
            elif slot.gone is None:
                slot.gone = row
            slot.lsn = lsn
            slot.moved |= moved
        if new is not None:
            row = tuple(
                o if v is pg.UNCHANGED_TOAST else v
                for v, o in zip(new, old if old is not None else new, strict=True)
            )  # fmt: skip
            key = (rel, schema.raw_key(row))
            slot = slots.get(key)
            if slot is None:
                slot = slots[key] = _Slot(schema)
            slot.added.append(row)
            slot.lsn = lsn
            slot.moved |= moved
            slot.updated |= old is not None and not moved

    def _settle(self, txn: _Txn, out: Out) -> None:
        """At the commit, each key of a DEFERRABLE-keyed table the transaction changed gets
        its net change: created, updated (from the row that held it before), or deleted.
        Event by event, a shifted key's delete named a key another row had just been moved
        onto, and deleted that row in the sinks."""
        inc = self.incremental
        for slot in txn.deferred.values():
            schema = slot.schema
            if not slot.added and slot.gone is None:
                continue  # (put there and taken away again: no change, and the chunk of an
                # incremental snapshot keeps its read of the key)
            # (an event number each, after the transaction's messages: a resume skips the
            # ones emitted before it, as it does messages)
            txn.event += 1
            op = "d" if not slot.added else "c" if slot.gone is None else "u"
            skipped = self.skipped_ops
            ops = [op]
            if op == "u" and slot.moved and "u" in skipped:
                ops = ["d", "c"]  # (a row left the key, another came: Debezium's events)
            elif op == "c" and slot.updated and "c" in skipped:
                ops = ["u"]  # (created, then updated: the update is not skipped)
            ops = [o for o in ops if o not in skipped]
            if not ops:
                continue  # (its net change is skipped: nor does it touch a chunk's read)
            if txn.skipped and self._skips(txn.commit_lsn, txn.event):
                for _ in ops:
                    self._block(txn, schema)  # (emitted before the restart: counted)
                continue
            if inc is not None and inc.open:  # (newer than a chunk's read of the key)
                now = slot.added[-1] if slot.added else slot.gone
                assert now is not None
                inc.on_change(schema, now, slot.gone)
            before = schema.row(slot.gone) if slot.gone is not None else None
            if "d" in ops:
                assert before is not None
                self._emit(txn, schema, "d", before, None, schema.key(before), slot.lsn, out)
            if slot.added and ops != ["d"]:
                gone: list[str] = []
                after = schema.row(slot.added[-1], None, gone)
                self._emit(txn, schema, "c" if "c" in ops else "u",
                           None if "c" in ops else before, after, schema.key(after), slot.lsn,
                           out, unavailable_header(gone))  # fmt: skip
        txn.deferred.clear()

    def _encoded_change(self, txn: _Txn, kind: int, buf: bytes, lsn: int, out: Out) -> bool:
        """An Insert, Update or Delete as encoded records, straight from the message's bytes
        (`RowCodec.change`); False (nothing done) for what needs the slow path: a table being
        snapshotted incrementally, the signal table, a changed key, an unchanged TOASTed
        value, a skipped operation, anything malformed (the slow path reports it)."""
        if len(buf) < 7 or (self.incremental is not None and self.incremental.open):
            return False
        rel_id = _REL_ID.unpack_from(buf, 1)[0]
        if rel_id == self._signal_relid:
            return False
        schema = self.schemas.by_relation.get(rel_id)
        if schema is not None and schema.unkeyed is not None:
            return False  # (the slow path stops at a delete without its key)
        if schema is not None and schema.deferrable_key:
            return False  # (its changes wait for the commit: `_defer`)
        if schema is not None and schema.masked:
            return False  # (its masked columns' converters: `cdc.masks`)
        if schema is None:
            txn.event += 1
            return True  # not captured
        op = _KIND_OP[kind]
        if op in self.skipped_ops:
            return False
        enc = self.encoder
        assert enc is not None
        t = enc.table(schema)
        topic = schema.topic
        block = None
        if self.metadata:  # the transaction block this event gets, if it is emitted
            n = txn.counts.get(topic, 0) + 1
            block = orjson.dumps(
                {"id": txn.id, "total_order": txn.total + 1, "data_collection_order": n}
            )
        got = t.codec.change(
            buf, t.wrap, t.source_parts(txn.ts_us, self._last_commit_lsn, txn.xid), lsn, block,
            None,
        )  # fmt: skip
        if got is None:
            return False
        if block is not None:
            txn.total += 1
            txn.counts[topic] = n
        value, key = got
        txn.event += 1
        offset = self._offset(txn, lsn)
        # consecutive changes of a table travel as one EncodedBatch: only the offset of the
        # last record of a poll is ever stored, so the batch carries its latest
        last = out[-1] if out else None
        if type(last) is EncodedBatch and last.topic == topic:
            last.keys.append(key)
            last.values.append(value)
            last.source_offset = offset
        else:
            last = EncodedBatch(topic, [key], [value], self.partition, offset)
            out.append(last)
        self.batched += 1
        self.events += 1
        self.ops[op] += 1
        if op == "d" and self.tombstones and key is not None:
            last.keys.append(key)
            last.values.append(None)
            self.batched += 1
        return True

    def _signal(self, txn: _Txn, msg: pg.Insert, lsn: int, out: Out) -> None:
        """A row inserted into the signal table: a signal, or a watermark of ours."""
        inc = self.incremental
        if inc is None:
            return
        # (its first three columns, whatever their names, as Debezium reads them)
        got = [bytes(v).decode() if isinstance(v, bytes | memoryview) else None
               for v in msg.new.values[:3]]  # fmt: skip
        ident, kind, data = (got + [None] * 3)[:3]
        closed = inc.on_signal(kind, ident, data)
        if closed:
            src = {
                "version": VERSION, "connector": "postgresql", "name": self.name,
                "ts_ms": txn.ts_us // 1000, "snapshot": "incremental", "db": self.db,
                "sequence": None, "ts_us": txn.ts_us, "ts_ns": txn.ts_us * 1000, "schema": "",
                "table": "", "txId": txn.xid, "lsn": lsn, "xmin": None,
            }  # fmt: skip
            schema, rows = inc.take(src)
            self.ops["r"] += len(rows)
            self.position = self.position.with_incremental(inc.state())
            offset = self._offset(txn, lsn)
            for key, value in rows:
                out.append(SourceRecord(
                    schema.topic, value, key, self.partition, offset,
                    key_schema=schema.key_schema, value_schema=schema.value_schema,
                    replayable=False,
                ))  # fmt: skip
        else:
            self.position = self.position.with_incremental(inc.state())
        inc.notifier.drain(out, self.partition, self._offset(txn, lsn))

    def _emit(
        self, txn: _Txn, schema: TableSchema, op: str, before: Any, after: Any, key: Any,
        lsn: int, out: Out, headers: tuple[Header, ...] = (),
    ) -> None:  # fmt: skip
        offset = self._offset(txn, lsn)
        value = envelope(
            op, before, after, self._source(schema, txn, lsn), self._block(txn, schema)
        )
        out.append(SourceRecord(
            schema.topic, value, key, self.partition, offset, headers=headers,
            key_schema=schema.key_schema, value_schema=schema.value_schema,
        ))  # fmt: skip
        self.events += 1
        self.ops[op] += 1
        if op == "d" and self.tombstones and key is not None:
            out.append(SourceRecord(
                schema.topic, None, key, self.partition, offset, key_schema=schema.key_schema
            ))  # fmt: skip

    def _source(self, schema: TableSchema, txn: _Txn, lsn: int) -> dict[str, Any]:
        return schema.source(
            self.db, self.name, ts_us=txn.ts_us, txid=txn.xid, lsn=lsn,
            sequence=(f'["{self._last_commit_lsn}","{lsn}"]' if self._last_commit_lsn
                      else f'[null,"{lsn}"]'),  # (no commit before it known: as Debezium)
        )  # fmt: skip

    def _block(self, txn: _Txn, schema: TableSchema) -> dict[str, Any] | None:
        return txn.block(schema.topic, self.metadata)

    def _txn_record(self, txn: _Txn, status: str, out: Out) -> None:
        real = {  # a topic's table by its real name (topics are sanitized)
            sc.topic: f"{sc.schema}.{sc.table}" for sc in self.schemas.by_relation.values() if sc
        } if status == "END" else {}  # fmt: skip
        offset = self._offset(txn, txn.commit_lsn)
        out.append(txn.metadata_record(
            self.name, status, txn.ts_us // 1000, self.partition, offset, real
        ))  # fmt: skip

    def _message(self, txn: _Txn | None, msg: pg.LogicalMessage, out: Out) -> None:
        if txn is not None:
            txn.event += 1
            if txn.skipped and self._skips(txn.commit_lsn, txn.event):
                return
        if not self._message_wanted(msg.prefix):  # (message.prefix.include/exclude.list)
            return
        if txn is not None:
            offset = self._offset(txn, msg.lsn)
            ts_us, xid = txn.ts_us, txn.xid
        else:  # non-transactional: stands alone at its LSN, the END of its WAL record,
            # where the next record starts: one past it would skip a transaction whose commit
            # record is that next one (the server skips commits before the start point).
            # Resumed from it, the server sends the message again: skipped here (Debezium's
            # WalPositionLocator does the same)
            if self.resume is not None and msg.lsn <= (self.resume.lsn or 0):
                return
            self.position = self.position.at_idle(msg.lsn)
            self._completed = max(self._completed, msg.lsn)
            offset = self.position.to_dict()
            ts_us, xid = time.time_ns() // 1000, None
        source = {
            "version": VERSION, "connector": "postgresql", "name": self.name,
            "ts_ms": ts_us // 1000, "snapshot": "false", "db": self.db, "sequence": None,
            "ts_us": ts_us, "ts_ns": ts_us * 1000, "schema": "", "table": "", "txId": xid,
            "lsn": msg.lsn, "xmin": None,
        }  # fmt: skip
        value = {
            "op": "m", "ts_ms": now_ms(), "source": source,
            "message": {"prefix": msg.prefix, "content": self._message_content(msg.content)},
        }  # fmt: skip
        out.append(SourceRecord(
            f"{self.name}.message", value, {"prefix": msg.prefix}, self.partition, offset,
            key_schema=MESSAGE_KEY_SCHEMA, value_schema=self._message_schema,
        ))  # fmt: skip
