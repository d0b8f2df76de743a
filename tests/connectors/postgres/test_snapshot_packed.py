"""The snapshot's packed path driven by hand (JSON encoding): every row once and in order,
offsets that resume right after their row, declined rows among packed runs, a statement_timeout
longer than nothing but shorter than the table, and batches within max.message.bytes without
compression (found by review; each failed on the first version of the path)."""

from __future__ import annotations

import json
import time
from array import array
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.source.postgres import PostgresSourceTask, copyout, encoded
from connectors.source.postgres.snapshot import parse_copy_text
from hub.log import Log
from hub.runtime.api import EncodedBatch
from tests.connectors.postgres.helpers import failure, source_config, start_task, wait_for
from tests.connectors.postgres.helpers import start as start_worker
from tests.connectors.replay import changes
from tests.fixtures.postgres import PgServer


@pytest.fixture
def sql(pg_server: PgServer, pg_db: str) -> Any:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        yield conn


def start(cfg: dict[str, Any], offset: dict[str, Any] | None = None) -> PostgresSourceTask:
    task: PostgresSourceTask = start_task(cfg, offset, json_encoding=(True, True))
    return task


def read_all(task: PostgresSourceTask) -> list[tuple[Any, dict[str, Any], str]]:
    """`expand` of every poll until the snapshot ends; the task stopped after."""
    got: list[Any] = []
    try:
        while task.reader is not None:
            got += expand(task.poll())
    finally:
        task.stop()
    return got


def expand(recs: list[Any]) -> list[tuple[Any, dict[str, Any], str]]:
    """(key id, offset after the record (batches: only on their last), snapshot marker)."""
    out = []
    for r in recs:
        if isinstance(r, EncodedBatch):
            keys, values = r.packed.lists() if r.packed is not None else (r.keys, r.values)
            for i, (k, v) in enumerate(zip(keys, values, strict=True)):
                p = json.loads(v)["payload"]
                out.append(
                    (
                        json.loads(k)["payload"]["id"],
                        r.source_offset if i == len(values) - 1 else None,
                        p["source"]["snapshot"],
                    )
                )
        elif r.topic:
            v = r.value if isinstance(r.value, dict) else json.loads(r.value)["payload"]
            out.append(
                (
                    json.loads(r.key)["payload"]["id"] if r.encoded else r.key["id"],
                    r.source_offset,
                    v["source"]["snapshot"],
                )
            )
    return out


@pytest.mark.parametrize("streamed", [True, False])
def test_statement_timeout_over_a_slowly_consumed_table(
    pg_server: PgServer, pg_db: str, sql: Any, streamed: bool, monkeypatch: Any
) -> None:
    """A role/database statement_timeout now bounds the time the task takes for a whole table
    (one streamed COPY), not one chunk's COPY."""
    if not streamed:
        monkeypatch.setattr(copyout.CopyOut, "available", classmethod(lambda cls, c: None))
    sql.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    sql.execute("INSERT INTO t SELECT g, repeat('x', 400) FROM generate_series(1, 60000) g")
    sql.execute(f"ALTER DATABASE {pg_db} SET statement_timeout = '1s'")
    cfg = source_config(
        pg_server,
        pg_db,
        **{"snapshot.mode": "initial_only", "max.batch.size": 2000, "snapshot.fetch.size": 2000},
    )
    task = start(cfg)
    n = 0
    try:
        while task.reader is not None:
            n += len(expand(task.poll()))
            time.sleep(0.1)  # a slow log: ~3 s for the table, three times the timeout
    finally:
        task.stop()
    assert n == 60000


