"""Reading the binlog as a replica from a real MariaDB: from a file and position and from a
GTID position, events decoded on the way, heartbeats while the server is idle."""

from __future__ import annotations

import time
from typing import Any

import pymysql
import pytest

from connectors.source.mysql.protocol.events import E, rows_event, table_map
from connectors.source.mysql.protocol.stream import HEARTBEAT, BinlogStream
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


def _root(server: MariaDBServer, db: str) -> Any:
    return pymysql.connect(unix_socket=str(server.socket), user="root", database=db,
                           autocommit=True)  # fmt: skip


def _stream(server: MariaDBServer, server_id: int = 4242) -> BinlogStream:
    return BinlogStream(server.host, server.port, server.user, server.password, server_id,
                        heartbeat_s=0.5)  # fmt: skip


def _rows(stream: BinlogStream, table: str, want: int, timeout: float = 20) -> list[Any]:
    """Decoded (op, before, after) rows of ``table`` until ``want`` of them came."""
    tables: dict[int, Any] = {}
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < want:
        assert time.monotonic() < deadline, out
        got = stream.read()
        assert got is not None
        h, event = got
        if h.type == E.TABLE_MAP:
            tm = table_map(event, stream.checksum)
            tables[tm.table_id] = tm
        elif h.type in (E.WRITE_V1, E.UPDATE_V1, E.DELETE_V1):
            ev = rows_event(event, tables, stream.checksum)
            if tables[ev.table_id].table == table:
                out += [(ev.op, b, a) for b, a in ev.rows]
    return out


def test_from_file_position_and_from_gtid(mariadb_server: MariaDBServer, mariadb_db: str) -> None:
    con = _root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(20))")
    cur.execute("SHOW MASTER STATUS")
    file, pos = cur.fetchone()[:2]
    cur.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
    cur.execute("SELECT @@gtid_binlog_pos")
    gtid_after_first = cur.fetchone()[0]
    cur.execute("UPDATE t SET v = 'uno' WHERE id = 1")
    stream = _stream(mariadb_server)
    try:
        stream.open_file(file, pos)
        assert _rows(stream, "t", 3) == [
            ("c", None, (1, "one")), ("c", None, (2, "two")), ("u", (1, "one"), (1, "uno")),
        ]  # fmt: skip
        assert stream.file == file
        cur.execute("DELETE FROM t WHERE id = 2")  # streamed as it happens
        assert _rows(stream, "t", 1) == [("d", (2, "two"), None)]
        got = stream.read()  # the delete's transaction ends
        assert got is not None and got[0].type == E.XID
        started = time.monotonic()  # then the server is idle: heartbeats keep coming
        got = stream.read()
        assert got is not None and got[0].type == HEARTBEAT
        assert time.monotonic() - started < 2
    finally:
        stream.close()
    stream = _stream(mariadb_server, 4243)
    try:
        stream.open_gtid(gtid_after_first)  # after the first transaction: the update comes first
        assert _rows(stream, "t", 2) == [("u", (1, "one"), (1, "uno")), ("d", (2, "two"), None)]
    finally:
        stream.close()


def test_a_purged_or_unknown_position_is_an_error(mariadb_server: MariaDBServer) -> None:
    stream = _stream(mariadb_server, 4244)
    try:
        stream.open_file("binlog.999999", 4)
        with pytest.raises(pymysql.err.OperationalError) as err:
            stream.read()
        assert "binlog.999999" in str(err.value) or "log file" in str(err.value)
    finally:
        stream.close()
