"""The initial snapshot: when to take one (`Snapshotter`, one small class per
``snapshot.mode``) and how to read it (`SnapshotReader`).

Consistency: a fresh snapshot runs in a ``REPEATABLE READ`` transaction that imports the
snapshot the replication slot exported when it was created, so the rows read are the
database exactly at the slot's consistent point, and streaming from that point has neither a
gap nor an overlap with them.

Chunks: a table with a primary key is read in key order, ``snapshot.fetch.size`` rows per
``COPY (SELECT ... WHERE (pk) > (last) ORDER BY pk LIMIT n) TO STDOUT``; a table without one
in ranges of pages by ``ctid``. Each row's offset holds its table and key (or ctid), so a
task that dies mid-snapshot resumes after the last row it stored, not from the start. The
exported snapshot does not outlive the connection that exported it, so a resumed snapshot
reads the remaining rows in a new transaction; streaming from the slot's consistent point
then replays every change made since, so each row still ends in its latest state (a table
without a key is read again whole instead: `connectors.source.cdc.cuts`).

A thread reads the next chunk while the task turns the current one into events; at most two
chunks are in memory. With ``snapshot.max.threads`` N > 1, N connections share the snapshot:
they read tables side by side, and a big keyed table in N key ranges cut at keys sampled from
its pages (`split_keys`); then a row's offset holds every range's progress, and a resumed
snapshot goes on in each range after its own last row.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.source.cdc.bounds import CHUNK_MAX_BYTES, FIRST_CHUNK_ROWS
from connectors.source.postgres.catalog import TableInfo
from connectors.source.postgres.copyout import CopyOut
from connectors.source.postgres.errors import ConnectionLostError

if TYPE_CHECKING:
    from connectors.source.postgres.rowcodec import CopyPacked

log = logging.getLogger(__name__)


# -- COPY text format ---------------------------------------------------------------------------
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)", re.S)
_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescape(m: re.Match[bytes]) -> bytes:
    c = m.group(1)
    if len(c) > 1 or c in b"01234567":  # \ooo and \xhh, as COPY FROM reads them
        n = int(c[1:], 16) if c[0] == 0x78 else int(c, 8)
        return bytes((n & 0xFF,))
    return _ESCAPES.get(c, c)


def parse_copy_text(data: bytes) -> list[list[bytes | None]]:
    """Rows of ``COPY ... TO STDOUT`` text format: tab-separated fields, ``\\N`` for NULL,
    backslash escapes for tab, newline and friends (values are the types' text output). An
    empty line is a row too: one column holding ''."""
    rows: list[list[bytes | None]] = []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # what follows the last row's newline
    for line in lines:
        raw = line.split(b"\t")
        fields: list[bytes | None] = list(raw)
        if b"\\" in line:
            fields = [
                None if f == b"\\N" else (_ESCAPE.sub(_unescape, f) if b"\\" in f else f)
                for f in raw
            ]
        rows.append(fields)
    return rows


# -- how ----------------------------------------------------------------------------------------
def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


Range = tuple["Key | None", "Key | None"]  # (lower bound, exclusive; upper, inclusive)
RangeState = list[Any]  # [lower, upper, after or None, done]: a key range's progress (JSON)
# with several connections, a keyed table is read in key ranges (one a connection) when it
# holds at least SPLIT_CHUNKS chunks' worth of rows a connection
SPLIT_CHUNKS = 4


def chunk_bytes(chunk: Chunk) -> int:
    """About how many bytes ``chunk``'s rows hold: its COPY text, or a few rows measured."""
    if chunk.text is not None:
        return len(chunk.text)
    rows = chunk.rows
    if not rows:
        return 0
    sample = rows[:: max(len(rows) // 8, 1)]
    measured = sum(len(v) for r in sample for v in r if v is not None)
    return measured * len(rows) // len(sample)


def _next_limit(chunk: Chunk, most: int) -> int:
    """The rows the next chunk may take: about CHUNK_MAX_BYTES at ``chunk``'s row size."""
    size = chunk_bytes(chunk)
    if not size:
        return most
    return max(1, min(most, CHUNK_MAX_BYTES * len(chunk) // size))


def resume_index(tables: Sequence[tuple[str, str]], table: str) -> int:
    """Where a resumed snapshot goes on among ``tables`` ((schema, name), as the catalog
    sorts them: ``ORDER BY nspname, relname``, names in code point order): the stored
    ``table``'s index, else (dropped, left out) the first that sorts after it as the server
    does. Compared as joined text, ``tenant-1.a`` came before ``tenant.b`` ('-' < '.'):
    every table before it was read again, or, the one it stopped in gone, the rest never."""
    for i, (schema, name) in enumerate(tables):
        if f"{schema}.{name}" == table:
            return i
    at = tuple(table.split(".", 1)) if "." in table else (table, "")
    return next((i for i, pair in enumerate(tables) if pair > at), len(tables))


@dataclass(slots=True)
class Chunk:
    table: TableInfo
    rows: list[list[bytes | None]]
    positions: list[tuple[str | None, ...]]  # per row: its key (or ctid) as text
    final: bool = False  # the snapshot's last chunk
    first_in_table: bool = False  # starts its table (not a resumed table's first chunk)
    last_in_table: bool = False  # ends its table
    # with a codec for the table (SnapshotReader's ``codecs``): the COPY text (``rows`` and
    # ``positions`` stay empty), its row count, the columns of a row's position in it, and
    # the rows encoded at once (`rowcodec.CopyPacked`) by `encode` (see `_encode_here`)
    text: bytes | None = None
    count: int = 0
    where: tuple[int, ...] = ()
    codec: Any = None
    packed: CopyPacked | None = None
    # appended to every row's position: a keyless table's file node (see _by_ctid)
    suffix: tuple[str, ...] = ()
    # a table read in key ranges side by side (SnapshotReader): the ranges (lower bound
    # exclusive, upper inclusive, None: open), which one this chunk is of, and whether it
    # ends that range
    ranges: list[Range] | None = None
    range_index: int = 0
    last_in_range: bool = False

    def __len__(self) -> int:
        return len(self.positions) if self.text is None else self.count

    def encode(self) -> None:
        if self.packed is None and self.codec is not None and self.text is not None:
            self.packed = self.codec.copy_packed(self.text)

    def position(self, i: int) -> tuple[str | None, ...]:
        """Row i's key (or ctid) as text: where a resumed snapshot goes on after it."""
        if self.text is None:
            return self.positions[i] + self.suffix
        return tuple(_text(self.values(i)[c]) for c in self.where) + self.suffix

    def values(self, i: int) -> list[bytes | None]:
        """Row i's values (of a COPY text chunk: parsed again from the text)."""
        if self.text is None:
            return self.rows[i]
        i %= self.count
        if self.packed is not None:
            ends = memoryview(self.packed[4]).cast("q")
            line = self.text[ends[i - 1] if i else 0 : ends[i]]
        elif i == self.count - 1:  # the reader's question: where the chunk ends
            line = self.text[self.text.rfind(b"\n", 0, len(self.text) - 1) + 1 :]
        else:
            raise ValueError("a row of a chunk not yet encoded")
        return parse_copy_text(line if line.endswith(b"\n") else line + b"\n")[0]


_END = object()


class SnapshotReader:
    """Reads ``tables`` (sorted) from ``resume`` = (table, after) on, chunk by chunk.

    ``threads`` connections read tables side by side, all in the same database snapshot (the
    exported one, or the first connection's, exported to the others), each a table at a
    time, or a key range of a big table (``resume_ranges``: a resumed one's ranges, as
    `Chunk.ranges` and the task's offsets describe them). `chunks` hands tables over in
    table order, a table's ranges as their chunks come, so a snapshot resumes from (table,
    last key, or each range's last key) whatever ran in parallel. A reader takes a table at
    most ``threads`` ahead of the one being handed over, and a table's queue holds two
    chunks a connection, so memory stays bounded by a few chunks a connection.
    """

    def __init__(
        self,
        conninfo: str,
        tables: Sequence[TableInfo],
        chunk_rows: int,
        *,
        exported: str | None = None,
        resume: tuple[str, tuple[str | None, ...] | None] | None = None,
        codecs: Mapping[str, Any] | None = None,
        threads: int = 1,
        resume_ranges: Sequence[RangeState] | None = None,
        initial: Sequence[str] = (),
        where: str = "the database",
    ) -> None:
        self._conninfo = conninfo
        self._initial = list(initial)  # database.initial.statements
        self._where = where
        self.tables = list(tables)
        self.chunk_rows = chunk_rows
        self.exported = exported
        self.resume = resume
        self.codecs = codecs or {}  # table -> rowcodec.RowCodec: chunks come encoded
        self.threads = max(1, threads)
        self._queues: dict[int, queue.Queue[Any]] = {}  # table index -> its chunks
        self._lock = threading.Condition()
        self._consuming = 0  # the table index chunks() is on: readers stay < it + threads
        self._next = 0  # the next work item a reader takes
        self._start = 0
        self._after: tuple[str | None, ...] | None = None
        self.resume_ranges = list(resume_ranges) if resume_ranges else None
        # what readers read, in table order: (table index, range index, after, upper, the
        # table's ranges or None), and per table how many items it has
        self._work: list[tuple[int, int, Key | None, Key | None, list[Range] | None]] = []
        self._items: dict[int, int] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[Any] = []
        self.rows_done: dict[str, int] = {}  # (a resumed table's: the rows before estimated)
        self.rows_read = 0  # by this run, every table's
        self._last_log = time.monotonic()
        self._copy_out: CopyOut | None = None  # COPY read in C (set in begin)

    def begin(self) -> None:
        """Open the snapshot transactions (import the exported snapshot before returning: the
        export ends with the exporting connection's next command)."""
        import psycopg

        if self.resume is not None:
            names = [t.qualified for t in self.tables]
            table, self._after = self.resume
            self._start = resume_index([(t.schema, t.name) for t in self.tables], table)
            if self._start < len(names) and names[self._start] != table:
                self._after = None  # the table is gone: go on with the next one
                self.resume_ranges = None
        self._consuming = self._start
        self._next = 0
        big = any(self._splittable(t) for t in self.tables[self._start :])
        ranges = len(self.resume_ranges or ())
        threads = min(self.threads, max(len(self.tables) - self._start, ranges, 1))
        if big:  # a big table is read in key ranges side by side
            threads = self.threads
        snapshot = self.exported
        for n in range(threads):
            conn = psycopg.connect(self._conninfo)
            self._conns.append(conn)
            run_statements(conn, self._initial, self._where)  # (before its transaction)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # a whole table in key order comes from its primary key's index: never let the
            # planner sort it first (the first row would wait for the whole table); and one
            # COPY streams a whole table as the task takes it, however long that is, so a
            # role's or database's statement_timeout must not cut it; nor its
            # idle_in_transaction_session_timeout a connection that waits its turn while the
            # task takes another's rows (a 3 s one had ended a reader, and the snapshot was
            # resumed in a new database snapshot)
            conn.execute("SET LOCAL enable_sort = off")
            conn.execute("SET LOCAL statement_timeout = 0")
            conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            if conn.info.server_version >= 110000:  # (enable_sort off makes every chunk's
                # plan look costly: JIT compiled each, 70-90 ms, for nothing)
                conn.execute("SET LOCAL jit = off")
            if snapshot:
                conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            elif threads > 1:  # the first one's snapshot, for all
                row = conn.execute("SELECT pg_export_snapshot()").fetchone()
                assert row is not None
                snapshot = row[0]
            else:
                conn.execute("SELECT 1")  # takes the transaction's snapshot now
            if n == 0 and threads > 1:
                log.info("snapshot: %d connections read tables side by side", threads)
        if self.codecs:
            self._copy_out = CopyOut.available(self._conns[0])
        self._plan(self._conns[0], threads)
        for n, conn in enumerate(self._conns):
            th = threading.Thread(
                target=self._run, args=(conn,), name=f"pg-snapshot-{n}", daemon=True
            )
            self._threads.append(th)
            th.start()

    def chunks(self) -> Iterator[Chunk]:
        """Chunks in table order (a table read in ranges: theirs as they come); the last has
        ``final`` set. Raises what a reader hit."""
        held: Chunk | None = None
        for i in range(self._start, len(self.tables)):
            with self._lock:
                self._consuming = i
                self._lock.notify_all()
            q = self._queue(i)
            resumed = i == self._start and (self._after is not None or bool(self.resume_ranges))
            ends, first = 0, not resumed
            while ends < self._items.get(i, 0):
                item = q.get()
                if item is _END:
                    ends += 1
                    continue
                if isinstance(item, BaseException):
                    raise item
                item.first_in_table, first = first, False
                if held is not None:
                    yield held
                held = item
                held.encode()
            if held is not None and held.table is self.tables[i]:
                held.last_in_table = True
            with self._lock:
                self._queues.pop(i, None)
        if held is not None:
            held.final = True
            yield held

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()  # (a reader waiting for the task to move on)
            queues = list(self._queues.values())
        for q in queues:  # unblock readers waiting on a full queue
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break
        if any(th.is_alive() for th in self._threads):
            for conn in self._conns:  # a reader inside a long COPY: cut it short
                with contextlib.suppress(Exception):
                    conn.cancel()
        deadline = time.monotonic() + 10
        for th in self._threads:
            th.join(timeout=max(deadline - time.monotonic(), 0))
        for conn in self._conns:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.close()

    # -- the reader threads ----------------------------------------------------------------
    def _queue(self, i: int) -> queue.Queue[Any]:
        with self._lock:
            q = self._queues.get(i)
            if q is None:
                q = self._queues[i] = queue.Queue(maxsize=2 * self.threads)
            return q

    def _put(self, q: queue.Queue[Any], item: Any) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _splittable(self, t: TableInfo) -> bool:
        return (
            self.threads > 1 and bool(t.primary_key)
            and t.estimated_rows >= SPLIT_CHUNKS * self.chunk_rows * self.threads
        )  # fmt: skip

    def _plan(self, conn: Any, threads: int) -> None:
        """The work items: a table, or each of its key ranges (a big table with several
        connections: `split_keys`); a resumed split table, its unfinished ranges."""
        for i in range(self._start, len(self.tables)):
            t = self.tables[i]
            after = self._after if i == self._start else None
            ranges: list[Range] | None = None
            todo: list[tuple[int, Key | None, Key | None]] = []
            if i == self._start and self.resume_ranges:
                ranges = [(_key(r[0]), _key(r[1])) for r in self.resume_ranges]
                todo = [
                    (n, _key(r[2]) if r[2] is not None else lo, hi)
                    for n, (r, (lo, hi)) in enumerate(zip(self.resume_ranges, ranges, strict=True))
                    if not r[3]
                ]  # fmt: skip
            elif after is None and self._splittable(t):
                bounds = split_keys(conn, t, threads)
                if bounds:
                    edges: list[Key | None] = [None, *bounds, None]
                    ranges = list(zip(edges[:-1], edges[1:], strict=True))
                    todo = [(n, lo, hi) for n, (lo, hi) in enumerate(ranges)]
                    log.info("snapshot: %s in %d key ranges side by side", t.qualified,
                             len(ranges))  # fmt: skip
            if ranges is None:
                todo = [(0, after, None)]
            if i == self._start and t.primary_key and (after is not None or self.resume_ranges):
                # resumed: the rows read before count as done (as the planner estimates the
                # rows left), or the progress of the rows read since against the whole
                # table's estimate said 19 % at 98 %, and its ETA was as wrong
                left = sum(planned_rows(conn, t, lo, hi) for _, lo, hi in todo)
                self.rows_done[t.qualified] = max(t.estimated_rows - left, 0)
            self._items[i] = len(todo)
            self._work.extend((i, n, lo, hi, ranges) for n, lo, hi in todo)

    def _run(self, conn: Any) -> None:
        i = -1
        try:
            while not self._stop.is_set():
                with self._lock:
                    k = self._next
                    self._next += 1
                    if k >= len(self._work):  # (nothing left: no wait for the task)
                        break
                    i = self._work[k][0]
                    # a table at most ``threads`` ahead of the task's: small tables must not
                    # all be read into memory while it is on a big one
                    while i >= self._consuming + self.threads and not self._stop.is_set():
                        self._lock.wait(0.2)
                if self._stop.is_set():
                    break
                _, r, after, upper, ranges = self._work[k]
                q = self._queue(i)
                held: Chunk | None = None
                for chunk in self._read_table(conn, self.tables[i], after, upper):
                    chunk.ranges, chunk.range_index = ranges, r
                    if held is not None and not self._put(q, held):
                        return
                    held = chunk
                if held is not None:
                    held.last_in_range = True
                    if not self._put(q, held):
                        return
                if not self._put(q, _END):
                    return
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - handed to the task thread
            if not self._stop.is_set() and i >= 0:
                import psycopg

                if isinstance(exc, psycopg.OperationalError):
                    exc = ConnectionLostError(f"snapshot connection lost: {exc}")
                self._put(self._queue(min(i, len(self.tables) - 1)), exc)

    def _read_table(
        self, conn: Any, t: TableInfo, after: Key | None, upper: Key | None = None
    ) -> Iterator[Chunk]:
        # '%' doubled: the statement goes through psycopg's parameter binding
        cols = ", ".join(_ident(c.name) for c in t.columns).replace("%", "%%")
        rel = f"{_ident(t.schema)}.{_ident(t.name)}".replace("%", "%%")
        self.rows_done.setdefault(t.qualified, 0)
        # catalog rows obey the transaction's snapshot: a table created after it is not there
        if conn.execute("SELECT 1 FROM pg_class WHERE oid = %s", (t.oid,)).fetchone() is None:
            return
        if t.primary_key:
            yield from self._by_key(conn, t, after, upper)
        else:
            yield from self._by_ctid(conn, t, cols, rel, after)

    def _by_key(
        self, conn: Any, t: TableInfo, after: Key | None, upper: Key | None
    ) -> Iterator[Chunk]:
        codec = self.codecs.get(t.qualified)
        if codec is not None and self._copy_out is not None:
            yield from self._streamed(conn, t, codec, after, upper)
            return
        limit = min(self.chunk_rows, FIRST_CHUNK_ROWS)
        while not self._stop.is_set():
            if codec is not None:
                sql = key_sql(t, after, limit, upper)
                chunk = self._encoded(conn, t, codec, sql, (*(after or ()), *(upper or ())))
            else:
                rows, positions = key_chunk(conn, t, after, limit, upper)
                chunk = Chunk(t, rows, positions)
            n = len(chunk)
            if not n:
                return
            after = chunk.position(n - 1)
            self._progress(t, n)
            yield chunk
            if n < limit:
                return
            limit = _next_limit(chunk, self.chunk_rows)

    def _streamed(
        self, conn: Any, t: TableInfo, codec: Any, after: Key | None, upper: Key | None
    ) -> Iterator[Chunk]:
        """A keyed table as one COPY in key order, cut into chunks of ``chunk_rows`` as it
        arrives: the same chunks, and positions, as one COPY per chunk would give (a
        resumed snapshot starts a new COPY after the last key), without the server
        planning a query and starting an index scan over per chunk, or idling between
        them."""
        assert self._copy_out is not None
        names = [c.name for c in t.columns]
        where = tuple(names.index(k) for k in t.primary_key)
        self._copy_out.start(conn, key_sql(t, after, None, upper),
                             (*(after or ()), *(upper or ())))  # fmt: skip
        done = False
        while not done and not self._stop.is_set():
            text, done = self._copy_out.rows(conn, self.chunk_rows, CHUNK_MAX_BYTES)
            chunk = Chunk(t, [], [], text=text, count=text.count(b"\n"), where=where,
                          codec=codec)  # fmt: skip
            if len(chunk):
                self._progress(t, len(chunk))
                yield _encode_here(chunk)

    def _encoded(
        self, conn: Any, t: TableInfo, codec: Any, sql: str, params: Sequence[Any]
    ) -> Chunk:
        """A chunk of COPY text, encoded all at once (`_encode_here`); a row's position is
        its key columns (or the trailing ctid)."""
        names = [c.name for c in t.columns]
        where = [names.index(k) for k in t.primary_key] if t.primary_key else [len(names)]
        if self._copy_out is not None:
            text = self._copy_out.copy(conn, sql, params)
        else:
            text = copy_text(conn, sql, params)
        return _encode_here(Chunk(t, [], [], text=text, count=text.count(b"\n"),
                                  where=tuple(where), codec=codec))  # fmt: skip

    def _by_ctid(
        self, conn: Any, t: TableInfo, cols: str, rel: str, after: tuple[str | None, ...] | None
    ) -> Iterator[Chunk]:
        """A table without a key, in ranges of pages. A row's position is its ctid and the
        table's file node: a ctid means nothing in another file, and VACUUM FULL, CLUSTER or
        a rewriting ALTER TABLE give the table a new one (and every row a new ctid) while a
        crashed snapshot waits to resume. Such a table is read again from the start (its
        rows read before the crash come twice, none is lost). The lock, held to the end of
        the snapshot transaction, keeps the file node as read while this one reads."""
        import psycopg

        try:
            with conn.transaction():  # a savepoint: a refused LOCK must not end the snapshot
                conn.execute(f"LOCK TABLE {rel.replace('%%', '%')} IN ACCESS SHARE MODE")
        except psycopg.errors.InsufficientPrivilege:
            pass  # SELECT granted on columns only: the first COPY takes the lock instead
        row = conn.execute(
            "SELECT pg_relation_size(%s) / current_setting('block_size')::int, "
            "greatest(c.reltuples, 0), greatest(c.relpages, 1), pg_relation_filenode(%s)::text "
            "FROM pg_class c WHERE c.oid = %s",
            (t.oid, t.oid, t.oid),
        ).fetchone()
        pages, tuples, relpages, filenode = int(row[0]), float(row[1]), int(row[2]), row[3]
        per_page = max(tuples / relpages, 1.0)
        step = max(int(self.chunk_rows / per_page), 1)  # pages: snapshot.fetch.size rows
        # and at most `limit` rows a chunk, sized by the rows seen (a page of TOASTed rows
        # may hold 50 MB); a range goes on after a chunk's last ctid until it is read
        limit = min(self.chunk_rows, FIRST_CHUNK_ROWS)
        hi: int | None = None
        lo, lower = 0, None
        if after is not None and len(after) > 1 and after[1] != filenode:
            log.warning(
                "snapshot: %s was rewritten (VACUUM FULL, CLUSTER or ALTER TABLE) since the "
                "interrupted snapshot read it: reading it again from the start (rows read "
                "before come twice)", t.qualified,
            )  # fmt: skip
            after = None
        if after is not None and after[0]:
            lower = after[0]
            lo = int(after[0].strip("()").split(",")[0])
        while lo < pages and not self._stop.is_set():
            if hi is None:
                hi = lo + step
            if lower is not None:
                cond, params = "ctid > %s::tid", [lower]
            else:
                cond, params = "ctid >= %s::tid", [f"({lo},0)"]
            sql = (
                f"COPY (SELECT {cols}, ctid FROM ONLY {rel} WHERE {cond} AND ctid < %s::tid "
                f"ORDER BY ctid LIMIT {limit}) TO STDOUT"
            )
            codec = self.codecs.get(t.qualified)
            if codec is not None:
                chunk = self._encoded(conn, t, codec, sql, [*params, f"({hi},0)"])
            else:
                rows = parse_copy_text(copy_text(conn, sql, [*params, f"({hi},0)"]))
                positions: list[tuple[str | None, ...]] = [(_text(r.pop()),) for r in rows]
                chunk = Chunk(t, rows, positions)
            chunk.suffix = (filenode,)
            n = len(chunk)
            if n == limit:  # (the range may hold more: on after this chunk's last row)
                lower = chunk.position(n - 1)[0]
                limit = _next_limit(chunk, self.chunk_rows)
                # the rest in ranges about as wide as the pages this chunk's rows took (a
                # range the statistics made the whole table, a table never analyzed, was
                # scanned again by every chunk of it: 1.2 M rows took 14.6 s against 3.3 s)
                first, last = _page(chunk.position(0)[0]), _page(lower)
                per_page = n / max(last - first + 1, 1)
                step = max(int(limit / per_page), 1)
                hi = last + step + 1
            else:
                lo, lower, hi = hi, None, None
            if n:
                self._progress(t, n)
                yield chunk

    def _progress(self, t: TableInfo, n: int) -> None:
        with self._lock:  # the ranges of a table are read side by side
            done = self.rows_done[t.qualified] = self.rows_done[t.qualified] + n
            self.rows_read += n
        now = time.monotonic()
        if now - self._last_log >= 5:
            self._last_log = now
            pct = f" ({100 * done / t.estimated_rows:.0f}%)" if t.estimated_rows > 0 else ""
            log.info("snapshot: %s %d of ~%d rows%s", t.qualified, done, t.estimated_rows, pct)


def _page(ctid: str | None) -> int:
    """The page of a ctid's text, ``(page,item)``."""
    return int((ctid or "(0,0)").strip("()").split(",")[0])


def _encode_here(chunk: Chunk) -> Chunk:
    """Encode a reader's chunk on its own thread when the codec runs without the GIL (then
    the task thread, which appends to the log, only wraps and writes); else the task thread
    encodes it (`Chunk.encode` in `chunks`), so that this one, holding no GIL, keeps reading
    while the server sends."""
    if getattr(chunk.codec, "gil_free", False):
        chunk.encode()
    return chunk


# the session settings `PostgresSourceConfig.conninfo` pins (the text forms the type mapping
# reads): set again after database.initial.statements, which may change them (the snapshot
# then read what the stream, without them, does not: extra_float_digits = 0 made a float
# 0.30000000000000004 a 0.3, lc_monetary money 12.34 a 1235.22)
PINNED = ("DateStyle", "IntervalStyle", "extra_float_digits", "bytea_output", "TimeZone",
          "lc_monetary", "client_encoding")  # fmt: skip


def run_statements(conn: Any, statements: Sequence[str], where: str) -> None:
    """``database.initial.statements`` on a new connection, then the pinned settings back
    as the connection began (committed, when not autocommit: a snapshot's transaction
    begins after them). A statement the server refuses is the config's error; a connection
    lost or a timeout meanwhile is raised as it is (retried)."""
    import psycopg

    if not statements:
        return
    sql = ""
    try:
        for sql in statements:
            conn.execute(sql)
        for name in PINNED:
            conn.execute(f"RESET {name}")
        if not conn.autocommit:
            conn.commit()
    except psycopg.Error as exc:
        from hub.errors import ConfigError, describe

        conn.close()
        state = getattr(exc, "sqlstate", None) or ""
        if isinstance(exc, psycopg.OperationalError) and (
            not state or state.startswith("08") or state in _PASSING
        ):  # (the connection, or a timeout: tried again)
            raise
        raise ConfigError(
            f"database.initial.statements: {where} refused {sql!r}: {describe(exc)}"
        ) from None


# refusals that pass: statement_timeout or a cancel, lock_timeout, the server shutting down
# or starting (class 08, the connection's, too); any other is the statement's
_PASSING = frozenset({"57014", "55P03", "57P01", "57P02", "57P03"})


def copy_text(conn: Any, sql: str, params: Sequence[Any] = ()) -> bytes:
    """Run a ``COPY ... TO STDOUT``; psycopg binds ``%s`` parameters client-side."""
    cur = conn.cursor()
    parts: list[bytes] = []
    if not params:  # psycopg reads placeholders (and %% escapes) only with parameters
        sql = sql.replace("%%", "%")
    with cur.copy(sql, tuple(params) or None) as copy:
        for block in copy:
            parts.append(bytes(block))
    return b"".join(parts)


Key = tuple[str | None, ...]  # a primary key's columns as text


def key_sql(
    t: TableInfo,
    after: Key | None,
    limit: int | None,
    upper: Key | None = None,
    condition: str | None = None,
) -> str:
    """The COPY of up to ``limit`` (None: all) rows of ``t`` (all columns) with a primary key
    above ``after`` and at most ``upper`` (``%s`` parameters: after's, then upper's), and
    for which the SQL expression ``condition`` holds, in key order."""
    cols = ", ".join(_ident(c.name) for c in t.columns).replace("%", "%%")
    rel = f"{_ident(t.schema)}.{_ident(t.name)}".replace("%", "%%")
    order = ", ".join(_ident(k) for k in t.primary_key).replace("%", "%%")
    where = _key_where(t, after, upper, condition)
    limit_sql = "" if limit is None else f" LIMIT {limit}"
    return f"COPY (SELECT {cols} FROM ONLY {rel} {where} ORDER BY {order}{limit_sql}) TO STDOUT"


def _key_where(
    t: TableInfo, after: Key | None, upper: Key | None, condition: str | None = None
) -> str:
    order = ", ".join(_ident(k) for k in t.primary_key).replace("%", "%%")
    types = {c.name: c.type_name for c in t.columns}
    bound = ", ".join(f"%s::{types[k]}" for k in t.primary_key)
    conds = ([f"({order}) > ({bound})"] if after is not None else []) + (
        [f"({order}) <= ({bound})"] if upper is not None else []
    ) + ([f"({condition})".replace("%", "%%")] if condition else [])  # fmt: skip
    return f"WHERE {' AND '.join(conds)}" if conds else ""


def planned_rows(conn: Any, t: TableInfo, after: Key | None, upper: Key | None) -> int:
    """The planner's estimate of the rows of ``t`` with a key above ``after`` and at most
    ``upper`` (no row read)."""
    rel = f"{_ident(t.schema)}.{_ident(t.name)}".replace("%", "%%")
    sql = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM ONLY {rel} {_key_where(t, after, upper)}"
    row = conn.execute(sql, (*(after or ()), *(upper or ()))).fetchone()
    return int(row[0][0]["Plan"]["Plan Rows"])


def key_chunk(
    conn: Any,
    t: TableInfo,
    after: Key | None,
    limit: int,
    upper: Key | None = None,
    condition: str | None = None,
) -> tuple[list[list[bytes | None]], list[tuple[str | None, ...]]]:
    """Up to ``limit`` rows of ``t`` (all columns) with a primary key above ``after`` (and
    at most ``upper``; where ``condition`` holds), in key order, and each row's key as text."""
    sql = key_sql(t, after, limit, upper, condition)
    rows = parse_copy_text(copy_text(conn, sql, (*(after or ()), *(upper or ()))))
    names = [c.name for c in t.columns]
    key_idx = [names.index(k) for k in t.primary_key]
    return rows, [tuple(_text(r[i]) for i in key_idx) for r in rows]


def last_key(conn: Any, t: TableInfo, condition: str | None = None) -> Key | None:
    """The largest primary key of ``t`` (of its rows where ``condition`` holds) as text, in
    `key_chunk`'s form; None when it has no row."""
    # (ordered inside, as values: a bare name in an ORDER BY beside a ::text of it is the
    # text output, and '90' sorts after '100'; the filter sees the table under its name)
    keys = ", ".join(_ident(k) for k in t.primary_key)
    cols = ", ".join(f"{_ident(k)}::text" for k in t.primary_key)
    order = ", ".join(f"{_ident(k)} DESC" for k in t.primary_key)
    where = f" WHERE ({condition})" if condition else ""
    row = conn.execute(
        f"SELECT {cols} FROM (SELECT {keys} FROM ONLY {_ident(t.schema)}.{_ident(t.name)}"
        f"{where} ORDER BY {order} LIMIT 1) AS last"
    ).fetchone()
    return None if row is None else tuple(row)


def split_keys(conn: Any, t: TableInfo, n: int) -> list[Key]:
    """Up to ``n - 1`` primary keys that cut ``t`` into ``n`` ranges of about as many rows,
    from a sample of its pages (TABLESAMPLE SYSTEM, ~2000 rows, in the snapshot's view);
    empty when the sample is too small to cut."""
    # the table's own columns, qualified: a bare name in ORDER BY would be the text output
    order = ", ".join(f"s.{_ident(k)}" for k in t.primary_key)
    cols = ", ".join(f"s.{_ident(k)}::text" for k in t.primary_key)
    rel = f"{_ident(t.schema)}.{_ident(t.name)}"
    pct = min(100.0, 100.0 * 2000 / max(t.estimated_rows, 1))
    keys = [
        tuple(row) for row in conn.execute(
            f"SELECT {cols} FROM ONLY {rel} AS s TABLESAMPLE SYSTEM ({pct:.6f}) ORDER BY {order}"
        ).fetchall()
    ]  # fmt: skip
    if len(keys) < 2 * n:
        return []
    bounds: list[Key] = []
    for k in range(1, n):
        key = keys[len(keys) * k // n]
        if not bounds or key != bounds[-1]:
            bounds.append(key)
    return bounds


def _key(v: Sequence[str | None] | None) -> Key | None:
    return None if v is None else tuple(v)


def _text(v: bytes | None) -> str | None:
    return None if v is None else v.decode()
