"""MySQL/MariaDB source throughput and memory vs MariaDB's own tools and the plain replication
library, on one throwaway MariaDB.

    python bench/mysql_source_bench.py              # 1 M row changes, a 5 M-row snapshot
    python bench/mysql_source_bench.py --quick      # 100 k changes, a 200 k-row snapshot
    python bench/mysql_source_bench.py --rows 3e5 --snapshot-rows 1e6
    python bench/mysql_source_bench.py --cprofile 200000   # + hub's paths under cProfile
    python bench/mysql_source_bench.py --set decimal.handling.mode=string  # any property

Run on demand, not in CI. Needs the MariaDB server and client binaries (mariadbd,
mariadb-install-db, mariadb, mariadb-binlog) and PyPI ``mysql-replication`` (``pip install
-e '.[bench]'``). One throwaway server is started as ``hub demo`` and the tests start theirs
(``hub.demo.mariadb``: ROW binlog, FULL row image and metadata, no fsync per commit) and
stopped at the end.

1. streaming: a binlog of --rows row changes of table s (int PK, varchar, decimal, timestamp;
   ~100 B a row): inserts (50 %) in transactions of 1, 100 and 10 000 rows plus one big
   transaction (20 % of the changes), updates (30 %, 1 000 a transaction), deletes (20 %,
   10 000 a transaction), in a binlog file of its own. Then, one after the other, over the
   same binlog, each from the file and position where it starts:

   a. reference: ``mariadb-binlog --read-from-remote-server -v --base64-output=DECODE-ROWS``
      to /dev/null (C; every row's values printed as pseudo-SQL), best of 2;
   b. plain python-mysql-replication (``BinLogStreamReader``, blocking, file/position,
      only the rows events of s): every row's values decoded; stops at the last row (its
      ``blocking=False`` can re-deliver forever after a server reset, see FACTS);
   c. hub's ChangeStream (connectors/source/mysql/stream.py) in this process: binlog to
      Debezium records' bytes as the default JSON converters write them (the C codec's
      encoded path), not written anywhere;
   d. hub end to end: ``python -m hub run`` (connector ``mariadb``, snapshot.mode=no_data,
      its offset stored at the workload's start as PATCH /connectors/<name>/offsets does,
      default JSON converters with schemas) until the last record is durable in the log.

   Figure: change events/s (a delete counts once; hub also writes its tombstone), each as a
   ratio to (a) and to (b); hub's peak RSS.
2. snapshot of a --snapshot-rows table (same columns; loaded with sql_log_bin=0; or of
   --snapshot-tables tables sharing those rows, the reference then reading each in turn):
   ``mariadb --quick -e 'SELECT * FROM snap' > /dev/null`` over TCP (best of 2) vs hub
   (snapshot.mode=initial_only) into the log; rows/s and hub's peak RSS.

Hub always runs as its own process for (d) and the snapshot, so its peak RSS (VmHWM) is its
own; its time runs from the process start to the last expected record durable.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pymysql  # noqa: E402

from bench import _hub, _results  # noqa: E402
from bench._hub import count, ratio, rss  # noqa: E402
from hub.demo.mariadb import MariaDBServer, start_server, stop_server  # noqa: E402

DB = "bench"
PREFIX = "bench"
COLUMNS = "id int PRIMARY KEY, txt varchar(64) NOT NULL, amount decimal(12,2), ts timestamp(6) NULL"
# ~100 bytes a row: id, 60-char text, decimal, timestamp with microseconds
ROW_SQL = (
    "SELECT seq, rpad(md5(seq), 60, 'x'), mod(seq, 100000) / 100, "
    "TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_{a}_to_{b}"
)
TARGETS = {"library": 5.0, "floor": 200_000, "snapshot": 0.5}
EXTRA: dict[str, str] = {}  # --set KEY=VALUE: connector properties for every hub run
SERVER = {  # a bigger buffer pool and redo log than the tests' server: the snapshot table fits
    "innodb_buffer_pool_size": "2G",
    "innodb_log_file_size": "1G",
    "max_binlog_size": "1G",
}


class Server:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="hub-mybench-"))
        self.srv: MariaDBServer = start_server(self.base, **SERVER)
        self.conn = pymysql.connect(unix_socket=str(self.srv.socket), user="root",
                                    autocommit=True)  # fmt: skip
        self.sql(f"CREATE DATABASE {DB}")
        self.sql(f"USE {DB}")

    def sql(self, q: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(q, params)
            return list(cur.fetchall()) if cur.description else []

    def position(self) -> tuple[str, int]:
        file, pos = self.sql("SHOW MASTER STATUS")[0][:2]
        return str(file), int(pos)

    def stop(self) -> None:
        self.conn.close()
        stop_server(self.srv)
        shutil.rmtree(self.base, ignore_errors=True)


def connector_config(srv: Server, server_id: int, **extra: object) -> dict[str, Any]:
    return {
        "connector.class": "mariadb", "database.hostname": srv.srv.host,
        "database.port": srv.srv.port, "database.user": srv.srv.user,
        "database.password": srv.srv.password, "database.server.id": server_id,
        "database.include.list": DB, "topic.prefix": PREFIX, **extra, **EXTRA,
    }  # fmt: skip


# -- workloads -----------------------------------------------------------------------------------
def insert(srv: Server, table: str, a: int, b: int) -> None:
    srv.sql(f"INSERT INTO {table} " + ROW_SQL.format(a=a, b=b))


def stream_workload(srv: Server, n: int) -> tuple[int, int, int, int, int]:
    """Inserts (50 %), then updates (30 %), then deletes (20 %) of table s. Returns
    (inserts, updates, deletes, transactions, rows of the big transaction)."""
    ins, upd = n // 2, n * 3 // 10
    dele = n - ins - upd
    txns = 0
    # inserts: 1-row (1 %), 100-row (9 %), 10 000-row (50 %), one big transaction (the rest)
    i = 0
    plan = [(1, ins // 100), (100, ins * 9 // 100), (10_000, ins // 2)]
    for size, total in plan:
        for _ in range(total // size):
            insert(srv, "s", i + 1, i + size)
            i += size
            txns += 1
    big = ins - i
    if big:
        insert(srv, "s", i + 1, ins)
        txns += 1
    # updates of the first rows, 1 000 a transaction
    j = 0
    while j < upd:
        k = min(j + 1000, upd)
        srv.sql("UPDATE s SET amount = amount + 1, txt = upper(txt) WHERE id > %s AND id <= %s",
                (j, k))  # fmt: skip
        j, txns = k, txns + 1
    # deletes of the last rows, 10 000 a transaction
    j = ins - dele
    while j < ins:
        k = min(j + 10_000, ins)
        srv.sql("DELETE FROM s WHERE id > %s AND id <= %s", (j, k))
        j, txns = k, txns + 1
    return ins, upd, dele, txns, big


# -- (a) mariadb-binlog, (b) the plain library, (c) hub's ChangeStream ---------------------------
def mariadb_binlog(srv: Server, file: str, pos: int) -> float:
    """``mariadb-binlog`` from ``file``:``pos`` to the end of the server's last binlog."""
    s = srv.srv
    cmd = ["mariadb-binlog", "--no-defaults", "--read-from-remote-server", "--host", s.host,
           "--port", str(s.port), "--user", s.user, f"--password={s.password}",
           "--to-last-log", f"--start-position={pos}", "-v", "--base64-output=DECODE-ROWS",
           file]  # fmt: skip
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        with open(os.devnull, "wb") as null:
            subprocess.run(cmd, stdout=null, check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def library(srv: Server, file: str, pos: int, changes: int, last_id: int) -> float:
    """python-mysql-replication over the same binlog: every row's values, until ``changes``
    rows of s came (the last must be the delete of ``last_id``)."""
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

    s = srv.srv
    t0 = time.perf_counter()
    reader = BinLogStreamReader(
        connection_settings={"host": s.host, "port": s.port, "user": s.user,
                             "passwd": s.password},
        server_id=9001, blocking=True, resume_stream=True, log_file=file, log_pos=pos,
        is_mariadb=False,  # file/position (with is_mariadb=True it starts at the beginning)
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent], only_schemas=[DB],
        only_tables=["s"],
    )  # fmt: skip
    seen, last = 0, None
    try:
        for ev in reader:
            for row in ev.rows:
                last = row["values"] if "values" in row else row["after_values"]
            seen += len(ev.rows)
            if seen >= changes:
                break
        elapsed = time.perf_counter() - t0
    finally:
        reader.close()
    if seen != changes or not isinstance(ev, DeleteRowsEvent) or last["id"] != last_id:
        raise SystemExit(f"python-mysql-replication: {seen} rows, the last {last}; expected "
                         f"{changes} ending with the delete of id {last_id}")  # fmt: skip
    return elapsed


