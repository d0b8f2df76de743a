"""pgoutput decoding: hand-built messages, and a real PostgreSQL 15 stream read with stream.py."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from connectors.source.postgres.protocol import pgoutput as po
from connectors.source.postgres.protocol.pgoutput import (
    UNCHANGED_TOAST,
    PgOutputError,
    decode,
    decode_copy_data,
    encode_standby_status,
    lsn_to_str,
    str_to_lsn,
)
from connectors.source.postgres.protocol.stream import (
    ReplicationStream,
    ReplicationStreamError,
    create_logical_slot,
)
from tests.fixtures.postgres import PgServer

# --- hand-built messages -----------------------------------------------------------------------


def s(text: str) -> bytes:
    return text.encode() + b"\0"


def tup(*cols: bytes | None | str) -> bytes:
    out = struct.pack(">h", len(cols))
    for c in cols:
        if c is None:
            out += b"n"
        elif c == "u":
            out += b"u"
        else:
            assert isinstance(c, bytes)
            out += b"t" + struct.pack(">i", len(c)) + c
    return out


RELATION = (
    b"R"
    + struct.pack(">I", 16384)
    + s("public")
    + s("users")
    + b"d"
    + struct.pack(">h", 2)
    + b"\x01" + s("id") + struct.pack(">Ii", 23, -1)
    + b"\x00" + s("name") + struct.pack(">Ii", 1043, 104)
)  # fmt: skip


def test_lsn_round_trip() -> None:
    assert lsn_to_str(0x16B374D848) == "16/B374D848"
    assert str_to_lsn("16/B374D848") == 0x16B374D848
    assert str_to_lsn("0/0") == 0
    assert lsn_to_str(2**64 - 1) == "FFFFFFFF/FFFFFFFF"
    for bad in ("", "16", "x/1", "1/", "123456789/0"):
        with pytest.raises(ValueError):
            str_to_lsn(bad)


def test_begin_commit_origin() -> None:
    assert decode(b"B" + struct.pack(">QqI", 100, 5, 7)) == po.Begin(100, 5, 7)
    assert decode(b"C" + struct.pack(">BQQq", 0, 100, 120, 5)) == po.Commit(0, 100, 120, 5)
    assert decode(b"O" + struct.pack(">Q", 99) + s("node1")) == po.Origin(99, "node1")


def test_relation_and_type() -> None:
    rel = decode(RELATION)
    assert isinstance(rel, po.Relation)
    assert (rel.relation_id, rel.namespace, rel.name, rel.replica_identity) == (
        16384,
        "public",
        "users",
        "d",
    )
    assert rel.columns == (po.Column(1, "id", 23, -1), po.Column(0, "name", 1043, 104))
    assert [c.is_key for c in rel.columns] == [True, False]
    typ = decode(b"Y" + struct.pack(">I", 70000) + s("public") + s("mood"))
    assert typ == po.Type(None, 70000, "public", "mood")


def test_insert_update_delete_tuples() -> None:
    ins = decode(b"I" + struct.pack(">I", 1) + b"N" + tup(b"1", None, "u"))
    assert ins == po.Insert(None, 1, po.TupleData("tnu", (b"1", None, UNCHANGED_TOAST)))
    upd = decode(b"U" + struct.pack(">I", 1) + b"N" + tup(b"2"))
    assert isinstance(upd, po.Update) and upd.old is None and upd.old_kind is None
    upd = decode(b"U" + struct.pack(">I", 1) + b"K" + tup(b"1", None) + b"N" + tup(b"2", b"x"))
    assert isinstance(upd, po.Update) and upd.old_kind == "K"
    assert upd.old == po.TupleData("tn", (b"1", None))
    assert upd.new.values == (b"2", b"x")
    dele = decode(b"D" + struct.pack(">I", 1) + b"O" + tup(b"1", b"x"))
    assert dele == po.Delete(None, 1, "O", po.TupleData("tt", (b"1", b"x")))
    binary = decode(
        b"I" + struct.pack(">I", 1) + b"N" + b"\x00\x01b\x00\x00\x00\x04\x00\x00\x00\x07"
    )
    assert isinstance(binary, po.Insert) and binary.new.kinds == "b"
    assert binary.new.values == (b"\x00\x00\x00\x07",)


def test_truncate_message_and_streaming() -> None:
    tr = decode(b"T" + struct.pack(">iBII", 2, 3, 10, 11))
    assert tr == po.Truncate(None, 3, (10, 11))
    assert isinstance(tr, po.Truncate) and tr.cascade and tr.restart_identity
    msg = decode(b"M" + struct.pack(">BQ", 1, 42) + s("pfx") + struct.pack(">i", 3) + b"abc")
    assert msg == po.LogicalMessage(None, 1, 42, "pfx", b"abc")
    assert isinstance(msg, po.LogicalMessage) and msg.transactional
    # v2: inside a stream, data messages carry the xid first
    ins = decode(b"I" + struct.pack(">II", 777, 1) + b"N" + tup(b"1"), streaming=True)
    assert isinstance(ins, po.Insert) and ins.xid == 777 and ins.relation_id == 1
    assert decode(b"S" + struct.pack(">IB", 777, 1)) == po.StreamStart(777, True)
    assert decode(b"E") == po.StreamStop()
    assert decode(b"c" + struct.pack(">IBQQq", 777, 0, 5, 6, 7)) == po.StreamCommit(777, 0, 5, 6, 7)
    assert decode(b"A" + struct.pack(">II", 777, 778)) == po.StreamAbort(777, 778)
    assert decode(b"A" + struct.pack(">IIQq", 777, 778, 9, 10)) == po.StreamAbort(777, 778, 9, 10)


def test_copy_framing() -> None:
    x = decode_copy_data(b"w" + struct.pack(">qqq", 1, 2, 3) + b"E")
    assert x == po.XLogData(1, 2, 3, b"E")
    k = decode_copy_data(memoryview(b"k" + struct.pack(">qq?", 9, 8, True)))
    assert k == po.PrimaryKeepalive(9, 8, True)
    r = encode_standby_status(10, 9, 8, now=7, reply=True)
    assert r == b"r" + struct.pack(">qqqq?", 10, 9, 8, 7, True)
    assert len(encode_standby_status(1, 1, 1)) == 34


MALFORMED = [
    b"",
    b"Z",
    b"B" + struct.pack(">Q", 1),  # truncated Begin
    b"B" + struct.pack(">QqI", 1, 2, 3) + b"x",  # trailing byte
    RELATION[:-3],  # truncated column
    RELATION[:10],  # namespace without NUL
    b"R" + struct.pack(">I", 1) + b"\xff\xfe\0" + s("t") + b"d\0\0",  # bad UTF-8
    b"R" + struct.pack(">I", 1) + s("n") + s("t") + b"d" + struct.pack(">h", -1),
    b"I" + struct.pack(">I", 1) + b"X" + tup(b"1"),  # bad tuple tag
    b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"q",  # bad column kind
    b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"t" + struct.pack(">i", 50),
    b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 1) + b"t" + struct.pack(">i", -5),
    b"I" + struct.pack(">I", 1) + b"N" + struct.pack(">h", 2) + b"n",  # missing column
    b"U" + struct.pack(">I", 1) + b"K" + tup(b"1"),  # no new tuple
    b"D" + struct.pack(">I", 1) + b"N" + tup(b"1"),  # delete needs K or O
    b"T" + struct.pack(">iB", 3, 0) + struct.pack(">I", 1),  # fewer ids than announced
    b"M" + struct.pack(">BQ", 1, 1) + s("p") + struct.pack(">i", 10) + b"abc",
    b"S" + struct.pack(">I", 1),
    b"A" + struct.pack(">II", 1, 2) + b"\0",
]


@pytest.mark.parametrize("buf", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_input_raises_pgoutput_error(buf: bytes) -> None:
    with pytest.raises(PgOutputError) as info:
        decode(buf)
    assert isinstance(info.value, ValueError)


def test_every_truncation_of_valid_messages_raises_pgoutput_error() -> None:
    valid = [
        RELATION,
        b"U" + struct.pack(">I", 1) + b"O" + tup(b"1", None, "u") + b"N" + tup(b"2", b"x", "u"),
        b"M" + struct.pack(">BQ", 1, 42) + s("pfx") + struct.pack(">i", 3) + b"abc",
        b"c" + struct.pack(">IBQQq", 777, 0, 5, 6, 7),
    ]
    for msg in valid:
        decode(msg)
        for cut in range(len(msg)):
            with pytest.raises(PgOutputError):
                decode(msg[:cut])


@pytest.mark.parametrize(
    "buf", [b"", b"w" + b"\0" * 10, b"k" + b"\0" * 16, b"k" + b"\0" * 18, b"x123"]
)
def test_malformed_copy_data(buf: bytes) -> None:
    with pytest.raises(PgOutputError):
        decode_copy_data(buf)


# --- a real server -----------------------------------------------------------------------------

BIG = "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 300) AS i)"


def collect(stream: ReplicationStream, until: type, count: int = 1) -> list[Any]:
    """Read and decode messages until ``count`` messages of type ``until`` have arrived."""
    out: list[Any] = []
    streaming = False
    deadline = time.monotonic() + 10
    while sum(isinstance(m, until) for m in out) < count:
        assert time.monotonic() < deadline, f"timed out; got {[type(m).__name__ for m in out]}"
        x = stream.read(timeout=0.5)
        if x is None:
            continue
        msg = decode(x.payload, streaming=streaming)
        if isinstance(msg, po.StreamStart):
            streaming = True
        elif isinstance(msg, po.StreamStop):
            streaming = False
        out.append(msg)
    return out


def kinds(msgs: list[Any]) -> str:
    letters = {
        po.Begin: "B", po.Commit: "C", po.Origin: "O", po.Relation: "R", po.Type: "Y",
        po.Insert: "I", po.Update: "U", po.Delete: "D", po.Truncate: "T",
        po.LogicalMessage: "M", po.StreamStart: "S", po.StreamStop: "E",
        po.StreamCommit: "c", po.StreamAbort: "A",
    }  # fmt: skip
    return "".join(letters[type(m)] for m in msgs)


@pytest.fixture
def sql(pg_server: PgServer, pg_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        yield conn


def open_stream(pg_server: PgServer, pg_db: str, **kwargs: Any) -> ReplicationStream:
    options = kwargs.pop("options", None)
    conn = psycopg.connect(
        pg_server.dsn(pg_db), replication="database", autocommit=True, options=options or ""
    )
    create_logical_slot(conn, "s")
    stream = ReplicationStream(conn, "s", ["p"], messages=True, **kwargs)
    return stream


@pytest.mark.integration
def test_stream_from_real_server(
    pg_server: PgServer, pg_db: str, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("CREATE TYPE mood AS ENUM ('sad', 'happy')")
    sql.execute(
        "CREATE TABLE t (id int PRIMARY KEY, name varchar(20), amount numeric(10,2),"
        " flag bool, at timestamptz, doc jsonb, m mood, big text)"
    )
    sql.execute("ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL")
    sql.execute("CREATE TABLE f (id int PRIMARY KEY, v text)")
    sql.execute("ALTER TABLE f REPLICA IDENTITY FULL")
    sql.execute("CREATE PUBLICATION p FOR ALL TABLES")
    stream = open_stream(pg_server, pg_db)
    stream.start()
    try:
        with sql.transaction():
            sql.execute(
                "INSERT INTO t VALUES (1, 'ann', 12.50, true, '2024-01-02 03:04:05+00',"
                f" '{{\"a\": 1}}', 'happy', {BIG})"
            )
            sql.execute("INSERT INTO t (id, name) VALUES (2, NULL)")
        sql.execute("UPDATE t SET name = 'bob' WHERE id = 1")  # key and big unchanged
        sql.execute("UPDATE t SET id = 20 WHERE id = 2")  # key changes: old key sent
        sql.execute("DELETE FROM t WHERE id = 20")
        sql.execute("INSERT INTO f VALUES (1, 'x')")
        sql.execute("UPDATE f SET v = 'y' WHERE id = 1")
        sql.execute("DELETE FROM f WHERE id = 1")
        sql.execute("SELECT pg_logical_emit_message(true, 'prefix', 'content')")
        sql.execute("SELECT pg_logical_emit_message(false, 'nt', 'now')")
        sql.execute("TRUNCATE t, f")
        msgs = collect(stream, po.Commit, count=9)
        # pgoutput sends a type and a relation before their first use, and again whenever
        # its cache of them is invalidated: TRUNCATE rewrites the tables (new relfilenodes),
        # and other sessions' catalog changes can overflow the invalidation queue at any
        # moment (it happened in a full suite run): the changes, then where they must be.
        core = [m for m in msgs if not isinstance(m, po.Relation | po.Type)]
        expected = ["BIIC", "BUC", "BUC", "BDC", "BIC", "BUC", "BDC", "BMC", "M", "BTC"]
        assert kinds(core) == "".join(expected)
        assert kinds(msgs).startswith("BYRI")
        at = next(i for i, m in enumerate(msgs) if isinstance(m, po.Truncate))
        assert kinds(msgs[at - 2 : at]) == "RR"
        typ, rel = msgs[1], msgs[2]
        assert (typ.namespace, typ.name) == ("public", "mood")
        assert (rel.namespace, rel.name, rel.replica_identity) == ("public", "t", "d")
        assert [(c.name, c.type_oid, c.type_modifier, c.is_key) for c in rel.columns] == [
            ("id", 23, -1, True),
            ("name", 1043, 24, False),
            ("amount", 1700, (10 << 16 | 2) + 4, False),
            ("flag", 16, -1, False),
            ("at", 1184, -1, False),
            ("doc", 3802, -1, False),
            ("m", typ.type_oid, -1, False),
            ("big", 25, -1, False),
        ]
        big = sql.execute(f"SELECT {BIG}").fetchone()[0].encode()
        assert len(big) == 9600
        ins1 = core[1]
        assert ins1.relation_id == rel.relation_id
        assert ins1.new.values == (
            b"1", b"ann", b"12.50", b"t", b"2024-01-02 03:04:05+00", b'{"a": 1}', b"happy", big
        )  # fmt: skip
        assert core[2].new.kinds == "tnnnnnnn"  # explicit NULL and defaults alike

        upd_name, upd_key, dele = core[5], core[8], core[11]
        assert upd_name.old_kind is None and upd_name.old is None
        assert upd_name.new.values[:2] == (b"1", b"bob")
        assert upd_name.new.values[7] is UNCHANGED_TOAST and upd_name.new.kinds[7] == "u"
        assert upd_key.old_kind == "K"
        assert upd_key.old.values == (b"2",) + (None,) * 7
        assert upd_key.new.values[0] == b"20"
        assert dele.old_kind == "K" and dele.old.values == (b"20",) + (None,) * 7

        rel_f = next(m for m in msgs if isinstance(m, po.Relation) and m.name == "f")
        assert (rel_f.name, rel_f.replica_identity) == ("f", "f")
        upd_f, del_f = core[17], core[20]
        assert upd_f.old_kind == "O" and upd_f.old.values == (b"1", b"x")
        assert upd_f.new.values == (b"1", b"y")
        assert del_f.old_kind == "O" and del_f.old.values == (b"1", b"y")

        emitted, plain = core[23], core[25]
        assert (emitted.prefix, emitted.content, emitted.transactional) == (
            "prefix",
            b"content",
            True,
        )
        assert (plain.prefix, plain.content, plain.transactional) == ("nt", b"now", False)
        trunc = core[27]
        assert set(trunc.relation_ids) == {rel.relation_id, rel_f.relation_id}
        assert trunc.options == 0

        # every commit's LSNs are ordered and send_feedback moves confirmed_flush_lsn
        commit = msgs[-1]
        assert isinstance(commit, po.Commit) and commit.end_lsn > commit.commit_lsn
        assert core[0].final_lsn == core[3].commit_lsn
        stream.send_feedback(commit.end_lsn)
        deadline = time.monotonic() + 5
        while True:
            (confirmed,) = sql.execute(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 's'"
            ).fetchone()
            if str_to_lsn(confirmed) == commit.end_lsn:
                break
            assert time.monotonic() < deadline, f"confirmed_flush_lsn stuck at {confirmed}"
            stream.read(timeout=0.1)
    finally:
        stream.close()


@pytest.mark.integration
def test_streamed_transaction_protocol_2(
    pg_server: PgServer, pg_db: str, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    sql.execute("CREATE PUBLICATION p FOR TABLE t")
    stream = open_stream(
        pg_server,
        pg_db,
        proto_version=2,
        streaming=True,
        options="-c logical_decoding_work_mem=64kB",
    )
    stream.start()
    try:
        sql.execute("INSERT INTO t SELECT i, repeat('x', 100) FROM generate_series(1, 2000) i")
        msgs = collect(stream, po.StreamCommit)
        letters = kinds(msgs)
        assert letters[0] == "S" and letters[-1] == "c", letters[:20]
        assert set(letters) == {"S", "R", "I", "E", "c"}
        start, end = msgs[0], msgs[-1]
        assert start.first_segment
        inserts = [m for m in msgs if isinstance(m, po.Insert)]
        assert len(inserts) == 2000
        assert {m.xid for m in inserts} == {start.xid} == {end.xid}
        assert inserts[-1].new.values == (b"2000", b"x" * 100)
    finally:
        stream.close()


def read_all(stream: ReplicationStream, commits: int, max_msgs: int) -> list[tuple[int, bytes]]:
    """(wal_start, payload) of every message read with `read_batch` until ``commits`` Commits,
    checking each batch's size against ``max_msgs``."""
    got: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 30
    while sum(p[:1] == b"C" for _, p in got) < commits:
        assert time.monotonic() < deadline, f"timed out after {len(got)} messages"
        starts, payloads = stream.read_batch(max_msgs, 0.2)
        assert len(starts) == len(payloads) <= max_msgs
        got.extend(zip(starts, payloads, strict=True))
    return got


