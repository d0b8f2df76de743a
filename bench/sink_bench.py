"""Sink throughput: N change events applied by the sink vs a plain bulk load of the final rows.

    python bench/sink_bench.py                       # DuckDB and PostgreSQL, 1 M events
    python bench/sink_bench.py --target duckdb --events 200000 --keys 20000

Events: Debezium envelopes exactly as the PostgreSQL source emits them (its TypeMapper's
schemas, 6 columns: int4 key, text, numeric(12,2), int8, timestamp(6), bool): one insert per
key, then updates of random keys (a few deletes + tombstones), encoded to JSON with schemas,
handed to the task a batch at a time as the sink runner hands them: ``put_encoded`` first (a
sink's own path for records still encoded: DuckDB's parses the JSON in DuckDB), else decoded
by the runtime's JsonConverter (``to_values``) and ``put``. The figure is events / (decoding +
``put``): what the runner's thread spends on them; ``put`` alone is printed too. DuckDB runs
both paths (``--duckdb-path``), and each table is compared with the reference's, row by row.

Reference, measured in the same run into the same kind of target: a plain bulk load of the
final rows (one row per live key) into an empty table with the same primary key — DuckDB: an
Arrow table built from the Python values and ``INSERT … SELECT``; PostgreSQL: ``COPY`` through
psycopg. Ratio = sink events/s ÷ reference rows/s (≥ 0.5 is the target). Peak RSS is the
process's maximum resident set (``ru_maxrss``), printed after each phase.

PostgreSQL: a throwaway server is started (hub.demo.postgres) unless --dsn is given.

``--statements default`` applies the batches with the engine's default statements (one
``MERGE`` per table and batch, see connectors/sink/engine/merge.py) instead of the dialect's
own (``INSERT … ON CONFLICT`` + ``DELETE … USING``); ``both`` runs each in turn.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _results  # noqa: E402
from connectors.source.postgres.types import Oid, TypeMapper  # noqa: E402
from hub.log import TopicPartition  # noqa: E402
from hub.log.record import Record  # noqa: E402
from hub.runtime.api import EncodedSinkRecords, SinkRecord, SinkTaskContext  # noqa: E402
from hub.runtime.converters import JsonConverter, dumps  # noqa: E402

TOPIC = "bench.public.accounts"
COLUMNS = [("id", Oid.INT4, -1), ("owner", Oid.TEXT, -1),
           ("balance", Oid.NUMERIC, (12 << 16) + 2 + 4), ("ops", Oid.INT8, -1),
           ("updated", Oid.TIMESTAMP, -1), ("active", Oid.BOOL, -1)]  # fmt: skip
MAPPER = TypeMapper()
STATEMENTS = "own"  # or "default": the engine's MERGE (--statements)
NATIVE = [True, False]  # DuckDB: its own path for encoded events, the engine's (--duckdb-path)
CONVERTERS = [MAPPER.converter(oid, tm) for _, oid, tm in COLUMNS]


def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    fields = [{**MAPPER.schema(oid, tm, optional=c != "id"), "field": c} for c, oid, tm in COLUMNS]
    row = {"type": "struct", "optional": True, "name": f"{TOPIC}.Value", "fields": fields}
    src = {"type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source",
           "fields": [{"type": "string", "optional": False, "field": f}
                      for f in ("version", "connector", "name", "db", "schema", "table")]
           + [{"type": "int64", "optional": True, "field": f}
              for f in ("ts_ms", "txId", "lsn")]}  # fmt: skip
    value = {"type": "struct", "optional": False, "name": f"{TOPIC}.Envelope", "version": 2,
             "fields": [{**row, "field": "before"}, {**row, "field": "after"},
                        {**src, "field": "source"},
                        {"type": "string", "optional": False, "field": "op"},
                        {"type": "int64", "optional": True, "field": "ts_ms"}]}  # fmt: skip
    key = {"type": "struct", "optional": False, "name": f"{TOPIC}.Key", "fields": fields[:1]}
    return key, value


def _row(k: int, i: int) -> dict[str, Any]:
    text = [str(k), f"owner-{k}-{i % 97}", f"{(k * 31 + i) % 10**9}.{i % 100:02d}", str(i),
            f"2026-11-25 10:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 10**6:06d}",
            "t" if i % 3 else "f"]  # fmt: skip
    pairs = zip(COLUMNS, CONVERTERS, text, strict=True)
    return {c: conv(t.encode()) for (c, _, _), conv, t in pairs}


def events(n: int, keys: int, seed: int = 1) -> Any:
    """(op, key, row) for n events: inserts of every key first, then updates (2% deletes)."""
    rnd = random.Random(seed)
    live: set[int] = set()
    for i in range(n):
        k = i if i < keys else rnd.randrange(keys)
        if k in live and i >= keys and rnd.random() < 0.01:
            live.discard(k)
            yield "d", k, None
            yield "tomb", k, None
            continue
        yield ("u" if k in live else "c"), k, _row(k, i)
        live.add(k)


def batches(n: int, keys: int, size: int) -> Any:
    """Lists of log records (JSON bytes with schemas, as the PostgreSQL source writes them)."""
    key_schema, value_schema = _schemas()
    raw: list[Record] = []
    src = {"version": "3.0", "connector": "postgresql", "name": "bench", "db": "db",
           "schema": "public", "table": "accounts", "ts_ms": 0, "txId": 1, "lsn": 0}  # fmt: skip
    for off, (op, k, row) in enumerate(events(n, keys)):
        kb = dumps({"schema": key_schema, "payload": {"id": k}})
        if op == "tomb":
            vb = None
        else:
            before = {**_row(k, 0), "id": k} if op == "d" else None
            env = {"before": before, "after": row, "source": src, "op": op, "ts_ms": off}
            vb = dumps({"schema": value_schema, "payload": env})
        raw.append(Record(TOPIC, 0, off, 0, kb, vb, ()))
        if len(raw) == size:
            yield raw
            raw = []
    if raw:
        yield raw


def _decode(convs: tuple[JsonConverter, JsonConverter], raw: list[Record]) -> list[SinkRecord]:
    """A batch decoded as the sink runner decodes it (one call per converter)."""
    keys, kss = convs[0].to_values([r.key for r in raw])
    values, vss = convs[1].to_values([r.value for r in raw])
    rows = zip(raw, keys, values, kss, vss, strict=True)
    return [SinkRecord(TOPIC, 0, r.offset, 0, k, v, (), ks, vs) for r, k, v, ks, vs in rows]


def final_rows(n: int, keys: int) -> list[dict[str, Any]]:
    state: dict[int, dict[str, Any]] = {}
    for op, k, row in events(n, keys):
        if op in ("c", "u"):
            assert row is not None
            state[k] = row
        else:
            state.pop(k, None)
    return [state[k] for k in sorted(state)]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sink(task_cls: Any, url: str, n: int, keys: int, size: int, extra: dict[str, Any]) -> Any:
    """The batches through the task as the sink runner hands them over: `put_encoded` first
    (a sink's own path for encoded records, when it has one), else decoded and `put`."""
    task = task_cls()
    if STATEMENTS == "default":
        from connectors.sink.engine.dialect import default_statements

        make = task.make_dialect
        task.make_dialect = lambda cfg: default_statements(make(cfg))
    task.start({"connection.url": url, **extra}, SinkTaskContext("bench", 0))
    task.open({TopicPartition(TOPIC, 0)})
    convs = JsonConverter(True), JsonConverter(True)  # key and value, as the runner has
    put_s = decode_s = 0.0
    for batch in batches(n, keys, size):
        t0 = time.perf_counter()
        if task.put_encoded(EncodedSinkRecords(batch, *convs)):
            put_s += time.perf_counter() - t0
            continue
        t1 = time.perf_counter()
        records = _decode(convs, batch)
        t2 = time.perf_counter()
        task.put(records)
        task.flush({})
        put_s += time.perf_counter() - t2 + (t1 - t0)
        decode_s += t2 - t1
    return task, put_s, decode_s


def bench_duckdb(base: str, n: int, keys: int, size: int) -> None:
    import duckdb
    import pyarrow as pa

    from connectors.sink.duckdb import DuckDBSinkTask
    from connectors.sink.duckdb.types import arrow_array
    from connectors.sink.engine.types import columns_of

    for name in ("ref.duckdb", "ref.duckdb.wal", "sink.duckdb", "sink.duckdb.wal"):
        if os.path.exists(os.path.join(base, name)):  # a run before, --statements both
            os.remove(os.path.join(base, name))
    rows = final_rows(n, keys)
    cols = columns_of(_schemas()[1]["fields"][1])
    ref_path = os.path.join(base, "ref.duckdb")
    con = duckdb.connect(ref_path)
    con.execute(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner VARCHAR, "
        "balance DECIMAL(12,2), ops BIGINT, updated TIMESTAMP, active BOOLEAN)"
    )
    t0 = time.perf_counter()
    arrays = []
    for c in cols:
        vals = [r[c.name] for r in rows]
        if c.convert is not None:
            vals = [None if v is None else c.convert(v) for v in vals]
        arrays.append(arrow_array(c.type, vals))
    table = pa.Table.from_arrays(arrays, names=[c.name for c in cols])
    con.register("src", table)
    con.execute("INSERT INTO accounts SELECT * FROM src")
    ref = time.perf_counter() - t0
    con.close()
    for native in NATIVE:
        sink = os.path.join(base, "sink.duckdb")
        for f in (sink, sink + ".wal"):
            if os.path.exists(f):
                os.remove(f)
        # the runner feeds batches back to back; here making them pauses in between, which
        # must not count as idle time (closing and reopening the file is a separate cost)
        extra = {"duckdb.idle.release.ms": 600_000, "duckdb.native.apply": native}
        task, put_s, decode_s = run_sink(DuckDBSinkTask, f"duckdb://{sink}", n, keys, size, extra)
        task.stop()
        con = duckdb.connect(sink, read_only=True)
        con.execute(f"ATTACH '{ref_path}' AS ref (READ_ONLY)")
        got = con.execute('SELECT count(*) FROM "bench_public_accounts"').fetchone()
        differ = con.execute(
            'SELECT count(*) FROM ((SELECT * FROM "bench_public_accounts" EXCEPT ALL '
            "SELECT * FROM ref.accounts) UNION ALL (SELECT * FROM ref.accounts EXCEPT ALL "
            'SELECT * FROM "bench_public_accounts"))'
        ).fetchone()
        con.close()
        assert got is not None and got[0] == len(rows), (got, len(rows))
        assert differ == (0,), f"{differ[0] if differ else '?'} rows differ from the reference"
        path = " (DuckDB parses the JSON)" if native else " (the engine's Python path)"
        report(f"DuckDB{_label()}{path if len(NATIVE) > 1 else ''}", n, len(rows), ref, put_s,
               decode_s)  # fmt: skip


def _native(t: Any, v: Any) -> Any:
    """A canonical value as the Python object psycopg binds (this table's kinds)."""
    import datetime as dt

    from connectors.sink.engine.types import DECIMAL, TIMESTAMP, decimal_value

    if v is None:
        return None
    if t.kind == TIMESTAMP:
        return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=v)
    if t.kind == DECIMAL:
        return decimal_value(t, v)
    return v


