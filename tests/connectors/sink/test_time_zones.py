"""Values a target converts on writing (a column made by hand of a type the sink does not
make) are converted in UTC, whatever zone the target's database (PostgreSQL) or hub's
process (DuckDB) has: in Asia/Tokyo an instant written into a timestamp column was stored 9
hours off, and a wall-clock time into a timestamptz column too (Debezium's JDBC sink
writes in UTC by default)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psycopg
import pytest

from connectors.sink.engine.naming import TableRef
from connectors.source.postgres.types import Oid
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable
from tests.connectors.sink.targets import TARGETS
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration

HAND = {
    "duckdb": {"id": "INTEGER", "zt": "TIMESTAMP_MS", "ztxt": "VARCHAR", "mt": "VARCHAR"},
    "postgres": {"id": "int", "zt": "timestamp(3)", "ztxt": "text",
                 "mt": "timestamp(3) with time zone"},
}  # fmt: skip
COLS = [("id", Oid.INT4, -1), ("zt", Oid.TIMESTAMPTZ, -1), ("ztxt", Oid.TIMESTAMPTZ, -1),
        ("mt", Oid.TIMESTAMP, -1)]  # fmt: skip


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_values_a_hand_made_column_converts_are_converted_in_utc(
    kind: str, tmp_path: Path, pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # (hub's process: DuckDB takes its zone)
    time.tzset()
    try:
        if kind == "duckdb":
            where = {"connection.url": f"duckdb://{tmp_path / 'sink.duckdb'}"}
        else:
            db = f"sink_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{db}"')
                admin.execute(f"ALTER DATABASE \"{db}\" SET timezone = 'Asia/Tokyo'")
            where = {"connection.url": f"postgresql://{pg_server.user}@{pg_server.host}:"
                                       f"{pg_server.port}/{db}"}  # fmt: skip
        sink = Sink(TARGETS[kind], where)
        table = PgTable("hand", COLS)
        sink.start([table.topic])
        assert sink.task is not None
        d = sink.task.dialect
        d.begin()
        d.create_table(TableRef(None, "srv_public_hand"), HAND[kind], ("id",))
        d.commit()
        sink.put([table.insert(0, {
            "id": 1, "zt": "2024-01-01 00:00:00.5+00", "ztxt": "2024-01-01 00:00:00+00",
            "mt": "2024-01-01 00:00:00",
        })])  # fmt: skip
        sink.stop()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    if kind == "duckdb":
        import duckdb

        con = duckdb.connect(str(tmp_path / "sink.duckdb"), read_only=True)
        con.execute("SET TimeZone = 'UTC'")
        got = con.execute("SELECT zt::varchar, ztxt, mt::varchar FROM srv_public_hand").fetchone()
        con.close()
        assert got == ("2024-01-01 00:00:00.5", "2024-01-01 00:00:00+00", "2024-01-01 00:00:00")
    else:
        with psycopg.connect(where["connection.url"]) as con:
            con.execute("SET TimeZone = 'UTC'")
            got = con.execute("SELECT zt::text, ztxt, mt::text FROM srv_public_hand").fetchone()
        assert got == ("2024-01-01 00:00:00.5", "2024-01-01 00:00:00+00",
                       "2024-01-01 00:00:00+00")  # fmt: skip


def test_the_postgres_sinks_session_keeps_the_users_options(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (PGOPTIONS, and a TimeZone of the URL's options: UTC had replaced them)
    db = f"sink_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{db}"
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=12345")
    sink = Sink(TARGETS["postgres"], {"connection.url": url})
    assert sink.query("SHOW statement_timeout") == [("12345ms",)]
    assert sink.query("SHOW TimeZone") == [("UTC",)]
    sink.stop()
    sink = Sink(
        TARGETS["postgres"], {"connection.url": url + "?options=-c%20TimeZone%3DAsia/Tokyo"}
    )
    assert sink.query("SHOW TimeZone") == [("Asia/Tokyo",)]
    sink.stop()