@pytest.mark.integration
def test_read_batch_gives_every_message_as_read_does(
    pg_server: PgServer, pg_db: str, sql: psycopg.Connection[Any]
) -> None:
    """`read_batch` through the C reader, and through its fallback, gives exactly the
    messages `read` gives, in order, with their WAL starts; and the slot keeps answering."""
    sql.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    sql.execute("CREATE PUBLICATION p FOR TABLE t")
    conns, streams = [], []
    for slot in ("a", "b", "c"):
        conn = psycopg.connect(pg_server.dsn(pg_db), replication="database", autocommit=True)
        create_logical_slot(conn, slot)
        conns.append(conn)
        streams.append(ReplicationStream(conn, slot, ["p"], messages=True, status_interval=0.05))
    c_reader, slow, plain = streams
    if os.environ.get("HUB_REQUIRE_SPEEDUPS") == "1":
        assert c_reader._read_xlog is not None
    slow._read_xlog = None
    for stream in streams:
        stream.start()
    try:
        sql.execute("INSERT INTO t SELECT i, repeat('x', i % 300) FROM generate_series(1, 3000) i")
        for i in range(1, 21):
            sql.execute("UPDATE t SET v = %s WHERE id = %s", (f"v{i}", i))
        sql.execute("DELETE FROM t WHERE id < 500")
        sql.execute("SELECT pg_logical_emit_message(false, 'nt', 'now')")
        sql.execute("INSERT INTO t VALUES (0, 'last')")
        want: list[tuple[int, bytes]] = []
        while sum(p[:1] == b"C" for _, p in want) < 23:
            x = plain.read(timeout=5)
            assert x is not None
            want.append((x.wal_start, x.payload))
        assert len(want) == 3 + 3000 + 20 * 3 + 2 + 499 + 1 + 3
        assert read_all(c_reader, 23, 7) == want
        assert read_all(slow, 23, 100) == want
        # idle: keepalives are answered and move keepalive_lsn up to the last commit
        end = [p for _, p in want if p[:1] == b"C"][-1]
        end_lsn = struct.unpack_from(">q", end, 10)[0]
        deadline = time.monotonic() + 20
        while c_reader.keepalive_lsn < end_lsn:
            assert time.monotonic() < deadline, "no keepalive after the last commit"
            assert c_reader.read_batch(10, 0.2) == ((), [])
        # the server ends the stream: the reader says so
        pid = conns[0].pgconn.backend_pid
        sql.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises((ReplicationStreamError, psycopg.OperationalError)):
            while True:
                c_reader.read_batch(10, 0.2)
    finally:
        for stream in streams:
            stream.close()


