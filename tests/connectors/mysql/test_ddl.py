"""DDL while streaming: each row event is decoded with the columns of its time (the binlog's
TABLE_MAP carries them with binlog_row_metadata=FULL), also when a restart replays events
from before the DDL."""

from __future__ import annotations

import pytest

from tests.connectors.mysql.helpers import poll_for, poll_until, root, source_config, start_task
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


def test_ddl_mid_stream_and_replayed(mariadb_server: MariaDBServer, mariadb_db: str) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, a int, b varchar(10))")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"})
    task = start_task(cfg)
    poll_for(task, 0.3)
    start = task.stream.position()
    statements = [
        "INSERT INTO t VALUES (1, 10, 'x')",
        "ALTER TABLE t ADD COLUMN c int DEFAULT 7",
        "INSERT INTO t VALUES (2, 20, 'y', 8)",
        "ALTER TABLE t DROP COLUMN a",
        "INSERT INTO t VALUES (3, 'z', 9)",
        "ALTER TABLE t RENAME COLUMN b TO bb",
        "UPDATE t SET bb = 'zz' WHERE id = 3",
        "ALTER TABLE t MODIFY c bigint",
        "INSERT INTO t VALUES (4, 'w', 10000000000)",
        "RENAME TABLE t TO t2",
        "INSERT INTO t2 VALUES (5, 'v', 1)",
    ]
    for sql in statements:
        cur.execute(sql)
    want = [
        (f"app.{mariadb_db}.t", {"id": 1, "a": 10, "b": "x"}),
        (f"app.{mariadb_db}.t", {"id": 2, "a": 20, "b": "y", "c": 8}),
        (f"app.{mariadb_db}.t", {"id": 3, "b": "z", "c": 9}),
        (f"app.{mariadb_db}.t", {"id": 3, "bb": "zz", "c": 9}),
        (f"app.{mariadb_db}.t", {"id": 4, "bb": "w", "c": 10000000000}),
        (f"app.{mariadb_db}.t2", {"id": 5, "bb": "v", "c": 1}),
    ]
    try:
        got = [(r.topic, r.value["after"]) for r in poll_until(task, len(want))]
        assert got == want
    finally:
        task.stop()
    c_type = {"type": "int64", "optional": True, "field": "c"}
    task = start_task(cfg, start)  # replay from before the DDL
    try:
        replayed = poll_until(task, len(want))
        assert [(r.topic, r.value["after"]) for r in replayed] == want
        assert c_type in replayed[4].value_schema["fields"][0]["fields"]
        assert {**c_type, "type": "int32"} in replayed[1].value_schema["fields"][0]["fields"]
    finally:
        task.stop()


@pytest.mark.parametrize("skipped", ["none", "t"])
def test_truncate_table_is_a_truncate_event_unless_skipped(
    mariadb_server: MariaDBServer, mariadb_db: str, skipped: str
) -> None:
    """TRUNCATE TABLE is DDL in the binlog: with skipped.operations=none it becomes Debezium's
    truncate event (op t, no key), stored with the position after it; Debezium's default
    (skipped.operations=t) leaves it out. Tables not captured give nothing either way."""
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    cur.execute("CREATE TABLE other (id int PRIMARY KEY)")
    cur.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "skipped.operations": skipped,
        "table.include.list": f"{mariadb_db}.t"})  # fmt: skip
    task = start_task(cfg)
    try:
        poll_for(task, 0.3)
        # the metadata connection, idle while streaming, closed by the server meanwhile
        cur.execute(f"KILL {task.meta.thread_id()}")
        cur.execute(f"TRUNCATE TABLE `{mariadb_db}`.t")
        cur.execute("TRUNCATE other")
        cur.execute("INSERT INTO t VALUES (3, 3)")
        got = poll_until(task, 2 if skipped == "none" else 1)
        ops = [(r.value["op"], r.key) for r in got]
        if skipped == "none":
            assert ops == [("t", None), ("c", {"id": 3})]
            value = got[0].value
            assert value["before"] is None and value["after"] is None
            assert value["source"]["table"] == "t" and value["source"]["db"] == mariadb_db
            assert got[0].value_schema is not None
            assert got[0].topic == f"app.{mariadb_db}.t"
            # stored after it: a restart from its offset does not truncate again
            again = start_task(cfg, dict(got[0].source_offset))
            try:
                assert [r.value["op"] for r in poll_until(again, 1)] == ["c"]
            finally:
                again.stop()
        else:
            assert ops == [("c", {"id": 3})]
    finally:
        task.stop()
