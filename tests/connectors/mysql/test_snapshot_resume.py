"""A MySQL/MariaDB snapshot killed part-way and resumed: what reaches the log, replayed the
way a sink applies it, must equal the source, for tables without a key too (a sink appends
their rows: a row read twice stays twice). As in the PostgreSQL source's tests, every record
of the first attempt is in the log, those after the stored offset too (the worst case)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from tests.connectors.mysql.helpers import poll, root, source_config, start_task
from tests.connectors.replay import Sink, changes
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


def _source(cur: Any, table: str) -> Counter[Any]:
    cur.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cur.description]
    return Counter(tuple(sorted(zip(names, row, strict=True))) for row in cur.fetchall())


def _first_attempt(cfg: dict[str, Any], polls: int, store_at: int) -> tuple[Any, list[Any]]:
    task = start_task(cfg)
    written: list[Any] = []
    stored: Any = None
    try:
        for n in range(polls):
            records = poll(task)
            written.extend(records)
            if n == store_at and records:
                stored = dict(records[-1].source_offset)
    finally:
        task.stop()  # (a kill: stopping stores nothing)
    assert stored is not None and stored.get("snapshot"), stored
    return stored, written


def _run_until(task: Any, written: list[Any], key: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not any(k == key and v is not None for _, k, v in changes(written)):
        assert time.monotonic() < deadline, "the restarted task never got there"
        written.extend(poll(task))


@pytest.mark.parametrize("threads", [1, 3])
def test_a_keyless_table_not_reached_before_the_kill_is_read_once(
    mariadb_server: MariaDBServer, mariadb_db: str, threads: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Also with snapshot.max.threads: connections reading tables side by side, each in
    the database snapshot the first took (all begun under the global read lock)."""
    caplog.set_level(logging.INFO, logger="connectors.source.mysql.snapshot")
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE a (id int PRIMARY KEY, v int)")
    cur.execute("INSERT INTO a SELECT seq, 0 FROM seq_1_to_2000")
    cur.execute("CREATE TABLE b (id int PRIMARY KEY)")
    cur.execute("INSERT INTO b SELECT seq FROM seq_1_to_300")
    cur.execute("CREATE TABLE h (x int, note varchar(20))")
    cur.execute("INSERT INTO h SELECT seq, 'old' FROM seq_1_to_100")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.fetch.size": 100, "max.batch.size": 100, "snapshot.max.threads": threads,
    })  # fmt: skip
    task = start_task(cfg)
    try:  # rows written once the snapshot began are not in it, whichever connection reads
        cur.execute("INSERT INTO b VALUES (1000)")
        cur.execute("INSERT INTO h VALUES (1000, 'late')")
        snapshot: list[Any] = []
        while not snapshot or snapshot[-1].value["source"]["snapshot"] != "last":
            snapshot += [r for r in poll(task) if r.topic]
        assert all(r.value["op"] == "r" for r in snapshot)
        tables = [r.topic.rsplit(".", 1)[1] for r in snapshot]
        assert tables == ["a"] * 2000 + ["b"] * 300 + ["h"] * 100  # in table order
    finally:
        task.stop()
    side_by_side = "3 connections read tables side by side" in caplog.text
    assert side_by_side == (threads == 3)
    stored, written = _first_attempt(cfg, polls=6, store_at=3)
    cur.execute("INSERT INTO h SELECT seq, 'new' FROM seq_101_to_150")
    cur.execute("DELETE FROM h WHERE x <= 10")
    cur.execute("UPDATE h SET note = 'changed' WHERE x BETWEEN 11 AND 15")
    cur.execute("UPDATE a SET v = 1 WHERE id <= 500")
    cur.execute("DELETE FROM a WHERE id BETWEEN 501 AND 520")  # rows the first attempt read
    task = start_task(cfg, stored)
    try:
        cur.execute("INSERT INTO a VALUES (-1, -1)")  # after everything: the end
        _run_until(task, written, {"id": -1})
    finally:
        task.stop()
    sink = Sink()
    sink.apply(changes(written))
    assert sink.keyless["h"] == _source(cur, "h")
    cur.execute("SELECT id, v FROM a")
    want = {orjson.dumps({"id": i}): {"id": i, "v": v} for i, v in cur.fetchall()}
    assert sink.keyed["a"] == want


