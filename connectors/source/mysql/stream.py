"""Streaming: binlog events turned into Debezium change events.

The server sends every event of the binlog in order; a transaction starts at its GTID event
(MariaDB; MySQL: GTID or anonymous GTID, then ``BEGIN``) and ends at its XID event (or a
``COMMIT`` query for non-transactional tables); DDL stands alone.

Offsets (as Debezium's): between transactions ``{file, pos, gtids}`` is where the next one
starts. Inside one, ``file``/``pos``/``gtids`` stay at the transaction's start and ``event``
and ``row`` say how far it was emitted: rows events 0..event-1 whole and ``row`` rows of
rows event ``event``. A restarted task asks the server for the binlog from that start (by
GTID on MariaDB, by file and position otherwise), reads the transaction again from its first
event, TABLE_MAPs included, and skips what was emitted: no gap, no repeat, whatever the
transaction's size. Nothing is confirmed to the server: the position lives in hub's offsets,
and heartbeats move it on while the server is idle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from connectors.source.cdc import bounds
from connectors.source.cdc.cuts import SnapshotCuts, precedes
from connectors.source.cdc.envelope import (
    VERSION,
    Transaction,
    change_records,
    rekey_headers,
    truncate_record,
)
from connectors.source.cdc.filters import Filters
from connectors.source.cdc.incremental import IncrementalSnapshot
from connectors.source.cdc.snapshotters import POSITION_LOST_ADVICE
from connectors.source.cdc.topics import TopicRegistry
from connectors.source.mysql import ddl
from connectors.source.mysql.config import MySqlSourceConfig
from connectors.source.mysql.encoded import ACCELERATED, EventEncoder
from connectors.source.mysql.gtids import MySqlGtidSet, mariadb_after
from connectors.source.mysql.history import (
    SchemaHistory,
    declared_lengths,
    fill_defaults,
    fills,
)
from connectors.source.mysql.protocol.events import (
    COMPRESSED,
    HEADER,
    ROWS,
    BinlogFormatError,
    E,
    TableMap,
    rows_event,
    table_map,
    uncompressed,
)
from connectors.source.mysql.protocol.stream import HEARTBEAT, BinlogStream
from connectors.source.mysql.protocol.values import T
from connectors.source.mysql.schema import MySqlTable
from connectors.source.mysql.server import (
    MySqlConnectionError,
    PositionLostError,
    connection_error,
)
from connectors.source.mysql.types import TypeMapper
from hub.errors import ConfigError, FatalError, describe
from hub.log import Packed
from hub.runtime.api import EncodedBatch, Header, JsonMap, SourceRecord, offset_update

log = logging.getLogger(__name__)

# a MariaDB SEQUENCE's table, as the binlog logs it
_SEQUENCE_COLUMNS = (
    "next_not_cached_value", "minimum_value", "maximum_value", "start_value", "increment",
    "cache_size", "cycle_option", "cycle_count",
)  # fmt: skip
_SEQUENCE_TYPES = (T.LONGLONG,) * 6 + (T.TINY, T.LONGLONG)

FL_STANDALONE = 1
FL_GROUP_COMMIT_ID = 2
FL_PREPARED_XA = 64  # MariaDB's GTID event of an XA transaction's prepared part
FL_COMPLETED_XA = 128
# MariaDB's GTID event's extra flags (binlog_alter_two_phase, 10.8+): an ALTER is logged at
# its start and again at its commit or rollback, the same statement each time
FL_START_ALTER = 2
FL_COMMIT_ALTER = 4
FL_ROLLBACK_ALTER = 8


def _alter_phase(event: memoryview, checksum: bool, flags: int) -> int:
    """FL_START_ALTER, FL_COMMIT_ALTER or FL_ROLLBACK_ALTER when a MariaDB GTID event opens a
    two-phase ALTER's group, else 0: its extra flags follow the commit id and the XA id."""
    at = HEADER + 13
    if flags & FL_GROUP_COMMIT_ID:
        at += 8
    if flags & (FL_PREPARED_XA | FL_COMPLETED_XA):
        if at + 6 > len(event):
            return 0
        at += 6 + event[at + 4] + event[at + 5]  # formatID, the lengths, gtrid and bqual
    end = len(event) - (4 if checksum else 0)
    if at >= end:
        return 0
    return event[at] & (FL_START_ALTER | FL_COMMIT_ALTER | FL_ROLLBACK_ALTER)


XA_PREPARE = 38  # the event that ends it (MySQL and MariaDB)
# a Query event's header flag: the statement used a temporary table (the server's
# LOG_EVENT_THREAD_SPECIFIC_F)
THREAD_SPECIFIC = 0x4
_SAVEPOINT_NAME = re.compile(
    r"(?is)^(?:ROLLBACK\s+(?:WORK\s+)?TO|RELEASE)?\s*(?:SAVEPOINT\s+)?(.+?)\s*;?$"
)
ROWS_QUERY = 29  # MySQL's statement of the rows events that follow
# a LOAD DATA logged as a statement: a Query event with 13 more bytes of post-header (the
# file's id, where its name is in the statement, how duplicates go), after the file's bytes
# in BEGIN_LOAD_QUERY / APPEND_BLOCK events
EXECUTE_LOAD_QUERY = 18
_UNREADABLE = {
    40: "compressed transaction payloads (binlog_transaction_compression=ON)",
    164: "encrypted binlog events (encrypt_binlog=ON)",
}


# a Query event's first words that are never a row change (the common ones: no tokenizing)
_NOT_DML = frozenset({"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "XA", "GRANT",
                      "REVOKE", "FLUSH", "ANALYZE", "OPTIMIZE", "REPAIR"})  # fmt: skip
_DML = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD"})
_CALLS = frozenset({"SELECT", "DO", "CALL"})
_VERB_CHARS = 8192  # (of a statement: where its verb, and the databases it names, are read)


# a Query event's status variables before Q_CHARSET_CODE (4), by code: their fixed sizes, or
# -1 for a length byte and that many bytes (then for Q_CATALOG_CODE, 2, a NUL)
_STATUS_SIZES = {0: 4, 1: 8, 2: -1, 3: 4, 6: -1}
_NO_BACKSLASH_ESCAPES = 1 << 20  # (sql_mode's bit, in Q_SQL_MODE_CODE)
_EXPLICIT_DEF_TIMESTAMP = 1 << 24  # (MariaDB's OPTION_EXPLICIT_DEF_TIMESTAMP, in Q_FLAGS2_CODE)


class _Session(NamedTuple):
    """What a Query event's status variables say of the session that ran it."""

    encoding: str  # the Python codec of its character_set_client
    backslash_escapes: bool  # sql_mode without NO_BACKSLASH_ESCAPES
    explicit_timestamps: bool  # explicit_defaults_for_timestamp


def _session(status: bytes, mariadb: bool = True) -> _Session:
    """How to read the statement's text, from the Query event's status variables: the Python
    codec of the session's character_set_client (Q_CHARSET_CODE: a latin1 client's DDL read
    as UTF-8 had garbled column names, ENUM labels and defaults; UTF-8 when it is not there
    or has no codec), whether a backslash escapes in its strings (Q_SQL_MODE_CODE without
    NO_BACKSLASH_ESCAPES: ``'a\\b'`` is ``a\b`` under that mode), and whether the session had
    explicit_defaults_for_timestamp (MariaDB's Q_FLAGS2_CODE holds it; MySQL's own status
    variable for it, Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP, comes after Q_CHARSET_CODE, where this
    stops reading: taken as ON, MySQL 8's default)."""
    from connectors.source.mysql.charsets import UnknownCharsetError, codec

    at = 0
    backslash_escapes = explicit_timestamps = True
    while at < len(status):
        code = status[at]
        if code == 0 and mariadb and at + 5 <= len(status):
            flags2 = int.from_bytes(status[at + 1 : at + 5], "little")
            explicit_timestamps = bool(flags2 & _EXPLICIT_DEF_TIMESTAMP)
        if code == 1 and at + 9 <= len(status):
            mode = int.from_bytes(status[at + 1 : at + 9], "little")
            backslash_escapes = not mode & _NO_BACKSLASH_ESCAPES
        if code == 4:
            if at + 3 > len(status):
                break
            try:
                name = codec(int.from_bytes(status[at + 1 : at + 3], "little"))
            except (UnknownCharsetError, KeyError, ValueError):
                break
            return _Session(name, backslash_escapes, explicit_timestamps)
        size = _STATUS_SIZES.get(code)
        if size is None or at + 1 >= len(status):
            break  # (a variable past it, or unknown: no charset given before it)
        at += 1 + (size if size >= 0 else 1 + status[at + 1] + (1 if code == 2 else 0))
    return _Session("utf-8", backslash_escapes, explicit_timestamps)


