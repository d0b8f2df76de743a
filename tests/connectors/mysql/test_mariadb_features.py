"""MariaDB's own kinds of tables and columns. SEQUENCEs are not captured (below). COMPRESSED
columns (10.3+): the catalog writes their type with an executable
comment (``text /*M!100301 COMPRESSED*/``), which stopped every snapshot of a server holding
one in any database; the binlog logs them with types of their own (140, 141) and their values
compressed, which stopped the stream (the TABLE_MAP misread: "index out of bounds")."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.connectors.mysql.helpers import context, poll, poll_until, root, source_config
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration

COLUMNS = "id int PRIMARY KEY, b BLOB COMPRESSED, t TEXT COMPRESSED, v VARCHAR(1000) COMPRESSED"
ROWS = [
    (1, b"ab" * 500, "xy" * 300, "é" * 400),  # compressed (long, repetitive)
    (2, b"\x00\x01", "q", "short"),  # stored as they are (the header says so)
    (3, None, "", None),
]


def _start(cfg: dict[str, Any], encoded: bool) -> Any:
    from connectors.source.mysql import MariaDbSourceTask

    task = MariaDbSourceTask()
    task.start(cfg, context(cfg, {}, json_encoding=(False, False) if encoded else None))
    return task


def _values(records: list[Any], topic: str) -> dict[int, tuple[Any, ...]]:
    import base64
    import json

    from hub.runtime.api import EncodedBatch

    out = {}
    values: list[Any] = []
    for r in records:
        if r.topic != topic:
            continue
        if type(r) is EncodedBatch:  # (the encoded snapshot's rows, packed)
            values += r.packed.lists()[1] if r.packed is not None else r.values
        elif r.value is not None:
            values.append(r.value)
    for v in values:
        value = json.loads(v) if isinstance(v, bytes) else v
        payload = value.get("payload", value)
        after = payload["after"]
        b = after["b"]
        if isinstance(b, str):  # (JSON: base64)
            b = base64.b64decode(b)
        out[after["id"]] = (after["id"], b, after["t"], after["v"])
    return out


@pytest.mark.parametrize("encoded", [False, True], ids=["values", "encoded"])
def test_compressed_columns_in_the_snapshot_and_the_stream(
    mariadb_server: MariaDBServer, mariadb_db: str, encoded: bool
) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    other = f"{mariadb_db}_other"
    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{other}`")  # (not captured: read for history)
    cur.execute(f"CREATE TABLE IF NOT EXISTS `{other}`.cz (id int PRIMARY KEY, t TEXT COMPRESSED)")
    cur.execute(f"CREATE TABLE a ({COLUMNS})")
    cur.executemany("INSERT INTO a VALUES (%s, %s, %s, %s)", ROWS)
    task = _start(source_config(mariadb_server, mariadb_db), encoded)
    try:
        topic = f"app.{mariadb_db}.a"
        got = _values(poll_until(task, 3), topic)
        assert got == {r[0]: r for r in ROWS}
        cur.execute(f"CREATE TABLE s ({COLUMNS})")  # (made while streaming)
        cur.executemany("INSERT INTO s VALUES (%s, %s, %s, %s)", ROWS)
        cur.execute("UPDATE a SET t = REPEAT('z', 2000) WHERE id = 2")
        records = poll_until(task, 4)
    finally:
        task.stop()
        cur.execute(f"DROP DATABASE `{other}`")
        con.close()
    assert _values(records, f"app.{mariadb_db}.s") == {r[0]: r for r in ROWS}
    assert _values(records, topic)[2] == (2, b"\x00\x01", "z" * 2000, "short")


def test_the_stored_forms_are_read_as_mariadb_writes_them() -> None:
    import zlib

    from connectors.source.mysql.protocol.values import uncompressed

    assert uncompressed(b"") == b""
    assert uncompressed(b"\x00abc") == b"abc"  # (stored as it is)
    body = zlib.compress(b"x" * 300)
    assert uncompressed(bytes([0x82]) + (300).to_bytes(2, "big") + body) == b"x" * 300
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    deflated = raw.compress(b"y" * 70) + raw.flush()
    assert uncompressed(bytes([0x89, 70]) + deflated) == b"y" * 70  # (raw deflate: 0x08)


@pytest.mark.parametrize("metadata", ["FULL", "MINIMAL"])
def test_sequences_are_not_captured_as_tables(
    mariadb_server: MariaDBServer, mariadb_db: str, metadata: str
) -> None:
    # (their NEXTVAL and SETVAL write their one row, logged as a table's: streamed as a
    # table without a key, a row a write, or, without column names, the task stopped)
    from tests.connectors.mysql.helpers import start_task

    mariadb_server.client(sql=f"SET GLOBAL binlog_row_metadata = '{metadata}'")
    try:
        con = root(mariadb_server, mariadb_db)
        cur = con.cursor()
        cur.execute("CREATE SEQUENCE before_start START WITH 100 CACHE 2")
        cur.execute("CREATE TABLE o (id bigint PRIMARY KEY DEFAULT (NEXTVAL(before_start)), "
                    "v int)")  # fmt: skip
        task = start_task(source_config(mariadb_server, mariadb_db, **{
            "database.server.id": 7200 + len(metadata)}))  # fmt: skip
        try:
            poll_until(task, 0)
            cur.execute("CREATE SEQUENCE while_streaming")
            cur.execute(
                "CREATE TABLE as_table (next_not_cached_value bigint(21) NOT NULL, "
                "minimum_value bigint(21) NOT NULL, maximum_value bigint(21) NOT NULL, "
                "start_value bigint(21) NOT NULL, increment bigint(21) NOT NULL, cache_size "
                "bigint(21) unsigned NOT NULL, cycle_option tinyint(1) unsigned NOT NULL, "
                "cycle_count bigint(21) NOT NULL) SEQUENCE=1"
            )  # (a sequence too, made as MariaDB's SHOW CREATE TABLE writes one)
            cur.execute("SELECT NEXTVAL(as_table)")
            for i in range(5):
                cur.execute("INSERT INTO o (v) VALUES (%s)", (i,))
                cur.execute("SELECT NEXTVAL(while_streaming)")
            cur.execute("SELECT SETVAL(before_start, 500)")
            cur.execute("INSERT INTO o (v) VALUES (5)")
            records = poll_until(task, 6)
        finally:
            task.stop()
            con.close()
    finally:
        mariadb_server.client(sql="SET GLOBAL binlog_row_metadata = 'FULL'")
    topics = {r.topic for r in records}
    assert topics == {f"app.{mariadb_db}.o"}, topics
    assert [r.value["after"]["v"] for r in records] == [0, 1, 2, 3, 4, 5]


def test_a_captured_database_the_binlog_leaves_out_is_refused(tmp_path: Any) -> None:
    # (binlog_ignore_db / binlog_do_db: the snapshot copied its rows, then no change ever came,
    # the task RUNNING)
    from connectors.source.mysql.server import ServerSetupError
    from hub.demo.mariadb import start_server, stop_server
    from tests.connectors.mysql.helpers import start_task

    server = start_server(tmp_path, binlog_ignore_db="ign")
    try:
        server.client(sql="CREATE DATABASE ign; CREATE DATABASE kept")
        with pytest.raises(ServerSetupError, match="binlog_ignore_db leaves ign out of the binlog"):
            start_task(source_config(server, "ign"))
        start_task(source_config(server, "kept")).stop()  # (another database: captured)
    finally:
        stop_server(server)


def test_partition_operations_that_move_rows_without_row_events_are_warned_of(
    mariadb_server: MariaDBServer, mariadb_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # (TRUNCATE, DROP, EXCHANGE, CONVERT PARTITION: no row event says the rows went; the
    # sinks kept them without a word). Under MINIMAL metadata: a table CONVERT PARTITION
    # made is in the schema history, so its rows decode
    import logging

    from tests.connectors.mysql.helpers import start_task

    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    parts = ", ".join(f"PARTITION p{i} VALUES LESS THAN ({10 * i + 10})" for i in range(4))
    cur.execute(f"CREATE TABLE pt (id int PRIMARY KEY) PARTITION BY RANGE (id) ({parts})")
    cur.execute("INSERT INTO pt VALUES (1), (11), (21), (31)")
    cur.execute("CREATE TABLE swap (id int PRIMARY KEY)")
    mariadb_server.client(sql="SET GLOBAL binlog_row_metadata = 'MINIMAL'")
    try:
        con.close()
        con = root(mariadb_server, mariadb_db)
        cur = con.cursor()
        task = start_task(source_config(mariadb_server, mariadb_db, **{
            "database.server.id": 7300}))  # fmt: skip
        caplog.set_level(logging.WARNING)
        try:
            poll_until(task, 4)
            cur.execute("ALTER TABLE pt TRUNCATE PARTITION p0")
            cur.execute("ALTER TABLE pt DROP PARTITION p1")
            cur.execute("ALTER TABLE pt EXCHANGE PARTITION p2 WITH TABLE swap")
            cur.execute("ALTER TABLE pt CONVERT PARTITION p3 TO TABLE made")
            cur.execute("INSERT INTO made VALUES (35)")
            records = poll_until(task, 1)
        finally:
            task.stop()
            con.close()
    finally:
        mariadb_server.client(sql="SET GLOBAL binlog_row_metadata = 'FULL'")
    assert [(r.topic, r.key) for r in records] == [(f"app.{mariadb_db}.made", {"id": 35})]
    text = caplog.text
    assert f"table {mariadb_db}.pt: the rows of a partition were deleted (TRUNCATE" in text
    assert "a partition was dropped with its rows (DROP PARTITION)" in text
    assert f"table {mariadb_db}.swap: its rows were exchanged with a partition of" in text
    assert f"a partition was made the table {mariadb_db}.made (CONVERT PARTITION)" in text
    assert f"table {mariadb_db}.made: it was made of a partition of {mariadb_db}.pt" in text


def test_generated_and_auto_increment_columns_added_are_warned_of(
    mariadb_server: MariaDBServer, mariadb_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # (the rows the table had got the server's values; the sinks' have them NULL, as for a
    # column added with DEFAULT CURRENT_TIMESTAMP, which was warned of already)
    import logging

    from tests.connectors.mysql.helpers import poll_for, start_task

    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE sc (id int PRIMARY KEY, a int)")
    cur.execute("INSERT INTO sc VALUES (1, 1)")
    task = start_task(source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"}))
    caplog.set_level(logging.WARNING)
    try:
        poll_for(task, 0.3)
        cur.execute("ALTER TABLE sc ADD COLUMN st int AS (a * 100) STORED, "
                    "ADD COLUMN ai int NOT NULL AUTO_INCREMENT UNIQUE")  # fmt: skip
        cur.execute("INSERT INTO sc (id, a) VALUES (2, 2)")
        poll_until(task, 1)
    finally:
        task.stop()
        con.close()
    assert "column 'st' was added as a generated column" in caplog.text
    assert "column 'ai' was added as an AUTO_INCREMENT column" in caplog.text


def test_a_table_made_while_streaming_on_another_tables_topic_is_refused(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (`my table` beside my_table: their events were mixed in one topic, and a sink's table
    # merged their rows; the same two tables at a start are refused). my_table only read by
    # the snapshot counts too; a table renamed or dropped gives its topic up
    from hub.errors import ConfigError
    from tests.connectors.mysql.helpers import start_task

    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE my_table (id int PRIMARY KEY, v int)")
    cur.execute("INSERT INTO my_table VALUES (1, 1)")
    task = start_task(source_config(mariadb_server, mariadb_db))
    try:
        poll_until(task, 1)  # (the snapshot's row)
        cur.execute("RENAME TABLE my_table TO `my table`")  # (one table: its topic)
        cur.execute("INSERT INTO `my table` VALUES (2, 2)")
        cur.execute("DROP TABLE `my table`")
        cur.execute("CREATE TABLE my_table (id int PRIMARY KEY, v int)")
        cur.execute("INSERT INTO my_table VALUES (3, 3)")
        got = poll_until(task, 2)
        assert [r.key for r in got] == [{"id": 2}, {"id": 3}]
        cur.execute("CREATE TABLE `my table` (id int PRIMARY KEY, w varchar(10))")
        cur.execute("INSERT INTO `my table` VALUES (1, 'other')")
        with pytest.raises(ConfigError, match=r"both map to topic 'app\..*\.my_table'"):
            poll_until(task, 5, seconds=5)
    finally:
        task.stop()
        con.close()


@pytest.mark.parametrize(
    ("sql", "verb"),
    [
        ("ALTER TABLE t TRUNCATE PARTITION p0, p1", "TRUNCATE"),
        ("ALTER TABLE t DROP PARTITION p0", "DROP"),
        ("ALTER TABLE t EXCHANGE PARTITION p0 WITH TABLE d.x WITHOUT VALIDATION", "EXCHANGE"),
        ("ALTER TABLE t CONVERT PARTITION p0 TO TABLE x", "CONVERT"),
        ("ALTER TABLE t CONVERT TABLE x TO PARTITION p0 VALUES LESS THAN (10)", "INTO"),
        ("ALTER TABLE t DISCARD TABLESPACE", "DISCARD"),
        ("ALTER TABLE t IMPORT PARTITION p0 TABLESPACE", "IMPORT"),
    ],
)
def test_the_ddl_parser_reads_the_operations_that_move_rows(sql: str, verb: str) -> None:
    from connectors.source.mysql import ddl

    stmt = ddl.parse(sql, True, True)
    assert isinstance(stmt, ddl.AlterTable)
    assert [a.verb for a in stmt.actions if isinstance(a, ddl.PartitionRows)] == [verb]


@pytest.mark.parametrize("encoded", [False, True], ids=["values", "encoded"])
def test_compressed_binlog_events_are_read(
    mariadb_server: MariaDBServer, mariadb_db: str, encoded: bool
) -> None:
    """(a review's: with log_bin_compress=ON the first compressed event, of a captured table
    or not, stopped the task for good: turning it off left the events in the binlog, every
    restart stopped on them). They are read as MariaDB writes them: a Query's statement or a
    rows event's row images, zlib-compressed, behind a byte and the length."""
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v TEXT)")
    cur.execute("CREATE TABLE other (id int PRIMARY KEY, v TEXT)")
    cfg = source_config(
        mariadb_server,
        mariadb_db,
        **{"snapshot.mode": "no_data", "table.include.list": f"{mariadb_db}.t"},
    )
    task = _start(cfg, encoded)
    long = "compressible " * 100  # (events of more than log_bin_compress_min_len, 256 B)
    cur.execute("SET GLOBAL log_bin_compress = ON")
    try:
        poll_until(task, 0)
        cur.execute("INSERT INTO other VALUES (1, %s)", (long,))  # (a table not captured)
        cur.executemany("INSERT INTO t VALUES (%s, %s)", [(i, f"{i} {long}") for i in range(3)])
        cur.execute("UPDATE t SET v = %s WHERE id = 1", ("updated " + long,))
        cur.execute("DELETE FROM t WHERE id = 2")
        # a DDL longer than 256 bytes: a compressed Query event the schema history reads
        cur.execute(f"ALTER TABLE t ADD COLUMN w int DEFAULT 7 COMMENT '{'c' * 300}'")
        cur.execute("INSERT INTO t (id, v) VALUES (9, %s)", (long,))
        cur.execute("SHOW MASTER STATUS")  # (the file written now: the server's first may
        cur.execute("SHOW BINLOG EVENTS IN %s", (cur.fetchone()[0],))  # be long gone)
        kinds = {row[2] for row in cur.fetchall()}
        assert {"Query_compressed", "Write_rows_compressed_v1"} <= kinds  # (the premise)
        events: list[tuple[Any, ...]] = []
        deadline = time.monotonic() + 30
        while not events or events[-1][1] != 9:
            assert time.monotonic() < deadline, events
            events += _events(poll(task), f"app.{mariadb_db}.t")
    finally:
        cur.execute("SET GLOBAL log_bin_compress = OFF")
        task.stop()
        con.close()
    assert events == [("c", 0, "0 compre", None), ("c", 1, "1 compre", None),
                      ("c", 2, "2 compre", None), ("u", 1, "updated ", None),
                      ("d", 2, "2 compre", None), ("c", 9, "compress", 7)]  # fmt: skip


def _events(records: list[Any], topic: str) -> list[tuple[Any, ...]]:
    """(op, id, v's first 8 characters, w) of each change event of ``topic``, values or
    encoded (packed) alike."""
    import json

    from hub.runtime.api import EncodedBatch

    out = []
    for r in records:
        if r.topic != topic:
            continue
        if type(r) is EncodedBatch:
            values = r.packed.lists()[1] if r.packed is not None else r.values
        else:
            values = [r.value]
        for v in values:
            if v is None:
                continue
            value = json.loads(v) if isinstance(v, bytes) else v
            p = value.get("payload", value)
            row = p["after"] or p["before"]
            out.append((p["op"], row["id"], row["v"][:8], row.get("w")))
    return out
