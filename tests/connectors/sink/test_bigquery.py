"""The BigQuery sink's own surface: config errors that name the property (and never show a
secret), its batching defaults (merge.interval.ms), the fence against a killed worker's late
commit, a STRING column that exists already taking JSON text, staging tables gone after a
batch, and `hub validate --connect` against the stand-in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.sink.bigquery.connector import BigQuerySink
from connectors.sink.engine.errors import SinkConfigError
from connectors.source.postgres.types import Oid
from tests.connectors.sink.conftest import Sink, checks_pass, refuses, validate_sink
from tests.connectors.sink.events import PgTable
from tests.connectors.sink.targets import TARGETS
from tests.fixtures.bigquery import BigQueryServer

BASE = {"project": "analytics-prod", "defaultDataset": "cdc"}


def _validate(**config: Any) -> Any:
    return validate_sink("bigquery", **config)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"defaultDataset": "cdc"}, ["project: required"]),
        ({"project": "analytics-prod"}, ["defaultDataset: required"]),
        ({**BASE, "defaultDataset": "my-data"}, ["defaultDataset", "letters, digits and '_'"]),
        ({**BASE, "keyfile": "/nonexistent/hunter2.json"}, ["keyfile: no such file"]),
        ({**BASE, "keySource": "JSON", "keyfile": "{hunter2"}, ["keyfile: not JSON"]),
        ({**BASE, "keySource": "JSON"}, ["keySource=JSON needs keyfile"]),
        ({**BASE, "connection.url": "duckdb:x.db"}, ["connection.url", "defaultDataset"]),
        ({**BASE, "connection.password": "hunter2"}, ["connection.password", "keyfile"]),
        ({**BASE, "clusteringPartitionFieldNames": "a,b,c,d,e"}, ["at most 4"]),
        ({**BASE, "merge.interval.ms": -1}, ["merge.interval.ms"]),
        # the key itself where a path belongs (keySource unset): said without quoting it
        ({**BASE, "keyfile": '{"private_key": "hunter2' + "A" * 300 + "/" + "B" * 300 + '"}'},
         ["keyfile holds a key, not a path: set keySource=JSON"]),
    ],
)  # fmt: skip
def test_bad_configs_name_the_property_and_hide_secrets(
    config: dict[str, Any], words: list[str]
) -> None:
    refuses("bigquery", config, words)


def test_a_good_config_masks_the_key_and_batches_by_merge_interval(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account"}))
    valid = _validate(**BASE, keyfile=str(key))
    assert not valid.warnings
    assert "keyfile" in BigQuerySink.secret_properties
    # a MERGE scans the target: a batch gathers for merge.interval.ms (60 s by default)
    c = valid.common
    assert (c.batch_linger_ms, c.batch_max_wait_ms, c.batch_size) == (60_000, 60_000, 100_000)
    c = _validate(**BASE, **{"merge.interval.ms": 5000, "merge.records.threshold": 10}).common
    assert (c.batch_linger_ms, c.batch_max_wait_ms, c.batch_size) == (5000, 5000, 10)
    # what the user sets for the runtime wins
    c = _validate(**BASE, **{"batch.linger.ms": 7, "batch.size": 3}).common
    assert (c.batch_linger_ms, c.batch_max_wait_ms, c.batch_size) == (7, 60_000, 3)


def _log() -> PgTable:
    return PgTable("log", [("msg", Oid.TEXT, -1), ("n", Oid.INT4, -1)], pk=())


def _dataset_tables(server: BigQueryServer, dataset: str) -> list[str]:
    return sorted(t.table_id for t in server.client().list_tables(f"{server.project}.{dataset}"))


def test_an_existing_string_column_takes_json_as_text(
    bigquery_server: BigQueryServer, bigquery_dataset: str
) -> None:
    """Tables the Confluent connector made hold Debezium's Json in STRING columns: the sink
    writes the JSON text there instead of failing on the type."""
    sink = Sink(TARGETS["bigquery"], bigquery_server.config(bigquery_dataset))
    t = PgTable("docs", [("id", Oid.INT4, -1), ("doc", Oid.JSONB, -1)])
    try:
        sink.start([t.topic])  # creates the dataset
        table = f"`{bigquery_server.project}.{bigquery_dataset}.srv_public_docs`"
        bigquery_server.client().query(f"CREATE TABLE {table} (id INT64, doc STRING)").result()
        sink.put([t.insert(0, {"id": 1, "doc": '{"a": [1, null]}'})])
        sink.put([t.update(1, {"id": 1, "doc": '{"b": "é"}'})])
        [(key, doc)] = sink.rows("srv_public_docs")
        assert (key, json.loads(doc)) == (1, {"b": "é"})
        assert sink.columns("srv_public_docs")["doc"] == "STRING"
    finally:
        sink.stop()


def test_staging_tables_are_dropped_after_each_batch(
    bigquery_server: BigQueryServer, bigquery_dataset: str
) -> None:
    sink = Sink(TARGETS["bigquery"], bigquery_server.config(bigquery_dataset))
    t = PgTable("items", [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)])
    try:
        sink.put([t.insert(0, {"id": 1, "v": "a"}), t.insert(1, {"id": 2, "v": "b"})])
        sink.put([t.delete(2, {"id": 1})])
        assert sink.rows("srv_public_items") == [(2, "b")]
    finally:
        sink.stop()
    assert _dataset_tables(bigquery_server, bigquery_dataset) == [
        "_hub_offsets",
        "_hub_table_topics",
        "srv_public_items",
    ]


def test_validate_connect_creates_and_drops_a_table(
    bigquery_server: BigQueryServer, bigquery_dataset: str
) -> None:
    config = {"topics": "t", **bigquery_server.config(bigquery_dataset)}
    checks = BigQuerySink.check(config)
    checks_pass(checks)
    assert _dataset_tables(bigquery_server, bigquery_dataset) == []  # the test table is gone


def test_an_unreachable_endpoint_is_a_clear_check_failure() -> None:
    config = {"topics": "t", **BASE, "bigquery.endpoint": "http://127.0.0.1:9",
              "bigquery.timeout.ms": 2000}  # fmt: skip
    checks = BigQuerySink.check(config)
    assert not checks[0].ok
    assert "analytics-prod.cdc" in checks[0].what + checks[0].detail


def _transactions(client: Any, before: set[str]) -> list[Any]:
    """The transaction scripts the stand-in ran since the jobs ``before``."""
    return [
        j for j in client.list_jobs()
        if j.job_id not in before and "BEGIN TRANSACTION" in (getattr(j, "query", "") or "")
    ]  # fmt: skip


def test_a_batch_over_more_topics_than_a_transaction_may_change_is_split_in_log_order(
    bigquery_server: BigQueryServer, bigquery_dataset: str
) -> None:
    """BigQuery's transaction changes at most 100 tables: a batch over more topics is written
    as several transactions (here the limit is lowered to 2), each with its offsets."""
    sink = Sink(TARGETS["bigquery"], bigquery_server.config(bigquery_dataset))
    tables = [PgTable(f"t{i}", [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)]) for i in range(5)]
    try:
        sink.start([t.topic for t in tables])
        assert sink.task is not None
        sink.task.dialect.max_tables = 2
        records = [t.insert(k, {"id": k, "v": f"{t.name}-{k}"}) for k in range(3) for t in tables]
        client = bigquery_server.client()
        before = {j.job_id for j in client.list_jobs()}
        sink.put(records)
        scripts = _transactions(client, before)
        # records in log order t0..t4 per key, two topics a transaction: 8 of them
        assert len(scripts) == 8
        for t in tables:
            assert sink.rows(f"srv_public_{t.name}") == [(k, f"{t.name}-{k}") for k in range(3)]
        offsets = sink.query('SELECT topic, next_offset FROM "_hub_offsets" ORDER BY topic')
        assert offsets == [(t.topic, 3) for t in tables]
    finally:
        sink.stop()


def test_one_topic_carrying_more_tables_than_a_transaction_may_change_is_split(
    bigquery_server: BigQueryServer, bigquery_dataset: str
) -> None:
    """With table.name.format=${source.table} one topic may carry any number of tables (a
    RegexRouter merging topics): the batch is split by the tables it changes, not by its
    topics (one transaction had changed 121 tables; BigQuery refuses more than 100)."""
    from dataclasses import replace

    config = {"table.name.format": "${source.table}"}
    sink = Sink(TARGETS["bigquery"], bigquery_server.config(bigquery_dataset), **config)
    tables = [PgTable(f"t{i}", [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)]) for i in range(5)]
    try:
        sink.start(["all"])
        assert sink.task is not None
        sink.task.dialect.max_tables = 2
        records = [
            replace(t.insert(0, {"id": k, "v": f"{t.name}-{k}"}), topic="all", offset=n)
            for n, (k, t) in enumerate((k, t) for k in range(2) for t in tables)
        ]  # fmt: skip
        client = bigquery_server.client()
        before = {j.job_id for j in client.list_jobs()}
        sink.put(records)
        scripts = _transactions(client, before)
        # t0..t4, t0..t4 in log order, two tables a transaction: 5 of them
        assert len(scripts) == 5
        for t in tables:
            assert sink.rows(t.name) == [(k, f"{t.name}-{k}") for k in range(2)]
        assert sink.query('SELECT topic, next_offset FROM "_hub_offsets"') == [("all", 10)]
    finally:
        sink.stop()


def test_created_tables_may_be_partitioned_by_a_time_column(
    bigquery_server: BigQueryServer, bigquery_dataset: str
) -> None:
    """timestampPartitionFieldName partitions the tables that have the column (the stand-in
    keeps no partitioning in its metadata: this checks the statement runs and rows land); a
    column of another type is a clear error naming the property."""
    config = {"timestampPartitionFieldName": "at", "partitioning.type": "MONTH"}
    sink = Sink(TARGETS["bigquery"], bigquery_server.config(bigquery_dataset), **config)
    t = PgTable("ev", [("id", Oid.INT4, -1), ("at", Oid.TIMESTAMPTZ, -1)])
    bad = PgTable("odd", [("id", Oid.INT4, -1), ("at", Oid.TEXT, -1)])
    try:
        sink.put([t.insert(0, {"id": 1, "at": "2024-05-06 07:08:09+00"})])
        assert [r[0] for r in sink.rows("srv_public_ev")] == [1]
        with pytest.raises(
            SinkConfigError, match="timestampPartitionFieldName.*column at is STRING"
        ):
            sink.put([bad.insert(0, {"id": 1, "at": "x"})])
    finally:
        sink.stop()


def test_a_job_that_keeps_failing_gives_up_after_bigquery_timeout_ms(
    bigquery_server: BigQueryServer, bigquery_dataset: str
) -> None:
    # (the client library wrapped the job's insertion in its own retry of 600 s whatever
    # bigquery.timeout.ms said: the batch stalled ten minutes. The emulator answers HTTP 500
    # to every job naming a column with a backtick, as BigQuery may answer 5xx or 429 for a
    # while; BigQuery itself refuses such a name at once)
    from connectors.sink.engine.errors import SinkTransientError

    sink = Sink(TARGETS["bigquery"], bigquery_server.config(bigquery_dataset),
                **{"bigquery.timeout.ms": 2000})  # fmt: skip
    t = PgTable("bt", [("id", Oid.INT4, -1), ("back`tick", Oid.TEXT, -1)])
    try:
        with pytest.raises(SinkTransientError, match=r"Timeout of 2\.0s exceeded"):
            sink.put([t.insert(0, {"id": 1, "back`tick": "x"})])
    finally:
        sink.stop()
