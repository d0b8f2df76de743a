"""`hub validate`: regular expressions compiled as the source compiles them, and with --connect
(the default) the real database and target checked, one line per check, nothing created."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.connectors.postgres.helpers import source_config
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration


def _validate(tmp_path: Path, *connectors: dict[str, Any], flags: tuple[str, ...] = ()) -> Any:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"connectors": list(connectors)}))
    return subprocess.run(
        [sys.executable, "-m", "hub", "validate", *flags, str(path)],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "HUB_DATA_DIR"},
    )  # fmt: skip


def test_bad_regex_is_caught_without_connecting(tmp_path: Path) -> None:
    cfg = {
        "connector.class": "postgres", "database.dbname": "x", "topic.prefix": "t",
        "table.include.list": "public.(orders", "column.exclude.list": "[a",
    }  # fmt: skip
    r = _validate(tmp_path, {"name": "src", "config": cfg})
    assert r.returncode == 2
    err = " ".join(r.stderr.split())
    assert (
        "table.include.list = 'public.(orders': 'public.(orders' is not a valid regular "
        "expression" in err
    ), err
    assert "column.exclude.list = '[a': '[a' is not a valid regular expression" in err, err
    assert "Traceback" not in r.stderr


def test_connect_checks_source_and_sinks(tmp_path: Path, pg_server: PgServer, pg_db: str) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE good (id int PRIMARY KEY)")
        sql.execute("CREATE TABLE keyless (v int)")
        sql.execute("DROP ROLE IF EXISTS hub_weak")
        sql.execute("CREATE ROLE hub_weak LOGIN")
    src = source_config(pg_server, pg_db)
    warehouse = tmp_path / "w.duckdb"
    sinks = [
        {"name": "duck", "config": {"connector.class": "duckdb", "topics": "t",
                                    "connection.url": f"duckdb:{warehouse}"}},
        {"name": "pg-weak", "config": {
            "connector.class": "postgres-sink", "topics": "t",
            "connection.url": f"postgresql://hub_weak:pw@{pg_server.host}:{pg_server.port}/{pg_db}",
        }},
    ]  # fmt: skip
    try:
        r = _validate(tmp_path, {"name": "src", "config": src}, *sinks)
        out = r.stdout
        assert r.returncode == 2, out + r.stderr
        assert f"ok    connect to {pg_server.user}@" in out and "PostgreSQL 15" in out
        assert "ok    wal_level is logical" in out
        assert "ok    tables to capture: 2 table(s) match" in out
        assert f"FAIL  tables without a key have REPLICA IDENTITY FULL: {'public.keyless'}" in out
        assert f"ok    DuckDB file {warehouse} can be created" in out
        assert "FAIL  may create tables" in out and "permission denied" in out
        assert "pw" not in out.replace("postgres-sink", "")  # the sink's password never shows
        assert "2 check(s) failed" in r.stderr
        assert not warehouse.exists()  # checking created nothing
        with psycopg.connect(pg_server.dsn(pg_db)) as sql:
            assert sql.execute("SELECT count(*) FROM pg_publication").fetchone() == (0,)
            assert sql.execute(
                "SELECT count(*) FROM pg_tables WHERE tablename LIKE '_hub_check%'"
            ).fetchone() == (0,)
        # fixed: the keyless table excluded, the weak sink dropped
        src["table.exclude.list"] = "public.keyless"
        r = _validate(tmp_path, {"name": "src", "config": src}, sinks[0])
        assert r.returncode == 0, r.stdout + r.stderr
        assert "FAIL" not in r.stdout and "1 table(s) match" in r.stdout
        # offline
        r = _validate(tmp_path, {"name": "src", "config": {**src, "database.port": 1}},
                      flags=("--no-connect",))  # fmt: skip
        assert r.returncode == 0 and "connect to" not in r.stdout
        r = _validate(tmp_path, {"name": "src", "config": {**src, "database.port": 1}})
        assert r.returncode == 2 and "FAIL  connect to" in r.stdout
        assert "Connection refused" in r.stdout
        # Debezium's JDBC sink class checks its target as the sink its URL picks (it had said
        # ok for a database it could not reach)
        jdbc = {"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": "t",
                "connection.url": "postgresql://u:Secr3tPw@127.0.0.1:1/db"}  # fmt: skip
        r = _validate(tmp_path, {"name": "j", "config": jdbc})
        assert r.returncode == 2 and "FAIL  connect to u@127.0.0.1:1/db" in r.stdout, r.stdout
        assert "Secr3tPw" not in r.stdout + r.stderr
        # the user it logs in as, connection.username's (it had shown "@127.0.0.1...")
        jdbc = {**jdbc, "connection.url": "jdbc:postgresql://127.0.0.1:1/db",
                "connection.username": "wh_user"}  # fmt: skip
        r = _validate(tmp_path, {"name": "j", "config": jdbc})
        assert "FAIL  connect to wh_user@127.0.0.1:1/db" in r.stdout, r.stdout
    finally:
        with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
            sql.execute("DROP OWNED BY hub_weak; DROP ROLE hub_weak")


def test_list_entries_that_name_nothing_are_failed_with_the_nearest_name(
    tmp_path: Path, pg_server: PgServer, pg_db: str, mariadb_server: Any, mariadb_db: str
) -> None:
    # (a misspelt column.include.list entry left the column out of every event with every
    # check ok; table.include.list matching no table was "ok: none yet")
    from tests.connectors.mysql.helpers import root
    from tests.connectors.mysql.helpers import source_config as mysql_config

    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
    root(mariadb_server, mariadb_db).cursor().execute(
        "CREATE TABLE orders (id int PRIMARY KEY, note text)"
    )
    for name, cfg, db in (
        ("pg", source_config(pg_server, pg_db), "public"),
        ("my", mysql_config(mariadb_server, mariadb_db), mariadb_db),
    ):
        cfg.pop("database.include.list", None)
        cfg["column.include.list"] = rf"{db}\.orders\.nte, {db}\.orders\.id"
        cfg["table.exclude.list"] = rf"{db}\.ordrs"
        r = _validate(tmp_path, {"name": name, "config": cfg})
        assert r.returncode == 2, r.stdout + r.stderr
        line = next(x for x in r.stdout.splitlines() if "include and exclude lists" in x)
        assert line.startswith("  FAIL  the include and exclude lists name what exists"), line
        assert (
            rf"column.include.list: '{db}\.orders\.nte' matches no column (did you mean "
            f"{db}.orders.note?)" in line
        ), line
        assert (
            rf"table.exclude.list: '{db}\.ordrs' matches no table (did you mean "
            f"{db}.orders?)" in line
        ), line
        assert "orders.id" not in line  # (an entry that names something is not listed)
        # an entry without a near name may name what is made later: said, not failed
        cfg["column.include.list"] = rf"{db}\.orders\.id"
        cfg["table.exclude.list"] = rf"{db}\.tmp_.*"
        r = _validate(tmp_path, {"name": name, "config": cfg})
        assert r.returncode == 0, r.stdout + r.stderr
        assert (
            rf"ok    the include and exclude lists name what exists: table.exclude.list: "
            rf"'{db}\.tmp_.*' matches no table yet" in r.stdout
        ), r.stdout


def test_checks_wait_for_a_server_a_bounded_time() -> None:
    # (an unreachable BigQuery endpoint kept hub validate waiting 300 s, its timeout's default)
    from hub.cli.connect import CHECK_TIMEOUT_MS, _check_timeouts
    from hub.config import ConnectorSpec
    from hub.runtime.validation import validate

    config = {"connector.class": "bigquery", "topics": "t", "project": "p", "defaultDataset": "d"}
    bq = validate(ConnectorSpec("bq", config, "a.yaml"))
    assert _check_timeouts(bq)["bigquery.timeout.ms"] == CHECK_TIMEOUT_MS
    quick = validate(ConnectorSpec("bq", {**bq.raw, "bigquery.timeout.ms": 2000}, "a.yaml"))
    assert _check_timeouts(quick)["bigquery.timeout.ms"] == 2000
    my = validate(ConnectorSpec("my", {"connector.class": "mysql", "database.user": "u",
                                       "topic.prefix": "p"}, "a.yaml"))  # fmt: skip
    assert _check_timeouts(my)["connect.timeout.ms"] == min(30_000, CHECK_TIMEOUT_MS)


def test_a_key_column_the_table_lacks_is_named(
    tmp_path: Path, pg_server: PgServer, pg_db: str
) -> None:
    # (it was said as "its replica identity holds (id)": as if the identity were at fault)
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
    cfg = source_config(pg_server, pg_db, **{"message.key.columns": "public.orders:nosuchcol"})
    r = _validate(tmp_path, {"name": "pg", "config": cfg})
    assert r.returncode == 2
    assert (
        "FAIL  message.key.columns names columns of the tables: public.orders has no column "
        "nosuchcol (its columns: id, note)" in r.stdout
    ), r.stdout


def test_a_missing_signal_table_is_failed_with_its_create_statement(
    pg_server: PgServer, pg_db: str, mariadb_server: Any, mariadb_db: str
) -> None:
    # (README's PostgreSQL example names public.debezium_signal: validate said ok, then the
    # start failed on it; a MariaDB source's signals never came)
    from connectors.source.mysql.connector import MariaDbConnector
    from connectors.source.postgres.checks import check
    from tests.connectors.mysql.helpers import root
    from tests.connectors.mysql.helpers import source_config as my_config

    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE t (id int PRIMARY KEY)")
        cfg = source_config(pg_server, pg_db, **{"signal.data.collection": "public.sig"})
        got = {c.what: c for c in check(cfg)}["signal table public.sig exists"]
        assert not got.ok and "CREATE TABLE public.sig (id text PRIMARY KEY" in got.detail
        sql.execute("CREATE TABLE sig (id text PRIMARY KEY, type text NOT NULL, data text)")
        assert {c.what: c for c in check(cfg)}["signal table public.sig exists"].ok
    cfg = my_config(mariadb_server, mariadb_db,
                    **{"signal.data.collection": f"{mariadb_db}.sig"})  # fmt: skip
    what = f"signal table {mariadb_db}.sig exists"
    got = {c.what: c for c in MariaDbConnector.check(cfg)}[what]
    assert not got.ok and f"CREATE TABLE `{mariadb_db}`.`sig`" in got.detail, got.detail
    with root(mariadb_server, mariadb_db).cursor() as cur:
        cur.execute("CREATE TABLE sig (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32), data TEXT)")
    assert {c.what: c for c in MariaDbConnector.check(cfg)}[what].ok
