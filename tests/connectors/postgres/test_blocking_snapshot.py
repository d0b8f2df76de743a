"""Blocking snapshots (``execute-snapshot`` of type ``blocking``, Debezium's ad hoc blocking
snapshot) on PostgreSQL: streaming stops at the end of the signal's transaction, the tables
are read as an initial snapshot reads them, then streaming goes on from there; a restart
at any point resumes the snapshot or replays the signal."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.source.postgres import PostgresSourceTask
from hub.runtime.api import SourceRecord
from tests.connectors.postgres.helpers import (
    TopicEvents,
    failure,
    source_config,
    start,
    start_task,
)
from tests.fixtures.postgres import PgServer
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

SIGNAL = "CREATE TABLE sig (id text PRIMARY KEY, type text NOT NULL, data text)"


@pytest.fixture
def sql(pg_server: PgServer, pg_db: str) -> Any:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        yield conn


def blocking(sql: Any, ident: str, *tables: str, **more: Any) -> None:
    data = {"type": "blocking", "data-collections": list(tables), **more}
    sql.execute("INSERT INTO sig VALUES (%s, 'execute-snapshot', %s)", (ident, json.dumps(data)))


def config(pg_server: PgServer, pg_db: str, **extra: Any) -> dict[str, Any]:
    return source_config(pg_server, pg_db, **{
        "snapshot.mode": "no_data", "signal.data.collection": "public.sig",
        "table.exclude.list": r"public\.sig", **extra,
    })  # fmt: skip


def test_a_blocking_snapshot_reads_the_tables_then_streams_on(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Path
) -> None:
    sql.execute("CREATE TABLE a (id int PRIMARY KEY, v int NOT NULL)")
    sql.execute("CREATE TABLE b (v text)")  # no key: read whole, after a truncate event
    sql.execute("ALTER TABLE b REPLICA IDENTITY FULL")
    sql.execute("CREATE TABLE c (id int PRIMARY KEY)")
    sql.execute("INSERT INTO a SELECT g, 0 FROM generate_series(1, 2000) g")
    sql.execute("INSERT INTO b VALUES ('x'), ('y')")
    sql.execute("INSERT INTO c VALUES (1)")
    sql.execute(SIGNAL)
    worker = start(tmp_path, config(pg_server, pg_db, **{"snapshot.fetch.size": 300}))
    stop = threading.Event()

    def writer() -> None:
        with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as c:
            i = 0
            while not stop.wait(0.002):
                i += 1
                c.execute("UPDATE a SET v = v + 1 WHERE id = %s", (i * 7 % 2000 + 1,))

    t = threading.Thread(target=writer)
    try:
        wait_for(lambda: worker.status()["pg"][0].state == "RUNNING", what="start")
        sql.execute("INSERT INTO a VALUES (2001, 0)")  # streamed before the signal
        t.start()
        blocking(sql, "b1", "public.a", "public.b")
        a, b = TopicEvents(worker.log, "app.public.a"), TopicEvents(worker.log, "app.public.b")
        wait_for(lambda: sum(1 for _, v in a() if v and v["op"] == "r") >= 2001,
                 timeout=60, what="the blocking snapshot of a")  # fmt: skip
        stop.set()
        t.join()
        sql.execute("INSERT INTO a VALUES (2002, 0)")  # streamed after it
        wait_for(lambda: any(v and v["after"]["id"] == 2002 for _, v in a()), what="2002")
        final = dict(sql.execute("SELECT id, v FROM a").fetchall())
        state: dict[int, int] = {}
        for _, v in a():
            state[v["after"]["id"]] = v["after"]["v"]
        assert state == final  # every row, in its latest state
        evs = a()
        assert evs[0][1]["op"] == "c" and evs[0][1]["after"]["id"] == 2001
        reads = [v for _, v in evs if v["op"] == "r"]
        assert sorted(v["after"]["id"] for v in reads) == list(range(1, 2002))  # once each
        assert {v["source"]["snapshot"] for v in reads[1:-1]} == {"true"}
        assert reads[-1]["source"]["snapshot"] == "last_in_data_collection"
        assert evs[-1][1]["op"] == "c"
        assert [(v and v["op"], v and v["after"]) for _, v in b()] == [
            ("t", None), ("r", {"v": "x"}), ("r", {"v": "y"}),
        ]  # fmt: skip
        assert b()[-1][1]["source"]["snapshot"] == "last"
        assert not worker.log.has_topic("app.public.c")  # not asked for
        assert failure(worker) is None
    finally:
        stop.set()
        if t.is_alive():
            t.join()
        worker.stop()


def _poll(task: PostgresSourceTask, until: Any, limit: int = 400) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    for _ in range(limit):
        out += task.poll()
        if until(out):
            return out
    raise AssertionError(f"not reached in {limit} polls: {out[-3:]}")


def _reads(records: list[SourceRecord]) -> list[int]:
    return [r.value["after"]["id"] for r in records if r.topic and r.value["op"] == "r"]


def test_a_restart_resumes_the_blocking_snapshot_or_replays_its_signal(
    pg_server: PgServer, pg_db: str, sql: Any
) -> None:
    sql.execute("CREATE TABLE a (id int PRIMARY KEY)")
    sql.execute("INSERT INTO a SELECT generate_series(1, 50)")
    sql.execute(SIGNAL)
    cfg = config(pg_server, pg_db, **{"snapshot.fetch.size": 10, "max.batch.size": 10})
    task = start_task(cfg)
    try:
        sql.execute("INSERT INTO a VALUES (51)")
        first = _poll(task, lambda out: any(r.topic and r.value["after"]["id"] == 51 for r in out))
        before = first[-1].source_offset  # (the insert's; the commit's offset may follow)
        with sql.transaction():
            sql.execute("INSERT INTO a VALUES (52)")
            blocking(sql, "b1", "public.a")
        got = _poll(task, lambda out: len(_reads(out)) >= 25)
        assert [r.value["after"]["id"] for r in got if r.topic][0] == 52  # its transaction
        announced = [r for r in got if not r.topic and r.source_offset.get("only")]
        assert announced and announced[0].source_offset["stream"]["lsn"]
        mid = [r for r in got if r.topic][-1].source_offset
        assert mid["only"] == ["public.a"] and mid["table"] == "public.a"
        done = _reads(got)
    finally:
        task.stop()
    sql.execute("INSERT INTO a VALUES (53)")  # made while it was down: streamed after
    # resumed after the last row stored, then streams on from the signal's transaction
    again = start_task(cfg, mid)
    try:
        rest = _poll(again, lambda out: any(r.topic and r.value["after"]["id"] == 53
                                            and r.value["op"] == "c" for r in out))  # fmt: skip
        # (the rest is read in a new database snapshot: 53 is in it, and streamed too)
        assert sorted(done + _reads(rest)) == list(range(1, 54))
        assert [r.value["op"] for r in rest if r.topic][-1] == "c"
    finally:
        again.stop()
    # a restart from before the signal's transaction: the signal is replayed, the snapshot
    # taken again
    replayed = start_task(cfg, before)
    try:
        out = _poll(replayed, lambda out: any(r.topic and r.value["after"]["id"] == 53
                                              and r.value["op"] == "c" for r in out))  # fmt: skip
        assert sorted(_reads(out)) == list(range(1, 54))
        changes = [r.value["after"]["id"] for r in out if r.topic and r.value["op"] == "c"]
        assert changes == [52, 53]
    finally:
        replayed.stop()


def test_a_blocking_snapshot_it_cannot_take_is_refused_with_a_reason(
    pg_server: PgServer, pg_db: str, sql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sql.execute("CREATE TABLE a (id int PRIMARY KEY)")
    sql.execute(SIGNAL)
    task = start_task(config(pg_server, pg_db))
    caplog.set_level(logging.INFO, logger="connectors")
    try:
        condition = {"data-collection": "public.a", "filter": "SELECT * FROM a WHERE id > 1"}
        blocking(sql, "b1", "public.a", **{"additional-conditions": [condition]})
        blocking(sql, "b2", "public.nothing")
        sql.execute(
            "INSERT INTO sig VALUES ('b3', 'execute-snapshot', "
            '\'{"type": "sideways", "data-collections": ["public.a"]}\')'
        )
        sql.execute("INSERT INTO a VALUES (1)")
        out = _poll(task, lambda out: any(r.topic for r in out))
        assert [r.value["op"] for r in out if r.topic] == ["c"]  # streamed on, nothing read
        said = caplog.text
        assert "b1: additional-conditions are not supported in a blocking snapshot" in said
        assert "b2: no captured table matches" in said
        assert "b3: a snapshot of type 'sideways' is not one hub takes" in said
        assert task.reader is None
    finally:
        task.stop()


def test_snapshot_include_collection_list_snapshots_those_tables_only(
    pg_server: PgServer, pg_db: str, sql: Any
) -> None:
    # (it was refused: Debezium's initial snapshot reads only the captured tables it lists,
    # matched whole and ignoring case, or their double-quoted names; the others are streamed)
    sql.execute("CREATE TABLE a (id int PRIMARY KEY)")
    sql.execute('CREATE TABLE "B" (id int PRIMARY KEY)')
    sql.execute("CREATE TABLE c (id int PRIMARY KEY)")
    for t in ("a", '"B"', "c"):
        sql.execute(f"INSERT INTO {t} VALUES (1)")
    cfg = source_config(pg_server, pg_db, **{
        "snapshot.include.collection.list": r"PUBLIC\.A,\"public\"\.\"B\""})  # fmt: skip
    task = start_task(cfg)
    try:
        first = _poll(task, lambda out: any(r.topic and r.topic.endswith(".B") for r in out))
        sql.execute("INSERT INTO c VALUES (2)")
        rest = _poll(task, lambda out: any(r.topic and r.topic.endswith(".c") for r in out))
    finally:
        task.stop()
    got = [(r.topic, r.value["op"], r.key["id"]) for r in first + rest if r.topic]
    assert got == [("app.public.B", "r", 1), ("app.public.a", "r", 1), ("app.public.c", "c", 2)]
