"""A minimal reader of a logical replication stream (``START_REPLICATION ... LOGICAL``).

Why psycopg 3's low-level ``pgconn`` and not psycopg2's ``LogicalReplicationConnection`` or
``pg_recvlogical``: psycopg 3 is the driver the connector uses for everything else (queries,
snapshots), and it has no replication API, but its libpq wrapper does speak COPY_BOTH.
Measured on a 200k-row insert in one transaction (FACTS.md): psycopg2 0.98 s, psycopg 3
low-level 1.11 s, ``pg_recvlogical`` 1.18 s. The server's decoding is the ceiling, so the
small gap does not justify a second driver.

Usage::

    conn = psycopg.connect(dsn, replication="database", autocommit=True)
    stream = ReplicationStream(conn, "slot", publications=["pub"])
    stream.start()
    for wal_start, wal_end, payload in stream:
        msg = pgoutput.decode(payload)
        ...
        stream.send_feedback(commit.end_lsn)   # after the change is durably handled

After ``start()`` the connection is in COPY_BOTH mode and must not run queries; close it to
end replication. Not thread-safe: one thread owns a stream and its connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from connectors.source.postgres.protocol.basics import readable
from connectors.source.postgres.protocol.pgoutput import (
    _XLOGDATA_HEADER,
    PrimaryKeepalive,
    XLogData,
    decode_copy_data,
    encode_standby_status,
    lsn_to_str,
    str_to_lsn,
)
from hub.errors import ConfigError, TransientError

if TYPE_CHECKING:
    import psycopg

__all__ = ["ReplicationStream", "ReplicationStreamError", "create_logical_slot"]


class ReplicationStreamError(TransientError):
    """The replication connection failed or ended; reconnecting may succeed."""


def create_logical_slot(
    conn: psycopg.Connection[tuple[object, ...]],
    slot: str,
    *,
    export: bool = False,
    temporary: bool = False,
) -> tuple[int, str | None]:
    """Create a logical ``pgoutput`` slot over a replication connection; return its
    consistent point (the LSN from which it will stream) and, with ``export``, the name of
    the snapshot it exported: a transaction that runs ``SET TRANSACTION SNAPSHOT`` with it
    sees the database exactly at the consistent point. The export lasts until the next
    command on ``conn``; a ``temporary`` slot, until ``conn`` closes."""
    mode = "export" if export else "nothing"
    temp = " TEMPORARY" if temporary else ""
    row = conn.execute(
        f"CREATE_REPLICATION_SLOT \"{slot}\"{temp} LOGICAL pgoutput (SNAPSHOT '{mode}')"
    ).fetchone()
    if row is None:
        raise ReplicationStreamError(f"CREATE_REPLICATION_SLOT {slot} returned no row")
    return str_to_lsn(str(row[1])), (str(row[2]) if export and row[2] else None)


def _xlog_reader(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[Any, list[int]]:
    """(``_rowcodec.read_xlog``, the libpq functions it calls) for ``conn``, or (None, [])
    without the C module or a libpq that agrees with psycopg's (see copyout.py)."""
    try:
        from connectors.source.postgres._rowcodec import read_xlog  # type: ignore[import-not-found]
        from connectors.source.postgres.copyout import libpq_functions

        fns = libpq_functions(conn, "PQgetCopyData", "PQfreemem", "PQconsumeInput")
    except Exception:  # noqa: BLE001 - any failure: messages read one by one instead
        return None, []
    return (read_xlog, fns) if fns is not None else (None, [])


