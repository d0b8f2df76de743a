"""The DuckDB dialect: one read-write connection, batches staged as registered Arrow tables
and applied with the engine's default statements (one ``MERGE`` per table and batch: as fast
as ``INSERT … ON CONFLICT`` + ``DELETE … USING`` or faster, see `postgres.statements`).

DuckDB lets ONE process open a file read-write, or many processes open it read-only, never
both. The dialect opens the file when a batch arrives and closes it after
``duckdb.idle.release.ms`` without one (a daemon thread watches), so a reader can attach
while hub is idle. Opening waits up to ``duckdb.lock.timeout.ms`` for readers to let go, then
raises `SinkTransientError` (retried per ``errors.retry.timeout``).

Thread safety: one task thread uses the dialect; the idle thread only closes the connection
while holding the lock no transaction runs without.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from connectors.sink.duckdb import types as dtypes
from connectors.sink.duckdb.config import DuckDBSinkConfig, duckdb_path
from connectors.sink.engine.dialect import Dialect, StagedColumn, TableInfo, fold_ascii
from connectors.sink.engine.errors import (
    SinkConfigError,
    SinkFatalError,
    SinkTransientError,
    column_staged,
)
from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.types import ColumnType

log = logging.getLogger(__name__)


def _unindexable(sql_type: str) -> bool:
    """A DuckDB type no PRIMARY KEY may hold."""
    t = sql_type.strip().upper()
    return t == "INTERVAL" or t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION"))


# what DuckDB's errors say of a full disk (strerror's texts), whatever the exception's class
_FULL_DISK = ("No space left on device", "Disk quota exceeded")

# a new database file: a main header and two database headers of 4 KiB each, then its blocks
_HEADERS = 3 * 4096


def _drop_unfinished(path: str) -> None:
    """Remove a DuckDB file whose creation was cut short (a kill -9 of the first start: empty,
    or a part of its headers, and no WAL): it holds no database, and DuckDB refuses it for
    good, so the sink never started again. A file of other content is left alone."""
    try:
        size = os.path.getsize(path)
        wal = os.path.getsize(path + ".wal") if os.path.exists(path + ".wal") else 0
        if size >= _HEADERS or wal:
            return
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return  # (no file yet: DuckDB makes it)
    if size == 0 or head[8:12] == b"DUCK":
        log.warning("DuckDB file %s: its creation was cut short (%d bytes, no database in it): "
                    "made again", path, size)  # fmt: skip
        os.remove(path)


class DuckDBDialect(Dialect):
    row_id = "rowid"
    case_insensitive = True
    param = "?"

    def declares_key(self, table: TableRef, columns: Mapping[str, str], pk: Sequence[str]) -> bool:
        """Not for a key of a type DuckDB cannot index (INTERVAL, lists, structs, maps): CREATE
        TABLE had failed on a raw driver error."""
        if any(_unindexable(columns[k]) for k in pk if k in columns):
            log.warning(
                "DuckDB %s: table %s is keyed by %s, a type DuckDB cannot index: it is made "
                "without a PRIMARY KEY (its changes are applied by key all the same)",
                self.path, table, ", ".join(pk),
            )  # fmt: skip
            return False
        return True

    def __init__(self, cfg: DuckDBSinkConfig) -> None:
        path = duckdb_path(cfg.connection_url)
        assert path is not None
        self.path = os.path.abspath(path)
        self.idle = cfg.idle_release_ms / 1000
        self.lock_timeout = cfg.lock_timeout_ms / 1000
        self.memory_limit = cfg.memory_limit
        self._con: Any = None
        self._lock = threading.Lock()
        self._in_tx = False
        self._last = time.monotonic()
        self._stage_n = 0
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> Any:
        import duckdb

        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        parent = os.path.dirname(os.path.abspath(self.path))
        mode = "reading" if self.read_only else "writing"
        try:
            if not self.read_only:  # duckdb:out/warehouse.duckdb needs out/
                os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise SinkConfigError(
                "connection.url",
                f"cannot create the directory {parent} for the DuckDB file ({exc.strerror}); "
                "check the path and its permissions",
            ) from None
        if not self.read_only:
            _drop_unfinished(self.path)
        said = False
        while True:
            try:
                if self.read_only:  # hub verify: never takes the write lock
                    return duckdb.connect(self.path, read_only=True)
                con = duckdb.connect(self.path)
                # checkpoint every 256 MB of WAL rather than DuckDB's 16 MB: a batch commit
                # then rarely pays for a checkpoint (closing the file checkpoints anyway)
                con.execute("SET checkpoint_threshold = '256MB'")
                # (a value cast into a column made by hand, a timestamptz into TIMESTAMP_MS
                # or VARCHAR, as in UTC: DuckDB takes the process's zone otherwise)
                con.execute("SET TimeZone = 'UTC'")
                if self.memory_limit:
                    con.execute(f"SET memory_limit = '{self.memory_limit}'")  # pattern-checked
                return con
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                # another process holds the file (a lock), or a connection of this process
                # opened it with another configuration (a read-only reader): both let go
                text = str(exc).lower()
                locked = "lock" in text or "different configuration" in text
                if "not a valid duckdb database file" in text:  # (retrying will not help)
                    raise SinkConfigError(
                        "connection.url",
                        f"{self.path} is not a DuckDB database file; name a new file or a "
                        "DuckDB database",
                    ) from None
                if not locked:
                    raise SinkTransientError(
                        f"cannot open DuckDB file {self.path} for {mode}: {exc}"
                    ) from None
                if time.monotonic() + delay > deadline:
                    raise SinkTransientError(
                        f"cannot open DuckDB file {self.path} for {mode}: {exc}; another "
                        "process holds it (readers must close their connections)"
                    ) from None
                if not said and time.monotonic() - (deadline - self.lock_timeout) >= 2:
                    said = True  # (it had waited its 30 s without a word)
                    log.warning(
                        "DuckDB file %s is held by another process (%s); waiting up to %.0f s "
                        "for it to let go (duckdb.lock.timeout.ms)", self.path,
                        str(exc).splitlines()[0][:200], self.lock_timeout,
                    )  # fmt: skip
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _watch(self) -> None:
        while not self._closed.wait(min(max(self.idle / 4, 0.01), 0.5)):
            if self._con is None or time.monotonic() - self._last < self.idle:
                continue
            with self._lock:
                if (
                    self._con is not None
                    and not self._in_tx
                    and time.monotonic() - self._last >= self.idle
                ):
                    self._con.close()
                    self._con = None

    def begin(self) -> None:
        self._lock.acquire()
        try:
            if self._con is None:
                self._con = self._connect()
            self._con.begin()
            self._in_tx = True
        except BaseException:
            self._lock.release()
            raise

    def _end(self) -> None:
        self._in_tx = False
        self._last = time.monotonic()
        self._lock.release()
        if self.idle > 0 and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="duckdb-idle", daemon=True)
            self._watcher.start()

    def commit(self) -> None:
        try:
            self._con.commit()
        finally:
            self._end()

    def rollback(self) -> None:
        if not self._in_tx:
            return
        try:
            if self._con is not None:
                self._con.rollback()
        except Exception:
            self._con.close()  # a broken connection: open a fresh one next time
            self._con = None
        finally:
            self._end()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    @property
    def connection(self) -> Any:
        """The DuckDB connection, inside a transaction (`begin`) only."""
        assert self._in_tx, "the connection is the open transaction's"
        return self._con

    # -- statements ---------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._con.execute(sql, list(params)) if params else self._con.execute(sql)
        return list(cur.fetchall()) if cur.description else []

    def sql_type(self, t: ColumnType) -> str:
        return dtypes.sql_type(t)

    def text_array_expr(self, expr: str, depth: int) -> str | None:
        return f"CAST({expr} AS VARCHAR{'[]' * depth})"

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        cur = self._con.execute(sql)
        while rows := cur.fetchmany(5000):
            yield from rows

    def column_type(self, sql_type: str) -> ColumnType | None:
        return dtypes.column_type(sql_type)

    def holds(self, existing: str, t: ColumnType) -> bool:
        # a decimal column made VARCHAR (a precision past DuckDB's 38 digits, a variable
        # scale) holds every decimal as its exact text: the sink had refused the next
        # batch's DECIMAL(38,4) into the VARCHAR it had chosen itself for DECIMAL(40,4)
        return existing.upper() == "VARCHAR" and t.kind in ("decimal", "vdecimal")

    def describe(self, table: TableRef) -> TableInfo | None:
        schema = table.schema or "main"
        cols = self.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, table.name],
        )
        if not cols:
            return None
        pk = self.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE schema_name = ? "
            "AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
            [schema, table.name],
        )
        return TableInfo({str(n): str(t) for n, t in cols}, tuple(pk[0][0]) if pk else ())

    def folded_twin(self, table: TableRef) -> str | None:
        schema = table.schema or "main"
        # SQL lower() folds Unicode case too, DuckDB's names only ASCII: lower() narrows the
        # candidates (every ASCII-case twin is among them), fold_ascii decides
        rows = self.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE "
            "lower(table_schema) = lower(?) AND lower(table_name) = lower(?)",
            [schema, table.name],
        )
        want = (fold_ascii(schema), fold_ascii(table.name))
        for s, n in rows:
            if (s, n) != (schema, table.name) and (fold_ascii(s), fold_ascii(n)) == want:
                return str(n) if table.schema is None else f"{s}.{n}"
        return None

    def stage(self, name: str, columns: Sequence[StagedColumn]) -> str:
        import pyarrow as pa

        arrays = [
            column_staged(c.name, c.type, dtypes.arrow_array, c.type, c.values, c.name)
            for c in columns
        ]
        table = pa.Table.from_arrays(arrays, names=[c.name for c in columns])
        self._stage_n += 1
        rel = f"_hub_stage_{name}_{self._stage_n}"
        self._con.register(rel, table)
        return rel

    def select_expr(self, col: StagedColumn, ref: str) -> str:
        if dtypes.needs_cast(col.type):
            return f"CAST({ref} AS {dtypes.sql_type(col.type)})"
        return ref

    def unstage(self, relation: str) -> None:
        self._con.unregister(relation)

    def translate(self, exc: Exception) -> Exception:
        import duckdb

        if isinstance(exc, duckdb.IOException):
            return SinkTransientError(f"DuckDB {self.path}: {exc}")
        if any(text in str(exc) for text in _FULL_DISK):  # (a commit's WAL write: raised as
            # a TransactionException; space may come back, as with the log's own disk)
            return SinkTransientError(
                f"DuckDB {self.path}: {type(exc).__name__}: {exc}; free disk space under "
                f"{os.path.dirname(os.path.abspath(self.path))} (the batch is retried)"
            )
        if isinstance(exc, duckdb.OutOfMemoryException):  # (its own advice names settings
            # of DuckDB's; what a batch holds is the sink's)
            return SinkFatalError(
                f"DuckDB {self.path}: {type(exc).__name__}: {exc}; a batch of big rows needs "
                "memory several times its size: lower batch.max.bytes (or batch.size), or "
                "raise duckdb.memory.limit"
            )
        return SinkFatalError(f"DuckDB {self.path}: {type(exc).__name__}: {exc}")

    def duplicate_key(self, exc: Exception, key: Sequence[str]) -> bool:
        import duckdb

        # ('Duplicate key "id: 1" violates primary key constraint'; a unique index's says
        # unique constraint)
        return isinstance(exc, duckdb.ConstraintException) and (
            "violates primary key constraint" in str(exc)
        )
