"""Tables the lists match whose rows would not reach the sinks, said instead of left out: a
partitioned table (its rows are in its partitions, captured as tables of their own), an
UNLOGGED table (its changes are not in the WAL), a table whose row-level security would
show the snapshot only some rows (the stream gets every change)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
import pytest

import connectors.source.postgres.connector as pg_connector
from hub.errors import ConfigError
from tests.connectors.postgres.helpers import source_config, start_task
from tests.fixtures.postgres import PgServer
from tests.helpers import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sql(pg_server: PgServer, pg_db: str) -> Any:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        yield conn


def _checks(cfg: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    from connectors.source.postgres.checks import check

    return {c.what: (c.ok, c.detail) for c in check(cfg)}


def test_a_partitioned_table_whose_partitions_the_lists_leave_out_is_refused(
    pg_server: PgServer, pg_db: str, sql: Any
) -> None:
    sql.execute("CREATE TABLE meas (id int, region text, PRIMARY KEY (id, region)) "
                "PARTITION BY LIST (region)")  # fmt: skip
    sql.execute("CREATE TABLE meas_eu PARTITION OF meas FOR VALUES IN ('eu')")
    sql.execute("CREATE TABLE other (id int PRIMARY KEY)")
    cfg = source_config(pg_server, pg_db, **{"table.include.list": r"public\.meas,public\.other"})
    with pytest.raises(ConfigError, match=r"public\.meas is a partitioned table.*leave out "
                       r"public\.meas_eu: include the partitions"):  # fmt: skip
        start_task(cfg)
    ok, detail = _checks(cfg)["the lists take partitioned tables' partitions"]
    assert not ok and "public.meas_eu" in detail
    # the partitions in the lists too: captured, each as a table of its own
    task = start_task({**cfg, "table.include.list": r"public\.meas.*,public\.other"})
    task.stop()


def test_unlogged_tables_are_warned_of_at_the_start_and_when_made_so(
    pg_server: PgServer, pg_db: str, sql: Any, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sql.execute("CREATE UNLOGGED TABLE ul (id int PRIMARY KEY)")
    sql.execute("CREATE TABLE lg (id int PRIMARY KEY)")
    cfg = source_config(pg_server, pg_db)
    monkeypatch.setattr(pg_connector, "PUBLICATION_CHECK_S", 0.2)
    caplog.set_level(logging.WARNING)
    task = start_task(cfg)
    try:
        assert "public.ul: UNLOGGED: their changes are not in the WAL" in caplog.text
        assert "public.lg" not in caplog.text
        sql.execute("ALTER TABLE lg SET UNLOGGED")
        wait_for(lambda: task.poll() is not None and "public.lg: UNLOGGED" in caplog.text,
                 what="the warning for lg")  # fmt: skip
    finally:
        task.stop()
    ok, detail = _checks(cfg)["the tables the lists match are logged"]
    assert not ok and detail.startswith("public.lg, public.ul: UNLOGGED")


def test_row_level_security_that_hides_rows_from_the_snapshot_is_refused(
    pg_server: PgServer, pg_db: str, sql: Any
) -> None:
    role = f"cdc_{uuid.uuid4().hex[:8]}"
    sql.execute(f"CREATE ROLE {role} LOGIN REPLICATION")
    sql.execute("CREATE TABLE acct (id int PRIMARY KEY, tenant text)")
    sql.execute("INSERT INTO acct VALUES (1, 'a'), (2, 'b')")
    sql.execute("ALTER TABLE acct ENABLE ROW LEVEL SECURITY")
    sql.execute("CREATE POLICY only_a ON acct USING (tenant = 'a')")
    sql.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    sql.execute("CREATE PUBLICATION pub_rls FOR ALL TABLES")
    cfg = source_config(pg_server, pg_db, **{
        "database.user": role, "publication.name": "pub_rls",
        "publication.autocreate.mode": "disabled",
    })  # fmt: skip
    with pytest.raises(ConfigError, match=rf"public\.acct have row-level security.*ALTER ROLE "
                       rf"{role} BYPASSRLS"):  # fmt: skip
        start_task(cfg)
    ok, detail = _checks(cfg)[f"role {role} reads every row of the tables"]
    assert not ok and "public.acct" in detail
    # a read that the policies would filter fails, whatever reads it (an incremental
    # snapshot's chunk, hub verify): the sessions run with row_security off
    from connectors.source.postgres.config import PostgresSourceConfig

    with psycopg.connect(PostgresSourceConfig.of(cfg).conninfo()) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="row-level security"
    ):  # fmt: skip
        conn.execute("SELECT * FROM acct").fetchall()
    sql.execute(f"ALTER ROLE {role} BYPASSRLS")
    task = start_task(cfg)  # (it may read them all now)
    task.stop()
    sql.execute(f"SELECT pg_drop_replication_slot('{cfg['slot.name']}')")
