"""A warehouse's transaction can commit after the next run of its task read the offsets: a
BigQuery job runs on without the worker that sent it, a Snowflake or Redshift COMMIT can be in
flight when the worker dies. The next run's batch must not apply those records again (appends
would be doubled): its transaction checks the stored offsets first, fails on moved ones, and the
task reads them again and skips what is in."""

from __future__ import annotations

import pytest

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
