"""The PostgreSQL source: Debezium's PostgresConnector, in one task per slot.

Start-up decides, from the stored offset, the slot and ``snapshot.mode``, one of:

* a fresh snapshot: (re)create the slot exporting its snapshot, read the tables in it, then
  stream from the slot's consistent point;
* a snapshot resumed after a crash: read the remaining rows in a new transaction, then stream
  from the consistent point of the first attempt (the slot has not moved since);
* streaming from the stored offset (the slot must not have moved past it).

Heavy imports (psycopg) happen in `PostgresSourceTask.start`, so listing and validating
connectors stays light.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.source.cdc.bounds import CHUNK_MAX_BYTES
from connectors.source.cdc.captured import CapturedTables, listed
from connectors.source.cdc.config import initial_statements
from connectors.source.cdc.cuts import SnapshotCuts, key_changed, truncated, written_before
from connectors.source.cdc.envelope import envelope, op_metrics, truncate_record
from connectors.source.cdc.filters import Filters
from connectors.source.cdc.heartbeat import Heartbeat
from connectors.source.cdc.notifications import INITIAL, NO_NOTIFIER, SnapshotNotes
from connectors.source.cdc.plugin import CdcSourceConnector, CdcSourceTask
from connectors.source.cdc.runs import read_runs
from connectors.source.cdc.snapshotters import (
    POSITION_LOST_ADVICE,
    SnapshotMarkers,
    WhenNeeded,
    snapshotter,
    warn_of_a_new_snapshot,
)
from connectors.source.cdc.topics import check_unique, topic_name
from connectors.source.postgres import catalog, replication
from connectors.source.postgres.config import PostgresSourceConfig
from connectors.source.postgres.encoded import EventEncoder, SnapshotRows
from connectors.source.postgres.errors import (
    ConnectionLostError,
    KeyOutsideIdentityError,
    PostgresSourceError,
    ReplicaIdentityError,
)
from connectors.source.postgres.events import TableSchema
from connectors.source.postgres.offsets import PostgresOffset
from connectors.source.postgres.protocol.basics import lsn_to_str
from connectors.source.postgres.snapshot import (
    Chunk,
    SnapshotReader,
    chunk_bytes,
    resume_index,
)
from hub.errors import ConfigError, describe
from hub.log import Packed
from hub.runtime.api import (
    Check,
    ConnectorConfig,
    EncodedBatch,
    SourceRecord,
    SourceTaskContext,
    offset_update,
)

if TYPE_CHECKING:
    from hub.verify import SourceTable

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 5.0
SLOT_WAIT_S = 5.0  # a slot made for this long: the transactions it waits for are named
PUBLICATION_CHECK_S = 30.0  # how often a running task checks its publication's tables


def _connect(cfg: PostgresSourceConfig, **kwargs: Any) -> Any:
    import psycopg

    try:
        conn = psycopg.connect(cfg.conninfo(), autocommit=True, **kwargs)
        if "replication" not in kwargs:  # (Debezium's: not the log reading connection)
            run_initial_statements(conn, cfg)
        return conn
    except psycopg.OperationalError as exc:
        reason = describe(exc)
        if "password authentication failed" in str(exc) or "no password supplied" in str(exc):
            raise ConfigError(
                f"cannot log in to {cfg.where()}: {reason}; check database.user and "
                f"database.password"
            ) from None
        if "does not exist" in str(exc):
            raise ConfigError(f"cannot connect to {cfg.where()}: {reason}") from None
        raise ConnectionLostError(f"cannot connect to {cfg.where()}: {reason}") from None


def run_initial_statements(conn: Any, cfg: PostgresSourceConfig) -> None:
    """``database.initial.statements`` on a new connection (`snapshot.run_statements`)."""
    from connectors.source.postgres.snapshot import run_statements

    run_statements(conn, initial_statements(cfg.database_initial_statements), cfg.where())


class PostgresSourceTask(CdcSourceTask):
    # (the size of a poll and the wait for one: the changes and their order are the same)
    replay_neutral = frozenset({"poll.interval.ms", "max.batch.size"})

    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        cfg = self.cfg = PostgresSourceConfig.of(config)
        self._context = context
        self.filters = Filters.from_config(cfg)
        self.partition = {"server": cfg.topic_prefix}
        self.reader: SnapshotReader | None = None
        self._snapshot_ops: Counter[str] = Counter()  # the snapshot's events handed over
        self.stream: Any = None
        # the snapshot is done and the stream opens at the next poll, so that the snapshot's
        # last records reach the log without waiting for the replication connection
        self._stream_due = False
        self._blocking: PostgresOffset | None = None  # a blocking snapshot to start
        self._chunks: Any = None
        self._chunk: Chunk | None = None
        self._declined: dict[int, list[bytes | None]] = {}  # the chunk's rows the codec declined
        self._row = 0
        self._chunk_row_bytes = 0  # about a row of the chunk being handed out
        self._table_schemas: dict[str, TableSchema] = {}
        self.notifier = cfg.notifier()  # notification.enabled.channels
        self._notes = SnapshotNotes(NO_NOTIFIER, self.partition, [], None, lambda _: 0, {})
        self._beat = Heartbeat(
            cfg.heartbeat_interval_ms, cfg.heartbeat_topics_prefix, cfg.topic_prefix,
            (lambda: self.meta.execute(cfg.heartbeat_action_query))
            if cfg.heartbeat_action_query else None,
        )  # fmt: skip
        self._sampled = 0.0
        self._publication_due = time.monotonic() + PUBLICATION_CHECK_S
        self._members: replication.Members = {}  # the publication's entries (see start)
        self._stop_with: Exception | None = None  # (raised at the next poll: see poll)
        self.json_encoding = context.json_encoding
        self.encoder = (
            EventEncoder(self.json_encoding, cfg.dbname, cfg.topic_prefix)
            if self.json_encoding is not None
            else None
        )
        self.meta = _connect(cfg)
        catalog.check_server(self.meta, cfg)
        tables = catalog.tables(self.meta, self.filters)
        if self.filters.lists:
            self.filters.warn_unmatched(context.connector, "schema",
                                        lambda cols: catalog.names(self.meta, cols))  # fmt: skip
        missing = catalog.missing_key_columns(tables, self.filters)
        if missing:
            raise ConfigError("message.key.columns: " + "; ".join(missing))
        self._via_root = catalog.via_root(self.meta, cfg.publication_name)
        roots, self._left_out, unlogged = catalog.uncaptured(
            self.meta, self.filters, not self._via_root
        )
        if roots:
            raise ConfigError("; ".join(roots) + ": include the partitions in the lists "
                              "(each partition's changes come under its own topic)")  # fmt: skip
        self._unlogged = set(unlogged)
        if unlogged:
            log.warning("%s: %s", ", ".join(unlogged), catalog.UNLOGGED_LINE)
        keyless = [t.qualified for t in tables if t.lacks_identity()]
        if keyless:
            raise ReplicaIdentityError(keyless)
        unkeyed = catalog.unkeyed_changes(tables, self.filters, cfg.skipped())
        if unkeyed:
            raise KeyOutsideIdentityError(unkeyed)
        topics = check_unique(cfg.topic_prefix, [(t.schema, t.name) for t in tables])
        published = replication.ensure_publication(
            self.meta, cfg, tables, self._signal_table(tables)
        )
        # (the publication's entries as the task starts: one gone at a check was taken out,
        # whether or not it was put back since; see _check_publication)
        self._members = replication.memberships(self.meta, cfg.publication_name)
        from connectors.source.cdc.masks import ColumnMasks
        from connectors.source.postgres.schemas import TableSchemas

        masks = ColumnMasks.from_config(config)
        masks.warn_unmatched(context.connector, lambda cols: catalog.names(self.meta, cols))
        self.schemas = TableSchemas(self.meta, cfg, self.filters, topics, masks)
        self.schemas.seed(tables)
        offset = PostgresOffset.load(context.offset(self.partition))
        slot = replication.slot_state(self.meta, cfg.slot_name)
        if slot is not None:
            replication.check_slot(slot, cfg)
        policy = snapshotter(cfg.snapshot_mode)
        self.should_stream = policy.should_stream()
        usable = slot is not None and not slot.lost and (
            offset is None or slot.confirmed_flush is None
            or slot.confirmed_flush <= offset.start_lsn()
        )  # fmt: skip
        # slot.drop.on.stop: the task dropped its slot at its last stop (a restart, a move to
        # another worker, the end of a run), and the position went with it: it starts over,
        # with a new snapshot where the snapshot.mode takes one of a new connector (it had
        # failed for good, "the changes in between can no longer be read")
        # (a mode that never streams, its snapshot finished: nothing to read, no slot needed)
        done = offset is not None and not offset.snapshot and not self.should_stream
        dropped = slot is None and cfg.slot_drop_on_stop and offset is not None and not done
        if dropped and policy.should_snapshot(False, False, True):
            policy = WhenNeeded()
        elif dropped:
            log.warning(
                "%s: slot.drop.on.stop dropped replication slot %s when the task last stopped: "
                "the changes made since are not captured (snapshot.mode=%s takes no snapshot)",
                cfg.where(), cfg.slot_name, cfg.snapshot_mode,
            )  # fmt: skip
        if (
            offset is not None and not usable and not done
            and not (isinstance(policy, WhenNeeded) or dropped)
        ):  # fmt: skip
            where = lsn_to_str(offset.start_lsn())
            state = "does not exist" if slot is None else (
                "was invalidated (the server removed WAL it still needed: "
                "max_slot_wal_keep_size)" if slot.lost else
                f"has moved on to {lsn_to_str(slot.confirmed_flush or 0)}"
            )  # fmt: skip
            raise PostgresSourceError(
                f"replication slot {cfg.slot_name!r} {state}, but this connector stopped at "
                f"{where}: the changes in between can no longer be read. " + POSITION_LOST_ADVICE
            )
        if offset is not None and not usable and isinstance(policy, WhenNeeded):
            cause = "slot.drop.on.stop dropped the slot at the task's last stop"
            warn_of_a_new_snapshot(cfg.where(), cause if dropped else "snapshot.mode=when_needed")
        in_progress = offset is not None and offset.snapshot
        # (a blocking snapshot goes on whatever the snapshot.mode: its signal asked for it)
        blocking = in_progress and usable and offset is not None and offset.only is not None
        self._captured = CapturedTables.of(context, self.partition)
        by_name = {t.qualified: t for t in tables}
        lists = (cfg.column_include_list, cfg.column_exclude_list)
        if blocking or policy.should_snapshot(offset is not None, in_progress, usable):
            context.replay_is_inexact()  # a snapshot re-read after a crash may differ
            # (a blocking snapshot reads its signal's tables only: a table new to the lists
            # is streamed on from the stored position, as without it)
            self._captured.start(
                (t.qualified for t in tables),
                streams_on=blocking and policy.should_snapshot(False, False, True),
                column_lists=lists, columns=lambda n: self._unkeyed_columns(by_name[n]),
                ids={t.qualified: t.oid for t in tables},
            )  # fmt: skip
            self._start_snapshot(offset, slot is not None, usable, in_progress, tables)
        else:
            self.notifier.notify(INITIAL, "SKIPPED")
            # (a snapshot.mode that never reads rows: the user's choice, no warning)
            self._captured.start(
                (t.qualified for t in tables),
                streams_on=offset is not None and usable and self.should_stream
                and policy.should_snapshot(False, False, True),
                told=published, column_lists=lists,
                columns=lambda n: self._unkeyed_columns(by_name[n]),
                ids={t.qualified: t.oid for t in tables},
            )  # fmt: skip
            if published and offset is not None:  # (never published before: not streamed)
                log.warning(
                    "publication %s (publication.autocreate.mode=filtered) now also holds %s: "
                    "changes made to %s before this start were not published and are not "
                    "streamed; to copy the rows they hold, signal an incremental snapshot "
                    "(execute-snapshot with these data-collections)",
                    cfg.publication_name, ", ".join(published),
                    "it" if len(published) == 1 else "them",
                )  # fmt: skip
            if slot is not None and slot.lost:  # (a first start: nothing to lose)
                replication.drop_slot(self.meta, cfg.slot_name)
                slot = None
            if slot is None and not done:
                self._create_slot(export=False)
            self._resume = offset or PostgresOffset()
            if self.should_stream:
                self._start_stream()

    def _signal_table(self, tables: list[catalog.TableInfo]) -> catalog.TableInfo | None:
        """The signal table, checked to exist when configured."""
        name = self.cfg.signal_data_collection
        if not name:
            return None
        schema, _, table = name.partition(".")
        from connectors.source.cdc.filters import Filters as F

        found = [
            t for t in catalog.tables(self.meta, F()) if t.schema == schema and t.name == table
        ]
        if not found:
            raise ConfigError(
                f"signal.data.collection={name!r}: no such table in {self.cfg.dbname!r}; "
                f"create it: CREATE TABLE {name} (id text PRIMARY KEY, type text NOT NULL, "
                f"data text)"
            )
        return found[0]

    # -- slot --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _told_what_holds(self, slot: str, repl: Any) -> Iterator[None]:
        """While a slot is being made: PostgreSQL's consistent point waits for every
        transaction open when it began to end, a forgotten prepared one for good (it
        outlives restarts). After SLOT_WAIT_S, and every 30 s after, the transactions it
        waits for are named, with what ends them (the task had sat UNASSIGNED, unsaid)."""
        done = threading.Event()
        waiter = repl.info.backend_pid

        def watch() -> None:
            wait = SLOT_WAIT_S
            while not done.wait(wait):
                try:
                    with _connect(self.cfg) as conn:
                        held = replication.open_transactions(conn, waiter)
                except Exception as exc:  # noqa: BLE001 - said instead of the list
                    held = [f"(they could not be listed: {describe(exc)})"]
                log.warning(
                    "%s: making replication slot %s waits for the transactions open when it "
                    "began to end (PostgreSQL's consistent point); the connector starts once "
                    "they have. %s", self.cfg.where(), slot,
                    "; ".join(held) if held else "None of them is still open: a moment more",
                )  # fmt: skip
                wait = 30.0

        watcher = threading.Thread(target=watch, name=f"slot-wait-{slot}", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()

    def _create_slot(self, *, export: bool) -> tuple[int, str | None, Any]:
        from connectors.source.postgres.protocol.stream import create_logical_slot

        repl = _connect(self.cfg, replication="database")
        with self._told_what_holds(self.cfg.slot_name, repl):
            lsn, name = create_logical_slot(repl, self.cfg.slot_name, export=export)
        log.info("created replication slot %s at %s", self.cfg.slot_name, lsn_to_str(lsn))
        if not export:
            repl.close()
        return lsn, name, repl

    def _consistent_point(self) -> tuple[int, str, Any]:
        """A database snapshot and the exact LSN it is consistent at, for a snapshot that
        cannot read in the slot's own (resumed, or re-taken while streaming goes on): a
        temporary slot exports them and vanishes with its connection (`SnapshotCuts`)."""
        from connectors.source.postgres.protocol.stream import create_logical_slot

        repl = _connect(self.cfg, replication="database")
        name = f"{self.cfg.slot_name[:40]}_cut_{uuid.uuid4().hex[:8]}"
        try:
            with self._told_what_holds(name, repl):
                lsn, exported = create_logical_slot(repl, name, export=True, temporary=True)
        except Exception as exc:  # noqa: BLE001 - e.g. every replication slot in use
            repl.close()
            raise PostgresSourceError(
                f"cannot create a temporary replication slot to resume the snapshot "
                f"consistently ({describe(exc)}): it needs one free slot "
                f"(max_replication_slots) while the snapshot reads"
            ) from None
        assert exported is not None
        log.info("the snapshot reads on at %s (a new database snapshot)", lsn_to_str(lsn))
        return lsn, exported, repl

    # -- snapshot ----------------------------------------------------------------------------
    def _start_snapshot(
        self, offset: PostgresOffset | None, slot_exists: bool, usable: bool, in_progress: bool,
        tables: list[catalog.TableInfo],
    ) -> None:  # fmt: skip
        cfg = self.cfg
        resume_at: tuple[str, tuple[str | None, ...] | None] | None = None
        resume_ranges: list[list[Any]] | None = None
        # a table read in key ranges: its name and each range's [lower, upper, after, done]
        self._ranges: tuple[str, list[list[Any]]] | None = None
        exported, repl = None, None
        if offset is None or offset.only is None:  # (not a blocking snapshot's)
            tables = self._snapshotted(tables)
        hidden = catalog.row_security(self.meta, tables)
        if hidden:  # (a policy may show the role every row: said, not refused)
            log.warning("%s", catalog.row_security_problem(cfg.user, hidden))
        keyed = {t.qualified: bool(t.primary_key) for t in tables}
        resumed = in_progress and usable and offset is not None and offset.snapshot_lsn is not None
        # a keyless table a crash cut short is read again whole, after a truncate event
        self._truncate: list[str] = []
        self._announced: PostgresOffset | None = None  # stored with the truncate events
        if resumed and offset is not None and offset.snapshot_lsn is not None:
            # resume: the slot still stands at the first attempt's consistent point, and the
            # rest is read in a new database snapshot, consistent at a later LSN (a blocking
            # snapshot's first attempt too: the slot stands where streaming stopped for it)
            if offset.only is not None:
                tables = [t for t in tables if t.qualified in offset.only]
                keyed = {t.qualified: bool(t.primary_key) for t in tables}
                gone = sorted(set(offset.only) - set(keyed))
                if gone:
                    log.warning("blocking snapshot: %s no longer captured (dropped or renamed "
                                "since its signal): not read", ", ".join(gone))  # fmt: skip
            table = offset.table
            cut = offset.cut
            stored = _position_of(offset)
            key = next((t.primary_key for t in tables if t.qualified == table), None)
            if key is not None and table is not None and key_changed(table, stored, key):
                if stored == ():  # (keyless then: read whole again after a truncate event)
                    keyed[table] = False
                offset = replace(offset, after=None, ranges=None)
            # where the reader goes on: it, or the first after it (`resume_index`)
            pairs = [(t.schema, t.name) for t in tables if t.qualified in keyed]
            start = resume_index(pairs, table) if table is not None else 0
            self._truncate = truncated(list(keyed.items()), start)
            if self._truncate:
                cut_lsn, exported, repl = self._consistent_point()
                cut = (cut or SnapshotCuts()).extended(self._truncate, cut_lsn)
            base = PostgresOffset(
                snapshot=True, snapshot_lsn=offset.snapshot_lsn, stream=offset.stream, cut=cut,
                only=offset.only,
            )  # fmt: skip
            self._resume = base.snapshot_done()
            if table is not None and keyed.get(table, True):
                resume_at = (table, offset.after)
                if offset.ranges:
                    resume_ranges = [list(r) for r in offset.ranges]
                    self._ranges = (table, [list(r) for r in offset.ranges])
            elif table is not None:
                resume_at = (table, None)
            self._announced = replace(offset, cut=cut)
            if resume_ranges:
                log.info("resuming the snapshot at %s in %d key ranges: %s", table,
                         len(resume_ranges), resume_ranges)  # fmt: skip
            elif resume_at is not None and resume_at[1] is None:
                log.info("resuming the snapshot at %s, from its start", table)
            else:
                log.info("resuming the snapshot at %s after %s", table, offset.after)
        elif offset is not None and usable and not in_progress:
            # snapshot.mode=always with a usable position: re-read, then stream on from it
            cut = offset.cut
            self._truncate = truncated(list(keyed.items()), 0)
            if self._truncate:
                cut_lsn, exported, repl = self._consistent_point()
                cut = (cut or SnapshotCuts()).extended(self._truncate, cut_lsn)
            base = PostgresOffset(
                snapshot=True, snapshot_lsn=offset.start_lsn(), stream=offset.to_dict(), cut=cut
            )
            self._resume = base.snapshot_done()
        else:
            if slot_exists:
                if offset is None:  # (said: the position goes with it)
                    log.warning(
                        "replication slot %s exists, but this connector has no stored position "
                        "(renamed? its offsets reset?): the slot is dropped and made again, and "
                        "a new snapshot is taken; tables without a key are read after a "
                        "truncate event (the sinks may hold their rows from before)",
                        cfg.slot_name,
                    )  # fmt: skip
                replication.drop_slot(self.meta, cfg.slot_name)
            lsn, exported, repl = self._create_slot(export=True)
            # listed again now that the slot exists: a table created in between is in the
            # snapshot (one created after the consistent point is skipped by the reader)
            tables = self._snapshotted(catalog.tables(self.meta, self.filters))
            base = PostgresOffset(snapshot=True, snapshot_lsn=lsn)
            self._resume = base.snapshot_done()
            # a new slot after an earlier one (snapshot.mode=when_needed, a slot lost
            # mid-snapshot, a slot another name of this connector read): sinks may hold rows
            # of keyless tables from before
            if offset is not None or slot_exists:
                self._truncate = truncated([(t.qualified, bool(t.primary_key)) for t in tables], 0)
            else:  # (renamed with another slot.name, or its offsets and slot gone)
                prefix = cfg.topic_prefix
                self._truncate = written_before(self._context.connector, [
                    (t.qualified, bool(t.primary_key), topic_name(prefix, t.schema, t.name))
                    for t in tables
                ], self._context.topic_written)  # fmt: skip
        self._snapshot_base = base
        self._snapshot_tables = tables
        self._markers = SnapshotMarkers(resumed=resume_at is not None)
        self._snapshot_ts = time.time_ns() // 1000
        try:
            codecs = None
            if self.encoder is not None:  # chunks come as the events' bytes, from COPY
                codecs = {}
                for t in tables:
                    schema = self._table_schemas[t.qualified] = self.schemas.for_table(t)
                    if not schema.masked:  # (a masked one's rows take the values path)
                        codecs[t.qualified] = SnapshotRows(self.encoder.table(schema))
            self.reader = SnapshotReader(
                cfg.conninfo(), tables, cfg.snapshot_fetch_size, exported=exported,
                resume=resume_at, codecs=codecs, threads=cfg.snapshot_max_threads,
                resume_ranges=resume_ranges,
                initial=initial_statements(cfg.database_initial_statements),
                where=cfg.where(),
            )  # fmt: skip
            self.reader.begin()
            reader = self.reader
            self._notes = SnapshotNotes(
                self.notifier, self.partition, [t.qualified for t in tables],
                resume_at[0] if resume_at else None,
                lambda name: reader.rows_done.get(name, 0),
                (self._announced or base).to_dict(),
            )  # fmt: skip
        finally:
            if repl is not None:
                repl.close()  # the snapshot is imported (or failed): the export may end
        self._chunks = self.reader.chunks()
        # the consistent point is stored before the first row is emitted: a task that dies
        # before it stored any row resumes the snapshot on the same slot and streams from
        # the same point, instead of dropping the slot for a new one (the deletes in between
        # would then never reach rows its first attempt emitted)
        self._announce = not resumed  # (a resumed snapshot's point is stored already)
        total = sum(t.estimated_rows for t in tables)
        log.info("snapshot of %d table(s), ~%d rows, at %s", len(tables), total,
                 lsn_to_str(base.snapshot_lsn or 0))  # fmt: skip

    def _unkeyed_columns(self, t: catalog.TableInfo) -> list[str]:
        """A table's columns but those of its message key (always kept, whatever the column
        lists say)."""
        names = [c.name for c in t.columns]
        key = self.filters.key_override(t.schema, t.name, names) or t.primary_key
        return [n for n in names if n not in key]

    def _snapshotted(self, tables: list[catalog.TableInfo]) -> list[catalog.TableInfo]:
        """The captured tables a snapshot reads (snapshot.include.collection.list)."""
        return [t for t in tables if self.cfg.snapshots(t.qualified)]

    def _poll_snapshot(self) -> list[SourceRecord | EncodedBatch]:
        if self._announce:  # first the consistent point alone, committed at once
            self._announce = False
            self._context.request_commit()
            first: list[SourceRecord | EncodedBatch] = [
                offset_update(self.partition, self._snapshot_base.to_dict())
            ]
            self._notes.drain(first)
            return first
        # (the truncate events and the first rows in one poll: a task stopped after every
        # poll, resumed from the truncates' offset, had truncated again and read nothing)
        out: list[SourceRecord | EncodedBatch] = self._truncates() if self._truncate else []
        self._notes.drain(out)
        limit = self.cfg.max_batch_size
        rows = 0  # snapshot rows in out (an EncodedBatch holds many)
        taken = 0  # and their COPY text's bytes, within the chunks' bound (a poll of big
        # rows: max.batch.size rows of 500 KB had held 1 GB, then their events as much)
        while rows < limit and taken < CHUNK_MAX_BYTES:
            chunk = self._chunk
            if chunk is None or self._row >= len(chunk):
                chunk = self._chunk = next(self._chunks, None)
                self._row = 0
                if chunk is None:
                    self._notes.completed(out)
                    self._finish_snapshot(out)
                    return out
                self._notes.table(chunk.table.qualified, out)
                self._chunk_row_bytes = chunk_bytes(chunk) // max(len(chunk), 1)
                self._declined = dict(chunk.packed[5]) if chunk.packed is not None else {}
            end = min(len(chunk), self._row + limit - rows)
            if chunk.packed is not None:
                self._packed_rows(chunk, self._row, end, out)
            else:
                self._snapshot_rows(chunk, self._row, end, out)
            taken += self._chunk_row_bytes * (end - self._row)
            rows += end - self._row
            self._snapshot_ops["r"] += end - self._row
            self._row = end
        self._notes.drain(out)
        return out

    def _truncates(self) -> list[SourceRecord | EncodedBatch]:
        """Truncate events for the keyless tables this snapshot reads whole, before any of
        their rows (`connectors.source.cdc.cuts`), with the offset resumed from."""
        by_name = {t.qualified: t for t in self._snapshot_tables}
        announced = self._announced or self._snapshot_base
        offset = announced.to_dict()
        out: list[SourceRecord | EncodedBatch] = []
        for name in self._truncate:
            info = by_name.get(name)
            if info is None:
                continue
            schema = self._table_schemas.get(name) or self.schemas.for_table(info)
            self._table_schemas[name] = schema
            src = schema.source(self.cfg.dbname, self.cfg.topic_prefix, ts_us=self._snapshot_ts,
                                snapshot="true", lsn=self._snapshot_base.snapshot_lsn)  # fmt: skip
            out.append(
                truncate_record(
                    schema.topic, src, self.partition, offset, schema.value_schema, keyless=True
                )  # fmt: skip
            )
        log.info("snapshot: %d table(s) without a key are read again whole: %s",
                 len(self._truncate), ", ".join(self._truncate))  # fmt: skip
        self._snapshot_ops["t"] += len(out)
        self._truncate = []
        if not out:
            out.append(offset_update(self.partition, offset))
        self._context.request_commit()
        return out

    def _marker(self, chunk: Chunk, i: int) -> str:
        return self._markers.marker(
            i, len(chunk), chunk.first_in_table, chunk.last_in_table, chunk.final
        )

    def _row_offset(self, chunk: Chunk, i: int, marker: str = "true") -> dict[str, Any]:
        """The offset after snapshot row i (`PostgresOffset.at_snapshot_row`, built directly).
        Rows are emitted in order, and this is asked of the last of every run (a chunk's
        last row included): for a table read in key ranges, each range's progress moves
        on here (after: its last row emitted; done: its last chunk's last row)."""
        offset = self._snapshot_base.at_snapshot_row(chunk.table.qualified, ()).to_dict()
        position = list(chunk.position(i))
        offset["after"] = position
        offset["by"] = list(chunk.table.primary_key)  # (a resume tells a key changed since)
        if chunk.ranges is not None:
            name = chunk.table.qualified
            if self._ranges is None or self._ranges[0] != name:
                self._ranges = (name, [[lo, hi, None, False] for lo, hi in chunk.ranges])
            state = self._ranges[1]
            r = chunk.range_index
            state[r][2] = position
            state[r][3] = chunk.last_in_range and i == len(chunk) - 1
            offset["ranges"] = [list(x) for x in state]
        if marker == "last":
            offset["last_snapshot_record"] = True
        return offset

    def _schema_of(self, chunk: Chunk) -> TableSchema:
        t = chunk.table
        schema = self._table_schemas.get(t.qualified)
        if schema is None:
            schema = self._table_schemas[t.qualified] = self.schemas.for_table(t)
        return schema

    def _packed_rows(
        self, chunk: Chunk, start: int, end: int, out: list[SourceRecord | EncodedBatch]
    ) -> None:
        """Rows start..end-1 of a packed chunk: runs of plain rows as packed EncodedBatches
        (no object per row), the rows with a marker of their own or that the codec declined
        one by one."""
        assert chunk.packed is not None and self.encoder is not None
        schema = self._schema_of(chunk)
        table = self.encoder.table(schema)
        lsn = self._snapshot_base.snapshot_lsn
        ts_us, ts_ns = self._snapshot_ts, time.time_ns()
        values, value_ends, keys, key_ends, _, _ = chunk.packed
        head, tail = self.encoder.snapshot_wrap(table, ts_us=ts_us, lsn=lsn, ts_ns=ts_ns)
        rows = Packed(values, value_ends, keys, key_ends, start, start,
                      (head, tail, table.key_head, table.key_tail))  # fmt: skip
        for a, b, marker in read_runs(start, end, len(chunk), self._declined.keys(),
                                      lambda i: self._marker(chunk, i)):  # fmt: skip
            if marker is None:  # a run of plain reads
                out.append(EncodedBatch(schema.topic, [], [], self.partition,
                                        self._row_offset(chunk, b - 1),
                                        packed=rows.slice(a, b)))  # fmt: skip
                continue
            offset = self._row_offset(chunk, a, marker)
            if a in self._declined:
                self._value_record(schema, self._declined[a], marker, offset, out)
                continue
            h, t = self.encoder.snapshot_wrap(
                table, ts_us=ts_us, lsn=lsn, ts_ns=ts_ns, marker=marker
            )
            one = rows.slice(a, b, (h, t, table.key_head, table.key_tail))
            out.append(SourceRecord(
                schema.topic, one.value(a), one.key(a), self.partition, offset, encoded=True
            ))  # fmt: skip

    def _value_record(
        self, schema: TableSchema, values: list[bytes | None], marker: str,
        offset: dict[str, Any], out: list[SourceRecord | EncodedBatch],
    ) -> None:  # fmt: skip
        """A read event of ``values`` as Python values, for the converters."""
        after = schema.row(values)
        src = schema.source(self.cfg.dbname, self.cfg.topic_prefix, ts_us=self._snapshot_ts,
                            snapshot=marker, lsn=self._snapshot_base.snapshot_lsn)  # fmt: skip
        out.append(SourceRecord(
            schema.topic, envelope("r", None, after, src), schema.key(after),
            self.partition, offset,
            key_schema=schema.key_schema, value_schema=schema.value_schema,
        ))  # fmt: skip

    def _snapshot_rows(
        self, chunk: Chunk, start: int, end: int, out: list[SourceRecord | EncodedBatch]
    ) -> None:
        """Rows start..end-1 of a chunk of values (no encoder: transforms or other
        converters), one record each."""
        schema = self._schema_of(chunk)
        for i in range(start, end):
            marker = self._marker(chunk, i)
            offset = self._row_offset(chunk, i, marker)
            self._value_record(schema, chunk.rows[i], marker, offset, out)

    def _finish_snapshot(self, out: list[SourceRecord | EncodedBatch]) -> None:
        assert self.reader is not None
        # (the rows this run read: a resumed table's progress counts an estimate of the rows
        # read before, and the sum had said 120 105 rows of a 60 000-row table)
        log.info("snapshot done: %d rows read from %d table(s)%s", self.reader.rows_read,
                 len(self.reader.rows_done), " (resumed: the rows read before not counted)"
                 if self.reader.resume is not None else "")  # fmt: skip
        self.reader.close()
        self.reader = None
        out.append(offset_update(self.partition, self._resume.to_dict()))
        self._context.request_commit()  # the snapshot is durable and stored at once
        self._stream_due = self.should_stream

    # -- blocking snapshots ----------------------------------------------------------------
    def _stop_for_blocking(self, records: list[SourceRecord | EncodedBatch]) -> None:
        """The stream ended the transaction of a blocking snapshot's signal: it closes, and
        the snapshot's offset (the tables it reads and where streaming goes on) ends this
        poll's records in place of the commit's, stored at once; the snapshot starts at the
        next poll. A restart before it is stored replays the signal; one after resumes the
        snapshot (`_start_snapshot`), which streams on from there when done."""
        stream = self.stream
        assert stream is not None
        position = stream.position
        self._blocking = PostgresOffset(
            snapshot=True, snapshot_lsn=position.start_lsn(), stream=position.to_dict(),
            cut=position.cut, only=tuple(stream.blocked),
        )  # fmt: skip
        stream.close()
        self.stream = None
        records.append(offset_update(self.partition, self._blocking.to_dict()))
        self._context.request_commit()

    def _start_blocking(self, offset: PostgresOffset) -> None:
        self._blocking = None
        self._table_schemas.clear()  # (as the tables are now: one may have changed since)
        self._start_snapshot(offset, True, True, True, catalog.tables(self.meta, self.filters))

    # -- streaming ---------------------------------------------------------------------------
    def _start_stream(self) -> None:
        from connectors.source.postgres.stream import ChangeStream

        incremental = None
        if self.cfg.signal_data_collection:
            from connectors.source.postgres.incremental import incremental_snapshot

            incremental = incremental_snapshot(
                self.meta, self.cfg.signal_data_collection,
                self.cfg.incremental_snapshot_chunk_size, self.filters, self.schemas,
            )  # fmt: skip
            incremental.notifier = self.notifier
            incremental.resume(self._resume.incremental)
        self.stream = ChangeStream(
            self.cfg, self.schemas, self.partition, self._resume, incremental, self.json_encoding
        )
        self.stream.open(_connect(self.cfg, replication="database"))

    def poll(self) -> Sequence[SourceRecord | EncodedBatch]:
        if self._stop_with is not None:  # (after the poll that stored why)
            raise self._stop_with
        return self._captured.with_set(self._poll())  # (the captured set, when changed)

    def _poll(self) -> Sequence[SourceRecord | EncodedBatch]:
        if self.reader is not None:
            return self._poll_snapshot()
        if self._stream_due:
            self._stream_due = False
            self._start_stream()
        if self._blocking is not None:
            self._start_blocking(self._blocking)
            return self._poll_snapshot()
        if self.stream is None:  # snapshot.mode=initial_only: done
            time.sleep(self.cfg.poll_interval_ms / 1000)
            return []
        records: list[SourceRecord | EncodedBatch] = self._stream_poll(self.stream)
        if self.stream.blocked:
            self._stop_for_blocking(records)
            return records
        self._heartbeat(records)
        if self.notifier.sink:  # (SKIPPED, an incremental snapshot's since the last signal)
            at = None if records or self.stream._txn is not None else self.stream.position
            if at is not None and at.lsn is not None:  # (a first start's: none until the
                # stream's first update; a record without one failed the next start)
                self.notifier.drain(records, self.partition, at.to_dict())
            elif records:
                self.notifier.drain(records, self.partition)
        now = time.monotonic()
        if now - self._sampled >= SAMPLE_INTERVAL_S:
            self._sample_server()
        if now >= self._publication_due:
            self._publication_due = now + PUBLICATION_CHECK_S
            missed = self._check_publication()
            if missed:  # (first: the poll's last record stays the one of the position)
                records = [*missed, *records]
        return records

    def _stream_poll(self, stream: Any) -> list[SourceRecord | EncodedBatch]:
        """The stream's next records; a lost replication connection said with where it went
        (psycopg's bare "the connection is lost" named no server or slot)."""
        import psycopg

        try:
            out: list[SourceRecord | EncodedBatch] = stream.poll(
                self.cfg.max_batch_size, self.cfg.poll_interval_ms / 1000
            )
        except psycopg.OperationalError as exc:
            raise ConnectionLostError(
                f"the replication connection of slot {self.cfg.slot_name} to "
                f"{self.cfg.where()} was lost: {describe(exc)}"
            ) from None
        return out

    def _check_publication(self) -> list[SourceRecord]:
        """A captured table the publication does not publish (an operator took it out, or it
        was made after the start) has its changes left out of the stream, without a word from
        the server: a filtered publication gets it added (named in a warning: its changes
        until now were never published), any other stops the task at the next poll, saying
        that those changes are lost and how to copy its rows again; the next start says so
        too (the captured set's record, returned to store first: the operator who adds the
        table back and starts the task again had had no word of them)."""
        import psycopg

        cfg = self.cfg
        name = cfg.publication_name
        try:
            # (tables made since are captured from their first change: not new at the next
            # start)
            ids = catalog.captured_ids(self.meta, self.filters)
            self._captured.update(ids, ids=ids)
            _, left_out, now_unlogged = catalog.uncaptured(
                self.meta, self.filters, not self._via_root
            )
            unlogged = set(now_unlogged)
            missing = replication.unpublished_now(self.meta, name, self.filters.table)
            members = replication.memberships(self.meta, name)
        except psycopg.OperationalError as exc:  # (the next poll's turn; the stream goes on)
            log.debug("checking publication %s failed: %s", name, exc)
            return []
        # a table published now whose entries of the last look are all gone was out of the
        # publication for a while, its changes then not published; nothing else shows it
        # (one out now is seen below)
        back = [
            n for n in replication.put_back(self._members, members)
            if n in ids and n not in self._unlogged
        ]  # fmt: skip
        self._members = members
        told = self._put_back(back) if back else []
        if unlogged - self._unlogged:  # (made UNLOGGED while the task ran)
            log.warning("%s: %s", ", ".join(sorted(unlogged - self._unlogged)),
                        catalog.UNLOGGED_LINE)  # fmt: skip
        self._unlogged = unlogged
        if new := sorted(left_out - self._left_out):  # (partitions made since the start)
            log.warning(
                "%s: partition(s) of a captured partitioned table made while the task ran, "
                "which the lists leave out: their rows are not captured (include them, then "
                "signal an incremental snapshot of them)", ", ".join(new),
            )  # fmt: skip
        self._left_out = left_out
        if not missing:
            return told
        # (an UNLOGGED table is in no publication: warned of above, never added)
        missing = [(s, t) for s, t in missing if f"{s}.{t}" not in self._unlogged]
        shown = [f"{s}.{t}" for s, t in missing]
        if not shown:
            return told
        if cfg.publication_autocreate_mode != "filtered":
            self._stop_with = ConfigError(replication.unpublished_while_streaming(name, shown))
            return self._captured.missed(
                shown, f"out of publication {name} while the connector streamed"
            )  # fmt: skip
        if not replication.publish_too(self.meta, cfg, missing):
            log.info("publication %s: adding %s waits on a lock; tried again in %.0f s",
                     name, ", ".join(shown), PUBLICATION_CHECK_S)  # fmt: skip
            return told
        log.warning(
            "publication %s did not publish %s, captured (made or taken out of it while the "
            "task ran): added now; changes made to %s before were not published and are not "
            "in the events: signal an incremental snapshot of %s (signal.data.collection)",
            name, ", ".join(shown), *(["it"] * 2 if len(shown) == 1 else ["them"] * 2),
        )  # fmt: skip
        return told

    def _put_back(self, tables: list[str]) -> list[SourceRecord]:
        """Captured tables taken out of the publication and put back between two checks: the
        server sent nothing of their changes in between, and nothing else shows it. The task
        goes on (they are published again); a warning says what to do, and the next start
        says it again (the captured set's record, to store first). The catalog cannot tell
        it from an entry replaced in one statement (SET TABLE changing a row filter or
        column list, a schema entry swapped for table entries), which loses nothing: the
        warning names both."""
        name = self.cfg.publication_name
        shown = listed(tables)
        log.warning(
            "publication %s: %s taken out of it and put back, or moved to another of its "
            "entries, while the connector streamed (within the last %.0f s): changes made to "
            "%s while out of the publication were not published and are not in the events: "
            "signal an incremental snapshot of %s "
            "(signal.data.collection; it copies the rows there are, a row deleted meanwhile "
            "stays in the sinks)",
            name, shown, PUBLICATION_CHECK_S,
            *(["it"] * 2 if len(tables) == 1 else ["them"] * 2),
        )  # fmt: skip
        return self._captured.missed(
            tables, f"out of publication {name} and put back while the connector streamed"
        )  # fmt: skip

    def _sample_server(self) -> None:
        """The server's WAL position and the slot's, for the lag and retained-WAL gauges."""
        from connectors.source.postgres.protocol.basics import str_to_lsn

        self._sampled = time.monotonic()
        try:
            row = self.meta.execute(
                "SELECT pg_current_wal_lsn()::text, restart_lsn::text, confirmed_flush_lsn::text "
                "FROM pg_replication_slots WHERE slot_name = %s", (self.cfg.slot_name,),
            ).fetchone()  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - gauges must not stop the stream
            log.debug("sampling the server failed: %s", exc)
            return
        if row is not None:
            self._server = tuple(str_to_lsn(v) if v else 0 for v in row)

    def metrics(self) -> dict[str, float]:
        """Snapshot progress per table; while streaming, how far behind the server the task
        is (bytes of WAL, and commit-to-read time of the last transaction) and the WAL the
        slot keeps on the server (sampled every few seconds)."""
        out: dict[str, float] = {}
        reader = getattr(self, "reader", None)
        out["snapshot_running"] = 1.0 if reader is not None else 0.0
        if reader is not None:
            for t in reader.tables:
                out[f"snapshot_rows_done:{t.qualified}"] = reader.rows_done.get(t.qualified, 0)
                out[f"snapshot_rows_estimated:{t.qualified}"] = t.estimated_rows
        stream = getattr(self, "stream", None)
        current, restart, confirmed = getattr(self, "_server", (0, 0, 0))
        if stream is not None:
            out["events"] = stream.events
            out["milliseconds_behind_source"] = stream.behind_ms
            if current:
                processed = stream.lsn
                out["lag_bytes"] = max(current - processed, 0)
        if current and restart:
            out["slot_retained_wal_bytes"] = max(current - restart, 0)
            out["slot_confirmed_flush_lsn"] = confirmed
        out.update(op_metrics(stream.ops if stream is not None else {},
                              getattr(self, "_snapshot_ops", {})))  # fmt: skip
        return out

    def _heartbeat(self, out: list[SourceRecord | EncodedBatch]) -> None:
        """A heartbeat record when one is due (`cdc.heartbeat`), unless the stream is inside
        a transaction or busy: then its own records speak for it."""
        if not self._beat.due():
            return
        stream = self.stream
        if stream is None or stream._txn is not None or out:
            return
        out.append(self._beat.record(self.partition, stream.position.to_dict()))

    def commit(self) -> None:
        if self.stream is not None:
            self.stream.durable()

    def keep_alive(self) -> None:
        if self.stream is not None:
            self.stream.keep_alive()

    def stop(self) -> None:
        if getattr(self, "reader", None) is not None:  # (stopped, or failed, mid-snapshot)
            self._notes.aborted()
        for part in (getattr(self, "reader", None), getattr(self, "stream", None)):
            if part is None:
                continue
            try:
                part.close()
            except Exception:  # noqa: BLE001 - best effort on the way out
                log.debug("closing", exc_info=True)
        meta = getattr(self, "meta", None)
        if meta is not None:
            try:
                if self.cfg.slot_drop_on_stop:
                    replication.drop_slot(meta, self.cfg.slot_name)
                    log.info("dropped replication slot %s", self.cfg.slot_name)
            finally:
                meta.close()


class PostgresConnector(CdcSourceConnector):
    """Captures row changes of a PostgreSQL database (pgoutput) as Debezium events."""

    name = "postgres"
    aliases: ClassVar[tuple[str, ...]] = (
        "postgresql",
        "io.debezium.connector.postgresql.PostgresConnector",
    )
    config_model = PostgresSourceConfig
    task_class = PostgresSourceTask
    secret_properties = ("database.password", "database.sslpassword")
    not_yet: ClassVar[tuple[str, ...]] = (
        r"snapshot\.lock\.timeout\.ms", r"snapshot\.select\.statement\..*",
        r"snapshot\.isolation\.mode", r"slot\.max\.retries", r"slot\.retry\.delay\.ms",
        r"slot\.stream\.params", r"signal\.(enabled\.channels|kafka\..*|file)",
        r"incremental\.snapshot\.(allow\.schema\.changes|watermarking\.strategy)",
        r"schema\.refresh\.mode", r"converters",
        r"event\.processing\.failure\.handling\.mode", r"publish\.via\.partition\.root",
        r"database\.tcpKeepAlive", r"retriable\.restart\.connector\.wait\.ms",
        r"schema\.history\.internal\..*", r"include\.schema\.changes", r"max\.queue\.size",
        r"column\.propagate\..*", r"datatype\.propagate\..*",
        r"custom\.metric\.tags", r"errors\.max\.retries", r"field\.name\.adjustment\.mode",
        r"schema\.name\.adjustment\.mode", r"topic\.naming\.strategy",
        r"snapshot\.delay\.ms", r"streaming\.delay\.ms",
        r"slot\.failover", r"lsn\.flush\.mode", r"heartbeat\.topics\.prefix",
    )  # fmt: skip

    @classmethod
    def exclusive_targets(cls, config: Mapping[str, Any]) -> list[str]:
        # (a slot's name is the server's, whatever the database: two sources of two
        # databases with one slot name take turns at it, each failing the other)
        cfg = PostgresSourceConfig.of(config)
        return [f"replication slot {cfg.slot_name} on {cfg.hostname}:{cfg.port}"]

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> list[Check]:
        from connectors.source.postgres.checks import check

        return check(config)

    @classmethod
    def signal(cls, config: ConnectorConfig, kind: str, data: Mapping[str, Any]) -> str:
        """A row in ``signal.data.collection``: the stream delivers it to the task."""
        import psycopg

        from connectors.source.cdc.incremental import send_signal

        cfg = config
        assert isinstance(cfg, PostgresSourceConfig)

        from connectors.source.cdc.incremental import SIGNAL_COLUMNS_PG

        def insert(sql: str, row: tuple[str, str, str]) -> None:
            with _connect(cfg) as con:
                con.execute(sql, row)

        def columns(schema: str, table: str) -> list[str]:
            with _connect(cfg) as con:
                return [str(r[0]) for r in con.execute(SIGNAL_COLUMNS_PG, (schema, table))]

        def quote(name: str) -> str:  # (in a statement with arguments)
            return catalog.quote(name).replace("%", "%%")

        return send_signal(cfg.signal_data_collection, kind, data, quote, insert,
                           psycopg.Error, columns)  # fmt: skip

    @classmethod
    def verify_tables(
        cls, config: Mapping[str, Any], only: set[str] | None = None
    ) -> list[SourceTable]:
        """The captured tables as ``hub verify`` compares them (see ``verify.py``)."""
        from connectors.source.postgres.verify import verify_tables

        return verify_tables(config, only)

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        return [dict(self.config)]  # one replication slot is read by one task


_CTID = re.compile(r"\(\d+,\d+\)")


def _position_of(offset: PostgresOffset) -> tuple[str, ...] | None:
    """The columns a snapshot offset's position is of (`PostgresOffset.by`). An earlier hub's
    offset does not say: a ctid and a file node are a table without a key's position, any
    other is taken to be of the key as it is."""
    if offset.by is not None:
        return offset.by
    after = offset.after
    if (
        after is not None and len(after) == 2 and _CTID.fullmatch(after[0] or "")
        and (after[1] or "").isdigit()
    ):  # fmt: skip
        return ()
    return None
