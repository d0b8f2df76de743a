"""Incremental (ad-hoc) snapshots while streaming, as Debezium does them (after Netflix's
DBLog): no lock, no pause of the stream. The algorithm is the same for every source; what
touches the database is behind a small port (`IncrementalPort`).

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
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.source.cdc.notifications import INCREMENTAL, NO_NOTIFIER, Notifier, collections

log = logging.getLogger(__name__)

OPEN, CLOSE = "snapshot-window-open", "snapshot-window-close"
# the signal table's first three columns are the id, the type and the data whatever their
# names, as in Debezium; the catalog's queries for its columns' names, in order (the table's
# schema or database and name as arguments)
SIGNAL_COLUMNS_PG = (
    "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN "
    "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND "
    "a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
)
SIGNAL_COLUMNS_MYSQL = (
    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND "
    "TABLE_NAME = %s ORDER BY ORDINAL_POSITION"
)


def check_signal_columns(table: str, columns: Sequence[str]) -> None:
    """At a task's start: a signal table that has columns named id, type and data but not as
    its first three is refused (signals are read from the first three by position, as
    Debezium reads them; hub read them by name before 2026-12-07, so such a table had
    worked, and would now misread every signal with no word). No columns: no table yet."""
    from hub.errors import ConfigError

    if not columns:
        return
    lower = [c.lower() for c in columns]
    if len(columns) < 3:
        raise ConfigError(
            f"signal.data.collection: {table} has {len(columns)} column(s); a signal table's "
            "first three columns hold a signal's id, type and data"
        )
    if {"id", "type", "data"} <= set(lower) and (lower.index("id"), lower.index("type")) != (0, 1):
        raise ConfigError(
            f"signal.data.collection: {table}'s first three columns are "
            f"{', '.join(columns[:3])}; a signal's id, type and data are read from the first "
            "three by position, as Debezium reads them: make id, type and data its first "
            "three columns (or use a table that has them first)"
        )


def signal_insert(table: str, columns: Sequence[str], quote: Callable[[str], str]) -> str:
    """A row of the signal table ``table`` (quoted), of ``columns`` (its columns' names, as
    `check_signal_columns` takes them): its first three named, as ``quote`` writes a name in
    a statement with arguments (Debezium writes ``VALUES (?, ?, ?)``, which MySQL refuses
    for a table of more columns)."""
    name = table.replace("%%", "%")  # (as written in a statement with arguments)
    if not columns:
        raise ValueError(f"the signal table {name} does not exist")
    check_signal_columns(name, columns)
    names = ", ".join(quote(c) for c in columns[:3])
    return f"INSERT INTO {table} ({names}) VALUES (%s, %s, %s)"


_QUOTED_PART = re.compile(r'"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|([^."`]+)')


class Collection:
    """A ``data-collections`` entry: a regular expression a table's ``<ns>.<table>`` matches
    whole, or else, as Debezium's (TableId.parse), the name it spells with its parts quoted
    (``public."Mixed"``, ``db.`Mixed```)."""

    def __init__(self, entry: str) -> None:
        self.pattern = re.compile(entry)
        parts, pos = [], 0
        while pos < len(entry):
            m = _QUOTED_PART.match(entry, pos)
            if m is None:
                break
            parts.append(
                m[1].replace('""', '"') if m[1] is not None
                else m[2].replace("``", "`") if m[2] is not None else m[3]
            )  # fmt: skip
            pos = m.end()
            if pos < len(entry) and entry[pos] == ".":
                pos += 1
            elif pos < len(entry):
                break
        quoted = '"' in entry or "`" in entry
        self.name = ".".join(parts) if pos >= len(entry) and quoted else None

    def matches(self, table: str) -> bool:
        return bool(self.pattern.fullmatch(table)) or table == self.name


def send_signal(
    collection: str,
    kind: str,
    data: Mapping[str, Any],
    quote: Callable[[str], str],
    insert: Callable[[str, tuple[str, str, str]], object],
    errors: type[Exception],
    columns: Callable[[str, str], Sequence[str]],
) -> str:
    """Write a signal hub sends (the console, ``POST .../signals``) as a row of the signal
    table ``collection`` (``schema.table``, quoted with the source's ``quote``) through
    ``insert(sql, row)``; its id. ``columns(schema, table)``: the table's first three
    columns' names. ``errors``: the driver's, for a table that refuses it."""
    from hub.errors import ConfigError, describe

    if not collection:
        raise ConfigError(
            "set signal.data.collection (a table whose first three columns, text, hold a "
            "signal's id, type and data) for "
            "signals such as incremental snapshots"
        )
    first, _, second = collection.partition(".")
    row = (f"hub-{uuid.uuid4().hex[:16]}", kind, json.dumps(dict(data)))
    try:
        table = f"{quote(first)}.{quote(second)}"
        insert(signal_insert(table, columns(first, second), quote), row)
    except (errors, ValueError) as exc:  # (no such table, no INSERT privilege)
        raise ConfigError(
            f"cannot write the signal into {collection} (signal.data.collection): {describe(exc)}"
        ) from None
    return row[0]


@dataclass
class Chunk:
    """One chunk read between watermarks: its table's schema (the connector's), each row by
    its key (as `IncrementalPort.key_of` gives a streamed row's), the read cursor after it
    (JSON, the key of its last row), the key the cursor is of (`key_signature`), and the
    key the table's snapshot ends at (the cursor's form)."""

    schema: Any
    rows: dict[Hashable, Any]
    after: list[Any] | None
    key: list[str]
    until: list[Any] | None = None  # the table's last key when its snapshot began
    # the transactions the read's snapshot did not see (where the source can tell: see
    # `IncrementalSnapshot.committed`), and whether one of them had committed before the
    # open watermark, hiding a change the stream had already sent from the read
    running: Hidden | None = None
    stale: bool = False
    # the table's columns as the read saw them (`IncrementalPort.shape`): changed by the
    # close watermark, the chunk is read again (Debezium re-reads it too)
    shape: Hashable | None = None


# reads of one chunk before its table is left out (`IncrementalSnapshot._next_chunk`)
READ_ATTEMPTS = 3


def _collections(doc: Any) -> list[Any]:
    """A signal's ``data-collections``: a list (a string, read as one, would be read
    character by character; Debezium's reads no list either)."""
    given = doc.get("data-collections") or []
    if not isinstance(given, list):
        raise ValueError(f"data-collections must be a list of names, not {given!r}")
    return given