def test_idle_in_transaction_timeout_over_a_connection_waiting_its_turn(
    pg_server: PgServer, pg_db: str, sql: Any
) -> None:
    """With snapshot.max.threads, a connection that has read its chunks ahead waits, idle in
    its transaction, while the task takes another table's rows: a role's or database's
    idle_in_transaction_session_timeout (a review's 3 s) had ended it, failing the task."""
    for t in ("a", "b"):  # (keyless: chunks of page ranges, a query each, idle between)
        sql.execute(f"CREATE TABLE {t} (id int, v text)")
        sql.execute(f"ALTER TABLE {t} REPLICA IDENTITY FULL")
        sql.execute(f"INSERT INTO {t} SELECT g, repeat('x', 400) FROM generate_series(1, 30000) g")
    sql.execute(f"ALTER DATABASE {pg_db} SET idle_in_transaction_session_timeout = '1s'")
    cfg = source_config(pg_server, pg_db, **{
        "snapshot.mode": "initial_only", "max.batch.size": 2000, "snapshot.fetch.size": 2000,
        "snapshot.max.threads": 2,
    })  # fmt: skip
    task = start(cfg)
    n = 0
    try:
        while task.reader is not None:
            n += sum(1 for _, _, v in changes(task.poll()) if v and v["op"] == "r")
            time.sleep(0.1)  # a slow log: ~3 s for the first table, b's reader waiting
    finally:
        task.stop()
    assert n == 60000


def _declining(monkeypatch: Any, every: int) -> None:
    """The codec declines rows whose id % every == 0 (as it does a value orjson refuses)."""
    orig = encoded.SnapshotRows.copy_packed

    def copy_packed(self: Any, data: bytes) -> Any:
        vals, vends, keys, kends, lends, declined = orig(self, data)
        rows = parse_copy_text(data)
        ve, ke = array("q", vends), array("q", kends)
        nv, nk, nve, nke = bytearray(), bytearray(), array("q"), array("q")
        declined = dict(declined)
        for i, row in enumerate(rows):
            lo, klo = (ve[i - 1], ke[i - 1]) if i else (0, 0)
            if int(row[0]) % every == 0:
                declined[i] = row
            elif i not in declined:
                nv += vals[lo : ve[i]]
                nk += keys[klo : ke[i]]
            nve.append(len(nv))
            nke.append(len(nk))
        return (bytes(nv), nve.tobytes(), bytes(nk), nke.tobytes(), lends, sorted(declined.items()))

    monkeypatch.setattr(encoded.SnapshotRows, "copy_packed", copy_packed)


@pytest.mark.parametrize("streamed", [True, False])
def test_every_row_once_in_order_and_offsets_resume_right_after(
    pg_server: PgServer, pg_db: str, sql: Any, streamed: bool, monkeypatch: Any
) -> None:
    if not streamed:
        monkeypatch.setattr(copyout.CopyOut, "available", classmethod(lambda cls, c: None))
    _declining(monkeypatch, 37)
    sql.execute("CREATE TABLE a (id int PRIMARY KEY, v text)")
    sql.execute("CREATE TABLE b (id int PRIMARY KEY, v text)")
    sql.execute("INSERT INTO a SELECT g, 'x' || g FROM generate_series(1, 1000) g")
    sql.execute("INSERT INTO b SELECT g, 'y' || g FROM generate_series(1, 333) g")
    cfg = source_config(
        pg_server,
        pg_db,
        **{"snapshot.mode": "initial_only", "max.batch.size": 77, "snapshot.fetch.size": 100},
    )
    task = start(cfg)
    got = read_all(task)
    ids = [g[0] for g in got]
    assert ids == list(range(1, 1001)) + list(range(1, 334))
    markers = [(i, g[0], g[2]) for i, g in enumerate(got) if g[2] != "true"]
    assert markers[0][2] == "first" and markers[-1][2] == "last", markers
    # every offset names its own row; restarting from it continues with the next row
    for i in (5, 76, 99, 100, 150, 199, 998, 999, 1000, 1100, 1331):
        off = got[i][1]
        if off is None:
            continue
        assert off["after"] == [str(got[i][0])], (i, off)
        t2 = start(cfg, dict(off))
        try:
            nxt = []
            while not nxt and t2.reader is not None:
                nxt = expand(t2.poll())
            assert nxt[0][0] == got[i + 1][0], (i, nxt[:2])
        finally:
            t2.stop()


