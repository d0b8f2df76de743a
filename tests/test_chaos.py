"""Chaos: pgbench writes while hub replicates PostgreSQL into DuckDB and a PostgreSQL sink;
the worker is SIGKILLed at random moments (the first during the snapshot), the source server
is restarted with ``-m immediate``, the sink server is down for 20 s. After the load stops,
``hub verify`` must find every table equal. Bounded to about a minute in CI; run it longer by
hand with ``HUB_CHAOS_SECONDS=600``, and repeat a run with the seed it prints
(``HUB_CHAOS_SEED=...``)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fixtures.hub_process import reap_hub, start_hub, stop_hub
from tests.fixtures.postgres import PG_BIN, PgServer, pg_ctl, start_server, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECONDS = float(os.environ.get("HUB_CHAOS_SECONDS", "40"))
KILLS = 5


def _verify(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "verify", str(config)], capture_output=True, text=True,
        timeout=300, env={k: v for k, v in os.environ.items() if k != "HUB_DATA_DIR"},
    )  # fmt: skip


def _config(tmp_path: Path, source: PgServer, db: str, sink: PgServer) -> Path:
    src: dict[str, Any] = {
        "connector.class": "postgres", "database.hostname": source.host,
        "database.port": source.port, "database.user": source.user, "database.dbname": db,
        "topic.prefix": "bench", "slot.name": f"chaos_{uuid.uuid4().hex[:8]}",
        "snapshot.fetch.size": 2000,
    }  # fmt: skip
    common = {"topics.regex": r"bench\.public\..*", "table.name.format": "${source.table}"}
    sinks = [
        {"name": "duck", "config": {
            "connector.class": "duckdb", **common,
            "connection.url": f"duckdb:{tmp_path / 'w.duckdb'}",
        }},
        {"name": "pgsink", "config": {
            "connector.class": "postgres-sink", **common,
            "connection.url": f"postgresql://{sink.user}@{sink.host}:{sink.port}/postgres",
            "errors.retry.timeout": -1,
        }},
    ]  # fmt: skip
    path = tmp_path / "chaos.yaml"
    path.write_text(json.dumps({"connectors": [{"name": "src", "config": src}, *sinks]}))
    return path


def test_kills_restarts_and_outages_lose_and_double_nothing(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("HUB_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"chaos seed {seed} (HUB_CHAOS_SEED={seed} repeats this run)")
    rnd = random.Random(seed)
    bench = [str(PG_BIN / "pgbench"), "-h", pg_server.host, "-p", str(pg_server.port),
             "-U", pg_server.user]  # fmt: skip
    subprocess.run([*bench, "-i", "-s", "1", "-q", pg_db], check=True, capture_output=True)
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute("ALTER TABLE pgbench_history REPLICA IDENTITY FULL")  # it has no key
    sink_base = Path(tempfile.mkdtemp(prefix="hub-pg-sink-"))
    if os.geteuid() == 0:
        shutil.chown(sink_base, user="postgres", group="postgres")
    sink = start_server(sink_base, PG_BIN)
    config = _config(tmp_path, pg_server, pg_db, sink)
    load: subprocess.Popen[bytes] | None = None
    proc = start_hub(tmp_path, str(config))
    events: list[str] = []
    try:
        log = tmp_path / "worker.log"
        deadline = time.monotonic() + 60
        while "snapshot of " not in log.read_text():  # the 100 000-row snapshot started
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.01)
        time.sleep(rnd.uniform(0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        events.append("kill during the snapshot")
        proc = start_hub(tmp_path, str(config))
        load = subprocess.Popen(
            [*bench, "-c", "2", "-R", "150", "-T", str(int(SECONDS)), "-n", pg_db],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started = time.monotonic()
        plan = sorted(rnd.uniform(2, SECONDS - 3) for _ in range(KILLS - 1))
        restart_at = rnd.uniform(3, SECONDS / 2)
        outage_at = rnd.uniform(2, max(3.0, SECONDS - 22))
        sink_down_until: float | None = None
        while plan or restart_at or outage_at or sink_down_until:
            now = time.monotonic() - started
            if load.poll() is not None and now < SECONDS - 3:
                # the source restart ended pgbench's connections: a new run writes on (the
                # events after it had met an idle pipeline, a review's)
                load = subprocess.Popen(
                    [*bench, "-c", "2", "-R", "150", "-T", str(int(SECONDS - now)), "-n", pg_db],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            if plan and now >= plan[0]:
                plan.pop(0)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                events.append(f"kill at {now:.1f} s")
                proc = start_hub(tmp_path, str(config))
            if restart_at and now >= restart_at:
                restart_at = 0
                pg_ctl(pg_server, "restart", "-m", "immediate")  # pgbench's clients drop
                events.append(f"source restarted at {now:.1f} s")
            if outage_at and now >= outage_at:
                outage_at = 0
                pg_ctl(sink, "stop", "-m", "immediate")
                sink_down_until = now + 20
                events.append(f"sink down at {now:.1f} s")
            if sink_down_until and now >= sink_down_until:
                sink_down_until = None
                pg_ctl(sink, "start")
                events.append(f"sink up at {now:.1f} s")
            time.sleep(0.1)
        print("; ".join(events))
        load.wait(timeout=SECONDS + 60)
        with psycopg.connect(pg_server.dsn(pg_db)) as pg:
            history = pg.execute("SELECT count(*) FROM pgbench_history").fetchone()[0]
        assert history > 100, history  # the load really ran
        deadline = time.monotonic() + 180
        while True:
            r = _verify(config)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert r.returncode == 0, f"seed {seed}: {'; '.join(events)}\n{r.stdout}{r.stderr}"
        stop_hub(proc, tmp_path)
        r = _verify(config)
        assert r.returncode == 0, f"seed {seed}: {'; '.join(events)}\n{r.stdout}{r.stderr}"
        assert r.stdout.count("ok    ") == 8, r.stdout  # 4 tables x 2 sinks
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        reap_hub(proc)
        stop_server(sink, PG_BIN)
        shutil.rmtree(sink_base, ignore_errors=True)