@dataclass(frozen=True)
class Hidden:
    """The transactions a database snapshot does not see: those it lists as running, and
    every one from ``horizon`` on (PostgreSQL's xip and xmax: 32-bit ids, compared modulo
    2^32 as the server compares them)."""

    listed: frozenset[int] = frozenset()
    horizon: int | None = None

    def hides(self, xid: int) -> bool:
        if xid in self.listed:
            return True
        h = self.horizon
        return h is not None and ((xid - h) & 0xFFFFFFFF) < 0x80000000


def key_signature(columns: Sequence[tuple[str, str]]) -> list[str]:
    """A primary key as the cursor stores it: each column's name and type."""
    return [f"{name} {type_}" for name, type_ in columns]


def chunk_bounds(
    table: str,
    after: list[Any] | None,
    held: list[str] | None,
    key: list[str],
    until: list[Any] | None,
    last: Callable[[], list[Any] | None],
) -> tuple[list[Any] | None, list[Any]] | None:
    """The bounds of ``table``'s next chunk, (after, until), for `IncrementalPort.read`;
    None when the table has no row (to read) at all.

    ``after`` is kept if it is a cursor of ``key`` (the table's primary key now), else the
    table is read again from its first row: a cursor of another key had been compared with
    the new one's values, skipping rows for good (a key moved to another column), or failed
    the chunk's query at every start (a key widened). ``held`` None: a cursor stored before
    keys were, trusted when it has as many values as the key columns. Without a cursor or
    ``until``, ``until`` is ``last()``: the table's largest key now."""
    if after is not None and not (held == key or (held is None and len(after) == len(key))):
        log.warning(
            "incremental snapshot of %s: its primary key changed since the last chunk (%s, "
            "now %s: its columns, their types or collations): reading the table again from "
            "its first row", table,
            ", ".join(held) if held else f"{len(after)} column(s)", ", ".join(key),
        )  # fmt: skip
        after = None
    if after is None or until is None:  # (the table's first chunk, or its key changed)
        until = last()
        if until is None:
            return None
    return after, until


