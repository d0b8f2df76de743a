"""A warehouse's transaction can commit after the next run of its task read the offsets: a
BigQuery job runs on without the worker that sent it, a Snowflake or Redshift COMMIT can be in
flight when the worker dies. The next run's batch must not apply those records again (appends
would be doubled): its transaction checks the stored offsets first, fails on moved ones, and the
task reads them again and skips what is in."""

from __future__ import annotations

import pytest

from connectors.sink.engine.errors import TargetRewoundError
from connectors.sink.engine.naming import TableRef
from connectors.source.postgres.types import Oid
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable


@pytest.mark.parametrize("sink", ["snowflake", "bigquery", "redshift"], indirect=True)
def test_a_late_commit_of_another_run_is_not_applied_twice(sink: Sink) -> None:
    t = PgTable("log", [("msg", Oid.TEXT, -1), ("n", Oid.INT4, -1)], pk=())
    early, late = sink, Sink(sink.target, sink.config)
    try:
        early.start([t.topic])
        late.start([t.topic])  # reads the offsets: none yet
        early.put([t.insert(i, {"msg": f"m{i}", "n": str(i)}) for i in range(5)])
        late.put([t.insert(i, {"msg": f"m{i}", "n": str(i)}) for i in range(8)])
        assert late.rows("srv_public_log", '"n"') == [(f"m{i}", i) for i in range(8)]
        assert late.query('SELECT "next_offset" FROM "_hub_offsets"') == [(8,)]
        # and again once the first run has moved on: it too re-reads and skips
        early.put([t.insert(i, {"msg": f"m{i}", "n": str(i)}) for i in range(5, 10)])
        assert late.rows("srv_public_log", '"n"') == [(f"m{i}", i) for i in range(10)]
    finally:
        late.stop()


def test_a_target_that_lost_committed_batches_is_not_written_past_the_gap(sink: Sink) -> None:
    """The target loses its last committed transaction (a crash with synchronous_commit=off,
    a failover to a replica that was behind, a restore): its rows and its stored offsets go
    back together. The task must not write its next batch past the gap (found by the chaos
    test: 30 rows lost for good); it stops, and restarted it resumes from the stored offsets."""
    t = PgTable("log", [("msg", Oid.TEXT, -1), ("n", Oid.INT4, -1)], pk=())
    records = [t.insert(i, {"msg": f"m{i}", "n": str(i)}) for i in range(8)]
    sink.start([t.topic])
    sink.put(records[:3])
    sink.put(records[3:5])
    assert sink.task is not None
    table = sink.task.dialect.table_name(TableRef(None, "srv_public_log"))
    sink.execute(f'DELETE FROM {table} WHERE "n" >= 3',
                 'UPDATE "_hub_offsets" SET "next_offset" = 3')  # fmt: skip
    with pytest.raises(TargetRewoundError, match=r"went back \(.*\[0\] 5 -> 3\)"):
        sink.put(records[5:])
    assert [r[1] for r in sink.rows("srv_public_log", '"n"')] == [0, 1, 2]
    resumed = sink.start([t.topic])  # the restarted task: where the target says it is
    assert list(resumed.values()) == [3]
    sink.put(records[3:])
    assert sink.rows("srv_public_log", '"n"') == [(f"m{i}", i) for i in range(8)]


@pytest.mark.parametrize("sink", ["postgres", "postgres-merge"], indirect=True)
def test_two_writers_of_one_task_reading_the_offsets_at_once_write_a_batch_once(
    sink: Sink,
) -> None:
    # (a zombie: both read the offsets before either committed, at READ COMMITTED; the second
    # upsert of the offsets waited for the first, then went on: the keyless table had the
    # batch twice). A third session holds _hub_offsets until both wait for it.
    import threading
    import time

    import psycopg

    t = PgTable("log", [("msg", Oid.TEXT, -1), ("n", Oid.INT4, -1)], pk=())
    records = [t.insert(i, {"msg": f"m{i}", "n": str(i)}) for i in range(6)]
    a, b = sink, Sink(sink.target, sink.config)
    try:
        a.put(records[:1])
        b.start([t.topic])  # (both at offset 1 now)
        dsn = sink.config["connection.url"]
        with psycopg.connect(dsn) as holder:
            holder.execute('LOCK TABLE "_hub_offsets" IN ACCESS EXCLUSIVE MODE')
            failed: list[BaseException] = []

            def put(s: Sink) -> None:
                try:
                    s.put(records[1:])
                except BaseException as exc:
                    failed.append(exc)

            threads = [threading.Thread(target=put, args=(s,)) for s in (a, b)]
            for th in threads:
                th.start()
            time.sleep(1.0)  # (both wait for the table or for the other's lock by now)
            holder.rollback()
            for th in threads:
                th.join(30)
        assert not failed, failed  # (the second found the offsets moved: it skipped them)
        assert a.rows("srv_public_log", '"n"') == [(f"m{i}", i) for i in range(6)]
    finally:
        b.stop()
