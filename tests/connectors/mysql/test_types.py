"""Each MySQL/MariaDB column type as Debezium's MySQL connector writes it, the same from the
snapshot (PyMySQL's text protocol) and from the binlog (row events), schemas included."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.connectors.mysql.helpers import (
    poll_for,
    poll_until,
    root,
    snapshot_and_stream,
    source_config,
    start_task,
)
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration

# column definition, SQL literal, expected event value, expected (type, name) of its schema
MATRIX: list[tuple[str, str, Any, tuple[str, str | None]]] = [
    ("tinyint", "-128", -128, ("int16", None)),
    ("tinyint unsigned", "255", 255, ("int16", None)),
    ("smallint unsigned", "65535", 65535, ("int32", None)),
    ("mediumint", "-8388608", -8388608, ("int32", None)),
    ("int unsigned", "4294967295", 4294967295, ("int64", None)),
    ("bigint", "-9223372036854775808", -9223372036854775808, ("int64", None)),
    ("bigint unsigned", "18446744073709551615", -1, ("int64", None)),  # long mode wraps
    ("float", "1.5", 1.5, ("float", None)),
    ("double", "-2.25e100", -2.25e100, ("double", None)),
    (
        "decimal(20,5)",
        "-123456789012345.12345",
        (-12345678901234512345).to_bytes(9, "big", signed=True),
        ("bytes", "org.apache.kafka.connect.data.Decimal"),
    ),
    (
        "decimal(5,0)",
        "99999",
        (99999).to_bytes(3, "big", signed=True),
        ("bytes", "org.apache.kafka.connect.data.Decimal"),
    ),
    # 65 digits: past the 28 of Python's default decimal context, nothing may be rounded
    (
        "decimal(65,30)",
        "-12345678901234567890123456789012345.123456789012345678901234567891",
        (-12345678901234567890123456789012345123456789012345678901234567891).to_bytes(
            27, "big", signed=True
        ),
        ("bytes", "org.apache.kafka.connect.data.Decimal"),
    ),
    ("bit(1)", "b'1'", True, ("boolean", None)),
    (
        "bit(10)",
        "b'1000000001'",
        (0b1000000001).to_bytes(2, "little"),
        ("bytes", "io.debezium.data.Bits"),
    ),
    ("date", "'2024-02-29'", 19782, ("int32", "io.debezium.time.Date")),
    ("date", "'0000-00-00'", None, ("int32", "io.debezium.time.Date")),
    ("date not null", "'0000-00-00'", 0, ("int32", "io.debezium.time.Date")),
    ("date", "'1000-01-01'", -354285, ("int32", "io.debezium.time.Date")),
    ("datetime", "'2024-01-02 03:04:05'", 1704164645000, ("int64", "io.debezium.time.Timestamp")),
    (
        "datetime(3)",
        "'2024-01-02 03:04:05.678'",
        1704164645678,
        ("int64", "io.debezium.time.Timestamp"),
    ),
    (
        "datetime(6)",
        "'9999-12-31 23:59:59.999999'",
        253402300799999999,
        ("int64", "io.debezium.time.MicroTimestamp"),
    ),
    ("datetime", "'0000-00-00 00:00:00'", None, ("int64", "io.debezium.time.Timestamp")),
    (
        "timestamp null",
        "'2024-01-02 03:04:05'",
        "2024-01-02T03:04:05Z",
        ("string", "io.debezium.time.ZonedTimestamp"),
    ),
    (
        "timestamp(3) null",
        "'2024-01-02 03:04:05.120'",
        "2024-01-02T03:04:05.120Z",
        ("string", "io.debezium.time.ZonedTimestamp"),
    ),
    (
        "time",
        "'-838:59:59'",
        -(838 * 3600 + 59 * 60 + 59) * 1_000_000,
        ("int64", "io.debezium.time.MicroTime"),
    ),
    ("time(6)", "'25:00:00.000001'", 90_000_000_001, ("int64", "io.debezium.time.MicroTime")),
    ("time(2)", "'-00:00:01.50'", -1_500_000, ("int64", "io.debezium.time.MicroTime")),
    ("year", "2155", 2155, ("int32", "io.debezium.time.Year")),
    ("char(3)", "'ab'", "ab", ("string", None)),
    ("varchar(20)", "'héllo 🐘'", "héllo 🐘", ("string", None)),
    ("varchar(20) character set latin1", "'café'", "café", ("string", None)),
    ("text", "'long text'", "long text", ("string", None)),
    ("binary(4)", "x'0102'", b"\x01\x02\x00\x00", ("bytes", None)),
    ("varbinary(10)", "x'00ff'", b"\x00\xff", ("bytes", None)),
    ("blob", "x'deadbeef'", b"\xde\xad\xbe\xef", ("bytes", None)),
    ("enum('a','b c','d''e')", "'d''e'", "d'e", ("string", "io.debezium.data.Enum")),
    ("set('x','y','z')", "'x,z'", "x,z", ("string", "io.debezium.data.EnumSet")),
    ("json", "'{\"a\": [1, 2]}'", '{"a": [1, 2]}', ("string", None)),  # MariaDB: JSON is text
    (
        "geometry",
        "ST_GeomFromText('POINT(1 2)', 4326)",
        {"wkb": bytes.fromhex("0101000000000000000000f03f0000000000000040"), "srid": 4326},
        ("struct", "io.debezium.data.geometry.Geometry"),
    ),
    # MariaDB's own types, which its binlog logs as BINARY(16) / BINARY(4)
    (
        "uuid",
        "'6BA7B810-9DAD-11D1-80B4-00C04FD43000'",  # a version 1 UUID, trailing zero bytes
        "6ba7b810-9dad-11d1-80b4-00c04fd43000",
        ("string", "io.debezium.data.Uuid"),
    ),
    ("inet6", "'2001:db8:0:0:1:0:0:0'", "2001:db8:0:0:1::", ("string", None)),
    ("inet6", "'::ffff:192.0.2.128'", "::ffff:192.0.2.128", ("string", None)),
    ("inet4", "'192.0.2.0'", "192.0.2.0", ("string", None)),
    ("int", "NULL", None, ("int32", None)),
    # (the snapshot read the server's text: a DOUBLE(M,D) printed with D decimals, -1e-10,
    # and a YEAR(2) with two digits, 69, where the stream had the stored double and 2069)
    ("double(20,10)", "-0.0000000001", -1.000000082740371e-10, ("double", None)),
    ("year(2)", "69", 2069, ("int32", "io.debezium.time.Year")),
    ("year(2)", "70", 1970, ("int32", "io.debezium.time.Year")),
    # a POINT as Debezium's Point (its coordinates too), an SRID of 0 as none (a review's: a
    # Geometry without x and y, and SRID 0)
    (
        "point",
        "ST_GeomFromText('POINT(1.5 -2)')",
        {
            "x": 1.5,
            "y": -2.0,
            "wkb": bytes.fromhex("0101000000000000000000f83f00000000000000c0"),
            "srid": None,
        },
        ("struct", "io.debezium.data.geometry.Point"),
    ),  # fmt: skip
    (
        "geometry",
        "ST_GeomFromText('LINESTRING(0 0, 1 1)')",
        {
            "wkb": bytes.fromhex("010200000002000000" + "00" * 16 + "000000000000f03f" * 2),
            "srid": None,
        },
        ("struct", "io.debezium.data.geometry.Geometry"),
    ),  # fmt: skip
]


def _columns() -> str:
    return ", ".join(f"c{i} {d}" for i, (d, *_) in enumerate(MATRIX))


def _values(row_id: int) -> str:
    return f"({row_id}, " + ", ".join(v for _, v, *_ in MATRIX) + ")"


def test_type_matrix_snapshot_and_stream(mariadb_server: MariaDBServer, mariadb_db: str) -> None:
    row = ", ".join(v for _, v, *_ in MATRIX)
    snap, streamed = snapshot_and_stream(
        mariadb_server, mariadb_db, f"id int PRIMARY KEY, {_columns()}", row
    )
    assert snap.value_schema == streamed.value_schema
    fields = {f["field"]: f for f in snap.value_schema["fields"][0]["fields"]}
    for record in (snap, streamed):
        after = record.value["after"]
        for i, (definition, literal, want, (kind, name)) in enumerate(MATRIX):
            col = f"c{i}"
            assert after[col] == want, (record.value["op"], definition, literal, after[col])
            assert (fields[col]["type"], fields[col].get("name")) == (kind, name), definition
    assert fields["c13"]["parameters"] == {"length": "10"}
    assert fields["c35"]["parameters"] == {"allowed": "a,b c,d'e"}
    assert fields["c9"]["parameters"] == {"scale": "5", "connect.decimal.precision": "20"}
    assert fields["c11"]["parameters"] == {"scale": "30", "connect.decimal.precision": "65"}
    assert fields["c16"]["optional"] is False and fields["c15"]["optional"] is True


def test_modes(mariadb_server: MariaDBServer, mariadb_db: str) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, u bigint unsigned, d decimal(6,2), "
                "b varbinary(4), tm time(3))")  # fmt: skip
    cur.execute("INSERT INTO t VALUES (1, 18446744073709551615, 12.5, x'0102', '01:00:00.5')")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "bigint.unsigned.handling.mode": "precise", "decimal.handling.mode": "string",
        "binary.handling.mode": "base64", "time.precision.mode": "connect",
    })  # fmt: skip
    task = start_task(cfg)
    try:
        snap = poll_until(task, 1)[0]
        cur.execute("INSERT INTO t VALUES (2, 18446744073709551615, 12.5, x'0102', '01:00:00.5')")
        streamed = poll_until(task, 1)[0]
        assert not [r for r in poll_for(task, 0.2) if r.topic]
    finally:
        task.stop()
    for r in (snap, streamed):
        after = r.value["after"]
        assert after["u"] == (2**64 - 1).to_bytes(9, "big", signed=True)
        assert after["d"] == "12.50"
        assert after["b"] == base64.b64encode(b"\x01\x02").decode()
        assert after["tm"] == 3_600_500
    assert snap.value_schema == streamed.value_schema


# (column definition, the stored bytes, the text they are in that charset)
CHARSETS = [
    ("point", "POINT(1, 2)", None),  # first: a geometry shifted every later column's charset
    ("varchar(8) character set latin2", "x'C3A9'", "ĂŠ"),
    ("varchar(8) character set cp1251", "x'D0B0'", "Р°"),
    ("varchar(8) character set koi8r", "x'D0BFD180'", "п©я─"),
    ("varchar(8) character set gbk", "x'D6D0CEC4'", "中文"),
    # (MariaDB's euckr holds cp949's Hangul too: Python's euc_kr stopped the stream on it)
    ("varchar(8) character set euckr", "x'8148B0A1'", "갎가"),
    ("varchar(8) character set utf16", "x'0142'", "ł"),
    ("varchar(8) character set ucs2", "x'00E9'", "é"),
    ("varchar(8) character set latin1", "x'81E9'", "\x81é"),  # (cp1252 has no 0x81)
    ("varchar(8) character set utf8mb4 collate utf8mb4_uca1400_ai_ci", "x'F09F9880'", "😀"),
    ("blob", "x'414243'", b"ABC"),
    ("varchar(8) character set utf8mb4", "x'C3A9'", "é"),
]


def test_every_charset_reads_as_the_server_holds_it_after_a_geometry(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    cols = ", ".join(f"c{i} {d}" for i, (d, _, _) in enumerate(CHARSETS))
    values = ", ".join(v for _, v, _ in CHARSETS)
    snap, streamed = snapshot_and_stream(
        mariadb_server, mariadb_db, f"id int PRIMARY KEY, {cols}", values
    )
    for record in (snap, streamed):
        after = record.value["after"]
        for i, (definition, _, text) in enumerate(CHARSETS):
            if text is not None:
                assert after[f"c{i}"] == text, (record.value["op"], definition)


def test_a_system_versioned_table_is_refused_by_name(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (its snapshot left it out silently while its changes streamed)
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE plain (id int PRIMARY KEY)")
    cur.execute("CREATE TABLE hist (id int PRIMARY KEY, a int) WITH SYSTEM VERSIONING")
    with pytest.raises(Exception, match=rf"{mariadb_db}\.hist are SYSTEM VERSIONED"):
        start_task(source_config(mariadb_server, mariadb_db)).stop()
    excluded = source_config(mariadb_server, mariadb_db, **{
        "table.exclude.list": rf"{mariadb_db}\.hist"})  # fmt: skip
    start_task(excluded).stop()


def test_enum_and_set_labels_in_their_columns_charset(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (the binlog's labels were read as UTF-8: a latin1 one stopped the stream)
    snap, streamed = snapshot_and_stream(
        mariadb_server, mariadb_db,
        "id int PRIMARY KEY, e enum('é','ü') CHARACTER SET latin1, "
        "s set('ä','ö') CHARACTER SET latin1, u enum('😀','x')",
        "'ü', 'ä,ö', '😀'",
    )  # fmt: skip
    for record in (snap, streamed):
        after = record.value["after"]
        assert (after["e"], after["s"], after["u"]) == ("ü", "ä,ö", "😀"), record.value["op"]


def test_a_table_without_primary_key_has_one_key_in_snapshot_and_stream(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (MariaDB's binlog names a NOT NULL unique key as the key: the stream keyed by it,
    # the snapshot by none, in one topic)
    snap, streamed = snapshot_and_stream(
        mariadb_server, mariadb_db, "id int NOT NULL, a int, UNIQUE KEY (id)", "1"
    )
    assert (snap.key, snap.key_schema) == (streamed.key, streamed.key_schema) == (None, None)


def test_mariadb_uuid_and_inet_as_the_server_prints_them(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (the snapshot refused these types; a column added while streaming came out as bytes)
    import random
    import uuid

    rnd = random.Random(7)
    specials = ["::", "::1", "::2", "::ffff", "::0.1.0.0", "::ffff:0.0.0.0", "::fffe:1.2.3.4",
                "1:0:0:1:0:0:0:1", "1:0:0:1:0:0:1:1", "1:0:2:3:4:5:6:7", "1:2:3:4:5:6:7:0",
                "64:ff9b::1.2.3.4", "fe80::1", "1:2:3:4:5:6:7:8"]  # fmt: skip
    addresses = specials + [
        ":".join(rnd.choice(["0", "0", "1", f"{rnd.getrandbits(16):x}"]) for _ in range(8))
        for _ in range(60)
    ]  # fmt: skip
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE t (id uuid PRIMARY KEY, a inet6, b inet4)")
    # (MariaDB refuses a version past 7 without the RFC variant)
    ids = [str(uuid.UUID(int=rnd.getrandbits(128), version=rnd.randint(1, 5))) for _ in addresses]
    rows = [
        (i, a, f"{n % 256}.{n % 7}.0.{n}")
        for n, (i, a) in enumerate(zip(ids, addresses, strict=True))
    ]
    cur.executemany("INSERT INTO t VALUES (%s, %s, %s)", rows[:40])
    task = start_task(source_config(mariadb_server, mariadb_db))
    try:
        got = poll_until(task, 40)
        cur.executemany("INSERT INTO t VALUES (%s, %s, %s)", rows[40:])
        # a column added while streaming, with a default the sink fills older rows with
        cur.execute("ALTER TABLE t ADD COLUMN u uuid NOT NULL "
                    "DEFAULT '00000000-0000-0000-0000-0000000000FF'")  # fmt: skip
        cur.execute("UPDATE t SET a = '::' WHERE a = '::1'")
        got += poll_until(task, len(rows) - 40 + 1)
    finally:
        task.stop()
    cur.execute("SELECT CAST(id AS char), CAST(a AS char), CAST(b AS char) FROM t")
    want = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    seen = {r.value["after"]["id"]: (r.value["after"]["a"], r.value["after"]["b"])
            for r in got if r.value["op"] in "rc"}  # fmt: skip
    assert seen == {k: v if k != got[-1].value["after"]["id"] else ("::1", v[1])
                    for k, v in want.items()}  # fmt: skip
    assert [r.value["op"] for r in got[:40]] == ["r"] * 40
    last = got[-1]
    assert last.value["op"] == "u" and last.value["after"]["a"] == "::"
    assert last.value["after"]["u"] == "00000000-0000-0000-0000-0000000000ff"
    key_field = last.key_schema["fields"][0]
    assert (key_field["type"], key_field["name"]) == ("string", "io.debezium.data.Uuid")
    fields = {f["field"]: f for f in last.value_schema["fields"][0]["fields"]}
    assert fields["u"]["name"] == "io.debezium.data.Uuid"
    assert fields["u"]["default"] == "00000000-0000-0000-0000-0000000000ff"


def test_verify_says_what_long_mode_makes_alike(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (hub verify called a sink holding -1 for 18446744073709551615 equal, saying nothing: it
    # compares after the mapping; an "ok" now names what the mapping makes alike)
    from connectors.source.mysql.connector import MySqlConnector

    con = root(mariadb_server, mariadb_db)
    con.cursor().execute("CREATE TABLE t (id int PRIMARY KEY, u bigint unsigned, s bigint)")
    con.close()
    cfg = source_config(mariadb_server, mariadb_db)
    (t,) = [t for t in MySqlConnector.verify_tables(cfg, None) if t.table == "t"]
    assert t.lossy and t.lossy[0].startswith("u: BIGINT UNSIGNED as a signed 64-bit number")
    precise = {**cfg, "bigint.unsigned.handling.mode": "precise"}
    (t,) = [t for t in MySqlConnector.verify_tables(precise, None) if t.table == "t"]
    assert t.lossy == ()
    # a column left out is not named; Connect's time types hold milliseconds
    con = root(mariadb_server, mariadb_db)
    con.cursor().execute("ALTER TABLE t ADD COLUMN at datetime(6)")
    con.close()
    other = {**cfg, "column.exclude.list": f"{mariadb_db}.t.u", "time.precision.mode": "connect"}
    (t,) = [t for t in MySqlConnector.verify_tables(other, None) if t.table == "t"]
    assert t.lossy == ("at: times and timestamps to the millisecond (time.precision.mode="
                       "connect): values that differ below one compare equal",)  # fmt: skip


def test_datetime_and_time_of_the_pre_5_6_layout(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (tables from MySQL 5.5 or made under mysql56_temporal_format=OFF: their binlog types 12
    # and 11 failed the task at every event, holding up every other table; a DATETIME(n) of
    # MariaDB 5.3's layout, another one, is refused by name: read as this one it was NULL)
    from hub.errors import ConfigError
    from tests.connectors.mysql.helpers import poll_for, start_task

    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("SET GLOBAL mysql56_temporal_format = OFF")
    try:
        old = root(mariadb_server, mariadb_db)  # (a session of the global setting)
        snap, streamed = snapshot_and_stream(
            mariadb_server,
            mariadb_db,
            "id int PRIMARY KEY, d datetime, t time, n time",
            "'2024-03-01 12:34:56', '-838:59:59', '12:00:01'",
        )
        old.cursor().execute("CREATE TABLE h (id int PRIMARY KEY, d datetime(3))")
    finally:
        cur.execute("SET GLOBAL mysql56_temporal_format = ON")
    cur.execute("SHOW CREATE TABLE t")
    assert "mariadb-5.3" in cur.fetchone()[1]  # (the premise: the old layout)
    for record in (snap, streamed):
        after = record.value["after"]
        assert (after["d"], after["t"], after["n"]) == (
            1709296496000,
            -(838 * 3600 + 59 * 60 + 59) * 1_000_000,
            43_201_000_000,
        ), record.value["op"]
    task = start_task(source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"}))
    try:
        poll_for(task, 0.3)
        cur.execute("INSERT INTO h VALUES (1, '2024-03-01 12:34:56.789')")
        with pytest.raises(ConfigError, match=r"column d is a datetime\(3\) in MariaDB 5.3's"):
            poll_for(task, 2.0)
    finally:
        task.stop()