def watermark_refused(signal: str, said: str) -> Exception:
    """The error of a watermark the database refused to the connector's user: a privilege it
    lacks, which retrying does not give (it had been retried for ever)."""
    from hub.errors import ConfigError

    return ConfigError(
        f"signal.data.collection: the connector's user may not write the incremental "
        f"snapshot's watermarks into {signal} ({said}): GRANT INSERT ON {signal} TO it"
    )


# streamed commits remembered before the ones that ended are looked up and forgotten
_FORGET_AT = 4096


class IncrementalPort(Protocol):
    """What the algorithm needs from a source."""

    def tables(self) -> dict[str, bool]:
        """The captured tables (qualified names as users write them in signals), each with
        whether it has a primary key."""

    def watermark(self, ident: str, kind: str) -> None:
        """Insert a watermark row into the signal table and commit it."""

    def read(
        self,
        table: str,
        after: list[Any] | None,
        key: list[str] | None,
        limit: int,
        condition: str | None = None,
        until: list[Any] | None = None,
    ) -> Chunk | None:
        """Up to ``limit`` rows of ``table`` with a key above ``after`` (a cursor of ``key``)
        and at most ``until`` (see `chunk_bounds`) and, with ``condition``, for which that SQL
        expression holds, in key order; None when there are none (or the table is gone).
        Without ``after`` or ``until`` (a table's first chunk, or its key changed), ``until``
        is the table's last key now, as Debezium's maximum key: rows written later are
        streamed, and a table written faster than it is read still ends."""

    def shape(self, table: str) -> Hashable | None:
        """The table's columns now (names and types, comparable to a chunk's ``shape``);
        None when it is gone."""

    def check_condition(self, table: str, condition: str) -> str | None:
        """Why the database refuses ``condition`` as a filter of ``table``; None if it takes
        it (a signal's filter is checked once, not at every chunk and start)."""

    def key_of(self, schema: Any, values: Sequence[Any]) -> Hashable:
        """The key of a streamed row of ``schema``'s table, comparable to a chunk's keys."""

    def same_table(self, schema: Any, other: Any) -> bool: ...

    def fill(self, values: Sequence[Any], read: Any) -> Any | None:
        """A streamed row that lacks values (PostgreSQL's unchanged TOASTed ones) with them
        taken from the chunk's ``read`` of the row; None when it lacks none."""

    def query_error(self, exc: BaseException) -> str | None:
        """What the database said, when ``exc`` from `read` is an error of the query (a
        filter failing on a value, a missing privilege, a column a DDL just renamed, a
        cancelled query...), not of the connection (None: the task restarts). A read failing
        so `READ_ATTEMPTS` times in a row leaves its table out."""

    def event(self, schema: Any, values: Any, source: dict[str, Any]) -> tuple[Any, Any]:
        """A read event (key, value) of a chunk's row; ``source`` is the close watermark's
        source block (marked incremental)."""


