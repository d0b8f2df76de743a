"""PostgreSQL source throughput and memory vs PostgreSQL's own tools, on one throwaway server.

    python bench/pg_source_bench.py     # 1 M stream events, a 1 M-row txn, a 5 M-row snapshot
    python bench/pg_source_bench.py --stream-rows 200000 --big-txn-rows 2e5 --snapshot-rows 1e6
    python bench/pg_source_bench.py --profile-dir /tmp/prof   # hub runs under py-spy (slower)
    python bench/pg_source_bench.py --set value.converter.schemas.enable=false  # any property
    python bench/pg_source_bench.py --kafka   # each phase also into Kafka (a Tansu broker)
    python bench/pg_source_bench.py --kafka --eos   # and again in Kafka transactions

Run on demand, not in CI. Needs PostgreSQL 15 binaries (HUB_TEST_PG_BIN), pg_recvlogical and
psql. One throwaway server is started (``fsync=off``, ``synchronous_commit=off``,
``full_page_writes=off``: the server's disk is not what is measured) and stopped at the end.

Hub always runs as its own process (``python -m hub --data-dir D run config.yaml``, default
converters: JSON with schemas), so its peak RSS (VmHWM) is its own. Its time runs from the
process start to the moment the last expected record is durable in the log (the bench polls
the topic's high watermark through a read-only Log; the writer fsyncs every 100 ms).

1. streaming: a workload of inserts, then updates, then deletes, in transactions of 1, 100,
   1 000 and 10 000 rows plus one big transaction, is written while two pgoutput slots stand
   (both created before it). Reference: ``pg_recvlogical --start -o proto_version=1 -o
   publication_names=P --endpos <end> -f /dev/null`` on one slot; hub (snapshot.mode=no_data)
   on the other. Figure: change events/s (a delete counts once; hub also writes its tombstone).
2. one transaction of --big-txn-rows inserted rows: the same two readers, plus hub's peak RSS.
3. snapshot of a --snapshot-rows table (int PK, text, numeric, timestamptz; ~100 B a row):
   ``psql -c "COPY t TO STDOUT" > /dev/null`` (best of 2) vs hub (snapshot.mode=initial_only)
   into the log; rows/s and hub's peak RSS.
4. the same table read by an incremental snapshot (an ``execute-snapshot`` signal; chunks of
   1 024 rows between watermarks, read while streaming) vs the same ``COPY``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import psycopg  # noqa: E402

from bench import _hub, _results  # noqa: E402
from bench._hub import count, ratio, rss  # noqa: E402
from tests.fixtures.postgres import PG_BIN, PG_OS_USER, start_server, stop_server  # noqa: E402

DB = "bench"
PUB = "bench_pub"
COLUMNS = "id int PRIMARY KEY, txt text NOT NULL, amount numeric(12,2), ts timestamptz"
# ~100 bytes of COPY text a row: 7-digit id, 60-char text, numeric, timestamptz
ROW_SQL = (
    "SELECT g, rpad(md5(g::text), 60, 'x'), mod(g, 100000) / 100.0, "
    "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'"
)
TARGETS = {"stream": 0.7, "big": 0.7, "snapshot": 0.5}
EXTRA: dict[str, str] = {}  # --set KEY=VALUE: connector properties for every hub run


def tool(name: str) -> str:
    p = PG_BIN / name
    return str(p) if p.exists() else (shutil.which(name) or name)


class Server:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="hub-pgbench-"))
        if os.geteuid() == 0:
            shutil.chown(self.base, user=PG_OS_USER, group=PG_OS_USER)
        self.pg = start_server(self.base, max_wal_size="'4GB'", shared_buffers="'512MB'")
        with psycopg.connect(self.pg.dsn(), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {DB}")
        self.dsn = self.pg.dsn(DB)
        self.conn = psycopg.connect(self.dsn, autocommit=True)

    def sql(self, q: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(q, params)
        return cur.fetchall() if cur.description else []

    def lsn(self) -> str:
        return str(self.sql("SELECT pg_current_wal_insert_lsn()::text")[0][0])

    def slot(self, name: str) -> None:
        self.sql("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))

    def drop_slot(self, name: str) -> None:
        for _ in range(200):  # a stopped reader's walsender may hold it for a moment
            if not self.sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s "
                            "AND active_pid IS NOT NULL", (name,)):  # fmt: skip
                break
            time.sleep(0.05)
        self.sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                 "WHERE slot_name = %s", (name,))  # fmt: skip

    def stop(self) -> None:
        self.conn.close()
        stop_server(self.pg)
        shutil.rmtree(self.base, ignore_errors=True)


# -- references --------------------------------------------------------------------------------
def recvlogical(srv: Server, slot: str, endpos: str) -> float:
    cmd = [tool("pg_recvlogical"), "-d", srv.dsn, "--slot", slot, "--start",
           "-o", "proto_version=1", "-o", f"publication_names={PUB}",
           "--endpos", endpos, "-f", "/dev/null", "--no-loop"]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def copy_out(srv: Server, table: str) -> float:
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        with open(os.devnull, "wb") as null:
            subprocess.run([tool("psql"), "-X", "-q", "-d", srv.dsn, "-c",
                            f"COPY {table} TO STDOUT"], stdout=null, check=True)  # fmt: skip
        best = min(best, time.perf_counter() - t0)
    return best


# -- hub in its own process ------------------------------------------------------------------
def run_hub(
    srv: Server, work: Path, name: str, extra: dict[str, object], topic: str, expected: int,
    profile_dir: str | None, timeout: float, kafka: str | None = None, worker_extra: str = "",
) -> tuple[float, float]:  # fmt: skip
    """Start hub on a connector config; seconds until ``expected`` records of ``topic`` are
    durable, and the process's peak RSS (MB)."""
    config = {
        "connector.class": "postgres", "database.hostname": srv.pg.host,
        "database.port": srv.pg.port, "database.user": srv.pg.user, "database.dbname": DB,
        "topic.prefix": "bench", "publication.name": PUB,
        "publication.autocreate.mode": "disabled", **extra, **EXTRA,
    }  # fmt: skip
    return _hub.run_hub(work, name, config, topic, expected, profile_dir, timeout, kafka=kafka,
                        worker_extra=worker_extra)  # fmt: skip


