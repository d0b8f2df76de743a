"""A replica's binlog connection, on a PyMySQL connection: register as a replica, ask for the
binlog from a file and position or (MariaDB) from a GTID position, and read the events as the
server sends them, checksums checked.

It never reconnects by itself: a lost connection raises, and the caller resumes from the
position it has made durable (replication libraries that reconnect from the position they
were first given send the same events again). While the source is idle the server sends a
heartbeat every ``heartbeat_s`` seconds, so a read returns at least that often.

Not thread-safe: one reader.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.source.mysql.protocol.events import HEADER, E, Header, check_crc, header

COM_BINLOG_DUMP, COM_REGISTER_SLAVE = 0x12, 0x15
HEARTBEAT = 27
MARIADB_SLAVE_CAPABILITY_GTID = 4
BINLOG_SEND_ANNOTATE_ROWS = 2  # COM_BINLOG_DUMP flag (MariaDB)


@dataclass(frozen=True, slots=True)
class Position:
    """Where the events come from: the file and the position after the event (``log_pos``
    of its header; 0 for the server's artificial events)."""

    file: str
    pos: int


def connect_pymysql(tls: tuple[Mapping[str, Any], bool] = ({}, True), **kwargs: Any) -> Any:
    """A PyMySQL connection with ``tls``: its TLS arguments (``ssl``, ``ssl_disabled``) and
    whether TLS is optional, used when the server offers it (given an ``ssl`` context,
    PyMySQL otherwise refuses a server without TLS)."""
    import pymysql

    settings, optional = tls
    con = pymysql.connections.Connection(**kwargs, **settings, defer_connect=True)
    if optional and settings.get("ssl") is not None:
        con._ssl_required = False  # (PREFERRED: PyMySQL's own default without a context)
    con.connect()
    return con


class BinlogStream:
    def __init__(
        self, host: str, port: int, user: str, password: str, server_id: int, *,
        heartbeat_s: float = 1.0, connect_timeout: float = 10.0, annotate_rows: bool = False,
        tls: tuple[Mapping[str, Any], bool] = ({}, True),
    ) -> None:  # fmt: skip
        self.server_id = server_id
        self.annotate_rows = annotate_rows  # MariaDB: send ANNOTATE_ROWS (the statements)
        self.heartbeat_s = heartbeat_s
        self.con = connect_pymysql(
            tls, host=host, port=port, user=user, password=password, autocommit=True,
            connect_timeout=connect_timeout, read_timeout=max(heartbeat_s * 5, 10.0),
        )  # fmt: skip
        self.mariadb = "mariadb" in self._one("SELECT VERSION()").lower()
        self.checksum = False
        self.file = ""

    def _one(self, sql: str) -> str:
        with self.con.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
        return "" if row is None or row[0] is None else str(row[0])

    def _prepare(self) -> None:
        # every event the server sends carries the checksum it writes (the artificial ROTATE
        # that comes before the FORMAT_DESCRIPTION too)
        self.checksum = self._one("SELECT @@global.binlog_checksum").upper() == "CRC32"
        with self.con.cursor() as cur:
            # events with the checksum the server writes (CRC32 or NONE)
            # (and under the names MySQL reads since 8.0.26, the old ones kept for older
            # servers and MariaDB: user variables, a name a server does not read is inert)
            for name in ("master", "source"):
                cur.execute(f"SET @{name}_binlog_checksum = @@global.binlog_checksum")
                cur.execute(f"SET @{name}_heartbeat_period = %s", (int(self.heartbeat_s * 1e9),))
            if self.mariadb:
                cur.execute("SET @mariadb_slave_capability = %s", (MARIADB_SLAVE_CAPABILITY_GTID,))
        host = b"hub"
        self.con._execute_command(
            COM_REGISTER_SLAVE,
            struct.pack("<IB", self.server_id, len(host))
            + host
            + b"\x00\x00"
            + struct.pack("<HII", 0, 0, 0),
        )
        self.con._read_packet()  # OK (an error raises)

    def open_file(self, file: str, pos: int) -> None:
        """Stream from ``pos`` of ``file`` (4: its beginning)."""
        self._prepare()
        self.file = file
        self._dump(file, pos)

    def open_gtid(self, gtid: str) -> None:
        """Stream from after the MariaDB GTID position ``gtid`` (``0-1-100,1-2-7``; empty:
        from the oldest binlog the server has)."""
        if not self.mariadb:
            raise NotImplementedError("MySQL GTID positions (COM_BINLOG_DUMP_GTID) come later")
        self._prepare()
        with self.con.cursor() as cur:
            cur.execute("SET @slave_connect_state = %s", (gtid,))
            cur.execute("SET @slave_gtid_strict_mode = 1")
            cur.execute("SET @slave_gtid_ignore_duplicates = 0")
        self._dump("", 4)

    def _dump(self, file: str, pos: int) -> None:
        name = file.encode()
        self.con._execute_command(
            COM_BINLOG_DUMP,
            struct.pack(
                "<IHI", pos, BINLOG_SEND_ANNOTATE_ROWS if self.annotate_rows else 0, self.server_id
            )
            + name,  # fmt: skip
        )

    def read(self) -> tuple[Header, memoryview] | None:
        """The next event, waiting for it (a heartbeat comes at least every ``heartbeat_s``):
        (header, the whole event). None: the server ended the stream."""
        packet = self.con._read_packet()  # a server error raises pymysql's error
        data = memoryview(packet.get_all_data())
        if data[0] == 0xFE and len(data) < 9:
            return None  # EOF
        event = data[1:]
        h = header(event[:HEADER])
        if h.type == E.FORMAT_DESCRIPTION:
            self.checksum = event[-5] == 1
        if self.checksum:
            check_crc(event, f"binlog event of type {h.type} in {self.file} at {h.log_pos}")
        if h.type == E.ROTATE:  # position (8 bytes), then the next file's name
            end = len(event) - (4 if self.checksum else 0)
            self.file = bytes(event[HEADER + 8 : end]).decode()
        return h, event

    def close(self) -> None:
        self.con.close()