def _refuse_hires_53(tm: Any, known: Any) -> None:
    """ConfigError for a DATETIME(n)/TIME(n) with a fraction in MariaDB 5.3's layout (made
    under mysql56_temporal_format=OFF): the binlog gives it the old types' codes (12, 11)
    with no metadata, and another layout than theirs, which hub does not decode (read as the
    old one, its values came out NULL)."""
    for i, c in enumerate(tm.columns):
        if c.type not in (T.DATETIME, T.TIME):
            continue
        at = known.index(c.name) if c.name else i  # (by name where the binlog gives one)
        spec = known.columns[at] if 0 <= at < len(known.columns) else None
        if spec is not None and spec.args and spec.args[0] > 0:
            raise ConfigError(
                f"{tm.schema}.{tm.table}: column {spec.name} is a {spec.type_expression} in "
                "MariaDB 5.3's layout (made under mysql56_temporal_format=OFF), which hub "
                "does not decode yet: convert it (SET GLOBAL mysql56_temporal_format=ON, then "
                f"ALTER TABLE {tm.schema}.{tm.table} FORCE), or leave the table out "
                "(table.exclude.list)"
            )


def _logged_as_statement(sql: str, backslash_escapes: bool = True) -> str | None:
    """The verb of a Query event that is a change of rows logged as a statement (None for
    another), past leading comments
    and MariaDB's ``SET STATEMENT ... FOR``: DML (INSERT, UPDATE, DELETE, REPLACE, LOAD); a
    SELECT, DO or CALL (the binlog holds one only for a function or procedure that wrote rows,
    logged as the statement that called it); ``CREATE TABLE ... SELECT`` (logged as rows, it
    is a ``CREATE TABLE`` without its SELECT, then the rows)."""
    words = [t.word() for t in ddl.tokens(sql[:_VERB_CHARS], backslash_escapes)]
    if len(words) > 2 and words[0] == "SET" and words[1] == "STATEMENT" and "FOR" in words:
        words = words[words.index("FOR") + 1 :]
    if not words:
        return None
    if words[0] in _DML or words[0] in _CALLS:
        return words[0]
    if words[0] == "CREATE" and "TABLE" in words[1:5] and "SELECT" in words:
        return "CREATE"
    return None


def _charsets_of(table: MySqlTable) -> str:
    """The columns of ``table`` in other charsets than UTF-8, with them, for messages."""
    from connectors.source.mysql.charsets import charset

    out = []
    for c in table.columns:
        if c.charset not in (None, 63):
            with contextlib.suppress(Exception):
                name = charset(c.charset)
                if not name.startswith("utf8"):
                    out.append(f"{c.name} ({name})")
    return ", ".join(out)


class _Txn(Transaction):
    __slots__ = ("file", "pos", "gtids", "gtid", "rows_events", "ts", "standalone", "thread",
                 "query", "xa", "held", "marks", "alter", "begun", "held_records",
                 "next_look", "undone")  # fmt: skip

    def __init__(self, file: str, pos: int, gtids: str | None, gtid: str | None, ts: int) -> None:
        super().__init__(gtid or f"{file}:{pos}")
        self.file, self.pos, self.gtids, self.gtid, self.ts = file, pos, gtids, gtid, ts
        self.rows_events = 0  # rows events seen so far (of every table: see _count_all)
        self.standalone = False
        # begun as a transaction (BEGIN, XA START; MariaDB: a GTID event not standalone), not
        # a statement of its own (DDL): Debezium's BEGIN and END records are written for it
        self.begun = False
        self.thread: int | None = None
        self.query: str | None = None  # the statement of the rows events that follow
        self.xa = False  # an XA transaction's prepared part
        self.alter = 0  # a two-phase ALTER's START / COMMIT / ROLLBACK (MariaDB's flags)
        # after a SAVEPOINT (or XA START): the records since, held until nothing can undo
        # them, in runs of one table each; and the savepoints, each with how many runs came
        # before it
        self.held: list[_Held] | None = None
        self.marks: list[tuple[str, int]] = []
        # records held, and how many make the stream look ahead in the binlog whether a
        # ROLLBACK can still undo them (`ChangeStream.rollback_ahead`); False once it found
        # none: later savepoints hold nothing
        self.held_records = 0
        self.next_look = HOLD_LOOK
        self.undone = True


_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_EXECUTABLE = re.compile(r"/\*M?!\d*(.*?)\*/", re.S)  # /*!40000 ...*/: the server runs it
_TABLE_KW = re.compile(r"(?i)TABLE\b\s*")
_IDENT = re.compile(r"`((?:[^`]|``)+)`|([^\s`.;]+)")


def _changes_a_table(upper: str) -> bool:
    """An ALTER, TRUNCATE, RENAME or CREATE/DROP INDEX statement (upper-cased): one the
    server marks as using a temporary table (`THREAD_SPECIFIC`) changes that table. (It marks
    DROP TABLE and CREATE OR REPLACE TABLE of real tables too, and CREATE TABLE ... LIKE a
    temporary one, which makes a real table.)"""
    words = upper.split(None, 4)
    if not words:
        return False
    if words[0] in ("ALTER", "TRUNCATE", "RENAME"):
        return True
    return words[0] in ("CREATE", "DROP") and "INDEX" in words[1:4]


def truncate_target(sql: str, db: str) -> tuple[str, str] | None:
    """(database, table) of ``TRUNCATE [TABLE] [db.]name`` (names quoted or not), the
    statement's default database where none is named."""
    words = _COMMENT.sub(" ", _EXECUTABLE.sub(r" \1 ", sql)).split(None, 1)
    rest = words[1] if len(words) > 1 else ""
    table_kw = _TABLE_KW.match(rest)
    if table_kw is not None:
        rest = rest[table_kw.end() :]
    names: list[str] = []
    pos = 0
    while len(names) < 2:
        m = _IDENT.match(rest, pos)
        if m is None:
            break
        names.append(m.group(1).replace("``", "`") if m.group(1) is not None else m.group(2))
        pos = m.end()
        while rest[pos : pos + 1].isspace():  # (`db . t` is db.t)
            pos += 1
        if rest[pos : pos + 1] != ".":
            break
        pos += 1
        while rest[pos : pos + 1].isspace():
            pos += 1
    if not names:
        return None
    return (names[0], names[1]) if len(names) == 2 else ((db, names[0]) if db else None)


# held records after which the stream asks whether the rest of the transaction's group holds
# a ROLLBACK at all (ORMs' nested transactions set savepoints in transactions of any size; a
# ROLLBACK TO is logged only when a non-transactional table changed): ~20 MB of records
HOLD_LOOK = 10_000


class _Held:
    """A held run: one rows event's records, its table (its engine decides whether a ROLLBACK
    TO undoes it) and what it tells an open incremental snapshot, told at its release (a row
    rolled back must not drop a chunk's row as superseded)."""

    __slots__ = ("table", "records", "changes", "ops")

    def __init__(self, table: tuple[str, str]) -> None:
        self.table = table
        self.records: list[SourceRecord] = []
        self.changes: list[tuple[MySqlTable, Any, Any]] = []
        self.ops: Counter[str] = Counter()  # its events by operation


