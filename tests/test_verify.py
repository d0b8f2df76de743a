"""`hub verify` against a real pipeline: PostgreSQL -> DuckDB and PostgreSQL sinks, all tables
equal after catch-up, then each kind of difference named (a row lost, a value changed, a row
in excess), for a keyed and a keyless table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from tests.fixtures.hub_process import reap_hub, start_hub, stop_hub
from tests.fixtures.postgres import PgServer
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

TYPES = """
CREATE TABLE typed (
  id int PRIMARY KEY, b boolean, s smallint, big bigint, r real, d double precision,
  n numeric(12,3), nv numeric, t text, c char(4), j json, jb jsonb, u uuid, by bytea,
  dt date, ts timestamp, tz timestamptz, tm time, iv interval, ai int[], at text[]
);
INSERT INTO typed VALUES
  (1, true, 7, 9000000000, 1.5, 2.25, 123456789.125, 3.14159265358979, 'héllo', 'ab',
   '{"b": 1, "a": [1, 2]}', '{"z": null, "a": "x"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '\\x00ff10', '2024-02-29', '2024-02-29 12:34:56.789123', '1999-12-31 23:59:59.999999+05',
   '23:59:59.999999', '1 day 02:03:04.5', '{1,NULL,3}', '{"a b",c}'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL),
  (3, false, -1, -1, -0.25, 1e300, -0.001, -12345678901234567890.123456789, '', '', '[]', '{}',
   '00000000-0000-0000-0000-000000000000', '\\x', '1900-01-01', '1900-01-01 00:00:00',
   '2038-01-19 03:14:08+00', '00:00:00', '-3 days', '{}', '{}');
CREATE TABLE edges (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz, tm time,
  bits bit(8), vb varbit, da date[], tta timetz[]);
INSERT INTO edges VALUES
  (1, 'infinity', '-infinity', 'infinity', '24:00:00', B'00000000', B'101', '{2024-01-01}',
   '{24:00:00+00,12:00:00+05:30}'),
  (2, '0044-03-15 BC', '0001-01-01 00:00:00 BC', '1600-06-15 12:34:56.789123+00',
   '00:00:00.000001', B'10000001', B'', '{}', '{}'),
  (3, '12000-01-01', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00',
   '12:00:00', NULL, NULL, NULL, NULL);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE comp (id int PRIMARY KEY, p pair);  -- a composite of NULLs IS NULL too