def bench_postgres(dsn: str | None, base: str, n: int, keys: int, size: int) -> None:
    import psycopg

    from connectors.sink.engine.types import columns_of
    from connectors.sink.postgres import PostgresSinkTask

    server = None
    if dsn is None:
        from pathlib import Path

        from hub.demo.postgres import prepare_dir, start_server, stop_server

        pgbase = Path(tempfile.mkdtemp(prefix="hub-sink-bench-pg-"))
        prepare_dir(pgbase)
        server = start_server(pgbase)
        dsn = f"postgresql://{server.user}@{server.host}:{server.port}/postgres"
    try:
        rows = final_rows(n, keys)
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute("DROP TABLE IF EXISTS accounts_ref")
            con.execute(
                "CREATE TABLE accounts_ref (id integer PRIMARY KEY, owner text, "
                "balance numeric(12,2), ops bigint, updated timestamp, active boolean)"
            )
            t0 = time.perf_counter()
            cols = columns_of(_schemas()[1]["fields"][1])
            with (
                con.transaction(),
                con.cursor() as cur,
                cur.copy("COPY accounts_ref FROM STDIN") as cp,
            ):
                for r in rows:
                    cp.write_row([_native(c.type, c.convert(r[c.name]) if c.convert else
                                          r[c.name]) for c in cols])  # fmt: skip
            ref = time.perf_counter() - t0
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute('DROP TABLE IF EXISTS "bench_public_accounts", "_hub_offsets"')
        task, put_s, decode_s = run_sink(PostgresSinkTask, dsn, n, keys, size, {})
        task.stop()
        with psycopg.connect(dsn) as con:
            got = con.execute('SELECT count(*) FROM "bench_public_accounts"').fetchone()
        assert got is not None and got[0] == len(rows), (got, len(rows))
        report(f"PostgreSQL{_label()}", n, len(rows), ref, put_s, decode_s)
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(pgbase, ignore_errors=True)  # (the server's data: 254 MB at 1 M events)


