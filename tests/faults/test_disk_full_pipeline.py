"""Disk full under load, end to end: PostgreSQL -> the log on a tiny tmpfs -> DuckDB.

The data directory fills up while rows stream in; the worker must say so in one line per
attempt (no tracebacks), keep nothing half-written, and once the file system is made bigger
resume so that every DuckDB table equals its source table and no record is in the log twice.
Needs root to mount (CI runs as root); without it the test fails, it is never skipped.
"""

from __future__ import annotations

import collections
import os
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from hub.log import Log
from tests.connectors.postgres.helpers import source_config
from tests.fixtures.duckdb_reader import read_duckdb
from tests.fixtures.hub_process import reap_hub, start_hub, stop_hub
from tests.fixtures.postgres import PgServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAD = "p" * 300


def _seq_counts(data: str) -> collections.Counter[bytes]:
    """How often each ``hub.source.seq`` header occurs in the change topics."""
    seen: collections.Counter[bytes] = collections.Counter()
    with Log(data, read_only=True) as log:
        for name in log.topics():
            for p in log.topic(name).partitions:
                for r in p.scan():
                    seen.update(v for k, v in r.headers if k == "hub.source.seq" and v)
    return seen


def _write(sql: psycopg.Connection[Any], start: int, n: int) -> None:
    with sql.transaction():
        sql.execute(
            "INSERT INTO kl SELECT g, %s FROM generate_series(%s::int, %s::int) g",
            (PAD, start, start + n - 1),
        )
        sql.execute(
            "INSERT INTO kd SELECT g, %s FROM generate_series(%s::int, %s::int) g "
            "ON CONFLICT (id) DO UPDATE SET v = excluded.v || 'u'",
            (PAD, start % 500, start % 500 + n - 1),
        )


def test_disk_full_then_space_back_leaves_every_table_exact(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.fail("this disk-full test mounts a tmpfs and must run as root (CI does)")
    data = tmp_path / "data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(data)], check=True)
    warehouse = str(tmp_path / "w.duckdb")
    proc = None
    try:
        with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
            sql.execute("CREATE TABLE kl (id int NOT NULL, v text)")  # keyless, insert-only
            sql.execute("ALTER TABLE kl REPLICA IDENTITY FULL")
            sql.execute("CREATE TABLE kd (id int PRIMARY KEY, v text)")
            _write(sql, 0, 100)
            src = source_config(pg_server, pg_db, **{"table.include.list": "public.kl,public.kd"})
            sink = yaml.safe_load(textwrap.dedent(f"""
                connector.class: duckdb
                topics.regex: app\\.public\\..*
                connection.url: duckdb://{warehouse}
                table.name.format: ${{source.table}}
                batch.max.wait.ms: 50
                duckdb.idle.release.ms: 50
            """))  # fmt: skip
            config = tmp_path / "pipeline.yaml"
            config.write_text(
                yaml.safe_dump(
                    {"connectors": [{"name": "pg", "config": src}, {"name": "wh", "config": sink}]}
                )
            )
            proc = start_hub(tmp_path, str(config))
            worker_log = tmp_path / "worker.log"
            written, deadline = 100, time.monotonic() + 60
            while "no space left on device" not in worker_log.read_text():
                assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
                _write(sql, written, 50)
                written += 50
                time.sleep(0.02)
            for _ in range(20):  # more changes while the disk stays full
                _write(sql, written, 50)
                written += 50
                time.sleep(0.05)
            subprocess.run(["mount", "-o", "remount,size=200m", str(data)], check=True)
            _write(sql, written, 50)
            written += 50

            want_kl = sorted(sql.execute("SELECT id, v FROM kl").fetchall())
            want_kd = sorted(sql.execute("SELECT id, v FROM kd").fetchall())
            deadline = time.monotonic() + 150
            while True:
                got_kl = read_duckdb(warehouse, "SELECT id, v FROM kl ORDER BY ALL")
                got_kd = read_duckdb(warehouse, "SELECT id, v FROM kd ORDER BY ALL")
                if got_kl == want_kl and got_kd == want_kd:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"kl {len(got_kl or [])} rows (source {len(want_kl)}), kd "
                        f"{len(got_kd or [])} (source {len(want_kd)})\n"
                        + worker_log.read_text()[-3000:]
                    )
                time.sleep(0.5)
        stop_hub(proc, tmp_path)
        text = worker_log.read_text()
        assert "Traceback" not in text, text[-3000:]
        twice = {s: n for s, n in _seq_counts(str(data)).items() if n > 1}
        assert not twice, f"{len(twice)} records are in the log more than once"
    finally:
        if proc is not None:
            reap_hub(proc)
        subprocess.run(["umount", "-l", str(data)], check=False)