KAFKA: list[str] = []  # --kafka: the bootstrap servers of the Tansu broker the bench started
EOS: list[bool] = []  # --eos: each Kafka phase again with transactions


def slots(srv: Server, name: str, make: bool) -> None:
    """Create (or drop) the Kafka runs' slots: ``name``, and ``name``_eos with --eos."""
    for slot in [name, f"{name}_eos"][: 1 + len(EOS)] if KAFKA else []:
        if make:
            srv.slot(slot)
        else:
            srv.drop_slot(slot)


def on_kafka(
    srv: Server, work: Path, phase: str, label: str, extra: dict[str, object], topic: str,
    expected: int, embedded_s: float, unit: str, rows: list[str], args: argparse.Namespace,
) -> None:  # fmt: skip
    """The same phase again with hub on Kafka (log.backend: kafka), against hub on the
    embedded log in the same run."""
    if not KAFKA:
        return
    hub_s, hub_rss = run_hub(srv, work, f"{phase.replace(' ', '')}-kafka", extra, topic, expected,
                             args.profile_dir, args.timeout, kafka=KAFKA[0])  # fmt: skip
    _results.record(f"{label} -> Kafka (Tansu)", "hub -> embedded log, same run",
                    expected / hub_s, expected / embedded_s, unit, peak_rss_mb=hub_rss)  # fmt: skip
    rows.append(f"{phase:9} hub -> Kafka (Tansu)  {hub_s:7.2f} s {expected / hub_s:12,.0f} "
                f"{unit}  {embedded_s / hub_s:4.2f}x hub -> log  {rss(hub_rss)}")  # fmt: skip
    if not EOS:
        return
    # (a slot and topics of their own: the broker holds the run's before)
    eos = {**extra, "slot.name": f"{extra['slot.name']}_eos", "topic.prefix": "bencheos"}
    eos_s, eos_rss = run_hub(srv, work, f"{phase.replace(' ', '')}-eos", eos,
                             topic.replace("bench.", "bencheos.", 1), expected, args.profile_dir,
                             args.timeout, kafka=KAFKA[0],
                             worker_extra="exactly.once.source.support: enabled\n")  # fmt: skip
    _results.record(f"{label} -> Kafka (Tansu), in transactions", "hub -> Kafka without, same run",
                    expected / eos_s, expected / hub_s, unit, peak_rss_mb=eos_rss)  # fmt: skip
    rows.append(f"{phase:9} hub -> Kafka, txns    {eos_s:7.2f} s {expected / eos_s:12,.0f} "
                f"{unit}  {hub_s / eos_s:4.2f}x without  {rss(eos_rss)}")  # fmt: skip


