"""Rows straight to the JSON bytes of their Connect structs, for the events' hot path.

When the task's records go to the log through Kafka's JsonConverter with no transforms in
between (the default), a row's ``before``/``after`` struct and its key need not exist as
Python dicts: `RowCodec` turns a row's text values (a pgoutput TupleData, or values already
split) into the bytes ``orjson.dumps(struct)`` would give, field by field. The C accelerator
(``_rowcodec.c``) does the same for the common types without Python objects in between and
calls the column's Python converter for the others; this module is its reference and its
fallback when no C compiler was around at install time. Both give exactly the bytes of
``JsonConverter.from_value`` on the slow path's dicts (tests compare them).

A field is ``(column index, name, kind, arg, convert)``: ``convert`` is the column's
`TypeMapper.converter` (bytes or None -> Connect value); ``kind`` names a form the C code
encodes itself (``KIND_*`` below, with ``arg``), and anything the fast form does not cover
(BC dates, infinities, a numeric past 38 digits, a time zone other than UTC) goes through
``convert``, so the result never depends on the kind.

A row with an unchanged TOASTed value among its fields gives ``None``: the caller takes the
slow path, which knows the placeholder and the old row.
"""

from __future__ import annotations

import os
import struct
import time
from array import array
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from connectors.source.postgres.protocol.basics import UNCHANGED_TOAST
from hub.runtime import json_default

KIND_PY = 0  # convert(raw) and orjson
KIND_INT = 1  # int2/int4/int8/oid text -> JSON number
KIND_BOOL = 2  # 't'/'true' -> true, anything else false
KIND_STR = 3  # text-like (text, varchar, bpchar, uuid, json(b), enums...) -> JSON string
KIND_DECIMAL = 4  # numeric(p, s) precise -> base64 of the unscaled two's complement; arg = s
KIND_TIMESTAMPTZ = 5  # ZonedTimestamp ISO string; arg = fraction width (-1: trim zeros)
KIND_TIMESTAMP = 6  # epoch micros (arg 0) or millis (arg 1)
KIND_DATE = 7  # epoch days

Field = tuple[int, str, int, int, Callable[[bytes | None], Any]]
# copy_packed: (structs, their ends, keys or None, their ends or None, line ends, declined);
# the ends are native int64 arrays, one entry per row: row i's struct is
# structs[ends[i - 1]:ends[i]] (from 0 for row 0), empty for a declined row
CopyPacked = tuple[bytes, bytes, bytes | None, bytes | None, bytes, list[tuple[int, list[Any]]]]

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")


# a change event's constant parts: (value head, value tail, key head, key tail); its value is
# head + envelope + tail, its key key head + key struct + key tail (EventEncoder's _Table)
Wrap = tuple[bytes, bytes, bytes, bytes]
Src = tuple[bytes, bytes]  # a change's source block, before and after its LSN
Change = tuple[bytes, bytes | None]  # (value, key or None)
_KIND_OPS = {0x49: b"c", 0x55: b"u", 0x44: b"d"}
_XMIN = b',"xmin":null},"transaction":'


def change_value(
    wrap: Wrap, src: Src, op: bytes, before: bytes | None, after: bytes | None,
    lsn: int, block: bytes | None, ts_ns: int,
) -> bytes:  # fmt: skip
    """The value of a streamed change event: ``src`` is the source block around the event's
    LSN (EventEncoder's per-transaction parts), ``block`` the transaction block's JSON (None:
    null), ``ts_ns`` the event's time."""
    at = b"%d" % lsn
    ns = b"%d" % ts_ns
    return b"".join((
        wrap[0], b'{"before":', b"null" if before is None else before,
        b',"after":', b"null" if after is None else after,
        src[0], at, src[1], at, _XMIN, b"null" if block is None else block,
        b',"op":"', op, b'","ts_ms":', ns[:-6], b',"ts_us":', ns[:-3], b',"ts_ns":', ns, b"}",
        wrap[1],
    ))  # fmt: skip


