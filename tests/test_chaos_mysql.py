"""Chaos for the MySQL/MariaDB source: sysbench (oltp_write_only) and a writer of big
multi-row transactions (and of a table without a key, read last by the snapshot: a sink
appends its rows, so a row read or streamed twice stays twice; and of columns added in the
middle of a table while the binlog has no column names, binlog_row_metadata=MINIMAL, so each
restart must decode its events with the schema history replayed to its position) change a
MariaDB while hub
replicates it into DuckDB and PostgreSQL with the shipped configs
(configs/mysql-to-duckdb.yaml, configs/mysql-to-postgres.yaml); the workers are SIGKILLed
at random moments (the first during the snapshot) and the binlog connections killed on the
server. After the load stops, `hub verify` must find every table
equal in both targets: nothing lost, nothing twice. Repeat a run with the seed it prints
(``HUB_CHAOS_SEED=...``); run more kills by hand with ``HUB_CHAOS_KILLS=40``."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pymysql
import pytest

from tests.fixtures.hub_process import reap_hub, start_hub, stop_hub
from tests.fixtures.mariadb import MariaDBServer
from tests.fixtures.postgres import PgServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).parent.parent
# kills of the workers (the first during the snapshot, the others while streaming); a longer
# run by hand: HUB_CHAOS_KILLS=40
KILLS = int(os.environ.get("HUB_CHAOS_KILLS", "5"))


def _sysbench(server: MariaDBServer, db: str, *args: str) -> list[str]:
    exe = shutil.which("sysbench")
    if exe is None:  # a failure, not a skip: CI installs it (.ci/run)
        pytest.fail("sysbench is not installed (Debian: apt-get install sysbench)")
    return [exe, "oltp_write_only", "--db-driver=mysql", f"--mysql-socket={server.socket}",
            "--mysql-user=root", f"--mysql-db={db}", "--tables=4", "--table-size=25000",
            *args]  # fmt: skip


def _write(server: MariaDBServer, db: str, stop: threading.Event, seed: int) -> None:
    rnd = random.Random(seed)
    con = pymysql.connect(unix_socket=str(server.socket), user="root", database=db,
                          autocommit=True)  # fmt: skip
    cur = con.cursor()
    next_id = 30_001
    audit = 1_000
    extras: list[str] = []  # columns added while it runs, each between qty and note
    step = 0
    while not stop.is_set():
        kind = rnd.random()
        step += 1
        # DDL: the binlog has no column names (now and then while it runs: the snapshot of a
        # slow machine had outlasted three early ones, and none was streamed)
        if step % 250 == 100 and len(extras) < 8:
            extras.append(f"extra{len(extras) + 1}")
            cur.execute(f"ALTER TABLE orders ADD COLUMN {extras[-1]} int AFTER qty")
        if kind < 0.01:  # a big transaction: many rows events
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO orders (id, qty, note, at, price) SELECT seq, seq % 97, "
                        f"'bulk', NOW(6), NULL FROM seq_{next_id}_to_{next_id + 999}")  # fmt: skip
            cur.execute(f"UPDATE orders SET qty = qty + 1 WHERE id BETWEEN {next_id} AND "
                        f"{next_id + 499}")  # fmt: skip
            cur.execute("COMMIT")
            next_id += 1000
        elif kind < 0.6:
            cur.execute("INSERT INTO orders (id, qty, note, at, price) VALUES (%s, %s, %s, "
                        "NOW(6), %s)", (next_id, rnd.randint(1, 9), "new",
                                        rnd.choice([None, 1.25])))  # fmt: skip
            next_id += 1
        elif kind < 0.85:
            more = "".join(f", {c} = qty" for c in extras)
            cur.execute(f"UPDATE orders SET qty = qty + 1, note = 'upd'{more} WHERE id = %s",
                        (rnd.randint(1, next_id),))  # fmt: skip
        else:
            cur.execute("DELETE FROM orders WHERE id = %s", (rnd.randint(1, next_id),))
        cur.execute("INSERT INTO events (kind) VALUES (%s)", (rnd.choice("abc"),))
        audit += 1
        cur.execute("INSERT INTO zz_audit VALUES (%s, %s)", (rnd.choice("abc"), audit))
        if kind < 0.1:
            cur.execute("DELETE FROM zz_audit WHERE n = %s LIMIT 1", (rnd.randint(1, audit),))
        elif kind < 0.2:
            cur.execute("UPDATE zz_audit SET kind = 'u' WHERE n = %s", (rnd.randint(1, audit),))
        time.sleep(0.005)


def _caught_up(d: Path, seconds: float = 600) -> None:
    """Until the worker's last status line says its sinks hold no lag (a hub verify run while
    a DuckDB sink is still behind holds its file, and the sink, waiting for it, fell further
    behind: after kills mid-stream on a slow machine, 100 k records)."""
    deadline = time.monotonic() + seconds
    while True:
        lines = [x for x in (d / "worker.log").read_text().splitlines() if " status: " in x]
        last = lines[-1] if lines else ""
        if last and " lag " not in last.replace(" lag 0", "") and "FAILED" not in last:
            return
        assert time.monotonic() < deadline, f"the sinks never caught up: {last}"
        time.sleep(1)


def _wait_log(runs: list[tuple[Path, str]], text: str, count: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        logs = [(d / "worker.log").read_text() if (d / "worker.log").exists() else ""
                for d, _ in runs]  # fmt: skip
        if all(log.count(text) >= count for log in logs):
            return
        assert time.monotonic() < deadline, f"no {text!r} #{count} in the worker logs"
        time.sleep(0.1)


def test_chaos_mysql_to_duckdb_and_postgres(
    mariadb_server: MariaDBServer, mariadb_db: str, pg_server: PgServer, tmp_path: Path
) -> None:
    seed = int(os.environ.get("HUB_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    subprocess.run(_sysbench(mariadb_server, mariadb_db, "prepare"), check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    con = pymysql.connect(unix_socket=str(mariadb_server.socket), user="root",
                          database=mariadb_db, autocommit=True)  # fmt: skip
    cur = con.cursor()
    cur.execute("CREATE TABLE orders (id int PRIMARY KEY, qty int, note varchar(20), "
                "at datetime(6), price decimal(8,2))")  # fmt: skip
    cur.execute("INSERT INTO orders SELECT seq, seq % 13, 'old', '2024-01-01', seq / 7 "
                "FROM seq_1_to_30000")  # fmt: skip
    cur.execute("CREATE TABLE events (n bigint AUTO_INCREMENT PRIMARY KEY, kind char(1))")
    cur.execute("CREATE TABLE zz_audit (kind char(1), n int)")  # no key
    cur.execute("INSERT INTO zz_audit SELECT 'o', seq FROM seq_1_to_1000")
    sink_db = f"sink_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{sink_db}"')
    env = {
        "MYSQL_HOST": mariadb_server.host, "MYSQL_PORT": str(mariadb_server.port),
        "MYSQL_USER": mariadb_server.user, "MYSQL_PASSWORD": mariadb_server.password,
        "MYSQL_DATABASE": mariadb_db, "HUB_MYSQL_WAREHOUSE": str(tmp_path / "w.duckdb"),
        "HUB_TARGET_URL": f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{sink_db}",
    }  # fmt: skip
    # the shipped configs, but for small snapshot chunks: a snapshot of these ~130 k rows
    # in the default chunks takes ~0.2 s, too short for a kill to land in it reliably
    configs = []
    for name in ("mysql-to-duckdb.yaml", "mysql-to-postgres.yaml"):
        text = (ROOT / "configs" / name).read_text()
        line = "      connector.class: mysql"
        assert text.count(line) == 1
        text = text.replace(line, "      snapshot.fetch.size: 40\n" + line)
        (tmp_path / name).write_text(text)
        configs.append(str(tmp_path / name))
    runs = [(tmp_path / "a", configs[0]), (tmp_path / "b", configs[1])]
    for d, _ in runs:
        d.mkdir()
    stop = threading.Event()
    writer = threading.Thread(target=_write, args=(mariadb_server, mariadb_db, stop, seed))
    bench = subprocess.Popen(
        _sysbench(mariadb_server, mariadb_db, "run", "--threads=2", "--time=0",
                  f"--rand-seed={seed % 100000 + 1}", "--rate=60"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    mariadb_server.client(sql="SET GLOBAL binlog_row_metadata = 'MINIMAL'")
    writer.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs = [start_hub(d, c, env) for d, c in runs]
        for k in range(KILLS):  # the first while the snapshot runs, later mid-stream
            # each worker has started (and at first: its snapshot has begun) before the kill
            _wait_log(runs, "connector shop-mysql started", k + 1)
            if k == 0:
                _wait_log(runs, "snapshot of", 1)
            else:  # (on a slow machine the snapshot outlasted every kill: none hit a stream)
                _wait_log(runs, "streaming from", k)
            time.sleep(rnd.uniform(0.2, 0.8) if k == 0 else rnd.uniform(0.5, 3.0))
            if k == 2:  # the server drops the binlog connections
                cur.execute("SELECT id FROM information_schema.PROCESSLIST WHERE COMMAND "
                            "LIKE 'Binlog Dump%'")  # fmt: skip
                for (thread,) in cur.fetchall():
                    cur.execute(f"KILL {thread}")
            for p in procs:
                p.send_signal(signal.SIGKILL)
                p.wait()
            procs = [start_hub(d, c, env) for d, c in runs]
        time.sleep(3)
        stop.set()
        writer.join()
        bench.terminate()
        bench.wait(30)
        for (d, c), p in zip(runs, procs, strict=True):
            _caught_up(d)
            deadline = time.monotonic() + 120
            while True:
                r = subprocess.run(
                    [sys.executable, "-m", "hub", "verify", c], capture_output=True, text=True,
                    timeout=120, env={**os.environ, **env},
                )  # fmt: skip
                if r.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(2)
            log = (d / "worker.log").read_text()
            assert r.returncode == 0, f"seed {seed}\n{r.stdout}{r.stderr}" + log[-3000:]
            for table in ("orders", "events", "sbtest1", "sbtest4", "zz_audit"):
                assert f".{table} -> " in r.stdout, r.stdout
            assert "DDL in" in log, "no DDL while streaming"
            print(r.stdout)
            stop_hub(p, d)
        # a kill landed in the snapshot: it resumed from its checkpoint, or (killed before its
        # first one, as on a loaded machine) started again
        logs = (tmp_path / "a" / "worker.log").read_text() + (
            tmp_path / "b" / "worker.log"
        ).read_text()
        assert "resuming the snapshot" in logs or "restarting the snapshot" in logs, (
            "no kill landed in the snapshot"
        )
    finally:
        mariadb_server.client(sql="SET GLOBAL binlog_row_metadata = 'FULL'")
        stop.set()
        if bench.poll() is None:
            bench.kill()
        for p in procs:
            reap_hub(p)
