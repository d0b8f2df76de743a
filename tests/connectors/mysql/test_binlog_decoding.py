"""The binlog decoder against a real MariaDB: rows written through SQL, read back from the
server's binlog file by `connectors.source.mysql.protocol`, must equal what the server itself
returns for them (SELECT through PyMySQL), type by type, for inserts, updates and deletes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest

from connectors.source.mysql.protocol.events import E, read_file, rows_event, table_map
from connectors.source.mysql.protocol.values import T, ZeroDate
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration

DDL = """
CREATE TABLE typed (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT,
  mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE, dec1 DECIMAL(5,2), dec2 DECIMAL(30,10), dec3 DECIMAL(65,30),
  dec4 DECIMAL(10,0),
  dt0 DATETIME, dt6 DATETIME(6), dt3 DATETIME(3), ts0 TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL,
  t0 TIME, t6 TIME(6), t2 TIME(2), da DATE, y YEAR,
  c CHAR(5), vc VARCHAR(300), l1 VARCHAR(10) CHARACTER SET latin1, bin BINARY(4), vb VARBINARY(20),
  tx TEXT, bl BLOB, lt LONGTEXT, j JSON,
  e ENUM('red','green','blue'), st SET('a','b','c','d'), b1 BIT(1), b13 BIT(13)
) DEFAULT CHARSET=utf8mb4
"""

ROWS = [
    (
        1,
        -128,
        255,
        -32768,
        65535,
        -8388608,
        16777215,
        -2147483648,
        4294967295,
        -9223372036854775808,
        18446744073709551615,
        1.5,
        -2.25e300,
        Decimal("-123.45"),
        Decimal("12345678901234567890.0123456789"),
        Decimal("-0." + "0" * 29 + "1"),
        Decimal(0),
        "1000-01-01 00:00:00",
        "9999-12-31 23:59:59.999999",
        "2024-02-29 12:34:56.789",
        "1970-01-01 00:00:01",
        "2038-01-19 03:14:07.999999",
        "-838:59:59",
        "838:59:59.000000",
        "-00:00:00.01",
        "1000-01-01",
        2155,
        "ab",
        "é" * 300,
        "àç",
        b"\x00\x01",
        b"\xff" * 20,
        "text ✓",
        b"\x00\xff",
        "x" * 70000,
        '{"a": [1, 2.5, null, "ü"]}',
        "blue",
        "a,d",
        1,
        8191,
    ),
    (2, *([None] * 39)),
    (
        3,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0.0,
        0.0,
        Decimal("0.00"),
        Decimal("-1"),
        Decimal("0.5"),
        Decimal(-9999999999),
        "0000-00-00 00:00:00",
        "2000-01-01 00:00:00.000001",
        "2000-01-01 00:00:00",
        None,
        None,
        "00:00:00",
        "-00:00:01.000001",
        "12:34:56.78",
        "0000-00-00",
        1901,
        "",
        "",
        "",
        b"",
        b"",
        "",
        b"",
        "",
        "{}",
        "red",
        "",
        0,
        1,
    ),
]


def _connect(server: MariaDBServer, db: str) -> Any:
    con = pymysql.connect(unix_socket=str(server.socket), user="root", database=db,
                          autocommit=True, charset="utf8mb4")  # fmt: skip
    con.cursor().execute("SET time_zone = '+00:00', sql_mode = ''")
    return con


def _decoded(server: MariaDBServer, table: str) -> tuple[list[tuple[str, Any, Any]], Any]:
    """(op, before, after) of every rows event of ``table`` in the server's binlog files, and
    the table's last TABLE_MAP."""
    out = []
    found = None
    for path in sorted(Path(server.data_dir).glob("binlog.[0-9]*")):
        tables = {}
        for _, h, event in read_file(str(path)):
            if h.type == E.TABLE_MAP:
                tm = table_map(event)
                tables[tm.table_id] = tm
                found = tm if tm.table == table else found
            elif h.type in (E.WRITE_V1, E.UPDATE_V1, E.DELETE_V1, E.WRITE, E.UPDATE, E.DELETE):
                ev = rows_event(event, tables)
                if tables[ev.table_id].table == table:
                    out += [(ev.op, b, a) for b, a in ev.rows]
    return out, found


def _as_selected(value: Any, column: Any) -> Any:
    """A decoded value in the form PyMySQL returns for the same column."""
    if value is None:
        return None
    t = column.real_type
    if t == T.ENUM:
        return column.labels[value - 1] if value else ""
    if t == T.SET:
        return ",".join(label for i, label in enumerate(column.labels) if value >> i & 1)
    if isinstance(value, ZeroDate):  # PyMySQL gives the server's text of such a value
        date = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        if t == T.DATE:
            return date
        return f"{date} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if t == T.TIMESTAMP2:
        return value.replace(tzinfo=None)
    if t == T.BIT:
        return value
    if t == T.FLOAT:
        return value  # compared as float32 below
    return value


def test_every_type_decodes_as_the_server_reads_it(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    con = _connect(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute(DDL)
    marks = ", ".join(["%s"] * 40)
    assert {len(r) for r in ROWS} == {40}
    for row in ROWS:
        cur.execute(f"INSERT INTO typed VALUES ({marks})", row)
    cur.execute("SELECT * FROM typed ORDER BY id")
    inserted = cur.fetchall()
    cur.execute("UPDATE typed SET vc = 'changed', dec2 = dec2 + 1, t6 = '-01:00:00.5' "
                "WHERE id IN (1, 3)")  # fmt: skip
    cur.execute("SELECT * FROM typed WHERE id IN (1, 3) ORDER BY id")
    updated = cur.fetchall()
    cur.execute("DELETE FROM typed WHERE id = 2")
    cur.execute("FLUSH BINARY LOGS")  # the events are in a closed file
    events, tm = _decoded(mariadb_server, "typed")
    assert [c.name for c in tm.columns][:3] == ["id", "ti", "tu"]
    assert tm.primary_key == (0,)

    def selected(image: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_as_selected(v, c) for v, c in zip(image, tm.columns, strict=True))

    def same(decoded: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
        for c, got, want in zip(tm.columns, selected(decoded), expected, strict=True):
            if c.type == T.FLOAT and got is not None:
                assert abs(got - want) <= abs(want) * 1e-6, (c.name, got, want)
            else:
                assert got == want, (c.name, got, want)

    ops = [op for op, _, _ in events]
    assert ops == ["c", "c", "c", "u", "u", "d"]
    for (_, before, after), want in zip(events[:3], inserted, strict=True):
        assert before is None
        same(after, want)
    for (_, before, after), old, new in zip(events[3:5], (inserted[0], inserted[2]), updated,
                                            strict=True):  # fmt: skip
        same(before, old)
        same(after, new)
    assert events[5][2] is None
    same(events[5][1], inserted[1])
    # spot checks of the decoded forms themselves
    first = events[0][2]
    names = [c.name for c in tm.columns]
    assert first[names.index("bu")] == 18446744073709551615
    assert first[names.index("dt6")] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert first[names.index("t0")] == -dt.timedelta(hours=838, minutes=59, seconds=59)
    assert first[names.index("ts6")] == dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=dt.UTC)
    assert first[names.index("l1")] == "àç"
    assert events[2][2][names.index("da")] == ZeroDate(0, 0, 0)
    assert events[2][2][names.index("t2")] == dt.timedelta(hours=12, minutes=34, seconds=56.78)
