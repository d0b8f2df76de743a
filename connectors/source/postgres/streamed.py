"""Large transactions the server streams before they commit (pgoutput protocol 2,
``streaming 'on'``; the connector's ``pgoutput.streaming``).

With streaming, a transaction that outgrows the server's ``logical_decoding_work_mem`` is sent
in blocks as it happens (Stream Start ... Stream Stop, each message tagged with its
(sub)transaction's xid), interleaved with other transactions, and settled later by Stream
Commit or Stream Abort. The server no longer spills it to its own disk; it may still abort.
So hub spills it instead: each streamed transaction's messages go to a temporary file as
they arrive, and at Stream Commit they come back as a regular transaction (Begin, the
messages without their xid, Commit), which the stream handles exactly like one the server
sent whole. Events therefore never include changes of a transaction or subtransaction that
aborted, come in commit order, and keep the offsets of the unstreamed path (commit LSN,
message number), so a restart resumes the same way: after a reconnect the server streams an
unfinished transaction again from its first message.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from typing import IO

from connectors.source.postgres.protocol import pgoutput as pg

_ENTRY = struct.Struct(">IQI")  # (sub)transaction xid, WAL position, payload length
_XID = struct.Struct(">I")
_BEGIN = struct.Struct(">cqqI")  # 'B', final LSN, commit time, xid
_COMMIT = struct.Struct(">cBqqq")  # 'C', flags, commit LSN, end LSN, commit time


class _Spill:
    __slots__ = ("file", "starts", "messages", "size")

    def __init__(self) -> None:
        # closed by StreamedTransactions (commit, abort, close)
        self.file: IO[bytes] = tempfile.TemporaryFile(prefix="hub-pg-streamed-")  # noqa: SIM115
        # subtransaction xid -> (file size, messages) before its first tagged message
        self.starts: dict[int, tuple[int, int]] = {}
        self.messages = 0
        self.size = 0


class StreamedTransactions:
    def __init__(self) -> None:
        self._spills: dict[int, _Spill] = {}
        self.current: int | None = None  # the transaction of the open Stream Start block

    def start(self, msg: pg.StreamStart) -> None:
        if msg.first_segment:
            old = self._spills.pop(msg.xid, None)
            if old is not None:
                old.file.close()
            self._spills[msg.xid] = _Spill()
        elif msg.xid not in self._spills:
            raise pg.PgOutputError(
                f"a stream block of transaction {msg.xid} whose first block was never seen",
                kind="S",
            )
        self.current = msg.xid

    def stop(self) -> None:
        self.current = None

    def add(self, payload: bytes, lsn: int) -> None:
        """A message inside the open block: ``kind, xid, rest`` is kept as ``kind, rest``."""
        assert self.current is not None
        if len(payload) < 5:
            raise pg.PgOutputError("a streamed message without its xid", kind=chr(payload[0]))
        spill = self._spills[self.current]
        xid = _XID.unpack_from(payload, 1)[0]
        if xid != self.current and xid not in spill.starts:
            spill.starts[xid] = (spill.size, spill.messages)
        body = payload[:1] + payload[5:]
        spill.file.write(_ENTRY.pack(xid, lsn, len(body)))
        spill.file.write(body)
        spill.messages += 1
        spill.size += _ENTRY.size + len(body)

    def abort(self, msg: pg.StreamAbort) -> None:
        spill = self._spills.get(msg.xid)
        if spill is None:
            return  # nothing of it was streamed to us (or it was already dropped)
        if msg.subxid == msg.xid:
            del self._spills[msg.xid]
            spill.file.close()
            return
        # a rolled-back savepoint: everything from its first message on goes, as the
        # server's own apply worker does it. Position, not tag: a transactional logical
        # message carries the top-level xid even inside a savepoint (one sent before the
        # savepoint's first row change cannot be told from the transaction's own; protocol
        # 2 says no more). The abort comes before anything decoded after it.
        start = spill.starts.get(msg.subxid)
        if start is None:
            return  # none of its messages were streamed
        spill.size, spill.messages = start
        spill.file.seek(spill.size)
        spill.file.truncate()
        spill.starts = {x: p for x, p in spill.starts.items() if p[0] < spill.size}

    def commit(self, msg: pg.StreamCommit) -> Iterator[tuple[bytes, int]]:
        """(payload, WAL position) of the committed transaction as a regular one, read back
        lazily from its file (a poll takes what it can hold)."""
        spill = self._spills.pop(msg.xid, None)
        if spill is None:
            raise pg.PgOutputError(
                f"Stream Commit of transaction {msg.xid} whose messages were never seen",
                kind="c",
            )
        return self._replay(spill, msg)

    @staticmethod
    def _replay(spill: _Spill, msg: pg.StreamCommit) -> Iterator[tuple[bytes, int]]:
        try:
            yield _BEGIN.pack(b"B", msg.commit_lsn, msg.commit_time, msg.xid), msg.commit_lsn
            f = spill.file
            f.flush()
            f.seek(0)
            for _ in range(spill.messages):
                _, lsn, n = _ENTRY.unpack(f.read(_ENTRY.size))
                yield f.read(n), lsn
            yield (
                _COMMIT.pack(b"C", msg.flags, msg.commit_lsn, msg.end_lsn, msg.commit_time),
                msg.commit_lsn,
            )
        finally:
            spill.file.close()

    def close(self) -> None:
        for spill in self._spills.values():
            spill.file.close()
        self._spills.clear()
        self.current = None
