"""Warehouse sinks on their local stand-ins, beside the DuckDB sink in the same run: N change
events (the sink benchmark's: Debezium envelopes of a 6-column table, inserts then updates and
a few deletes) applied by the Snowflake sink into fakesnow's server, by the BigQuery sink
into bqemulator and by the Redshift sink into its stand-in (PostgreSQL behind Redshift's
protocol, staging through moto's S3), batch by batch as the runner hands them over.

    python bench/warehouse_bench.py                      # 100 000 events over 20 000 keys
    python bench/warehouse_bench.py --events 1000000 --keys 1000000 --target bigquery

Reference: the DuckDB sink taking the same events into a local file. Ratio = the warehouse
sink's events/s ÷ the DuckDB sink's. The stand-ins are DuckDB (Snowflake, BigQuery) or
PostgreSQL (Redshift) behind each service's protocol, on this machine: the figures say what
hub's own side costs (Parquet staging, loads, the protocol round trips, the transaction), not
how fast Snowflake, BigQuery or Redshift are. Peak RSS is the process's maximum resident set
after each target, warehouses first (memory is bounded by the batch, not by the table). The
stand-ins are started as the tests start them (tests/fixtures/), bqemulator from its own
virtual environment (made once per machine), Redshift's on a throwaway PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _results  # noqa: E402
from bench.sink_bench import TOPIC, _decode, batches, events, rss_mb  # noqa: E402
from hub.log import TopicPartition  # noqa: E402
from hub.runtime.api import SinkTaskContext  # noqa: E402
from hub.runtime.converters import JsonConverter  # noqa: E402


def run(task_cls: Any, config: dict[str, Any], n: int, keys: int, size: int) -> tuple[Any, float]:
    task = task_cls()
    task.start(config, SinkTaskContext("bench", 0))
    task.open({TopicPartition(TOPIC, 0)})
    put_s = 0.0
    convs = (JsonConverter(True), JsonConverter(True))
    for raw in batches(n, keys, size):
        batch = _decode(convs, raw)  # (as the sink runner decodes it; outside the timing)
        t0 = time.perf_counter()
        task.put(batch)
        task.flush({})
        put_s += time.perf_counter() - t0
    return task, put_s


def count(task: Any) -> int:
    d = task.dialect
    d.begin()
    try:
        from connectors.sink.engine.naming import TableRef

        return int(
            d.query(
                f"SELECT count(*) FROM {d.table_name(TableRef(None, 'bench_public_accounts'))}"
            )[0][0]
        )
    finally:
        d.rollback()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--target", choices=["snowflake", "bigquery", "redshift", "all"], default="all")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=20_000)
    ap.add_argument("--batch-size", type=int, default=10_000)
    _results.add_json_arg(ap)
    args = ap.parse_args()
    n, keys, size = args.events, args.keys, args.batch_size
    alive: set[int] = set()
    for op, k, _ in events(n, keys):  # the keys alive at the end (rows are not kept)
        (alive.discard if op in ("d", "tomb") else alive.add)(k)
    live = len(alive)
    del alive
    base = Path(tempfile.mkdtemp(prefix="hub-warehouse-bench-"))
    print(f"{n:,} events over {keys:,} keys ({live:,} rows at the end), batch.size {size:,}")

    def measure(label: str, task_cls: Any, config: dict[str, Any]) -> None:
        task, put_s = run(task_cls, config, n, keys, size)
        got = count(task)
        task.stop()
        assert got == live, (got, live)
        rate = n / put_s
        print(f"{label}: {put_s:.2f} s = {rate:,.0f} events/s | peak RSS {rss_mb():.0f} MB",
              flush=True)  # fmt: skip
        results.append((label, rate))

    results: list[tuple[str, float]] = []

    if args.target in ("snowflake", "all"):
        from connectors.sink.snowflake import SnowflakeSinkTask
        from tests.fixtures.snowflake import running_fakesnow

        (base / "fakesnow").mkdir()
        with running_fakesnow(base / "fakesnow") as sf:
            measure("Snowflake (fakesnow stand-in)", SnowflakeSinkTask, sf.config("BENCH"))
    if args.target in ("bigquery", "all"):
        from connectors.sink.bigquery import BigQuerySinkTask
        from tests.fixtures.bigquery import running_bqemulator

        (base / "bq").mkdir()
        with running_bqemulator(base / "bq") as bq:
            measure("BigQuery (bqemulator stand-in)", BigQuerySinkTask, bq.config("bench"))
    if args.target in ("redshift", "all"):
        from connectors.sink.redshift import RedshiftSinkTask
        from hub.demo.postgres import prepare_dir, start_server, stop_server
        from tests.fixtures.redshift import running_redshift

        pgbase = Path(tempfile.mkdtemp(prefix="hub-warehouse-pg-"))  # the server's user enters it
        prepare_dir(pgbase)
        (base / "rs").mkdir()
        pg = start_server(pgbase)
        try:
            with running_redshift(base / "rs", pg) as rs:
                for staging in ("s3", "insert"):
                    measure(f"Redshift (stand-in, {staging} staging)", RedshiftSinkTask,
                            rs.config(f"bench_{staging}", staging))  # fmt: skip
        finally:
            stop_server(pg)
            shutil.rmtree(pgbase, ignore_errors=True)
    from connectors.sink.duckdb import DuckDBSinkTask

    duck = {"connection.url": f"duckdb://{base / 'sink.duckdb'}", "duckdb.idle.release.ms": 600_000}
    # the reference last: DuckDB's memory stays in the process and would hide the
    # warehouse sinks' peak RSS
    task, ref_s = run(DuckDBSinkTask, duck, n, keys, size)
    assert count(task) == live
    task.stop()
    ref_rate = n / ref_s
    print(f"DuckDB sink: {ref_s:.2f} s = {ref_rate:,.0f} events/s | peak RSS {rss_mb():.0f} MB")

    for label, rate in results:
        print(f"{label}: ratio to the DuckDB sink {rate / ref_rate:.2f}")
        _results.record(f"sink into {label}", "the DuckDB sink, same events (its put path)",
                        rate, ref_rate, "events/s")  # fmt: skip
    _results.dump(args.json)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
