"""kill -9 of a worker running a log -> DuckDB sink pipeline, several times at random
moments, then a clean run: the table equals the expected final state row for row (nothing
lost, nothing doubled), thanks to the offsets stored in ``_hub_offsets`` with the rows."""

from __future__ import annotations

import random
import re
import signal
import textwrap
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.source.postgres.types import Oid
from hub.log import Log
from hub.runtime.converters import JsonConverter
from tests.connectors.sink.events import PgTable
from tests.connectors.sink.targets import TARGETS, place
from tests.connectors.sink.targets import Target as SinkTarget
from tests.fixtures.duckdb_reader import read_duckdb
from tests.fixtures.hub_process import start_hub, stop_hub

N_EVENTS = 16000
KEYS = 300
N_AUDIT = 4000  # a keyless table (REPLICA IDENTITY FULL), duplicates, updates and deletes
JSON = JsonConverter(schemas_enable=True)


def _items() -> PgTable:
    return PgTable("items", [("id", Oid.INT4, -1), ("name", Oid.TEXT, -1),
                             ("price", Oid.NUMERIC, (12 << 16) + 3 + 4),
                             ("seen", Oid.TIMESTAMP, -1)])  # fmt: skip


def _prefill(data: Path) -> tuple[dict[int, tuple[Any, ...]], Counter[tuple[int, int]]]:
    """Write Debezium events into topic srv.public.items (2 partitions) and srv.public.audit;
    return the final state the tables must have: id -> (name, price, seen), and the audit
    rows (seq, v) with their counts (a redelivered insert or a delete applied twice shows)."""
    t = _items()
    rnd = random.Random(5)
    state: dict[int, dict[str, Any]] = {}
    with Log(str(data)) as log:
        log.create_topic(t.topic, partitions=2)
        producer = log.producer()
        sent = 0
        while sent < N_EVENTS:
            k = rnd.randrange(KEYS)
            price = f"{rnd.randrange(10**6)}.{sent % 1000:03d}"
            row = {"id": k, "name": f"n{sent}", "price": price,
                   "seen": f"2024-01-02 03:04:05.{sent % 1000000:06d}"}  # fmt: skip
            if k in state and rnd.random() < 0.15:
                rec = [t.delete(0, {"id": k}), t.tombstone(0, {"id": k})]
                del state[k]
            else:
                rec = [t.update(0, row) if k in state else t.insert(0, row)]
                state[k] = row
            for r in rec:
                key = JSON.from_value(r.key, r.key_schema)
                producer.send(t.topic, JSON.from_value(r.value, r.value_schema), key=key)
                sent += 1
        audit = PgTable("audit", [("seq", Oid.INT8, -1), ("v", Oid.INT4, -1)], pk=())
        log.create_topic(audit.topic, partitions=1)
        bag: list[dict[str, Any]] = []
        for i in range(N_AUDIT):
            x = rnd.random()
            if bag and x < 0.25:  # an update of one of identical rows
                old = bag.pop(rnd.randrange(len(bag)))
                new = {"seq": old["seq"], "v": old["v"] + 1}
                r = audit.event("u", i, old, new)
                bag.append(new)
            elif bag and x < 0.4:
                r = audit.event("d", i, bag.pop(rnd.randrange(len(bag))), None)
            else:
                new = {"seq": rnd.randrange(40), "v": 0}
                r = audit.insert(i, new)
                bag.append(new)
            producer.send(audit.topic, JSON.from_value(r.value, r.value_schema))
        producer.flush()
    items = {
        k: (v["name"], Decimal(v["price"]), v["seen"].replace(" ", "T")) for k, v in state.items()
    }
    return items, Counter((b["seq"], b["v"]) for b in bag)


def _config(tmp_path: Path, target: SinkTarget, props: dict[str, Any], audit: bool) -> str:
    path = tmp_path / "sink.yaml"
    topics = "srv.public.items" + (",srv.public.audit" if audit else "")
    lines = "".join(f"\n          {k}: {v}" for k, v in props.items())
    # a warehouse batch costs a load and a transaction of ~0.1-0.2 s on its stand-in: larger
    # batches keep the test short, and a kill still lands in the middle of one
    size = 400 if target.database in ("snowflake", "bigquery") else 100
    path.write_text(
        textwrap.dedent(f"""
        name: warehouse
        config:
          connector.class: {target.connector_class}
          topics: {topics}{lines}
          batch.size: {size}
          batch.max.wait.ms: 50
          offset.flush.interval.ms: 100000
    """)
        # DuckDB: let go of the file between batches so the test can look at it
        + ("  duckdb.idle.release.ms: 50\n" if target.database == "duckdb" else "")
    )
    return str(path)


