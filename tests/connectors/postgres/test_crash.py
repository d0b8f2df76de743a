"""kill -9 of `hub run` with the PostgreSQL source, while transactions stream in and while
the snapshot runs: afterwards every change is in the topic exactly once (snapshot rows at
least once, and the snapshot resumes instead of starting over), and the slot was never
confirmed past what the log held."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from connectors.source.postgres.offsets import PostgresOffset
from hub.log import Log, TopicPartition
from tests.connectors.postgres.helpers import source_config
from tests.fixtures.hub_process import reap_hub, start_hub, stop_hub
from tests.fixtures.postgres import PgServer
from tests.helpers import freeze, loads

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _config(tmp_path: Path, cfg: dict[str, Any]) -> str:
    path = tmp_path / "pg.yaml"
    path.write_text(yaml.safe_dump({"name": "pg", "config": cfg}))
    return str(path)


def _topic(tmp_path: Path, topic: str) -> list[dict[str, Any] | None]:
    if not (tmp_path / "data").exists():
        return []
    with Log(str(tmp_path / "data"), read_only=True) as log:
        if topic not in log.topics():
            return []
        c = log.consumer(auto_offset_reset="earliest", max_poll_records=10_000)
        c.assign([TopicPartition(topic, 0)])
        out: list[dict[str, Any] | None] = []
        while batch := c.poll(0.2):
            out.extend(loads(r.value)["payload"] if r.value else None for r in batch)
        return out


def _written(tmp_path: Path, topic: str | None = None) -> int:
    """Records in all topics so far, or in ``topic`` (cheap: end offsets only)."""
    if not (tmp_path / "data").exists():
        return 0
    with Log(str(tmp_path / "data"), read_only=True) as log:
        topics = [t for t in log.topics() if topic in (None, t)]
        return sum(p.log_end_offset for t in topics for p in log.topic(t).partitions)


def _stored_start_lsn(tmp_path: Path) -> int:
    """Where the connector's stored offset resumes streaming, read from the offsets topic."""
    offset = PostgresOffset.load(_stored_offset(tmp_path))
    return offset.start_lsn() if offset is not None else 0


def _stored_offset(tmp_path: Path) -> dict[str, Any]:
    """The connector's last stored source offset ({} if none), from the offsets topic's tail."""
    last: dict[str, Any] = {}
    if not (tmp_path / "data").exists():
        return last
    with Log(str(tmp_path / "data"), read_only=True) as log:
        if "__connect_offsets" not in log.topics(include_internal=True):
            return last
        for p in log.topic("__connect_offsets").partitions:
            part = log.partition("__connect_offsets", p.index)
            offset = max(part.log_end_offset - 200, part.log_start_offset)
            while True:
                recs, offset = part.records(offset)
                if not recs:
                    break
                for r in recs:
                    if r.key and r.key.startswith(b'["pg",') and r.value:
                        value = json.loads(r.value)
                        if "seq" not in value:  # not the runtime's task checkpoint
                            last = value
    return last