INSERT INTO comp VALUES (1, ROW(NULL, NULL)), (2, NULL), (3, ROW(1, 'x'));
CREATE TABLE keyless (v int, w text);
ALTER TABLE keyless REPLICA IDENTITY FULL;
INSERT INTO keyless VALUES (1, 'a'), (1, 'a'), (2, NULL);
"""


def _hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "HUB_DATA_DIR"},
    )  # fmt: skip


def _config(tmp_path: Path, server: PgServer, db: str, sink_db: str) -> Path:
    src: dict[str, Any] = {
        "connector.class": "postgres", "database.hostname": server.host,
        "database.port": server.port, "database.user": server.user, "database.dbname": db,
        "topic.prefix": "v", "slot.name": f"s_{uuid.uuid4().hex[:10]}",
    }  # fmt: skip
    sinks = [
        {"name": "duck", "config": {
            "connector.class": "duckdb", "topics.regex": r"v\.public\..*",
            "connection.url": f"duckdb:{tmp_path / 'w.duckdb'}",
            "table.name.format": "${source.table}", "batch.max.wait.ms": 100,
            "duckdb.lock.timeout.ms": 2000,  # (hub verify's wait for a file held locked)
        }},
        {"name": "pgsink", "config": {
            "connector.class": "postgres-sink", "topics.regex": r"v\.public\..*",
            "connection.url": f"postgresql://{server.user}@{server.host}:{server.port}/{sink_db}",
            "table.name.format": "${source.table}", "batch.max.wait.ms": 100,
        }},
    ]  # fmt: skip
    path = tmp_path / "pipeline.yaml"
    path.write_text(json.dumps({"connectors": [{"name": "src", "config": src}, *sinks]}))
    return path


def test_verify_equal_then_each_difference_named(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    sink_db = f"sink_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{sink_db}"')
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute(TYPES)
    config = _config(tmp_path, pg_server, pg_db, sink_db)
    proc = start_hub(tmp_path, str(config), {})
    try:
        # streamed changes too (after the snapshot): an update, a delete, an insert
        wait_for(lambda: "snapshot done" in (tmp_path / "worker.log").read_text(), 60,
                 "the end of the snapshot")  # fmt: skip
        with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
            pg.execute("UPDATE typed SET t = 'changed', n = 1.5 WHERE id = 3")
            pg.execute("DELETE FROM typed WHERE id = 2")
            pg.execute("INSERT INTO typed (id, t) VALUES (4, 'new')")
        deadline = time.monotonic() + 60
        while True:
            r = _hub("verify", str(config))
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert "ok    src public.typed -> duck typed: 3 rows" in lines, r.stdout
        assert "ok    src public.typed -> pgsink typed: 3 rows" in lines, r.stdout
        assert "ok    src public.keyless -> duck keyless: 3 rows" in lines, r.stdout
        assert "ok    src public.edges -> duck edges: 3 rows" in lines, r.stdout
        assert "ok    src public.edges -> pgsink edges: 3 rows" in lines, r.stdout
        assert "ok    src public.comp -> duck comp: 3 rows" in lines, r.stdout
        assert "ok    src public.comp -> pgsink comp: 3 rows" in lines, r.stdout
        stop_hub(proc, tmp_path)
    finally:
        reap_hub(proc)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("UPDATE typed SET tz = tz + INTERVAL 1 MICROSECOND WHERE id = 1")
    con.execute("DELETE FROM typed WHERE id = 4")
    con.execute("INSERT INTO keyless VALUES (9, 'x')")
    con.close()
    with psycopg.connect(pg_server.dsn(sink_db), autocommit=True) as sink:
        sink.execute('UPDATE typed SET jb = \'{"a": "y"}\' WHERE id = 1')
    r = _hub("verify", str(config), "--tables", "typed,public.keyless")
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "DIFF  src public.typed -> duck typed: source 3 rows, sink 2" in out
    assert "differs at id=1: tz (source" in out and "missing in the sink: id=4" in out
    assert "DIFF  src public.keyless -> duck keyless: source 3 rows, sink 4" in out
    assert "not in the source: v=9, w='x'" in out
    assert "DIFF  src public.typed -> pgsink typed: source 3 rows, sink 3" in out
    assert "differs at id=1: jb (source" in out
    assert "ok    src public.keyless -> pgsink keyless: 3 rows" in out
    assert "3 of 4 table(s) differ" in r.stderr
    # a name that matches nothing beside one that does (it had been left out silently), and
    # a captured table no sink consumes (it had been left out of the output: "ok" alone)
    r = _hub("verify", str(config), "--tables", "keyless,nosuch")
    assert r.returncode == 2 and "--tables nosuch: no captured table" in r.stderr, r.stderr
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute("CREATE SCHEMA other; CREATE TABLE other.t (id int PRIMARY KEY)")
    r = _hub("verify", str(config), "--tables", "keyless,other.t")
    assert (
        "src captures other.t (topic v.other.t), which no sink in the given files "
        "consumes: not compared" in r.stderr
    ), r.stderr
    # a sink that cannot be read (its DuckDB file locked, as by a running worker) is said in
    # its tables' lines, and the other sink compared (it had ended hub verify)
    held = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        r = _hub("verify", str(config), "--tables", "keyless")
    finally:
        held.close()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL  src public.keyless -> duck ?: not compared: cannot read sink duck:" in r.stdout
    assert "ok    src public.keyless -> pgsink keyless: 3 rows" in r.stdout, r.stdout


def test_a_connector_name_verify_cannot_find_is_named_with_those_it_can(tmp_path: Path) -> None:
    # (--connector nosuch said the files held no source connector at all)
    config = Path(__file__).resolve().parents[1] / "configs" / "postgres-to-duckdb.yaml"
    r = _hub("verify", "--connector", "nosuch", str(config))
    assert r.returncode == 2
    assert (
        "--connector nosuch: no source connector of that name that hub verify can read "
        "in the given files (they have: shop-source)" in r.stderr
    ), r.stderr
    r = _hub("verify", "--sink", "nosuch", str(config))
    assert "--sink nosuch: no sink connector" in r.stderr and "shop-warehouse" in r.stderr


def test_a_table_that_cannot_be_compared_is_said_and_the_others_are_compared() -> None:
    # (MySQL's TIME '-838:59:59', a value the mapping does not hold, had ended hub verify
    # with "unexpected ValueError" before the other tables were compared)
    from types import SimpleNamespace

    from hub.verify.api import SourceTable, TargetTable
    from hub.verify.pairs import verify_all

    def unreadable() -> Any:
        raise ValueError("a time of -838:59:59 is not a time of day")

    def table(name: str, rows: Any) -> SourceTable:
        return SourceTable("s", name, f"t.{name}", (), (), rows=rows, count=lambda: 1)

    class Source:  # a source connector class, as verify_all reads one
        @staticmethod
        def verify_tables(raw: Any, only: Any) -> list[SourceTable]:
            return [table("bad", unreadable), table("good", lambda: iter([(1,)]))]

    class Sink:
        @staticmethod
        def verify_target(raw: Any) -> Any:
            return SimpleNamespace(
                table=lambda s: TargetTable(s.table, True, lambda: iter([(1,)]), lambda: 1),
                close=lambda: None,
            )

    valid = [SimpleNamespace(name="src", cls=Source, raw={}),
             SimpleNamespace(name="snk", cls=Sink, raw={})]  # fmt: skip
    results = {p.result.source: p.result for p in verify_all(valid)}
    assert results["s.good"].equal
    bad = results["s.bad"]
    assert not bad.equal
    assert bad.error == "ValueError: a time of -838:59:59 is not a time of day"
