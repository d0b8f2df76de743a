"""The PostgreSQL side of incremental snapshots (`cdc.incremental` holds the algorithm):
watermarks are rows inserted into the signal table, chunks are read with ``COPY`` in key order
(`snapshot.key_chunk`), keys compared as their text."""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Sequence
from typing import Any

from connectors.source.cdc.envelope import envelope
from connectors.source.cdc.filters import Filters
from connectors.source.cdc.incremental import (
    SIGNAL_COLUMNS_PG,
    Chunk,
    Hidden,
    IncrementalSnapshot,
    check_signal_columns,
    chunk_bounds,
    key_signature,
    signal_insert,
    watermark_refused,
)
from connectors.source.postgres import catalog
from connectors.source.postgres.events import TableSchema
from connectors.source.postgres.snapshot import key_chunk, last_key


class PostgresIncrementalPort:
    def __init__(
        self, meta: Any, signal_table: str, filters: Filters, schemas: Any,
        signal_columns: Sequence[str],
    ) -> None:  # fmt: skip
        self.meta = meta
        schema, _, table = signal_table.partition(".")
        self.signal_rel = f"{catalog.quote(schema)}.{catalog.quote(table)}"
        # (its first three columns named, as the factory read them)
        self._insert = signal_insert(
            self.signal_rel.replace("%", "%%"), signal_columns,  # (a statement with arguments)
            lambda name: catalog.quote(name).replace("%", "%%"),
        )  # fmt: skip
        self.filters = filters
        self.schemas = schemas  # TableSchemas: row conversion for the chunk's table
        self._keys: dict[str, tuple[str, ...]] = {}  # primary keys of the chunks' tables
        # the catalog as `tables` last read it: `read` comes right after it for each chunk
        # (one catalog query a chunk instead of two: ~15 % of an incremental snapshot's time)
        self._infos: dict[str, Any] | None = None
        self._fresh: dict[str, Any] | None = None

    def tables(self) -> dict[str, bool]:
        infos, self._fresh = self._fresh, None  # (`shape`'s look-up, just before)
        if infos is None:
            infos = {t.qualified: t for t in catalog.tables(self.meta, self.filters)}
        self._infos = infos
        return {name: bool(t.primary_key) for name, t in infos.items()}

    def shape(self, table: str) -> Hashable | None:
        # (the look-up is kept for the next chunk's `tables`: one catalog query a chunk)
        self._fresh = {t.qualified: t for t in catalog.tables(self.meta, self.filters)}
        info = self._fresh.get(table)
        return None if info is None else _shape(info)

    def watermark(self, ident: str, kind: str) -> None:
        # Committed with its WAL flushed: under ``synchronous_commit = off`` (a server's or
        # the user's setting) the walsender sees a commit only once the WAL writer flushes it,
        # up to ``wal_writer_delay`` (200 ms) later, and every chunk waits for its close
        # watermark (measured: 219 ms a chunk of 100 rows, 3000 rows in 6.6 s). And after
        # every earlier commit that waits for a synchronous standby (``remote_apply``, the
        # longest wait; without synchronous standbys a local flush): such a commit is
        # streamed before the open watermark but not visible until its wait ends, so a chunk
        # read before then had its old row, emitted after the streamed change (``local``
        # left a row in its older state). Debezium's watermarks wait in the same queue.
        import psycopg

        try:
            with self.meta.transaction():
                self.meta.execute("SET LOCAL synchronous_commit = remote_apply")
                self.meta.execute(self._insert, (ident, kind, json.dumps({"ts": time.time()})))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise watermark_refused(self.signal_rel, str(exc).strip()) from None

    def read(
        self,
        table: str,
        after: list[Any] | None,
        key: list[str] | None,
        limit: int,
        condition: str | None = None,
        until: list[Any] | None = None,
    ) -> Chunk | None:
        infos, self._infos = self._infos, None  # (used once: a later read asks again)
        if infos is None:
            infos = {t.qualified: t for t in catalog.tables(self.meta, self.filters)}
        info = infos.get(table)
        if info is None or not info.primary_key:
            return None
        # (a key column's collation too: the chunks go by key order, which it sets)
        types = {
            c.name: c.type_name + (f" COLLATE {c.collation}" if c.collation else "")
            for c in info.columns
        }  # fmt: skip
        now = key_signature([(k, types.get(k, "")) for k in info.primary_key])
        bounds = chunk_bounds(table, after, key, now, until,
                              lambda: _listed(last_key(self.meta, info, condition)))  # fmt: skip
        if bounds is None:
            return None
        after, until = bounds
        # in one snapshot with the transactions it does not see (`running`)
        with self.meta.transaction():
            self.meta.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            running = self.running()
            rows, keys = key_chunk(self.meta, info, tuple(after) if after else None, limit,
                                   tuple(until), condition)  # fmt: skip
        if not rows:
            return None
        schema = self.schemas.for_table(info)
        self._keys[schema.topic] = info.primary_key
        return Chunk(schema, dict(zip(keys, rows, strict=True)), list(keys[-1]), now, until,
                     running, shape=_shape(info))  # fmt: skip

    def running(self) -> Hidden:
        """The transactions the current snapshot does not see, by their 32-bit xids (as
        pgoutput's Begin gives them): those it lists as running, and every one from its
        xmax on (one past the last transaction to leave the running list: a later xid that
        committed first is past it, and listed nowhere). A commit is in the WAL, and
        streamed, before its transaction leaves that list; one waiting for a synchronous
        standby stays in it until the wait ends."""
        row = self.meta.execute(
            "SELECT txid_snapshot_xmax(s) % 4294967296, "
            "ARRAY(SELECT x % 4294967296 FROM txid_snapshot_xip(s) AS x) "
            "FROM txid_current_snapshot() AS s"
        ).fetchone()
        assert row is not None
        return Hidden(frozenset(int(x) for x in row[1]), int(row[0]))

    def check_condition(self, table: str, condition: str) -> str | None:
        import psycopg

        schema, _, name = table.partition(".")
        rel = f"{catalog.quote(schema)}.{catalog.quote(name)}"
        try:
            with self.meta.transaction():  # (rolled back: the filter only planned)
                self.meta.execute(f"EXPLAIN SELECT 1 FROM ONLY {rel} WHERE ({condition})")
        except psycopg.Error as exc:
            return str(exc).strip().splitlines()[0]
        return None

    def key_of(self, schema: TableSchema, values: Sequence[Any]) -> Hashable:
        """The primary key (what the chunk is keyed by) of a streamed row, as text."""
        names = schema.column_names
        out = []
        for k in self._keys.get(schema.topic, ()):
            v = values[names.index(k)] if k in names else None
            out.append(v.decode() if isinstance(v, bytes) else None)
        return tuple(out)

    def same_table(self, schema: TableSchema, other: TableSchema) -> bool:
        return schema.topic == other.topic

    def fill(self, values: Sequence[Any], read: Any) -> Any | None:
        from connectors.source.postgres.protocol.basics import UNCHANGED_TOAST as MISSING

        if len(values) != len(read) or not any(v is MISSING for v in values):
            return None
        return [r if v is MISSING else v for v, r in zip(values, read, strict=True)]

    def query_error(self, exc: BaseException) -> str | None:
        import psycopg

        # (a statement_timeout a chunk always runs into is one too, as Debezium takes it)
        if isinstance(exc, psycopg.errors.QueryCanceled) or (
            isinstance(exc, psycopg.DatabaseError) and not isinstance(exc, psycopg.OperationalError)
        ):
            return str(exc).strip().splitlines()[0]
        return None

    def event(self, schema: TableSchema, values: Any, source: dict[str, Any]) -> tuple[Any, Any]:
        after = schema.row(values)
        src = {**source, "schema": schema.schema, "table": schema.table}
        return schema.key(after), envelope("r", None, after, src)


def _shape(info: Any) -> tuple[tuple[str, str], ...]:
    """A table's columns as `IncrementalPort.shape` compares them: names and types."""
    return tuple((c.name, c.type_name) for c in info.columns)


def _listed(key: tuple[Any, ...] | None) -> list[Any] | None:
    return None if key is None else list(key)


def incremental_snapshot(
    meta: Any, signal_table: str, chunk_size: int, filters: Filters, schemas: Any
) -> IncrementalSnapshot:
    schema, _, table = signal_table.partition(".")
    names = [str(r[0]) for r in meta.execute(SIGNAL_COLUMNS_PG, (schema, table))]
    check_signal_columns(signal_table, names)
    port = PostgresIncrementalPort(meta, signal_table, filters, schemas, names)
    return IncrementalSnapshot(port, chunk_size, running=port.running)
