"""The MySQL/MariaDB source: Debezium's MySqlConnector and MariaDbConnector, in one task.

Start-up decides, from the stored offset, the server's binlog files and ``snapshot.mode``:

* a fresh snapshot: read every captured table in one consistent transaction and note the
  binlog position it stands at, then stream from there;
* a snapshot resumed after a crash: read the remaining rows in a new transaction, then
  stream from the first attempt's position (the changes in between are replayed);
* streaming from the stored offset (its binlog file must still be on the server).

PyMySQL is imported when the task starts, so listing and validating connectors stays light.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from connectors.source.cdc import captured
from connectors.source.cdc.bounds import CHUNK_MAX_BYTES
from connectors.source.cdc.captured import CapturedTables
from connectors.source.cdc.cuts import SnapshotCuts, key_changed, truncated, written_before
from connectors.source.cdc.envelope import envelope, op_metrics, truncate_record
from connectors.source.cdc.filters import Filters
from connectors.source.cdc.heartbeat import Heartbeat
from connectors.source.cdc.masks import ColumnMasks
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
from connectors.source.cdc.topics import check_unique, sanitize, topic_name
from connectors.source.mysql import charsets
from connectors.source.mysql.config import MySqlSourceConfig
from connectors.source.mysql.encoded import ACCELERATED, EventEncoder
from connectors.source.mysql.gtids import same_position
from connectors.source.mysql.history import (
    TOPIC_CONFIG,
    SchemaHistory,
    SchemaHistoryError,
    Schemas,
    TableDef,
    declared_lengths,
    fill_defaults,
    fills,
    from_catalog,
    replay,
)
from connectors.source.mysql.schema import MySqlTable
from connectors.source.mysql.server import (
    CASCADES,
    RESET_ADVICE,
    CatalogTable,
    MySqlConnectionError,
    PositionLostError,
    binlog_sizes,
    captured_names,
    captured_pairs,
    connect,
    gtid_at,
    history_changed,
    is_mariadb,
    names,
    query,
    refuse_versioned,
    require,
    server_checks,
    tables,
    variables,
)
from connectors.source.mysql.snapshot import (
    Chunk,
    begin,
    chunks,
    encode_key,
    end,
    resume_index,
    row_bytes,
    rows_read_before,
)
from connectors.source.mysql.textrows import PackedRows
from connectors.source.mysql.types import TypeMapper
from hub.log import Packed
from hub.runtime.api import (
    Check,
    ConnectorConfig,
    EncodedBatch,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
    offset_update,
)

if TYPE_CHECKING:
    from hub.verify import SourceTable

log = logging.getLogger(__name__)
HISTORY_CHECK_S = 60.0  # how often a stream checks the binlog holds its GTID position
SAMPLE_INTERVAL_S = 5.0  # how often the server's binlog files are listed (bytes-behind gauge)
T = TypeVar("T")


class MySqlSourceTask(CdcSourceTask):
    # (the size of a poll and the wait for one: the changes and their order are the same)
    replay_neutral = frozenset({"poll.interval.ms", "max.batch.size"})
    connector_name: ClassVar[str] = "mysql"

    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        cfg = self.cfg = MySqlSourceConfig.of(config)
        self._context = context
        self.filters = Filters.from_config(cfg)
        self.mapper = TypeMapper(
            cfg.decimal_handling_mode, cfg.time_precision_mode, cfg.binary_handling_mode,
            cfg.bigint_unsigned_handling_mode,
        )  # fmt: skip
        self.mapper.masks = ColumnMasks.from_config(config)
        self.partition = {"server": cfg.topic_prefix}
        # encoded snapshot reads (SourceTaskContext.json_encoding): rows' bytes, no dicts
        self.encoder: EventEncoder | None = None
        if context.json_encoding is not None and ACCELERATED:
            self.encoder = EventEncoder(context.json_encoding, cfg.topic_prefix, self.mapper)
        self._declined: dict[int, tuple[Any, ...]] = {}  # of the packed chunk being emitted
        self.stream: Any = None
        self.snapshot_con: Any = None
        self._readers: list[Any] = []  # snapshot.max.threads' other connections
        self._chunks: Any = None
        self._chunk: Chunk | None = None
        self._chunk_row_bytes = 0  # about a row of it (`row_bytes`)
        self._row = 0
        self._rows_done: dict[str, int] = {}
        self._rows_before = 0  # of those, read before a resume (no event of this run's)
        self._first_row = 0  # of the chunk's rows being emitted
        self._truncates_sent = 0  # by the snapshot (keyless tables read again whole)
        self._snapshot_tables: list[Any] = []
        self._blocking: dict[str, Any] | None = None  # a blocking snapshot to start
        self.notifier = cfg.notifier()  # notification.enabled.channels
        self._notes = SnapshotNotes(NO_NOTIFIER, self.partition, [], None, lambda _: 0, {})
        self.meta = connect(cfg)
        if self.filters.lists:
            self.filters.warn_unmatched(context.connector, "database",
                                        lambda cols: names(self.meta, cfg, cols))  # fmt: skip
        self.mapper.masks.warn_unmatched(context.connector,
                                         lambda cols: names(self.meta, cfg, cols))  # fmt: skip
        self._sampled = 0.0
        self._history_due = 0.0  # (the next thorough check of the stream's binlog position)
        self._binlogs: list[tuple[str, int]] = []  # the server's binlog files and sizes
        # a stream not yet placed on this server's binlog (`ChangeStream.here`): the newest
        # binlog file's number at its first sample (a reset meanwhile starts them again)
        self._here_newest: int | None = None
        self._here_seqs: dict[str, int] = {}  # and @@gtid_binlog_state's, domain -> seq
        self._gauge_con: Any = None  # its own connection (a failure replaces only it)
        self._beat = Heartbeat(
            cfg.heartbeat_interval_ms, cfg.heartbeat_topics_prefix, cfg.topic_prefix,
            self._action if cfg.heartbeat_action_query else None,
        )  # fmt: skip
        checks = server_checks(self.meta, cfg)
        require(checks, cfg)
        for c in checks:  # (said, not failed: `server._cascades`)
            if c.what == CASCADES:
                log.warning("%s: %s", cfg.where(), c.detail)
        charsets.learn(self.meta)  # (the binlog names a column's charset by a collation id)
        refuse_versioned(self.meta, self.filters)
        self.mariadb = is_mariadb(self.meta)
        offset = context.offset(self.partition)
        binlogs = binlog_sizes(self.meta)
        files = [name for name, _ in binlogs]
        usable = offset is None or str(offset.get("file")) in files
        # MariaDB: the server whose binlog the offsets are of (a failover's is another); the
        # stored position in binlogs reset or restored since: nothing says so but the binlog
        # at it (its GTIDs, resumed from, named other transactions)
        self._server_id = int(query(self.meta, "SELECT @@server_id")[0][0]) if (
            self.mariadb
        ) else None  # fmt: skip
        reset = self._reset(offset, binlogs)
        if reset is not None:
            usable = False
        elif not usable and self.mariadb and offset and offset.get("gtids"):
            from connectors.source.mysql.server import gtids_kept

            usable = gtids_kept(self.meta, files, str(offset["gtids"]))
            if usable:  # (the stream resumes by GTID: nothing is lost)
                log.info("binlog file %r, where this connector stopped, is gone, but the "
                         "binlogs still hold everything after its GTID position %s: going "
                         "on from there", offset.get("file"), offset["gtids"])  # fmt: skip
        policy = snapshotter(cfg.snapshot_mode)
        self.should_stream = policy.should_stream()
        if offset is not None and not usable and not isinstance(policy, WhenNeeded):
            if reset is not None:
                raise PositionLostError(f"{cfg.where()}: {reset}: {RESET_ADVICE}"
                                        + POSITION_LOST_ADVICE)  # fmt: skip
            raise PositionLostError(
                f"binlog file {offset.get('file')!r}, where this connector stopped, is no "
                f"longer on {cfg.where()} (the server has {', '.join(files[:3])}"
                f"{'...' if len(files) > 3 else ''}): the changes in between are lost to it. "
                + POSITION_LOST_ADVICE
            )
        if offset is not None and not usable:
            if reset is not None:
                warn_of_a_new_snapshot(cfg.where(), f"{reset}: the binlogs were reset or restored")
            else:
                warn_of_a_new_snapshot(cfg.where())
        in_progress = bool(offset and offset.get("snapshot"))
        self.history: SchemaHistory | None = None
        self._history_records: list[SourceRecord] = []  # the first poll's
        self._baseline: tuple[Schemas, tuple[str, int]] | None = None
        self._creates: dict[tuple[str, str], str] = {}  # read with the baseline's schemas
        stored = context.internal_topic(self._history_topic(), TOPIC_CONFIG)
        # (a blocking snapshot goes on whatever the snapshot.mode: its signal asked for it)
        blocking = in_progress and usable and offset is not None and "only" in offset
        self._captured = CapturedTables.of(context, self.partition)
        self._captured_due = time.monotonic() + captured.CHECK_S
        pairs = captured_pairs(self.meta, self.filters)
        now_captured = [f"{db}.{name}" for db, name in pairs]
        by_name = dict(zip(now_captured, pairs, strict=True))  # (a database may hold a dot)
        if blocking or policy.should_snapshot(offset is not None, in_progress, usable):
            # (a blocking snapshot reads its signal's tables only: a table new to the lists
            # is streamed on from the stored position, as without it)
            self._captured.start(
                now_captured, streams_on=blocking and policy.should_snapshot(False, False, True),
                column_lists=(cfg.column_include_list, cfg.column_exclude_list),
            )  # fmt: skip
            context.replay_is_inexact()  # a snapshot re-read after a crash may differ
            self._start_snapshot(
                offset if usable else None, in_progress and usable, offset is not None
            )
            self._open_history(stored, policy, offset if usable else None)
        else:
            self.notifier.notify(INITIAL, "SKIPPED")
            # (a snapshot.mode that never reads rows: the user's choice, no warning)
            streams_on = (
                offset is not None and usable and self.should_stream
                and policy.should_snapshot(False, False, True)
            )  # fmt: skip
            if offset is None:
                # a first start without a snapshot: the position and the tables' definitions
                # read under the snapshot's lock; a crashed first run's records came from
                # another position, so none of them may stand for this run's
                context.replay_is_inexact()
                con = connect(cfg)
                try:
                    begun = begin(con, cfg, self.mariadb, True, self.filters, True,
                                  need_lock=False, creates=cfg.include_schema_changes)  # fmt: skip
                    end(con, cfg)
                finally:
                    con.close()
                p, schemas = begun.position, begun.schemas
                assert p is not None and schemas is not None
                self._baseline = (schemas, (p.file, p.pos))
                self._creates = begun.creates
                offset = {"file": p.file, "pos": p.pos, **({"gtids": p.gtids} if p.gtids else {}),
                          **self._server()}  # fmt: skip
            self._resume = dict(offset)
            self._open_history(stored, policy, offset)
            # a table the history does not hold at the stored position was made since: its
            # rows are all in the binlog (no warning)
            history = self.history
            assert history is not None
            self._captured.start(
                now_captured, streams_on=streams_on,
                existed=lambda n: history.schemas.get(*by_name[n]) is not None,
                column_lists=(cfg.column_include_list, cfg.column_exclude_list),
                columns=lambda n: self._unkeyed_columns(history.schemas.get(*by_name[n])),
            )  # fmt: skip
            if self.should_stream:
                self._start_stream()

    def _unkeyed_columns(self, t: TableDef | None) -> list[str]:
        """A table's columns as the schema history holds them at the stored position, but
        those of its message key (always kept, whatever the column lists say)."""
        if t is None:  # (made since: its rows are all in the binlog)
            return []
        names = [c.name or "" for c in t.columns]
        key = self.filters.key_override(t.db, t.name, names) or t.primary_key
        return [n for n in names if n not in key]

    # -- schema history ----------------------------------------------------------------------
    def _history_topic(self) -> str:
        return self.cfg.history_topic or sanitize(f"__schema_history.{self._context.connector}")

    def _row_metadata(self) -> str:
        """binlog_row_metadata (MySQL before 8.0.1 and MariaDB before 10.5: none, MINIMAL)."""
        value = variables(self.meta, "binlog_row_metadata").get("binlog_row_metadata")
        return (value or "MINIMAL").upper()

    def _take_history(self) -> list[SourceRecord]:
        """A new baseline of the schema history, stored at once."""
        out, self._history_records = self._history_records, []
        if out:
            self._context.request_commit()
        return out

    def _open_history(
        self, stored: list[bytes | None], policy: Any, offset: Mapping[str, Any] | None
    ) -> None:
        """The tables' definitions as of the position streaming starts from: a new
        snapshot's (stored as the history's new baseline), or the stored history's."""
        cfg = self.cfg
        resume = (str(self._resume["file"]), int(self._resume["pos"]))
        metadata = self._row_metadata()
        if self._baseline is not None and "stream" not in getattr(self, "_base", {}):
            schemas, at = self._baseline
            records = True
        else:
            schemas = Schemas(mariadb=self.mariadb)
            at, records = resume, False
            if policy.rebuilds_history() or not replay(stored, resume, schemas):
                if offset is not None and metadata != "FULL" and not policy.rebuilds_history():
                    raise SchemaHistoryError(
                        f"the schema history topic {self._history_topic()!r} holds nothing "
                        f"for {resume[0]}:{resume[1]}, where this connector resumes, and the "
                        f"binlog of {cfg.where()} has no column names (binlog_row_metadata="
                        f"{metadata}): set snapshot.mode=recovery to rebuild the history from "
                        "the tables as they are now (right only if no DDL ran since), or "
                        "reset the connector's offsets to take a new snapshot"
                    )
                if offset is not None:
                    log.warning("%s: no schema history for %s:%s; the tables' definitions "
                                "are read from the catalog as they are now",
                                self._context.connector, *resume)  # fmt: skip
                schemas, records = from_catalog(self.meta, self.mariadb), True
        self.history = SchemaHistory(
            schemas, self._history_topic(), cfg.topic_prefix, self.connector_name,
            self.partition, cfg.include_schema_changes, cfg.history_skip_unparseable_ddl,
            self.filters.table, metadata != "FULL",
        )  # fmt: skip
        if records:
            stored_at = dict(self._resume)
            if self._chunks is not None:  # with the snapshot's own offset
                stored_at = self._announced or {**self._base, "snapshot": True, "table": None,
                                                "after": None}  # fmt: skip
            self._history_records = self.history.baseline(at, stored_at)
            if self._baseline is not None:  # (a snapshot's, not a history rebuilt)
                self._history_records += self.history.snapshot_changes(
                    at, stored_at, lambda db, table: self._creates.get((db, table), "")
                )  # fmt: skip

    def _action(self) -> None:
        from connectors.source.mysql.server import query

        query(self.meta, self.cfg.heartbeat_action_query)

    # -- snapshot ----------------------------------------------------------------------------
    def _start_snapshot(
        self, offset: Mapping[str, Any] | None, resuming: bool, had_offset: bool
    ) -> None:
        """A resumed snapshot (or one re-taken while streaming goes on from the stored
        position) reads every keyless table it has not finished whole, after a truncate
        event, and the stream drops the changes to it that the new read holds
        (`connectors.source.cdc.cuts`)."""
        cfg = self.cfg
        con = self.snapshot_con = connect(cfg)
        resume_at = None
        self._announced: dict[str, Any] | None = None  # stored with the truncate events
        try:  # (stop() closes them too; here: a failed start-up leaves none open)
            for _ in range(cfg.snapshot_max_threads - 1):
                self._readers.append(connect(cfg))
            # the position this read is consistent at (a resumed one too: its cuts need it)
            begun = begin(con, cfg, self.mariadb, True, self.filters, not resuming,
                          self._readers, creates=cfg.include_schema_changes)  # fmt: skip
        except BaseException:
            self._close_readers()
            raise
        for unused in self._readers[len(begun.readers) :]:
            unused.close()
        self._readers = begun.readers
        p, found = begun.position, begun.tables
        assert p is not None
        only = offset.get("only") if resuming and offset is not None else None
        if not isinstance(only, list):  # (snapshot.include.collection.list)
            found = [t for t in found if cfg.snapshots(t.qualified)]
        else:  # a blocking snapshot's tables
            found = [t for t in found if t.qualified in only]
            gone = sorted(set(only) - {t.qualified for t in found})
            if gone:
                log.warning("blocking snapshot: %s no longer captured (dropped or renamed "
                            "since its signal): not read", ", ".join(gone))  # fmt: skip
        if begun.schemas is not None:
            self._baseline = (begun.schemas, (p.file, p.pos))
            self._creates = begun.creates
        keyed = [(t.qualified, bool(t.primary_key)) for t in found]
        cut = SnapshotCuts.load(offset.get("cut")) if offset is not None else SnapshotCuts()
        if resuming and offset is not None:
            base = {k: offset[k] for k in ("file", "pos", "gtids", "binlog_server_id")
                    if offset.get(k) is not None}  # fmt: skip
            for k in ("stream", "only"):
                if offset.get(k):
                    base[k] = offset[k]
            table = offset.get("table")
            start = 0
            stored = offset.get("by")  # (the columns "after" is of; an earlier hub's: None)
            key = next((t.primary_key for t in found if t.qualified == table), None)
            after = offset.get("after")
            if (
                key is not None
                and isinstance(stored, list)
                and key_changed(str(table), stored, key)
            ):
                after = None  # (read again from its start)
                if not stored:  # keyless then: after a truncate event, as it was
                    keyed = [(n, k and n != table) for n, k in keyed]
            if table is not None:
                resume_at = (str(table), after)
                start = resume_index(found, str(table))
                log.info("resuming the snapshot at %s after %s", resume_at[0], resume_at[1])
            else:
                log.info("restarting the snapshot from %s:%s", base["file"], base["pos"])
            self._truncate = truncated(keyed, start)
            cut = cut.extended(self._truncate, [p.file, p.pos])
            self._announced = {**offset, **({"cut": cut.to_json()} if cut else {})}
        else:
            base = {"file": p.file, "pos": p.pos, **({"gtids": p.gtids} if p.gtids else {}),
                    **self._server()}  # fmt: skip
            if offset is not None and not offset.get("snapshot"):
                base["stream"] = dict(offset)  # snapshot.mode=always: stream on from there
            # after an earlier snapshot, sinks may hold rows of keyless tables from before
            self._truncate = truncated(keyed, 0) if had_offset else written_before(
                self._context.connector,
                [(t.qualified, bool(t.primary_key), topic_name(cfg.topic_prefix, t.db, t.name))
                 for t in found],
                self._context.topic_written,
            )  # fmt: skip
            if "stream" in base:  # streaming goes on from before this read
                cut = cut.extended(self._truncate, [p.file, p.pos])
            else:
                cut = SnapshotCuts()
        if cut:
            base["cut"] = cut.to_json()
        stream_from = dict(base.get("stream") or {k: v for k, v in base.items() if k != "stream"})
        if cut:
            stream_from["cut"] = cut.to_json()
        self._resume = stream_from
        self._base = base
        check_unique(cfg.topic_prefix, [(t.db, t.name) for t in found])
        self._schemas: dict[str, MySqlTable] = {}
        # the chunk cursor is the primary key (unique), never message.key.columns' key
        keys = {t.qualified: t.primary_key for t in found}
        for t in found:
            self._schemas[t.qualified] = self._event_table(t)
        self._snapshot_tables = found
        self._keys = keys
        self._markers = SnapshotMarkers(resumed=resume_at is not None)
        self._snapshot_ts = time.time_ns() // 1_000_000
        codecs = None
        if self.encoder is not None:  # (a masked table's rows take the values path)
            codecs = {name: self.encoder.snapshot(t) for name, t in self._schemas.items()
                      if not t.masked}  # fmt: skip
        self._snapshot_codecs = codecs or {}
        if resume_at is not None and resume_at[1] is not None and offset is not None:
            # (the rows read before count as done: the progress of the rows read since
            # against the whole table's estimate said 19 % at 98 %; an older offset without
            # the count: the optimizer's estimate)
            resumed = next((t for t in found if t.qualified == resume_at[0]), None)
            if resumed is not None and keys[resumed.qualified]:
                done = offset.get("rows")
                self._rows_before = self._rows_done[resumed.qualified] = (
                    done if isinstance(done, int) and done >= 0
                    else rows_read_before(con, resumed, keys[resumed.qualified], resume_at[1])
                )  # fmt: skip
        self._chunks = chunks(
            con, found, keys, cfg.snapshot_fetch_size, resume_at,
            {name: t.codec for name, t in self._snapshot_codecs.items()}, self._readers,
        )  # fmt: skip
        # the position is stored before the first row is emitted: a task that dies before it
        # stored any row must stream from this same position after reading the tables again,
        # or the deletes in between would never reach rows its first attempt emitted
        self._announce = not resuming  # (a resumed snapshot's position is stored already)
        self._notes = SnapshotNotes(
            self.notifier, self.partition, [t.qualified for t in found],
            resume_at[0] if resume_at else None,
            lambda name: self._rows_done.get(name, 0),
            self._announced or {**base, "snapshot": True, "table": None, "after": None},
        )  # fmt: skip
        log.info("snapshot of %d table(s), ~%d rows, at %s:%s", len(found),
                 sum(t.estimated_rows for t in found), base["file"], base["pos"])  # fmt: skip

    def _close_readers(self) -> None:
        readers, self._readers = getattr(self, "_readers", []), []
        for c in readers:
            with contextlib.suppress(Exception):
                c.close()

    def _table(self, t: CatalogTable, key: tuple[str, ...]) -> MySqlTable:
        """The events' view of a table as the catalog describes it, its fields' defaults
        from the tables' definitions (the schema history's, or before it opens the
        snapshot's): the same as the stream's events of it."""
        schemas = self.history.schemas if self.history is not None else None
        if schemas is None and self._baseline is not None:
            schemas = self._baseline[0]
        known = schemas.get(t.db, t.name) if schemas is not None else None
        return MySqlTable(
            self.cfg.topic_prefix, self.connector_name, t.db, t.name, t.columns, key,
            self.mapper, lambda name: self.filters.column(t.db, t.name, name), t.primary_key,
            fill_defaults(known) if schemas is not None else None, declared_lengths(known),
            fills(known),
        )  # fmt: skip

    def _poll_snapshot(self) -> list[SourceRecord]:
        """Up to max.batch.size snapshot rows. The runtime stores only the offset of a poll's
        last record, so the records of one run of rows share the offset after its last row
        (built once), and rows of one marker share their source block."""
        if self._announce:  # first the position alone (and the history), committed at once
            self._announce = False
            self._context.request_commit()
            first: list[SourceRecord] = [*self._take_history(),
                   offset_update(self.partition, {**self._base, "snapshot": True,
                                                  "table": None, "after": None})]  # fmt: skip
            self._notes.drain(first)
            return first
        if self._history_records:
            return self._take_history()
        # (the truncate events and the first rows in one poll: a task stopped after every
        # poll, resumed from the truncates' offset, had truncated again and read nothing)
        out: list[SourceRecord] = self._truncates() if self._truncate else []
        self._notes.drain(out)
        limit = self.cfg.max_batch_size
        rows = 0  # this poll's (packed batches hold many)
        taken = 0  # about their bytes, within a chunk's bound (big rows: a poll of
        # max.batch.size rows of 500 KB would hold 1 GB, then their events as much)
        while rows < limit and taken < CHUNK_MAX_BYTES:
            chunk = self._chunk
            if chunk is None or self._row >= len(chunk.rows):
                chunk = self._chunk = next(self._chunks, None)
                self._row = 0
                if chunk is None:
                    self._notes.completed(out)
                    self._finish_snapshot(out)
                    return out
                self._notes.table(chunk.table.qualified, out)
                self._chunk_row_bytes = row_bytes(chunk.rows)
            start = self._row
            end = min(len(chunk.rows), start + limit - rows)
            self._row = end
            rows += end - start
            taken += self._chunk_row_bytes * (end - start)
            self._snapshot_rows(chunk, start, end, out)
        self._notes.drain(out)
        return out

    def _truncates(self) -> list[SourceRecord]:
        """Truncate events for the keyless tables this snapshot reads whole, before any of
        their rows, with the offset resumed from."""
        offset = self._announced or {**self._base, "snapshot": True, "table": None,
                                     "after": None}  # fmt: skip
        out: list[SourceRecord] = []
        for name in self._truncate:
            schema = self._schemas[name]
            source = schema.source(
                self.cfg.topic_prefix, ts_ms=self._snapshot_ts, snapshot="true",
                file=str(self._base["file"]), pos=int(self._base["pos"]),
            )  # fmt: skip
            out.append(
                truncate_record(
                    schema.topic, source, self.partition, offset, schema.value_schema, keyless=True
                )  # fmt: skip
            )
        log.info("snapshot: %d table(s) without a key are read again whole: %s",
                 len(self._truncate), ", ".join(self._truncate))  # fmt: skip
        self._truncates_sent += len(out)
        self._truncate = []
        self._context.request_commit()
        return out

    def _run_offset(self, chunk: Chunk, i: int, marker: str = "true") -> dict[str, Any]:
        """The offset after row i of a chunk (its table and the row's key)."""
        t = chunk.table
        after = None
        key_cols = self._keys[t.qualified]
        if key_cols:
            names = self._schemas[t.qualified].column_names
            row = chunk.rows[i]
            after = encode_key([row[names.index(k)] for k in key_cols])
        # (with the rows of the table read up to it: a resumed snapshot's progress counts
        # them as done)
        rows = self._rows_done.get(t.qualified, 0) + i - self._first_row + 1
        offset: dict[str, Any] = {**self._base, "snapshot": True, "table": t.qualified,
                                  "after": after, "by": list(key_cols), "rows": rows}  # fmt: skip
        if marker == "last":
            offset["last_snapshot_record"] = True
        return offset

    def _source(self, schema: MySqlTable, marker: str) -> dict[str, Any]:
        return schema.source(
            self.cfg.topic_prefix, ts_ms=self._snapshot_ts, snapshot=marker,
            file=str(self._base["file"]), pos=int(self._base["pos"]),
        )  # fmt: skip

    def _snapshot_rows(self, chunk: Chunk, start: int, end: int, out: list[Any]) -> None:
        t = chunk.table
        rows = chunk.rows
        self._first_row = start  # (rows start.. are counted in _rows_done once emitted)
        if isinstance(rows, PackedRows) and t.qualified in self._snapshot_codecs:
            self._packed_rows(chunk, rows, start, end, out)
            self._rows_done[t.qualified] = self._rows_done.get(t.qualified, 0) + end - start
            return
        schema = self._schemas[t.qualified]
        offset = self._run_offset(chunk, end - 1)  # the offset after the run's last row
        sources: dict[str, dict[str, Any]] = {}
        topic, key_schema, value_schema = schema.topic, schema.key_schema, schema.value_schema
        part, row_of, key_of = self.partition, schema.row, schema.key
        n = len(rows)
        for i in range(start, end):
            marker = self._markers.marker(
                i, n, chunk.first_in_table, chunk.last_in_table, chunk.final
            )
            source = sources.get(marker)
            if source is None:
                source = sources[marker] = self._source(schema, marker)
            if marker == "last":
                offset["last_snapshot_record"] = True
            row = row_of(rows[i])
            out.append(SourceRecord(
                topic, envelope("r", None, row, source), key_of(row), part, offset,
                key_schema=key_schema, value_schema=value_schema,
            ))  # fmt: skip
        self._rows_done[t.qualified] = self._rows_done.get(t.qualified, 0) + end - start

    def _packed_rows(
        self, chunk: Chunk, rows: PackedRows, start: int, end: int, out: list[Any]
    ) -> None:  # fmt: skip
        """Rows start..end-1 of a packed chunk: runs of plain reads as packed EncodedBatches
        (no object per row); the rows with a marker of their own, or that the codec
        declined, one by one."""
        t = chunk.table
        schema = self._schemas[t.qualified]
        snap = self._snapshot_codecs[t.qualified]
        values, value_ends, keys, key_ends, _, declined = rows.packed
        if start == 0:
            self._declined = {i: tuple(v) for i, v in declined}
        ts_ns = time.time_ns()
        head, tail = snap.read_wrap(self._source(schema, "true"), ts_ns)
        packed = Packed(values, value_ends, keys, key_ends, start, start,
                        (head, tail, snap.wrap[2], snap.wrap[3]))  # fmt: skip
        for a, b, marker in read_runs(
            start, end, len(rows), self._declined.keys(),
            lambda i: self._markers.marker(
                i, len(rows), chunk.first_in_table, chunk.last_in_table, chunk.final
            ),
        ):  # fmt: skip
            if marker is None:  # a run of plain reads
                out.append(EncodedBatch(schema.topic, [], [], self.partition,
                                        self._run_offset(chunk, b - 1),
                                        packed=packed.slice(a, b)))  # fmt: skip
                continue
            offset = self._run_offset(chunk, a, marker)
            if a in self._declined:  # a value the converters write: the values path
                row = schema.row(rows[a])
                out.append(SourceRecord(
                    schema.topic, envelope("r", None, row, self._source(schema, marker)),
                    schema.key(row), self.partition, offset, key_schema=schema.key_schema,
                    value_schema=schema.value_schema,
                ))  # fmt: skip
                continue
            h, tl = snap.read_wrap(self._source(schema, marker), ts_ns)
            one = packed.slice(a, b, (h, tl, snap.wrap[2], snap.wrap[3]))
            out.append(SourceRecord(
                schema.topic, one.value(a), one.key(a), self.partition, offset, encoded=True
            ))  # fmt: skip

    def _finish_snapshot(self, out: list[SourceRecord]) -> None:
        log.info("snapshot done: %d rows from %d table(s)", sum(self._rows_done.values()),
                 len(self._snapshot_tables))  # fmt: skip
        end(self.snapshot_con, self.cfg)
        self.snapshot_con.close()
        self.snapshot_con = None
        self._close_readers()  # (their read-only transactions end with them)
        self._chunks = None
        out.append(offset_update(self.partition, self._resume))
        self._context.request_commit()  # the snapshot is durable and stored at once
        if self.should_stream:
            self._start_stream()

    # -- streaming ---------------------------------------------------------------------------
    def _start_stream(self) -> None:
        from connectors.source.mysql.stream import ChangeStream

        incremental = None
        if self.cfg.signal_data_collection:
            from connectors.source.mysql.incremental import incremental_snapshot

            incremental = incremental_snapshot(
                self._live_meta, self.cfg.signal_data_collection,
                self.cfg.incremental_snapshot_chunk_size, self.filters, self._table,
            )  # fmt: skip
            incremental.notifier = self.notifier
            incremental.resume(self._resume.get("incremental"))
        self.stream = ChangeStream(
            self.cfg, self.connector_name, self.filters, self.mapper, self.partition,
            self._resume, self.mariadb, incremental,
            self._transactional, self._describe, self._context.json_encoding, self.history,
        )  # fmt: skip
        self.stream.on_inexact = self._context.replay_is_inexact
        self.stream.rollback_ahead = self._rollback_ahead
        self.stream.by_file = self._by_file(self._resume)
        self.stream.binlog_server_id = self._server_id
        stored = self._resume.get("binlog_server_id")
        self._here_newest = None
        self._told_no_look = False
        if (
            self.mariadb and not self.stream.by_file and isinstance(stored, int)
            and stored != self._server_id
        ):  # fmt: skip
            # by GTID from another server's position (a failover): the stream's file and
            # position are this server's from its first transaction's end (a check before had
            # taken the other server's file and position for a reset); an earlier hub's
            # offset (no server named) is checked as this server's, as before
            self.stream.binlog_server_id = stored
            self.stream.here = self._server_id
        self.stream.open()

    def _reset(self, at: Mapping[str, Any] | None, binlogs: list[tuple[str, int]]) -> str | None:
        """MariaDB: why the server's binlogs no longer hold the position ``at`` as this
        connector read them (reset or restored since), or None (`server.history_changed`)."""
        if not self.mariadb or not at or not at.get("gtids") or not at.get("file"):
            return None
        file, pos, gtids = str(at["file"]), int(at.get("pos") or 4), str(at["gtids"])
        server = at.get("binlog_server_id")
        server = int(server) if isinstance(server, int) else None
        return self._on_meta(lambda c: history_changed(c, binlogs, file, pos, gtids, server))

    def _server(self) -> dict[str, Any]:
        """The offset's field naming the server whose binlog it is of (MariaDB)."""
        return {"binlog_server_id": self._server_id} if self._server_id is not None else {}

    def _by_file(self, at: Mapping[str, Any]) -> bool:
        """MariaDB: whether to stream from the position's file and offset rather than from its
        GTIDs: when this server's binlog holds that GTID position there. The offset is exact
        where a GTID may name two places (binlogged out of order under gtid_strict_mode off,
        as SET gtid_seq_no or a replayed mariadb-binlog does: the server went on after the
        first, and the history since came again); the GTIDs serve where the file is gone
        (purged: `gtids_kept`) or is another server's (a failover)."""
        if not self.mariadb or not at.get("gtids") or not at.get("file"):
            return False
        file, pos, gtids = str(at["file"]), int(at.get("pos") or 4), str(at["gtids"])
        return self._on_meta(lambda c: same_position(gtid_at(c, file, pos), gtids))

    def _live_meta(self) -> Any:
        """The metadata connection, made again if the server closed it: an incremental
        snapshot's signal may come after hours idle (past wait_timeout, its first query had
        failed the task with 'MySQL server has gone away')."""
        try:
            self.meta.ping(reconnect=False)
        except Exception:  # noqa: BLE001 - closed, by the server or a network: a new one
            with contextlib.suppress(Exception):
                self.meta.close()
            self.meta = connect(self.cfg)
        return self.meta

    def _on_meta(self, ask: Callable[[Any], T]) -> T:
        """``ask(connection)`` on the metadata connection, on a new one if the server closed
        it (it may sit idle for hours while the task streams)."""
        import pymysql

        try:
            return ask(self.meta)
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
            with contextlib.suppress(Exception):
                self.meta.close()
            self.meta = connect(self.cfg)
            return ask(self.meta)

    def _transactional(self, db: str, table: str) -> bool:
        from connectors.source.mysql.server import transactional

        return self._on_meta(lambda con: transactional(con, db, table))

    def _rollback_ahead(self, file: str, pos: int) -> bool | None:
        """`server.rollback_ahead`; None (the rows stay held) when the server refuses it
        (SHOW BINLOG EVENTS needs BINLOG MONITOR on MariaDB, REPLICATION SLAVE on MySQL),
        said once."""
        from connectors.source.mysql.server import rollback_ahead

        try:
            return self._on_meta(lambda con: rollback_ahead(con, file, pos))
        except Exception as exc:  # noqa: BLE001 - the rows stay held: as before
            if not self._told_no_look:
                self._told_no_look = True
                log.warning(
                    "%s: cannot read ahead in the binlog (%s): the rows of a transaction "
                    "after a SAVEPOINT are held in memory until its commit; grant the "
                    "connector's user BINLOG MONITOR (MariaDB) or REPLICATION SLAVE (MySQL)",
                    self.connector_name, exc,
                )  # fmt: skip
            return None

    def _describe(self, db: str, table: str) -> MySqlTable | None:
        """A captured table as the catalog describes it now, or None."""
        for t in self._on_meta(lambda con: tables(con, self.filters, (db, table))):
            return self._event_table(t)
        return None

    def _event_table(self, t: CatalogTable) -> MySqlTable:
        """A table's events, keyed by message.key.columns where set, else its primary key."""
        key = self.filters.key_override(t.db, t.name, [c.name or "" for c in t.columns])
        return self._table(t, key if key is not None else t.primary_key)

    def poll(self) -> Sequence[SourceRecord]:
        return self._captured.with_set(self._poll())  # (the captured set, when changed)

    def _poll(self) -> Sequence[SourceRecord]:
        if self._chunks is not None:
            return self._poll_snapshot()
        if self._blocking is not None:
            offset, self._blocking = self._blocking, None
            self._rows_done, self._rows_before = {}, 0  # (this snapshot's progress)
            self._start_snapshot(offset, True, True)
            return self._poll_snapshot()
        if self.stream is None:  # snapshot.mode=initial_only: done
            time.sleep(self.cfg.poll_interval_ms / 1000)
            return []
        try:
            records: list[SourceRecord] = self.stream.poll(
                self.cfg.max_batch_size, self.cfg.poll_interval_ms / 1000
            )
        except MySqlConnectionError:
            # RESET MASTER deletes the file the stream reads, and a server that notices at
            # once ends the stream: a reset is looked for (and named) before the lost
            # connection is (retried, the start's check had told it, as an earlier error)
            self._history_due = 0.0
            self._sample_server()
            raise
        if self._history_records:
            records = [*self._take_history(), *records]
        if self.stream.blocked:
            self._stop_for_blocking(records)
            return records
        if self._beat.due() and self.stream._txn is None and not any(r.topic for r in records):
            records.append(self._beat.record(self.partition, self.stream.position()))
        if self.notifier.sink:  # (SKIPPED, an incremental snapshot's since the last signal)
            at = None if records or self.stream._txn is not None else self.stream.position()
            self.notifier.drain(records, self.partition, at)
        now = time.monotonic()
        if now - self._sampled >= SAMPLE_INTERVAL_S:
            self._sample_server()
        if now >= self._captured_due:  # (tables made since: captured from their first row)
            self._captured_due = now + captured.CHECK_S
            try:
                self._captured.update(self._on_meta(lambda c: captured_names(c, self.filters)))
            except Exception as exc:  # noqa: BLE001 - the next check's turn; the stream goes on
                log.debug("listing the captured tables failed: %s", exc)
        return records

    def _stop_for_blocking(self, records: list[SourceRecord]) -> None:
        """The stream ended the transaction of a blocking snapshot's signal: it closes, and
        the snapshot's offset (the tables it reads and where streaming goes on) ends this
        poll's records in place of the commit's, stored at once; the snapshot starts at the
        next poll. A restart before it is stored replays the signal; one after resumes the
        snapshot (`_start_snapshot`), which streams on from there when done."""
        stream = self.stream
        assert stream is not None
        position = stream.position()
        self._blocking = {**position, "snapshot": True, "table": None, "after": None,
                          "stream": position, "only": list(stream.blocked)}  # fmt: skip
        stream.close()
        self.stream = None
        records.append(offset_update(self.partition, self._blocking))
        self._context.request_commit()

    def _sample_server(self) -> None:
        """The server's binlog files and their sizes (``SHOW BINARY LOGS``), for the gauges
        of the bytes still to read and the binlog the server keeps. On a connection of its
        own: the metadata connection is the incremental snapshot's too, and a failure here
        must not replace it under that."""
        from connectors.source.mysql.server import query

        self._sampled = time.monotonic()
        try:
            if self._gauge_con is None:
                self._gauge_con = connect(self.cfg)
            rows = query(self._gauge_con, "SHOW BINARY LOGS")
        except Exception as exc:  # noqa: BLE001 - gauges must not stop the stream
            log.debug("listing the binlog files failed: %s", exc)
            con, self._gauge_con = self._gauge_con, None
            if con is not None:
                with contextlib.suppress(Exception):
                    con.close()
            return
        self._binlogs = [(str(r[0]), int(r[1])) for r in rows]
        self._check_history()

    def _check_history(self) -> None:
        """MariaDB, between transactions: the binlog at the stream's position must still hold
        its GTID position (`server.history_changed`). After RESET MASTER the stream read on
        in the deleted file, heartbeats only, its status RUNNING with no lag, and a restart
        resumed at GTIDs the new history had given other transactions: skipped."""
        stream = self.stream
        if self.mariadb and stream is not None and stream.here is not None and self._binlogs:
            try:
                self._check_unplaced()
            except PositionLostError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next sample's turn
                log.debug("checking the binlogs before the first transaction failed: %s", exc)
        if (
            not self.mariadb or stream is None or stream._txn is not None
            or stream._skip is not None or not stream.gtids or self._gauge_con is None
        ):  # fmt: skip
            return
        files = [name for name, _ in self._binlogs]
        if stream.file not in files and any(
            binlog_number(f) > binlog_number(stream.file) for f in files
        ):
            return  # (purged once the server read on past it: the stream's events came)
        # (BINLOG_GTID_POS reads the file up to the position: 1.6 s in a full 1 GB file on
        # MariaDB 10.11; the checks of sizes and names, cheap, at every sample)
        now = time.monotonic()
        thorough = now >= self._history_due
        if thorough:
            self._history_due = now + HISTORY_CHECK_S
        try:
            reset = history_changed(
                self._gauge_con, self._binlogs, stream.file, stream.pos, stream.gtids,
                stream.binlog_server_id, thorough,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the next sample's turn
            log.debug("checking the binlog position failed: %s", exc)
            return
        if reset is not None:
            raise PositionLostError(
                f"{self.cfg.where()}, while streaming: {reset}: {RESET_ADVICE}"
                + POSITION_LOST_ADVICE
            )

    def _check_unplaced(self) -> None:
        """MariaDB, a stream opened by GTID from another server's position, before its first
        transaction (its file and position on this server not known yet): a reset since the
        first sample numbers the binlogs back, or the GTIDs (``@@gtid_binlog_state``: some
        domain's highest sequence number lower); it compares this server with itself only,
        so a failover cannot look like one. Unseen, the restart resumed at GTIDs the new
        history had given other transactions (the first 14 of 40 new rows skipped)."""
        from connectors.source.mysql.server import query

        assert self._gauge_con is not None
        newest = max(binlog_number(f) for f, _ in self._binlogs)
        row = query(self._gauge_con, "SELECT @@gtid_binlog_state")
        seqs: dict[str, int] = {}
        for gtid in str(row[0][0] if row and row[0][0] else "").split(","):
            parts = gtid.strip().split("-")
            if len(parts) == 3 and parts[2].isdigit():
                seqs[parts[0]] = max(seqs.get(parts[0], 0), int(parts[2]))
        if self._here_newest is None:
            self._here_newest, self._here_seqs = newest, seqs
            return
        back = [d for d, seq in self._here_seqs.items() if seqs.get(d, 0) < seq]
        if newest < self._here_newest or back:
            what = (
                f"the server's newest binlog went back from number {self._here_newest} to "
                f"{newest}" if newest < self._here_newest else
                f"the server's GTIDs of domain {back[0]} went back from "
                f"{self._here_seqs[back[0]]} to {seqs.get(back[0], 0)}"
            )  # fmt: skip
            raise PositionLostError(
                f"{self.cfg.where()}, while streaming: {what} before the stream's first "
                f"transaction: {RESET_ADVICE}" + POSITION_LOST_ADVICE
            )

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {"snapshot_running": 1.0 if self._chunks is not None else 0.0}
        if self._chunks is not None:
            for t in self._snapshot_tables:
                out[f"snapshot_rows_done:{t.qualified}"] = self._rows_done.get(t.qualified, 0)
                out[f"snapshot_rows_estimated:{t.qualified}"] = t.estimated_rows
        stream = self.stream
        if stream is not None:
            out["events"] = stream.events
            out["milliseconds_behind_source"] = stream.behind_ms
            out["binlog_position"] = stream.pos
            behind = binlog_behind(self._binlogs, stream.file, stream.pos)
            if behind is not None:
                out["lag_bytes"] = behind
        if self._binlogs:
            out["binlog_total_bytes"] = sum(size for _, size in self._binlogs)
        # (the events this run read: a resumed snapshot's rows before had made a rate spike)
        read = sum(self._rows_done.values()) - self._rows_before
        snapshot = {"r": read, "t": self._truncates_sent}
        out.update(op_metrics(stream.ops if stream is not None else {}, snapshot))
        return out

    def stop(self) -> None:
        chunks, self._chunks = getattr(self, "_chunks", None), None
        if chunks is not None:  # stopped mid-snapshot: no streamed result left unread
            self._notes.aborted()  # (stopped, or failed: said as Debezium says it)
            snapshot_con, self.snapshot_con = getattr(self, "snapshot_con", None), None
            if snapshot_con is not None:  # closed first, so a reader's open result is not
                with contextlib.suppress(Exception):  # drained (a long table would block)
                    snapshot_con.close()
            self._close_readers()
            with contextlib.suppress(Exception):
                chunks.close()
        self._close_readers()  # (also when the start failed before the chunks began)
        for part in (getattr(self, "stream", None), getattr(self, "snapshot_con", None),
                     getattr(self, "meta", None), getattr(self, "_gauge_con", None)):  # fmt: skip
            if part is None:
                continue
            try:
                part.close()
            except Exception:  # noqa: BLE001 - best effort on the way out
                log.debug("closing", exc_info=True)


class MariaDbSourceTask(MySqlSourceTask):
    connector_name: ClassVar[str] = "mariadb"


_NOT_YET = (
    r"snapshot\.select\.statement\..*", r"snapshot\.delay\.ms", r"streaming\.delay\.ms",
    r"schema\.history\.internal\.(kafka\.(bootstrap\.servers|recovery\..*|query\.timeout\.ms"
    r"|create\.timeout\.ms)|store\.only\.captured\.(tables|databases)\.ddl|producer\..*"
    r"|consumer\..*|ddl\.filter|prefer\.ddl)",
    r"gtid\.source\.(includes|excludes)", r"database\.jdbc\.driver",
    r"connect\.keep\.alive.*", r"converters",
    r"event\.deserialization\.failure\.handling\.mode",
    r"inconsistent\.schema\.handling\.mode", r"enable\.time\.adjuster",
    r"event\.processing\.failure\.handling\.mode", r"column\.propagate\..*",
    r"datatype\.propagate\..*", r"custom\.metric\.tags", r"errors\.max\.retries",
    r"field\.name\.adjustment\.mode", r"schema\.name\.adjustment\.mode",
    r"topic\.naming\.strategy", r"signal\.(enabled\.channels|kafka\..*|file)",
    r"incremental\.snapshot\.(allow\.schema\.changes|watermarking\.strategy)",
    r"min\.row\.count\.to\.stream\.results", r"max\.queue\.size",
    r"database\.query\.timeout\.ms", r"table\.ignore\.builtin", r"binlog\.buffer\.size",
    r"heartbeat\.topics\.prefix", r"use\.nongraceful\.disconnect",
)  # fmt: skip


class MySqlConnector(CdcSourceConnector):
    """Captures row changes of a MySQL or MariaDB server (the binlog) as Debezium events."""

    name = "mysql"
    aliases: ClassVar[tuple[str, ...]] = ("io.debezium.connector.mysql.MySqlConnector",)
    config_model = MySqlSourceConfig
    task_class: ClassVar[type[SourceTask]] = MySqlSourceTask
    secret_properties = ("database.password", "database.ssl.key.password")
    not_yet: ClassVar[tuple[str, ...]] = _NOT_YET
    default_topic_naming: ClassVar[str] = "io.debezium.schema.DefaultTopicNamingStrategy"

    @classmethod
    def refused(cls, key: str, value: Any) -> str | None:
        if key.startswith(("database.ssl.keystore", "database.ssl.truststore")):
            return (
                "Java keystores are not read: give PEM files in database.ssl.ca (the CAs, "
                "from a truststore: openssl pkcs12 -in truststore.p12 -nokeys -out ca.pem; "
                "a JKS one: keytool -importkeystore -deststoretype PKCS12 first), "
                "database.ssl.cert and database.ssl.key (from a keystore: openssl pkcs12 -in "
                "keystore.p12 -out client.pem -nodes, then both name client.pem)"
            )
        return super().refused(key, value)

    @classmethod
    def exclusive_targets(cls, config: Mapping[str, Any]) -> list[str]:
        # (the server drops a replica's connection when another comes with its server id)
        cfg = MySqlSourceConfig.of(config)
        return [f"replica server id {cfg.replica_id()} on {cfg.hostname}:{cfg.port}"]

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> list[Check]:
        from connectors.source.mysql.server import query
        from connectors.source.mysql.snapshot import ident
        from hub.errors import HubError, describe

        cfg = MySqlSourceConfig.of(config)
        try:
            con = connect(cfg)
        except HubError as exc:
            return [Check(f"connect to {cfg.where()}", False, describe(exc))]
        try:
            version = con.get_server_info()
            out = [Check(f"connect to {cfg.where()}", True, version), *server_checks(con, cfg)]
            lists = Filters.from_config(cfg).unmatched_check(
                "database", lambda cols: names(con, cfg, cols)
            )
            if cfg.signal_data_collection:  # (the stream watches it; signals need it there)
                db, _, table = cfg.signal_data_collection.partition(".")
                there = bool(query(
                    con, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_NAME = %s", (db, table),
                ))  # fmt: skip
                out.append(Check(
                    f"signal table {cfg.signal_data_collection} exists", there,
                    "" if there else f"create it: CREATE TABLE {ident(db)}.{ident(table)} "
                    "(id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT)",
                ))  # fmt: skip
            return out if lists is None else [*out, lists]
        finally:
            con.close()

    @classmethod
    def verify_tables(
        cls, config: Mapping[str, Any], only: set[str] | None = None
    ) -> list[SourceTable]:
        """The captured tables as ``hub verify`` compares them (see ``verify.py``)."""
        from connectors.source.mysql.verify import verify_tables

        return verify_tables(config, cls.task_class.connector_name, only)  # type: ignore[attr-defined]

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        return [dict(self.config)]  # one binlog is read by one task

    @classmethod
    def signal(cls, config: ConnectorConfig, kind: str, data: Mapping[str, Any]) -> str:
        """A row in ``signal.data.collection``: the binlog delivers it to the task."""
        import pymysql

        from connectors.source.cdc.incremental import send_signal
        from connectors.source.mysql.server import query
        from connectors.source.mysql.snapshot import ident_formatted

        cfg = config
        assert isinstance(cfg, MySqlSourceConfig)

        from connectors.source.cdc.incremental import SIGNAL_COLUMNS_MYSQL

        def insert(sql: str, row: tuple[str, str, str]) -> None:
            con = connect(cfg)
            try:
                query(con, sql, row)
            finally:
                con.close()

        def columns(db: str, table: str) -> list[str]:
            con = connect(cfg)
            try:
                return [str(r[0]) for r in query(con, SIGNAL_COLUMNS_MYSQL, (db, table))]
            finally:
                con.close()

        return send_signal(cfg.signal_data_collection, kind, data, ident_formatted, insert,
                           pymysql.err.MySQLError, columns)  # fmt: skip


class MariaDbConnector(MySqlConnector):
    """Captures row changes of a MariaDB server (the binlog, MariaDB GTIDs) as Debezium
    events, as Debezium's MariaDbConnector."""

    name = "mariadb"
    aliases: ClassVar[tuple[str, ...]] = ("io.debezium.connector.mariadb.MariaDbConnector",)
    task_class: ClassVar[type[SourceTask]] = MariaDbSourceTask


def binlog_behind(files: Sequence[tuple[str, int]], file: str, pos: int) -> int | None:
    """The binlog bytes after ``file``:``pos`` (``files``: the server's, in order, with their
    sizes); None when ``file`` is not among them."""
    names = [name for name, _ in files]
    if file not in names:
        return None
    at = names.index(file)
    return max(files[at][1] - pos, 0) + sum(size for _, size in files[at + 1 :])


def binlog_number(file: str) -> int:
    """A binlog file's sequence number (``binlog.000012``: 12; -1 without one)."""
    number = file.rpartition(".")[2]
    return int(number) if number.isdigit() else -1
