"""The C binlog codec (connectors/source/mysql/_binlogcodec.c) on rows events built here, with
no server: every column type's values (valid ones, and random bytes where any bytes are a
value) give the slow path's bytes exactly (`protocol.events.rows_event` + `MySqlTable.row` +
the JsonConverter), and every truncated or corrupted event is declined or read, never
crashes (CI runs this module under AddressSanitizer)."""

from __future__ import annotations

import contextlib
import os
import random
import re
import struct
from typing import Any

import pytest

from connectors.source.cdc.envelope import envelope
from connectors.source.mysql import encoded
from connectors.source.mysql.protocol.events import E, TableMap, rows_event
from connectors.source.mysql.protocol.values import Column, T, decoder
from connectors.source.mysql.schema import MySqlTable
from connectors.source.mysql.types import TypeMapper
from hub.log.packed import Packed
from hub.runtime.converters import JsonConverter
from tests.connectors.mysql.helpers import decimal_bytes

if os.environ.get("HUB_REQUIRE_SPEEDUPS") == "1":  # CI: a missing C build fails here
    from connectors.source.mysql._binlogcodec import RowsCodec  # type: ignore[import-not-found]  # noqa: F401
else:
    pytest.importorskip("connectors.source.mysql._binlogcodec", reason="no C compiler at build")

UTF8, LATIN1, BINARY = 45, 8, 63
_TS = re.compile(rb'("op":"[crud]"),"ts_ms":\d+,"ts_us":\d+,"ts_ns":\d+')