def change_stream(srv: Server, file: str, pos: int, events: int, profile: int = 0) -> float:
    """Hub's ChangeStream over the same binlog, in this process: seconds until ``events``
    change records came (tombstones not counted); ``profile``: stop after that many, under
    cProfile, and print the top functions."""
    from connectors.source.cdc.filters import Filters
    from connectors.source.mysql.config import MySqlSourceConfig
    from connectors.source.mysql.stream import ChangeStream
    from connectors.source.mysql.types import TypeMapper
    from hub.runtime.api import EncodedBatch

    cfg = MySqlSourceConfig.of(connector_config(srv, 9002 + bool(profile), **{
        "table.include.list": f"{DB}.s", "snapshot.mode": "no_data"}))  # fmt: skip
    mapper = TypeMapper(cfg.decimal_handling_mode, cfg.time_precision_mode,
                        cfg.binary_handling_mode, cfg.bigint_unsigned_handling_mode)  # fmt: skip
    want = min(profile, events) if profile else events
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    # the encoded path, as `hub run` takes it with its default JSON converters
    stream = ChangeStream(cfg, "mariadb", Filters.from_config(cfg), mapper, {"server": PREFIX},
                          {"file": file, "pos": pos}, mariadb=True,
                          json_encoding=(True, True))  # fmt: skip
    stream.open()
    seen = 0
    try:
        while seen < want:
            for r in stream.poll(cfg.max_batch_size, 1.0):
                if isinstance(r, EncodedBatch) and r.packed is not None:
                    seen += len(r.packed)
                elif isinstance(r, EncodedBatch):
                    seen += sum(v is not None for v in r.values)
                elif r.topic and r.value is not None:
                    seen += 1
        elapsed = time.perf_counter() - t0
    finally:
        if prof:
            prof.disable()
        stream.close()
    if prof:
        print_profile(prof, f"ChangeStream over {seen:,} change events")
    return elapsed