# -- workloads -----------------------------------------------------------------------------------
def stream_workload(srv: Server, n: int) -> tuple[int, int, int, int]:
    """Inserts (50 %), then updates (30 %), then deletes (20 %) of table s, in transactions of
    1, 100, 1 000 and 10 000 rows and one big one. Returns (inserts, updates, deletes, txns)."""
    ins, upd = n // 2, n * 3 // 10
    dele = n - ins - upd
    txns = 0
    cur = srv.conn.cursor()
    # inserts: 1-row (1 %), 100-row (9 %), 10 000-row (50 %), one big transaction (the rest)
    i = 0
    plan = [(1, ins // 100), (100, ins * 9 // 100), (10_000, ins // 2)]
    for size, total in plan:
        for _ in range(total // size):
            cur.execute(f"INSERT INTO s {ROW_SQL} FROM generate_series(%s::int, %s::int) g",
                        (i + 1, i + size))  # fmt: skip
            i += size
            txns += 1
    cur.execute(f"INSERT INTO s {ROW_SQL} FROM generate_series(%s::int, %s::int) g", (i + 1, ins))
    txns += 1
    # updates of the first rows, 1 000 a transaction
    j = 0
    while j < upd:
        k = min(j + 1000, upd)
        cur.execute("UPDATE s SET amount = amount + 1, txt = upper(txt) "
                    "WHERE id > %s AND id <= %s", (j, k))  # fmt: skip
        j, txns = k, txns + 1
    # deletes of the last rows, 10 000 a transaction
    j = ins - dele
    while j < ins:
        k = min(j + 10_000, ins)
        cur.execute("DELETE FROM s WHERE id > %s AND id <= %s", (j, k))
        j, txns = k, txns + 1
    return ins, upd, dele, txns


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--stream-rows", type=count, default=1_000_000, help="change events (phase 1)")
    ap.add_argument("--big-txn-rows", type=count, default=1_000_000, help="rows of one txn (2)")
    ap.add_argument("--snapshot-rows", type=count, default=5_000_000, help="table rows (3)")
    ap.add_argument("--dir", default=None, help="where hub's data dirs go (default: /tmp)")
    ap.add_argument("--timeout", type=float, default=1800, help="per hub run, seconds")
    ap.add_argument("--profile-dir", help="run hub under py-spy, writing collapsed stacks here")
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated phases to skip: stream,big,snapshot,incremental",
    )
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a connector property for every hub run, e.g. value.converter.schemas.enable=false",
    )  # fmt: skip
    ap.add_argument(
        "--kafka",
        action="store_true",
        help="also run each phase with hub on Kafka (a Tansu broker started here)",
    )
    ap.add_argument(
        "--eos",
        action="store_true",
        help="with --kafka: each Kafka phase again with exactly.once.source.support: enabled "
        "(source tasks in transactions), against the run without",
    )
    _results.add_json_arg(ap)
    args = ap.parse_args()
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--set {item!r}: write KEY=VALUE")
        EXTRA[key] = value
    skip = set(filter(None, args.skip.split(",")))
    _hub.compile_hub()
    work = Path(tempfile.mkdtemp(prefix="hub-pgbench-work-", dir=args.dir))
    t_start = time.perf_counter()
    print(f"PostgreSQL source benchmark: {os.cpu_count()} cores, python "
          f"{sys.version.split()[0]}, {platform.platform()}")  # fmt: skip
    broker = contextlib.ExitStack()
    if args.eos:
        EOS.append(True)
    if args.kafka:
        from tests.fixtures.kafka import running_tansu

        KAFKA.append(broker.enter_context(running_tansu(work)))
        print(f"  a Tansu broker at {KAFKA[0]} for the hub -> Kafka runs")
    srv = Server()
    ver = srv.sql("SHOW server_version")[0][0]
    print(f"  PostgreSQL {ver} (throwaway: fsync=off, synchronous_commit=off, "
          f"full_page_writes=off), hub data dir under {work}")  # fmt: skip
    if args.profile_dir:
        print(f"  hub under py-spy (200 Hz): timings are inflated; profiles in {args.profile_dir}")
    rows: list[str] = []
    try:
        for t in ("s", "b", "snap"):
            srv.sql(f"CREATE TABLE {t} ({COLUMNS})")
        if "snapshot" not in skip:
            t0 = time.perf_counter()
            srv.sql(f"INSERT INTO snap {ROW_SQL} FROM generate_series(1, %s) g",
                    (args.snapshot_rows,))  # fmt: skip
            srv.sql("VACUUM ANALYZE snap")
            print(f"  loaded snap: {args.snapshot_rows:,} rows in {time.perf_counter() - t0:.1f} s")
        # (every table the connector captures: hub refuses to snapshot one the publication
        # does not publish, as its changes would never come)
        srv.sql(f"CREATE PUBLICATION {PUB} FOR TABLE s, b, snap")

        if "stream" not in skip:
            srv.slot("ref_stream")
            srv.slot("hub_stream")
            slots(srv, "kafka_stream", make=True)
            t0 = time.perf_counter()
            ins, upd, dele, txns = stream_workload(srv, args.stream_rows)
            end = srv.lsn()
            events = ins + upd + dele
            print(f"  stream workload: {ins:,} inserts, {upd:,} updates, {dele:,} deletes in "
                  f"{txns:,} txns, written in {time.perf_counter() - t0:.1f} s")  # fmt: skip
            ref = recvlogical(srv, "ref_stream", end)
            hub_s, hub_rss = run_hub(
                srv, work, "stream", {"slot.name": "hub_stream", "snapshot.mode": "no_data",
                                      "table.include.list": "public.s"},
                "bench.public.s", ins + upd + 2 * dele, args.profile_dir, args.timeout,
            )  # fmt: skip
            on_kafka(srv, work, "stream", "PostgreSQL streaming",
                     {"slot.name": "kafka_stream", "snapshot.mode": "no_data",
                      "table.include.list": "public.s"},
                     "bench.public.s", events + dele, hub_s, "events/s", rows, args)  # fmt: skip
            srv.drop_slot("ref_stream")
            srv.drop_slot("hub_stream")
            slots(srv, "kafka_stream", make=False)
            _results.record("PostgreSQL streaming -> log", "pg_recvlogical (pgoutput)",
                            events / hub_s, events / ref, "events/s", TARGETS["stream"], 100_000,
                            peak_rss_mb=hub_rss)  # fmt: skip
            rows.append(f"stream    pg_recvlogical        {ref:7.2f} s {events / ref:12,.0f} ev/s")
            rows.append(f"stream    hub -> log            {hub_s:7.2f} s {events / hub_s:12,.0f} "
                        f"ev/s  {ratio(events / hub_s, events / ref, TARGETS['stream'], 100_000)}"
                        f"  {rss(hub_rss)}")  # fmt: skip

        if "big" not in skip:
            n = args.big_txn_rows
            srv.slot("ref_big")
            srv.slot("hub_big")
            slots(srv, "kafka_big", make=True)
            srv.sql(f"INSERT INTO b {ROW_SQL} FROM generate_series(1, %s) g", (n,))
            end = srv.lsn()
            ref = recvlogical(srv, "ref_big", end)
            hub_s, hub_rss = run_hub(
                srv, work, "big", {"slot.name": "hub_big", "snapshot.mode": "no_data",
                                   "table.include.list": "public.b"},
                "bench.public.b", n, args.profile_dir, args.timeout,
            )  # fmt: skip
            on_kafka(srv, work, "1 txn", "PostgreSQL one big transaction",
                     {"slot.name": "kafka_big", "snapshot.mode": "no_data",
                      "table.include.list": "public.b"},
                     "bench.public.b", n, hub_s, "events/s", rows, args)  # fmt: skip
            srv.drop_slot("ref_big")
            srv.drop_slot("hub_big")
            slots(srv, "kafka_big", make=False)
            _results.record("PostgreSQL one big transaction -> log", "pg_recvlogical (pgoutput)",
                            n / hub_s, n / ref, "events/s", TARGETS["big"], 100_000,
                            peak_rss_mb=hub_rss)  # fmt: skip
            rows.append(f"1 txn     pg_recvlogical        {ref:7.2f} s {n / ref:12,.0f} ev/s")
            rows.append(f"1 txn     hub -> log            {hub_s:7.2f} s {n / hub_s:12,.0f} "
                        f"ev/s  {ratio(n / hub_s, n / ref, TARGETS['big'], 100_000)}"
                        f"  {rss(hub_rss)}")  # fmt: skip

        if "snapshot" not in skip:
            n = args.snapshot_rows
            ref = copy_out(srv, "snap")
            hub_s, hub_rss = run_hub(
                srv, work, "snapshot", {"slot.name": "hub_snap", "snapshot.mode": "initial_only",
                                        "table.include.list": "public.snap",
                                        "slot.drop.on.stop": "true"},
                "bench.public.snap", n, args.profile_dir, args.timeout,
            )  # fmt: skip
            _results.record(
                "PostgreSQL snapshot -> log", "psql COPY TO STDOUT", n / hub_s, n / ref,
                "rows/s", TARGETS["snapshot"], peak_rss_mb=hub_rss,
            )  # fmt: skip
            rows.append(f"snapshot  psql COPY TO STDOUT   {ref:7.2f} s {n / ref:12,.0f} rows/s")
            rows.append(f"snapshot  hub -> log            {hub_s:7.2f} s {n / hub_s:12,.0f} "
                        f"rows/s {ratio(n / hub_s, n / ref, TARGETS['snapshot'])}"
                        f"  {rss(hub_rss)}")  # fmt: skip
            on_kafka(srv, work, "snapshot", "PostgreSQL snapshot",
                     {"slot.name": "kafka_snap", "snapshot.mode": "initial_only",
                      "table.include.list": "public.snap", "slot.drop.on.stop": "true"},
                     "bench.public.snap", n, hub_s, "rows/s", rows, args)  # fmt: skip

        if "snapshot" not in skip and "incremental" not in skip:
            # the same table read by an incremental snapshot (signal table, chunks of the
            # default 1 024 rows between watermarks) while hub streams: the signal is in the
            # slot's WAL before hub starts, so its time runs from the process start too
            n = args.snapshot_rows
            ref = copy_out(srv, "snap")
            srv.sql("CREATE TABLE signals (id text PRIMARY KEY, type text NOT NULL, data text)")
            srv.sql(f"CREATE PUBLICATION {PUB}_inc FOR TABLE snap, signals")
            srv.slot("hub_inc")
            srv.sql("INSERT INTO signals VALUES ('s1', 'execute-snapshot', "
                    "'{\"data-collections\": [\"public.snap\"]}')")  # fmt: skip
            hub_s, hub_rss = run_hub(
                srv, work, "incremental", {
                    "slot.name": "hub_inc", "snapshot.mode": "no_data",
                    "publication.name": f"{PUB}_inc", "table.include.list": "public.snap",
                    "signal.data.collection": "public.signals",
                },
                "bench.public.snap", n, args.profile_dir, args.timeout,
            )  # fmt: skip
            srv.drop_slot("hub_inc")
            _results.record("PostgreSQL incremental snapshot -> log", "psql COPY TO STDOUT",
                            n / hub_s, n / ref, "rows/s", peak_rss_mb=hub_rss)  # fmt: skip
            rows.append(f"incr.     psql COPY TO STDOUT   {ref:7.2f} s {n / ref:12,.0f} rows/s")
            rows.append(f"incr.     hub -> log            {hub_s:7.2f} s {n / hub_s:12,.0f} "
                        f"rows/s {hub_s / ref:5.1f}x COPY's time  {rss(hub_rss)}")  # fmt: skip
    finally:
        srv.stop()
        broker.close()
        shutil.rmtree(work, ignore_errors=True)
    print(
        "results (hub: python -m hub run, default JSON converters with schemas; time from "
        "process start to the last record durable):"
    )
    for r in rows:
        print("  " + r)
    print(
        "  targets: stream >= 0.7x pg_recvlogical and >= 100,000 ev/s; snapshot >= 0.5x "
        "COPY; hub peak RSS < 400 MB"
    )
    print(f"  total bench time {time.perf_counter() - t_start:.0f} s")
    _results.dump(args.json)


if __name__ == "__main__":
    main()
