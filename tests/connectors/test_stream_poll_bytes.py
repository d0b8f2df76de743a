"""A streaming poll of big rows ends at a byte bound (`connectors.source.cdc.bounds`), not
only at ``max.batch.size`` records: 2 000 rows of 500 KB in transactions of 100 had held 1 GB
of events a poll (644 MB of RSS). Every row still comes once, in order, across the polls a
transaction is cut into."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest

from connectors.source.cdc import bounds
from hub.runtime.api import EncodedBatch
from tests.connectors.mysql import helpers as my
from tests.connectors.postgres import helpers as pg
from tests.fixtures.mariadb import MariaDBServer
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration

ROW = 19_200  # bytes of a row's text (md5 repeated 600 times)
BOUND = 100_000


def _ids(records: list[Any], topic: str) -> list[int]:
    """The ids of ``topic``'s created rows, the records' order kept."""
    out: list[int] = []
    for r in records:
        if isinstance(r, EncodedBatch):
            values = r.packed.lists()[1] if r.packed is not None else r.values
            out += [json.loads(v)["payload"]["after"]["id"] for v in values if v is not None]
        elif r.topic == topic and r.value is not None:
            v = r.value if isinstance(r.value, dict) else json.loads(r.value)
            out.append(v.get("payload", v)["after"]["id"])
    return out


def _polls(poll: Any, topic: str, want: int) -> list[list[int]]:
    """Each poll's ids until ``want`` rows came (the polls without any left out)."""
    polls: list[list[int]] = []
    got = 0
    deadline = time.monotonic() + 30
    while got < want:
        assert time.monotonic() < deadline, f"{got} of {want} rows: {polls}"
        if ids := _ids(poll(), topic):
            polls.append(ids)
            got += len(ids)
    return polls


@pytest.mark.parametrize("encoded", [False, True], ids=["values", "encoded"])
def test_a_postgres_poll_of_big_rows_ends_at_the_byte_bound(
    pg_server: PgServer, pg_db: str, monkeypatch: pytest.MonkeyPatch, encoded: bool
) -> None:
    monkeypatch.setattr(bounds, "POLL_MAX_BYTES", BOUND)
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE big (id int PRIMARY KEY, v text)")
        sql.execute("ALTER TABLE big ALTER COLUMN v SET STORAGE EXTERNAL")  # (no compression)
        cfg = pg.source_config(pg_server, pg_db, **{"snapshot.mode": "no_data"})
        task = pg.start_task(cfg, None, json_encoding=(True, True) if encoded else None)
        try:
            pg.wait_for(lambda: (task.poll(), task.stream)[1] is not None, what="the stream")
            with sql.transaction():  # one transaction of 60 rows, then 6 of 10
                sql.execute("INSERT INTO big SELECT g, repeat(md5(g::text), 600) "
                            "FROM generate_series(1, 60) g")  # fmt: skip
            for n in range(61, 121, 10):
                sql.execute("INSERT INTO big SELECT g, repeat(md5(g::text), 600) "
                            "FROM generate_series(%s::int, %s::int) g", (n, n + 9))  # fmt: skip
            polls = _polls(task.poll, "app.public.big", 120)
        finally:
            task.stop()
    assert [i for ids in polls for i in ids] == list(range(1, 121))  # each once, in order
    # (a read past the bound takes what libpq holds: a few rows more at most)
    assert max(map(len, polls)) <= BOUND // ROW + 6, [len(p) for p in polls]


def test_a_mariadb_poll_of_big_rows_ends_at_the_byte_bound(
    mariadb_server: MariaDBServer, mariadb_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bounds, "POLL_MAX_BYTES", BOUND)
    cur = my.root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE big (id int PRIMARY KEY, v mediumtext)")
    cfg = my.source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"})
    task = my.start_task(cfg)
    try:
        my.poll_for(task, 0.3)
        cur.execute("BEGIN")  # one transaction of 60 rows, then 6 of 10
        for i in range(1, 61):
            cur.execute("INSERT INTO big VALUES (%s, REPEAT(MD5(%s), 600))", (i, i))
        cur.execute("COMMIT")
        for n in range(6):
            cur.execute("INSERT INTO big SELECT seq, REPEAT(MD5(seq), 600) FROM "
                        f"seq_{61 + 10 * n}_to_{70 + 10 * n}")  # fmt: skip
        polls = _polls(lambda: my.poll(task), f"app.{mariadb_db}.big", 120)
    finally:
        task.stop()
    assert [i for ids in polls for i in ids] == list(range(1, 121))
    assert max(map(len, polls)) <= BOUND // ROW + 2, [len(p) for p in polls]