def test_a_keyless_table_read_part_way_before_the_kill_ends_equal(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE h (x int, note varchar(20))")
    cur.execute("INSERT INTO h SELECT seq, 'old' FROM seq_1_to_3000")
    cur.execute("CREATE TABLE z (id int PRIMARY KEY)")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.fetch.size": 200,
                                                        "max.batch.size": 200})  # fmt: skip
    stored, written = _first_attempt(cfg, polls=6, store_at=3)
    assert stored["table"] == f"{mariadb_db}.h", stored
    cur.execute("DELETE FROM h WHERE x <= 100 OR x % 7 = 0")
    cur.execute("UPDATE h SET note = 'changed' WHERE x BETWEEN 200 AND 260")
    cur.execute("INSERT INTO h SELECT seq, 'new' FROM seq_3001_to_3100")
    task = start_task(cfg, stored)
    try:
        cur.execute("INSERT INTO z VALUES (1)")  # after everything: the end
        _run_until(task, written, {"id": 1})
    finally:
        task.stop()
    sink = Sink()
    sink.apply(changes(written))
    assert sink.keyless["h"] == _source(cur, "h")


@pytest.mark.parametrize("change", ["key added", "key changed"])
def test_a_table_whose_key_changed_before_the_resume_is_read_again_from_its_start(
    mariadb_server: MariaDBServer, mariadb_db: str, change: str
) -> None:
    """The kill lands inside a table whose primary key is added (or made another column's)
    before the resume: the position stored is of no key (a keyless table's rows had come
    twice: the resume read it from its start without a truncate event, the table keyed now)
    or of the old key's values (code > '01200' had skipped the rows before), so the table is
    read again from its start; after a truncate event when it had no key."""
    cur = root(mariadb_server, mariadb_db).cursor()
    key = "" if change == "key added" else " PRIMARY KEY"
    cur.execute(f"CREATE TABLE k (id int{key}, code varchar(8) NOT NULL, note text)")
    cur.execute("INSERT INTO k SELECT seq, LPAD(3001 - seq, 5, '0'), 'old' FROM seq_1_to_3000")
    cur.execute("CREATE TABLE z (id int PRIMARY KEY)")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.fetch.size": 200,
                                                        "max.batch.size": 200})  # fmt: skip
    stored, written = _first_attempt(cfg, polls=6, store_at=3)
    assert stored["table"] == f"{mariadb_db}.k", stored
    assert stored["by"] == ([] if change == "key added" else ["id"]), stored
    drop = "" if change == "key added" else "DROP PRIMARY KEY, "
    cur.execute(f"ALTER TABLE k {drop}ADD PRIMARY KEY (code)")
    task = start_task(cfg, stored)
    try:
        cur.execute("INSERT INTO z VALUES (-1)")  # after everything: the end
        _run_until(task, written, {"id": -1})
    finally:
        task.stop()
    sink = Sink()
    sink.apply(changes(written))
    assert +sink.keyless.get("k", Counter()) == Counter()
    got = {v["code"] for k, v in sink.keyed["k"].items() if "code" in orjson.loads(k)}
    cur.execute("SELECT code FROM k")
    assert got == {r[0] for r in cur.fetchall()}