def _wait_started(tmp_path: Path, runs: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (tmp_path / "worker.log").read_text().count("connector warehouse started") >= runs:
            return
        time.sleep(0.02)
    raise AssertionError("the worker did not start")


class Target:
    """Reads the sink's target from outside the worker (DuckDB: read-only, between batches)."""

    def __init__(self, target: SinkTarget, props: dict[str, Any], where: str, server: Any) -> None:
        self.target, self.props, self.where, self.server = target, props, where, server
        self.kind = target.database
        # the warehouses have no row identifier for a keyless table's updates: items only there
        self.audit = self.kind not in ("snowflake", "bigquery", "redshift")
        self.total = N_EVENTS + (N_AUDIT if self.audit else 0)

    def read(self, sql: str) -> list[tuple[Any, ...]] | None:
        if self.kind == "snowflake":
            con = self.server.connect(self.where)
            try:
                return [
                    tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in row)
                    for row in con.cursor().execute(sql).fetchall()
                ]
            except Exception as exc:  # noqa: BLE001 - not created yet
                if "does not exist" in str(exc):
                    return []
                raise
            finally:
                con.close()
        if self.kind == "bigquery":
            from google.api_core.exceptions import NotFound
            from google.cloud import bigquery

            sql = re.sub(r'"([^"]*)"', r"`\1`", sql)
            job = bigquery.QueryJobConfig(default_dataset=f"{self.server.project}.{self.where}")
            try:
                rows = self.server.client().query(sql, job_config=job).result()
            except NotFound:
                return []
            return [tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in r.values())
                    for r in rows]  # fmt: skip
        if self.kind in ("postgres", "redshift"):
            import psycopg

            dsn, opts = self.where, ""
            if self.kind == "redshift":  # the stand-in's database, the test's schema
                dsn, opts = self.server.pg_dsn, f"-c search_path={self.where}"
            with psycopg.connect(dsn, options=opts) as con:
                try:
                    return con.execute(sql).fetchall()
                except psycopg.errors.UndefinedTable:
                    return []
        return read_duckdb(self.where, sql)

    def consumed(self) -> int:
        rows = self.read('SELECT sum(next_offset) FROM "_hub_offsets"')
        return int(rows[0][0] or 0) if rows else 0

    def seen(self) -> str:
        if self.kind in ("snowflake", "bigquery"):
            return '"seen"'  # read as a datetime, shown in ISO form by `read`
        if self.kind in ("postgres", "redshift"):
            return "to_char(seen, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        return "strftime(seen, '%Y-%m-%dT%H:%M:%S.%f')"


# Snowflake: a killed worker's session keeps its open transaction (the stand-in for good,
# Snowflake until the session expires); the next run of the task aborts it at connect, or its
# batches would wait on those locks. BigQuery runs a batch as one script job, which ends on its
# own; a late commit of it is fenced by the offsets.
@pytest.fixture(params=list(TARGETS))
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    t = TARGETS[request.param]
    server = (
        request.getfixturevalue(f"{t.database}_server")
        if t.database in ("snowflake", "bigquery", "redshift")
        else None
    )
    return Target(t, *place(t, request, tmp_path), server)


@pytest.mark.integration
@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_the_table_exact(tmp_path: Path, target: Target) -> None:
    expected, audit = _prefill(tmp_path / "data")
    config = _config(tmp_path, target.target, target.props, target.audit)
    rnd = random.Random(3)
    progress: list[int] = []
    total = target.total
    stalls = 0  # kills that landed before the run's first commit (a loaded machine)
    for run in range(1, 13):  # (under load the first kills may land before any commit)
        proc = start_hub(tmp_path, config)
        _wait_started(tmp_path, run)
        if target.kind in ("snowflake", "bigquery", "redshift"):  # clients take ~1 s to load
            deadline = time.monotonic() + 30
            while target.consumed() <= max(progress, default=0) and time.monotonic() < deadline:
                time.sleep(0.05)
        # batches are flowing: kill it anywhere (later after a kill that found no commit)
        time.sleep(rnd.uniform(0.2, 0.7) * 2 ** min(stalls, 4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        progress.append(target.consumed())
        stalls += progress[-1] == (progress[-2] if len(progress) > 1 else 0)
        if progress[-1] >= total or sum(0 < p < total for p in progress) >= 5:
            break  # (five kills mid-stream are enough; the runs past them cost ~2 s each)
    mid_stream = [p for p in progress if 0 < p < total]
    assert len(mid_stream) >= 2, f"the kills should land mid-stream: {progress}"
    proc = start_hub(tmp_path, config)
    _wait_started(tmp_path, len(progress) + 1)  # a SIGTERM before then would kill it
    deadline = time.monotonic() + 120  # (fakesnow on a loaded machine: 60 s fell short once)
    while target.consumed() < total and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    stop_hub(proc, tmp_path)
    assert target.consumed() == total
    rows = target.read(
        f'SELECT id, name, price, {target.seen()} FROM "srv_public_items" ORDER BY id'
    )
    assert rows is not None
    assert rows == [(k, *expected[k]) for k in sorted(expected)]
    if target.audit:
        rows = target.read('SELECT seq, v FROM "srv_public_audit"')
        assert rows is not None
        assert Counter(rows) == audit