def test_big_rows_make_chunks_of_at_most_the_byte_bound(
    pg_server: PgServer, pg_db: str, sql: Any, monkeypatch: Any
) -> None:
    # (snapshot.fetch.size rows alone: 500 KB rows made 5 GB chunks, a 1.4 GB table's
    # snapshot took 5.9 GB)
    from connectors.source.postgres import snapshot

    monkeypatch.setattr(snapshot, "CHUNK_MAX_BYTES", 100_000)
    sizes: list[int] = []
    rows = copyout.CopyOut.rows

    def noted(self: Any, conn: Any, max_rows: int, max_bytes: int = 0) -> Any:
        text, done = rows(self, conn, max_rows, max_bytes)
        sizes.append(len(text))
        return text, done

    monkeypatch.setattr(copyout.CopyOut, "rows", noted)
    sql.execute("CREATE TABLE big (id int PRIMARY KEY, v text)")
    sql.execute("ALTER TABLE big ALTER COLUMN v SET STORAGE EXTERNAL")  # (no compression)
    sql.execute("INSERT INTO big SELECT g, repeat(md5(g::text), 600) FROM "
                "generate_series(1, 60) g")  # fmt: skip
    cfg = source_config(pg_server, pg_db, **{"snapshot.mode": "initial_only"})
    task = start(cfg)
    got = read_all(task)
    assert [g[0] for g in got] == list(range(1, 61))  # every row once, in order
    assert len(sizes) >= 10 and max(sizes) < 100_000 + 20_000, sizes  # (a row past it)


@pytest.mark.parametrize("path", ["values", "keyless", "keyless-values", "limit"])
def test_big_rows_make_chunks_of_about_the_byte_bound_on_the_other_paths(
    pg_server: PgServer, pg_db: str, sql: Any, monkeypatch: Any, path: str
) -> None:
    # (a LIMIT a chunk, without the C COPY reader or a codec, and a keyless table's page
    # ranges: sized by rows alone, 500 KB rows made 5 GB chunks there too)
    from connectors.source.postgres import snapshot

    monkeypatch.setattr(snapshot, "CHUNK_MAX_BYTES", 100_000)
    monkeypatch.setattr(snapshot, "FIRST_CHUNK_ROWS", 8)
    if path == "limit":  # (keyed, encoded, without the C COPY reader)
        monkeypatch.setattr(copyout.CopyOut, "available", classmethod(lambda cls, c: None))
    chunks: list[int] = []
    progress = snapshot.SnapshotReader._progress

    def noted(self: Any, t: Any, n: int) -> None:
        chunks.append(n)
        progress(self, t, n)

    monkeypatch.setattr(snapshot.SnapshotReader, "_progress", noted)
    key = "" if path.startswith("keyless") else " PRIMARY KEY"
    sql.execute(f"CREATE TABLE big (id int{key}, v text)")
    sql.execute("ALTER TABLE big ALTER COLUMN v SET STORAGE EXTERNAL")
    if not key:
        sql.execute("ALTER TABLE big REPLICA IDENTITY FULL")
    sql.execute("INSERT INTO big SELECT g, repeat(md5(g::text), 600) FROM "
                "generate_series(1, 60) g")  # fmt: skip
    sql.execute("ANALYZE big")
    cfg = source_config(pg_server, pg_db, **{"snapshot.mode": "initial_only"})
    values = path in ("values", "keyless-values")
    task: PostgresSourceTask = start_task(cfg, None, json_encoding=None if values else (True, True))
    ids: list[int] = []

    def after(v: Any) -> int:
        doc = v if isinstance(v, dict) else json.loads(v)
        return int(doc.get("payload", doc)["after"]["id"])

    try:
        while task.reader is not None:
            for r in task.poll():
                if isinstance(r, EncodedBatch):
                    ids += [after(v) for v in (r.packed.lists()[1] if r.packed is not None
                                               else r.values)]  # fmt: skip
                elif (
                    r.topic == "app.public.big" and r.value is not None
                    and (r.value if isinstance(r.value, dict) else {}).get("op") != "t"
                ):  # fmt: skip
                    ids.append(after(r.value))
    finally:
        task.stop()
    assert sorted(ids) == list(range(1, 61))  # every row once
    assert len(chunks) >= 8 and max(chunks[1:]) <= 8, chunks  # (19 KB rows: ~5 in 100 KB)


