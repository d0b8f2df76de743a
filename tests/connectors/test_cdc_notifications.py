"""Notifications (``notification.enabled.channels``: sink, log), as Debezium sends them: an
initial snapshot's STARTED, IN_PROGRESS and TABLE_SCAN_COMPLETED per table around its rows,
COMPLETED; SKIPPED without a snapshot; an incremental snapshot's, under its signal's id; on
PostgreSQL and MySQL/MariaDB alike (the shared `cdc.notifications`)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.runtime.api import SourceRecord
from tests.connectors.mysql import helpers as my
from tests.connectors.postgres import helpers as pg
from tests.fixtures.mariadb import MariaDBServer
from tests.fixtures.postgres import PgServer
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

SINK = {"notification.enabled.channels": "sink,log", "notification.sink.topic.name": "notes"}


def _notes(records: list[SourceRecord]) -> list[tuple[str, str, dict[str, str]]]:
    return [(r.value["aggregate_type"], r.value["type"], r.value["additional_data"])
            for r in records if r.topic == "notes"]  # fmt: skip


def _poll_until(task: Any, done: Any, poll: Any, seconds: float = 20) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    deadline = time.monotonic() + seconds
    while not done(out):
        assert time.monotonic() < deadline, _notes(out)
        out += [r for r in poll(task) if r.topic]
    return out


def _check_initial(records: list[Any], prefix: str, tables: dict[str, int]) -> None:
    """STARTED, then per table IN_PROGRESS, its rows, TABLE_SCAN_COMPLETED; COMPLETED."""
    names = [f"{prefix}.{t}" for t in tables]
    seq: list[Any] = []
    for r in records:
        if r.topic == "notes":
            v = r.value
            assert r.key == {"id": v["id"]} and not r.replayable
            assert r.value_schema["name"] == "io.debezium.connector.common.Notification"
            assert v["aggregate_type"] == "Initial Snapshot"
            assert v["additional_data"]["connector_name"] == "app"
            assert abs(v["timestamp"] - time.time() * 1000) < 60_000
            data = v["additional_data"]
            name = data.get("current_collection_in_progress") or data.get("scanned_collection")
            seq.append((v["type"], name, data.get("total_rows_scanned")))
        elif r.topic.startswith("app."):  # (a SourceRecord, encoded or not, or a batch)
            table = r.topic.removeprefix("app.")
            if seq[-1] != ("row", table, None):
                seq.append(("row", table, None))
    want: list[Any] = [("STARTED", None, None)]
    for name, rows in zip(names, tables.values(), strict=True):
        want.append(("IN_PROGRESS", name, None))
        if rows:
            want.append(("row", name, None))
        want.append(("TABLE_SCAN_COMPLETED", name, str(rows)))
    assert seq == [*want, ("COMPLETED", None, None)]
    progress = next(r for r in records if r.topic == "notes" and r.value["type"] == "IN_PROGRESS")
    assert progress.value["additional_data"]["data_collections"] == ",".join(names)


@pytest.fixture
def sql(pg_server: PgServer, pg_db: str) -> Any:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        yield conn


def test_postgres_initial_snapshot_notifications_surround_each_tables_rows(
    pg_server: PgServer, pg_db: str, sql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sql.execute("CREATE TABLE a (id int PRIMARY KEY)")
    sql.execute("CREATE TABLE b (id int PRIMARY KEY)")  # empty: announced as it is passed
    sql.execute("CREATE TABLE c (id int PRIMARY KEY)")
    sql.execute("INSERT INTO a SELECT generate_series(1, 5)")
    sql.execute("INSERT INTO c SELECT generate_series(1, 3)")
    caplog.set_level(logging.INFO, logger="connectors.source.cdc.notifications")
    for encoding in (None, (False, False)):  # the values path, and the encoded one
        task = pg.start_task(pg.source_config(pg_server, pg_db, **SINK, **{
            "snapshot.fetch.size": 2, "max.batch.size": 3}), json_encoding=encoding)  # fmt: skip
        try:
            got = _poll_until(task, lambda out: any(
                r.topic == "notes" and r.value["type"] == "COMPLETED" for r in out),
                lambda t: t.poll())  # fmt: skip
        finally:
            task.stop()
        _check_initial(got, "public", {"a": 5, "b": 0, "c": 3})
    assert "[Notification Service] {id=" in caplog.text
    assert "type='TABLE_SCAN_COMPLETED'" in caplog.text


def test_postgres_notifications_through_a_worker(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Path
) -> None:
    # as the JSON converter writes them in the log: the initial snapshot's (its rows in
    # packed batches beside them), an incremental snapshot's under its signal's id, and
    # SKIPPED at a restart
    sql.execute("CREATE TABLE a (id int PRIMARY KEY)")
    sql.execute("CREATE TABLE e (id int PRIMARY KEY)")
    sql.execute("CREATE TABLE sig (id text PRIMARY KEY, type text NOT NULL, data text)")
    sql.execute("INSERT INTO a SELECT generate_series(1, 5)")
    config = pg.source_config(pg_server, pg_db, **SINK, **{
        "signal.data.collection": "public.sig", "table.exclude.list": r"public\.sig",
        "incremental.snapshot.chunk.size": 2,
    })  # fmt: skip

    def done(aggregate: str) -> Any:
        return lambda: any(v["aggregate_type"] == aggregate and v["type"] == "COMPLETED"
                           for _, v in notes())  # fmt: skip

    worker = pg.start(tmp_path, config)
    try:
        notes = pg.TopicEvents(worker.log, "notes")
        wait_for(done("Initial Snapshot"), what="the snapshot's COMPLETED")
        # (durable topic by topic: the note's partition may be read before the rows' are, as
        # a loaded suite run saw once)
        wait_for(lambda: len(pg.events(worker.log, "app.public.a")) >= 5, what="a's rows")
        assert len(pg.events(worker.log, "app.public.a")) == 5
        sql.execute("INSERT INTO sig VALUES ('sig-1', 'execute-snapshot', %s)",
                    (json.dumps({"data-collections": ["public.a", "public.e"]}),))  # fmt: skip
        wait_for(done("Incremental Snapshot"), what="the incremental snapshot's COMPLETED")
        every = [v for _, v in notes()]
    finally:
        worker.stop()
    initial = [(v["type"], v["additional_data"].get("total_rows_scanned"))
               for v in every if v["aggregate_type"] == "Initial Snapshot"]  # fmt: skip
    assert initial == [("STARTED", None), ("IN_PROGRESS", None), ("TABLE_SCAN_COMPLETED", "5"),
                       ("IN_PROGRESS", None), ("TABLE_SCAN_COMPLETED", "0"),
                       ("COMPLETED", None)]  # fmt: skip
    got = [v for v in every if v["aggregate_type"] == "Incremental Snapshot"]
    assert {v["id"] for v in got} == {"sig-1"}
    kinds = [v["type"] for v in got]
    assert kinds == ["STARTED", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS",
                     "TABLE_SCAN_COMPLETED", "TABLE_SCAN_COMPLETED", "COMPLETED"]  # fmt: skip
    assert got[0]["additional_data"] == {"data_collections": "public.a,public.e",
                                         "connector_name": "app"}  # fmt: skip
    progress = got[1]["additional_data"]
    assert (progress["current_collection_in_progress"], progress["last_processed_key"],
            progress["maximum_key"]) == ("public.a", "2", "5")  # fmt: skip
    scans = [v["additional_data"] for v in got if v["type"] == "TABLE_SCAN_COMPLETED"]
    assert [(s["scanned_collection"], s["total_rows_scanned"], s["status"]) for s in scans] == [
        ("public.a", "5", "SUCCEEDED"), ("public.e", "0", "EMPTY")]  # fmt: skip
    worker = pg.start(tmp_path, config)  # a restart: streaming goes on, no snapshot
    try:
        notes = pg.TopicEvents(worker.log, "notes")
        wait_for(lambda: any(v["type"] == "SKIPPED" for _, v in notes()), what="SKIPPED")
    finally:
        worker.stop()


def test_mysql_initial_snapshot_and_incremental_notifications(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    con = my.root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE a (id int PRIMARY KEY)")
    cur.execute("CREATE TABLE b (id int PRIMARY KEY)")
    cur.execute("CREATE TABLE debezium_signal (id varchar(64) PRIMARY KEY, "
                "type varchar(32) NOT NULL, data text)")  # fmt: skip
    cur.execute(f"GRANT INSERT ON `{mariadb_db}`.debezium_signal TO "
                f"'{mariadb_server.user}'@'%'")  # fmt: skip
    cur.execute("INSERT INTO a VALUES (1), (2), (3)")
    task = my.start_task(my.source_config(mariadb_server, mariadb_db, **SINK, **{
        "snapshot.fetch.size": 2, "signal.data.collection": f"{mariadb_db}.debezium_signal",
        "table.exclude.list": rf"{mariadb_db}\.debezium_signal",
    }))  # fmt: skip
    try:
        got = _poll_until(
            task,
            lambda out: any(r.topic == "notes" and r.value["type"] == "COMPLETED" for r in out),
            my.poll,
        )
        _check_initial(got, mariadb_db, {"a": 3, "b": 0})
        cur.execute("INSERT INTO debezium_signal VALUES ('s-7', 'execute-snapshot', %s)",
                    (json.dumps({"data-collections": [f"{mariadb_db}.a"]}),))  # fmt: skip
        got = _poll_until(
            task,
            lambda out: any(r.topic == "notes" and r.value["type"] == "COMPLETED" for r in out),
            my.poll,
        )
    finally:
        task.stop()
        con.close()
    notes = [r.value for r in got if r.topic == "notes"]
    assert {v["id"] for v in notes} == {"s-7"}
    assert [v["type"] for v in notes] == ["STARTED", "IN_PROGRESS", "TABLE_SCAN_COMPLETED",
                                          "COMPLETED"]  # fmt: skip
    assert notes[2]["additional_data"]["total_rows_scanned"] == "3"


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"notification.enabled.channels": "sink"}, "set notification.sink.topic.name"),
        ({"notification.enabled.channels": "log,kafka"}, "unknown notification channel(s) kafka"),
    ],
)
def test_notification_properties_are_checked(given: dict[str, str], problem: str) -> None:
    from hub.config import ConnectorSpec
    from hub.errors import ConfigError
    from hub.runtime.validation import validate

    config = {"connector.class": "postgres", "database.hostname": "h", "database.user": "u",
              "database.dbname": "d", "topic.prefix": "app", **given}  # fmt: skip
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        validate(ConnectorSpec("src", config, "src.yaml"))


def test_the_jmx_channel_is_warned_of() -> None:
    from hub.config import ConnectorSpec
    from hub.runtime.validation import validate

    config = {"connector.class": "mysql", "database.hostname": "h", "database.user": "u",
              "topic.prefix": "app", "database.server.id": 5,
              "notification.enabled.channels": "jmx,log"}  # fmt: skip
    found = validate(ConnectorSpec("src", config, "src.yaml"))
    assert any("jmx" in w for w in found.warnings), found.warnings


def test_postgres_a_first_start_without_a_snapshot_keeps_skipped_until_it_has_a_position(
    pg_server: PgServer, pg_db: str, sql: Any
) -> None:
    # (its record had the empty offset {"lsn": null}: stored, the next start failed with the
    # slot "moved on" past 0/0)
    sql.execute("CREATE TABLE a (id int PRIMARY KEY)")
    cfg = pg.source_config(pg_server, pg_db, **SINK, **{"snapshot.mode": "no_data"})
    task = pg.start_task(cfg)
    try:
        got = _poll_until(task, lambda out: any(r.topic == "notes" for r in out),
                          lambda t: t.poll())  # fmt: skip
    finally:
        task.stop()
    skipped = [r for r in got if r.topic == "notes"]
    assert [r.value["type"] for r in skipped] == ["SKIPPED"]
    assert skipped[0].source_offset["lsn"] is not None
    again = pg.start_task(cfg, skipped[0].source_offset)  # (it resumes from there)
    again.stop()


def test_incremental_notifications_follow_the_signals_as_debeziums_do(
    pg_server: PgServer, pg_db: str, sql: Any
) -> None:
    # a signal joining a running snapshot starts none and names the rest; a pause or resume
    # that changes nothing sends nothing; the id is kept across a restart
    sql.execute("CREATE TABLE a (id int PRIMARY KEY)")
    sql.execute("CREATE TABLE b (id int PRIMARY KEY)")
    sql.execute("CREATE TABLE sig (id text PRIMARY KEY, type text NOT NULL, data text)")
    sql.execute("INSERT INTO a SELECT generate_series(1, 6)")
    sql.execute("INSERT INTO b SELECT generate_series(1, 2)")
    cfg = pg.source_config(pg_server, pg_db, **SINK, **{
        "snapshot.mode": "no_data", "signal.data.collection": "public.sig",
        "table.exclude.list": r"public\.sig", "incremental.snapshot.chunk.size": 2,
    })  # fmt: skip

    def signal(ident: str, kind: str, tables: list[str] | None = None) -> None:
        data = json.dumps({"data-collections": tables} if tables else {})
        sql.execute("INSERT INTO sig VALUES (%s, %s, %s)", (ident, kind, data))

    def notes(out: list[SourceRecord]) -> list[tuple[str, str]]:
        return [(r.value["id"], r.value["type"]) for r in out if r.topic == "notes"]

    task = pg.start_task(cfg)
    try:
        _poll_until(task, lambda out: "SKIPPED" in {k for _, k in notes(out)}, lambda t: t.poll())
        with sql.transaction():  # (one transaction: nothing is read in between)
            signal("p0", "resume-snapshot")  # (nothing paused: nothing to say)
            signal("s1", "execute-snapshot", ["public.a"])
            signal("p1", "pause-snapshot")
            signal("p2", "pause-snapshot")  # (paused already)
            signal("s2", "execute-snapshot", ["public.b"])
        got = _poll_until(task, lambda out: ("s2", "PAUSED") in notes(out) or
                          ("s1", "PAUSED") in notes(out), lambda t: t.poll())  # fmt: skip
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            got += [r for r in task.poll() if r.topic or r.source_offset]
        first = [r for r in got if r.topic == "notes"]
        offset = got[-1].source_offset
    finally:
        task.stop()
    assert notes(first)[:2] == [("s1", "STARTED"), ("s1", "IN_PROGRESS")]
    assert [k for _, k in notes(first)].count("PAUSED") == 1
    assert "RESUMED" not in [k for _, k in notes(first)]
    assert [k for i, k in notes(first) if i == "s2"] == []  # (paused: nothing since)
    task = pg.start_task(cfg, offset)  # a restart: the snapshot goes on under s2's id
    try:
        signal("r1", "resume-snapshot")
        got = _poll_until(task, lambda out: any(k == "COMPLETED" for _, k in notes(out)),
                          lambda t: t.poll())  # fmt: skip
    finally:
        task.stop()
    after = [n for n in notes(got) if n[1] != "SKIPPED"]  # (the initial snapshot's)
    assert after[0] == ("s2", "RESUMED") or after[0][1] == "IN_PROGRESS", after
    assert {i for i, _ in after} == {"s2"}, after
    assert after[-1] == ("s2", "COMPLETED")


def test_a_snapshot_stopped_before_its_end_is_aborted_in_the_log(
    pg_server: PgServer, pg_db: str, sql: Any, mariadb_server: MariaDBServer,
    mariadb_db: str, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # (Debezium's snapshot says ABORTED when its task stops; a stop or failure mid-snapshot
    # had said nothing after STARTED and IN_PROGRESS)
    sql.execute("CREATE TABLE a (id int PRIMARY KEY)")
    sql.execute("INSERT INTO a SELECT generate_series(1, 50)")
    with my.root(mariadb_server, mariadb_db).cursor() as cur:
        cur.execute("CREATE TABLE a (id int PRIMARY KEY)")
        cur.execute("INSERT INTO a SELECT seq FROM seq_1_to_50")
    caplog.set_level(logging.INFO, logger="connectors.source.cdc.notifications")
    small = {"notification.enabled.channels": "log", "snapshot.fetch.size": 5,
             "max.batch.size": 5}  # fmt: skip
    starts = [
        (lambda: pg.start_task(pg.source_config(pg_server, pg_db, **small)), lambda t: t.poll()),
        (lambda: my.start_task(my.source_config(mariadb_server, mariadb_db, **small)), my.poll),
    ]
    for start, poll in starts:
        caplog.clear()
        task = start()
        try:
            _poll_until(task, lambda out: len(out) >= 5, poll)  # (some rows: mid-snapshot)
        finally:
            task.stop()
        kinds = [line.split("type='")[1].split("'")[0] for line in caplog.messages
                 if "[Notification Service]" in line]  # fmt: skip
        assert kinds[0] == "STARTED" and kinds[-1] == "ABORTED", kinds
        assert "COMPLETED" not in kinds
    # a snapshot that ended says COMPLETED and no ABORTED at the stop
    caplog.clear()
    task = pg.start_task(pg.source_config(pg_server, pg_db, **small))
    try:
        _poll_until(task, lambda out: len(out) >= 50 and task.reader is None, lambda t: t.poll())
    finally:
        task.stop()
    assert "type='COMPLETED'" in caplog.text and "ABORTED" not in caplog.text
