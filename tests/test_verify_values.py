"""`hub verify`'s comparison against hand-filled sink tables (no pipeline): values that differ
where a reader would round (38-digit decimals, JSON numbers, a float under a sink database's
own extra_float_digits) are found; values that are equal by the documented mapping (arrays of
dates with infinity, BC or far years; a sink database's DateStyle and IntervalStyle) are
equal; a missing sink column is named; a sink's RegexRouter is followed to its table."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from connectors.sink.duckdb import types as duck_types
from connectors.sink.duckdb.connector import DuckDBSink
from connectors.sink.postgres import types as pg_types
from connectors.sink.postgres.connector import PostgresSink
from connectors.source.postgres.connector import PostgresConnector
from hub.errors import ConfigError
from hub.verify import SourceTable
from hub.verify.compare import TableResult, compare
from hub.verify.pairs import verify_all
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration

# table: (column type, source literal, a sink literal that differs (None: none), whether a
# reader that rounds would call them equal)
SOURCE = """
CREATE TABLE dec (id int PRIMARY KEY, n numeric(38,0), v numeric);
INSERT INTO dec VALUES (1, 12345678901234567890123456789012345678,
                        1.00000000000000000000000000001);
CREATE TABLE js (id int PRIMARY KEY, j jsonb);
INSERT INTO js VALUES (1, '{"a": 0.10000000000000001, "b": 12345678901234567890123}');
CREATE TABLE flt (id int PRIMARY KEY, x double precision, ts timestamp, iv interval);
INSERT INTO flt VALUES (1, 0.3, '2024-01-02 03:04:05', '1 day 02:03:04');
CREATE TABLE arr (id int PRIMARY KEY, d date[], ts timestamp[], tm time[], tz timestamptz[],
                  ttz timetz[]);
INSERT INTO arr VALUES (1, '{2024-01-01,infinity,0044-03-15 BC}', '{-infinity,2024-01-01 00:00:01}',
                        '{24:00:00,00:00:00.5}', '{12000-01-01 00:00:00+00}', '{12:00:00+05,NULL}');
