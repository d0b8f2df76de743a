"""`hub demo`, README's first command: a throwaway PostgreSQL (or, with --mysql, MariaDB)
replicated into DuckDB while it is written to, then compared table by table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.postgres import PgServer


@pytest.mark.integration
def test_demo_replicates_postgres_into_duckdb_and_checks_it(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--seconds", "3", "--rate", "40",
         "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=240, cwd=os.getcwd(),
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "started a throwaway PostgreSQL (wal_level=logical)" in out
    for table in ("customers", "products", "orders", "order_lines"):
        assert f"  {table}" in out and "DIFFER" not in out
    assert "equals its source, row for row" in out
    # the warehouse is there to query afterwards
    con = duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True)
    try:
        (orders,) = con.execute("SELECT count(*) FROM orders").fetchone()  # type: ignore[misc]
        assert orders >= 500  # the 500 orders of the snapshot, plus new ones, less cancelled
        (lines,) = con.execute("SELECT count(*) FROM order_lines").fetchone()  # type: ignore[misc]
        assert lines >= orders
    finally:
        con.close()
    assert (workdir / "data" / "shop.public.orders").exists() or any(
        p.name.startswith("shop.public.orders") for p in (workdir / "data").iterdir()
    )


@pytest.mark.integration
def test_demo_mysql_replicates_mariadb_into_duckdb_and_checks_it(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    env["MYSQL_HOST"] = "192.0.2.1"  # a user's own setting: the throwaway server wins
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--mysql", "--seconds", "3", "--rate", "40",
         "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=240, cwd=os.getcwd(), env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "started a throwaway MariaDB (binlog_format=ROW)" in out
    assert "configs/mysql-to-duckdb.yaml" in out
    for table in ("customers", "products", "orders", "order_lines"):
        assert f"  {table}" in out
    assert out.count(" rows in MariaDB, ") == 4 and out.count(": match") == 4
    assert "DIFFER" not in out and "PostgreSQL" not in out
    assert "equals its source, row for row" in out
    assert "consume shopdb.shop.orders" in out
    con = duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True)
    try:
        (orders,) = con.execute("SELECT count(*) FROM orders").fetchone()  # type: ignore[misc]
        assert orders >= 450  # 500 in the snapshot, plus new ones, less cancelled
        # the workload did more than insert: orders moved along (an UPDATE whose subquery
        # MariaDB re-evaluates would change nothing), and cancelled orders took their lines
        (moved,) = con.execute(  # type: ignore[misc]
            "SELECT count(*) FROM orders WHERE status <> 'placed'"
        ).fetchone()
        assert moved > 0
        (orphans,) = con.execute(  # type: ignore[misc]
            "SELECT count(*) FROM order_lines WHERE order_id NOT IN (SELECT id FROM orders)"
        ).fetchone()
        assert orphans == 0
    finally:
        con.close()


def test_demo_mysql_refuses_source() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--mysql", "--source", "dbname=shop"],
        capture_output=True, text=True, timeout=60, cwd=os.getcwd(),
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--source is for PostgreSQL only" in proc.stderr


@pytest.mark.integration
def test_demo_on_your_own_database_says_what_it_leaves_there(
    tmp_path: Path, pg_server: PgServer, pg_db: str
) -> None:
    # (it ended about "the throwaway server's positions" with none there, and never named
    # the replication slot it leaves, which holds back WAL)
    import psycopg

    source = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{pg_db}"
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--source", source, "--seconds", "2", "--rate",
         "20", "--workdir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=240, cwd=os.getcwd(),
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PG")},
             "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    try:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "equals its source, row for row" in proc.stdout
        assert "throwaway" not in proc.stdout
        assert f"left on your server, in database '{pg_db}'" in proc.stdout
        assert "SELECT pg_drop_replication_slot('hub_shop');" in proc.stdout
        assert " behind " in proc.stdout and " lag " not in proc.stdout
    finally:
        with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
            pg.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = 'hub_shop' AND database = current_database()"
            )
