"""Result rows of a query, read off the wire as they come: each row packet's length-coded
fields split here and turned into the Python values the type converters take (the same kinds
PyMySQL would give), one parser per column chosen once, instead of PyMySQL's generic
per-field path (two thirds of a snapshot's time went there).

The query runs through PyMySQL (escaping, the result's field descriptions, errors); only the
row packets are read here, until the end-of-rows packet."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from connectors.source.mysql.protocol.values import BLOBS, Column, T

Parser = Callable[[bytes], Any]
_TIME = re.compile(rb"(-)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?")


def _date(b: bytes) -> Any:
    try:
        return dt.date.fromisoformat(b.decode())
    except ValueError:
        return b.decode()  # a zero date: the converters tell it by its type


def _datetime(b: bytes) -> Any:
    try:
        return dt.datetime.fromisoformat(b.decode())
    except ValueError:
        return b.decode()


def _time(b: bytes) -> dt.timedelta:
    m = _TIME.fullmatch(b)
    if m is None:
        raise ValueError(f"not a TIME value: {b!r}")
    sign, h, mi, s, frac = m.groups()
    micros = ((int(h) * 60 + int(mi)) * 60 + int(s)) * 1_000_000
    if frac:
        micros += int(frac.ljust(6, b"0"))
    return dt.timedelta(microseconds=-micros if sign else micros)


def _text(b: bytes) -> str:
    return b.decode("utf-8")  # the connection's character set is utf8mb4


def _decimal(b: bytes) -> Decimal:
    return Decimal(b.decode())


def _year(b: bytes) -> int:
    """A YEAR's text: YEAR(2) prints two digits (70-99: 19xx, 00-69: 20xx), which the binlog
    holds as the year, as Debezium gives it (the snapshot had 69 where the stream had 2069)."""
    n = int(b)
    if len(b) == 2:
        n += 2000 if n < 70 else 1900
    return n


def parser(c: Column) -> Parser | None:
    """The text-protocol field -> Python value function for ``c`` (None: the raw bytes)."""
    if c.ext:  # UUID, INET6, INET4: the server prints them
        return _text
    t = c.real_type
    if t == T.YEAR:
        return _year
    if t in (T.TINY, T.SHORT, T.INT24, T.LONG, T.LONGLONG):
        return int
    if t in (T.FLOAT, T.DOUBLE):
        return float
    if t in (T.NEWDECIMAL, T.DECIMAL):
        return _decimal
    if t == T.DATE:
        return _date
    if t in (T.DATETIME2, T.DATETIME, T.TIMESTAMP2, T.TIMESTAMP):
        return _datetime
    if t in (T.TIME2, T.TIME):
        return _time
    if t in (T.BIT, T.GEOMETRY):
        return None
    if t in (T.ENUM, T.SET, T.JSON):
        return _text
    if t in (T.VARCHAR, T.VAR_STRING, T.STRING) or t in BLOBS:
        return None if c.charset == 63 else _text
    return None


def rows(con: Any, sql: str, parsers: Sequence[Parser | None],
         batch: int, max_bytes: int = 0) -> Iterator[list[tuple[Any, ...]]]:  # fmt: skip
    """The rows of ``sql`` (sent as it is: no arguments to format in) in lists of up to
    ``batch`` (and, with ``max_bytes``, ending once their packets hold that many bytes, a
    row at least), parsed by ``parsers`` (one per selected column)."""
    import pymysql.cursors

    cur = con.cursor(pymysql.cursors.SSCursor)
    try:
        cur.execute(sql)
        result = cur._result
        read = con._read_packet
        n = len(parsers)
        out: list[tuple[Any, ...]] = []
        held = 0  # bytes of the rows in out
        while result is not None and result.unbuffered_active:
            packet = read()
            data = packet._data
            held += len(data)
            if data[0] == 0xFE and len(data) < 9:  # end of the rows
                result._check_packet_is_eof(packet)
                result.unbuffered_active = False
                result.connection = None
                break
            values: list[Any] = []
            pos = 0
            for i in range(n):
                first = data[pos]
                pos += 1
                if first < 0xFB:
                    size = first
                elif first == 0xFB:
                    values.append(None)
                    continue
                else:
                    width = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
                    size = int.from_bytes(data[pos : pos + width], "little")
                    pos += width
                raw = data[pos : pos + size]
                pos += size
                parse = parsers[i]
                values.append(raw if parse is None else parse(raw))
            out.append(tuple(values))
            if len(out) >= batch or (max_bytes and held >= max_bytes):
                yield out
                out, held = [], 0
        if out:
            yield out
    finally:
        if con.open:
            cur.close()
        elif cur._result is not None:  # closed under it by a stopped task: nothing to drain
            cur._result.unbuffered_active = False  # (as collecting it would try)
            cur.connection = None


def parse_row(data: bytes | memoryview, parsers: Sequence[Parser | None]) -> tuple[Any, ...]:
    """One row packet's payload (length-coded fields) as `rows` gives it."""
    values: list[Any] = []
    pos = 0
    for parse in parsers:
        first = data[pos]
        pos += 1
        if first == 0xFB:
            values.append(None)
            continue
        if first < 0xFB:
            size = first
        else:
            width = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
            size = int.from_bytes(data[pos : pos + width], "little")
            pos += width
        raw = bytes(data[pos : pos + size])
        pos += size
        values.append(raw if parse is None else parse(raw))
    return tuple(values)


