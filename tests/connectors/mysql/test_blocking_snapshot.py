"""Blocking snapshots (``execute-snapshot`` of type ``blocking``) on MySQL/MariaDB: the
stream stops at the end of the signal's transaction, the tables are read as an initial
snapshot reads them, then streaming goes on from there, however often the task restarts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hub.runtime.api import SourceRecord
from tests.connectors.mysql.helpers import (
    poll_until,
    restart_after_every_poll,
    root,
    source_config,
    start_position,
    start_task,
)
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


@pytest.fixture
def cur(mariadb_server: MariaDBServer, mariadb_db: str) -> Iterator[Any]:
    con = root(mariadb_server, mariadb_db)
    c = con.cursor()
    c.execute("CREATE TABLE sig (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, "
              "data text)")  # fmt: skip
    c.execute("CREATE TABLE a (id int PRIMARY KEY, v varchar(8))")
    c.execute("CREATE TABLE b (v varchar(8))")  # no key: read whole, after a truncate event
    c.execute("CREATE TABLE c (id int PRIMARY KEY)")
    c.execute("INSERT INTO a VALUES " + ",".join(f"({i}, 'x')" for i in range(1, 31)))
    c.execute("INSERT INTO b VALUES ('x'), ('y')")
    c.execute("INSERT INTO c VALUES (1)")
    yield c
    con.close()


def _config(server: MariaDBServer, db: str) -> dict[str, Any]:
    return source_config(server, db, **{
        "snapshot.mode": "no_data", "signal.data.collection": f"{db}.sig",
        "table.exclude.list": rf"{db}\.sig", "snapshot.fetch.size": 10, "max.batch.size": 10,
    })  # fmt: skip


def _blocking(cur: Any, db: str, *tables: str) -> str:
    data = {"type": "blocking", "data-collections": [f"{db}.{t}" for t in tables]}
    return f"INSERT INTO sig VALUES ('b1', 'execute-snapshot', '{json.dumps(data)}')"


def _of(records: list[SourceRecord], table: str) -> list[SourceRecord]:
    return [r for r in records if r.topic.endswith(f".{table}")]


def test_a_blocking_snapshot_reads_the_tables_then_streams_on(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any
) -> None:
    cfg = _config(mariadb_server, mariadb_db)
    task = start_task(cfg)
    try:
        poll_until(task, 0)
        cur.execute("INSERT INTO a VALUES (31, 'x')")
        cur.execute("START TRANSACTION")
        cur.execute("INSERT INTO a VALUES (32, 'x')")
        cur.execute(_blocking(cur, mariadb_db, "a", "b"))
        cur.execute("COMMIT")
        cur.execute("UPDATE a SET v = 'late' WHERE id = 1")
        got = poll_until(task, 2 + 32 + 3 + 1)
    finally:
        task.stop()
    a = _of(got, "a")
    assert [(r.value["op"], r.key["id"]) for r in a[:2]] == [("c", 31), ("c", 32)]
    reads = a[2:-1]
    assert [r.key["id"] for r in reads] == list(range(1, 33))  # once each, in key order
    assert {r.value["source"]["snapshot"] for r in reads[1:-1]} == {"true"}
    assert reads[-1].value["source"]["snapshot"] == "last_in_data_collection"
    assert (a[-1].value["op"], a[-1].value["after"]) == ("u", {"id": 1, "v": "late"})
    assert [(r.value["op"], r.value["after"]) for r in _of(got, "b")] == [
        ("t", None), ("r", {"v": "x"}), ("r", {"v": "y"}),
    ]  # fmt: skip
    assert _of(got, "b")[-1].value["source"]["snapshot"] == "last"
    assert not _of(got, "c")  # not asked for


def test_a_blocking_snapshot_survives_a_restart_after_every_poll(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any
) -> None:
    cfg = _config(mariadb_server, mariadb_db)
    offset = start_position(cfg)
    cur.execute("START TRANSACTION")
    cur.execute("INSERT INTO a VALUES (31, 'x')")
    cur.execute(_blocking(cur, mariadb_db, "a", "b"))
    cur.execute("UPDATE a SET v = 'y' WHERE id = 2")  # (after the signal, in its transaction)
    cur.execute("COMMIT")
    cur.execute("UPDATE a SET v = 'late' WHERE id = 1")

    def done(seen: list[SourceRecord]) -> bool:
        return any(
            r.value and r.value["op"] == "u" and r.value["after"] == {"id": 1, "v": "late"}
            for r in seen
        )

    seen = restart_after_every_poll(cfg, offset, done)
    a, b = _of(seen, "a"), _of(seen, "b")
    assert [(r.value["op"], r.key["id"]) for r in a[:2]] == [("c", 31), ("u", 2)]
    reads = sorted({r.key["id"] for r in a if r.value["op"] == "r"})
    assert reads == list(range(1, 32))
    state: dict[int, Any] = {}
    for r in a:
        state[r.key["id"]] = r.value["after"]["v"]
    assert state == {**{i: "x" for i in range(1, 32)}, 1: "late", 2: "y"}
    rows: list[str] = []  # the keyless table: a truncate before each whole read
    for r in b:
        if r.value["op"] == "t":
            rows.clear()
        else:
            rows.append(r.value["after"]["v"])
    assert b[0].value["op"] == "t" and rows == ["x", "y"]


def test_snapshot_include_collection_list_snapshots_those_tables_only(
    mariadb_server: MariaDBServer, mariadb_db: str, cur: Any
) -> None:
    # (it was refused: Debezium's initial snapshot reads only the captured tables it lists;
    # the others are streamed, and their definitions still start the schema history)
    cfg = source_config(mariadb_server, mariadb_db, **{
        "table.exclude.list": rf"{mariadb_db}\.sig",
        "snapshot.include.collection.list": rf"{mariadb_db.upper()}\.B"})  # fmt: skip
    task = start_task(cfg)
    try:
        first = poll_until(task, 2)
        cur.execute("INSERT INTO a VALUES (99, 'new')")
        rest = poll_until(task, 1)
    finally:
        task.stop()
    got = [(r.topic.split(".")[-1], r.value["op"]) for r in first + rest]
    assert got == [("b", "r"), ("b", "r"), ("a", "c")]
