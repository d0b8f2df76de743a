"""MariaDB -> hub -> DuckDB and PostgreSQL with the shipped configs
(configs/mysql-to-duckdb.yaml, configs/mysql-to-postgres.yaml), the worker SIGKILLed twice
while a writer keeps changing rows (mid-snapshot and mid-stream, big transactions included);
`hub verify` then finds every table equal in both targets: nothing lost, nothing twice."""

from __future__ import annotations

import os
import random
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

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parent.parent


def _write(server: MariaDBServer, db: str, stop: threading.Event, seed: int) -> None:
    rnd = random.Random(seed)
    con = pymysql.connect(unix_socket=str(server.socket), user="root", database=db,
                          autocommit=True)  # fmt: skip
    cur = con.cursor()
    next_id = 30_001
    while not stop.is_set():
        kind = rnd.random()
        if kind < 0.05:  # a big transaction: many rows events
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO orders SELECT seq, seq % 97, 'bulk', NOW(6), NULL "
                        f"FROM seq_{next_id}_to_{next_id + 1999}")  # fmt: skip
            cur.execute(f"UPDATE orders SET qty = qty + 1 WHERE id BETWEEN {next_id} AND "
                        f"{next_id + 999}")  # fmt: skip
            cur.execute("COMMIT")
            next_id += 2000
        elif kind < 0.6:
            cur.execute("INSERT INTO orders VALUES (%s, %s, %s, NOW(6), %s)",
                        (next_id, rnd.randint(1, 9), "new", rnd.choice([None, 1.25])))  # fmt: skip
            next_id += 1
        elif kind < 0.85:
            cur.execute("UPDATE orders SET qty = qty + 1, note = 'upd' WHERE id = %s",
                        (rnd.randint(1, next_id),))  # fmt: skip
        else:
            cur.execute("DELETE FROM orders WHERE id = %s", (rnd.randint(1, next_id),))
        cur.execute("INSERT INTO events (kind) VALUES (%s)", (rnd.choice("abc"),))
        time.sleep(0.002)


def test_mysql_to_duckdb_and_postgres_survive_kill_9(
    mariadb_server: MariaDBServer, mariadb_db: str, pg_server: PgServer, tmp_path: Path
) -> None:
    seed = int(os.environ.get("HUB_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    con = pymysql.connect(unix_socket=str(mariadb_server.socket), user="root",
                          database=mariadb_db, autocommit=True)  # fmt: skip
    cur = con.cursor()
    cur.execute("CREATE TABLE orders (id int PRIMARY KEY, qty int, note varchar(20), "
                "at datetime(6), price decimal(8,2))")  # fmt: skip
    cur.execute("INSERT INTO orders SELECT seq, seq % 13, 'old', '2024-01-01', seq / 7 "
                "FROM seq_1_to_30000")  # fmt: skip
    cur.execute("CREATE TABLE events (n bigint AUTO_INCREMENT PRIMARY KEY, kind char(1))")
    sink_db = f"sink_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{sink_db}"')
    env = {
        "MYSQL_HOST": mariadb_server.host, "MYSQL_PORT": str(mariadb_server.port),
        "MYSQL_USER": mariadb_server.user, "MYSQL_PASSWORD": mariadb_server.password,
        "MYSQL_DATABASE": mariadb_db, "HUB_WAREHOUSE": str(tmp_path / "w.duckdb"),
        "HUB_TARGET_URL": f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{sink_db}",
    }  # fmt: skip
    configs = [str(ROOT / "configs" / "mysql-to-duckdb.yaml"),
               str(ROOT / "configs" / "mysql-to-postgres.yaml")]  # fmt: skip
    runs = [(tmp_path / "a", configs[0]), (tmp_path / "b", configs[1])]
    for d, _ in runs:
        d.mkdir()
    stop = threading.Event()
    writer = threading.Thread(target=_write, args=(mariadb_server, mariadb_db, stop, seed))
    writer.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs = [start_hub(d, c, env) for d, c in runs]
        for _ in range(2):  # mid-snapshot at first, mid-stream later
            time.sleep(rnd.uniform(1.5, 4))
            for p in procs:
                p.send_signal(signal.SIGKILL)
                p.wait()
            procs = [start_hub(d, c, env) for d, c in runs]
        time.sleep(3)
        stop.set()
        writer.join()
        for (d, c), p in zip(runs, procs, strict=True):
            deadline = time.monotonic() + 90
            while True:
                r = subprocess.run(
                    [sys.executable, "-m", "hub", "verify", c], capture_output=True, text=True,
                    timeout=120, env={**os.environ, **env},
                )  # fmt: skip
                if r.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(2)
            assert r.returncode == 0, (
                f"seed {seed}\n{r.stdout}{r.stderr}" + (d / "worker.log").read_text()[-3000:]
            )
            assert "orders" in r.stdout and "events" in r.stdout, r.stdout
            print(r.stdout)
            stop_hub(p, d)
    finally:
        stop.set()
        for p in procs:
            reap_hub(p)
