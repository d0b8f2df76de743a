"""A sink's target loses committed transactions (a crash with synchronous_commit=off, a
failover to a replica that was behind, a restore): its rows and its stored offsets go back
together. The chaos test found the PostgreSQL sink writing its next batch past the gap (30
pgbench rows lost for good). The task must restart and resume from the target's offsets;
with errors.tolerance=all nothing may go to the dead letter queue for it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from connectors.source.postgres.types import Oid
from hub.runtime.converters import JsonConverter
from hub.runtime.worker import ConnectorSpec, Worker
from tests.connectors.postgres.helpers import wait_for
from tests.connectors.sink.events import PgTable
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration
JSON = JsonConverter(True)


def _produce(worker: Worker, t: PgTable, first: int, last: int) -> None:
    if not worker.log.has_topic(t.topic):
        worker.log.create_topic(t.topic, 1)
    recs = [t.insert(i, {"id": str(i), "n": str(i)}) for i in range(first, last)]
    prod = worker.log.producer()
    prod.send_many(
        t.topic, [JSON.from_value(r.value, r.value_schema) for r in recs],
        keys=[JSON.from_value(r.key, r.key_schema) for r in recs], partition=0,
    )  # fmt: skip
    prod.flush()


def _sink(pg_server: PgServer, pg_db: str, t: PgTable, **extra: object) -> ConnectorSpec:
    """A PostgreSQL sink of ``t``'s topic into ``pg_db``, committing every 100 ms."""
    return ConnectorSpec("pgsink", {
        "connector.class": "postgres-sink", "topics": t.topic,
        "connection.url": f"postgresql://{pg_server.user}@{pg_server.host}:"
                          f"{pg_server.port}/{pg_db}",
        "batch.max.wait.ms": 50, "offset.flush.interval.ms": 100, **extra,
    }, "test")  # fmt: skip


def _ids(con: psycopg.Connection) -> list[int]:
    return [r[0] for r in con.execute("SELECT id FROM srv_public_t ORDER BY id").fetchall()]


def test_a_target_gone_back_is_caught_up_from_its_own_offsets(
    tmp_path: Path, pg_server: PgServer, pg_db: str
) -> None:
    t = PgTable("t", [("id", Oid.INT4, -1), ("n", Oid.INT4, -1)], pk=("id",))
    worker = Worker(str(tmp_path / "data"))
    dsn = pg_server.dsn(pg_db)
    try:
        _produce(worker, t, 0, 10)
        worker.add(
            _sink(
                pg_server,
                pg_db,
                t,
                **{"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq"},
            )
        )
        with psycopg.connect(dsn, autocommit=True) as con:
            wait_for(lambda: con.execute("SELECT to_regclass('srv_public_t')").fetchone()[0]
                  is not None and len(_ids(con)) == 10)  # fmt: skip
            # the target loses its last five rows and goes back to offset 5
            con.execute("DELETE FROM srv_public_t WHERE id >= 5")
            con.execute("UPDATE _hub_offsets SET next_offset = 5")
            _produce(worker, t, 10, 15)
            wait_for(lambda: _ids(con) == list(range(15)), what="all 15 rows")
        assert not worker.log.has_topic("dlq") or not worker.log.partition("dlq", 0).records(0)[0]
    finally:
        worker.stop()


