"""Incremental (ad-hoc) snapshots while streaming, as Debezium does them (after Netflix's
DBLog): no lock, no pause of the stream.

A user inserts into ``signal.data.collection``::

    INSERT INTO public.debezium_signal VALUES
      ('ad-hoc-1', 'execute-snapshot', '{"data-collections": ["public.orders"]}');

The stream delivers that row; the task then reads the tables in primary-key order,
``incremental.snapshot.chunk.size`` rows at a time. Each chunk is read between two
*watermark* rows the task writes to the signal table (``snapshot-window-open`` and
``snapshot-window-close``), each committed on its own. When the stream reaches the open
watermark, every change it delivers to a row of the chunk, up to the close watermark, is
newer than (or as new as) what the chunk read, so that row leaves the chunk; at the close
watermark the rest of the chunk is emitted as ``op: r`` events with ``source.snapshot =
incremental``. Every row thus ends in its latest state, and no change is held back.

Chunk reads are not part of the deterministic replay (a restarted task reads the live table
again), so their records are marked ``replayable=False``: after a crash a chunk may be emitted
twice, never lost. The progress (tables to go, last key read) rides in every stream offset,
so a restarted task goes on from the last chunk emitted.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.source.cdc.envelope import envelope
from connectors.source.cdc.filters import Filters
from connectors.source.postgres import catalog
from connectors.source.postgres.catalog import TableInfo
from connectors.source.postgres.events import TableSchema
from connectors.source.postgres.snapshot import key_chunk

log = logging.getLogger(__name__)

OPEN, CLOSE = "snapshot-window-open", "snapshot-window-close"


class IncrementalSnapshot:
    def __init__(self, meta: Any, signal_table: str, chunk_size: int, filters: Filters,
                 schemas: Any) -> None:  # fmt: skip
        self.meta = meta
        schema, _, table = signal_table.partition(".")
        self.signal_rel = f'"{schema}"."{table}"'
        self.chunk_size = chunk_size
        self.filters = filters
        self.schemas = schemas  # TableSchemas: row conversion for the chunk's table
        self.tables: list[str] = []  # qualified names still to read; the first is current
        self.after: tuple[str | None, ...] | None = None  # the read cursor (last key read)
        # what the offset holds: the tables and the key up to which rows were *emitted*
        self._state: dict[str, Any] | None = None
        self.window: str | None = None
        self.open = False
        self.buffer: dict[tuple[str | None, ...], list[bytes | None]] = {}
        self.info: TableInfo | None = None
        self.schema: TableSchema | None = None
        self.rows_emitted = 0

    # -- state in the offset -------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        return self._state

    def _emitted(self, after: tuple[str | None, ...] | None) -> None:
        self._state = (
            {"tables": list(self.tables), "after": list(after) if after else None}
            if self.tables else None
        )  # fmt: skip

    def resume(self, state: Mapping[str, Any] | None) -> None:
        if not state or not state.get("tables"):
            return
        self.tables = list(state["tables"])
        after = state.get("after")
        self.after = tuple(after) if after else None
        self._emitted(self.after)
        log.info("resuming the incremental snapshot at %s after %s", self.tables[0], self.after)
        self._next_chunk()

    @property
    def running(self) -> bool:
        return bool(self.tables)

    # -- signals ---------------------------------------------------------------------------
    def on_signal(self, kind: str | None, ident: str | None, data: str | None) -> bool:
        """A row inserted into the signal table; True when a chunk's close watermark arrived
        (call `take` for its rows)."""
        if kind == OPEN:
            if ident == f"{self.window}-open":
                self.open = True
            return False
        if kind == CLOSE:
            return ident == f"{self.window}-close" and self.window is not None
        if kind == "execute-snapshot":
            self._execute(ident, data)
        elif kind == "stop-snapshot":
            log.info("signal %s: incremental snapshot stopped", ident)
            self.tables, self.after, self.window, self.open = [], None, None, False
            self.buffer.clear()
            self._state = None
        return False

    def _execute(self, ident: str | None, data: str | None) -> None:
        try:
            doc = json.loads(data or "{}")
            patterns = [re.compile(p) for p in doc.get("data-collections", [])]
        except (ValueError, re.error, TypeError) as exc:
            log.error("signal %s: cannot read its data %r: %s", ident, data, exc)
            return
        if doc.get("type", "incremental").lower() != "incremental":
            log.error("signal %s: only incremental snapshots are supported", ident)
            return
        known = catalog.tables(self.meta, self.filters)
        chosen = [t.qualified for t in known if any(p.fullmatch(t.qualified) for p in patterns)]
        keyless = [t.qualified for t in known if t.qualified in chosen and not t.primary_key]
        if keyless:
            log.error("signal %s: %s have no primary key; left out of the incremental "
                      "snapshot", ident, ", ".join(keyless))  # fmt: skip
        chosen = [t for t in chosen if t not in keyless and t not in self.tables]
        if not chosen:
            log.warning(
                "signal %s: no captured table matches %s", ident, doc.get("data-collections")
            )
            return
        log.info("signal %s: incremental snapshot of %s", ident, ", ".join(chosen))
        idle = not self.tables
        self.tables += chosen
        if idle:
            self._emitted(None)
            self._next_chunk()
        elif self._state is not None:
            self._state["tables"] = list(self.tables)

    # -- chunks ----------------------------------------------------------------------------
    def _watermark(self, ident: str, kind: str) -> None:
        self.meta.execute(
            f"INSERT INTO {self.signal_rel} (id, type, data) VALUES (%s, %s, %s)",
            (ident, kind, json.dumps({"ts": time.time()})),
        )

    def _next_chunk(self) -> None:
        """Read the next chunk between a fresh pair of watermarks."""
        while self.tables:
            found = catalog.tables(self.meta, self.filters)
            info = next((t for t in found if t.qualified == self.tables[0]), None)
            if info is None or not info.primary_key:
                self.tables.pop(0)  # dropped (or lost its key) since the signal
                self.after = None
                continue
            self.window = uuid.uuid4().hex
            self.open = False
            self._watermark(f"{self.window}-open", OPEN)
            rows, keys = key_chunk(self.meta, info, self.after, self.chunk_size)
            self._watermark(f"{self.window}-close", CLOSE)
            if not rows:
                log.info("incremental snapshot of %s done", info.qualified)
                self.tables.pop(0)
                self.after, self.window = None, None
                continue
            self.info = info
            self.schema = self.schemas.for_table(info)
            self.buffer = dict(zip(keys, rows, strict=True))
            self.after = keys[-1]
            return
        self.window = None
        self._state = None

    def _key_of(self, schema: TableSchema, values: Sequence[Any]) -> tuple[str | None, ...]:
        """The primary key (what the chunk is keyed by) of a streamed row, as text."""
        assert self.info is not None
        names = schema.column_names
        out = []
        for k in self.info.primary_key:
            v = values[names.index(k)] if k in names else None
            out.append(v.decode() if isinstance(v, bytes) else None)
        return tuple(out)

    def on_change(
        self, schema: TableSchema, values: Sequence[Any], old: Sequence[Any] | None = None
    ) -> None:
        """A streamed change (emitted) to ``schema``'s table: inside an open window, its row
        is newer than the chunk's read of it."""
        if not self.open or self.schema is None or schema.topic != self.schema.topic:
            return
        self.buffer.pop(self._key_of(schema, values), None)
        if old is not None:
            self.buffer.pop(self._key_of(schema, old), None)

    def on_truncate(self, schema: TableSchema) -> None:
        if self.open and self.schema is not None and schema.topic == self.schema.topic:
            self.buffer.clear()

    def take(self, source: dict[str, Any]) -> tuple[TableSchema, list[tuple[Any, Any]]]:
        """At the close watermark: the chunk's remaining rows as (key, value), then on to the
        next chunk. ``source`` is the close watermark's source block."""
        schema = self.schema
        assert schema is not None
        out = []
        for values in self.buffer.values():
            after = schema.row(values)
            src = {**source, "schema": schema.schema, "table": schema.table}
            value = envelope("r", None, after, {**src, "snapshot": "incremental"})
            out.append((schema.key(after), value))
        self.rows_emitted += len(out)
        self.buffer = {}
        self.open = False
        self._emitted(self.after)  # rows up to the chunk's last key are out
        self._next_chunk()
        return schema, out