CREATE TABLE shape (id int PRIMARY KEY, x int, note text);
INSERT INTO shape VALUES (1, 1, NULL), (2, 2, NULL);
CREATE TABLE tt (id int PRIMARY KEY, ttz timetz);
INSERT INTO tt VALUES (1, '24:00:00+00'), (2, '24:00:00-02'), (3, '12:00:00.5+05:30');
CREATE TABLE sd (id int PRIMARY KEY, v text);
INSERT INTO sd VALUES (1, 'a'), (2, 'b');
"""


BY_TABLE = {"topics.regex": "v.*", "table.name.format": "${source.table}"}


@pytest.fixture
def dbs(pg_server: PgServer, pg_db: str) -> Iterator[tuple[str, str]]:
    sink_db = f"sink_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{sink_db}"')
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute(SOURCE)
    yield pg_db, sink_db
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{sink_db}" WITH (FORCE)')


def _source(server: PgServer, db: str) -> dict[str, SourceTable]:
    cfg = {"connector.class": "postgres", "database.hostname": server.host,
           "database.port": server.port, "database.user": server.user, "database.dbname": db,
           "topic.prefix": "v", "slot.name": "unused"}  # fmt: skip
    return {t.table: t for t in PostgresConnector.verify_tables(cfg, None)}


def _create(sql_type: Any, st: SourceTable, name: str | None = None, skip: str = "") -> str:
    cols = ", ".join(f'"{c.name}" {sql_type(c.type)}' for c in st.columns if c.name != skip)
    return f'CREATE TABLE "{name or st.table}" ({cols}, PRIMARY KEY ("id"))'


def _compare(target: Any, st: SourceTable) -> TableResult:
    try:
        found = target.table(st)
        assert found is not None
        return compare(st, found)
    finally:
        target.close()


def test_values_a_rounding_reader_would_call_equal_differ(
    pg_server: PgServer, dbs: tuple[str, str], tmp_path: Path
) -> None:
    src, sink_db = dbs
    tables = _source(pg_server, src)
    duck_url = f"duckdb:{tmp_path / 'w.duckdb'}"
    pg_url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{sink_db}"
    sinks = {
        "duck": lambda: DuckDBSink.verify_target({"connection.url": duck_url, **BY_TABLE}),
        "pg": lambda: PostgresSink.verify_target({"connection.url": pg_url, **BY_TABLE}),
    }
    # the sinks hold each value as the pipeline writes it, but for the last digits
    rows = {
        "dec": "(1, 12345678901234567890123456789012345679, '1')",  # (29th digit on)
        "js": """(1, '{"a": 0.1, "b": 12345678901234567890124}')""",
    }
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with psycopg.connect(pg_server.dsn(sink_db), autocommit=True) as pg:
        for name, values in rows.items():
            con.execute(_create(duck_types.sql_type, tables[name]))
            pg.execute(_create(pg_types.sql_type, tables[name]))
            con.execute(f"INSERT INTO {name} VALUES {values}")
            pg.execute(f"INSERT INTO {name} VALUES {values}")
    con.close()
    for sink, target in sinks.items():
        for name in rows:
            r = _compare(target(), tables[name])
            assert not r.equal, (sink, name)
            assert r.differences and r.differences[0].startswith("differs at id=1: "), r
    dec = _compare(sinks["pg"](), tables["dec"]).differences[0]
    assert "n (source '12345678901234567890123456789012345678'" in dec
    assert "v (source '1.00000000000000000000000000001', sink '1')" in dec


def test_a_postgres_sink_is_read_whatever_its_database_defaults(
    pg_server: PgServer, dbs: tuple[str, str]
) -> None:
    # with extra_float_digits=0 psycopg read 0.30000000000000004 as 0.3 (equal to the
    # source's); DateStyle SQL, DMY changed the timestamp's text; IntervalStyle iso_8601 failed
    src, sink_db = dbs
    st = _source(pg_server, src)["flt"]
    with psycopg.connect(pg_server.dsn(sink_db), autocommit=True) as pg:
        pg.execute(_create(pg_types.sql_type, st))
        pg.execute("INSERT INTO flt VALUES (1, 0.3, '2024-01-02 03:04:05', '1 day 02:03:04')")
        for setting in ("extra_float_digits = 0", "DateStyle = 'SQL, DMY'",
                        "IntervalStyle = 'iso_8601'", "TimeZone = 'Asia/Kolkata'"):  # fmt: skip
            pg.execute(f'ALTER DATABASE "{sink_db}" SET {setting}')
    url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{sink_db}"
    target = lambda: PostgresSink.verify_target({"connection.url": url, **BY_TABLE})  # noqa: E731
    r = _compare(target(), st)
    assert r.equal
    # (an "ok" says what the documented mapping makes alike: a month is 30.4375 days)
    assert r.note.startswith("iv: intervals as microseconds, a month counting 30.4375 days")
    with psycopg.connect(pg_server.dsn(sink_db), autocommit=True) as pg:
        pg.execute("UPDATE flt SET x = 0.30000000000000004")
    r = _compare(target(), st)
    assert not r.equal and "x (source '0.3', sink '0.30000000000000004')" in r.differences[0]


def test_temporal_arrays_missing_columns_and_a_routed_sink(
    pg_server: PgServer, dbs: tuple[str, str], tmp_path: Path
) -> None:
    src, sink_db = dbs
    tables = _source(pg_server, src)
    # (a timetz[] lands in UTC, as a timetz does: verify had called it different)
    arr = ("(1, '{2024-01-01,infinity,0044-03-15 BC}', '{-infinity,2024-01-01 00:00:01}', "
           "'{24:00:00,00:00:00.5}', '{12000-01-01 00:00:00+00}', "
           "'{07:00:00+00,NULL}')")  # fmt: skip
    duck_arr = ("(1, ['2024-01-01', 'infinity', '0044-03-15 (BC)'], "
                "['-infinity', '2024-01-01 00:00:01'], ['24:00:00', '00:00:00.5'], "
                "['12000-01-01 00:00:00+00'], ['07:00:00+00', NULL])")  # fmt: skip
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(_create(duck_types.sql_type, tables["arr"], "wh_arr"))  # (routed, below)
    con.execute(f"INSERT INTO wh_arr VALUES {duck_arr}")
    con.execute(_create(duck_types.sql_type, tables["shape"], "wh_shape", skip="note"))
    con.execute("INSERT INTO wh_shape VALUES (1, 1), (2, 2)")
    con.close()
    with psycopg.connect(pg_server.dsn(sink_db), autocommit=True) as pg:
        pg.execute(_create(pg_types.sql_type, tables["arr"]))
        pg.execute(f"INSERT INTO arr VALUES {arr}")
    url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{sink_db}"
    # arrays of dates and times the drivers cannot make Python values of: the PostgreSQL
    # sink's read had failed (DataError, the run stopped), DuckDB's called them different
    assert _compare(PostgresSink.verify_target({"connection.url": url, **BY_TABLE}),
                    tables["arr"]).equal  # fmt: skip
    routed = {
        "connection.url": f"duckdb:{tmp_path / 'w.duckdb'}", "topics.regex": "v.*",
        "transforms": "route", "transforms.route.type": "RegexRouter",
        "transforms.route.regex": r"v\.public\.(.*)", "transforms.route.replacement": "wh_$1",
    }  # fmt: skip
    r = _compare(DuckDBSink.verify_target(routed), tables["arr"])
    assert r.target == "wh_arr" and r.equal, r
    # a column the sink lacks read as NULL: equal while the source's values were all NULL
    r = _compare(DuckDBSink.verify_target(routed), tables["shape"])
    assert not r.equal and r.differences == ["the sink has no column note"], r


def test_tables_that_match_nothing_are_named(
    pg_server: PgServer, dbs: tuple[str, str], tmp_path: Path
) -> None:
    from hub.config import load_connector_file
    from hub.runtime.validation import validate

    src, sink_db = dbs
    url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{sink_db}"
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps({"connectors": [
        {"name": "src", "config": {
            "connector.class": "postgres", "database.hostname": pg_server.host,
            "database.port": pg_server.port, "database.user": pg_server.user,
            "database.dbname": src, "topic.prefix": "v"}},
        {"name": "snk", "config": {"connector.class": "postgres-sink", "connection.url": url,
                                   "topics.regex": "v.*"}},
    ]}))  # fmt: skip
    valid = [validate(spec) for spec in load_connector_file(str(path))]
    # it had said that no sink consumes the topics
    with pytest.raises(ConfigError, match="--tables public.DEC: no captured table of that name"):
        list(verify_all(valid, only={"public.DEC"}))


def test_timetz_at_24_soft_deleted_text_flags_and_a_source_db_table_name(
    pg_server: PgServer, dbs: tuple[str, str], tmp_path: Path
) -> None:
    # (a timetz of 24:00 failed the PostgreSQL sink's read, psycopg refusing the hour, and
    # DuckDB's was called different; a text __deleted, as ExtractNewRecordState's rewrite
    # with delete.enabled=false leaves it, failed the PostgreSQL sink's IS NOT TRUE; and a
    # table.name.format with ${source.db} was looked for as "_tt")
    src, sink_db = dbs
    tables = _source(pg_server, src)
    by_db = {"topics.regex": "v.*", "table.name.format": "${source.db}_${source.table}"}
    tt = "(1, '24:00:00+00'), (2, '02:00:00+00'), (3, '06:30:00.5+00')"  # (as written: UTC)
    sd = "(1, 'a', 'false'), (2, 'b', 'false'), (3, 'c', 'true')"  # (3: deleted at the source)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with psycopg.connect(pg_server.dsn(sink_db), autocommit=True) as pg:
        for create, run in ((duck_types.sql_type, con.execute), (pg_types.sql_type, pg.execute)):
            run(_create(create, tables["tt"], f"{src}_tt"))
            run(f'INSERT INTO "{src}_tt" VALUES {tt}')
            run(
                _create(create, tables["sd"], f"{src}_sd").replace(
                    ", PRIMARY", ', "__deleted" text, PRIMARY'
                )
            )
            run(f'INSERT INTO "{src}_sd" VALUES {sd}')
    con.close()
    url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{sink_db}"
    sinks = {
        "duck": lambda: DuckDBSink.verify_target(
            {"connection.url": f"duckdb:{tmp_path / 'w.duckdb'}", **by_db}
        ),
        "pg": lambda: PostgresSink.verify_target({"connection.url": url, **by_db}),
    }
    for sink, target in sinks.items():
        for name in ("tt", "sd"):
            r = _compare(target(), tables[name])
            assert r.target == f"{src}_{name}" and r.equal, (sink, r)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(f"UPDATE \"{src}_tt\" SET ttz = '00:00:00+00' WHERE id = 1")  # (24:00 is not 0)
    con.execute(f'UPDATE "{src}_sd" SET "__deleted" = \'true\' WHERE id = 2')
    con.close()
    assert not _compare(sinks["duck"](), tables["tt"]).equal
    r = _compare(sinks["duck"](), tables["sd"])
    assert not r.equal and r.differences == ["missing in the sink: id=2"], r