class IncrementalSnapshot:
    def __init__(
        self,
        port: IncrementalPort,
        chunk_size: int,
        running: Callable[[], Hidden] | None = None,
    ) -> None:
        self.port = port
        self.chunk_size = chunk_size
        # Where a commit is streamed before a snapshot sees it (PostgreSQL: a transaction
        # leaves the running list after its commit record, and one waiting for a
        # synchronous standby only when the wait ends), a chunk read after the open
        # watermark can miss a change committed before it, and emit the older row after
        # the streamed change. Such a source reports each streamed commit (`committed`)
        # and what each chunk's snapshot did not see; a chunk that missed one is read again.
        # ``running`` gives what a snapshot taken now does not see, to forget the others.
        self._running = running
        self._committed: set[int] = set()  # streamed, and maybe not ended at the last read
        self._forget_at = _FORGET_AT
        self._before: tuple[Any, Any, Any] = (None, None, None)  # (after, key, until) read
        self.tables: list[str] = []  # qualified names still to read; the first is current
        self.after: list[Any] | None = None  # the read cursor (last key read)
        self.key: list[str] | None = None  # the key it is of (`key_signature`)
        self.until: list[Any] | None = None  # the last key the current table is read to
        # execute-snapshot's additional-conditions: each queued table's SQL filter of its
        # rows (None: every row), in the order of ``tables`` (a table asked for again is
        # queued again, with the new signal's filter, as Debezium's is)
        self.filters: list[str | None] = []
        # what the offset holds: the tables and the key up to which rows were *emitted*
        self._state: dict[str, Any] | None = None
        self.window: str | None = None
        self.open = False
        self.chunk: Chunk | None = None
        self.rows_emitted = 0
        # pause-snapshot: no new chunk until resume-snapshot (the one in flight finishes);
        # not kept in the offsets: a restarted task goes on
        self.paused = False
        # execute-snapshot of type blocking: the tables to read once the stream has ended
        # the signal's transaction (`take_blocking`); kept in the offset until then
        self.blocking: list[str] = []
        # notification.enabled.channels (the source sets its own); the notifications' id is
        # the execute-snapshot signal's, kept in the offset across restarts, as Debezium's
        self.notifier: Notifier = NO_NOTIFIER
        self._ident: str | None = None
        self._table_rows = 0  # rows emitted of the current table

    # -- state in the offset -------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        state = self._state
        if state is not None and self._ident is not None:  # (the notifications' id)
            state = {**state, "correlation": self._ident}
        if self.blocking:
            return {**(state or {}), "blocking": list(self.blocking)}
        return state

    def take_blocking(self) -> list[str]:
        """The tables a blocking snapshot signalled in the transaction just ended reads:
        the stream stops there, the source snapshots them, then streams on from there."""
        out, self.blocking = self.blocking, []
        return out

    def _emitted(self, after: list[Any] | None) -> None:
        self._state = None
        if self.tables:
            self._state = {"tables": list(self.tables), "after": list(after) if after else None}
            if after and self.key is not None:
                self._state["key"] = list(self.key)
            if self.until is not None:
                self._state["until"] = list(self.until)
            if any(f is not None for f in self.filters):
                self._state["filters"] = list(self.filters)

    def resume(self, state: Mapping[str, Any] | None) -> None:
        if state and isinstance(state.get("blocking"), list):
            self.blocking = [str(t) for t in state["blocking"]]
        if not state or not state.get("tables"):
            return
        self.tables = list(state["tables"])
        after, key = state.get("after"), state.get("key")
        self.after = list(after) if after else None
        self.key = [str(k) for k in key] if isinstance(key, list) else None
        until = state.get("until")
        self.until = list(until) if isinstance(until, list) else None
        filters = state.get("filters")
        if isinstance(filters, list) and len(filters) == len(self.tables):
            self.filters = [None if f is None else str(f) for f in filters]
        else:  # (stored before 2026-12-07: one filter a table)
            by_table = state.get("conditions")
            by_table = by_table if isinstance(by_table, dict) else {}
            self.filters = [None if by_table.get(t) is None else str(by_table[t])
                            for t in self.tables]  # fmt: skip
        correlation = state.get("correlation")
        self._ident = str(correlation) if correlation is not None else None
        self._emitted(self.after)
        log.info("resuming the incremental snapshot at %s after %s", self.tables[0], self.after)
        self._next_chunk()

    @property
    def running(self) -> bool:
        return bool(self.tables)

    # -- commits seen before a snapshot ------------------------------------------------------
    def committed(self, txid: int) -> None:
        """A transaction the stream sent: its commit comes before every watermark still to
        arrive (called only by sources that give their chunks' running transactions)."""
        committed = self._committed
        committed.add(txid)
        if len(committed) > self._forget_at and self._running is not None:
            now = self._running()  # (a transaction seen once is seen by every later snapshot)
            self._committed = committed = {x for x in committed if now.hides(x)}
            self._forget_at = max(_FORGET_AT, 2 * len(committed))

    def _missed(self, chunk: Chunk) -> None:
        """Everything streamed so far committed before the chunk's open watermark: one its
        read did not see made the read miss its change. The others were seen by it, so by
        every later read, and are forgotten."""
        hidden = chunk.running
        if hidden is None:
            return
        missed = {x for x in self._committed if hidden.hides(x)}
        chunk.stale = chunk.stale or bool(missed)
        self._committed = missed

    # -- signals ---------------------------------------------------------------------------
    def on_signal(self, kind: str | None, ident: str | None, data: str | None) -> bool:
        """A row inserted into the signal table; True when a chunk's close watermark arrived
        (call `take` for its rows)."""
        if kind == OPEN:
            if ident == f"{self.window}-open":
                self.open = True
                if self.chunk is not None and self._running is not None:
                    self._missed(self.chunk)  # (what came between the read and here)
            return False
        if kind == CLOSE:
            return ident == f"{self.window}-close" and self.window is not None
        if kind == "execute-snapshot":
            self._execute(ident, data)
        elif kind == "stop-snapshot":
            self._stop(ident, data)
        elif kind == "pause-snapshot" and not self.tables:  # (Debezium's ignores it too)
            log.warning("signal %s: no incremental snapshot runs: nothing to pause", ident)
        elif kind == "pause-snapshot":
            log.info("signal %s: incremental snapshot paused", ident)
            if not self.paused:  # (as Debezium's: a change only)
                self._note("PAUSED", {"data_collections": collections(self.tables)})
            self.paused = True
        elif kind == "resume-snapshot":
            log.info("signal %s: incremental snapshot resumed", ident)
            if self.paused and self.tables:
                self._note("RESUMED", {"data_collections": collections(self.tables)})
            self.paused = False
            if self.tables and self.chunk is None and self.window is None:
                self._next_chunk()
        elif kind == "log":
            try:
                message = json.loads(data or "{}").get("message")
            except (ValueError, AttributeError):
                message = data
            log.info("signal %s: %s", ident, message)
        else:
            log.warning(
                "signal %s: %r is not a signal hub knows (execute-snapshot, stop-snapshot, "
                "pause-snapshot, resume-snapshot, log): ignored", ident, kind,
            )  # fmt: skip
        return False

    def _stop(self, ident: str | None, data: str | None) -> None:
        """``stop-snapshot``: the tables its ``data-collections`` name leave the snapshot;
        without any, the whole snapshot stops (Debezium's)."""
        try:
            doc = json.loads(data or "{}")
            patterns = [Collection(p) for p in _collections(doc)]
        except (ValueError, re.error, TypeError, AttributeError) as exc:
            log.error("signal %s: cannot read its data %r: %s", ident, data, exc)
            return
        gone = [t for t in self.tables if any(p.matches(t) for p in patterns)]
        if patterns and not gone:
            log.warning("signal %s: no table of the incremental snapshot matches %s", ident,
                        doc.get("data-collections"))  # fmt: skip
            return
        if self.tables:
            self._note("ABORTED", {"data_collections": collections(gone or self.tables)})
        if not patterns or len(gone) == len(self.tables):
            log.info("signal %s: incremental snapshot stopped", ident)
            self._ident, self._table_rows = None, 0
            self.tables, self.after, self.window, self.open = [], None, None, False
            self.until = None
            self.chunk = None
            self._state = None
            self.filters = []
            return
        log.info("signal %s: %s left out of the incremental snapshot", ident, ", ".join(gone))
        current = self.tables[0] in gone
        kept = [(t, f) for t, f in zip(self.tables, self.filters, strict=True) if t not in gone]
        self.tables, self.filters = [t for t, _ in kept], [f for _, f in kept]
        if current:  # its chunk is dropped; the next table starts from its first key
            self.after, self.window, self.open, self.chunk = None, None, False, None
            self._table_rows = 0
            self.until = None
            self._emitted(None)
            self._next_chunk()
        else:
            self._restate()

    def _execute(self, ident: str | None, data: str | None) -> None:
        try:
            doc = json.loads(data or "{}")
            patterns = [Collection(p) for p in _collections(doc)]
        except (ValueError, re.error, TypeError, AttributeError) as exc:
            log.error("signal %s: cannot read its data %r: %s", ident, data, exc)
            return
        kind = str(doc.get("type", "incremental")).lower()
        if kind == "blocking":
            self._blocking(ident, doc, patterns)
            return
        if kind != "incremental":
            log.error("signal %s: a snapshot of type %r is not one hub takes (incremental, "
                      "blocking): none started", ident, doc.get("type"))  # fmt: skip
            return
        if doc.get("surrogate-key"):
            log.error("signal %s: surrogate-key is not supported (chunks go by the primary "
                      "key); no snapshot started", ident)  # fmt: skip
            return
        known = self.port.tables()
        chosen = [t for t in known if any(p.matches(t) for p in patterns)]
        conditions = self._conditions(ident, doc.get("additional-conditions"), chosen)
        if conditions is None:
            return
        keyless = [t for t in chosen if not known[t]]
        if keyless:
            log.error("signal %s: %s have no primary key; left out of the incremental "
                      "snapshot", ident, ", ".join(keyless))  # fmt: skip
        if not chosen:
            log.warning(
                "signal %s: no captured table matches %s", ident, doc.get("data-collections")
            )
            return
        self._ident = ident  # (as Debezium's: a signal joining a running snapshot starts
        if not self.tables:  # none; its id names the notifications from now on)
            self._note("STARTED", {"data_collections": collections(chosen)})
        for t in keyless:
            self._scanned(t, "NO_PRIMARY_KEY", 0, [*self.tables, *chosen])
        chosen = [t for t in chosen if t not in keyless]
        if not chosen:
            if not self.tables:
                self._completed()
            return
        log.info(
            "signal %s: incremental snapshot of %s",
            ident,
            ", ".join(
                f"{t} (rows where {conditions[t]})" if t in conditions else t for t in chosen
            ),
        )
        again = [t for t in chosen if t in self.tables]
        if again:
            log.info("signal %s: %s queued again, to be read once more after the reads "
                     "queued before (as Debezium's)", ident, ", ".join(again))  # fmt: skip
        if self.paused:
            log.warning("signal %s: the incremental snapshot is paused: nothing is read until "
                        "a resume-snapshot signal", ident)  # fmt: skip
        idle = not self.tables
        self.tables += chosen
        self.filters += [conditions.get(t) for t in chosen]
        if idle:
            self._emitted(None)
            self._next_chunk()
        else:
            self._restate()

    def _blocking(self, ident: str | None, doc: Mapping[str, Any], patterns: list[Any]) -> None:
        """``execute-snapshot`` of type ``blocking`` (Debezium's ad hoc blocking snapshot):
        the stream stops at the end of the signal's transaction, the tables are read as an
        initial snapshot reads them (tables without a key too), then streaming goes on from
        there (so a change made while they were read may come again after their rows)."""
        if doc.get("additional-conditions"):
            log.error("signal %s: additional-conditions are not supported in a blocking "
                      "snapshot (Debezium's are whole SELECT statements); none started: use "
                      "an incremental snapshot, whose filters are", ident)  # fmt: skip
            return
        chosen = [t for t in self.port.tables() if any(p.matches(t) for p in patterns)]
        if not chosen:
            log.warning(
                "signal %s: no captured table matches %s", ident, doc.get("data-collections")
            )
            return
        log.info("signal %s: blocking snapshot of %s, once this transaction is streamed "
                 "(streaming waits until they are read)", ident, ", ".join(chosen))  # fmt: skip
        self.blocking += [t for t in chosen if t not in self.blocking]

    def _restate(self) -> None:
        """The stored state's tables and their filters, after a signal changed them (its
        cursor stays the one emitted): a restart before the chunk in flight closed had read
        a table a second signal added without its filter."""
        state = self._state
        if state is None:
            return
        state["tables"] = list(self.tables)
        state.pop("conditions", None)
        if any(f is not None for f in self.filters):
            state["filters"] = list(self.filters)
        else:
            state.pop("filters", None)

    def _conditions(
        self, ident: str | None, given: Any, chosen: list[str]
    ) -> dict[str, str] | None:
        """``additional-conditions`` (Debezium's: ``[{"data-collection": "<regex>", "filter":
        "<SQL expression>"}]``) as table -> filter for the ``chosen`` tables; None (logged)
        when one cannot be used: the signal is refused whole rather than widened to every
        row, or a filter the database refuses left to fail every chunk and start."""
        if not given:
            return {}
        out: dict[str, str] = {}
        try:
            for entry in given:
                pattern = Collection(str(entry["data-collection"]))
                condition = str(entry["filter"]).strip()
                if not condition:
                    raise ValueError("an empty filter")
                for t in chosen:
                    if pattern.matches(t):
                        out[t] = f"({out[t]}) AND ({condition})" if t in out else condition
        except (TypeError, KeyError, ValueError, re.error) as exc:
            log.error('signal %s: cannot read additional-conditions %r (a list of '
                      '{"data-collection": ..., "filter": ...}: %s): no snapshot started',
                      ident, given, exc)  # fmt: skip
            return None
        for t, condition in out.items():
            problem = self.port.check_condition(t, condition)
            if problem is not None:
                log.error("signal %s: the filter %r of %s is refused by the database (%s): "
                          "no snapshot started", ident, condition, t, problem)  # fmt: skip
                return None
        return out

    # -- chunks ----------------------------------------------------------------------------
    def _next_chunk(self) -> None:
        """Read the next chunk between a fresh pair of watermarks (none while paused)."""
        if self.paused:
            self.window, self.chunk = None, None
            # (a look-up `shape` keeps for the next chunk's `tables` is dropped: a later one
            # must look again, or a table made meanwhile is not known)
            self.port.tables()
            return
        failures, failing = 0, None  # the reads of ``failing`` that failed, in a row
        while self.tables:
            table = self.tables[0]
            if table != failing:
                failures, failing = 0, table
            if not self.port.tables().get(table):
                self._scanned(table, "UNKNOWN_SCHEMA", self._table_rows)
                self._next_table()  # dropped (or keyless) since
                continue
            self.window = uuid.uuid4().hex
            self.open = False
            self.port.watermark(f"{self.window}-open", OPEN)
            self._before = (self.after, self.key, self.until)
            try:
                chunk = self.port.read(
                    table, self.after, self.key, self.chunk_size, self.filters[0], self.until
                )
            except Exception as exc:
                problem = self.port.query_error(exc)
                if problem is None:
                    raise  # (a lost connection: the task restarts and reads it again)
                self.window = None
                failures += 1
                if failures < READ_ATTEMPTS:  # (a DDL between the catalog's look-up and the
                    # read, a cancelled query, a deadlock: the next read, of the catalog too,
                    # goes through)
                    log.warning("incremental snapshot of %s: its read failed (%s): reading "
                                "it again", table, problem)  # fmt: skip
                    time.sleep(0.1 * failures)
                    continue
                # (as Debezium's: the table is left, the stream and the others go on; a
                # task failing here again at every restart held every table's changes back)
                log.error("incremental snapshot of %s: its read failed %d times (%s): the "
                          "table is left out; signal execute-snapshot again once the cause "
                          "is fixed", table, failures, problem)  # fmt: skip
                self._scanned(table, "SQL_EXCEPTION", self._table_rows)
                self._next_table()
                continue
            self.port.watermark(f"{self.window}-close", CLOSE)
            if chunk is None or not chunk.rows:
                log.info("incremental snapshot of %s done", table)
                self.window = None
                empty = self._table_rows == 0 and self.after is None
                self._scanned(table, "EMPTY" if empty else "SUCCEEDED", self._table_rows)
                self._next_table()
                continue
            if self._running is not None:
                self._missed(chunk)  # (what the stream sent before the read)
            self.chunk = chunk
            self.after, self.key, self.until = chunk.after, chunk.key, chunk.until
            self._note("IN_PROGRESS", {
                "data_collections": collections(self.tables),
                "current_collection_in_progress": table,
                "maximum_key": _first(self.until), "last_processed_key": _first(self.after),
            })  # fmt: skip
            return
        self.window = None
        self.chunk = None
        self._state = None

    def _next_table(self) -> None:
        """The current table is done with (read, gone, or failed): on to the next."""
        self.tables.pop(0)
        self.filters.pop(0)
        self.after, self.key, self.until = None, None, None
        self._table_rows = 0
        self._emitted(None)
        if not self.tables:
            self._completed()

    # -- notifications ---------------------------------------------------------------------
    def _note(self, kind: str, data: Mapping[str, str]) -> None:
        self.notifier.notify(INCREMENTAL, kind, data, self._ident)

    def _scanned(
        self, table: str, status: str, rows: int, tables: Sequence[str] | None = None
    ) -> None:
        self._note("TABLE_SCAN_COMPLETED", {
            "data_collections": collections(self.tables if tables is None else tables),
            "scanned_collection": table, "total_rows_scanned": str(rows), "status": status,
        })  # fmt: skip

    def _completed(self) -> None:
        self._note("COMPLETED", {})
        self._ident = None

    def on_change(
        self, schema: Any, values: Sequence[Any], old: Sequence[Any] | None = None
    ) -> None:
        """A streamed change (emitted) to ``schema``'s table: inside an open window, its row
        is newer than the chunk's read of it. One the stream could not give whole (an
        unchanged TOASTed value PostgreSQL leaves out: `IncrementalPort.fill`) takes the
        missing values from the read, which then stays in the chunk, as the row now is (the
        sink may have no row to keep them from: dropped, the read was their only copy)."""
        chunk = self.chunk
        if not self.open or chunk is None or not self.port.same_table(schema, chunk.schema):
            return
        key = self.port.key_of(schema, values)
        read = chunk.rows.get(key)
        whole = self.port.fill(values, read) if read is not None else None
        if whole is not None:
            chunk.rows[key] = whole
        else:
            chunk.rows.pop(key, None)
        if old is not None:
            old_key = self.port.key_of(schema, old)
            if old_key != key:
                chunk.rows.pop(old_key, None)

    def on_truncate(self, schema: Any) -> None:
        chunk = self.chunk
        if self.open and chunk is not None and self.port.same_table(schema, chunk.schema):
            chunk.rows.clear()

    def take(self, source: dict[str, Any]) -> tuple[Any, list[tuple[Any, Any]]]:
        """At the close watermark: the chunk's remaining rows as (key, value), then on to the
        next chunk. ``source`` is the close watermark's source block."""
        chunk = self.chunk
        assert chunk is not None
        table = self.tables[0] if self.tables else "?"
        if not chunk.stale and chunk.shape is not None:
            now = self.port.shape(table)
            if now is not None and now != chunk.shape:  # (gone: the next chunk sees to it)
                log.info("incremental snapshot of %s: its columns changed while the chunk "
                         "after %s was read: reading it again", table, self._before[0])  # fmt: skip
                chunk.stale = True
        elif chunk.stale:
            log.info("incremental snapshot of %s: a transaction committed before the chunk "
                     "after %s was not yet visible to its read: reading it again",
                     table, self._before[0])  # fmt: skip
        if chunk.stale:
            self.chunk = None
            self.open = False
            self.after, self.key, self.until = self._before
            self._next_chunk()
            return chunk.schema, []
        source = {**source, "snapshot": "incremental"}
        out = [self.port.event(chunk.schema, values, source) for values in chunk.rows.values()]
        self.rows_emitted += len(out)
        self._table_rows += len(out)
        self.chunk = None
        self.open = False
        self._emitted(self.after)  # rows up to the chunk's last key are out
        self._next_chunk()
        return chunk.schema, out


def _first(key: Sequence[Any] | None) -> str:
    """A key's first value as Debezium's notifications give it (``<null>``: none)."""
    return "<null>" if not key or key[0] is None else str(key[0])
