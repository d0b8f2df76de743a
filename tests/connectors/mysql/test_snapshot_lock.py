"""The snapshot's global read lock waits at most ``snapshot.lock.timeout.ms`` (Debezium's,
10 s by default): while FLUSH TABLES WITH READ LOCK waits for a statement writing to a table,
every other write waits behind it, and the server's own limit is a day."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from connectors.source.mysql.server import ServerSetupError
from tests.connectors.mysql.helpers import poll_until, root, source_config, start_task
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration

LONG_S = 5  # how long the writing statement runs


def _long_update(server: MariaDBServer, db: str) -> threading.Thread:
    def run() -> None:
        con = root(server, db)
        try:
            con.cursor().execute(f"UPDATE t SET v = v + 1 WHERE SLEEP({LONG_S}) = 0")
        finally:
            con.close()

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.5)  # (it runs)
    return th


def _write_later(server: MariaDBServer, db: str, waited: list[float]) -> threading.Thread:
    def run() -> None:
        time.sleep(0.3)  # (the snapshot's lock is being waited for by then)
        con = root(server, db)
        try:
            t0 = time.monotonic()
            con.cursor().execute("INSERT INTO other VALUES (1)")
            waited.append(time.monotonic() - t0)
        finally:
            con.close()

    th = threading.Thread(target=run)
    th.start()
    return th


@pytest.fixture
def tables(mariadb_server: MariaDBServer, mariadb_db: str) -> Any:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    cur.execute("CREATE TABLE other (id int PRIMARY KEY)")
    cur.execute("INSERT INTO t VALUES (1, 0), (2, 0)")
    yield cur
    con.close()


def test_the_lock_is_not_waited_for_past_the_timeout_and_mariadb_goes_on_without_it(
    mariadb_server: MariaDBServer, mariadb_db: str, tables: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    update = _long_update(mariadb_server, mariadb_db)
    waited: list[float] = []
    writer = _write_later(mariadb_server, mariadb_db, waited)
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING):
        task = start_task(source_config(mariadb_server, mariadb_db,
                                        **{"snapshot.lock.timeout.ms": 1000}))  # fmt: skip
    try:
        started = time.monotonic() - t0
        writer.join(LONG_S + 5)
        update.join(LONG_S + 5)
        records = poll_until(task, 2)
    finally:
        task.stop()
    assert started < LONG_S / 2, started  # (it waited for the whole statement before)
    assert waited and waited[0] < LONG_S / 2, waited  # (a write waited behind the lock)
    assert "no global read lock within snapshot.lock.timeout.ms (1000 ms" in caplog.text
    assert sorted(r.key["id"] for r in records if r.topic.endswith(".t")) == [1, 2]


def test_extended_locking_fails_the_start_with_what_to_do(
    mariadb_server: MariaDBServer, mariadb_db: str, tables: Any
) -> None:
    update = _long_update(mariadb_server, mariadb_db)
    try:
        with pytest.raises(ServerSetupError, match=r"snapshot\.lock\.timeout\.ms \(1000 ms\)"):
            start_task(
                source_config(
                    mariadb_server,
                    mariadb_db,
                    **{"snapshot.lock.timeout.ms": 1000, "snapshot.locking.mode": "extended"},
                )
            )
    finally:
        update.join(LONG_S + 5)
