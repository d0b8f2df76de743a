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