def _label() -> str:
    return " (default MERGE)" if STATEMENTS == "default" else ""


def report(target: str, n: int, rows: int, ref: float, put_s: float, decode_s: float) -> None:
    ref_rate, ev_rate = rows / ref, n / (put_s + decode_s)
    print(
        f"{target}: bulk load of {rows:,} final rows {ref:.2f} s = {ref_rate:,.0f} rows/s | "
        f"sink {n:,} events in {decode_s:.2f} s decoding + {put_s:.2f} s put = "
        f"{ev_rate:,.0f} events/s ({n / put_s:,.0f} put alone) | ratio "
        f"{ev_rate / ref_rate:.2f} ({n / put_s / ref_rate:.2f} put alone) | peak RSS "
        f"{rss_mb():.0f} MB",
        flush=True,
    )
    reference = "bulk load of the final rows" + (" (COPY)" if "PostgreSQL" in target else "")
    # (the target, >= 0.5x with decoding, is of each sink's default path: none for DuckDB's
    # engine path, duckdb.native.apply=false)
    engine = "engine's Python path" in target
    _results.record(f"sink into {target} (decoding included)", reference, ev_rate, ref_rate,
                    "events/s vs rows/s", None if engine else 0.5,
                    decode_seconds=round(decode_s, 2), put_events_per_s=round(n / put_s),
                    peak_rss_mb=round(rss_mb()))  # fmt: skip


