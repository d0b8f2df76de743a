"""The MySQL/MariaDB side of incremental snapshots (`cdc.incremental` holds the algorithm):
watermarks are rows inserted into the signal table (the connector's user needs INSERT on
it), chunks are ``SELECT ... WHERE key > last ORDER BY key LIMIT n`` on an autocommit
connection, and rows are compared by their event key (the same converters turn a streamed
row and a read one into it)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from connectors.source.cdc.envelope import envelope
from connectors.source.cdc.filters import Filters
from connectors.source.cdc.incremental import (
    SIGNAL_COLUMNS_MYSQL,
    Chunk,
    IncrementalSnapshot,
    check_signal_columns,
    chunk_bounds,
    key_signature,
    signal_insert,
    watermark_refused,
)
from connectors.source.mysql.schema import MySqlTable
from connectors.source.mysql.server import query, tables
from connectors.source.mysql.snapshot import (
    chunk_after,
    decode_key,
    encode_key,
    ident,
    ident_formatted,
)


class MySqlIncrementalPort:
    def __init__(self, con: Callable[[], Any], signal_table: str, filters: Filters,
                 build: Any, signal_columns: Sequence[str]) -> None:  # fmt: skip
        self._con = con  # the task's metadata connection, made again after a failure
        db, _, table = signal_table.partition(".")
        self.signal = f"{ident_formatted(db)}.{ident_formatted(table)}"  # (with arguments)
        self.signal_name = signal_table
        # (its first three columns named, as the factory read them)
        self._insert = signal_insert(self.signal, signal_columns, ident_formatted)
        self.filters = filters
        self.build = build  # CatalogTable, key -> MySqlTable

    @property
    def con(self) -> Any:
        return self._con()

    def tables(self) -> dict[str, bool]:
        """Chunks go by the primary key (message.key.columns may not be unique)."""
        return {t.qualified: bool(t.primary_key) for t in tables(self.con, self.filters)}

    def _key(self, t: Any) -> tuple[str, ...]:
        key = self.filters.key_override(t.db, t.name, [c.name or "" for c in t.columns])
        return tuple(key) if key is not None else tuple(t.primary_key)

    def watermark(self, ident_: str, kind: str) -> None:
        import pymysql

        try:
            query(self.con, self._insert, (ident_, kind, json.dumps({"ts": time.time()})))
        except pymysql.err.MySQLError as exc:
            # (ER_TABLEACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED)
            if exc.args and exc.args[0] in (1142, 1044, 1143):
                raise watermark_refused(self.signal_name, str(exc.args[-1])) from None
            raise

    def read(
        self,
        table: str,
        after: list[Any] | None,
        key: list[str] | None,
        limit: int,
        condition: str | None = None,
        until: list[Any] | None = None,
    ) -> Chunk | None:
        db, _, name = table.partition(".")
        found = tables(self.con, self.filters, only=(db, name))
        if not found or not found[0].primary_key:
            return None
        t = found[0]
        pk = t.primary_key
        columns = {c.name: c for c in t.columns}
        # (a text key column's collation too: the chunks go by key order, which it sets)
        collations = {str(r[0]): r[1] for r in query(self.con,
            "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (db, name))}  # fmt: skip
        now = key_signature([
            (k, _type(columns.get(k)) + (f" COLLATE {collations[k]}" if collations.get(k) else ""))
            for k in pk
        ])  # fmt: skip
        names = [c.name or "" for c in t.columns]

        def largest() -> list[Any] | None:
            final = chunk_after(self.con, t, pk, None, 1, condition=condition, descending=True)
            return encode_key([final[0][names.index(k)] for k in pk]) if final else None

        bounds = chunk_bounds(table, after, key, now, until, largest)
        if bounds is None:
            return None
        after, until = bounds
        schema: MySqlTable = self.build(t, self._key(t))
        rows = chunk_after(self.con, t, pk, decode_key(after) if after else None, limit,
                           condition=condition, upto=decode_key(until))  # fmt: skip
        if not rows:
            return None
        last = [rows[-1][names.index(k)] for k in pk]
        return Chunk(schema, {schema.primary_values(r): r for r in rows}, encode_key(last), now,
                     until, shape=_shape(t))  # fmt: skip

    def shape(self, table: str) -> Hashable | None:
        db, _, name = table.partition(".")
        found = tables(self.con, self.filters, only=(db, name))
        return _shape(found[0]) if found else None

    def check_condition(self, table: str, condition: str) -> str | None:
        import pymysql

        db, _, name = table.partition(".")
        try:  # (planned, not run)
            query(self.con, f"EXPLAIN SELECT 1 FROM {ident(db)}.{ident(name)} WHERE ({condition})")
        except pymysql.MySQLError as exc:
            return str(exc.args[-1] if exc.args else exc)
        return None

    def fill(self, values: Sequence[Any], read: Any) -> Any | None:
        return None  # (a row image is whole: binlog_row_image=FULL is required)

    def query_error(self, exc: BaseException) -> str | None:
        import pymysql

        # the server's errors (ER_*, below 2000 and from 3000); 2000-2999 are the client's
        # (CR_*: a lost connection...)
        if isinstance(exc, pymysql.err.MySQLError) and not isinstance(
            exc, pymysql.err.InterfaceError
        ):  # fmt: skip
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            if code and not 2000 <= code < 3000:
                return str(exc.args[-1])
        return None

    def key_of(self, schema: MySqlTable, values: Sequence[Any]) -> Hashable:
        return schema.primary_values(values)

    def same_table(self, schema: MySqlTable, other: MySqlTable) -> bool:
        return schema.topic == other.topic

    def event(self, schema: MySqlTable, values: Any, source: dict[str, Any]) -> tuple[Any, Any]:
        after = schema.row(values)
        src = {**source, "db": schema.db, "table": schema.table}
        return schema.key(after), envelope("r", None, after, src)


def _shape(t: Any) -> tuple[tuple[str, str], ...]:
    """A table's columns as `IncrementalPort.shape` compares them: names and types."""
    return tuple((c.name or "", _type(c)) for c in t.columns)


def _type(c: Any) -> str:
    """A key column's type as the cursor stores it (its type code, signedness, charset, and
    an ENUM's or SET's labels, whose order is the key's: reordered between chunks, the
    cursor read on under the new order and skipped rows)."""
    if c is None:
        return ""
    labels = f" {list(c.labels)}" if getattr(c, "labels", ()) else ""
    return f"{c.real_type}{' unsigned' if c.unsigned else ''} {c.charset}{labels}"


def incremental_snapshot(
    con: Callable[[], Any], signal_table: str, chunk_size: int, filters: Filters, build: Any
) -> IncrementalSnapshot:
    db, _, table = signal_table.partition(".")
    names = [str(r[0]) for r in query(con(), SIGNAL_COLUMNS_MYSQL, (db, table))]
    check_signal_columns(signal_table, names)
    port = MySqlIncrementalPort(con, signal_table, filters, build, names)
    return IncrementalSnapshot(port, chunk_size)