def test_a_keyless_table_never_analyzed_is_read_in_narrowing_ranges(
    pg_server: PgServer, pg_db: str, sql: Any, monkeypatch: Any
) -> None:
    # (no statistics: one page range was the whole table, and each LIMIT chunk of it scanned
    # the rest of it again: 1.2 M rows took 14.6 s against 3.3 s)
    from connectors.source.postgres import snapshot

    monkeypatch.setattr(snapshot, "FIRST_CHUNK_ROWS", 50)
    ranges: list[tuple[int, int]] = []
    copy_text = snapshot.copy_text

    def noted(conn: Any, query: str, params: Any = ()) -> bytes:
        if "ctid" in query:
            ranges.append((snapshot._page(params[0]), snapshot._page(params[-1])))
        return copy_text(conn, query, params)

    monkeypatch.setattr(snapshot, "copy_text", noted)
    sql.execute("CREATE TABLE k (x int, pad text) WITH (autovacuum_enabled = off)")
    sql.execute("ALTER TABLE k REPLICA IDENTITY FULL")
    sql.execute("INSERT INTO k SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
    cfg = source_config(pg_server, pg_db, **{"snapshot.mode": "initial_only",
                                             "snapshot.fetch.size": 1000})  # fmt: skip
    task: PostgresSourceTask = start_task(cfg, None)  # (the values path: copy_text)
    n = 0
    try:
        while task.reader is not None:
            n += sum(1 for r in task.poll() if r.topic == "app.public.k" and r.value)
    finally:
        task.stop()
    assert n == 20000  # every row once
    pages = sql.execute("SELECT pg_relation_size('k') / 8192").fetchone()[0]
    assert len(ranges) >= 20 and ranges[0][1] - ranges[0][0] >= pages  # (the first: all)
    assert max(hi - lo for lo, hi in ranges[1:]) <= pages // 4, (pages, ranges[:5])


def test_a_snapshot_without_compression_fits_max_message_bytes(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Path
) -> None:
    """Uncompressed sections filled to max_batch_bytes made batches past max.message.bytes
    (the batch header on top): the task failed at every restart."""
    sql.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    sql.execute(
        "INSERT INTO t SELECT g, left(repeat(md5(g::text), 4), (g * 7919) % 120) "
        "FROM generate_series(1, 150000) g"
    )
    cfg = source_config(pg_server, pg_db, **{
        "snapshot.mode": "initial_only", "producer.override.compression.type": "none",
    })  # fmt: skip
    worker = start_worker(tmp_path, cfg)
    try:

        def done() -> bool:
            log = worker.log
            return bool(failure(worker)) or (
                log.has_topic("app.public.t")
                and log.partition("app.public.t", 0).high_watermark >= 150000
            )

        wait_for(done, 120, "the snapshot")
        assert failure(worker) is None, failure(worker)
    finally:
        worker.stop()
    log = Log(str(tmp_path / "data"), read_only=True)
    try:
        ids, off = [], 0
        while True:
            recs, off = log.partition("app.public.t", 0).records(off)
            if not recs:
                break
            ids += [json.loads(r.key)["payload"]["id"] for r in recs]
    finally:
        log.close()
    assert ids == list(range(1, 150001))