def test_a_failed_start_leaves_no_snapshot_connection_open(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    """snapshot.max.threads opens its connections before the snapshot begins; a start that
    fails after that (two tables for one topic) closes them all, as the runtime's stop does
    (each would hold a read view open, keeping InnoDB from purging)."""
    from connectors.source.cdc.topics import TopicCollisionError
    from connectors.source.mysql import MariaDbSourceTask
    from tests.connectors.mysql.helpers import context

    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE `t$x` (id int PRIMARY KEY)")
    cur.execute("CREATE TABLE t_x (id int PRIMARY KEY)")

    def connections() -> int:
        cur.execute("SELECT count(*) FROM information_schema.PROCESSLIST")
        return int(cur.fetchone()[0])

    before = connections()
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.max.threads": 3})
    task = MariaDbSourceTask()
    with pytest.raises(TopicCollisionError):
        task.start(cfg, context(cfg, {}))
    task.stop()
    deadline = time.monotonic() + 5
    while connections() != before:
        assert time.monotonic() < deadline, f"{connections()} connections, {before} before"
        time.sleep(0.1)


def test_a_resumed_snapshots_progress_counts_the_rows_read_before(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (only the rows read since the resume counted, against the whole table's estimate: the
    # console and the live view said 19 % at 98 %, with an ETA as wrong)
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE big (id int PRIMARY KEY, v int)")
    cur.execute("INSERT INTO big SELECT seq, 0 FROM seq_1_to_20000")
    cur.execute("ANALYZE TABLE big")
    cur.fetchall()
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.fetch.size": 500, "max.batch.size": 500})  # fmt: skip
    stored, _ = _first_attempt(cfg, polls=12, store_at=10)
    task = start_task(cfg, stored)
    try:
        metrics = task.metrics()
    finally:
        task.stop()
    after = orjson.loads(stored["after"]) if isinstance(stored["after"], str) else stored["after"]
    cur.execute("SELECT count(*) FROM big WHERE id <= %s", (int(after[0]),))
    (read,) = cur.fetchone()
    estimated = metrics[f"snapshot_rows_estimated:{mariadb_db}.big"]
    done = metrics[f"snapshot_rows_done:{mariadb_db}.big"]
    assert read >= 2000 and done == read, (done, read, estimated)  # (the offset counts them)
    assert metrics["op_events:r"] == 0  # (no event of this run's yet: no rate spike)


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "keyless"])
@pytest.mark.parametrize("values", [False, True], ids=["packed", "values"])
def test_big_rows_make_chunks_of_about_the_byte_bound(
    mariadb_server: MariaDBServer, mariadb_db: str, monkeypatch: Any, values: bool,
    keyed: bool,
) -> None:  # fmt: skip
    # (snapshot.fetch.size rows alone: 10 240 rows of 500 KB would be a 5 GB chunk)
    from connectors.source.mysql import snapshot

    monkeypatch.setattr(snapshot, "CHUNK_MAX_BYTES", 1_000_000)
    monkeypatch.setattr(snapshot, "FIRST_CHUNK_ROWS", 8)
    limits: list[int] = []
    chunk_after = snapshot.chunk_after

    def noted(con: Any, t: Any, key: Any, after: Any, limit: int, *a: Any, **kw: Any) -> Any:
        limits.append(limit)
        return chunk_after(con, t, key, after, limit, *a, **kw)

    monkeypatch.setattr(snapshot, "chunk_after", noted)
    sizes: list[int] = []
    table_chunks = snapshot._table_chunks

    def counted(*a: Any, **kw: Any) -> Any:
        for chunk in table_chunks(*a, **kw):
            sizes.append(len(chunk.rows))
            yield chunk

    monkeypatch.setattr(snapshot, "_table_chunks", counted)
    from hub.runtime.api import EncodedBatch

    with root(mariadb_server, mariadb_db).cursor() as cur:
        key = "PRIMARY KEY" if keyed else ""
        cur.execute(f"CREATE TABLE big (id int {key}, v longtext)")
        cur.execute("INSERT INTO big SELECT seq, REPEAT(MD5(seq), 6250) FROM seq_1_to_60")
    from connectors.source.mysql import MariaDbSourceTask
    from tests.connectors.mysql.helpers import context

    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "initial_only"})
    task = MariaDbSourceTask()  # (encoded: the server's text packed at once; else values)
    task.start(cfg, context(cfg, {}, json_encoding=None if values else (True, True)))
    ids: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while len(ids) < 60 and time.monotonic() < deadline:
            for r in poll(task):
                if isinstance(r, EncodedBatch):
                    values = r.packed.lists()[1] if r.packed is not None else r.values
                    ids += [orjson.loads(v)["payload"]["after"]["id"] for v in values]
                elif r.topic and r.value is not None:
                    doc = r.value if isinstance(r.value, dict) else orjson.loads(r.value)
                    doc = doc.get("payload", doc)
                    if doc["op"] != "t":  # (a keyless table's truncate, first)
                        ids.append(doc["after"]["id"])
    finally:
        task.stop()
    assert ids == list(range(1, 61))
    # (200 KB rows: 5 in 1 MB; keyed, the LIMIT sized by the rows before; keyless, the
    # result cut as it comes, past the bound by at most a read of 1 MiB)
    assert len(sizes) >= 5 and max(sizes[1:]) <= 11, sizes
    if keyed:
        assert limits[0] == 8 and max(limits[1:]) <= 6, limits