class ReplicationStream:
    """Reads XLogData from a slot, answers keepalives, and reports the flushed position.

    ``proto_version`` 2 with ``streaming=True`` lets the server stream large in-progress
    transactions; ``messages=True`` includes ``pg_logical_emit_message`` records. A standby
    status update is sent whenever the server asks for one and at least every
    ``status_interval`` seconds, always carrying the last position given to `send_feedback`.
    """

    def __init__(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        slot: str,
        publications: Sequence[str],
        *,
        start_lsn: int = 0,
        proto_version: int = 1,
        messages: bool = False,
        streaming: bool = False,
        status_interval: float = 10.0,
    ) -> None:
        self._conn = conn
        self._pgconn = conn.pgconn
        self.slot = slot
        self.publications = tuple(publications)
        self.start_lsn = start_lsn
        self.proto_version = proto_version
        self.messages = messages
        self.streaming = streaming
        self.status_interval = status_interval
        self.received_lsn = start_lsn  # highest WAL end seen
        # the server's sent position from its last keepalive: every transaction committed
        # before it that the publication covers was sent before that keepalive
        self.keepalive_lsn = 0
        self.flushed_lsn = start_lsn  # last position the caller confirmed
        self._last_status = 0.0
        self._held: PrimaryKeepalive | None = None  # read_batch: a keepalive to handle next
        self._end_status = 0  # read_batch: PQgetCopyData's end, once the batch is handled
        self._read_xlog, self._libpq = _xlog_reader(conn)

    def start(self) -> None:
        """Send ``START_REPLICATION`` and enter COPY_BOTH mode."""
        from psycopg import pq

        pubs = ",".join(self.publications).replace("'", "''")
        options = [f"proto_version '{self.proto_version}'", f"publication_names '{pubs}'"]
        if self.messages:
            options.append("messages 'true'")
        if self.streaming:
            options.append("streaming 'on'")
        command = (
            f'START_REPLICATION SLOT "{self.slot}" LOGICAL {lsn_to_str(self.start_lsn)} '
            f"({', '.join(options)})"
        )
        self._pgconn.send_query(command.encode())
        result = self._pgconn.get_result()
        if result is None or result.status != pq.ExecStatus.COPY_BOTH:
            error = result.error_message.decode(errors="replace") if result else "no result"
            raise ReplicationStreamError(f"START_REPLICATION on slot {self.slot} failed: {error}")
        self._last_status = time.monotonic()

    def read(self, timeout: float | None = None) -> XLogData | None:
        """Return the next XLogData, or ``None`` if none arrived within ``timeout`` seconds.

        Keepalives are handled here and never returned.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pgconn = self._pgconn
        checked = False  # one look at the socket even when the timeout is 0
        while True:
            n, data = pgconn.get_copy_data(1)  # non-blocking: 0 means "nothing buffered yet"
            if n > 0:  # (read_change has the hot path's shortcut for XLogData)
                msg = decode_copy_data(data)
                if isinstance(msg, XLogData):
                    if msg.wal_end > self.received_lsn:
                        self.received_lsn = msg.wal_end
                    self._maybe_send_status()
                    return msg
                self._on_keepalive(msg)
                continue
            if n < 0:
                self._ended(n)
            self._maybe_send_status()
            wait = self.status_interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    if checked:
                        return None
                    wait, checked = 0, True
            if readable(pgconn.socket, wait):
                pgconn.consume_input()

    def read_change(self, timeout: float | None = None) -> tuple[int, bytes] | None:
        """`read` as ``(wal_start, payload)``, cheaper per message (the hot path)."""
        pgconn = self._pgconn
        n, data = pgconn.get_copy_data(1)
        if n > 25 and data[0] == 0x77:  # 'w': XLogData
            start, end, _ = _XLOGDATA_HEADER.unpack_from(data, 1)
            if end > self.received_lsn:
                self.received_lsn = end
            if time.monotonic() - self._last_status >= self.status_interval:
                self._send_status()
            return start, bytes(data[25:])
        if n > 0:
            first = decode_copy_data(data)
            if isinstance(first, XLogData):
                if first.wal_end > self.received_lsn:
                    self.received_lsn = first.wal_end
                return first.wal_start, first.payload
            self._on_keepalive(first)
        elif n < 0:
            self._ended(n)
        msg = self.read(timeout)
        return None if msg is None else (msg.wal_start, msg.payload)

    def read_batch(self, max_msgs: int, timeout: float) -> tuple[Sequence[int], list[bytes]]:
        """Up to ``max_msgs`` XLogData at once, as (their WAL starts, their payloads): what
        is buffered, or else the first to arrive within ``timeout`` seconds (both empty
        when none did). Keepalives are handled here, each after the messages before it.

        With the C module, ``_rowcodec.read_xlog`` reads them from libpq in one call (one
        Python call a batch instead of a few per message: ~0.6 µs of ~3 µs an event);
        otherwise `read_change` reads them one by one."""
        if self._held is not None:  # a keepalive that came after the last batch's messages
            held, self._held = self._held, None
            self._on_keepalive(held)
        if self._end_status:
            self._ended(self._end_status)
        if self._read_xlog is None:
            return self._read_batch_slowly(max_msgs, timeout)
        pgconn = self._pgconn
        deadline = time.monotonic() + timeout
        checked = False  # one look at the socket even when the timeout is 0
        while True:
            starts, payloads, wal_end, other, status = self._read_xlog(
                pgconn.pgconn_ptr,  # type: ignore[attr-defined]
                *self._libpq,
                max_msgs,
            )
            if wal_end > self.received_lsn:
                self.received_lsn = wal_end
            if other is not None:
                msg = decode_copy_data(other)
                if not isinstance(msg, PrimaryKeepalive):
                    raise ReplicationStreamError(
                        f"unexpected message {other[:1]!r} on slot {self.slot}"
                    )
                if payloads:
                    self._held = msg
                else:
                    self._on_keepalive(msg)
            if status < 0:
                if not payloads:
                    self._ended(status)
                self._end_status = status  # raised once these are handled
            self._maybe_send_status()
            if payloads:
                return memoryview(starts).cast("q"), payloads
            if other is not None:
                continue  # more may be buffered behind the keepalive
            wait = min(self.status_interval, deadline - time.monotonic())
            if wait <= 0:
                if checked:
                    return (), []
                wait, checked = 0, True
            if readable(pgconn.socket, wait):
                pgconn.consume_input()

    def _read_batch_slowly(
        self, max_msgs: int, timeout: float
    ) -> tuple[Sequence[int], list[bytes]]:
        starts: list[int] = []
        payloads: list[bytes] = []
        while len(payloads) < max_msgs:
            got = self.read_change(0 if payloads else timeout)
            if got is None:
                break
            starts.append(got[0])
            payloads.append(got[1])
        return starts, payloads

    def ping(self, interval: float = 1.0) -> None:
        """A status update, unless one went out in the last ``interval`` seconds: the
        server's ``wal_sender_timeout`` counts from our last message, and a caller busy
        with something else (replaying a spilled transaction) reads nothing meanwhile."""
        if time.monotonic() - self._last_status >= interval:
            self._send_status()

    def _ended(self, n: int) -> NoReturn:
        """Raise for get_copy_data's -1 (the server ended the COPY: its reason, an error
        from the decoding, follows as the COPY's result) or -2 (an error)."""
        if n == -1:
            reason = self._final_error()
            if "publication" in reason and "does not exist" in reason:
                # (pgoutput reads the publication as the catalog was at the WAL it decodes:
                # one made, or named by publication.name, after that point is not there)
                raise ConfigError(
                    f"replication on slot {self.slot}: the server says: {reason}. The "
                    "publication did not exist at the WAL position the slot resumes from (it "
                    "was made later: publication.name was changed, or the publication was "
                    "dropped and made again), and PostgreSQL cannot decode the changes before "
                    "it with it: if publication.name was changed, set it back to the one the "
                    "slot was read with; otherwise start over (drop the slot; "
                    "snapshot.mode=when_needed then takes a new snapshot)"
                )
            raise ReplicationStreamError(
                f"the server ended replication on slot {self.slot}"
                + (f": {reason}" if reason else "")
            )
        error = self._pgconn.error_message.decode(errors="replace")
        raise ReplicationStreamError(f"replication on slot {self.slot} failed: {error}")

    def _final_error(self) -> str:
        """The error the server ended the COPY with (its primary message), or ""."""
        try:
            result = self._pgconn.get_result()
        except Exception:  # noqa: BLE001 - the connection is gone: no reason to read
            return ""
        if result is None:
            return ""
        from psycopg.pq import DiagnosticField

        primary = result.error_field(DiagnosticField.MESSAGE_PRIMARY)
        if primary:
            return bytes(primary).decode(errors="replace")
        text = (result.error_message or b"").decode(errors="replace").strip()
        return text.removeprefix("ERROR:").strip().split("\n")[0]

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        """Yield ``(wal_start, wal_end, payload)`` for each XLogData, blocking between them."""
        while True:
            msg = self.read()
            if msg is not None:
                yield msg.wal_start, msg.wal_end, msg.payload

    def send_feedback(self, flush_lsn: int, *, reply: bool = False) -> None:
        """Report everything up to ``flush_lsn`` as durably handled and send it now.

        The server advances the slot's ``confirmed_flush_lsn`` to it (never backwards here:
        a smaller value than already reported is ignored).
        """
        if flush_lsn > self.flushed_lsn:
            self.flushed_lsn = flush_lsn
        self._send_status(reply=reply)

    def close(self) -> None:
        """End replication by closing the connection (the slot stays)."""
        self._conn.close()

    def _on_keepalive(self, msg: PrimaryKeepalive) -> None:
        if msg.wal_end > self.received_lsn:
            self.received_lsn = msg.wal_end
        if msg.wal_end > self.keepalive_lsn:
            self.keepalive_lsn = msg.wal_end
        if msg.reply_requested:
            self._send_status()

    def _maybe_send_status(self) -> None:
        if time.monotonic() - self._last_status >= self.status_interval:
            self._send_status()

    def _send_status(self, *, reply: bool = False) -> None:
        flushed = self.flushed_lsn
        status = encode_standby_status(
            max(self.received_lsn, flushed), flushed, flushed, reply=reply
        )
        if self._pgconn.put_copy_data(status) != 1 or self._pgconn.flush() < 0:
            error = self._pgconn.error_message.decode(errors="replace")
            raise ReplicationStreamError(f"could not send status on slot {self.slot}: {error}")
        self._last_status = time.monotonic()
