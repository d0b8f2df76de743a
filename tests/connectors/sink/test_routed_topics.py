"""Sinks that keep their offsets in the target key them by where each record is in the log,
not by the topic a transform renamed it to: two topics routed into one table (shards merged
with a RegexRouter, Connect's usual way) must not share offsets, or the younger topic's
records would look already written and be skipped for good."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.source.postgres.types import Oid
from hub.config import ConnectorSpec
from hub.runtime.converters import JsonConverter
from hub.runtime.worker import Worker
from tests.connectors.sink.events import PgTable
from tests.helpers import wait_for

JSON = JsonConverter(schemas_enable=True)
COLUMNS = [("id", Oid.INT4, -1), ("txt", Oid.TEXT, -1)]


def _produce(worker: Worker, table: PgTable, rows: list[tuple[int, str]]) -> None:
    worker.backend.create_topic(table.topic, 1)
    prod = worker.backend.producer()
    for i, (id_, txt) in enumerate(rows):
        r = table.insert(i, {"id": id_, "txt": txt})
        prod.send(table.topic, JSON.from_value(r.value, r.value_schema),
                  JSON.from_value(r.key, r.key_schema))  # fmt: skip
    prod.flush()


def _rows(path: Path, table: str = "orders") -> list[tuple[int, str]]:
    try:  # (the sink's database instance, shared within this process)
        with duckdb.connect(str(path)) as con:
            return con.execute(f"SELECT id, txt FROM {table} ORDER BY id").fetchall()
    except duckdb.CatalogException:
        return []  # (not made yet)


def test_two_topics_routed_to_one_table_each_keep_their_offsets(tmp_path: Path) -> None:
    shard1 = PgTable("orders", COLUMNS, prefix="shard1")
    shard2 = PgTable("orders", COLUMNS, prefix="shard2")
    worker = Worker(str(tmp_path / "data"))
    target = tmp_path / "w.duckdb"
    try:
        # shard1 has a long history, shard2 a short one: offsets 0-99 and 0-4
        _produce(worker, shard1, [(i, "s1") for i in range(100)])
        spec = {
            "connector.class": "duckdb", "topics.regex": r"shard\d\.public\.orders",
            "connection.url": f"duckdb:{target}", "duckdb.idle.release.ms": 0,
            "transforms": "route", "transforms.route.type": "RegexRouter",
            "transforms.route.regex": r"shard\d\.public\.(.*)",
            "transforms.route.replacement": "$1",
        }  # fmt: skip
        worker.add(ConnectorSpec("sink", spec, "test"))
        wait_for(lambda: len(_rows(target)) == 100, timeout=30, what="shard1's rows")
        _produce(worker, shard2, [(1000 + i, "s2") for i in range(5)])
        expected = [(i, "s1") for i in range(100)] + [(1000 + i, "s2") for i in range(5)]
        wait_for(lambda: _rows(target) == expected, timeout=30, what="shard2's rows too")
        worker.stop()
        # the offsets stored with the rows are the log's topics', which a restart resumes from
        with duckdb.connect(str(target)) as con:
            stored = con.execute(
                'SELECT topic, "partition", next_offset FROM _hub_offsets ORDER BY topic'
            ).fetchall()
        assert stored == [("shard1.public.orders", 0, 100), ("shard2.public.orders", 0, 5)]
    finally:
        worker.stop()


def _ten_rows_written(tmp_path: Path) -> tuple[PgTable, Path, dict[str, object]]:
    """A DuckDB sink that wrote 10 records of a topic of a worker's log in ``tmp_path/data``
    (offset 10 stored); the table, the target and the sink's config."""
    table = PgTable("orders", COLUMNS, prefix="shard1")
    target = tmp_path / "w.duckdb"
    spec = {"connector.class": "duckdb", "topics": table.topic,
            "connection.url": f"duckdb:{target}", "duckdb.idle.release.ms": 0}  # fmt: skip
    worker = Worker(str(tmp_path / "data"))
    try:
        _produce(worker, table, [(i, "old") for i in range(10)])
        worker.add(ConnectorSpec("sink", spec, "test"))
        wait_for(lambda: len(_rows(target, "shard1_public_orders")) == 10, timeout=30,
                 what="the first rows")  # fmt: skip
    finally:
        worker.stop()
    return table, target, spec


@pytest.mark.parametrize("how", ["topic-deleted", "data-emptied"])
def test_a_topic_made_again_is_written_from_its_start(tmp_path: Path, how: str) -> None:
    """The new topic holds more records than the offset stored for the old one: its first
    records had been skipped as written. Now the log's topic id tells them apart."""
    table, target, spec = _ten_rows_written(tmp_path)
    worker = Worker(str(tmp_path / ("data" if how == "topic-deleted" else "data2")))
    try:
        if how == "topic-deleted":
            worker.backend.delete_topic(table.topic)
        _produce(worker, table, [(i, "new") for i in range(15)])
        worker.add(ConnectorSpec("sink", spec, "test"))
        want = [(i, "new") for i in range(15)]
        wait_for(lambda: _rows(target, "shard1_public_orders") == want, timeout=30,
                 what="every row of the new topic")  # fmt: skip
    finally:
        worker.stop()


def test_a_stored_offset_past_a_remade_topics_end_stops_the_sink_saying_what_to_do(
    tmp_path: Path,
) -> None:
    # A target whose offsets carry no topic id (stored before ids): the sink skipped the new
    # topic's records below its stored offset as written, and the group committed past them
    table, target, spec = _ten_rows_written(tmp_path)
    with duckdb.connect(str(target)) as con:
        con.execute("UPDATE _hub_offsets SET topic_id = NULL")
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.backend.delete_topic(table.topic)
        _produce(worker, table, [(100 + i, "new") for i in range(3)])
        worker.add(ConnectorSpec("sink", spec, "test"))

        def failed() -> str | None:
            st = worker.status()["sink"][0]
            return st.trace if st.state == "FAILED" else None

        trace = wait_for(failed, timeout=30, what="the sink to stop")
        assert "is 10, past the log's end 3" in trace and "_hub_offsets" in trace
    finally:
        worker.stop()
