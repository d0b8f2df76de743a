"""`hub demo`, README's first command: a throwaway PostgreSQL replicated into DuckDB while
it is written to, then compared table by table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest


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