def _confirmed(sql: Any, slot: str) -> int:
    from connectors.source.postgres.protocol.pgoutput import str_to_lsn

    row = sql.execute(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    ).fetchone()
    return str_to_lsn(row[0]) if row and row[0] else 0


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "pgoutput-streaming"])
def test_kill_9_while_streaming_loses_and_duplicates_no_change(
    pg_server: PgServer, pg_db: str, tmp_path: Path, streaming: bool
) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)")
        sql.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 200) g")
        if streaming:  # the larger transactions are streamed before their commit
            sql.execute(f"ALTER DATABASE {pg_db} SET logical_decoding_work_mem = '64kB'")
        cfg = source_config(pg_server, pg_db, **{
            "offset.flush.interval.ms": 300, "pgoutput.streaming": streaming,
            "logical.decoding.message.include": not streaming,
        })  # fmt: skip
        config = _config(tmp_path, cfg)
        stop = threading.Event()
        done = threading.Event()

        def workload() -> None:
            rnd = random.Random(5)
            next_id = 201
            with psycopg.connect(pg_server.dsn(pg_db)) as w:
                while not stop.is_set():
                    with w.transaction():
                        # some transactions span polls (and, streamed, exceed 64 kB)
                        n = rnd.choices([1, 3, 20, 400, 2500], weights=[8, 8, 8, 2, 1])[0]
                        w.execute(
                            "INSERT INTO t SELECT g, 0 FROM generate_series(%s::int, %s::int) g",
                            (next_id, next_id + n - 1),
                        )
                        next_id += n
                        lo = rnd.randrange(1, next_id - 50)
                        w.execute("UPDATE t SET v = v + 1 WHERE id BETWEEN %s::int AND %s::int",
                                  (lo, lo + rnd.randrange(1, 50)))  # fmt: skip
                    time.sleep(rnd.uniform(0, 0.05))
            done.set()

        writer = threading.Thread(target=workload)
        rnd = random.Random(17)
        proc = start_hub(tmp_path, config)
        deadline = time.monotonic() + 30
        while "streaming from slot" not in (tmp_path / "worker.log").read_text():
            assert time.monotonic() < deadline, "the connector did not start streaming"
            time.sleep(0.05)
        writer.start()  # after the snapshot, so the snapshot holds exactly the first 200 rows
        try:
            for run in range(4):
                # the worker streams again before it is killed (a loaded machine starts slowly)
                deadline = time.monotonic() + 60
                while (tmp_path / "worker.log").read_text().count("streaming from slot") <= run:
                    assert time.monotonic() < deadline, "the connector did not stream again"
                    time.sleep(0.05)
                time.sleep(rnd.uniform(1.0, 2.5))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                # the slot never runs ahead of what the log has durably stored
                stored = _stored_start_lsn(tmp_path)
                assert stored > 0
                assert _confirmed(sql, cfg["slot.name"]) <= stored
                proc = start_hub(tmp_path, config)
            stop.set()
            writer.join()
            expected = {
                (i, v) for i, last in sql.execute("SELECT id, v FROM t") for v in range(last + 1)
            }
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                seen = [
                    (e["after"]["id"], e["after"]["v"])
                    for e in _topic(tmp_path, "app.public.t")
                    if e
                ]
                if set(seen) >= expected:
                    break
                time.sleep(0.5)
            stop_hub(proc, tmp_path)
            streamed = sql.execute(
                "SELECT coalesce(stream_txns, 0) FROM pg_stat_replication_slots "
                "WHERE slot_name = %s", (cfg["slot.name"],),
            ).fetchone()  # fmt: skip
            assert (streamed is not None and streamed[0] > 0) is streaming
        finally:
            stop.set()
            reap_hub(proc)
    events = [e for e in _topic(tmp_path, "app.public.t") if e]
    changes = [(e["after"]["id"], e["after"]["v"]) for e in events if e["op"] != "r"]
    snapshot = [(e["after"]["id"], e["after"]["v"]) for e in events if e["op"] == "r"]
    assert len(changes) == len(set(changes)), "a change is in the topic twice"
    assert set(changes) | set(snapshot) == expected, "changes are missing"
    assert sorted(snapshot) == [(i, 0) for i in range(1, 201)]
    assert len(changes) > 2000
    log = (tmp_path / "worker.log").read_text()
    assert log.count("streaming from slot") >= 3  # runs that got to stream before the kill


