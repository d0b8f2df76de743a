"""The consistent snapshot: every captured table's rows as of one binlog position, so
streaming from that position has neither a gap nor an overlap with them.

One connection reads, in a ``REPEATABLE READ`` transaction started ``WITH CONSISTENT
SNAPSHOT``. Its binlog position: on MariaDB the server says where the snapshot stands
(``binlog_snapshot_file``/``_position``, no lock needed; a global read lock is still taken
for ``snapshot.locking.mode`` minimal/extended when the user may, so no DDL comes between the
position and the tables' columns); on MySQL a global read lock (``FLUSH TABLES WITH READ
LOCK``) is held while the transaction starts and the position is read (minimal), or for the
whole snapshot (extended). Non-transactional tables (MyISAM, Aria, MEMORY) are outside the
consistent read: only ``extended`` keeps their rows as of the position (writes wait for the
whole snapshot); under minimal or none a row written to one while the snapshot runs may be
read and streamed both, which a keyless table keeps twice. The snapshot says so, naming them.

Keyed tables are read in key order, ``snapshot.fetch.size`` rows per ``SELECT ... WHERE key >
last ORDER BY key LIMIT n``; each row's offset holds its table and key, so a task that dies
mid-snapshot resumes after the last row it stored (in a new transaction; streaming from the
first attempt's position then replays every change made since). A table without a key is read
in one pass and, after a crash, again whole, after a truncate event, with the stream dropping
its changes before the new read's position (`connectors.source.cdc.cuts`).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.source.cdc.bounds import CHUNK_MAX_BYTES, FIRST_CHUNK_ROWS
from connectors.source.cdc.filters import Filters
from connectors.source.mysql import textrows
from connectors.source.mysql.config import MySqlSourceConfig
from connectors.source.mysql.history import Schemas, from_catalog
from connectors.source.mysql.protocol.values import Column, T
from connectors.source.mysql.server import (
    ROLLS_BACK,
    BinlogPosition,
    CatalogTable,
    ServerSetupError,
    gtid_at,
    query,
    tables,
)

log = logging.getLogger(__name__)


def ident(name: str) -> str:
    """``name`` quoted as an identifier, in a statement executed without arguments (the
    snapshot's: its values are written in as the driver's literals)."""
    return "`" + name.replace("`", "``") + "`"


def ident_formatted(name: str) -> str:
    """``name`` quoted as an identifier, in a statement the driver formats with its arguments
    (``execute(sql, args)``: every ``%`` is a directive there, so doubled)."""
    return ident(name).replace("%", "%%")


@dataclass
class Chunk:
    table: CatalogTable
    rows: Sequence[tuple[Any, ...]]  # a list, or textrows.PackedRows
    first_in_table: bool
    last_in_table: bool
    final: bool = False  # the snapshot's last chunk


@dataclass
class Begun:
    position: BinlogPosition | None
    tables: list[CatalogTable]
    schemas: Schemas | None  # every table's definition (``history``)
    readers: list[Any]  # of ``more``, those in the same database snapshot as ``con``
    # SHOW CREATE TABLE of each captured table (``creates``), read with ``schemas``
    creates: dict[tuple[str, str], str]


def begin(
    con: Any, cfg: MySqlSourceConfig, mariadb: bool, fresh: bool, filters: Filters,
    history: bool = False, more: Sequence[Any] = (), need_lock: bool = True,
    creates: bool = False,
) -> Begun:  # fmt: skip
    """Start the snapshot transaction on ``con``; with ``fresh``, also the binlog position it
    stands at (a resumed snapshot streams from the first attempt's). The captured tables (and
    with ``history`` every table, for the schema history) are listed before the global read
    lock (if any) is released, so no DDL comes between the position and the tables'
    columns. The connections ``more`` start their transactions while the lock is held, so
    they read the same database snapshot (``snapshot.max.threads``); without the lock no two
    connections can be made to, and ``readers`` is empty. Without ``need_lock`` (no rows are
    read: a start without a snapshot) MySQL goes on without the lock where it is refused.
    With ``creates``, each captured table's ``SHOW CREATE TABLE`` is read under the lock
    too (the snapshot's schema change events: their ``ddl`` must describe the same table as
    their ``tableChanges``, read from the catalog here; read after the lock, an ALTER
    TABLE meanwhile had the two disagree)."""
    locked, timed_out = False, False
    if fresh and cfg.snapshot_locking_mode != "none":
        try:
            locked = _global_read_lock(con, cfg)
            timed_out = not locked
        except Exception as exc:  # noqa: BLE001 - no RELOAD (managed servers)
            if not mariadb and need_lock:
                raise ServerSetupError(
                    f"FLUSH TABLES WITH READ LOCK failed ({exc}): grant RELOAD to "
                    f"'{cfg.user}', or set snapshot.locking.mode=none"
                ) from None
            log.info("no global read lock (%s): the consistent snapshot's position is used "
                     "without it (a DDL running meanwhile could be missed by the schema "
                     "history where the binlog has no column names)", exc)  # fmt: skip
        if timed_out and (
            cfg.snapshot_locking_mode == "extended" or not mariadb and need_lock
        ):  # fmt: skip
            unsafe = "" if mariadb else (
                " (safe only without DDL or writes to non-transactional tables meanwhile)"
            )  # fmt: skip
            raise ServerSetupError(
                f"the snapshot's global read lock (FLUSH TABLES WITH READ LOCK) was not had "
                f"within snapshot.lock.timeout.ms ({cfg.snapshot_lock_timeout_ms} ms): a "
                "statement running for longer (writing; on MySQL reading too), or a LOCK "
                "TABLES, holds a table (writes waited behind the lock as long as it waited). "
                "Start the connector again once it is "
                f"done, raise snapshot.lock.timeout.ms, or set snapshot.locking.mode=none{unsafe}"
            )
        if timed_out:
            log.warning(
                "no global read lock within snapshot.lock.timeout.ms (%d ms: a statement "
                "running for longer, or a LOCK TABLES, holds a table): the consistent "
                "snapshot's position is used without it (a DDL running meanwhile could be "
                "missed by the schema history where the binlog has no column names)",
                cfg.snapshot_lock_timeout_ms,
            )  # fmt: skip
    readers = list(more) if locked else []
    if more and not locked:
        log.info("snapshot.max.threads: without the global read lock the connections cannot "
                 "share one database snapshot; one connection reads the tables")  # fmt: skip
    for c in (con, *readers):
        query(c, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        query(c, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    position = None
    if fresh:
        if mariadb:
            status = dict(
                (str(k).lower(), str(v))
                for k, v in query(con, "SHOW STATUS LIKE 'binlog_snapshot_%'")
            )  # fmt: skip
            file = status["binlog_snapshot_file"]
            pos = int(status["binlog_snapshot_position"])
            position = BinlogPosition(file, pos, gtid_at(con, file, pos))
        else:
            from connectors.source.mysql.server import current_position

            position = current_position(con, mariadb)
    found = tables(con, filters)
    schemas = from_catalog(con, mariadb) if history else None
    statements = (
        {(t.db, t.name): show_create(con, t.db, t.name) for t in found}
        if creates and history
        else {}
    )
    if locked and cfg.snapshot_locking_mode != "extended":
        query(con, "UNLOCK TABLES")
    if need_lock and not (locked and cfg.snapshot_locking_mode == "extended"):
        _warn_nontransactional(con, found)  # (rows are read; after the lock: writes go on)
    return Begun(position, found, schemas, readers, statements)


def _global_read_lock(con: Any, cfg: MySqlSourceConfig) -> bool:
    """FLUSH TABLES WITH READ LOCK, waiting at most ``snapshot.lock.timeout.ms``: while it
    waits for a statement writing to a table (or a table a LOCK TABLES holds), every other
    write waits behind it, so it must not wait for long (the server's own limit,
    ``lock_wait_timeout``, is a day or a year). False when it timed out (Debezium's too)."""
    import pymysql

    seconds = max(1, -(-cfg.snapshot_lock_timeout_ms // 1000))  # (whole seconds, rounded up)
    query(con, f"SET SESSION lock_wait_timeout = {seconds}")
    try:
        query(con, "FLUSH TABLES WITH READ LOCK")
        return True
    except pymysql.err.OperationalError as exc:
        if exc.args and exc.args[0] == 1205:  # ER_LOCK_WAIT_TIMEOUT
            return False
        raise
    finally:  # (the snapshot's reads wait on a table's DDL as any session's do)
        query(con, "SET SESSION lock_wait_timeout = DEFAULT")


def show_create(con: Any, db: str, table: str) -> str:
    """The table's ``SHOW CREATE TABLE`` (empty if it is gone: dropped after it was listed,
    where no global read lock holds DDL back)."""
    import pymysql

    try:
        rows = query(con, f"SHOW CREATE TABLE {ident(db)}.{ident(table)}")
    except pymysql.err.ProgrammingError as exc:
        if exc.args and exc.args[0] == 1146:  # ER_NO_SUCH_TABLE
            return ""
        raise
    return str(rows[0][1]) if rows else ""


def _warn_nontransactional(con: Any, found: Sequence[CatalogTable]) -> None:
    """Name the captured tables whose engine keeps no consistent read (MyISAM, Aria, MEMORY):
    the snapshot reads them as they are when it gets to them, not as of its position."""
    if not found:
        return
    dbs = sorted({t.db for t in found})
    rows = query(
        con, "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE "
        f"TABLE_SCHEMA IN ({', '.join(['%s'] * len(dbs))}) AND ENGINE IS NOT NULL", tuple(dbs),
    )  # fmt: skip
    captured = {(t.db, t.name) for t in found}
    plain = sorted(
        f"{db}.{name} ({engine})" for db, name, engine in rows
        if (db, name) in captured and str(engine).casefold() not in ROLLS_BACK
    )  # fmt: skip
    if plain:
        log.warning(
            "snapshot: %s use an engine without transactions: the snapshot reads them as they "
            "are when it gets to them, so a row written to them meanwhile may be read and also "
            "streamed (a table without a key then holds it twice in the sink); set "
            "snapshot.locking.mode=extended to hold writes for the snapshot's length instead",
            ", ".join(plain),
        )


def end(con: Any, cfg: MySqlSourceConfig) -> None:
    query(con, "COMMIT")
    if cfg.snapshot_locking_mode == "extended":
        query(con, "UNLOCK TABLES")


def chunks(
    con: Any, tables: Sequence[CatalogTable], keys: dict[str, tuple[str, ...]], size: int,
    resume: tuple[str, Any] | None, codecs: Mapping[str, Any] | None = None,
    more: Sequence[Any] = (),
) -> Iterator[Chunk]:  # fmt: skip
    """The tables' rows in chunks, each chunk told whether it is its table's first or last
    and whether it is the snapshot's last (one chunk of lookahead). A table with a codec in
    ``codecs`` (a ``RowsCodec`` for its columns' text) comes in `textrows.PackedRows`.

    With connections ``more`` (in the same database snapshot: `begin`), each reads every
    N-th table in a thread of its own, at most two chunks ahead of the task; the chunks still
    come in table order, so offsets and a resumed snapshot are as with one connection."""
    plan = _plan(tables, keys, resume)
    codecs = codecs or {}
    readers = None
    if more and len(plan) > 1:
        readers = _Readers([con, *more], plan, keys, size, codecs)
        per_table: Iterator[Iterator[Chunk]] = readers.tables()
    else:
        per_table = (
            _table_chunks(con, t, keys[t.qualified], size, after, codecs.get(t.qualified))
            for t, after in plan
        )  # fmt: skip
    pending: Chunk | None = None
    try:
        for table in per_table:
            for chunk in table:
                if pending is not None:
                    yield pending
                pending = chunk
        if pending is not None:
            pending.final = True
            yield pending
    finally:
        if readers is not None:
            readers.close()


def _plan(
    tables: Sequence[CatalogTable], keys: dict[str, tuple[str, ...]], resume: tuple[str, Any] | None
) -> list[tuple[CatalogTable, list[Any] | None]]:
    """The tables to read, each with the key to read after (a resumed snapshot's)."""
    if resume is None:
        return [(t, None) for t in tables]
    start = resume_index(tables, resume[0])
    if start >= len(tables) or tables[start].qualified != resume[0]:
        # the table the snapshot stopped in is gone: go on with the tables after it
        log.warning("table %s, where the snapshot stopped, is no longer captured", resume[0])
        return [(t, None) for t in tables[start:]]
    t = tables[start]
    after = decode_key(resume[1]) if resume[1] is not None else None
    if after is not None and len(after) != len(keys[t.qualified]):
        log.warning("the primary key of %s changed since the snapshot stopped in it: "
                    "it is read again from its start", t.qualified)  # fmt: skip
        after = None
    return [(t, after)] + [(u, None) for u in tables[start + 1 :]]


def _table_chunks(
    con: Any, t: CatalogTable, key: tuple[str, ...], size: int, after: list[Any] | None,
    codec: Any,
) -> Iterator[Chunk]:  # fmt: skip
    first = True
    for rows, last in _table_rows(con, t, key, size, after, codec):
        if rows:  # (an empty table has none)
            yield Chunk(t, rows, first, last)
            first = False


_END = object()


class _Readers:
    """``snapshot.max.threads``: one thread per connection, connection w reading tables w,
    w + N, ... of the plan into a queue per table (two chunks each), which the task drains
    in table order. A reader's failure is raised to the task at that table's turn."""

    def __init__(
        self, cons: Sequence[Any], plan: list[tuple[CatalogTable, list[Any] | None]],
        keys: dict[str, tuple[str, ...]], size: int, codecs: Mapping[str, Any],
    ) -> None:  # fmt: skip
        self.plan = plan
        self.queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=2) for _ in plan]
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(
                target=self._read,
                args=(w, con, len(cons), keys, size, codecs),
                name=f"mysql-snapshot-{w}",
                daemon=True,
            )  # fmt: skip
            for w, con in enumerate(cons)
        ]
        log.info("snapshot: %d connections read tables side by side", len(cons))
        for th in self.threads:
            th.start()

    def _read(
        self, w: int, con: Any, n: int, keys: dict[str, tuple[str, ...]], size: int,
        codecs: Mapping[str, Any],
    ) -> None:  # fmt: skip
        i = w
        try:
            for i in range(w, len(self.plan), n):
                t, after = self.plan[i]
                for chunk in _table_chunks(con, t, keys[t.qualified], size, after,
                                           codecs.get(t.qualified)):  # fmt: skip
                    if not self._put(i, chunk):
                        return
                self._put(i, _END)
        except BaseException as exc:  # noqa: BLE001 - the task raises it at that table
            if i < len(self.plan):
                self._put(i, exc)

    def _put(self, i: int, item: Any) -> bool:
        while not self.stopping.is_set():
            try:
                self.queues[i].put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def tables(self) -> Iterator[Iterator[Chunk]]:
        for i in range(len(self.plan)):
            yield self._table(i)

    def _table(self, i: int) -> Iterator[Chunk]:
        while True:
            item = self.queues[i].get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stopping.set()