def _payload(data: bytes, start: int, end: int) -> bytes:
    """The payload of the (logical) packet at data[start:end]: its 4-byte headers dropped,
    the pieces of a row of 16 MB or more joined."""
    parts = []
    while start < end:
        size = int.from_bytes(data[start : start + 3], "little")
        parts.append(data[start + 4 : start + 4 + size])
        start += 4 + size
    return b"".join(parts)


class PackedRows(Sequence[tuple[Any, ...]]):
    """A batch of a result's rows as the server sent them, encoded at once by the C codec
    (``RowsCodec.text_packed``; `packed` is its result for the encoded path); row i's
    values, parsed as `rows` gives them, on demand (a chunk's last key, a declined row)."""

    def __init__(self, data: bytes, packed: Any, parsers: Sequence[Parser | None]) -> None:
        self.data = data
        self.packed = packed
        self._ends = memoryview(packed[4]).cast("q")
        self._parsers = parsers

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("row index out of range")
        start = self._ends[i - 1] if i else 0
        return parse_row(_payload(self.data, start, self._ends[i]), self._parsers)


def packed_rows(con: Any, sql: str, parsers: Sequence[Parser | None],
                codec: Any, batch: int, max_bytes: int = 0) -> Iterator[PackedRows]:  # fmt: skip
    """The rows of ``sql`` (sent as it is, as `rows`) in batches of up to ``batch`` (and
    about ``max_bytes``: passed by at most one read of 1 MiB), read
    off the socket in large reads and encoded by ``codec`` (a ``RowsCodec`` for the result's
    columns) without a Python object per row. A generator closed before the result's end
    closes the connection (the rest of the result would be in the way of its next
    command)."""
    import pymysql
    import pymysql.cursors

    from connectors.source.mysql._binlogcodec import frame  # type: ignore[import-not-found]

    cur = con.cursor(pymysql.cursors.SSCursor)
    finished = False
    try:
        cur.execute(sql)
        result = cur._result
        rfile = con._rfile
        buf = bytearray()
        scanned = rows = 0
        while True:
            end, n, status = frame(buf, scanned, batch - rows)
            scanned, rows = end, rows + n
            if status == 0 and rows and max_bytes and scanned >= max_bytes:
                status = 3  # (as a full batch: handed over, then on with the rest)
            if status == 0:  # more bytes needed
                try:
                    got = rfile.read1(1 << 20)
                except OSError as exc:
                    con._force_close()
                    raise pymysql.err.OperationalError(
                        2013, f"Lost connection to server during query ({exc})"
                    ) from None
                if not got:
                    con._force_close()
                    raise pymysql.err.OperationalError(
                        2013, "Lost connection to server during query"
                    )
                buf += got
                continue
            if rows:
                data = bytes(buf[:scanned])
                yield PackedRows(data, codec.text_packed(data), parsers)
            del buf[:scanned]
            scanned = rows = 0
            if status == 3:
                continue
            # the end of the rows (1) or an error (2): a whole packet at the buffer's start
            size = int.from_bytes(buf[:3], "little")
            packet = bytes(buf[4 : 4 + size])
            if len(buf) != 4 + size:
                con._force_close()
                raise pymysql.err.InternalError("unexpected bytes after a result's last row")
            result.unbuffered_active = False
            result.connection = None
            finished = True
            if status == 2:
                pymysql.err.raise_mysql_exception(packet)
            return
    finally:
        if not finished and con.open:
            con._force_close()  # stopped inside the result: the connection cannot go on
        if con.open:
            cur.close()
        elif cur._result is not None:
            cur._result.unbuffered_active = False
            cur.connection = None