@pytest.mark.parametrize("threads", [1, 3], ids=["one-connection", "three-connections"])
def test_kill_9_during_the_snapshot_resumes_it(
    pg_server: PgServer, pg_db: str, tmp_path: Path, threads: int
) -> None:
    rows = 120_000
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE a (id int PRIMARY KEY, pad text)")
        sql.execute("CREATE TABLE b (id int PRIMARY KEY, pad text)")
        sql.execute("CREATE TABLE c (x int, pad text)")  # no key: read by ctid ranges
        sql.execute("ALTER TABLE c REPLICA IDENTITY FULL")
        for t in ("a", "b", "c"):
            sql.execute(
                f"INSERT INTO {t} SELECT g, repeat('x', 100) FROM generate_series(1, {rows // 3}) g"
            )
        sql.execute("ANALYZE")
        cfg = source_config(pg_server, pg_db, **{
            "snapshot.fetch.size": 200, "max.batch.size": 200, "offset.flush.interval.ms": 50,
            "snapshot.max.threads": threads,
        })  # fmt: skip
        config = _config(tmp_path, cfg)
        proc = start_hub(tmp_path, config)
        kills = 0
        split = False  # a kill landed inside a table read in key ranges
        written: list[int] = []  # snapshot rows in the log at each kill
        resumes: list[str] = []  # where each restart must go on: the stored offset
        try:
            for target in (rows // 6, rows // 2):
                # hub runs in slices of a few ms and is looked at while stopped, so the kill
                # lands mid-snapshot however fast the snapshot is: rows written and a
                # snapshot position stored, which a restart must resume from
                deadline = time.monotonic() + 60
                while True:
                    freeze(proc.pid)
                    # (and past the last kill's count: this run got going, logged its resume)
                    now = _written(tmp_path)
                    if now >= max(target, *written, 0) + (100 if written else 0) and (
                        _stored_offset(tmp_path).get("table")
                    ):  # fmt: skip
                        break
                    assert proc.poll() is None and time.monotonic() < deadline, (
                        "the snapshot ended before the kill", _written(tmp_path),
                    )  # fmt: skip
                    proc.send_signal(signal.SIGCONT)
                    # longer slices while far from the target: each look opens the log
                    time.sleep(0.003 if now >= 0.8 * max(target, *written, 0) else 0.03)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                written.append(_written(tmp_path))
                stored = PostgresOffset.load(_stored_offset(tmp_path))
                assert stored is not None
                if stored.ranges:  # three connections: a table read in key ranges
                    state = [list(r) for r in stored.ranges]
                    resumes.append(f"resuming the snapshot at {stored.table} in {len(state)} "
                                   f"key ranges: {state}")  # fmt: skip
                    split = True
                else:
                    resumes.append(f"resuming the snapshot at {stored.table} after {stored.after}")
                sql.execute("UPDATE a SET pad = 'changed' WHERE id = 1")  # after the first read
                proc = start_hub(tmp_path, config)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:  # (the end offset first: decoding is slow)
                if _written(tmp_path, "app.public.c") >= rows // 3 and any(
                    e and e["op"] == "u" for e in _topic(tmp_path, "app.public.a")
                ):
                    break
                time.sleep(0.3)
            stop_hub(proc, tmp_path)
        finally:
            reap_hub(proc)
    total = 0
    topics = {t: [e for e in _topic(tmp_path, f"app.public.{t}") if e] for t in "abc"}
    for t, key in (("a", "id"), ("b", "id"), ("c", "x")):
        evs = topics[t]
        snap = [e["after"][key] for e in evs if e["op"] == "r"]
        assert set(snap) == set(range(1, rows // 3 + 1)), f"snapshot rows of {t} are missing"
        total += len(snap)
    # resumed, not restarted: each restart goes on from the position stored before its kill,
    # so only the open commit window of each crash is read twice (at-least-once: a resumed
    # snapshot reads a new database snapshot); starting over would re-read every row in the
    # log at the kills
    log = (tmp_path / "worker.log").read_text()
    assert log.count("resuming the snapshot") == kills
    for line in resumes:
        assert line in log, (line, [x for x in log.splitlines() if "resuming" in x])
    assert total < rows + sum(written), (total, written)
    assert split is (threads > 1)  # 40 k rows, 200-row chunks, 3 connections: key ranges
    a = topics["a"]
    assert a[-1]["op"] == "u" and a[-1]["after"] == {"id": 1, "pad": "changed"}