def test_a_target_gone_back_below_the_log_start_goes_on_from_the_log_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # (restored from a backup at offset 20 after retention moved the log start past it, the
    # sink went on from the group's offset 300: the records from the log start to 299, still
    # in the log, were never written to the target; Kafka Connect's consumer resets to the
    # log start, auto.offset.reset=earliest)
    from hub.log import TopicPartition
    from tests.helpers import wait_for

    worker = Worker(str(tmp_path / "data"))
    worker.log.create_topic("in", 1, {"segment.bytes": "1024", "retention.bytes": "3000"})
    out, side = tmp_path / "out.txt", tmp_path / ".out.txt.hub-offsets"
    tp = TopicPartition("in", 0)

    def produce(first: int, last: int) -> None:
        prod = worker.log.producer()
        for i in range(first, last, 5):
            prod.send_many("in", [b'"r%d"' % j for j in range(i, i + 5)], partition=0)
            prod.flush()  # (a batch each: segments of ~1 KiB)

    def written() -> list[int]:
        return [int(v.strip('"r')) for v in out.read_text().split()] if out.exists() else []

    def committed() -> int:
        c = worker.log.groups.committed("connect-sink", tp)
        return c.offset if c else -1

    try:
        worker.add(ConnectorSpec("sink", {
            "connector.class": "FileStreamSink", "topics": "in", "file": str(out),
            "value.converter.schemas.enable": "false", "offset.flush.interval.ms": 100,
            "batch.max.wait.ms": 50,
        }, "test"))  # fmt: skip
        produce(0, 20)
        wait_for(lambda: written() == list(range(20)) and committed() == 20, what="20 records")
        worker.stop_connector("sink")
        backup = out.read_bytes(), side.read_bytes()  # the target's backup, at offset 20
        worker.resume("sink")
        produce(20, 300)
        wait_for(lambda: committed() == 300, what="300 records")
        worker.stop_connector("sink")
        part = worker.log.partition("in", 0)
        part.apply_retention()
        start = part.log_start_offset
        assert 20 < start < 300
        out.write_bytes(backup[0])  # the target restored
        side.write_bytes(backup[1])
        worker.resume("sink")
        produce(300, 310)
        wait_for(lambda: 309 in written(), what="the new records")
        assert written() == [*range(20), *range(start, 310)]
        said = [r.getMessage() for r in caplog.records if "below the log's start" in r.getMessage()]
        assert said and f"offsets 20 to {start - 1}" in said[0]
    finally:
        worker.stop()


def test_a_target_that_lost_every_write_of_a_partition_is_written_from_the_log_start(
    tmp_path: Path, pg_server: PgServer, pg_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # (the chaos test: the sink server stopped with -m immediate, synchronous_commit=off, lost
    # the first transactions that wrote pgbench_history; with no row of that partition in
    # _hub_offsets, the next start resumed from the group's offset, committed after them:
    # 673 rows lost for good)
    t = PgTable("t", [("id", Oid.INT4, -1), ("n", Oid.INT4, -1)], pk=("id",))
    dsn = pg_server.dsn(pg_db)
    spec = _sink(pg_server, pg_db, t)
    worker = Worker(str(tmp_path / "data"))
    try:
        _produce(worker, t, 0, 10)
        worker.add(spec)
        with psycopg.connect(dsn, autocommit=True) as con:
            wait_for(lambda: con.execute("SELECT to_regclass('srv_public_t')").fetchone()[0]
                  is not None and len(_ids(con)) == 10)  # fmt: skip
        group = worker.log.groups
        wait_for(lambda: [p.committed for p in group.describe("connect-pgsink").partitions]
                 == [10], what="the group's commit")  # fmt: skip
    finally:
        worker.stop()
    with psycopg.connect(dsn, autocommit=True) as con:  # every write of the partition lost
        con.execute("DELETE FROM srv_public_t")
        con.execute("DELETE FROM _hub_offsets")
    worker = Worker(str(tmp_path / "data"))
    try:
        _produce(worker, t, 10, 15)
        worker.add(spec)
        with psycopg.connect(dsn, autocommit=True) as con:
            wait_for(lambda: _ids(con) == list(range(15)), what="all 15 rows")
    finally:
        worker.stop()
    assert "the target holds no offset of srv.public.t[0] though the group committed 10" in (
        caplog.text
    )


def test_group_offsets_set_by_hand_are_where_a_target_without_offsets_resumes(
    tmp_path: Path,
) -> None:
    # (the review of the change above: offsets set with PATCH /connectors/<name>/offsets, as
    # the replay steps say, were taken for a target that lost its writes, and the sink wrote
    # the topic from its start: rows 0..6 the user skipped, doubled in a table without a key)
    import duckdb

    t = PgTable("t", [("id", Oid.INT4, -1), ("n", Oid.INT4, -1)], pk=("id",))
    db = tmp_path / "t.duckdb"
    worker = Worker(str(tmp_path / "data"))
    try:
        _produce(worker, t, 0, 10)
        worker.add(ConnectorSpec("dk", {
            "connector.class": "duckdb", "topics": t.topic, "connection.url": f"duckdb:{db}",
            "batch.max.wait.ms": 50, "offset.flush.interval.ms": 100,
        }, "test"))  # fmt: skip
        worker.stop_connector("dk")
        worker.alter_offsets("dk", [{"partition": {"kafka_topic": t.topic, "kafka_partition": 0},
                                     "offset": {"kafka_offset": 7}}])  # fmt: skip
        worker.resume("dk")
        group = worker.log.groups
        wait_for(lambda: [p.committed for p in group.describe("connect-dk").partitions] == [10],
                 what="the sink's commit")  # fmt: skip
    finally:
        worker.stop()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT id FROM srv_public_t ORDER BY id").fetchall() == [
            (7,),
            (8,),
            (9,),
        ]


