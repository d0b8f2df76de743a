"""pgoutput.streaming: large transactions the server streams before their commit (protocol 2)
become events only at their commit, in commit order, without the changes of rolled-back
savepoints or aborted transactions, exactly as the unstreamed path gives them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.runtime.worker import Worker
from tests.connectors.postgres.helpers import events, failure, source_config, start, wait_for
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration


@pytest.fixture
def sql(pg_server: PgServer, pg_db: str) -> Any:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        yield conn


def _stream_txns(sql: Any, slot: str) -> int:
    row = sql.execute(
        "SELECT coalesce(stream_txns, 0) FROM pg_stat_replication_slots WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    return int(row[0]) if row else 0


def _wait_streaming(sql: Any, worker: Worker, slot: str) -> None:
    wait_for(
        lambda: (
            sql.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            == (True,)
            or failure(worker)
        ),
        what="the stream to start",
    )


def _workload(pg_server: PgServer, pg_db: str, origin: str) -> None:
    """A big transaction (with a replication origin) with rolled-back nested savepoints and a
    released one, a small one committed while it is open, and a big one that aborts."""
    dsn = pg_server.dsn(pg_db)
    with psycopg.connect(dsn) as big, psycopg.connect(dsn, autocommit=True) as small:
        big.execute("SELECT pg_replication_origin_create(%s)", (origin,))  # cluster-wide
        big.commit()
        big.execute("SELECT pg_replication_origin_session_setup(%s)", (origin,))
        big.execute("SELECT pg_replication_origin_xact_setup('0/10', now())")
        big.execute("INSERT INTO t SELECT g, repeat('a', 40) FROM generate_series(1, 2900) g")
        big.execute("SAVEPOINT s")
        big.execute("INSERT INTO t SELECT g, 'gone' FROM generate_series(100001, 102000) g")
        big.execute("SAVEPOINT s2")
        big.execute("INSERT INTO t SELECT g, 'gone' FROM generate_series(102001, 104000) g")
        big.execute("ROLLBACK TO SAVEPOINT s")
        big.execute("SAVEPOINT kept")
        big.execute("INSERT INTO t SELECT g, repeat('k', 40) FROM generate_series(2901, 3000) g")
        big.execute("RELEASE SAVEPOINT kept")
        big.execute("UPDATE t SET v = 'b' WHERE id <= 1000")
        small.execute("INSERT INTO t VALUES (999999, 'small')")  # commits first
        big.execute("DELETE FROM t WHERE id BETWEEN 2501 AND 3000")
        big.commit()
        big.execute("INSERT INTO t SELECT g, 'aborted' FROM generate_series(200001, 203000) g")
        big.rollback()
        small.execute("INSERT INTO t VALUES (1000000, 'last')")


@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "whole"])
def test_streamed_transactions_emit_at_commit_without_rolled_back_changes(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Path, streaming: bool
) -> None:
    # the walsender of this database spills (or streams) past 64 kB of changes
    sql.execute(f"ALTER DATABASE {pg_db} SET logical_decoding_work_mem = '64kB'")
    sql.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    cfg = source_config(pg_server, pg_db, **{
        "snapshot.mode": "no_data", "pgoutput.streaming": streaming,
        "provide.transaction.metadata": True, "logical.decoding.message.include": False,
    })  # fmt: skip
    worker = start(tmp_path, cfg)
    try:
        _wait_streaming(sql, worker, cfg["slot.name"])
        _workload(pg_server, pg_db, "os" if streaming else "ow")  # short names: see Origin
        evs = wait_for(
            lambda: (e := events(worker.log, "app.public.t")) and e[-1][0] == {"id": 1000000} and e,
            what="the events",
        )
        # the other topic's partition is flushed on its own
        txns = wait_for(
            lambda: (e := events(worker.log, "app.transaction")) and len(e) >= 6 and e,
            what="the transaction metadata",
        )
        assert failure(worker) is None, failure(worker)
        streamed = _stream_txns(sql, cfg["slot.name"])
    finally:
        worker.stop()
    assert (streamed > 0) is streaming  # the server did stream (or did not)
    changes = [(v["op"], k["id"]) for k, v in evs if v is not None]
    assert changes[0] == ("c", 999999)  # committed first, while the big one was open
    big = changes[1:-1]
    assert big[:3000] == [("c", i) for i in range(1, 3001)]
    assert big[3000:4000] == [("u", i) for i in range(1, 1001)]
    assert big[4000:] == [("d", i) for i in range(2501, 3001)]
    assert changes[-1] == ("c", 1000000)
    assert not any(i > 1000000 for _, i in changes)  # the savepoint's and the aborted rows
    ends = [v for _, v in txns if v["status"] == "END"]
    assert [e["event_count"] for e in ends] == [1, 4500, 1]


def test_a_long_replay_keeps_the_server_connection(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Path
) -> None:
    """While a committed streamed transaction is replayed (over many polls, nothing read from
    the server), status updates still go out: wal_sender_timeout must not cut the stream."""
    sql.execute(f"ALTER DATABASE {pg_db} SET logical_decoding_work_mem = '64kB'")
    # (5 s: under a loaded suite, 2 s passed between two polls of the replay once, and the
    # server cut the stream; the replay lasts several times longer still)
    sql.execute(f"ALTER DATABASE {pg_db} SET wal_sender_timeout = '5s'")
    sql.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    cfg = source_config(pg_server, pg_db, **{
        "snapshot.mode": "no_data", "pgoutput.streaming": True, "max.batch.size": 100,
        "logical.decoding.message.include": False,
    })  # fmt: skip
    worker = start(tmp_path, cfg)
    try:
        _wait_streaming(sql, worker, cfg["slot.name"])
        # ~1 000 polls of 100: a replay several times longer than wal_sender_timeout
        sql.execute("INSERT INTO t SELECT g, 'x' FROM generate_series(1, 100000) g")
        sql.execute("INSERT INTO t VALUES (0, 'after')")
        wait_for(
            lambda: (e := events(worker.log, "app.public.t")) and e[-1][0] == {"id": 0},
            timeout=90,
            what="the events",
        )
        task = worker.status()["pg"][0]
    finally:
        worker.stop()
    assert _stream_txns(sql, cfg["slot.name"]) > 0
    assert task.failures == 0, task.trace  # not cut off and restarted meanwhile


def test_a_connector_paused_past_wal_sender_timeout_keeps_its_stream(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Path
) -> None:
    """Paused, the task is not polled, and nothing went to the server: past
    wal_sender_timeout the server ended the stream, and the task failed when resumed."""
    sql.execute(f"ALTER DATABASE {pg_db} SET wal_sender_timeout = '2s'")
    sql.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    cfg = source_config(pg_server, pg_db, **{"snapshot.mode": "no_data"})
    worker = start(tmp_path, cfg)
    try:
        _wait_streaming(sql, worker, cfg["slot.name"])
        worker.pause("pg")
        for i in range(6):  # (changes the server has to send meanwhile)
            sql.execute("INSERT INTO t VALUES (%s, 'x')", (i,))
            time.sleep(1)
        worker.resume("pg")
        sql.execute("INSERT INTO t VALUES (99, 'after')")
        wait_for(lambda: (e := events(worker.log, "app.public.t")) and e[-1][0] == {"id": 99},
                 timeout=30, what="the events")  # fmt: skip
        task = worker.status()["pg"][0]
        assert [k["id"] for k, _ in events(worker.log, "app.public.t")] == [*range(6), 99]
    finally:
        worker.stop()
    assert task.failures == 0, task.trace


def test_streaming_with_logical_messages_is_refused_with_a_clear_error() -> None:
    from hub.runtime.validation import validate
    from hub.runtime.worker import ConnectorSpec

    spec = ConnectorSpec("pg", {
        "connector.class": "postgres", "database.dbname": "d", "topic.prefix": "p",
        "pgoutput.streaming": True,
    }, "pg.yaml")  # fmt: skip
    with pytest.raises(Exception, match="logical.decoding.message.include=false") as info:
        validate(spec)
    assert "pg.yaml" in str(info.value)


def test_the_relation_a_streamed_transaction_carried_is_kept_after_it(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Path
) -> None:
    # (a column added live, then a streamed transaction, the first to use the table since,
    # carried its new Relation; after replaying it hub went back to the Relation seen
    # outside it, and the server, which counts the streamed one as sent, sent none again:
    # later events lacked the column)
    sql.execute(f"ALTER DATABASE {pg_db} SET logical_decoding_work_mem = '64kB'")
    sql.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    cfg = source_config(pg_server, pg_db, **{
        "snapshot.mode": "no_data", "pgoutput.streaming": True,
        "logical.decoding.message.include": False,
    })  # fmt: skip
    worker = start(tmp_path, cfg)
    try:
        _wait_streaming(sql, worker, cfg["slot.name"])
        sql.execute("INSERT INTO t VALUES (1, 'small before')")
        wait_for(lambda: events(worker.log, "app.public.t"), what="the first event")
        sql.execute("ALTER TABLE t ADD COLUMN c int DEFAULT 7")
        sql.execute("INSERT INTO t SELECT g, repeat('x', 50), g FROM generate_series(1000, 4000) g")
        sql.execute("INSERT INTO t VALUES (2, 'small after', 42)")
        sql.execute("UPDATE t SET c = 43, v = 'upd' WHERE id = 1")
        evs = wait_for(
            lambda: (e := events(worker.log, "app.public.t")) and len(e) >= 3004 and e,
            what="the events",
        )
        assert _stream_txns(sql, cfg["slot.name"]) > 0
        assert failure(worker) is None, failure(worker)
    finally:
        worker.stop()
    after = [v["after"] for _, v in evs if v is not None]
    assert after[-2:] == [{"id": 2, "v": "small after", "c": 42}, {"id": 1, "v": "upd", "c": 43}]