def frac_bytes(micros: int, fsp: int) -> bytes:
    if fsp <= 0:
        return b""
    if fsp <= 2:
        return bytes([micros // 10000])
    if fsp <= 4:
        return (micros // 100).to_bytes(2, "big")
    return micros.to_bytes(3, "big")


def datetime2(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int, fsp: int) -> bytes:
    packed = ((y * 13 + mo) << 5 | d) << 17 | (h << 12 | mi << 6 | s)
    return (packed + 0x8000000000).to_bytes(5, "big") + frac_bytes(us, fsp)


def lenc(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, "little") + data


# (Column, a function of a Random giving one value's bytes)
Gen = Any


def _columns() -> list[tuple[Column, Gen]]:
    def rnd(n: int) -> Gen:
        return lambda r: r.randbytes(n)

    def text(alphabet: str, width: int, most: int, charset: str = "utf-8") -> Gen:
        return lambda r: lenc("".join(r.choice(alphabet) for _ in range(r.randrange(most)))
                              .encode(charset), width)  # fmt: skip

    def dec(p: int, s: int) -> Gen:
        def gen(r: random.Random) -> bytes:
            digits = r.randrange(p + 1)
            return decimal_bytes(r.randrange(10**digits) * r.choice((1, -1)), p, s)

        return gen

    def dt2(fsp: int) -> Gen:
        def gen(r: random.Random) -> bytes:
            us = r.randrange(10**6) // 10 ** (6 - fsp) * 10 ** (6 - fsp) if fsp else 0
            if r.random() < 0.1:  # zero dates and impossible ones
                return datetime2(r.choice((0, 2024)), r.choice((0, 2)), r.choice((0, 30)),
                                 0, 0, 0, 0, fsp)  # fmt: skip
            ymd = r.randrange(1, 10000), r.randrange(1, 13), r.randrange(1, 29)
            return datetime2(*ymd, r.randrange(24), r.randrange(60), r.randrange(60), us, fsp)

        return gen

    def ts2(fsp: int) -> Gen:
        def gen(r: random.Random) -> bytes:
            us = r.randrange(10**6) // 10 ** (6 - fsp) * 10 ** (6 - fsp) if fsp else 0
            secs = 0 if r.random() < 0.1 else r.randrange(1, 2**31)
            return secs.to_bytes(4, "big") + frac_bytes(0 if secs == 0 else us, fsp)

        return gen

    def time2(fsp: int) -> Gen:
        width = (fsp + 1) // 2
        return lambda r: r.randbytes(3 + width)

    def date(r: random.Random) -> bytes:
        if r.random() < 0.8:
            v = r.randrange(1, 10000) << 9 | r.randrange(1, 13) << 5 | r.randrange(1, 29)
        else:
            v = r.randrange(1 << 24)
        return v.to_bytes(3, "little")

    def enum(n: int, width: int) -> Gen:
        return lambda r: r.randrange(n + 1).to_bytes(width, "little")

    def set_(n: int, width: int) -> Gen:
        return lambda r: r.randrange(1 << n).to_bytes(width, "little")

    words = 'abc é"\\\n\x01🐘'
    return [
        (
            Column(T.LONG, 0, False, "id"),
            lambda r: r.randrange(-(2**31), 2**31).to_bytes(4, "little", signed=True),
        ),  # fmt: skip
        (Column(T.TINY, 0, True, "t"), rnd(1)),
        (Column(T.TINY, 0, True, "tu", unsigned=True), rnd(1)),
        (Column(T.SHORT, 0, True, "s"), rnd(2)),
        (Column(T.SHORT, 0, True, "su", unsigned=True), rnd(2)),
        (Column(T.INT24, 0, True, "m"), rnd(3)),
        (Column(T.INT24, 0, True, "mu", unsigned=True), rnd(3)),
        (Column(T.LONG, 0, True, "l"), rnd(4)),
        (Column(T.LONG, 0, True, "lu", unsigned=True), rnd(4)),
        (Column(T.LONGLONG, 0, True, "b"), rnd(8)),
        (Column(T.LONGLONG, 0, True, "bu", unsigned=True), rnd(8)),
        (Column(T.FLOAT, 4, True, "f"), lambda r: struct.pack("<f", r.uniform(-1e6, 1e6))),
        (Column(T.DOUBLE, 8, True, "dbl"), lambda r: struct.pack("<d", r.uniform(-1e300, 1e300))),
        (Column(T.NEWDECIMAL, 10 << 8 | 2, True, "d1"), dec(10, 2)),
        (Column(T.NEWDECIMAL, 65 << 8 | 30, True, "d2"), dec(65, 30)),
        (Column(T.NEWDECIMAL, 5 << 8 | 5, True, "d3"), dec(5, 5)),
        (Column(T.NEWDECIMAL, 18 << 8 | 0, True, "d4"), dec(18, 0)),
        (Column(T.NEWDECIMAL, 40 << 8 | 3, True, "d5"), dec(40, 3)),
        (Column(T.DATE, 0, True, "dt"), date),
        (Column(T.DATE, 0, False, "dtn"), date),
        (Column(T.DATETIME2, 0, True, "x0"), dt2(0)),
        (Column(T.DATETIME2, 3, False, "x3"), dt2(3)),
        (Column(T.DATETIME2, 6, True, "x6"), dt2(6)),
        (Column(T.TIMESTAMP2, 0, True, "z0"), ts2(0)),
        (Column(T.TIMESTAMP2, 2, False, "z2"), ts2(2)),
        (Column(T.TIMESTAMP2, 6, True, "z6"), ts2(6)),
        (Column(T.TIME2, 0, True, "tm0"), time2(0)),
        (Column(T.TIME2, 1, True, "tm1"), time2(1)),
        (Column(T.TIME2, 4, True, "tm4"), time2(4)),
        (Column(T.TIME2, 6, True, "tm6"), time2(6)),
        (Column(T.YEAR, 0, True, "y"), rnd(1)),
        (Column(T.VARCHAR, 40, True, "v", charset=UTF8), text(words, 1, 10)),
        (Column(T.VARCHAR, 400, True, "v2", charset=UTF8), text(words, 2, 100)),
        (Column(T.VARCHAR, 40, True, "lat", charset=LATIN1), text('aé"ç', 1, 10, "cp1252")),
        (
            Column(T.VARCHAR, 40, True, "vb", charset=BINARY),
            lambda r: lenc(r.randbytes(r.randrange(40)), 1),
        ),  # fmt: skip
        (Column(T.STRING, 0xFE << 8 | 40, True, "ch", charset=UTF8), text(words, 1, 10)),
        (
            Column(T.STRING, 0xFE << 8 | 4, True, "bin", charset=BINARY),
            lambda r: lenc(r.randbytes(r.randrange(5)), 1),
        ),  # fmt: skip
        (
            Column(T.BLOB, 2, True, "bl", charset=BINARY),
            lambda r: lenc(r.randbytes(r.randrange(300)), 2),
        ),  # fmt: skip
        (Column(T.BLOB, 4, True, "tx", charset=UTF8), text(words, 4, 50)),
        (
            Column(T.STRING, T.ENUM << 8 | 1, True, "en", charset=UTF8, labels=("a", "b c", "d'e")),
            enum(3, 1),
        ),  # fmt: skip
        (
            Column(T.STRING, T.SET << 8 | 1, True, "st", charset=UTF8, labels=("x", "y", "z", "é")),
            set_(4, 1),
        ),  # fmt: skip
        (Column(T.BIT, 2 << 8 | 1, True, "bit"), rnd(2)),
        (Column(T.BIT, 1 << 8 | 0, True, "bit1"), lambda r: bytes([r.randrange(2)])),
    ]


COLUMNS = _columns()


def rows_body(cols: list[Column], images: list[list[bytes | None]], op: str,
              table_id: int = 42) -> bytes:  # fmt: skip
    """A v1 rows event (header included, no checksum) of ``images`` (each value's bytes or
    None for NULL; an update's images come in (before, after) pairs)."""
    n = len(cols)
    bitmap = ((1 << n) - 1).to_bytes((n + 7) // 8, "little")
    body = table_id.to_bytes(6, "little") + b"\x00\x00" + bytes([n]) + bitmap
    if op == "u":
        body += bitmap
    for image in images:
        nulls = sum(1 << i for i, v in enumerate(image) if v is None)
        body += nulls.to_bytes((n + 7) // 8, "little") + b"".join(v for v in image if v)
    kind = {"c": E.WRITE_V1, "u": E.UPDATE_V1, "d": E.DELETE_V1}[op]
    size = 19 + len(body)
    header = struct.pack("<IBIII", 1_700_000_000, kind, 1, size, 1000 + size) + b"\x00\x00"
    return header + body


def _table(
    cols: list[Column], key: tuple[str, ...], mapper: TypeMapper
) -> tuple[MySqlTable, TableMap]:
    table = MySqlTable("app", "mariadb", "db", "t", cols, key, mapper, lambda name: True, key)
    tm = TableMap(42, "db", "t", tuple(cols), (), tuple(decoder(c) for c in cols))
    return table, tm


def _slow(table: MySqlTable, tm: TableMap, event: bytes, conv: JsonConverter,
          kconv: JsonConverter, src_args: dict[str, Any]) -> list[Any]:  # fmt: skip
    ev = rows_event(memoryview(event), {42: tm}, checksum=False)
    out = []
    for r, (b, a) in enumerate(ev.rows):
        before = table.row(b) if b is not None else None
        after = table.row(a) if a is not None else None
        source = table.source("app", row=r, **src_args)
        ops = [(ev.op, before, after)]
        if ev.op == "u" and table.key_columns and table.key(before) != table.key(after):
            ops = [("d", before, None), ("c", None, after)]
        for op, bf, af in ops:
            key = table.key(af if af is not None else bf)
            value = conv.from_value(envelope(op, bf, af, source), table.value_schema)
            out.append((kconv.from_value(key, table.key_schema), value))
            if op == "d" and key is not None:
                out.append((kconv.from_value(key, table.key_schema), None))
    return out


def _fast(table: MySqlTable, event: bytes, json_encoding: tuple[bool, bool],
          mapper: TypeMapper, src_args: dict[str, Any]) -> list[Any] | None:  # fmt: skip
    t = encoded.EventEncoder(json_encoding, "app", mapper).table(table)
    op = {E.WRITE_V1: "c", E.UPDATE_V1: "u", E.DELETE_V1: "d"}[event[4]]
    src = t.source(
        src_args["ts_ms"], src_args["server_id"], src_args["gtid"], src_args["file"],
        src_args["pos"], src_args["thread"], src_args["query"],
    )  # fmt: skip
    args = (event, 19 + 8, len(event), ord(op), t.wrap, src, True)
    got = t.codec.rows(*args, False)
    if got is None:
        return None
    keys, values, rows, events = got
    lists = list(zip(keys, values, strict=True))
    # packed: the same records, a delete's tombstones after the event's records
    packed = t.codec.rows(*args, True)
    if packed is False:  # a key changed: the lists' call
        assert op == "u" and any(v is None for v in values) or not table.key_columns
        return lists
    assert packed is not None
    vals, vends, kbuf, kends, tombs, prow, pevents = packed
    assert (prow, pevents) == (rows, events)
    p = Packed(vals, vends, kbuf, kends, 0, len(vends) // 8, t.wrap)
    want = [(k, v) for k, v in lists if v is not None] + [(k, v) for k, v in lists if v is None]
    got = list(zip(*p.lists(), strict=True)) + [(k, None) for k in tombs]
    assert _plain(got) == _plain(want)
    return lists


def _plain(pairs: list[Any]) -> list[Any]:
    return [(k, None if v is None else _TS.sub(rb"\1", v)) for k, v in pairs]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("json_encoding", [(True, True), (False, False)], ids=["schemas", "plain"])
def test_random_rows_give_the_slow_paths_bytes(seed: int, json_encoding: tuple[bool, bool]) -> None:
    r = random.Random(seed)
    mapper = TypeMapper(
        decimal_mode=["precise", "string", "double"][seed % 3],
        time_mode=["adaptive_time_microseconds", "connect"][seed % 2],
        binary_mode=["bytes", "base64", "hex"][seed % 3],
        bigint_unsigned=["long", "precise"][seed % 2],
    )  # fmt: skip
    cols = [c for c, _ in COLUMNS]
    key = ("id",) if seed % 3 else (("id", "v") if seed % 2 else ())
    table, tm = _table(cols, key, mapper)
    src_args = {"ts_ms": 1_700_000_000_000, "server_id": 1, "gtid": "0-1-5",
                "file": "binlog.000001", "pos": 1000, "thread": 7, "query": None}  # fmt: skip
    kconv, vconv = JsonConverter(json_encoding[0]), JsonConverter(json_encoding[1])
    for op in "cud":
        images = []
        for _ in range(30 if op != "u" else 15):
            row = [None if (i and r.random() < 0.15) else gen(r) for i, (_, gen) in
                   enumerate(COLUMNS)]  # fmt: skip
            images.append(row)
            if op == "u":
                new = [None if (i and r.random() < 0.15) else gen(r) for i, (_, gen) in
                       enumerate(COLUMNS)]  # fmt: skip
                if r.random() < 0.5:
                    new[0] = row[0]  # the same key: an update, else a delete + create
                images.append(new)
        event = rows_body(cols, images, op)
        fast = _fast(table, event, json_encoding, mapper, src_args)
        assert fast is not None, op
        slow = _slow(table, tm, event, vconv, kconv, src_args)
        assert len(fast) == len(slow)
        for n, (f, s) in enumerate(zip(_plain(fast), _plain(slow), strict=True)):
            assert f == s, (op, n)


def test_truncated_and_corrupted_events_are_declined_or_read() -> None:
    """Every prefix of an event and random byte flips: the codec declines (None) or reads
    something; it never reads outside the event (ASan in CI) nor raises."""
    r = random.Random(7)
    mapper = TypeMapper()
    cols = [c for c, _ in COLUMNS]
    table, _ = _table(cols, ("id",), mapper)
    t = encoded.EventEncoder((True, True), "app", mapper).table(table)
    src = t.source(1, 1, None, "f", 4, None, None)
    for op in "cud":
        images = [[gen(r) for _, gen in COLUMNS] for _ in range(4 if op != "u" else 8)]
        event = rows_body(cols, images, op)
        for cut in range(19 + 8, len(event)):
            for packed in (False, True):
                got = t.codec.rows(event[:cut], 19 + 8, cut, ord(op), t.wrap, src, True, packed)
                assert got is None or got is False or isinstance(got, tuple)
        for _ in range(300):
            bad = bytearray(event)
            for _ in range(r.randrange(1, 4)):
                bad[r.randrange(19 + 8, len(bad))] = r.randrange(256)
            # a converter may refuse a corrupted value (as on the slow path)
            with contextlib.suppress(UnicodeDecodeError, IndexError, ValueError, OverflowError):
                t.codec.rows(bytes(bad), 19 + 8, len(bad), ord(op), t.wrap, src, True, op == "d")
    with pytest.raises(ValueError):
        t.codec.rows(event, 19 + 8, len(event), ord("x"), t.wrap, src, True, False)
    assert t.codec.rows(event, 19 + 8, len(event) + 1, ord(op), t.wrap, src, True, True) is None


def _lenenc(v: bytes | None) -> bytes:
    if v is None:
        return b"\xfb"
    n = len(v)
    if n < 251:
        return bytes([n]) + v
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little") + v
    if n < 1 << 24:
        return b"\xfd" + n.to_bytes(3, "little") + v
    return b"\xfe" + n.to_bytes(8, "little") + v


def text_packets(rows: list[list[bytes | None]], seq: int = 1) -> bytes:
    """Text-protocol row packets (a payload of 16 MB or more split as the server splits it)."""
    out = bytearray()
    for row in rows:
        payload = b"".join(_lenenc(v) for v in row)
        while True:
            piece, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
            out += len(piece).to_bytes(3, "little") + bytes([seq % 256]) + piece
            seq += 1
            if len(piece) < 0xFFFFFF:
                break
    return bytes(out)


def test_text_packets_frame_and_encode() -> None:
    """frame() finds whole row packets and the end-of-rows or error packet; text_packed()
    encodes them as the fields' converters would (a converter's TypeError declines the row,
    with its values), rows of 16 MB and more included."""
    from connectors.source.mysql._binlogcodec import RowsCodec, frame

    def convert(raw: bytes) -> Any:
        if raw == b"bad":
            raise TypeError("no")
        return raw.decode()

    fields = [(0, "id", encoded.KIND_INT, 0, int), (1, "s", encoded.KIND_PY, 0, convert),
              (2, "b", encoded.KIND_BYTES, 0, bytes)]  # fmt: skip
    codec = RowsCodec(fields, [0], [(encoded.R_UNSUPPORTED, 0, 0, None)] * 3)
    big = b"x" * (0xFFFFFF + 10)
    rows = [[b"1", b"a", b"\x00\x01"], [b"2", None, None], [b"3", b"bad", b""], [b"4", big, b"z"]]
    data = text_packets(rows)
    eof = b"\x05\x00\x00\x09\xfe\x00\x00\x02\x00"
    assert frame(data + eof, 0, 0) == (len(data), 4, 1)
    assert frame(data + eof, 0, 2)[1:] == (2, 3)
    assert frame(data[:-1], 0, 0) == (len(text_packets(rows[:3])), 3, 0)
    err = b"\x09\x00\x00\x09\xff\x15\x04#42000"
    assert frame(data + err, 0, 0) == (len(data), 4, 2)
    structs, ends, keys, key_ends, packet_ends, declined = codec.text_packed(data)
    cut = memoryview(ends).cast("q")
    got = [structs[cut[i - 1] if i else 0 : cut[i]] for i in range(len(cut))]
    assert got[:3] == [b'{"id":1,"s":"a","b":"AAE="}', b'{"id":2,"s":null,"b":null}', b""]
    assert got[3] == b'{"id":4,"s":"' + big + b'","b":"eg=="}'
    assert declined == [(2, [b"3", b"bad", b""])]
    kcut = memoryview(key_ends).cast("q")
    assert [keys[kcut[i - 1] if i else 0 : kcut[i]] for i in range(4)] == [
        b'{"id":1}',
        b'{"id":2}',
        b"",
        b'{"id":4}',
    ]
    assert list(memoryview(packet_ends).cast("q")) == [
        len(text_packets(rows[: i + 1])) for i in range(4)
    ]
    for cut_at in range(1, len(data) - len(big), 3):  # truncated or malformed: an error
        with contextlib.suppress(ValueError):
            codec.text_packed(data[:cut_at])
    with pytest.raises(ValueError):
        codec.text_packed(text_packets([[b"1"]]))  # fewer fields than the codec reads


def test_an_enum_index_past_its_labels_is_declined() -> None:
    """A corrupt ENUM (an index past the labels, or a width no server writes) is declined,
    never read outside the labels."""
    from connectors.source.mysql._binlogcodec import RowsCodec

    wrap, src = (b"", b"", b"", b""), (b"{", b"}")
    for width, value in ((8, b"\x00" * 7 + b"\x80"), (8, b"\xff" * 8), (1, b"\x03")):
        codec = RowsCodec([(0, "e", encoded.KIND_STR, 0, bytes)], [],
                          [(encoded.R_ENUM, width, 0, (b"a", b"b"))])  # fmt: skip
        event = bytes([1, 1, 0]) + value  # 1 column, present; a row: no nulls, the value
        assert codec.rows(event, 0, len(event), ord("c"), wrap, src, True, False) is None
    codec = RowsCodec([(0, "e", encoded.KIND_STR, 0, bytes)], [],
                      [(encoded.R_ENUM, 1, 0, (b"a", b"b"))])  # fmt: skip
    got = codec.rows(bytes([1, 1, 0, 2]), 0, 4, ord("c"), wrap, src, True, False)
    assert got is not None and got[1][0].startswith(b'{"before":null,"after":{"e":"b"}')
