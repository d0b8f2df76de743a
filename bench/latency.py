"""Freshness: how long a committed change takes to become visible in the target.

    python bench/latency.py                          # 1 000 and 10 000 rows/s, both sinks
    python bench/latency.py --rates 1000 --seconds 20 --sink duckdb
    python bench/latency.py --set batch.max.wait.ms=100

A throwaway PostgreSQL (hub.demo.postgres) and a worker in this process run the PostgreSQL
source and the chosen sink with their default configs (plus ``--set``). A writer commits rows
at a steady rate (one transaction every millisecond, or one row per transaction when the rate
is lower; ``synchronous_commit=on`` in its session, PostgreSQL's default, as the throwaway
server's own ``off`` would hold each commit back from the walsender for up to 200 ms), noting
each row's commit time; a reader polls the target every 2 ms and notes
when each row appears. Latency = appearance - commit, per row; printed as p50 / p99 / max per
rate against the target (p99 <= 250 ms at 1 000 rows/s, <= 500 ms at 10 000 rows/s).

The worker shares this process with the reader (DuckDB lets another connection of the same
process read a file a writer holds, and no other process), so the figures include its share
of the GIL: they are an upper bound of what ``hub run`` gives. The writer runs in a process
of its own: in this one, a sink busy in Python held it below the rate asked.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _results  # noqa: E402
from hub.config import ConnectorSpec  # noqa: E402

TARGETS = {1000: 250.0, 10000: 500.0}  # rows/s -> p99 ms


class Writer(threading.Thread):
    def __init__(self, dsn: str, rate: int, seconds: float, first_id: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.rate, self.seconds, self.next_id = dsn, rate, seconds, first_id
        self.committed: dict[int, float] = {}

    def run(self) -> None:
        import psycopg

        tick = max(0.001, 1.0 / self.rate)
        per_tick = max(1, round(self.rate * tick))
        with psycopg.connect(self.dsn, autocommit=True) as con:
            # the throwaway server runs synchronous_commit=off (hub.demo.postgres), so its WAL
            # writer would flush a commit up to wal_writer_delay (200 ms) later, and a logical
            # walsender sends only flushed WAL: that delay is the server's, not hub's. The
            # writer's session commits as PostgreSQL does by default (fsync stays off).
            con.execute("SET synchronous_commit = on")
            start = time.perf_counter()
            n = 0
            while (now := time.perf_counter()) - start < self.seconds:
                due = start + n * tick
                if now < due:
                    time.sleep(due - now)
                first = self.next_id
                self.next_id += per_tick
                ids = range(first, self.next_id)
                # one statement a transaction: the writer keeps 10 000 rows/s while sharing
                # the GIL with the worker (executemany of 10 rows did not: ~5 000/s)
                con.execute(
                    "INSERT INTO fresh (id, payload) "
                    "SELECT g, 'x' FROM generate_series(%s::bigint, %s::bigint) g",
                    (first, self.next_id - 1),
                )
                t = time.perf_counter()
                for i in ids:
                    self.committed[i] = t
                n += 1


def _write_child(dsn: str, rate: int, seconds: float, first_id: int, conn: Any) -> None:
    writer = Writer(dsn, rate, seconds, first_id)
    writer.run()
    conn.send((writer.committed, writer.next_id))
    conn.close()


def write(dsn: str, rate: int, seconds: float, first_id: int) -> Writer:
    """A Writer run in a process of its own, so the worker's threads cannot hold it back
    from its rate through the GIL; its commit times are ``time.perf_counter()`` there, the
    system's monotonic clock as here (Linux), so they compare with the reader's."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process running threads
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_write_child, args=(dsn, rate, seconds, first_id, child))
    proc.start()
    child.close()
    writer = Writer(dsn, rate, seconds, first_id)
    writer.committed, writer.next_id = parent.recv()
    proc.join()
    return writer


