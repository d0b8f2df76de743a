"""The source reads text forms whatever the database or role sets for its sessions: the
client encoding (libpq takes the database's, and a LATIN1 one turned stored text into other
characters, read as UTF-8) and the monetary locale (``money``'s text follows lc_monetary: a
German one printed 1234.56 as ``1.234,56 €``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.source.postgres.config import PostgresSourceConfig
from tests.connectors.postgres.helpers import events, source_config, start, wait_for
from tests.fixtures.postgres import PgServer

TEXTS = ["Ã©", "Â£ and é", "日本語 😀"]


def test_text_is_exact_when_the_database_sets_another_client_encoding(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        for i, text in enumerate(TEXTS[:2]):  # (LATIN1 holds these)
            pg.execute("INSERT INTO t VALUES (%s, %s)", (i, text))
        # every session of the database from now on, unless the client asks for another
        pg.execute(f"ALTER DATABASE \"{pg_db}\" SET client_encoding = 'LATIN1'")
        worker = start(tmp_path, source_config(pg_server, pg_db))
        try:
            wait_for(lambda: len(events(worker.log, "app.public.t")) == 2, what="the snapshot")
            pg.execute("INSERT INTO t VALUES (10, %s), (11, %s)", TEXTS[:2])
            got = wait_for(
                lambda: e if len(e := events(worker.log, "app.public.t")) == 4 else None,
                what="the streamed rows",
            )
        finally:
            worker.stop()
    assert [(v["op"], v["after"]["v"]) for _, v in got] == [
        ("r", TEXTS[0]), ("r", TEXTS[1]), ("c", TEXTS[0]), ("c", TEXTS[1]),
    ]  # fmt: skip


def test_the_sessions_pin_the_text_forms_they_read(pg_server: PgServer, pg_db: str) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute(f"ALTER DATABASE \"{pg_db}\" SET client_encoding = 'LATIN1'")
        pg.execute(f"ALTER DATABASE \"{pg_db}\" SET lc_monetary = 'C.utf8'")
        pg.execute(f"ALTER DATABASE \"{pg_db}\" SET DateStyle = 'SQL, DMY'")
    cfg = PostgresSourceConfig.of(source_config(pg_server, pg_db))
    with psycopg.connect(cfg.conninfo()) as conn:
        shown = [
            conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("client_encoding", "lc_monetary", "DateStyle")
        ]
        assert shown == ["UTF8", "C", "ISO, MDY"]
        assert conn.execute("SELECT 1234.56::money").fetchone() == ("$1,234.56",)


def _locale(name: str, source: str) -> str:
    """An OS locale PostgreSQL can set (``localedef`` makes it when the machine lacks it:
    fresh machines have C and POSIX only). In a directory of its own, not the locale archive:
    a server started while the machine had no archive never looks for one again (glibc
    remembers it missing in the postmaster, whose backends inherit that)."""
    import subprocess

    have = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout
    if name not in have.split():
        spelt = name.replace("utf8", "UTF-8")
        subprocess.run(["localedef", "--no-archive", "-i", source, "-f", "UTF-8", spelt],
                       check=True, capture_output=True)  # fmt: skip
    return name


def test_money_is_its_value_in_the_databases_own_monetary_locale(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    # (the sessions read money as the C locale prints it, two digits: a yen database's 1000,
    # stored as 1000 minor units with 0 fraction digits, came out as 10.00, and a dinar one's
    # 1000.000 (3 digits) as 10000.00)
    from decimal import Decimal

    from connectors.source.postgres.types import Oid, TypeMapper

    yen = _locale("ja_JP.utf8", "ja_JP")
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute(f"ALTER DATABASE \"{pg_db}\" SET lc_monetary = '{yen}'")
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:  # (as the app's)
        pg.execute("CREATE TABLE t (id int PRIMARY KEY, m money)")
        pg.execute("INSERT INTO t VALUES (1, 1000), (2, -2500)")
        assert pg.execute("SELECT m::numeric FROM t WHERE id = 1").fetchone() == (1000,)
        cfg = source_config(pg_server, pg_db, **{"decimal.handling.mode": "string"})
        worker = start(tmp_path, cfg)
        try:
            wait_for(lambda: len(events(worker.log, "app.public.t")) == 2, what="the snapshot")
            pg.execute("INSERT INTO t VALUES (3, 7), (4, 123456789)")
            got = wait_for(
                lambda: e if len(e := events(worker.log, "app.public.t")) == 4 else None,
                what="the streamed rows",
            )
        finally:
            worker.stop()
    assert [(v["op"], Decimal(v["after"]["m"])) for _, v in got] == [
        ("r", 1000), ("r", -2500), ("c", 7), ("c", 123456789),
    ]  # fmt: skip
    # (and the type mapper's own rescaling, both ways: 3 digits (dinar), 0 digits (yen))
    dinar = TypeMapper(decimal_handling_mode="string", money_fraction_digits=3, money_shift=-1)
    assert dinar.converter(Oid.MONEY, -1)(b"$10,000.00") == "1000.000"
    yen_mapper = TypeMapper(money_shift=2)
    assert yen_mapper.converter(Oid.MONEY, -1)(b"-$10.00") == (-100000).to_bytes(
        3, "big", signed=True
    )


def test_database_initial_statements_run_on_each_reading_connection(
    pg_server: PgServer, pg_db: str
) -> None:
    # Debezium's database.initial.statements: each connection the task reads the database
    # with (the metadata one, each snapshot reader) runs them first; it had been ignored
    from connectors.source.postgres.connector import PostgresSourceTask
    from hub.errors import ConfigError
    from tests.connectors.postgres.helpers import start_task

    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE conn_log (pid int, app text)")
        sql.execute("CREATE FUNCTION note() RETURNS void LANGUAGE sql AS $$ INSERT INTO "
                    "conn_log SELECT pg_backend_pid(), current_setting('application_name') "
                    "$$")  # fmt: skip
        for t in ("a", "b"):
            sql.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, x float8, d date)")
            sql.execute(f"INSERT INTO {t} SELECT g, 0.1::float8 + 0.2, '2024-02-01' "
                        "FROM generate_series(1, 5) g")  # fmt: skip
        cfg = source_config(pg_server, pg_db, **{
            "table.include.list": r"public\.(a|b)", "snapshot.max.threads": 2,
            # (the text forms the values are read in are set again after them: the snapshot
            # had read 0.3 where the stream reads 0.30000000000000004)
            "database.initial.statements": "SET application_name = 'hub;;init';SELECT note();"
            "SET extra_float_digits = 0;SET DateStyle = 'SQL, DMY'",
        })  # fmt: skip
        task: PostgresSourceTask = start_task(cfg)
        try:
            got: list[Any] = []
            while len(got) < 10:
                got += [r for r in task.poll() if r.topic]
            values = {(r.value["after"]["x"], r.value["after"]["d"]) for r in got}
            assert values == {(0.30000000000000004, 19754)}  # (2024-02-01: day 19 754)
            rows = sql.execute("SELECT count(DISTINCT pid), min(app), max(app) FROM conn_log")
            count, low, high = rows.fetchone()  # type: ignore[misc]
            assert count >= 3 and low == high == "hub;init"  # the metadata one, 2 readers
        finally:
            task.stop()
        # (a refusal of class 55 is an OperationalError too: not retried as a lost connection)
        for statement, said in (("SET no_such_setting = 1", "unrecognized"),
                                ("SET shared_buffers = '1GB'", "cannot be changed")):  # fmt: skip
            bad = {**cfg, "database.initial.statements": statement}
            with pytest.raises(ConfigError, match=r"database.initial.statements: .* refused "
                               f"{re.escape(repr(statement))}: .*{said}"):  # fmt: skip
                start_task(bad)
