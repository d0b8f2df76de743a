"""Incremental snapshots of the MySQL/MariaDB source, task by task: what happens between a
chunk's read and its close watermark, signals in a transaction a restart resumes inside, and
a stop-snapshot that names some of the tables (the shared algorithm: PostgreSQL alike)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import connectors.source.mysql.incremental as mysql_incremental
from tests.connectors.mysql.helpers import poll, poll_for, root, source_config, start_task
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


@pytest.fixture
def cur(mariadb_server: MariaDBServer, mariadb_db: str) -> Iterator[Any]:
    con = root(mariadb_server, mariadb_db)
    c = con.cursor()
    c.execute("CREATE TABLE debezium_signal (id varchar(64) PRIMARY KEY, "
              "type varchar(32) NOT NULL, data text)")  # fmt: skip
    c.execute(f"GRANT INSERT ON `{mariadb_db}`.debezium_signal TO '{mariadb_server.user}'@'%'")
    yield c
    con.close()


def _config(server: MariaDBServer, db: str, **extra: Any) -> dict[str, Any]:
    return source_config(server, db, **{
        "snapshot.mode": "no_data", "signal.data.collection": f"{db}.debezium_signal",
        "table.exclude.list": rf"{db}\.debezium_signal", **extra,
    })  # fmt: skip


def _signal(cur: Any, db: str, ident: str, kind: str, tables: list[str]) -> None:
    data = json.dumps({"data-collections": [f"{db}.{t}" for t in tables]})
    cur.execute("INSERT INTO debezium_signal VALUES (%s, %s, %s)", (ident, kind, data))


def _state(records: list[Any], topic: str) -> dict[Any, Any]:
    rows: dict[Any, Any] = {}
    for r in records:
        if r.topic != topic or r.value is None:
            continue
        if r.value["op"] == "t":
            rows.clear()
        elif r.value["op"] == "d":
            rows.pop(r.key["id"], None)
        else:
            rows[r.key["id"]] = r.value["after"]
    return rows


def _after_the_first_chunk(monkeypatch: pytest.MonkeyPatch, then: Callable[[], None]) -> None:
    """``then()`` runs once, right after the first chunk is read (before its close
    watermark is written): a change that lands inside the window (the read of the table's
    last key, before the first chunk, is not one)."""
    real = mysql_incremental.chunk_after
    done: list[bool] = []

    def read(*args: Any, **kwargs: Any) -> Any:
        rows = real(*args, **kwargs)
        if not done and not kwargs.get("descending"):  # (not the query of the last key)
            done.append(True)
            then()
        return rows

    monkeypatch.setattr(mysql_incremental, "chunk_after", read)


def _run_after_the_first_chunk(
    monkeypatch: pytest.MonkeyPatch, server: MariaDBServer, db: str, sql: str
) -> None:
    """``sql`` runs once, in a session of its own, right after the first chunk is read."""

    def run() -> None:
        other = root(server, db)
        other.cursor().execute(sql)
        other.close()

    _after_the_first_chunk(monkeypatch, run)


@pytest.mark.parametrize("skipped", ["none", "t"])
def test_a_truncate_inside_a_window_empties_the_chunk(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, monkeypatch: pytest.MonkeyPatch,
    skipped: str,
) -> None:  # fmt: skip
    # the chunk had kept the rows read before the truncate: they came back as reads after it
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(10))")
    cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    task = start_task(_config(mariadb_server, mariadb_db, **{"skipped.operations": skipped}))
    try:
        out = poll_for(task, 0.5)

        _run_after_the_first_chunk(monkeypatch, mariadb_server, mariadb_db, "TRUNCATE TABLE t")
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["t"])
        out += poll_for(task, 2.0)
    finally:
        task.stop()
    topic = f"app.{mariadb_db}.t"
    reads = [r for r in out if r.topic == topic and r.value and r.value["op"] == "r"]
    assert reads == [], [r.value["after"] for r in reads]
    if skipped == "none":
        assert [r.value["op"] for r in out if r.topic == topic and r.value] == ["t"]
        assert _state(out, topic) == {}


def test_a_chunk_whose_table_changed_inside_its_window_is_read_again(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the rows went out under the old column name: the sink's new column NULL for them)
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(10))")
    cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    task = start_task(_config(mariadb_server, mariadb_db))
    try:
        out = poll_for(task, 0.5)

        _run_after_the_first_chunk(
            monkeypatch, mariadb_server, mariadb_db, "ALTER TABLE t RENAME COLUMN v TO w"
        )
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["t"])
        out += poll_for(task, 2.0)
    finally:
        task.stop()
    reads = [r.value["after"] for r in out
             if r.topic == f"app.{mariadb_db}.t" and r.value and r.value["op"] == "r"]  # fmt: skip
    assert reads == [{"id": 1, "w": "a"}, {"id": 2, "w": "b"}]


def test_a_signal_after_the_place_a_restart_resumes_at_is_acted_on(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any
) -> None:
    # every signal of a transaction resumed inside had been dropped, also those after the
    # stored offset: the snapshot asked for never ran
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    cur.execute("CREATE TABLE u (id int PRIMARY KEY, v int)")
    cur.execute("INSERT INTO u VALUES (1, 1), (2, 2), (3, 3)")
    cfg = _config(mariadb_server, mariadb_db, **{"max.batch.size": 5})
    task = start_task(cfg)
    try:
        poll_for(task, 0.5)
        cur.execute("BEGIN")
        for i in range(20):
            cur.execute("INSERT INTO t VALUES (%s, 0)", (i,))
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["u"])
        cur.execute("COMMIT")
        first: list[Any] = []
        deadline = time.monotonic() + 20
        while not first and time.monotonic() < deadline:
            first = poll(task)  # 5 of the 20 rows: the offset stored before the kill
    finally:
        task.stop()
    assert len(first) == 5
    task = start_task(cfg, dict(first[-1].source_offset))
    try:
        out = poll_for(task, 3.0)
    finally:
        task.stop()
    t, u = f"app.{mariadb_db}.t", f"app.{mariadb_db}.u"
    assert sorted(r.value["after"]["id"] for r in out if r.topic == t) == list(range(5, 20))
    reads = [r.value for r in out if r.topic == u and r.value]
    assert sorted(v["after"]["id"] for v in reads) == [1, 2, 3]
    assert {v["source"]["snapshot"] for v in reads} == {"incremental"}
    # a restart from the reads' offset is past the close watermark: nothing again
    task = start_task(cfg, dict(next(r for r in out if r.topic == u).source_offset))
    try:
        again = poll_for(task, 1.5)
    finally:
        task.stop()
    assert [r for r in again if r.topic in (t, u)] == []


def test_stop_snapshot_of_one_table_lets_the_others_finish(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any
) -> None:
    # the whole snapshot had stopped: y, not named, got 0 of its 400 rows
    for name in ("x", "y", "z"):
        cur.execute(f"CREATE TABLE {name} (id int PRIMARY KEY)")
        cur.execute(f"INSERT INTO {name} SELECT seq FROM seq_1_to_400")
    cfg = _config(mariadb_server, mariadb_db, **{"incremental.snapshot.chunk.size": 10})
    task = start_task(cfg)
    try:
        out = poll_for(task, 0.5)
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["x", "y", "z"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            r.topic == f"app.{mariadb_db}.x" for r in out
        ):
            out += poll(task)
        _signal(cur, mariadb_db, "s2", "stop-snapshot", ["x", "z"])
        out += poll_for(task, 4.0)
    finally:
        task.stop()

    def read(name: str) -> list[int]:
        topic = f"app.{mariadb_db}.{name}"
        return [r.value["after"]["id"] for r in out
                if r.topic == topic and r.value and r.value["op"] == "r"]  # fmt: skip

    assert 0 < len(read("x")) < 400  # stopped partway
    assert sorted(read("y")) == list(range(1, 401))
    assert read("z") == []


def test_pause_and_resume_snapshot(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # pause-snapshot and resume-snapshot had been dropped without a word (2 000 rows in
    # chunks of 10: a loaded machine must not finish the snapshot before the pause lands)
    caplog.set_level(logging.INFO, logger="connectors.source.cdc.incremental")
    cur.execute("CREATE TABLE x (id int PRIMARY KEY)")
    cur.execute("INSERT INTO x SELECT seq FROM seq_1_to_2000")
    task = start_task(
        _config(mariadb_server, mariadb_db, **{"incremental.snapshot.chunk.size": 10})
    )
    topic = f"app.{mariadb_db}.x"

    def reads(records: list[Any]) -> list[int]:
        return [r.value["after"]["id"] for r in records if r.topic == topic and r.value]

    try:
        out = poll_for(task, 0.5)
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["x"])
        deadline = time.monotonic() + 20
        while not reads(out) and time.monotonic() < deadline:
            out += poll(task)
        _signal(cur, mariadb_db, "s2", "pause-snapshot", [])
        out += poll_for(task, 1.5)  # (a chunk in flight finishes)
        paused = len(reads(out))
        out += poll_for(task, 1.5)
        assert len(reads(out)) == paused < 2000
        cur.execute("INSERT INTO debezium_signal VALUES ('s3', 'log', '{\"message\": \"hello\"}')")
        cur.execute("INSERT INTO debezium_signal VALUES ('s4', 'no-such-signal', '{}')")
        _signal(cur, mariadb_db, "s5", "resume-snapshot", [])
        deadline = time.monotonic() + 20
        while len(set(reads(out))) < 2000 and time.monotonic() < deadline:
            out += poll(task)
    finally:
        task.stop()
    assert sorted(set(reads(out))) == list(range(1, 2001))
    assert "signal s3: hello" in caplog.text
    assert "signal s4: 'no-such-signal' is not a signal hub knows" in caplog.text


@pytest.mark.parametrize("change", ["moved", "widened"])
def test_an_incremental_snapshot_reads_again_a_table_whose_key_changed(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, change: str
) -> None:
    """The stored cursor (the old key's last value) had been applied to the new key: moved to
    another column, rows were skipped and the snapshot said done; widened (while the task was
    down), every start failed. Now the table is read again from its first row."""
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, new_id int NOT NULL UNIQUE, v varchar(20))")
    cur.executemany("INSERT INTO t VALUES (%s, %s, %s)",
                    [(i, 301 - i, f"row {i}") for i in range(1, 301)])  # fmt: skip
    cfg = _config(mariadb_server, mariadb_db, **{"incremental.snapshot.chunk.size": 50})
    topic = f"app.{mariadb_db}.t"
    task = start_task(cfg)
    try:
        poll_for(task, 0.5)
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["t"])
        chunks: list[Any] = []
        deadline = time.monotonic() + 20
        while len(chunks) < 50 and time.monotonic() < deadline:
            chunks += [r for r in poll(task) if r.topic == topic]
    finally:
        task.stop()
    first = chunks[:50]  # (a crash after the first chunk: its offset resumes after it)
    assert len(first) == 50 and first[-1].source_offset["incremental"]["after"]
    if change == "moved":
        cur.execute("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (new_id)")
    else:
        cur.execute("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (v, id)")
    task = start_task(cfg, dict(first[-1].source_offset))
    try:
        out = poll_for(task, 4.0)
    finally:
        task.stop()
    reads = {r.value["after"]["id"] for r in out if r.topic == topic and r.value}
    assert reads | {r.value["after"]["id"] for r in first} == set(range(1, 301))


def test_additional_conditions_snapshot_only_the_rows_they_match(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any
) -> None:
    """Debezium's ``additional-conditions``: had been ignored (every row read); a filter the
    server refuses starts no snapshot."""
    cur.execute("CREATE TABLE orders (id int PRIMARY KEY, status varchar(10))")
    cur.executemany("INSERT INTO orders VALUES (%s, %s)",
                    [(i, "open" if i % 10 == 0 else "done") for i in range(1, 101)])  # fmt: skip
    task = start_task(_config(mariadb_server, mariadb_db,
                              **{"incremental.snapshot.chunk.size": 3}))  # fmt: skip
    topic = f"app.{mariadb_db}.orders"
    try:
        poll_for(task, 0.5)
        for ident, condition in (("bad", "no_such_column = 1"), ("s1", "status LIKE 'op%'")):
            data = {"data-collections": [f"{mariadb_db}.orders"], "additional-conditions": [
                {"data-collection": rf"{mariadb_db}\.orders", "filter": condition}]}  # fmt: skip
            cur.execute("INSERT INTO debezium_signal VALUES (%s, 'execute-snapshot', %s)",
                        (ident, json.dumps(data)))  # fmt: skip
        out = [r.value["after"] for r in poll_for(task, 4.0) if r.topic == topic and r.value]
    finally:
        task.stop()
    assert sorted(v["id"] for v in out) == list(range(10, 101, 10))
    assert {v["status"] for v in out} == {"open"}


def test_an_incremental_snapshot_reads_up_to_the_last_key_it_began_with(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows inserted after the snapshot began are streamed, not read: the snapshot had read
    until a chunk came back empty, so a table written faster than it is read never ended
    (Debezium reads up to the largest key at the start)."""
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    cur.executemany("INSERT INTO t VALUES (%s, 0)", [(i,) for i in range(1, 101)])
    cfg = _config(mariadb_server, mariadb_db, **{"incremental.snapshot.chunk.size": 10})
    task = start_task(cfg)
    topic = f"app.{mariadb_db}.t"
    try:
        out = poll_for(task, 0.5)

        def more() -> None:
            other = root(mariadb_server, mariadb_db)
            other.cursor().executemany("INSERT INTO t VALUES (%s, 1)",
                                       [(i,) for i in range(101, 201)])  # fmt: skip
            other.commit()
            other.close()

        _after_the_first_chunk(monkeypatch, more)
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["t"])
        out += poll_for(task, 3.0)
    finally:
        task.stop()
    ops = [(r.value["op"], r.value["after"]["id"]) for r in out if r.topic == topic and r.value]
    assert sorted(i for op, i in ops if op == "r") == list(range(1, 101))
    assert sorted(i for op, i in ops if op == "c") == list(range(101, 201))


