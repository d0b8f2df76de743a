"""Transactions the binlog records with more than BEGIN ... COMMIT: savepoints rolled back to
(the binlog keeps their rows when a non-transactional table changed in between) and XA."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from hub.errors import ConfigError
from tests.connectors.mysql.helpers import (
    poll,
    poll_for,
    restart_after_every_poll,
    root,
    source_config,
    start_position,
    start_task,
)
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


def _savepoint_workload(cur: Any) -> None:
    cur.execute("BEGIN")
    cur.execute("INSERT INTO t VALUES (1)")
    cur.execute("SAVEPOINT a")
    cur.execute("INSERT INTO t VALUES (2)")
    cur.execute("INSERT INTO n VALUES (20)")  # non-transactional: the binlog keeps t 2
    cur.execute("SAVEPOINT b")
    cur.execute("INSERT INTO t VALUES (3)")
    cur.execute("INSERT INTO n VALUES (30)")
    cur.execute("ROLLBACK TO SAVEPOINT b")  # t 3 never was
    cur.execute("INSERT INTO t VALUES (4)")
    cur.execute("RELEASE SAVEPOINT b")
    cur.execute("SAVEPOINT c")
    cur.execute("INSERT INTO t VALUES (5)")
    cur.execute("INSERT INTO n VALUES (50)")
    cur.execute("ROLLBACK TO a")  # t 2, 4, 5 never were
    cur.execute("INSERT INTO t VALUES (6)")
    cur.execute("COMMIT")
    cur.execute("INSERT INTO t VALUES (99)")


def test_savepoints_rolled_back_to_drop_their_rows_across_restarts(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    """Nested savepoints, RELEASE and ROLLBACK TO, with a non-transactional table changed in
    between; the task restarted from its stored offset after every poll: the target gets
    what the tables hold, each row once."""
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY) ENGINE=InnoDB")
    cur.execute("CREATE TABLE n (id int PRIMARY KEY) ENGINE=Aria TRANSACTIONAL=0")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data",
                                                        "max.batch.size": 2})  # fmt: skip
    offset = start_position(cfg)
    _savepoint_workload(cur)
    got = restart_after_every_poll(cfg, offset, lambda seen: any(r.key == {"id": 99} for r in seen))
    seen = [(r.topic.rsplit(".", 1)[1], r.key["id"]) for r in got]
    cur.execute("SELECT id FROM t ORDER BY id")
    assert [r[0] for r in cur.fetchall()] == [1, 6, 99]
    cur.execute("SELECT id FROM n ORDER BY id")
    assert [r[0] for r in cur.fetchall()] == [20, 30, 50]
    assert sorted(seen) == [("n", 20), ("n", 30), ("n", 50), ("t", 1), ("t", 6), ("t", 99)]


@pytest.mark.parametrize("restarts", [False, True])
def test_transaction_metadata_has_begin_and_end_records_counting_what_was_emitted(
    mariadb_server: MariaDBServer, mariadb_db: str, restarts: bool
) -> None:
    """provide.transaction.metadata: a BEGIN and an END record in ``<prefix>.transaction``
    for each transaction, as Debezium writes them (none were written: a review's), END
    counting the events emitted (none for a transaction of tables not captured; the rows a
    ROLLBACK TO dropped not among them) and each event's block numbered without gaps; once
    each however often the task restarts."""
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY) ENGINE=InnoDB")
    cur.execute("CREATE TABLE n (id int PRIMARY KEY) ENGINE=Aria TRANSACTIONAL=0")
    cur.execute("CREATE TABLE other (id int PRIMARY KEY)")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "max.batch.size": 2, "provide.transaction.metadata": True,
        "table.exclude.list": rf"{mariadb_db}\.other",
    })  # fmt: skip
    offset = start_position(cfg)
    cur.execute("INSERT INTO other VALUES (1)")  # (no captured event: END counts none)
    cur.execute("CREATE TABLE other2 (id int)")  # (a statement of its own: no BEGIN, no END)
    _savepoint_workload(cur)

    def ends(seen: list[Any]) -> int:
        return sum(1 for r in seen if r.topic == "app.transaction" and r.value["status"] == "END")

    if restarts:
        got = restart_after_every_poll(cfg, offset, lambda seen: ends(seen) == 6)
    else:
        task = start_task(cfg, offset)
        try:
            got = []
            deadline = time.monotonic() + 30
            while ends(got) < 6:
                assert time.monotonic() < deadline, got[-3:]
                got += [r for r in poll(task) if r.topic]
            got += [r for r in poll_for(task, 0.5) if r.topic]
        finally:
            task.stop()
    meta = [r.value for r in got if r.topic == "app.transaction"]
    events = [r.value for r in got if r.topic != "app.transaction" and r.value is not None]
    assert sorted(e["after"]["id"] for e in events) == [1, 6, 20, 30, 50, 99]
    # (MariaDB logs each change of the non-transactional table as a transaction of its own)
    ids = list(dict.fromkeys(e["transaction"]["id"] for e in events))
    assert len(ids) == 5
    assert meta[0]["status"] == "BEGIN" and meta[1]["status"] == "END"
    assert meta[1]["event_count"] == 0 and meta[1]["data_collections"] == []
    assert [(m["status"], m["id"]) for m in meta[2:]] == [
        (status, i) for i in ids for status in ("BEGIN", "END")
    ]
    for end in meta[3::2]:
        mine = [e for e in events if e["transaction"]["id"] == end["id"]]
        assert end["event_count"] == len(mine)
        tables = Counter(f"{mariadb_db}.{e['source']['table']}" for e in mine)
        assert {d["data_collection"]: d["event_count"] for d in end["data_collections"]} == tables
        assert [e["transaction"]["total_order"] for e in mine] == list(range(1, len(mine) + 1))
        assert [e["transaction"]["data_collection_order"] for e in mine] == list(
            range(1, len(mine) + 1)
        )  # (one table each here)
    # the transaction of t 1 and t 6, from which ROLLBACK TO dropped t 2, 4 and 5
    assert [e["after"]["id"] for e in events if e["transaction"]["id"] == ids[3]] == [1, 6]


def test_an_xa_transaction_on_a_captured_table_is_a_clear_error(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    """Whether a prepared XA transaction commits is known only later: its rows are refused
    with the table named, not emitted (they may be rolled back) nor dropped."""
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE a (id int PRIMARY KEY)")
    task = start_task(source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"}))
    try:
        poll_for(task, 0.3)
        cur.execute("XA START 'x1'")
        cur.execute("INSERT INTO a VALUES (1)")
        cur.execute("XA END 'x1'")
        cur.execute("XA PREPARE 'x1'")
        cur.execute("XA ROLLBACK 'x1'")
        with pytest.raises(ConfigError, match=rf"{mariadb_db}\.a: a two-phase XA transaction"):
            poll_for(task, 30)  # (raises as soon as the stream reaches it)
    finally:
        task.stop()


def test_one_phase_xa_commits_and_prepared_xa_elsewhere_pass(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    """XA COMMIT ... ONE PHASE is logged as an ordinary transaction; a two-phase XA
    transaction on a table not captured, committed or rolled back, is passed over."""
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE a (id int PRIMARY KEY)")
    cur.execute("CREATE TABLE other (id int PRIMARY KEY)")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "table.include.list": f"{mariadb_db}.a"})  # fmt: skip
    task = start_task(cfg)
    try:
        poll_for(task, 0.3)
        for xid, end in (("p1", "XA COMMIT 'p1'"), ("p2", "XA ROLLBACK 'p2'")):
            cur.execute(f"XA START '{xid}'")
            cur.execute(f"INSERT INTO other VALUES ({len(xid) + int(xid[1])})")
            cur.execute(f"XA END '{xid}'")
            cur.execute(f"XA PREPARE '{xid}'")
            cur.execute(end)
        cur.execute("XA START 'o1'")
        cur.execute("INSERT INTO a VALUES (1)")
        cur.execute("XA END 'o1'")
        cur.execute("XA COMMIT 'o1' ONE PHASE")
        cur.execute("INSERT INTO a VALUES (2)")
        got: list[Any] = []
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            got += [r for r in poll(task) if r.topic]
        assert [r.key for r in got] == [{"id": 1}, {"id": 2}]
    finally:
        task.stop()


def test_rows_rolled_back_to_a_savepoint_are_not_counted(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    """The events by operation (the console's chart) count what is emitted: the rows a
    ROLLBACK TO drops were never handed over."""
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY) ENGINE=InnoDB")
    cur.execute("CREATE TABLE n (id int PRIMARY KEY) ENGINE=Aria TRANSACTIONAL=0")
    task = start_task(source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"}))
    try:
        poll_for(task, 0.3)
        _savepoint_workload(cur)
        got: list[Any] = []
        deadline = time.monotonic() + 30  # (until the six inserts came, then a moment more)
        while sum(1 for r in got if r.value and r.value.get("op") == "c") < 6:
            assert time.monotonic() < deadline, got
            got += poll(task)
        got += poll_for(task, 0.5)
        counted = {k: v for k, v in task.metrics().items() if k.startswith("op_events:")}
    finally:
        task.stop()
    emitted = Counter(r.value["op"] for r in got if r.value is not None and "op" in r.value)
    assert emitted["c"] == 6  # (t: 1, 6, 99; n: 20, 30, 50)
    assert counted == {f"op_events:{op}": emitted[op] for op in "cudrt"}


def test_a_replay_of_a_truncate_whose_table_was_dropped_since_is_exact(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    """A TRUNCATE's event was built from the catalog as it is at the replay: a table dropped
    since gave none. A crashed run had emitted it, so the replay was one record short, and
    the runtime, matching the replayed records to the log's by their place, took the first
    new one for written and dropped it (a review's run: a row missing from the sink); then
    the replay said it was inexact. It is built from the schema history now: the same."""
    from connectors.source.mysql import MariaDbSourceTask
    from hub.runtime.offsets import partition_key
    from tests.connectors.mysql.helpers import context, poll_until

    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
    cur.execute("CREATE TABLE u (id int PRIMARY KEY)")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data",
                                                        "skipped.operations": "none"})  # fmt: skip
    task = start_task(cfg)
    offset: dict[str, Any] = {}
    try:
        for r in poll_for(task, 0.3):
            offset = dict(r.source_offset)  # (what the crashed run had committed)
        cur.execute("TRUNCATE TABLE t")
        cur.execute("INSERT INTO u VALUES (1), (2)")
        first = poll_until(task, 3)
        assert [r.value["op"] for r in first] == ["t", "c", "c"]
    finally:
        task.stop()
    cur.execute("DROP TABLE t")
    inexact: list[bool] = []
    task = MariaDbSourceTask()
    task.start(cfg, context(cfg, {partition_key({"server": "app"}): offset},
                            on_inexact_replay=lambda: inexact.append(True)))  # fmt: skip
    try:
        again = poll_until(task, 3)
        assert [r.value["op"] for r in again] == ["t", "c", "c"]  # (the table as it was)
        assert inexact == []
    finally:
        task.stop()


@pytest.mark.parametrize("restarts", [False, True], ids=["one-run", "restarted"])
def test_rows_after_a_savepoint_nothing_rolls_back_are_not_held_to_the_commit(
    mariadb_server: MariaDBServer, mariadb_db: str, monkeypatch: pytest.MonkeyPatch,
    restarts: bool,
) -> None:  # fmt: skip
    """(a review's: an ORM's nested transaction sets a SAVEPOINT, and every row after it was
    held in memory to the commit and handed over in one poll: 300 000 rows took +536 MB and
    one poll; a few million killed the worker at each restart). Past `HOLD_LOOK` held records
    the stream reads ahead whether the group holds a ROLLBACK: none, they go out; one, they
    stay held and the rows it undoes never come."""
    from connectors.source.mysql import stream

    monkeypatch.setattr(stream, "HOLD_LOOK", 100)
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(200)) ENGINE=InnoDB")
    cur.execute("CREATE TABLE n (id int PRIMARY KEY) ENGINE=Aria TRANSACTIONAL=0")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data",
                                                        "max.batch.size": 500})  # fmt: skip
    offset = start_position(cfg)
    cur.execute("BEGIN")
    cur.execute("INSERT INTO t VALUES (0, 'first')")
    cur.execute("SAVEPOINT a")  # (nothing rolls back to it)
    cur.execute("INSERT INTO t SELECT seq, repeat('x', 200) FROM seq_1_to_3000")
    cur.execute("SAVEPOINT b")
    cur.execute("INSERT INTO t SELECT seq, 'y' FROM seq_3001_to_3500")
    cur.execute("COMMIT")
    # and one whose group holds a ROLLBACK TO (a non-transactional table changed): held
    cur.execute("BEGIN")
    cur.execute("INSERT INTO t VALUES (10000, 'kept')")
    cur.execute("SAVEPOINT c")
    cur.execute("INSERT INTO n VALUES (1)")
    cur.execute("INSERT INTO t SELECT seq, 'undone' FROM seq_20000_to_22000")
    cur.execute("ROLLBACK TO SAVEPOINT c")
    cur.execute("INSERT INTO t VALUES (10001, 'after')")
    cur.execute("COMMIT")
    cur.execute("INSERT INTO t VALUES (99999, 'end')")

    def done(seen: list[Any]) -> bool:
        return any(r.key == {"id": 99999} for r in seen)

    polls: list[int] = []
    if restarts:
        got = restart_after_every_poll(cfg, offset, done, rounds=400)
    else:
        task, got = start_task(cfg, offset), []
        try:
            deadline = time.monotonic() + 60
            while not done(got):
                assert time.monotonic() < deadline
                batch = poll(task)
                polls.append(len(batch))
                got += batch
        finally:
            task.stop()
    ids = [r.key["id"] for r in got if r.topic.endswith(".t")]
    assert sorted(ids) == [*range(3501), 10000, 10001, 99999]  # each once, none undone
    if not restarts:
        assert max(polls) < 1000  # (3 501 in one poll before)