def test_a_sink_new_to_a_topic_retention_thinned_is_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # (added, renamed or pointed at a new target after retention ran: it began at the log's
    # start, the rows only the removed records held missing in the target without a word)
    from tests.helpers import wait_for

    worker = Worker(str(tmp_path / "data"))
    worker.log.create_topic("in", 1, {"segment.bytes": "1024", "retention.bytes": "3000"})
    out = tmp_path / "out.txt"
    try:
        prod = worker.log.producer()
        for i in range(0, 300, 5):
            prod.send_many("in", [b'"r%d"' % j for j in range(i, i + 5)], partition=0)
            prod.flush()
        part = worker.log.partition("in", 0)
        part.apply_retention()
        start = part.log_start_offset
        assert start > 0
        worker.add(ConnectorSpec("late", {
            "connector.class": "FileStreamSink", "topics": "in", "file": str(out),
            "value.converter.schemas.enable": "false", "batch.max.wait.ms": 50,
        }, "test"))  # fmt: skip
        wait_for(lambda: out.exists() and "r299" in out.read_text(), what="the records")
    finally:
        worker.stop()
    said = [r.getMessage() for r in caplog.records if "removed by retention" in r.getMessage()]
    assert said and f"late: writes in[0] from the log's start, offset {start}" in said[0]
    caplog.clear()  # (starting at the log's end, it skips nothing retention removed)
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.add(ConnectorSpec("at-end", {
            "connector.class": "FileStreamSink", "topics": "in", "file": str(tmp_path / "e.txt"),
            "value.converter.schemas.enable": "false", "batch.max.wait.ms": 50,
            "consumer.override.auto.offset.reset": "latest",
        }, "test"))  # fmt: skip
        wait_for(lambda: worker.status()["at-end"][0].state == "RUNNING", what="the start")
        end, prod = tmp_path / "e.txt", worker.log.producer()

        def sees_a_new_record() -> bool:  # (its partition assigned: it reads from the end)
            if end.exists() and "r-new" in end.read_text():
                return True
            prod.send_many("in", [b'"r-new"'], partition=0)
            prod.flush()
            return False

        wait_for(sees_a_new_record, 30, "a record written after its start", interval=0.5)
    finally:
        worker.stop()
    assert "removed by retention" not in caplog.text


def test_a_new_target_behind_the_log_start_is_warned_of(
    tmp_path: Path, pg_server: PgServer, pg_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # (a sink given a new target kept its group's offset, 10, below a log start retention
    # had moved to past it: the new target got the records from there, without a word)
    t = PgTable("t", [("id", Oid.INT4, -1), ("n", Oid.INT4, -1)], pk=("id",))
    spec = _sink(pg_server, pg_db, t)
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.log.create_topic(t.topic, 1, {"segment.bytes": "1024", "retention.bytes": "3000"})
        _produce(worker, t, 0, 10)
        worker.add(spec)
        group = worker.log.groups
        wait_for(lambda: [p.committed for p in group.describe("connect-pgsink").partitions]
                 == [10], what="the group's commit")  # fmt: skip
        worker.stop_connector("pgsink")
        for i in range(10, 200, 10):
            _produce(worker, t, i, i + 10)
        part = worker.log.partition(t.topic, 0)
        part.apply_retention()
        start = part.log_start_offset
        assert start > 10
    finally:
        worker.stop()
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as con:  # a new target
        con.execute("DROP TABLE srv_public_t")
        con.execute("DELETE FROM _hub_offsets")
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.add(spec)
        with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as con:
            wait_for(lambda: con.execute("SELECT to_regclass('srv_public_t')").fetchone()[0]
                     is not None and 199 in _ids(con), what="the new target's rows")  # fmt: skip
    finally:
        worker.stop()
    assert (f"the target holds no offset of srv.public.t[0] and the group's, 10, is below the "
            f"log's start, {start}") in caplog.text  # fmt: skip