class Reader(threading.Thread):
    """Polls the target for rows with ids above the last seen one."""

    def __init__(self, query: Any) -> None:
        super().__init__(daemon=True)
        self.query = query  # last id -> new ids
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        last = 0
        while not self.stop.is_set():
            try:
                ids = self.query(last)
            except Exception:  # noqa: BLE001 - the table is not created yet
                ids = []
            t = time.perf_counter()
            for i in ids:
                self.seen.setdefault(i, t)
            if ids:
                last = max(ids)
            time.sleep(0.002)


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def run(sink: str, rates: list[int], seconds: float, extra: dict[str, str], flush_ms: int) -> None:
    import psycopg

    from hub.demo.postgres import prepare_dir, start_server, stop_server
    from hub.runtime.worker import Worker

    base = Path(tempfile.mkdtemp(prefix="hub-latency-"))
    pgbase = Path(tempfile.mkdtemp(prefix="hub-latency-pg-"))  # the server's user must enter it
    prepare_dir(pgbase)
    server = start_server(pgbase)
    dsn = f"host={server.host} port={server.port} user={server.user} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("CREATE TABLE fresh (id bigint PRIMARY KEY, payload text)")
        con.execute("CREATE DATABASE target")
    source = {
        "connector.class": "postgres", "database.hostname": server.host,
        "database.port": server.port, "database.user": server.user, "database.dbname": "postgres",
        "topic.prefix": "lat", "slot.name": f"lat_{uuid.uuid4().hex[:8]}",
    }  # fmt: skip
    target: dict[str, Any] = {"topics": "lat.public.fresh", "table.name.format": "${source.table}"}
    if sink == "duckdb":
        target |= {"connector.class": "duckdb", "connection.url": f"duckdb:{base / 'w.duckdb'}"}
    else:
        target |= {"connector.class": "postgres-sink", "connection.url":
                   f"postgresql://{server.user}@{server.host}:{server.port}/target"}  # fmt: skip
    target |= extra
    worker = Worker(str(base / "data"), flush_interval_ms=flush_ms)
    readers: list[Any] = []
    reader: Reader | None = None
    try:
        worker.add(ConnectorSpec("src", source, "bench"))
        worker.add(ConnectorSpec("sink", target, "bench"))
        if sink == "duckdb":
            import duckdb

            def query(last: int) -> list[int]:
                if not readers:
                    readers.append(duckdb.connect(str(base / "w.duckdb")))
                rows = readers[0].execute("SELECT id FROM fresh WHERE id > ?", [last]).fetchall()
                return [r[0] for r in rows]
        else:
            pg = psycopg.connect(dsn.replace("dbname=postgres", "dbname=target"), autocommit=True)
            readers.append(pg)

            def query(last: int) -> list[int]:
                return [r[0] for r in pg.execute("SELECT id FROM fresh WHERE id > %s", (last,))]

        reader = Reader(query)
        reader.start()
        warm = write(dsn, 10, 1.0, 1)  # the pipeline streams before anything is measured
        deadline = time.monotonic() + 120
        while not set(warm.committed) <= set(reader.seen):
            if time.monotonic() > deadline:
                raise SystemExit(f"the {sink} sink did not catch up: {worker.status()}")
            time.sleep(0.05)
        next_id = warm.next_id
        for rate in rates:
            writer = write(dsn, rate, seconds, next_id)
            next_id = writer.next_id
            deadline = time.monotonic() + 60
            while not set(writer.committed) <= set(reader.seen) and time.monotonic() < deadline:
                time.sleep(0.05)
            lat = [(reader.seen[i] - t) * 1000 for i, t in writer.committed.items()
                   if i in reader.seen]  # fmt: skip
            missing = len(writer.committed) - len(lat)
            if not lat:
                raise SystemExit(f"none of the {len(writer.committed):,} rows written at "
                                 f"{rate:,} rows/s reached the {sink} sink in 60 s")  # fmt: skip
            p50, p99, worst = statistics.median(lat), _pct(lat, 0.99), max(lat)
            target_ms = TARGETS.get(rate)
            met = p99 <= (target_ms or 0) and not missing  # (a row never seen: not met)
            verdict = "" if target_ms is None else (
                f"  target p99 <= {target_ms:.0f} ms: {'ok' if met else 'MISSED'}"
            )  # fmt: skip
            unseen = f"  ({missing} not seen)" if missing else ""
            got = len(writer.committed) / seconds
            line = (f"  {sink:<8} {rate:>6,} rows/s (written {got:,.0f}/s)  p50 {p50:5.0f} ms  "
                    f"p99 {p99:5.0f} ms  max {worst:5.0f} ms{unseen}{verdict}")  # fmt: skip
            print(line, flush=True)
            if target_ms is not None:
                _results.record(f"freshness {sink}, {rate:,} rows/s (p99)",
                                "the target (a bound, not measured)", p99, target_ms, "ms", 1.0,
                                lower_is_better=True, valid=not missing, missing=missing,
                                p50_ms=round(p50, 1), max_ms=round(worst, 1))  # fmt: skip
    finally:
        if reader is not None:  # before its connection closes under it
            reader.stop.set()
            reader.join()
        for r in readers:
            r.close()
        worker.stop()
        stop_server(server)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(pgbase, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rates", default="1000,10000", help="rows/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=10.0, help="per rate")
    ap.add_argument("--sink", choices=["duckdb", "postgres", "both"], default="both")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a sink property, e.g. batch.max.wait.ms=100")  # fmt: skip
    ap.add_argument("--flush-ms", type=int, default=0,
                    help="the worker's log flush policy in ms: 0 (hub run's default) fsyncs "
                         "appended records at once, N > 0 every N ms")  # fmt: skip
    _results.add_json_arg(ap)
    args = ap.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    rates = [int(r) for r in args.rates.split(",") if r]
    print(f"freshness: PostgreSQL -> hub -> sink, {args.seconds:.0f} s per rate, "
          f"{os.cpu_count()} cores{', ' + str(extra) if extra else ''}")  # fmt: skip
    for sink in ["duckdb", "postgres"] if args.sink == "both" else [args.sink]:
        run(sink, rates, args.seconds, extra, args.flush_ms)
    _results.dump(args.json)


if __name__ == "__main__":
    main()