class PyRowCodec:
    """``fields`` in output order; ``key``: positions in ``fields`` of the key's fields, in
    key order (empty: no key)."""

    def __init__(self, fields: Sequence[Field], key: Sequence[int]) -> None:
        self.fields = tuple(fields)
        self.key = tuple(key)
        self._prefixes = [orjson.dumps(f[1]) + b":" for f in self.fields]

    def values(self, values: Sequence[Any]) -> tuple[bytes, bytes | None] | None:
        """(struct JSON, key struct JSON or None) of a row given as its columns' text bytes
        (None for NULL, `UNCHANGED_TOAST`); None when a field's value is unchanged TOAST or
        has no orjson form."""
        parts: list[bytes] = []
        for field, prefix in zip(self.fields, self._prefixes, strict=True):
            i, convert = field[0], field[4]
            raw = values[i]
            if raw is UNCHANGED_TOAST:
                return None
            if raw is None:
                parts.append(prefix + b"null")
                continue
            try:
                encoded = orjson.dumps(convert(bytes(raw)), default=json_default)
            except (orjson.JSONEncodeError, TypeError):
                return None
            parts.append(prefix + encoded)
        row = b"{" + b",".join(parts) + b"}"
        if not self.key:
            return row, None
        return row, b"{" + b",".join(parts[k] for k in self.key) + b"}"

    def tuple(self, buf: bytes, pos: int) -> tuple[bytes | None, bytes | None, int]:
        """(struct, key, end) of the pgoutput TupleData at ``buf[pos:]``; the struct is None
        when `values` would give None (``end`` is right all the same). ValueError for a
        malformed tuple."""
        size = len(buf)
        if pos + 2 > size:
            raise ValueError("truncated TupleData")
        n = _I16.unpack_from(buf, pos)[0]
        pos += 2
        values: list[Any] = []
        for _ in range(n):
            if pos >= size:
                raise ValueError("truncated TupleData")
            k = buf[pos]
            pos += 1
            if k == 0x74:  # 't'
                if pos + 4 > size:
                    raise ValueError("truncated TupleData")
                length = _I32.unpack_from(buf, pos)[0]
                pos += 4
                if length < 0 or pos + length > size:
                    raise ValueError("truncated TupleData")
                values.append(buf[pos : pos + length])
                pos += length
            elif k == 0x6E:  # 'n'
                values.append(None)
            elif k == 0x75:  # 'u'
                values.append(UNCHANGED_TOAST)
            else:  # 'b' (binary) is never asked for
                raise ValueError(f"unexpected tuple column kind {chr(k)!r}")
        if any(f[0] >= n for f in self.fields):
            raise ValueError("TupleData has fewer columns than the relation")
        got = self.values(values)
        if got is None:
            return None, None, pos
        return got[0], got[1], pos

    def change(
        self, buf: bytes, wrap: Wrap, src: Src, lsn: int, block: bytes | None, ts_ns: int | None
    ) -> Change | None:
        """(value, key or None) of the change event of the pgoutput Insert, Update or Delete
        message ``buf`` (its relation is the caller's business), as `change_value` and
        `wrap`'s key parts make them; ``ts_ns`` None: now. None for what only the slow path
        handles: a row that gives None, an Update with the old row of a keyed table (whether
        its key changed is the slow path's call), any other message, anything malformed."""
        if not (type(wrap) is tuple and len(wrap) == 4 and type(src) is tuple and len(src) == 2):
            raise TypeError("change(): wrap is a 4-tuple, src a 2-tuple of bytes")
        if not all(isinstance(x, bytes) for x in (*wrap, *src)) or not (
            block is None or isinstance(block, bytes)
        ):
            raise TypeError("change(): wrap, src and block hold bytes")
        size = len(buf)
        if size < 7:
            return None
        kind, tag = buf[0], buf[5]
        before: bytes | None = None
        after: bytes | None = None
        try:
            if kind == 0x49:  # Insert: 'N' + new tuple
                if tag != 0x4E:
                    return None
                after, key, end = self.tuple(buf, 6)
                row = after
            elif kind == 0x44:  # Delete: 'K' or 'O' + old tuple
                if tag != 0x4B and tag != 0x4F:
                    return None
                before, key, end = self.tuple(buf, 6)
                row = before
            elif kind == 0x55:  # Update: ['O' + old tuple] 'N' + new tuple ('K': key changed)
                pos = 6
                if tag == 0x4F:
                    if self.key:
                        # whether the key changed is the slow path's call, on the raw key
                        # text, which encoded keys cannot tell (1.0 -> 1.00 in double mode):
                        # both paths must emit the same records, and a resumed
                        # transaction takes the slow one
                        return None
                    before, _, pos = self.tuple(buf, 6)
                    if before is None or pos >= size:
                        return None
                    tag = buf[pos]
                    pos += 1
                if tag != 0x4E:
                    return None
                after, key, end = self.tuple(buf, pos)
                row = after
            else:
                return None
        except ValueError:
            return None
        if row is None or end != size:
            return None
        op = _KIND_OPS[kind]
        value = change_value(
            wrap, src, op, before, after, lsn, block, time.time_ns() if ts_ns is None else ts_ns
        )
        return value, None if key is None else wrap[2] + key + wrap[3]

    def copy_packed(self, data: bytes) -> CopyPacked:
        """Every row of ``COPY ... TO STDOUT`` text ``data`` at once, into shared buffers
        (`CopyPacked`): the structs one after the other, the keys (None for a codec with
        none) likewise, and where each row's line of ``data`` ends. A row the codec declines
        takes no bytes; ``declined`` lists (row index, its values) for the slow path."""
        from connectors.source.postgres.snapshot import parse_copy_text

        structs, keys = bytearray(), bytearray()
        ends, key_ends, line_ends = array("q"), array("q"), array("q")
        declined: list[tuple[int, list[Any]]] = []
        pos = 0
        for i, values in enumerate(parse_copy_text(data)):
            got = self.values(values)
            if got is None:
                declined.append((i, values))
            else:
                structs += got[0]
                keys += got[1] or b""
            ends.append(len(structs))
            key_ends.append(len(keys))
            nl = data.find(b"\n", pos)
            pos = len(data) if nl < 0 else nl + 1
            line_ends.append(pos)
        if not self.key:
            return bytes(structs), ends.tobytes(), None, None, line_ends.tobytes(), declined
        return (
            bytes(structs), ends.tobytes(), bytes(keys), key_ends.tobytes(),
            line_ends.tobytes(), declined,
        )  # fmt: skip


RowCodec: type[PyRowCodec] = PyRowCodec
ACCELERATED = False
if not os.environ.get("HUB_PURE_PYTHON"):  # as hub.log.codec: forces the reference
    try:
        from connectors.source.postgres._rowcodec import RowCodec as _CRowCodec  # type: ignore

        RowCodec, ACCELERATED = _CRowCodec, True
    except ImportError:  # built without a C compiler: same bytes, slower
        pass
