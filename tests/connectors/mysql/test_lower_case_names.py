"""A MariaDB started with lower_case_table_names=1 (as on Windows and macOS, and some Linux
setups): tables are stored and logged in lower case, a config may name them otherwise."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from hub.demo.mariadb import start_server, stop_server
from tests.connectors.mysql.helpers import poll, poll_for, source_config, start_task

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lower_case_server() -> Iterator[Any]:
    base = Path(tempfile.mkdtemp(prefix="hub-mariadb-lc-"))
    server = start_server(base, lower_case_table_names="1")
    try:
        yield server
    finally:
        stop_server(server)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("configured", ["sig", "Sig"])
def test_a_signal_table_named_in_another_case_takes_signals(
    lower_case_server: Any, configured: str
) -> None:
    # (a review's: the REST signal was written, the stream, comparing the binlog's lower-case
    # name with the config's exactly, never saw it: no snapshot, no word)
    from connectors.source.mysql.config import MySqlSourceConfig
    from connectors.source.mysql.connector import MariaDbConnector

    db = f"test_{uuid.uuid4().hex[:12]}"
    lower_case_server.client(sql=f"CREATE DATABASE `{db}`")
    con = pymysql.connect(unix_socket=str(lower_case_server.socket), user="root", database=db,
                          autocommit=True)  # fmt: skip
    cur = con.cursor()
    cur.execute("CREATE TABLE Sig (a varchar(64) PRIMARY KEY, b varchar(32), c text)")
    cur.execute(f"GRANT INSERT ON `{db}`.sig TO '{lower_case_server.user}'@'%'")
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(10))")
    cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    cfg = source_config(lower_case_server, db, **{
        "snapshot.mode": "no_data", "signal.data.collection": f"{db}.{configured}",
        "table.include.list": rf"{db}\.t"})  # fmt: skip
    task = start_task(cfg)
    try:
        poll_for(task, 0.5)
        MariaDbConnector.signal(MySqlSourceConfig.of(cfg), "execute-snapshot",
                                {"data-collections": [f"{db}.t"]})  # fmt: skip
        reads: list[Any] = []
        deadline = time.monotonic() + 20  # (a loaded machine: until the three rows come)
        while len(reads) < 3 and time.monotonic() < deadline:
            reads += [r.key["id"] for r in poll(task) if r.topic == f"app.{db}.t" and r.value]
    finally:
        task.stop()
        con.close()
    assert reads == [1, 2, 3]