def test_a_metadata_connection_made_again_serves_the_incremental_snapshot(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any
) -> None:
    # (the server closed the task's metadata connection; the catalog lookups made it again,
    # but the incremental snapshot kept the closed one: its next chunk failed the task)
    cur.execute("CREATE TABLE a (id int PRIMARY KEY)")
    cur.execute("INSERT INTO a VALUES (1), (2), (3)")
    task = start_task(_config(mariadb_server, mariadb_db))
    try:
        poll_for(task, 0.3)
        cur.execute(f"KILL CONNECTION {task.meta.thread_id()}")
        task._transactional(mariadb_db, "a")  # a lookup that meets the closed connection
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["a"])
        got: list[Any] = []
        deadline = time.monotonic() + 20
        while len(_state(got, "app." + mariadb_db + ".a")) < 3:
            assert time.monotonic() < deadline, got
            got += poll(task)
        assert sorted(_state(got, f"app.{mariadb_db}.a")) == [1, 2, 3]
    finally:
        task.stop()


def test_an_incremental_snapshot_of_names_holding_a_percent_sign(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    """A ``%`` in the table's, its columns' or the signal table's name (statements the driver
    formats with arguments read it as a directive)."""
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE `sig%s` (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, "
                "data text)")  # fmt: skip
    cur.execute(f"GRANT INSERT ON `{mariadb_db}`.`sig%s` TO '{mariadb_server.user}'@'%'")
    cur.execute("CREATE TABLE `t%s` (`k%` int PRIMARY KEY, `a%b` int)")
    cur.execute("INSERT INTO `t%s` VALUES (1, 10), (2, 20), (3, 30), (4, 40), (5, 50)")
    task = start_task(source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "signal.data.collection": f"{mariadb_db}.sig%s",
        "table.exclude.list": rf"{mariadb_db}\.sig%s", "incremental.snapshot.chunk.size": 2,
    }))  # fmt: skip
    try:
        poll_for(task, 0.5)
        data = {"data-collections": [f"{mariadb_db}.t%s"], "additional-conditions": [
            {"data-collection": rf"{mariadb_db}\.t%s", "filter": "`a%b` > 10"}]}  # fmt: skip
        cur.execute("INSERT INTO `sig%%s` VALUES ('s1', 'execute-snapshot', %s)",
                    (json.dumps(data),))  # fmt: skip
        out = [r.value["after"] for r in poll_for(task, 4.0) if r.topic and r.value]
    finally:
        task.stop()
    assert sorted(v["k%"] for v in out) == [2, 3, 4, 5]