def resume_index(tables: Sequence[CatalogTable], table: str) -> int:
    """Where a snapshot stopped in ``table`` goes on: that table, or when it is no longer
    captured, the first after it."""
    for i, t in enumerate(tables):
        if t.qualified == table:
            return i
    gone = tuple(x.casefold() for x in table.split(".", 1))
    return next(
        (i for i, t in enumerate(tables) if (t.db.casefold(), t.name.casefold()) > gone),
        len(tables),
    )


def _table_rows(
    con: Any,
    t: CatalogTable,
    key: tuple[str, ...],
    size: int,
    after: list[Any] | None,
    codec: Any = None,
) -> Iterator[tuple[Sequence[tuple[Any, ...]], bool]]:
    names = [c.name or "" for c in t.columns]
    cols = select_list(t)
    source = f"{ident(t.db)}.{ident(t.name)}"
    if not key:
        sql = f"SELECT {cols} FROM {source}"
        batches: Iterator[Sequence[tuple[Any, ...]]] = (
            textrows.packed_rows(con, sql, _parsers(t), codec, size, CHUNK_MAX_BYTES)
            if codec is not None
            else textrows.rows(con, sql, _parsers(t), size, CHUNK_MAX_BYTES)
        )  # fmt: skip
        rows = next(batches, [])
        while True:
            nxt = next(batches, []) if rows else []
            yield rows, not nxt
            if not nxt:
                return
            rows = nxt
    index = [names.index(k) for k in key]

    def fetch(after: Sequence[Any] | None, limit: int) -> Sequence[tuple[Any, ...]]:
        return chunk_after(con, t, key, after, limit, codec)

    # chunks of snapshot.fetch.size rows, fewer once their rows are seen to be big: about
    # CHUNK_MAX_BYTES a chunk (the first one at most FIRST_CHUNK_ROWS: 10 240 rows of 500 KB
    # would be 5 GB before a row's size is known)
    limit = min(size, FIRST_CHUNK_ROWS)
    rows = fetch(after, limit)
    while True:  # one chunk ahead, so the table's last chunk is known as such
        nxt, was = [], limit
        if len(rows) == was:
            limit = max(1, min(size, CHUNK_MAX_BYTES // max(row_bytes(rows), 1)))
            nxt = fetch([rows[-1][i] for i in index], limit)
        yield rows, not nxt
        if not nxt:
            return
        rows = nxt


def row_bytes(rows: Sequence[tuple[Any, ...]]) -> int:
    """About how many bytes a row of ``rows`` holds: the server's text of a packed chunk,
    else a few rows' values measured."""
    data = getattr(rows, "data", None)
    if data is not None:
        return len(data) // max(len(rows), 1)
    sample = [rows[i] for i in range(0, len(rows), max(len(rows) // 8, 1))]
    total = sum(len(v) for r in sample for v in r if isinstance(v, bytes | str))
    return total // max(len(sample), 1)


def chunk_after(
    con: Any,
    t: CatalogTable,
    key: Sequence[str],
    after: Sequence[Any] | None,
    limit: int,
    codec: Any = None,
    condition: str | None = None,
    upto: Sequence[Any] | None = None,
    descending: bool = False,
) -> Sequence[tuple[Any, ...]]:
    """Up to ``limit`` rows of ``t`` (all columns) with a key above ``after`` and at most
    ``upto``, for which the SQL expression ``condition`` holds, in key order (``descending``:
    the last first; with ``codec``: as one `textrows.PackedRows`)."""
    cols = select_list(t)
    order = ", ".join(ident(k) + (" DESC" if descending else "") for k in key)
    columns = {c.name: c for c in t.columns}
    conds = []
    for bound, negate in ((after, False), (upto, True)):
        if bound is not None:  # ENUM/SET/BIT sort as numbers: compare them as numbers
            values = [_ordinal(columns[k], v) for k, v in zip(key, bound, strict=True)]
            terms = _above(key, _literals(con, values))
            conds.append(f"NOT ({terms})" if negate else f"({terms})")
    if condition:
        conds.append(f"({condition})")
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    relation = f"{ident(t.db)}.{ident(t.name)}"
    # no arguments: the driver would format the statement (a % in a name is a directive)
    sql = f"SELECT {cols} FROM {relation}{where} ORDER BY {order} LIMIT {int(limit)}"
    if codec is not None:
        batches = list(textrows.packed_rows(con, sql, _parsers(t), codec, limit))
        return batches[0] if batches else []
    return [row for batch in textrows.rows(con, sql, _parsers(t), limit) for row in batch]


def rows_read_before(con: Any, t: CatalogTable, key: Sequence[str], after: Any) -> int:
    """How many rows of ``t`` a snapshot stopped after key ``after`` (as its offset holds
    it) had read, as the optimizer estimates the rows left (none read)."""
    values = decode_key(after)
    if len(values) != len(key):  # (the key changed: the table is read again whole)
        return 0
    columns = {c.name: c for c in t.columns}
    ordinals = [_ordinal(columns[k], v) for k, v in zip(key, values, strict=True)]
    relation = f"{ident(t.db)}.{ident(t.name)}"
    with con.cursor() as cur:
        cur.execute(f"EXPLAIN SELECT 1 FROM {relation} WHERE "
                    f"({_above(key, _literals(con, ordinals))})")  # fmt: skip
        names = [d[0].lower() for d in cur.description]
        left = sum(int(row[names.index("rows")] or 0) for row in cur.fetchall())
    return max(t.estimated_rows - left, 0)


def select_list(t: CatalogTable) -> str:
    """The columns to SELECT; FLOAT widened to DOUBLE (exact) since the server's text of a
    FLOAT has 6 significant digits only (16777216 -> 16777200), and DOUBLE as an expression
    since a DOUBLE(M,D)'s text has D decimals only (-1.000000082740371e-10 printed
    -0.0000000001: the stream has the stored double)."""
    return ", ".join(
        f"{ident(c.name or '')} + 0e0" if c.real_type in (T.FLOAT, T.DOUBLE)
        else ident(c.name or "")
        for c in t.columns
    )  # fmt: skip


def _ordinal(c: Column, v: Any) -> Any:
    """An ENUM's index or a SET's bit mask for a key value (compared as numbers, as sorted);
    a BIT's bytes as their number (a BIT compared with a string compares the string as 0)."""
    if c.real_type == T.BIT and isinstance(v, bytes | bytearray):
        return int.from_bytes(v, "big")
    if not isinstance(v, str):
        return v
    if c.real_type == T.ENUM:
        return c.labels.index(v) + 1 if v in c.labels else 0
    if c.real_type == T.SET:
        return sum(1 << c.labels.index(m) for m in v.split(",") if m in c.labels)
    return v


def _parsers(t: CatalogTable) -> list[textrows.Parser | None]:
    return [textrows.parser(c) for c in t.columns]


def _literals(con: Any, values: Sequence[Any]) -> list[str]:
    """``values`` as SQL literals, written as the driver writes a statement's arguments in
    (escaped for the connection's charset and sql_mode)."""
    with con.cursor() as cur:
        return [str(cur.mogrify("%s", (v,))) for v in values]


def _above(key: Sequence[str], literals: Sequence[str]) -> str:
    """The condition of rows after the key ``literals`` (SQL text) in key order, as ORs of
    equalities and one greater-than (index friendly on every server version)."""
    terms = []
    for i in range(len(key)):
        eq = [f"{ident(k)} = {v}" for k, v in zip(key[:i], literals, strict=False)]
        terms.append("(" + " AND ".join([*eq, f"{ident(key[i])} > {literals[i]}"]) + ")")
    return " OR ".join(terms)


# -- keys in offsets ---------------------------------------------------------------------------
def encode_key(values: Sequence[Any]) -> list[Any]:
    """Key values as JSON for an offset, typed so they come back as the same values."""
    out: list[Any] = []
    for v in values:
        if isinstance(v, bool | int | str) or v is None:
            out.append(v)
        elif isinstance(v, Decimal):
            out.append({"decimal": str(v)})
        elif isinstance(v, dt.datetime):
            out.append({"datetime": v.isoformat(sep=" ")})
        elif isinstance(v, dt.date):
            out.append({"date": v.isoformat()})
        elif isinstance(v, dt.timedelta):
            out.append({"time_us": (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds})
        elif isinstance(v, bytes | bytearray):
            out.append({"hex": bytes(v).hex()})
        elif isinstance(v, float):
            out.append({"float": repr(v)})
        else:
            out.append({"text": str(v)})
    return out


_DECODE: dict[str, Any] = {
    "decimal": Decimal, "datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat,
    "time_us": lambda us: dt.timedelta(microseconds=us), "hex": bytes.fromhex, "float": float,
    "text": str,
}  # fmt: skip


def decode_key(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not isinstance(v, dict):
            out.append(v)
            continue
        ((kind, x),) = v.items()
        out.append(_DECODE[kind](x))
    return out