def snapshot_profile(srv: Server, n: int) -> None:
    """Hub's snapshot task in this process under cProfile until ``n`` rows came; prints the
    top functions."""
    from connectors.source.mysql import MariaDbSourceTask
    from hub.runtime.api import SourceTaskContext

    cfg = connector_config(srv, 9006, **{"snapshot.mode": "initial_only",
                                         "table.include.list": f"{DB}.snap"})  # fmt: skip
    task = MariaDbSourceTask()
    prof = cProfile.Profile()
    prof.enable()
    task.start(cfg, SourceTaskContext("snapshot-profile", 0, {}))
    seen = 0
    try:
        while seen < n:
            seen += sum(1 for r in task.poll() if r.topic)
    finally:
        prof.disable()
        task.stop()
    print_profile(prof, f"the snapshot task over {seen:,} rows")


def print_profile(prof: cProfile.Profile, what: str) -> None:
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(key).print_stats(10)
        text = out.getvalue()
        print(f"  cProfile of {what}, top 10 by {key}:")
        print(text[text.index("   ncalls") :].rstrip())


def select_out(srv: Server, table: str) -> float:
    s = srv.srv
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        with open(os.devnull, "wb") as null:
            subprocess.run(["mariadb", "--no-defaults", "--host", s.host, "--port", str(s.port),
                            "--user", s.user, f"--password={s.password}", "--quick", "-e",
                            f"SELECT * FROM {DB}.{table}"], stdout=null, check=True)  # fmt: skip
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=count, default=None, help="row changes (default 1 M)")
    ap.add_argument("--snapshot-rows", type=count, default=None, help="table rows (default 5 M)")
    ap.add_argument("--snapshot-tables", type=int, default=1,
                    help="spread the snapshot rows over this many tables (with --set "
                    "snapshot.max.threads=N: read side by side)")  # fmt: skip
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (100 k changes, 200 k snapshot rows): noisier")  # fmt: skip
    ap.add_argument("--dir", default=None, help="where hub's data dirs go (default: /tmp)")
    ap.add_argument("--timeout", type=float, default=1800, help="per hub run, seconds")
    ap.add_argument("--profile-dir", help="run hub under py-spy, writing collapsed stacks here")
    ap.add_argument("--cprofile", type=count, default=0, metavar="N",
                    help="also run hub's ChangeStream over N change events and its snapshot "
                    "task over N rows under cProfile, in this process, and print their top 10 "
                    "functions (by cumulative and own time)")  # fmt: skip
    ap.add_argument("--skip", default="",
                    help="comma-separated: binlog,library,changestream,hub,snapshot")  # fmt: skip
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a connector property for every hub run, e.g. decimal.handling.mode=string",
    )  # fmt: skip
    _results.add_json_arg(ap)
    args = ap.parse_args()
    rows = args.rows if args.rows is not None else (100_000 if args.quick else 1_000_000)
    snap_rows = args.snapshot_rows if args.snapshot_rows is not None else (
        200_000 if args.quick else 5_000_000
    )  # fmt: skip
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--set {item!r}: write KEY=VALUE")
        EXTRA[key] = value
    skip = set(filter(None, args.skip.split(",")))
    _hub.compile_hub()
    work = Path(tempfile.mkdtemp(prefix="hub-mybench-work-", dir=args.dir))
    t_start = time.perf_counter()
    print(f"MySQL/MariaDB source benchmark: {os.cpu_count()} cores, python "
          f"{sys.version.split()[0]}, {platform.platform()}")  # fmt: skip
    srv = Server()
    ver = srv.sql("SELECT VERSION()")[0][0]
    print(f"  MariaDB {ver} (throwaway: ROW binlog, FULL row metadata, no fsync per commit), "
          f"hub data dir under {work}")  # fmt: skip
    if args.profile_dir:
        print(f"  hub under py-spy (200 Hz): timings are inflated; profiles in {args.profile_dir}")
    out: list[str] = []
    try:
        srv.sql(f"CREATE TABLE s ({COLUMNS})")
        snaps = ["snap"] if args.snapshot_tables == 1 else [
            f"snap{i}" for i in range(args.snapshot_tables)
        ]  # fmt: skip
        per_table = snap_rows // len(snaps)
        for table in snaps:
            srv.sql(f"CREATE TABLE {table} ({COLUMNS})")
        if "snapshot" not in skip:
            t0 = time.perf_counter()
            srv.sql("SET SESSION sql_log_bin = 0")  # not in the binlog the readers read
            for table in snaps:
                for a in range(1, per_table + 1, 500_000):
                    insert(srv, table, a, min(a + 499_999, per_table))
                srv.sql(f"ANALYZE TABLE {table}")
            srv.sql("SET SESSION sql_log_bin = 1")
            print(f"  loaded {', '.join(snaps)}: {per_table * len(snaps):,} rows in "
                  f"{time.perf_counter() - t0:.1f} s")  # fmt: skip

        stream_phases = {"binlog", "library", "changestream", "hub"} - skip
        if stream_phases or args.cprofile:
            srv.sql("FLUSH BINARY LOGS")  # the workload in a binlog of its own
            file, pos = srv.position()
            t0 = time.perf_counter()
            ins, upd, dele, txns, big = stream_workload(srv, rows)
            srv.sql("FLUSH BINARY LOGS")  # closed: mariadb-binlog reads to its end
            events = ins + upd + dele
            files = [r for r in srv.sql("SHOW BINARY LOGS") if str(r[0]) >= file]
            size = sum(int(r[1]) for r in files[:-1])
            print(f"  stream workload: {ins:,} inserts ({big:,} in one transaction), {upd:,} "
                  f"updates, {dele:,} deletes in {txns:,} txns, written in "
                  f"{time.perf_counter() - t0:.1f} s; binlog {size / 1e6:,.0f} MB from "
                  f"{file}:{pos}")  # fmt: skip
            ref = lib = None
            if "binlog" not in skip:
                ref = mariadb_binlog(srv, file, pos)
                out.append(f"stream    mariadb-binlog -v      {ref:7.2f} s "
                           f"{events / ref:12,.0f} ev/s")  # fmt: skip
            if "library" not in skip:
                lib = library(srv, file, pos, events, ins)
                out.append(
                    f"stream    python-mysql-repl.     {lib:7.2f} s "
                    f"{events / lib:12,.0f} ev/s" + vs(events / lib, ref, None, events)
                )
            if "changestream" not in skip:
                cs = change_stream(srv, file, pos, events)
                out.append(
                    f"stream    hub ChangeStream       {cs:7.2f} s "
                    f"{events / cs:12,.0f} ev/s" + vs(events / cs, ref, lib, events)
                )
                for name, base in (("python-mysql-replication", lib),
                                   ("mariadb-binlog -v DECODE-ROWS", ref)):  # fmt: skip
                    if base is not None:
                        _results.record("MariaDB binlog -> ChangeStream records", name,
                                        events / cs, events / base, "events/s")  # fmt: skip
            if "hub" not in skip:
                hub_s, hub_rss = _hub.run_hub(
                    work, "stream", connector_config(srv, 9004, **{
                        "snapshot.mode": "no_data", "table.include.list": f"{DB}.s"}),
                    f"{PREFIX}.{DB}.s", ins + upd + 2 * dele, args.profile_dir, args.timeout,
                    offset=({"server": PREFIX}, {"file": file, "pos": pos}),
                )  # fmt: skip
                rate = events / hub_s
                out.append(
                    f"stream    hub -> log             {hub_s:7.2f} s {rate:12,.0f} "
                    f"ev/s" + vs(rate, ref, lib, events) + f"  {rss(hub_rss)}"
                )
                if lib is not None:
                    out.append(
                        "          (target >= 5x python-mysql-replication and "
                        f">= 200,000 ev/s): {ratio(rate, events / lib, 5.0, 200_000)}"
                    )
                    _results.record("MariaDB streaming -> log", "python-mysql-replication",
                                    rate, events / lib, "events/s", TARGETS["library"],
                                    TARGETS["floor"], peak_rss_mb=hub_rss)  # fmt: skip
                if ref is not None:
                    _results.record(
                        "MariaDB streaming -> log",
                        "mariadb-binlog -v DECODE-ROWS",
                        rate,
                        events / ref,
                        "events/s",
                        peak_rss_mb=hub_rss,
                    )
            if args.cprofile:
                change_stream(srv, file, pos, events, profile=args.cprofile)

        if "snapshot" not in skip:
            n = per_table * len(snaps)
            ref = sum(select_out(srv, table) for table in snaps)
            hub_s, hub_rss = _hub.run_hub(  # (the tables come in order: the last one ends it)
                work, "snapshot", connector_config(srv, 9005, **{
                    "snapshot.mode": "initial_only",
                    "table.include.list": "|".join(f"{DB}\\.{t}" for t in snaps)}),
                f"{PREFIX}.{DB}.{snaps[-1]}", per_table, args.profile_dir, args.timeout,
            )  # fmt: skip
            _results.record(
                "MariaDB snapshot -> log",
                "mariadb --quick SELECT *",
                n / hub_s,
                n / ref,
                "rows/s",
                TARGETS["snapshot"],
                peak_rss_mb=hub_rss,
            )
            if args.cprofile:
                snapshot_profile(srv, min(args.cprofile, n))
            out.append(f"snapshot  mariadb --quick SELECT {ref:7.2f} s {n / ref:12,.0f} rows/s")
            out.append(f"snapshot  hub -> log             {hub_s:7.2f} s {n / hub_s:12,.0f} "
                       f"rows/s {ratio(n / hub_s, n / ref, TARGETS['snapshot'])}"
                       f"  {rss(hub_rss)}")  # fmt: skip
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("results (ChangeStream: in this process, encoded records written nowhere; hub: "
          "python -m hub run, default JSON converters with schemas, time from process start "
          "to the last record durable):")  # fmt: skip
    for line in out:
        print("  " + line)
    print("  targets: hub >= 200,000 ev/s and >= 5x python-mysql-replication; snapshot >= 0.5x "
          "mariadb --quick SELECT; hub peak RSS < 400 MB")  # fmt: skip
    print(f"  total bench time {time.perf_counter() - t_start:.0f} s")
    _results.dump(args.json)


def vs(rate: float, ref: float | None, lib: float | None, events: int) -> str:
    """`` 0.12x mariadb-binlog, 4.00x library`` for the references measured."""
    parts = []
    if ref is not None:
        parts.append(f"{rate / (events / ref):5.2f}x mariadb-binlog")
    if lib is not None:
        parts.append(f"{rate / (events / lib):5.2f}x library")
    return ("  " + ", ".join(parts)) if parts else ""


if __name__ == "__main__":
    main()