def test_an_incremental_snapshot_of_a_text_key_whose_collation_changes_reads_every_row(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the chunks go by key order: the cursor of the first, under the old collation, was
    # compared under the new one, and rows that sort before it there were never read)
    cur.execute("CREATE TABLE t (id varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin "
                "PRIMARY KEY, v int)")  # fmt: skip
    keys = ["a", "B", "c", "D", "e", "F", "g", "H"]  # (_bin: upper case first; _general_ci not)
    cur.executemany("INSERT INTO t VALUES (%s, %s)", [(k, i) for i, k in enumerate(keys)])
    task = start_task(_config(mariadb_server, mariadb_db,
                              **{"incremental.snapshot.chunk.size": 3}))  # fmt: skip
    try:
        out = poll_for(task, 0.5)

        _run_after_the_first_chunk(
            monkeypatch, mariadb_server, mariadb_db,
            "ALTER TABLE t MODIFY id varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        )  # fmt: skip
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["t"])
        out += poll_for(task, 3.0)
    finally:
        task.stop()
    reads = {r.value["after"]["id"] for r in out
             if r.topic == f"app.{mariadb_db}.t" and r.value and r.value["op"] == "r"}  # fmt: skip
    assert reads == set(keys)


def test_an_incremental_snapshot_of_an_enum_key_whose_labels_are_reordered_reads_every_row(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (a review's: an ENUM orders by its labels' order: reordered between chunks, the cursor
    # 'b' and the bound 'f' changed places, no row matched, and c..f were never read)
    keys = ["a", "b", "c", "d", "e", "f"]
    cur.execute("CREATE TABLE t (k enum('a','b','c','d','e','f') PRIMARY KEY, n int)")
    cur.executemany("INSERT INTO t VALUES (%s, %s)", [(k, i) for i, k in enumerate(keys)])
    task = start_task(_config(mariadb_server, mariadb_db,
                              **{"incremental.snapshot.chunk.size": 2}))  # fmt: skip
    try:
        out = poll_for(task, 0.5)
        reorder = "ALTER TABLE t MODIFY k enum('f','e','d','c','b','a')"
        _run_after_the_first_chunk(monkeypatch, mariadb_server, mariadb_db, reorder)
        _signal(cur, mariadb_db, "s1", "execute-snapshot", ["t"])
        out += poll_for(task, 3.0)
    finally:
        task.stop()
    reads = {r.value["after"]["k"] for r in out
             if r.topic == f"app.{mariadb_db}.t" and r.value and r.value["op"] == "r"}  # fmt: skip
    assert reads == set(keys)


def test_a_signal_table_of_other_names_and_more_columns(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    """The first three columns are a signal's id, type and data whatever their names, as in
    Debezium; a fourth one (a default) takes the watermarks too (a review's: written
    ``VALUES (%s, %s, %s)``, MariaDB refused a table of four columns at the first one)."""
    con = root(mariadb_server, mariadb_db)
    c = con.cursor()
    c.execute("CREATE TABLE sig (sig_id varchar(64) PRIMARY KEY, sig_type varchar(32) NOT NULL, "
              "sig_data text, at timestamp DEFAULT CURRENT_TIMESTAMP)")  # fmt: skip
    c.execute(f"GRANT INSERT ON `{mariadb_db}`.sig TO '{mariadb_server.user}'@'%'")
    c.execute("CREATE TABLE t (id int PRIMARY KEY)")
    c.execute("INSERT INTO t VALUES (1), (2), (3)")
    task = start_task(source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "signal.data.collection": f"{mariadb_db}.sig",
        "table.exclude.list": rf"{mariadb_db}\.sig", "incremental.snapshot.chunk.size": 2,
    }))  # fmt: skip
    try:
        poll_for(task, 0.3)
        data = json.dumps({"data-collections": [f"{mariadb_db}.t"]})
        c.execute("INSERT INTO sig (sig_id, sig_type, sig_data) VALUES ('s1', "
                  "'execute-snapshot', %s)", (data,))  # fmt: skip
        got: list[Any] = []
        deadline = time.monotonic() + 20
        while len([r for r in got if r.topic.endswith(".t")]) < 3:
            assert time.monotonic() < deadline, got[-3:]
            got += [r for r in poll(task) if r.topic]
    finally:
        task.stop()
        con.close()
    assert sorted(r.key["id"] for r in got if r.topic.endswith(".t")) == [1, 2, 3]


def test_a_signal_table_with_id_type_and_data_not_first_is_refused_at_start(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    from hub.errors import ConfigError

    con = root(mariadb_server, mariadb_db)
    con.cursor().execute("CREATE TABLE sig3 (pk int PRIMARY KEY, id varchar(64), "
                         "type varchar(32), data text)")  # fmt: skip
    cfg = source_config(mariadb_server, mariadb_db, **{
        "signal.data.collection": f"{mariadb_db}.sig3", "snapshot.mode": "no_data"})  # fmt: skip
    try:
        with pytest.raises(ConfigError, match="first three columns are pk, id, type"):
            start_task(cfg)
    finally:
        con.close()


def _execute(cur: Any, ident: str, data: Any) -> None:
    cur.execute("INSERT INTO debezium_signal VALUES (%s, 'execute-snapshot', %s)",
                (ident, json.dumps(data)))  # fmt: skip


def test_a_table_asked_for_again_with_another_filter_is_read_again(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # (a review's: the second signal was dropped, "no captured table matches": the US rows
    # never came; Debezium's queues the table again, with the new filter)
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, region varchar(2))")
    cur.execute("INSERT INTO t SELECT seq, IF(seq % 2, 'EU', 'US') FROM seq_1_to_200")
    cfg = _config(mariadb_server, mariadb_db, **{"incremental.snapshot.chunk.size": 10})
    caplog.set_level(logging.INFO, logger="connectors")
    task = start_task(cfg)
    try:
        out = poll_for(task, 0.5)
        for ident, region in (("e1", "EU"), ("e2", "US")):
            _execute(
                cur,
                ident,
                {
                    "data-collections": [f"{mariadb_db}.t"],
                    "additional-conditions": [
                        {"data-collection": f"{mariadb_db}.t", "filter": f"region = '{region}'"}
                    ],
                },
            )
        deadline = time.monotonic() + 30
        reads: list[Any] = []
        while len(reads) < 200 and time.monotonic() < deadline:
            out += poll(task)
            reads = [r.value["after"] for r in out if r.topic and r.value["op"] == "r"]
    finally:
        task.stop()
    assert [r["region"] for r in reads] == ["EU"] * 100 + ["US"] * 100
    assert sorted(r["id"] for r in reads) == list(range(1, 201))
    assert f"signal e2: {mariadb_db}.t queued again" in caplog.text


def test_a_pause_while_no_snapshot_runs_is_ignored(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # (a review's: the pause was kept, and the next execute-snapshot read nothing, without a
    # word, until a resume or a restart; Debezium's ignores it)
    cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
    cur.execute("INSERT INTO t SELECT seq FROM seq_1_to_30")
    task = start_task(_config(mariadb_server, mariadb_db))
    try:
        out = poll_for(task, 0.5)
        _signal(cur, mariadb_db, "p1", "pause-snapshot", [])
        _signal(cur, mariadb_db, "e1", "execute-snapshot", ["t"])
        out += poll_for(task, 2.0)
    finally:
        task.stop()
    assert len([r for r in out if r.topic and r.value["op"] == "r"]) == 30
    assert "signal p1: no incremental snapshot runs: nothing to pause" in caplog.text


@pytest.mark.parametrize("kind", ["execute-snapshot", "stop-snapshot"])
def test_data_collections_that_are_not_a_list_are_refused(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:  # fmt: skip
    # (a review's: a string was read character by character, each a regular expression)
    cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
    task = start_task(_config(mariadb_server, mariadb_db))
    try:
        poll_for(task, 0.5)
        cur.execute("INSERT INTO debezium_signal VALUES ('x1', %s, %s)",
                    (kind, json.dumps({"data-collections": f"{mariadb_db}.t"})))  # fmt: skip
        poll_for(task, 1.0)
    finally:
        task.stop()
    assert "signal x1: cannot read its data" in caplog.text
    assert "data-collections must be a list of names" in caplog.text


def test_a_filter_that_fails_when_run_leaves_its_table_and_the_stream_goes_on(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # (a review's: EXPLAIN took a subquery that returns two rows when run; the chunk's read
    # failed the task, and again at every restart: no change of any table came any more)
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, g int)")
    cur.execute("CREATE TABLE u (id int PRIMARY KEY, g int)")
    cur.execute("INSERT INTO t VALUES (1, 1), (2, 1)")
    cur.execute("INSERT INTO u VALUES (1, 1), (2, 1)")
    task = start_task(_config(mariadb_server, mariadb_db))
    try:
        out = poll_for(task, 0.5)
        bad = f"(SELECT u.id FROM {mariadb_db}.u WHERE u.g = t.g) > 0"
        _execute(cur, "e1", {"data-collections": [f"{mariadb_db}.t", f"{mariadb_db}.u"],
                             "additional-conditions": [{"data-collection": f"{mariadb_db}.t",
                                                        "filter": bad}]})  # fmt: skip
        cur.execute("INSERT INTO t VALUES (3, 2)")
        out += poll_for(task, 2.0)
    finally:
        task.stop()
    got = sorted((r.topic.split(".")[-1], r.value["op"], r.key["id"]) for r in out if r.topic)
    assert got == [("t", "c", 3), ("u", "r", 1), ("u", "r", 2)]
    assert f"incremental snapshot of {mariadb_db}.t: its read failed 3 times (Subquery" in (
        caplog.text
    )
