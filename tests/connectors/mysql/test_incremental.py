"""Incremental snapshots of the MySQL/MariaDB source through the signal table (the shared
DBLog algorithm): with writes going on, the topic ends equal to the table, each row read
once; and heartbeats on a quiet stream."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.mysql.helpers import root, source_config
from tests.connectors.postgres.helpers import TopicEvents, events, start, wait_for
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


def test_incremental_snapshot_with_concurrent_writes_ends_in_the_latest_state(
    mariadb_server: MariaDBServer, mariadb_db: str, tmp_path: Path
) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE inc (id int PRIMARY KEY, v int NOT NULL)")
    cur.execute("INSERT INTO inc SELECT seq, 0 FROM seq_1_to_3000")
    cur.execute("CREATE TABLE debezium_signal (id varchar(64) PRIMARY KEY, "
                "type varchar(32) NOT NULL, data text)")  # fmt: skip
    cur.execute(f"GRANT INSERT ON `{mariadb_db}`.debezium_signal TO '{mariadb_server.user}'@'%'")
    topic = f"app.{mariadb_db}.inc"
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "signal.data.collection": f"{mariadb_db}.debezium_signal",
        "incremental.snapshot.chunk.size": 100,
        "table.exclude.list": rf"{mariadb_db}\.debezium_signal",
    })  # fmt: skip
    worker = start(tmp_path, cfg, name="my")
    stop = threading.Event()

    def writer() -> None:
        rnd = random.Random(3)
        w = root(mariadb_server, mariadb_db).cursor()
        while not stop.wait(0.002):  # a steady load, not a race the binlog reader must win
            i = rnd.randint(1, 3200)
            w.execute("UPDATE inc SET v = v + 1 WHERE id = %s", (i,))
            if i % 17 == 0:
                w.execute("DELETE FROM inc WHERE id = %s", (i,))
            if i > 3000:
                w.execute("INSERT IGNORE INTO inc VALUES (%s, 0)", (i,))

    t = threading.Thread(target=writer)
    try:
        wait_for(lambda: worker.status()["my"][0].state == "RUNNING", what="start")
        t.start()
        cur.execute("INSERT INTO debezium_signal VALUES ('s1', 'execute-snapshot', "
                    '\'{"data-collections": ["' + mariadb_db + '.inc"]}\')')  # fmt: skip
        seen = TopicEvents(worker.log, topic)
        wait_for(
            lambda: sum(1 for _, v in seen() if v and v["op"] == "r") > 2500,
            timeout=60, what="the incremental snapshot",
        )  # fmt: skip
        # (and enough writes, however fast the snapshot was: the check below wants > 100)
        wait_for(lambda: sum(1 for _, v in seen() if v and v["op"] != "r") > 200,
                 timeout=60, what="the writer's changes")  # fmt: skip
        stop.set()
        t.join()
        cur.execute("SELECT id, v FROM inc")
        final = dict(cur.fetchall())

        def state() -> dict[int, Any]:
            rows: dict[int, Any] = {}
            for key, v in seen():
                if v is None:
                    continue
                if v["op"] == "d":
                    rows.pop(key["id"], None)
                else:
                    rows[v["after"]["id"]] = v["after"]["v"]
            return rows

        wait_for(lambda: state() == final, timeout=60, what="the topic to equal the table")
        reads = [v for _, v in events(worker.log, topic) if v and v["op"] == "r"]
        assert {v["source"]["snapshot"] for v in reads} == {"incremental"}
        assert {v["source"]["table"] for v in reads} == {"inc"}
        assert len({v["after"]["id"] for v in reads}) == len(reads)  # each row read once
        changes = [v for _, v in events(worker.log, topic) if v and v["op"] != "r"]
        assert len(changes) > 100  # the writes went on during the snapshot
        assert not worker.log.has_topic(f"app.{mariadb_db}.debezium_signal")
    finally:
        stop.set()
        if t.is_alive():
            t.join()
        worker.stop()


def test_heartbeats_on_a_quiet_stream(
    mariadb_server: MariaDBServer, mariadb_db: str, tmp_path: Path
) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE hb (id int PRIMARY KEY, at datetime(6))")
    cur.execute("INSERT INTO hb VALUES (1, NOW(6))")
    cur.execute(f"GRANT UPDATE ON `{mariadb_db}`.hb TO '{mariadb_server.user}'@'%'")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "heartbeat.interval.ms": 200, "table.include.list": rf"{mariadb_db}\.nothing",
        "heartbeat.action.query": f"UPDATE `{mariadb_db}`.hb SET at = NOW(6) WHERE id = 1",
    })  # fmt: skip
    worker = start(tmp_path, cfg, name="my")
    try:
        beats = wait_for(
            lambda: (e := events(worker.log, "__debezium-heartbeat.app")) and len(e) >= 3 and e,
            what="heartbeats",
        )
        assert all(k == {"serverName": "app"} and v["ts_ms"] > 0 for k, v in beats)
        cur.execute("SELECT at FROM hb")
        before = cur.fetchone()[0]

        def moved() -> bool:
            cur.execute("SELECT at FROM hb")
            return bool(cur.fetchone()[0] > before)

        wait_for(moved, what="the action query")
    finally:
        worker.stop()


def test_a_killed_binlog_connection_resumes_with_nothing_lost_or_repeated(
    mariadb_server: MariaDBServer, mariadb_db: str, tmp_path: Path
) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
    topic = f"app.{mariadb_db}.t"
    worker = start(tmp_path, source_config(mariadb_server, mariadb_db), name="my")
    try:
        wait_for(lambda: worker.status()["my"][0].state == "RUNNING", what="start")
        for round_ in range(3):
            cur.execute(f"INSERT INTO t SELECT seq FROM seq_{round_ * 1000 + 1}_to_"
                        f"{round_ * 1000 + 1000}")  # fmt: skip
            wait_for(lambda n=round_: len(events(worker.log, topic)) >= (n + 1) * 1000,
                     what="the rows")  # fmt: skip
            cur.execute("SELECT id FROM information_schema.PROCESSLIST WHERE COMMAND LIKE "
                        "'Binlog Dump%'")  # fmt: skip
            for (thread,) in cur.fetchall():
                cur.execute(f"KILL {thread}")
        cur.execute("INSERT INTO t SELECT seq FROM seq_3001_to_3500")
        wait_for(lambda: len(events(worker.log, topic)) >= 3500, timeout=60, what="catch-up")
        ids = [k["id"] for k, _ in events(worker.log, topic)]
        assert sorted(ids) == list(range(1, 3501))  # each once
    finally:
        worker.stop()


def test_a_signal_after_the_metadata_connection_timed_out_is_read(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (a review's: past the server's wait_timeout, the signal's first query failed the task
    # with "MySQL server has gone away"; the connection is made again)
    from tests.connectors.mysql.helpers import poll_for, poll_until, start_task

    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE inc (id int PRIMARY KEY)")
    cur.execute("INSERT INTO inc SELECT seq FROM seq_1_to_10")
    cur.execute("CREATE TABLE debezium_signal (id varchar(64) PRIMARY KEY, "
                "type varchar(32) NOT NULL, data text)")  # fmt: skip
    cur.execute(f"GRANT INSERT ON `{mariadb_db}`.debezium_signal TO '{mariadb_server.user}'@'%'")
    task = start_task(source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "signal.data.collection": f"{mariadb_db}.debezium_signal",
        "table.exclude.list": rf"{mariadb_db}\.debezium_signal",
    }))  # fmt: skip
    try:
        poll_for(task, 0.3)
        task.meta.cursor().execute("SET SESSION wait_timeout = 1")
        poll_for(task, 2.5)  # (the server closes the idle metadata connection)
        cur.execute("INSERT INTO debezium_signal VALUES ('s1', 'execute-snapshot', "
                    '\'{"data-collections": ["' + mariadb_db + '.inc"]}\')')  # fmt: skip
        got = poll_until(task, 10)
    finally:
        task.stop()
    assert sorted(r.key["id"] for r in got if r.value["op"] == "r") == list(range(1, 11))


def test_a_signal_table_the_user_may_not_insert_into_stops_the_task_saying_so(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (a review's: the refused watermark was retried as a transient error for ever)
    from hub.errors import ConfigError
    from tests.connectors.mysql.helpers import poll_for, start_task

    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE inc (id int PRIMARY KEY)")
    cur.execute("CREATE TABLE debezium_signal (id varchar(64) PRIMARY KEY, "
                "type varchar(32) NOT NULL, data text)")  # fmt: skip
    task = start_task(source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "signal.data.collection": f"{mariadb_db}.debezium_signal",
        "table.exclude.list": rf"{mariadb_db}\.debezium_signal",
    }))  # fmt: skip
    try:
        poll_for(task, 0.3)
        cur.execute("INSERT INTO debezium_signal VALUES ('s1', 'execute-snapshot', "
                    '\'{"data-collections": ["' + mariadb_db + '.inc"]}\')')  # fmt: skip
        said = rf"watermarks into {mariadb_db}\.debezium_signal .*GRANT INSERT"
        with pytest.raises(ConfigError, match=said):
            poll_for(task, 10)
    finally:
        task.stop()