def test_fast_row_decoding_equals_the_checked_reader() -> None:
    """Insert/Update/Delete take a fast path; it must give what the checked reader gives,
    and leave every malformed message to the checked reader's error."""
    import random
    import struct

    from connectors.source.postgres.protocol import pgoutput as pg

    rnd = random.Random(7)

    def tuple_bytes() -> bytes:
        n = rnd.randint(0, 6)
        out = struct.pack(">h", n)
        for _ in range(n):
            k = rnd.choice(b"nutb")
            out += bytes([k])
            if k in b"tb":
                v = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 9)))
                out += struct.pack(">i", len(v)) + v
        return out

    for _ in range(3000):
        kind = rnd.choice(b"IUD")
        body = struct.pack(">I", rnd.randrange(2**32))
        if kind == ord("I"):
            body += b"N" + tuple_bytes()
        elif kind == ord("D"):
            body += rnd.choice([b"K", b"O"]) + tuple_bytes()
        else:
            body += rnd.choice([b"K", b"O"]) + tuple_bytes() if rnd.random() < 0.5 else b""
            body += b"N" + tuple_bytes()
        msg = bytes([kind]) + body
        checked = pg._DECODERS[kind](pg._Reader(msg, chr(kind)), False)
        assert pg.decode(msg) == checked
        cut = msg[: rnd.randrange(len(msg))]  # truncated: the checked reader's error
        with pytest.raises(pg.PgOutputError):
            pg.decode(cut)
        bad = msg + b"\x00"  # trailing byte
        with pytest.raises(pg.PgOutputError):
            pg.decode(bad)
