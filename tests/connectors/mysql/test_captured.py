"""Tables new to a source's lists at a restart: their changes stream from the stored
position, the rows they held before are not read (as in Debezium); said, with how to copy
them, instead of missing from the sinks without a word (`connectors.source.cdc.captured`).
And database.initial.statements, run on the connections that read the database."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

import connectors.source.cdc.captured as captured
from hub.config import ConnectorSpec
from hub.runtime.worker import Worker
from tests.connectors.mysql.helpers import root, source_config
from tests.connectors.postgres.helpers import events
from tests.fixtures.mariadb import MariaDBServer
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

TOLD = "captured from now on"


def test_a_table_new_to_the_lists_at_a_restart_is_warned_of(
    mariadb_server: MariaDBServer, mariadb_db: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    con = root(mariadb_server, mariadb_db)
    db = mariadb_db
    with con.cursor() as cur:
        for t in ("a", "b"):
            cur.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
            cur.execute(f"INSERT INTO {t} VALUES (1), (2), (3)")
    monkeypatch.setattr(captured, "CHECK_S", 0.2)
    caplog.set_level(logging.WARNING)
    cfg = source_config(mariadb_server, db, **{"table.include.list": rf"{db}\.a"})

    def run(config: dict[str, Any], made: str | None = None) -> None:
        worker = Worker(str(tmp_path / "data"))
        worker.add(ConnectorSpec("my", config, "test"))
        topic = f"app.{db}.a"
        try:
            wait_for(lambda: len(events(worker.log, topic)) >= 3, what="a's rows")
            n = len(events(worker.log, topic))
            with con.cursor() as cur:
                cur.execute("INSERT INTO a VALUES (%s)", (100 + n,))  # streamed
            wait_for(lambda: len(events(worker.log, topic)) > n, what="a's change")
            if made is not None:
                with con.cursor() as cur:
                    cur.execute(f"CREATE TABLE {made} (id int PRIMARY KEY)")
                    cur.execute(f"INSERT INTO {made} VALUES (1)")
                wait_for(lambda: events(worker.log, f"app.{db}.{made}"), what=made)
                time.sleep(0.5)  # (a check of the tables after it: 0.2 s apart)
                with con.cursor() as cur:
                    cur.execute("INSERT INTO a VALUES (%s)", (500 + n,))
                wait_for(lambda: len(events(worker.log, topic)) > n + 1, what="a poll")
        finally:
            worker.stop()

    run(cfg)  # the first start: a snapshot, nothing new
    assert TOLD not in caplog.text
    wider = {**cfg, "table.include.list": rf"{db}\.(a|b|c\d*)"}
    run(wider, made="c1")
    lines = [r.getMessage() for r in caplog.records if TOLD in r.getMessage()]
    assert len(lines) == 1 and f"my: {db}.b captured from now on" in lines[0], lines
    assert "rows it held before are not read" in lines[0] and "execute-snapshot" in lines[0]
    caplog.clear()
    run(wider)  # b is known now; c1 was made while streaming
    assert TOLD not in caplog.text
    # a table made while the connector was stopped: the binlog holds its every row (the
    # schema history at the stored position has no such table), no warning
    with con.cursor() as cur:
        cur.execute("CREATE TABLE c2 (id int PRIMARY KEY)")
        cur.execute("INSERT INTO c2 VALUES (1), (2)")
    run(wider)
    assert TOLD not in caplog.text
    worker = Worker(str(tmp_path / "data"))  # (read only: the topic holds them both)
    try:
        assert len(events(worker.log, f"app.{db}.c2")) == 2
    finally:
        worker.stop()
    # a snapshot.mode that never reads rows: the user's choice, no warning
    with con.cursor() as cur:
        cur.execute("CREATE TABLE d (id int PRIMARY KEY)")
        cur.execute("INSERT INTO d VALUES (1)")
    run({**wider, "table.include.list": rf"{db}\.(a|b|c\d*|d)", "snapshot.mode": "no_data"})
    assert TOLD not in caplog.text


def test_database_initial_statements_run_on_the_reading_connections(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # Debezium's database.initial.statements (each connection but the binlog's): it had been
    # ignored
    from hub.errors import ConfigError
    from tests.connectors.mysql.helpers import poll_until, start_task

    con = root(mariadb_server, mariadb_db)
    with con.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("CREATE TABLE a (id int PRIMARY KEY, ts timestamp, c char(5))")
        cur.execute("INSERT INTO a VALUES (1, '2024-02-01 10:00:00', 'ab'), "
                    "(2, '2024-02-01 10:00:00', 'ab')")  # fmt: skip
    # (what the snapshot's values are read in is set again after them: a time_zone of
    # theirs shifted its TIMESTAMPs, PAD_CHAR_TO_FULL_LENGTH padded its CHARs)
    cfg = source_config(mariadb_server, mariadb_db, **{
        "database.initial.statements": f"SET @x = ';;';USE `{mariadb_db}`;SET time_zone = "
        "'+05:00';SET SESSION sql_mode = 'PAD_CHAR_TO_FULL_LENGTH'",
    })  # fmt: skip

    def sessions() -> dict[int, str | None]:
        with con.cursor() as cur:
            cur.execute("SELECT ID, DB FROM information_schema.PROCESSLIST WHERE USER = %s "
                        "AND COMMAND <> 'Binlog Dump'", (mariadb_server.user,))  # fmt: skip
            return {int(r[0]): r[1] for r in cur.fetchall()}

    before = sessions()  # (other tests' of this server)
    task = start_task(cfg)
    try:
        got = poll_until(task, 2)
        values = {(r.value["after"]["ts"], r.value["after"]["c"]) for r in got}
        assert values == {("2024-02-01T10:00:00Z", "ab")}, values
        dbs = {db for i, db in sessions().items() if i not in before}
        assert dbs == {mariadb_db}, dbs  # (none opened without it)
    finally:
        task.stop()
    bad = {**cfg, "database.initial.statements": "SET no_such_variable = 1"}
    with pytest.raises(ConfigError, match=r"database.initial.statements: .* refused "
                       r"'SET no_such_variable = 1': .*Unknown system variable"):  # fmt: skip
        start_task(bad)


def test_a_column_taken_out_of_the_exclude_list_is_warned_of_at_a_restart(
    mariadb_server: MariaDBServer, mariadb_db: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # (as for PostgreSQL: its values come as rows change, the sinks' rows keep it null)
    con = root(mariadb_server, mariadb_db)
    db = mariadb_db
    with con.cursor() as cur:
        cur.execute("CREATE TABLE a (id int PRIMARY KEY, v int, secret text)")
        cur.execute("INSERT INTO a VALUES (1, 1, 's'), (2, 2, 's'), (3, 3, 's')")
    caplog.set_level(logging.WARNING)
    cfg = source_config(mariadb_server, db, **{"column.exclude.list": rf"{db}\.a\.(id|secret)"})
    told = "captured from now on (column.include.list or column.exclude.list changed"
    topic = f"app.{db}.a"

    def run(config: dict[str, Any]) -> list[Any]:
        worker = Worker(str(tmp_path / "data"))
        worker.add(ConnectorSpec("my", config, "test"))
        try:
            wait_for(lambda: len(events(worker.log, topic)) >= 3, what="a's rows")
            n = len(events(worker.log, topic))
            with con.cursor() as cur:
                cur.execute("UPDATE a SET v = v + 1 WHERE id = 1")
            wait_for(lambda: len(events(worker.log, topic)) > n, what="a's change")
            return events(worker.log, topic)
        finally:
            worker.stop()

    assert "secret" not in run(cfg)[-1][1]["after"]
    assert told not in caplog.text
    got = run({**cfg, "column.exclude.list": ""})
    assert got[-1][1]["after"]["secret"] == "s"
    lines = [r.getMessage() for r in caplog.records if told in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith(f"my: column(s) {db}.a.secret captured"), lines
    caplog.clear()
    run({**cfg, "column.exclude.list": ""})  # (told once)
    assert told not in caplog.text


def test_a_renamed_connector_truncates_the_keyless_tables_its_topics_hold(
    mariadb_server: MariaDBServer, mariadb_db: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # (renamed, or its offsets reset: a new snapshot, and a keyless table's rows came again
    # after the first run's, twice in a sink; the keyed table's are upserts)
    con = root(mariadb_server, mariadb_db)
    db = mariadb_db
    with con.cursor() as cur:
        cur.execute("CREATE TABLE k (v int)")
        cur.execute("INSERT INTO k VALUES (1), (2)")
        cur.execute("CREATE TABLE z (id int PRIMARY KEY)")
        cur.execute("INSERT INTO z VALUES (1)")
    cfg = source_config(mariadb_server, db)

    def run(name: str, runs: int, k_records: int) -> list[Any]:
        worker = Worker(str(tmp_path / "data"))
        worker.add(ConnectorSpec(name, cfg, "test"))
        try:  # (the keyed table after the keyless one: its row ends the snapshot; the log
            # makes each topic durable on its own, so k's records are waited for too)
            def done() -> bool:
                z = len(events(worker.log, f"app.{db}.z"))
                return z == runs and len(events(worker.log, f"app.{db}.k")) >= k_records

            wait_for(done, what="a snapshot")
            return events(worker.log, f"app.{db}.k")
        finally:
            worker.stop()

    caplog.set_level(logging.WARNING)
    told = "hold records already"
    assert [v["op"] for _, v in run("my", 1, 2)] == ["r", "r"] and told not in caplog.text
    assert [v["op"] for _, v in run("my2", 2, 5)[2:]] == ["t", "r", "r"]
    lines = [r.getMessage() for r in caplog.records if told in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"my2: no stored position, but the topics of {db}.k (without")