class ChangeStream:
    def __init__(
        self, cfg: MySqlSourceConfig, connector: str, filters: Filters, mapper: TypeMapper,
        partition: JsonMap, resume: Mapping[str, Any], mariadb: bool,
        incremental: IncrementalSnapshot | None = None,
        transactional: Callable[[str, str], bool] | None = None,
        describe: Callable[[str, str], MySqlTable | None] | None = None,
        json_encoding: tuple[bool, bool] | None = None,
        history: SchemaHistory | None = None,
    ) -> None:  # fmt: skip
        self.cfg, self.connector, self.filters, self.mapper = cfg, connector, filters, mapper
        self._warned_statements: set[str] = set()  # databases not captured, said once each
        # the tables' columns at the stream's position, changed by each DDL read
        self.history = history
        self._completed: dict[tuple[Any, ...], TableMap] = {}  # TABLE_MAPs named from it
        # by table id: (the history's table, the binlog's TABLE_MAP, it with UUID/INET marked)
        self._extended: dict[int, tuple[Any, TableMap, TableMap]] = {}
        # encoded events (SourceTaskContext.json_encoding): rows events' bytes, no dicts
        self.encoder: EventEncoder | None = None
        if json_encoding is not None and ACCELERATED and not cfg.provide_transaction_metadata:
            self.encoder = EventEncoder(json_encoding, cfg.topic_prefix, mapper)
        self._batched = 0  # records in this poll's EncodedBatches beyond one each
        # does a table's engine roll back (InnoDB) or not (MyISAM, Aria): asked at a
        # ROLLBACK TO SAVEPOINT that has rows of the table to undo
        self._transactional = transactional or (lambda db, table: True)
        # whether the rest of a transaction's binlog group, from a file and position, holds
        # a ROLLBACK (True), none (False), or it cannot tell (None): see `_look_ahead`
        self.rollback_ahead: Callable[[str, int], bool | None] | None = None
        # a table as the catalog has it now (for a TRUNCATE's event, which has no TABLE_MAP)
        self._describe = describe or (lambda db, table: None)
        # called when this stream emits fewer records than a crashed run may have for the
        # same binlog (SourceTaskContext.replay_is_inexact): the runtime then matches none
        self.on_inexact: Callable[[], None] = lambda: None
        self.partition = partition
        self.mariadb = mariadb
        self.file = str(resume["file"])
        self.pos = int(resume["pos"])
        self.gtids: str | None = resume.get("gtids")
        # MariaDB: open at file and position, not at the GTID position (MySqlSourceTask's
        # _by_file: the server's binlog holds that position there)
        self.by_file = False
        # MariaDB: the @@server_id of the server whose binlog this is (in the offsets: a
        # failover's server has other files; MySqlSourceTask sets it)
        self.binlog_server_id: int | None = None
        # opened by GTID at a position read from another server (a failover): its file and
        # position are this server's from the first transaction's end, and only then do the
        # offsets and the reset checks take them as such (``here``: this server's id)
        self.here: int | None = None
        self._mysql_gtids: MySqlGtidSet | None = None  # MySQL's executed set, parsed
        # inside a transaction at the restart: skip what was emitted
        self._skip = (
            (int(resume["event"]), int(resume.get("row", 0))) if "event" in resume else None
        )
        # until past that transaction, the place to store is still the one resumed from
        self._resumed = dict(resume) if self._skip is not None else None
        # an offset's "event" counts the transaction's rows events of every table (under a
        # table filter changed since, counting the captured ones only skipped or repeated
        # rows); one stored before it counted the captured ones: its transaction is resumed
        # counting so
        self._count_all = self._skip is None or resume.get("events") == "all"
        self.skipped_ops = cfg.skipped()
        self.tombstones = cfg.tombstones_on_delete
        self.metadata = cfg.provide_transaction_metadata
        self.stream: BinlogStream | None = None
        self._txn: _Txn | None = None
        self._maps: dict[int, TableMap] = {}  # captured tables' maps, by table id
        self._tables: dict[tuple[Any, ...], MySqlTable] = {}  # by TABLE_MAP signature
        self._by_id: dict[int, MySqlTable] = {}
        self._ignored: set[int] = set()  # table ids of tables not captured
        self._sequences: set[tuple[str, str]] = set()  # captured names that are sequences
        # the captured tables' topics (`_registry`): those the schema history holds, and
        # those seen since; made again at each DDL (a table renamed or dropped gives up its
        # topic)
        self._topics: TopicRegistry | None = None
        self._emitted: dict[str, Any] | None = None  # offset of the last record returned
        self.events = 0
        self.ops: Counter[str] = Counter()  # events by operation (c, u, d, r, t)
        self.behind_ms = 0.0
        self.incremental = incremental
        self._signal = tuple(cfg.signal_data_collection.split(".", 1)) if incremental else None
        self._signal_id: int | None = None
        # changes a resumed snapshot read already (`connectors.source.cdc.cuts`)
        self._cut = SnapshotCuts.load(resume.get("cut")) if resume.get("cut") else None
        self._cut_json = self._cut.to_json() if self._cut is not None else None  # (shared)
        # a blocking snapshot's tables, signalled in the transaction this poll ended at: the
        # stream stops there (`MySqlSourceTask` reads them, then opens a new stream)
        self.blocked: list[str] = []

    # -- connection ---------------------------------------------------------------------------
    def open(self) -> None:
        cfg = self.cfg
        try:
            stream = BinlogStream(
                cfg.hostname, cfg.port, cfg.user, cfg.password, cfg.replica_id(),
                heartbeat_s=min(cfg.poll_interval_ms, 1000) / 1000,
                connect_timeout=cfg.connect_timeout_ms / 1000, annotate_rows=cfg.include_query,
                tls=cfg.tls(),
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - PyMySQL's errors: say where, retry
            raise connection_error(cfg, exc, "open the binlog connection to") from None
        try:
            if self.mariadb and self.gtids is not None and not self.by_file:
                stream.open_gtid(self.gtids)
                log.info("streaming from GTID position %s", self.gtids)
            else:
                stream.open_file(self.file, self.pos)
                log.info("streaming from %s:%d", self.file, self.pos)
        except Exception as exc:  # noqa: BLE001
            stream.close()
            raise self._error(exc) from None
        self.stream = stream

    def _error(self, exc: BaseException) -> Exception:
        text = describe(exc)
        code = exc.args[0] if getattr(exc, "args", None) else None
        if code == 1236 or "purged" in text or "Could not find" in text:
            where = f"GTID position {self.gtids}" if self.mariadb and self.gtids else (
                f"{self.file}:{self.pos}"
            )  # fmt: skip
            return PositionLostError(
                f"the server no longer has the binlog at {where} this connector stopped at "
                f"({text}): the changes in between are lost to it. " + POSITION_LOST_ADVICE
            )
        if "server_id" in text or "same server" in text.lower():
            return ConfigError(
                f"{text}: another replica uses database.server.id={self.cfg.replica_id()}; "
                "give this connector its own"
            )
        return MySqlConnectionError(f"binlog connection to {self.cfg.where()}: {text}")

    # -- offsets ------------------------------------------------------------------------------
    def position(self) -> dict[str, Any]:
        """The offset between transactions: where the next one starts (inside the one a
        restart resumed in, until it is read on: the offset resumed from)."""
        if self._skip is not None and self._resumed is not None:
            return dict(self._resumed)
        out: dict[str, Any] = {"file": self.file, "pos": self.pos,
                               "server_id": self.cfg.replica_id()}  # fmt: skip
        if self.gtids is not None:
            out["gtids"] = self.gtids
        if self.binlog_server_id is not None:
            out["binlog_server_id"] = self.binlog_server_id
        if self.incremental is not None and self.incremental.state() is not None:
            out["incremental"] = self.incremental.state()
        if self._cut_json is not None:
            out["cut"] = self._cut_json
        return out

    def _offset(self, txn: _Txn, event: int, row: int) -> dict[str, Any]:
        out: dict[str, Any] = {"file": txn.file, "pos": txn.pos, "event": event, "row": row,
                               "server_id": self.cfg.replica_id(), "ts_sec": txn.ts}  # fmt: skip
        if self._count_all:
            out["events"] = "all"
        if txn.gtids is not None:
            out["gtids"] = txn.gtids
        if self.binlog_server_id is not None:
            out["binlog_server_id"] = self.binlog_server_id
        if self.incremental is not None and self.incremental.state() is not None:
            out["incremental"] = self.incremental.state()
        if self._cut_json is not None:
            out["cut"] = self._cut_json
        return out

    # -- events -------------------------------------------------------------------------------
    def poll(self, limit: int, timeout_s: float) -> list[SourceRecord]:
        assert self.stream is not None
        out: list[SourceRecord] = []
        deadline = time.monotonic() + timeout_s
        self._batched = 0
        taken, max_bytes = 0, bounds.POLL_MAX_BYTES  # the events' bytes (big rows)
        while len(out) + self._batched < limit and taken < max_bytes and not self.blocked:
            try:
                got = self.stream.read()
            except Exception as exc:  # noqa: BLE001 - a lost connection: resume from offsets
                raise self._error(exc) from None
            if got is None:
                raise MySqlConnectionError(f"{self.cfg.where()} ended the binlog stream")
            h, event = got
            taken += len(event)
            if h.type == HEARTBEAT:  # body: the binlog file the server stands in
                end = len(event) - (4 if self.stream.checksum else 0)
                file = bytes(event[HEADER:end]).decode(errors="replace")
                if self._txn is None and file == self.file and h.log_pos > self.pos:
                    self.pos = h.log_pos
                if out or time.monotonic() >= deadline:
                    break
                continue
            self._event(h, event, out)
            if time.monotonic() >= deadline and self._txn is None:
                break
        if out:
            self._emitted = dict(out[-1].source_offset)
        if self.blocked:  # (the snapshot's offset, holding this one, comes instead)
            return out
        if self._txn is None and self._emitted != self.position():
            # transactions of tables not captured, DDL, rotations, heartbeats: move on
            out.append(offset_update(self.partition, self.position()))
            self._emitted = self.position()
        return out

    def _event(self, h: Any, event: memoryview, out: list[SourceRecord]) -> None:
        stream = self.stream
        assert stream is not None
        checksum = stream.checksum
        if h.type in COMPRESSED:  # (MariaDB's log_bin_compress=ON)
            h, event = uncompressed(h, event, checksum)
        t = h.type
        if t in (E.WRITE_V1, E.UPDATE_V1, E.DELETE_V1, E.WRITE, E.UPDATE, E.DELETE):
            self._rows(h, event, checksum, out)
        elif t == E.TABLE_MAP:
            self._table_map(event, checksum)
        elif t == E.XID:
            self._commit(h, out)
        elif t == XA_PREPARE:
            self._xa_prepare(h, event, out)
        elif t == E.MARIADB_GTID:
            seq = int.from_bytes(event[HEADER : HEADER + 8], "little")
            domain = int.from_bytes(event[HEADER + 8 : HEADER + 12], "little")
            flags = event[HEADER + 12]
            self._begin(h, f"{domain}-{h.server_id}-{seq}")
            assert self._txn is not None
            self._txn.standalone = bool(flags & FL_STANDALONE)
            self._txn.begun = not self._txn.standalone
            self._txn.xa = bool(flags & FL_PREPARED_XA)
            self._txn.alter = _alter_phase(event, checksum, flags)
        elif t == E.GTID or t == 34:  # MySQL GTID / anonymous GTID
            uuid = bytes(event[HEADER + 1 : HEADER + 17]).hex()
            gno = int.from_bytes(event[HEADER + 17 : HEADER + 25], "little")
            sid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
            self._begin(h, f"{sid}:{gno}" if t == E.GTID else None)
        elif t == E.QUERY:
            self._query(h, event, checksum, out)
        elif t == EXECUTE_LOAD_QUERY:
            self._query(h, event, checksum, out, post=13)
        elif t == E.ROTATE:
            if self._txn is None:
                end = len(event) - (4 if checksum else 0)
                file = bytes(event[HEADER + 8 : end]).decode()
                pos = int.from_bytes(event[HEADER : HEADER + 8], "little")
                # an artificial one (log_pos 0) opens a dump: by GTID, MariaDB names the file
                # it starts reading and position 4, before the stored position; taken, the
                # offset went back and the next start replayed too little schema history
                if h.log_pos != 0 or not precedes([file, pos], [self.file, self.pos]):
                    self.file, self.pos = file, pos
        elif t in (E.MARIADB_ANNOTATE_ROWS, ROWS_QUERY):
            if self.cfg.include_query and self._txn is not None:
                end = len(event) - (4 if checksum else 0)
                start = HEADER + (1 if t == ROWS_QUERY else 0)  # MySQL: a length byte first
                self._txn.query = bytes(event[start:end]).decode("utf-8", "replace")
        elif t in _UNREADABLE:
            raise ConfigError(
                f"{self.cfg.where()} writes {_UNREADABLE[t]}, which hub cannot read: turn it "
                "off on the server"
            )

    def _begin(self, h: Any, gtid: str | None) -> None:
        start = h.log_pos - h.size
        self._txn = _Txn(self.stream.file if self.stream else self.file, start, self.gtids,
                         gtid, h.timestamp)  # fmt: skip
        self.behind_ms = max(time.time() - h.timestamp, 0) * 1000

    def _commit(self, h: Any, out: list[SourceRecord], rollback: bool = False) -> None:
        txn = self._txn
        if txn is not None and txn.held is not None:  # what no savepoint can undo now
            kept = [r for r in txn.held if not rollback or not self._transactional(*r.table)]
            self._release(kept, out)
        if txn is not None and self.metadata and (txn.begun or txn.total):
            self._txn_records(txn, out)
        if txn is not None and txn.gtid is not None and self.mariadb:
            self.gtids = mariadb_after(self.gtids, txn.gtid)
        elif txn is not None and txn.gtid is not None:  # (resumed by file and position)
            if self._mysql_gtids is None:
                self._mysql_gtids = MySqlGtidSet(self.gtids)
            self.gtids = self._mysql_gtids.add(txn.gtid)
        assert self.stream is not None
        self.file, self.pos = self.stream.file, h.log_pos
        if self.here is not None:  # (this server's file and position from now on)
            self.binlog_server_id, self.here = self.here, None
        if self._cut is not None and self._cut.passed([self.file, self.pos]):
            self._cut = self._cut_json = None
        self._txn = None
        self._skip = None  # past the transaction the restart was inside
        self._count_all = True
        inc = self.incremental
        if inc is not None and inc.blocking:  # a blocking snapshot's signal: stop here
            self.blocked = inc.take_blocking()

    def _query(
        self, h: Any, event: memoryview, checksum: bool, out: list[SourceRecord], post: int = 0
    ) -> None:
        """A Query event (``post``: bytes of another event's post-header past a Query's)."""
        pos = HEADER
        thread = int.from_bytes(event[pos : pos + 4], "little")
        db_len = event[pos + 8]
        vars_len = int.from_bytes(event[pos + 11 : pos + 13], "little")
        pos += 13 + post
        session = _session(bytes(event[pos : pos + vars_len]), self.mariadb)
        encoding, escapes = session.encoding, session.backslash_escapes
        pos += vars_len
        db = bytes(event[pos : pos + db_len]).decode("utf-8", "replace")
        end = len(event) - (4 if checksum else 0)
        sql = bytes(event[pos + db_len + 1 : end]).decode(encoding, "replace").strip()
        word = sql.split(None, 1)[0].upper() if sql else ""
        if word == "BEGIN":
            if self._txn is None:
                self._begin(h, None)
            if self._txn is not None:
                self._txn.thread = thread
                self._txn.begun = True
            return
        upper = sql.upper()
        if word == "COMMIT" or upper == "ROLLBACK":
            self._commit(h, out, rollback=upper == "ROLLBACK")
            return
        if word in ("SAVEPOINT", "RELEASE") or upper.startswith("ROLLBACK"):
            if self._txn is not None:
                self._savepoint(word, sql, out)
            return
        verb = None
        if word == "CREATE" or word not in _NOT_DML:
            verb = _logged_as_statement(sql, escapes)
        if verb is not None:
            if self._may_touch_captured(db, sql, escapes):
                file = self.stream.file if self.stream else self.file
                raise ConfigError(
                    f"{self.cfg.where()} logged a change as a statement, not as rows "
                    f"({sql[:100]!r} in {db or '(no database)'}, {file}:{h.log_pos - h.size}): "
                    "a session set binlog_format=STATEMENT or MIXED; hub "
                    "needs binlog_format=ROW in every session"
                )
            if db not in self._warned_statements:
                # (the server logs the statement alone, not what a trigger, a view or a
                # stored function it ran through wrote: hub cannot tell, as Debezium cannot)
                self._warned_statements.add(db)
                log.warning(
                    "%s logged a change in %s, not captured, as a statement (%r): if it wrote "
                    "a captured table through a trigger, a view or a stored function, that "
                    "change is not in the binlog's rows and hub cannot see it; set "
                    "binlog_format=ROW in every session (said once per database)",
                    self.cfg.where(), db or "(no database)", sql[:100],
                )  # fmt: skip
            if verb != "CREATE":
                return  # a change of a database not captured (its transaction goes on)
        if word == "XA":
            self._xa(h, upper, out)
            return
        if self._txn is not None and self._txn.alter & (FL_START_ALTER | FL_ROLLBACK_ALTER):
            # a two-phase ALTER is applied at its COMMIT ALTER, the same statement again:
            # rows until then have the old columns, and one rolled back never happened
            log.info("DDL in %s, %s: %s", db or "(no database)", "started" if
                     self._txn.alter & FL_START_ALTER else "rolled back", sql[:200])  # fmt: skip
            self._commit(h, out)
            return
        if h.flags & THREAD_SPECIFIC and _changes_a_table(upper):
            # a change of a temporary table (a STATEMENT or MIXED session's), which may hide
            # a captured table of its name: applied to that one, its columns were wrong for
            # every later row (and a TRUNCATE emptied it in the sinks)
            log.info("DDL on a temporary table in %s (not applied): %s", db or "(no database)",
                     sql[:200])  # fmt: skip
            if not (self.mariadb and self._txn is not None and not self._txn.standalone):
                self._commit(h, out)  # (as any DDL's, but inside a transaction it is part of)
            return
        # DDL: the next TABLE_MAP of a changed table brings its new columns
        log.info("DDL in %s: %s", db or "(no database)", sql[:200])
        self._maps.clear()
        self._by_id.clear()
        self._ignored.clear()
        self._completed.clear()
        self._extended.clear()
        self._topics = None
        at = (self.stream.file if self.stream else self.file, h.log_pos - h.size)
        txn = self._txn
        # CREATE TABLE ... SELECT: its rows and its XID follow in the transaction (MariaDB;
        # MySQL 8.0.21+ logs it as "CREATE TABLE ... START TRANSACTION"); a restart inside it
        # stored an offset past this statement's records
        if txn is not None and (
            (self.mariadb and not txn.standalone)
            or (not self.mariadb and upper.rstrip(" ;").endswith("START TRANSACTION"))
        ):
            if self.history is not None:
                out += self.history.ddl(
                    sql, db, at, self._offset(txn, txn.rows_events, 0),
                    self._ddl_source(h, txn, thread, sql), emit=self._skip is None,
                    backslash_escapes=escapes, explicit_timestamps=session.explicit_timestamps,
                )  # fmt: skip
            return
        self._commit(h, out)
        if self.history is not None:
            out += self.history.ddl(sql, db, at, self.position(),
                                    self._ddl_source(h, txn, thread, sql),
                                    backslash_escapes=escapes,
                                    explicit_timestamps=session.explicit_timestamps)  # fmt: skip
        if word == "TRUNCATE":
            target = truncate_target(sql, db)
            inc = self.incremental
            if inc is not None and inc.open and target is not None and self.filters.table(*target):
                table = self._describe(*target)
                if table is not None:
                    inc.on_truncate(table)  # the chunk's rows are gone (whatever is emitted)
            if "t" not in self.skipped_ops:
                self._truncate(h, txn, thread, target, sql, out)

    def _may_touch_captured(self, db: str, sql: str, backslash_escapes: bool = True) -> bool:
        """Whether a statement-logged change may have changed a captured table: its default
        database, or any name it holds, is a captured database (a change to another one, as
        pt-table-checksum's, is not this connector's to refuse)."""
        if self.filters.namespace(db):
            return True
        return any(
            t.kind in ("id", "qid") and self.filters.namespace(t.text)
            for t in ddl.tokens(sql[:_VERB_CHARS], backslash_escapes)
        )

    def _ddl_source(self, h: Any, txn: _Txn | None, thread: int, sql: str) -> dict[str, Any]:
        """A schema change event's source block (its db and table filled in by the history)."""
        return {
            "version": VERSION, "connector": self.connector, "name": self.cfg.topic_prefix,
            "ts_ms": h.timestamp * 1000, "snapshot": "false", "db": "", "sequence": None,
            "ts_us": h.timestamp * 1_000_000, "ts_ns": h.timestamp * 1_000_000_000,
            "table": None, "server_id": h.server_id,
            "gtid": txn.gtid if txn is not None else None,
            "file": self.stream.file if self.stream else self.file, "pos": h.log_pos - h.size,
            "row": 0, "thread": thread, "query": None,
        }  # fmt: skip

    def _truncate(
        self, h: Any, txn: _Txn | None, thread: int, target: tuple[str, str] | None, sql: str,
        out: list[SourceRecord],
    ) -> None:  # fmt: skip
        """TRUNCATE TABLE of a captured table: a truncate event (``op: t``), stored with the
        position after it (the statement is a group of its own)."""
        if target is None or not self.filters.table(*target):
            return
        file = txn.file if txn is not None else self.file
        pos = txn.pos if txn is not None else h.log_pos - h.size
        if self._cut is not None:
            cut = self._cut.position(f"{target[0]}.{target[1]}")
            if cut is not None and precedes([file, pos], cut):
                return  # a resumed snapshot read the table after it
        # (the table as the schema history has it here: the catalog's is the table as it is
        # when this is read, maybe renamed, dropped or altered since)
        table = self._history_table(*target) if self.history is not None else None
        if table is None:
            table = self._describe(*target)
        if table is None:
            log.warning("TRUNCATE of %s.%s: the table is gone from the catalog, so no truncate "
                        "event can be built for it; the sink keeps its rows", *target)  # fmt: skip
            # a crashed run may have emitted it (the table was there then): matched by their
            # place, the records after it would be taken for written ones and dropped
            self.on_inexact()
            return
        source = table.source(
            self.cfg.topic_prefix, ts_ms=h.timestamp * 1000, server_id=h.server_id,
            gtid=txn.gtid if txn is not None else None, file=file, pos=pos, thread=thread,
            query=sql if self.cfg.include_query else None,
        )  # fmt: skip
        out.append(
            truncate_record(table.topic, source, self.partition, self.position(),
                            table.value_schema)
        )  # fmt: skip
        self.events += 1
        self.ops["t"] += 1

    def _history_table(self, db: str, name: str) -> MySqlTable | None:
        """A captured table's events as the schema history defines it at this point."""
        assert self.history is not None
        known = self.history.schemas.get(db, name)
        if known is None:
            return None
        try:
            columns = self.history.schemas.columns(known)
        except ConfigError:  # (a type hub does not capture: as the catalog has it)
            return None
        names = [c.name or "" for c in columns]
        key = self.filters.key_override(known.db, known.name, names)
        return MySqlTable(
            self.cfg.topic_prefix, self.connector, known.db, known.name, columns,
            key if key is not None else known.primary_key, self.mapper,
            self._column_filter(known.db, known.name), known.primary_key,
            fill_defaults(known), declared_lengths(known), fills(known),
        )  # fmt: skip

    def _savepoint(self, word: str, sql: str, out: list[SourceRecord]) -> None:
        """SAVEPOINT, ROLLBACK TO and RELEASE inside a transaction. Rows after a savepoint
        are held: a ROLLBACK TO drops those of tables whose engine rolls back (the binlog
        keeps them when a non-transactional table changed in between), and once no
        savepoint is left (RELEASE, which MariaDB does not log), at the commit, or when
        the rest of the group holds no ROLLBACK (`_look_ahead`) they go out."""
        txn = self._txn
        assert txn is not None
        m = _SAVEPOINT_NAME.match(sql.split(None, 1)[1] if word == "SAVEPOINT" else sql)
        name = (m.group(1) if m else sql).strip("`").casefold()
        names = [n for n, _ in txn.marks]
        if word == "SAVEPOINT":
            if not txn.undone:
                return  # (nothing in the rest of the group rolls back)
            if txn.held is None:
                txn.held = []
            if name in names:
                del txn.marks[names.index(name)]
            txn.marks.append((name, len(txn.held)))
            return
        if name not in names or txn.held is None:
            return  # (a savepoint set before the restart point: nothing held of it)
        at = names.index(name)
        if word == "RELEASE":
            del txn.marks[at:]
            if not txn.marks and not txn.xa:  # nothing can undo them any more
                self._release(txn.held, out)
                txn.held = None
            return
        start = txn.marks[at][1]  # ROLLBACK TO: the savepoint stays, those after it go
        del txn.marks[at + 1 :]
        txn.held[start:] = [h for h in txn.held[start:] if not self._transactional(*h.table)]

    def _look_ahead(self, h: Any, txn: _Txn, out: list[SourceRecord]) -> None:
        """Many records held after a savepoint: when the rest of the transaction's group
        holds no ROLLBACK, nothing can undo them, and they go out now (an ORM's nested
        transaction held every row of a big one in memory to its commit, and handed them
        over in one poll). Otherwise, or when it cannot tell, look again at twice as many."""
        ahead = None
        if self.rollback_ahead is not None and self.stream is not None:
            ahead = self.rollback_ahead(self.stream.file, h.log_pos)
        if ahead is False:
            assert txn.held is not None
            self._release(txn.held, out)
            txn.held, txn.undone = None, False
            txn.marks.clear()
            return
        txn.next_look = txn.held_records * 2

    def _release(self, runs: list[_Held], out: list[SourceRecord]) -> None:
        inc, txn = self.incremental, self._txn
        assert txn is not None
        for run in runs:
            if inc is not None and inc.open:
                for table, newest, old in run.changes:
                    inc.on_change(table, newest, old)
            for record in run.records:  # (their place in the transaction: only now known)
                if record.value is not None:
                    record.value["transaction"] = txn.block(record.topic, self.metadata)
            out += run.records
            self.ops.update(run.ops)

    def _txn_records(self, txn: _Txn, out: list[SourceRecord]) -> None:
        """The transaction's BEGIN and END records (``provide.transaction.metadata``), at its
        commit, for each transaction, as Debezium writes them (one without captured events
        too: its END counts none). Both come after its events, which another topic holds
        anyway: their offsets are past its last rows event, so that a restart inside the
        transaction, which reads its rows events again, writes each of them once."""
        n = txn.rows_events
        ts_ms = txn.ts * 1000
        real = {t.topic: f"{t.db}.{t.table}" for t in self._tables.values()}
        for status, row in (("BEGIN", 0), ("END", 1)):
            if self._skip is not None and (n, row) <= self._skip:
                continue  # written before the restart
            out.append(txn.metadata_record(
                self.cfg.topic_prefix, status, ts_ms, self.partition, self._offset(txn, n, row),
                real,
            ))  # fmt: skip

    def _xa_prepare(self, h: Any, event: memoryview, out: list[SourceRecord]) -> None:
        """The end of an XA transaction's group, whose rows were held. One phase (MySQL's
        ``XA COMMIT ... ONE PHASE``; MariaDB logs that as an ordinary transaction): committed,
        they go out. Two phases: whether they commit is logged later, so rows of captured
        tables are refused rather than emitted or dropped."""
        txn = self._txn
        one_phase = len(event) > HEADER and event[HEADER] != 0
        if txn is not None and txn.held and not one_phase:
            tables = sorted({f"{h.table[0]}.{h.table[1]}" for h in txn.held if h.records})
            if tables:
                raise ConfigError(
                    f"{', '.join(tables)}: a two-phase XA transaction changed it ({txn.file}:"
                    f"{txn.pos}), and hub cannot yet tell whether such a transaction commits "
                    "when it reads its rows; use ordinary transactions (or XA COMMIT ... ONE "
                    "PHASE) for captured tables. This one stays in the binlog and stops every "
                    "restart here: to go on, exclude the table (table.exclude.list), or stop "
                    "the connector, delete its offsets (DELETE /connectors/<name>/offsets) "
                    "and start it again for a new snapshot"
                )
        self._commit(h, out)

    def _xa(self, h: Any, upper: str, out: list[SourceRecord]) -> None:
        """XA START begins an XA transaction's group (MySQL logs it as a query; MariaDB flags
        the GTID event), an XA_PREPARE event ends it (`_xa_prepare`); XA COMMIT or ROLLBACK
        of a prepared one is a group of its own."""
        parts = upper.split()
        verb = parts[1] if len(parts) > 1 else ""
        if verb in ("START", "BEGIN"):
            if self._txn is None:
                self._begin(h, None)
            assert self._txn is not None
            self._txn.xa = self._txn.begun = True
        elif verb in ("COMMIT", "ROLLBACK"):
            self._commit(h, out)

    def _table_map(self, event: memoryview, checksum: bool) -> None:
        tm = table_map(event, checksum, self.mariadb)
        if self.mariadb and self._sequence(tm):  # (its writes are NEXTVAL's, not rows)
            self._ignored.add(tm.table_id)
            self._maps.pop(tm.table_id, None)
            return
        if (
            self.history is not None
            and tm.columns
            and tm.columns[0].name is None
            and (self.filters.table(tm.schema, tm.table) or self._is_signal(tm.schema, tm.table))
        ):  # no column names in the binlog (binlog_row_metadata MINIMAL or NO_LOG)
            sig = (tm.table_id, tm.schema, tm.table, tm.columns)
            done = self._completed.get(sig)
            if done is None:
                done = self._completed[sig] = self.history.schemas.complete(tm)
            tm = done
        elif self.history is not None:
            known = self.history.schemas.get(tm.schema, tm.table)
            if known is not None and tm.primary_key and not known.primary_key:
                # MariaDB's binlog names a NOT NULL unique key as the key of a table without
                # a PRIMARY KEY; the snapshot and the history key it by none: one key for
                # the topic (a keyed stream after a keyless snapshot mixed the two)
                tm = dataclasses.replace(tm, primary_key=())
            if known is not None:  # UUID / INET columns, which the binlog logs as BINARY(n)
                cached = self._extended.get(tm.table_id)
                if cached is None or cached[0] is not known or cached[1] != tm:
                    cached = self._extended[tm.table_id] = (
                        known, tm, self.history.schemas.extended(tm)
                    )  # fmt: skip
                tm = cached[2]
        if self._is_signal(tm.schema, tm.table):
            self._signal_id = tm.table_id
            self._maps[tm.table_id] = tm
        if not self.filters.table(tm.schema, tm.table):
            if tm.table_id != self._signal_id:
                self._ignored.add(tm.table_id)
                self._maps.pop(tm.table_id, None)
            return
        self._ignored.discard(tm.table_id)
        self._maps[tm.table_id] = tm
        known = self.history.schemas.get(tm.schema, tm.table) if self.history else None
        defaults, filled = fill_defaults(known), fills(known)
        signature = (tm.schema, tm.table, tm.columns, tm.primary_key, tuple(defaults.items()),
                     tuple(filled.items()))  # fmt: skip
        table = self._tables.get(signature)
        if table is None:
            # (a table made while streaming whose topic is another's, `my table` beside
            # my_table: their events had been mixed in one topic, refused at a start)
            self._registry().topic(tm.schema, tm.table)
            if known is not None:  # (once a table's columns: not at every transaction)
                _refuse_hires_53(tm, known)
            if any(c.name is None for c in tm.columns):
                raise ConfigError(
                    f"the binlog has no column names for {tm.schema}.{tm.table}: set "
                    "binlog_row_metadata=FULL on the server"
                )
            names = [c.name or "" for c in tm.columns]
            key = self.filters.key_override(tm.schema, tm.table, names)
            if key is None:
                key = tuple(names[i] for i in tm.primary_key)
            table = self._tables[signature] = MySqlTable(
                self.cfg.topic_prefix, self.connector, tm.schema, tm.table, tm.columns, key,
                self.mapper, self._column_filter(tm.schema, tm.table),
                tuple(names[i] for i in tm.primary_key), defaults, declared_lengths(known),
                filled,
            )  # fmt: skip
        self._by_id[tm.table_id] = table

    def _registry(self) -> TopicRegistry:
        """The captured tables' topics: each table the schema history holds now (the start's,
        a snapshot's, those made since), then each seen in the stream; a second table on one
        topic is `TopicCollisionError` (a start refuses the same)."""
        if self._topics is None:
            reg = TopicRegistry(self.cfg.topic_prefix)
            if self.history is not None:
                for t in list(self.history.schemas.tables.values()):
                    if self.filters.table(t.db, t.name):
                        reg.topic(t.db, t.name)
            self._topics = reg
        return self._topics

    def _sequence(self, tm: TableMap) -> bool:
        """Whether ``tm`` is a MariaDB SEQUENCE's (its NEXTVAL and SETVAL write its one row,
        which the binlog logs as a table's, a write per cache refill): not a table, so not
        captured, as the snapshot reads none either (it had been streamed as a table without
        a key, one row a write, or, without column names in the binlog, stopped the task).
        By its columns' types and names (without names in the binlog, binlog_row_metadata
        MINIMAL or NO_LOG: the schema history's, for one made as CREATE TABLE ... SEQUENCE=1;
        a table of its types the history does not hold is taken for one)."""
        if len(tm.columns) != 8 or tuple(c.type for c in tm.columns) != _SEQUENCE_TYPES:
            return False  # (at every TABLE_MAP: most leave at the length)
        names = tuple(c.name for c in tm.columns)
        if names[0] is None and self.history is not None:  # (CREATE TABLE ... SEQUENCE=1)
            known = self.history.schemas.get(tm.schema, tm.table)
            names = tuple(c.name for c in known.columns) if known is not None else names
        if names[0] is not None and tuple(str(n).lower() for n in names) != _SEQUENCE_COLUMNS:
            return False
        if (tm.schema, tm.table) not in self._sequences and self.filters.table(
            tm.schema, tm.table
        ):  # fmt: skip
            self._sequences.add((tm.schema, tm.table))
            log.info("%s.%s is a sequence: its writes (NEXTVAL, SETVAL) are not captured",
                     tm.schema, tm.table)  # fmt: skip
        return True

    def _is_signal(self, db: str, table: str) -> bool:
        """Whether ``db.table`` is signal.data.collection: as the server names tables (under
        lower_case_table_names the binlog has them in lower case, the config maybe not)."""
        if self._signal is None:
            return False
        if self.history is not None:
            key = self.history.schemas.key
            return key(db, table) == key(*self._signal)
        return (db, table) == self._signal

    def _column_filter(self, db: str, table: str) -> Callable[[str], bool]:
        return lambda name: self.filters.column(db, table, name)

    def _rows(self, h: Any, event: memoryview, checksum: bool, out: list[SourceRecord]) -> None:
        table_id = int.from_bytes(event[HEADER : HEADER + 6], "little")
        if table_id in self._ignored:
            if self._txn is not None and self._count_all:
                self._txn.rows_events += 1  # (its place counts, whatever the filter)
            return
        if table_id == self._signal_id:
            self._signal_rows(h, event, checksum, out)
            if table_id not in self._by_id:
                if self._txn is not None and self._count_all:
                    self._txn.rows_events += 1  # (its place counts, as any table's)
                return
        table = self._by_id.get(table_id)
        txn = self._txn
        if table is None or txn is None:  # never silently: these rows would be lost
            raise BinlogFormatError(
                f"{self.stream.file if self.stream else self.file} at {h.log_pos - h.size}: "
                "a rows event " + ("without its TABLE_MAP" if table is None else
                                   "outside a transaction")
            )  # fmt: skip
        op = ROWS[h.type]
        index = txn.rows_events
        txn.rows_events += 1
        if txn.xa and txn.held is None:  # its outcome is known at its XA_PREPARE event
            txn.held = []
        if op in self.skipped_ops:  # by the rows event, as Debezium's binlog source skips
            return  # (an UPDATE whose key changes: its delete and create, or nothing under u)
        try:
            if txn.held is None:
                self._rows_of(h, event, checksum, txn, table, op, index, None, out)
                return
            # after a SAVEPOINT: held until nothing can undo it, and counted when released
            held = _Held((table.db, table.table))
            txn.held.append(held)
            ops, self.ops = self.ops, held.ops
            try:  # (its transaction blocks are given at its release: a ROLLBACK TO drops it)
                self._rows_of(h, event, checksum, txn, table, op, index, held, held.records)
            finally:
                self.ops = ops
            txn.held_records += len(held.records)
            if txn.held_records >= txn.next_look and not txn.xa:
                self._look_ahead(h, txn, out)
        except UnicodeDecodeError as exc:  # (bytes the column's charset has no character for)
            bad = exc.object[exc.start : exc.end + 2].hex()
            raise FatalError(
                f"{table.db}.{table.table}: a row holds bytes {bad} that its column's charset "
                f"has no character for ({exc.reason}; the server reads them as '?'; its columns "
                f"in other charsets than utf8: {_charsets_of(table) or 'none'}), at the binlog "
                "position "
                f"{self.stream.file if self.stream else self.file}:{h.log_pos - h.size}. Leave "
                "the column out (column.exclude.list), or convert it to utf8mb4 (ALTER TABLE ... "
                "CONVERT TO CHARACTER SET utf8mb4) and take a new snapshot of the table"
            ) from None

    def _rows_of(
        self, h: Any, event: memoryview, checksum: bool, txn: _Txn, table: MySqlTable, op: str,
        index: int, held: _Held | None, out: list[SourceRecord],
    ) -> None:  # fmt: skip
        if self._cut is not None:
            cut = self._cut.position(f"{table.db}.{table.table}")
            if cut is not None and precedes([txn.file, txn.pos], cut):
                return  # a resumed snapshot read its table after this committed
        skip = self._skip
        inc = self.incremental
        if (
            self.encoder is not None and skip is None and held is None and not table.masked
            and (inc is None or not inc.open) and self._encoded(h, event, checksum, txn, table,
                                                                index, op, out)
        ):  # fmt: skip
            return  # (the codec declines partial images: the check below reports them)
        ev = rows_event(event, self._maps, checksum)
        if ev.partial:  # missing columns would read as nulls (and an update as a key change)
            raise ConfigError(
                f"{table.db}.{table.table}: the binlog at {txn.file}:{h.log_pos - h.size} has "
                "partial row images (a session set binlog_row_image=MINIMAL or NOBLOB): hub "
                "needs binlog_row_image=FULL in every session that writes captured tables"
            )
        # the event's source block and offset, then per row only what differs
        base_source = table.source(
            self.cfg.topic_prefix, ts_ms=h.timestamp * 1000, server_id=h.server_id,
            gtid=txn.gtid, file=txn.file, pos=h.log_pos - h.size, row=0, thread=txn.thread,
            query=txn.query,
        )  # fmt: skip
        base_offset = self._offset(txn, index, 0)
        # a delete event's tombstones follow all its deletes (its keys are distinct), as on
        # the encoded path: a restart inside the transaction, which comes here, must write the
        # same sequence of records as the run before it
        tombs: list[SourceRecord] | None = [] if ev.op == "d" else None
        for r, (before_raw, after_raw) in enumerate(ev.rows):
            if skip is not None and (index, r) < skip:
                self._count(txn, table, ev.op, before_raw, after_raw)
                continue
            offset = {**base_offset, "row": r + 1}
            source = {**base_source, "row": r} if r else base_source
            if inc is not None and inc.open:
                newest = after_raw if after_raw is not None else before_raw
                assert newest is not None
                old = before_raw if after_raw is not None else None
                if held is not None:
                    held.changes.append((table, newest, old))
                else:
                    inc.on_change(table, newest, old)
            before = table.row(before_raw) if before_raw is not None else None
            after = table.row(after_raw) if after_raw is not None else None
            if (
                ev.op == "u" and table.key_columns and before is not None
                and after is not None and table.key(before) != table.key(after)
            ):  # fmt: skip
                # (the keys as the events carry them, as the codec compares them: two raw
                # keys may read the same, e.g. a zero date and 1970-01-01 both as day 0)
                # the primary key changed: a delete of the old key and a create of the new
                old_key, new_key = table.key(before), table.key(after)
                assert old_key is not None and new_key is not None
                self._emit(txn, table, "d", before, None, source, offset, out,
                           headers=rekey_headers(new_key, "d"), held=held)  # fmt: skip
                self._emit(txn, table, "c", None, after, source, offset, out,
                           headers=rekey_headers(old_key, "c"), held=held)  # fmt: skip
                continue
            self._emit(txn, table, ev.op, before, after, source, offset, out, tombs, held=held)
        if tombs:
            out += tombs

    def _encoded(
        self, h: Any, event: memoryview, checksum: bool, txn: _Txn, table: MySqlTable,
        index: int, op: str, out: list[Any],
    ) -> bool:  # fmt: skip
        """The rows event's change events as encoded records (`encoded.py`), straight from
        its bytes; False (nothing done) where the codec declines: the slow path's then."""
        enc = self.encoder
        assert enc is not None
        t = enc.table(table)
        pos = HEADER + 8
        if h.type in (E.WRITE, E.UPDATE, E.DELETE):  # v2: extra data, its length included
            pos += int.from_bytes(event[pos : pos + 2], "little")
        src = t.source(
            h.timestamp * 1000, h.server_id, txn.gtid, txn.file, h.log_pos - h.size,
            txn.thread, txn.query,
        )  # fmt: skip
        end = len(event) - (4 if checksum else 0)
        args = (event, pos, end, ord(op), t.wrap, src, self.tombstones)
        # packed: into the log in one C call (a delete event's tombstones, which packed
        # buffers cannot hold, right after it: the slow path's order, which a restart inside
        # the transaction takes, and whose records the runtime recognizes by sequence alone)
        got = t.codec.rows(*args, True)
        if got is False:  # a key changed: its delete, tombstone and create go in order
            got = t.codec.rows(*args, False)
        if got is None:
            return False
        offset = self._offset(txn, index, got[-2])
        if len(got) == 4:
            keys, values, rows, events = got
            if rows:
                self._add(t.topic, keys, values, offset, out)
        else:
            values, value_ends, keys, key_ends, tombs, rows, events = got
            if rows:
                n = len(value_ends) // 8
                # (bodies compressed too: 119 rather than 163 B a record in the log, for
                # ~290 k rather than ~380 k events/s)
                batch = Packed(values, value_ends, keys, key_ends, 0, n, t.wrap, True)
                out.append(EncodedBatch(t.topic, [], [], self.partition, offset, packed=batch))
                self._batched += n - 1
            if tombs:
                self._add(t.topic, tombs, [None] * len(tombs), offset, out)
        self.events += events
        if op == "u":  # a changed key: a delete and a create instead of an update
            self.ops["u"] += 2 * rows - events
            self.ops["d"] += events - rows
            self.ops["c"] += events - rows
        else:
            self.ops[op] += events
        return True

    def _add(self, topic: str, keys: list[Any], values: list[Any], offset: dict[str, Any],
             out: list[Any]) -> None:  # fmt: skip
        # consecutive records of a table travel as one EncodedBatch: only the offset of the
        # last record of a poll is ever stored, so the batch carries its latest
        last = out[-1] if out else None
        if type(last) is EncodedBatch and last.topic == topic and last.packed is None:
            last.keys += keys
            last.values += values
            last.source_offset = offset
            self._batched += len(keys)
        else:
            out.append(EncodedBatch(topic, keys, values, self.partition, offset))
            self._batched += len(keys) - 1

    def _signal_rows(
        self, h: Any, event: memoryview, checksum: bool, out: list[SourceRecord]
    ) -> None:  # fmt: skip
        """Rows inserted into the signal table: signals, or our own watermarks."""
        inc, txn = self.incremental, self._txn
        if inc is None or txn is None:
            return
        ev = rows_event(event, self._maps, checksum)
        if ev.op != "c":
            return
        index = txn.rows_events  # (this event's place in the transaction, as a rows event's)
        for r, (_, values) in enumerate(ev.rows):
            if self._skip is not None and (index, r) < self._skip:
                continue  # read before the restart: its effect is in the restored state
            # (its first three columns, whatever their names, as Debezium reads them)
            got = [v.decode() if isinstance(v, bytes) else v for v in (values or ())[:3]]
            ident, kind, data = (got + [None] * 3)[:3]
            if not inc.on_signal(kind, ident, data):
                inc.notifier.drain(out, self.partition, self._offset(txn, index, r + 1))
                continue
            source = {
                "version": VERSION, "connector": self.connector, "name": self.cfg.topic_prefix,
                "ts_ms": h.timestamp * 1000, "snapshot": "incremental", "db": "",
                "sequence": None, "ts_us": h.timestamp * 1_000_000,
                "ts_ns": h.timestamp * 1_000_000_000, "table": None,
                "server_id": h.server_id, "gtid": txn.gtid, "file": txn.file,
                "pos": h.log_pos - h.size, "row": 0, "thread": txn.thread, "query": None,
            }  # fmt: skip
            schema, rows = inc.take(source)
            self.ops["r"] += len(rows)
            offset = self._offset(txn, index, r + 1)  # (a restart from it: past this row)
            for key, value in rows:
                out.append(SourceRecord(
                    schema.topic, value, key, self.partition, offset,
                    key_schema=schema.key_schema, value_schema=schema.value_schema,
                    replayable=False,
                ))  # fmt: skip
            inc.notifier.drain(out, self.partition, offset)

    def _count(self, txn: _Txn, table: MySqlTable, op: str, before: Any, after: Any) -> None:
        """A row emitted before the restart: its place in the transaction's metadata."""
        txn.block(table.topic, False)
        if op == "u" and table.key_columns and table.event_key(before) != table.event_key(after):
            txn.block(table.topic, False)

    def _emit(
        self, txn: _Txn, table: MySqlTable, op: str, before: Any, after: Any,
        source: dict[str, Any], offset: dict[str, Any], out: list[SourceRecord],
        tombs: list[SourceRecord] | None = None, headers: tuple[Header, ...] = (),
        held: _Held | None = None,
    ) -> None:  # fmt: skip
        """One change's records into ``out``; a delete's tombstone into ``tombs`` if given;
        ``held``: a held run's, whose transaction block `_release` gives."""
        key = table.key(after if after is not None else before)
        block = None if held is not None else txn.block(table.topic, self.metadata)
        records = change_records(
            table.topic, op, before, after, key, source, block,
            self.partition, offset, key_schema=table.key_schema,
            value_schema=table.value_schema, tombstones=self.tombstones, headers=headers,
        )  # fmt: skip
        if tombs is not None and len(records) == 2:
            tombs.append(records.pop())
        out += records
        self.events += 1
        self.ops[op] += 1

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
