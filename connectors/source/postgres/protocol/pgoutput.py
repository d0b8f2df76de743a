"""Decoding of PostgreSQL's ``pgoutput`` logical replication messages, protocol versions 1 and 2.

Three layers of the replication stream live here:

* LSN helpers: an LSN is a 64-bit WAL position, written ``"16/B374D848"`` (high and low 32
  bits in upper-case hex).
* The COPY_BOTH framing of ``START_REPLICATION``: the server sends XLogData (``w``: Int64 WAL
  start, Int64 WAL end, Int64 send time, then one pgoutput message) and primary keepalives
  (``k``: Int64 WAL end, Int64 send time, Byte1 reply-requested); the client sends standby
  status updates (``r``: Int64 written, flushed and applied positions, Int64 client time,
  Byte1 reply-requested).
* The pgoutput messages themselves (`decode`). All integers are big-endian; strings are
  NUL-terminated UTF-8; times are microseconds since 2000-01-01 00:00 UTC. In protocol 2,
  messages sent between Stream Start and Stream Stop (Relation, Type, Insert, Update, Delete,
  Truncate, Message) carry the Int32 xid of the streamed transaction after the type byte;
  the caller tracks that state and passes ``streaming=True``.

Values in a TupleData are ``None`` (``n``: SQL NULL), `UNCHANGED_TOAST` (``u``: an
out-of-line value the change did not touch, so the server did not send it), or the raw
``bytes`` of the text (``t``) or binary (``b``) representation; ``TupleData.kinds`` keeps the
kind letters so text and binary can be told apart.

Malformed input (truncated, unknown type byte, bad UTF-8, trailing bytes) raises
`PgOutputError`, never ``IndexError`` or ``struct.error``. Decoding is pure and thread-safe.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from connectors.source.postgres.protocol.basics import (
    UNCHANGED_TOAST,
    _UnchangedToast,
    lsn_to_str,
    str_to_lsn,
)
from hub.errors import FatalError

__all__ = [
    "UNCHANGED_TOAST",
    "Begin",
    "Column",
    "Commit",
    "Delete",
    "Insert",
    "LogicalMessage",
    "Message",
    "Origin",
    "PgOutputError",
    "PrimaryKeepalive",
    "Relation",
    "StreamAbort",
    "StreamCommit",
    "StreamStart",
    "StreamStop",
    "Truncate",
    "TupleData",
    "Type",
    "Update",
    "XLogData",
    "decode",
    "decode_copy_data",
    "encode_standby_status",
    "lsn_to_str",
    "now_pg_micros",
    "pg_micros_to_datetime",
    "str_to_lsn",
]

PG_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_UNIX_MICROS: Final = 946_684_800_000_000


class PgOutputError(FatalError, ValueError):
    """A replication message could not be decoded: the stream is corrupt or not pgoutput.

    ``kind`` is the message type byte as a character (``""`` if the buffer was empty) and
    ``offset`` the byte position in the message where decoding failed.
    """

    def __init__(self, reason: str, *, kind: str = "", offset: int = 0) -> None:
        what = f"pgoutput message {kind!r}" if kind else "pgoutput message"
        super().__init__(
            f"cannot decode {what} at byte {offset}: {reason}; the replication stream is "
            "corrupt or was not produced by pgoutput protocol version 1 or 2"
        )
        self.reason = reason
        self.kind = kind
        self.offset = offset


# --- LSNs and times ----------------------------------------------------------------------------


def pg_micros_to_datetime(micros: int) -> datetime:
    """Convert a PostgreSQL timestamp (microseconds since 2000-01-01 UTC) to a ``datetime``."""
    return PG_EPOCH + timedelta(microseconds=micros)


def now_pg_micros() -> int:
    """The current time as microseconds since 2000-01-01 UTC."""
    return time.time_ns() // 1000 - _PG_EPOCH_UNIX_MICROS


# --- Replication COPY framing ------------------------------------------------------------------

_XLOGDATA_HEADER = struct.Struct(">qqq")  # after the 'w' byte
_KEEPALIVE = struct.Struct(">qq?")  # after the 'k' byte
_STANDBY_STATUS = struct.Struct(">cqqqq?")


@dataclass(slots=True)
class XLogData:
    """One ``w`` CopyData message: a pgoutput message and the WAL range it came from.
    (Not frozen: one is made per change, and a frozen ``__init__`` costs 4x.)"""

    wal_start: int
    wal_end: int
    send_time: int
    payload: bytes


class PrimaryKeepalive(NamedTuple):
    """A ``k`` CopyData message; ``reply_requested`` asks for a standby status update now."""

    wal_end: int
    send_time: int
    reply_requested: bool


def decode_copy_data(buf: bytes | memoryview) -> XLogData | PrimaryKeepalive:
    """Decode one CopyData message of a ``START_REPLICATION`` stream."""
    data = bytes(buf)
    if not data:
        raise PgOutputError("empty CopyData message")
    kind = data[0]
    if kind == 0x77:  # 'w'
        if len(data) < 1 + _XLOGDATA_HEADER.size:
            raise PgOutputError("truncated XLogData header", kind="w", offset=len(data))
        start, end, send_time = _XLOGDATA_HEADER.unpack_from(data, 1)
        return XLogData(start, end, send_time, data[1 + _XLOGDATA_HEADER.size :])
    if kind == 0x6B:  # 'k'
        if len(data) != 1 + _KEEPALIVE.size:
            raise PgOutputError(
                f"keepalive is {len(data)} bytes, expected 18", kind="k", offset=len(data)
            )
        end, send_time, reply = _KEEPALIVE.unpack_from(data, 1)
        return PrimaryKeepalive(end, send_time, reply)
    raise PgOutputError(f"unknown CopyData message type {chr(kind)!r}", kind=chr(kind))


def encode_standby_status(
    written: int, flushed: int, applied: int, *, now: int | None = None, reply: bool = False
) -> bytes:
    """Encode an ``r`` standby status update; positions are the LSN *after* the last byte.

    ``flushed`` is what moves a logical slot's ``confirmed_flush_lsn``: the server may discard
    WAL before it, and resumes from it after a reconnect. ``now`` defaults to the current time.
    """
    when = now_pg_micros() if now is None else now
    return _STANDBY_STATUS.pack(b"r", written, flushed, applied, when, reply)


# --- pgoutput messages -------------------------------------------------------------------------
# (NamedTuples, not frozen dataclasses: as immutable, 10x cheaper to define, which every start
# of a PostgreSQL source pays for (~12 ms for these 17 on Python 3.11), and cheaper to make)


Value = bytes | None | _UnchangedToast


class TupleData(NamedTuple):
    """The columns of one row, in relation order; ``kinds[i]`` is ``n``, ``u``, ``t`` or ``b``."""

    kinds: str
    values: tuple[Value, ...]


class Begin(NamedTuple):
    final_lsn: int
    commit_time: int
    xid: int


class Commit(NamedTuple):
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_time: int


class Origin(NamedTuple):
    commit_lsn: int
    name: str


class Column(NamedTuple):
    flags: int
    name: str
    type_oid: int
    type_modifier: int

    @property
    def is_key(self) -> bool:
        """True when the column is part of the replica identity (flag bit 1)."""
        return bool(self.flags & 1)


class Relation(NamedTuple):
    """A table's shape, sent before the first change to it in a session and after DDL.

    ``namespace`` is ``""`` for ``pg_catalog``; ``replica_identity`` is ``d`` (default),
    ``n`` (nothing), ``f`` (full) or ``i`` (index).
    """

    xid: int | None
    relation_id: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]


class Type(NamedTuple):
    """A user-defined column type, sent before the Relation that uses it."""

    xid: int | None
    type_oid: int
    namespace: str
    name: str


class Insert(NamedTuple):
    xid: int | None
    relation_id: int
    new: TupleData


class Update(NamedTuple):
    """``old_kind`` is ``K`` (old replica-identity key, other columns null), ``O`` (whole old
    row, REPLICA IDENTITY FULL) or ``None`` (no old tuple: the key did not change)."""

    xid: int | None
    relation_id: int
    old_kind: str | None
    old: TupleData | None
    new: TupleData


class Delete(NamedTuple):
    """``old_kind`` is ``K`` (key columns only) or ``O`` (whole row, REPLICA IDENTITY FULL)."""

    xid: int | None
    relation_id: int
    old_kind: str
    old: TupleData


class Truncate(NamedTuple):
    xid: int | None
    options: int
    relation_ids: tuple[int, ...]

    @property
    def cascade(self) -> bool:
        return bool(self.options & 1)

    @property
    def restart_identity(self) -> bool:
        return bool(self.options & 2)


class LogicalMessage(NamedTuple):
    """A ``pg_logical_emit_message`` record; ``flags`` bit 1 means transactional."""

    xid: int | None
    flags: int
    lsn: int
    prefix: str
    content: bytes

    @property
    def transactional(self) -> bool:
        return bool(self.flags & 1)


class StreamStart(NamedTuple):
    xid: int
    first_segment: bool


class StreamStop(NamedTuple):
    pass


class StreamCommit(NamedTuple):
    xid: int
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_time: int


class StreamAbort(NamedTuple):
    """``abort_lsn``/``abort_time`` are only sent by servers using parallel apply (v4)."""

    xid: int
    subxid: int
    abort_lsn: int | None = None
    abort_time: int | None = None


Message = (
    Begin
    | Commit
    | Origin
    | Relation
    | Type
    | Insert
    | Update
    | Delete
    | Truncate
    | LogicalMessage
    | StreamStart
    | StreamStop
    | StreamCommit
    | StreamAbort
)

_I8 = struct.Struct(">B")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">I")
_S32 = struct.Struct(">i")
_I64 = struct.Struct(">Q")
_I64_TS = struct.Struct(">q")


class _Reader:
    """A cursor over one message; every read checks bounds and raises `PgOutputError`."""

    __slots__ = ("buf", "kind", "pos")

    def __init__(self, buf: bytes, kind: str) -> None:
        self.buf = buf
        self.kind = kind
        self.pos = 1

    def fail(self, reason: str) -> PgOutputError:
        return PgOutputError(reason, kind=self.kind, offset=self.pos)

    def _unpack(self, s: struct.Struct, what: str) -> int:
        if self.pos + s.size > len(self.buf):
            raise self.fail(f"truncated: {what} needs {s.size} bytes")
        (value,) = s.unpack_from(self.buf, self.pos)
        self.pos += s.size
        return int(value)

    def u8(self, what: str) -> int:
        return self._unpack(_I8, what)

    def i16(self, what: str) -> int:
        return self._unpack(_I16, what)

    def u32(self, what: str) -> int:
        return self._unpack(_I32, what)

    def i32(self, what: str) -> int:
        return self._unpack(_S32, what)

    def u64(self, what: str) -> int:
        return self._unpack(_I64, what)

    def ts(self, what: str) -> int:
        return self._unpack(_I64_TS, what)

    def char(self, what: str) -> str:
        return chr(self.u8(what))

    def string(self, what: str) -> str:
        end = self.buf.find(b"\0", self.pos)
        if end < 0:
            raise self.fail(f"truncated: {what} has no terminating NUL")
        try:
            text = self.buf[self.pos : end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{what} is not valid UTF-8 ({exc.reason})") from None
        self.pos = end + 1
        return text

    def raw(self, n: int, what: str) -> bytes:
        if n < 0:
            raise self.fail(f"{what} has negative length {n}")
        if self.pos + n > len(self.buf):
            raise self.fail(f"truncated: {what} needs {n} bytes, {len(self.buf) - self.pos} left")
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def tuple_data(self) -> TupleData:
        ncols = self.i16("TupleData column count")
        if ncols < 0:
            raise self.fail(f"negative TupleData column count {ncols}")
        kinds: list[str] = []
        values: list[Value] = []
        for i in range(ncols):
            kind = self.char(f"kind of column {i}")
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED_TOAST)
            elif kind == "t" or kind == "b":
                n = self.i32(f"length of column {i}")
                values.append(self.raw(n, f"value of column {i}"))
            else:
                self.pos -= 1
                raise self.fail(f"unknown TupleData kind {kind!r} for column {i}")
            kinds.append(kind)
        return TupleData("".join(kinds), tuple(values))

    def tagged_tuple(self, expected: str, what: str) -> TupleData:
        tag = self.char(what)
        if tag != expected:
            self.pos -= 1
            raise self.fail(f"expected {expected!r} before {what}, got {tag!r}")
        return self.tuple_data()

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise self.fail(f"{len(self.buf) - self.pos} unexpected trailing bytes")


def _xid(r: _Reader, streaming: bool) -> int | None:
    return r.u32("streamed transaction xid") if streaming else None


def _begin(r: _Reader, streaming: bool) -> Begin:
    return Begin(r.u64("final LSN"), r.ts("commit time"), r.u32("xid"))


def _commit(r: _Reader, streaming: bool) -> Commit:
    return Commit(r.u8("flags"), r.u64("commit LSN"), r.u64("end LSN"), r.ts("commit time"))


def _origin(r: _Reader, streaming: bool) -> Origin:
    return Origin(r.u64("origin commit LSN"), r.string("origin name"))


def _relation(r: _Reader, streaming: bool) -> Relation:
    xid = _xid(r, streaming)
    rel_id = r.u32("relation id")
    namespace = r.string("namespace")
    name = r.string("relation name")
    identity = r.char("replica identity")
    ncols = r.i16("column count")
    if ncols < 0:
        raise r.fail(f"negative column count {ncols}")
    columns = tuple(
        Column(
            r.u8(f"flags of column {i}"),
            r.string(f"name of column {i}"),
            r.u32(f"type of column {i}"),
            r.i32(f"type modifier of column {i}"),
        )
        for i in range(ncols)
    )
    return Relation(xid, rel_id, namespace, name, identity, columns)


def _type(r: _Reader, streaming: bool) -> Type:
    return Type(_xid(r, streaming), r.u32("type oid"), r.string("namespace"), r.string("type name"))


def _insert(r: _Reader, streaming: bool) -> Insert:
    xid = _xid(r, streaming)
    rel_id = r.u32("relation id")
    return Insert(xid, rel_id, r.tagged_tuple("N", "new tuple"))


def _update(r: _Reader, streaming: bool) -> Update:
    xid = _xid(r, streaming)
    rel_id = r.u32("relation id")
    tag = r.char("tuple tag")
    old_kind: str | None = None
    old: TupleData | None = None
    if tag == "K" or tag == "O":
        old_kind, old = tag, r.tuple_data()
        tag = r.char("new tuple tag")
    if tag != "N":
        r.pos -= 1
        raise r.fail(f"expected 'N' before new tuple, got {tag!r}")
    return Update(xid, rel_id, old_kind, old, r.tuple_data())


def _delete(r: _Reader, streaming: bool) -> Delete:
    xid = _xid(r, streaming)
    rel_id = r.u32("relation id")
    tag = r.char("old tuple tag")
    if tag != "K" and tag != "O":
        r.pos -= 1
        raise r.fail(f"expected 'K' or 'O' before old tuple, got {tag!r}")
    return Delete(xid, rel_id, tag, r.tuple_data())


def _truncate(r: _Reader, streaming: bool) -> Truncate:
    xid = _xid(r, streaming)
    nrels = r.i32("relation count")
    if nrels < 0:
        raise r.fail(f"negative relation count {nrels}")
    options = r.u8("options")
    return Truncate(xid, options, tuple(r.u32(f"relation id {i}") for i in range(nrels)))


def _message(r: _Reader, streaming: bool) -> LogicalMessage:
    xid = _xid(r, streaming)
    flags = r.u8("flags")
    lsn = r.u64("message LSN")
    prefix = r.string("prefix")
    n = r.i32("content length")
    return LogicalMessage(xid, flags, lsn, prefix, r.raw(n, "content"))


def _stream_start(r: _Reader, streaming: bool) -> StreamStart:
    xid = r.u32("xid")
    return StreamStart(xid, r.u8("first segment flag") == 1)


def _stream_stop(r: _Reader, streaming: bool) -> StreamStop:
    return StreamStop()


def _stream_commit(r: _Reader, streaming: bool) -> StreamCommit:
    return StreamCommit(
        r.u32("xid"), r.u8("flags"), r.u64("commit LSN"), r.u64("end LSN"), r.ts("commit time")
    )


def _stream_abort(r: _Reader, streaming: bool) -> StreamAbort:
    xid, subxid = r.u32("xid"), r.u32("subtransaction xid")
    if r.pos == len(r.buf):
        return StreamAbort(xid, subxid)
    return StreamAbort(xid, subxid, r.u64("abort LSN"), r.ts("abort time"))


_DECODERS: dict[int, Callable[[_Reader, bool], Message]] = {
    ord("B"): _begin,
    ord("C"): _commit,
    ord("O"): _origin,
    ord("R"): _relation,
    ord("Y"): _type,
    ord("I"): _insert,
    ord("U"): _update,
    ord("D"): _delete,
    ord("T"): _truncate,
    ord("M"): _message,
    ord("S"): _stream_start,
    ord("E"): _stream_stop,
    ord("c"): _stream_commit,
    ord("A"): _stream_abort,
}


# -- fast path for row changes ------------------------------------------------------------------
# Insert, Update and Delete are nearly every message of a stream. These functions decode the
# well-formed ones in one loop with few calls; anything unexpected returns None and the
# checked `_Reader` path decodes the message again to report exactly what is wrong.

_FAST_KINDS = frozenset(b"IUD")
_TUPLE_KINDS = frozenset(b"nutb")


def _fast_tuple(buf: bytes, pos: int, size: int) -> tuple[TupleData, int] | None:
    if pos + 2 > size:
        return None
    n = _I16.unpack_from(buf, pos)[0]
    if n < 0:
        return None
    pos += 2
    kinds = bytearray(n)
    values: list[Value] = [None] * n
    unpack = _S32.unpack_from
    for i in range(n):
        if pos >= size:
            return None
        k = buf[pos]
        pos += 1
        kinds[i] = k
        if k == 0x74 or k == 0x62:  # 't', 'b'
            if pos + 4 > size:
                return None
            length = unpack(buf, pos)[0]
            pos += 4
            if length < 0 or pos + length > size:
                return None
            values[i] = buf[pos : pos + length]
            pos += length
        elif k == 0x75:  # 'u'
            values[i] = UNCHANGED_TOAST
        elif k != 0x6E:  # not 'n' either
            return None
    return TupleData(kinds.decode("ascii"), tuple(values)), pos


def _fast_change(buf: bytes) -> Insert | Update | Delete | None:
    size = len(buf)
    if size < 6:
        return None
    kind = buf[0]
    rel_id = _I32.unpack_from(buf, 1)[0]
    tag = buf[5]
    if kind == 0x49:  # Insert: 'N' tuple
        if tag != 0x4E:
            return None
        got = _fast_tuple(buf, 6, size)
        if got is None or got[1] != size:
            return None
        return Insert(None, rel_id, got[0])
    old_kind: str | None = None
    old: TupleData | None = None
    pos = 6
    if tag == 0x4B or tag == 0x4F:  # 'K', 'O'
        got = _fast_tuple(buf, 6, size)
        if got is None:
            return None
        old_kind, (old, pos) = chr(tag), got
    if kind == 0x44:  # Delete: only the old tuple
        if old is None or old_kind is None or pos != size:
            return None
        return Delete(None, rel_id, old_kind, old)
    if pos >= size or buf[pos] != 0x4E:  # Update: then 'N' and the new tuple
        return None
    new = _fast_tuple(buf, pos + 1, size)
    if new is None or new[1] != size:
        return None
    return Update(None, rel_id, old_kind, old, new[0])


def decode(buf: bytes | memoryview, *, streaming: bool = False) -> Message:
    """Decode one pgoutput message (the payload of an XLogData).

    ``streaming`` must be True between a `StreamStart` and its `StreamStop`: the data
    messages sent there carry the streamed transaction's xid.
    """
    data = bytes(buf)
    if not data:
        raise PgOutputError("empty message")
    decoder = _DECODERS.get(data[0])
    if decoder is None:
        raise PgOutputError(
            f"unknown or unsupported message type {chr(data[0])!r}", kind=chr(data[0])
        )
    if not streaming and data[0] in _FAST_KINDS:
        fast = _fast_change(data)
        if fast is not None:
            return fast
    r = _Reader(data, chr(data[0]))
    msg = decoder(r, streaming)
    r.end()
    return msg