def main() -> None:
    from hub.runtime import _gc

    _gc.tune()  # as a worker does when it starts (HUB_GC_TUNE=0: Python's defaults)
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--target", choices=["duckdb", "postgres", "both"], default="both")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--dsn", default=None, help="an existing PostgreSQL (default: throwaway)")
    ap.add_argument(
        "--statements",
        choices=["own", "default", "both"],
        default="own",
        help="the dialect's own statements, the engine's default MERGE, or both",
    )
    ap.add_argument(
        "--duckdb-path",
        choices=["native", "engine", "both"],
        default="both",
        help="DuckDB: its own path for encoded change events (duckdb.native.apply, the "
        "default), the engine's Python path, or both",
    )
    _results.add_json_arg(ap)
    args = ap.parse_args()
    global STATEMENTS, NATIVE
    NATIVE = {"native": [True], "engine": [False], "both": [True, False]}[args.duckdb_path]
    base = tempfile.mkdtemp(prefix="hub-sink-bench-")
    try:
        print(f"{args.events:,} events over {args.keys:,} keys, batch.size {args.batch_size:,}")
        kinds = ["own", "default"] if args.statements == "both" else [args.statements]
        if args.target in ("duckdb", "both"):
            for STATEMENTS in kinds:  # noqa: B007 - read by run_sink
                bench_duckdb(base, args.events, args.keys, args.batch_size)
        if args.target in ("postgres", "both"):
            for STATEMENTS in kinds:  # noqa: B007 - read by run_sink
                bench_postgres(args.dsn, base, args.events, args.keys, args.batch_size)
        _results.dump(args.json)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
