"""The Snowflake sink's own surface: config errors that name the property (and never show a
secret), `hub validate --connect`'s checks against the stand-in (its test table dropped:
Snowflake's DDL cannot be rolled back), names of the schema setting, and the transaction a
killed worker left open, aborted by the next run of its task."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sink.snowflake.config import identifier
from connectors.sink.snowflake.connector import SnowflakeSink
from connectors.sink.snowflake.dialect import SnowflakeDialect
from connectors.source.postgres.types import Oid
from tests.connectors.sink.conftest import Sink, checks_pass, refuses, validate_sink
from tests.connectors.sink.events import PgTable
from tests.connectors.sink.targets import TARGETS
from tests.fixtures.snowflake import SnowflakeServer

BASE = {
    "snowflake.url.name": "xy12345.eu-central-1.snowflakecomputing.com",
    "snowflake.user.name": "HUB",
    "snowflake.database.name": "ANALYTICS",
}


def _validate(**config: Any) -> Any:
    return validate_sink("snowflake", **config)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({**BASE}, ["snowflake.private.key", "snowflake.password"]),
        ({**BASE, "snowflake.password": "hunter2", "snowflake.private.key": "hunter2"},
         ["not both"]),
        ({**BASE, "snowflake.password": "hunter2", "snowflake.url.name": "ftp://x"},
         ["snowflake.url.name", "not a Snowflake URL"]),
        ({**BASE, "snowflake.password": "hunter2", "connection.url": "duckdb:x.db"},
         ["connection.url", "snowflake.url.name"]),
        ({**BASE, "snowflake.password": "x", "connection.password": "hunter2"},
         ["connection.password", "snowflake.password"]),
        ({"snowflake.url.name": "a.snowflakecomputing.com", "snowflake.password": "hunter2"},
         ["snowflake.user.name", "snowflake.database.name"]),
    ],
)  # fmt: skip
def test_bad_configs_name_the_property_and_hide_secrets(
    config: dict[str, Any], words: list[str]
) -> None:
    refuses("snowflake", config, words)


def test_a_good_config_has_no_warnings_and_masks_its_secrets() -> None:
    valid = _validate(**BASE, **{"snowflake.password": "hunter2"})
    assert not valid.warnings
    assert "snowflake.password" in SnowflakeSink.secret_properties


def test_unquoted_names_are_upper_cased_as_snowflake_reads_them() -> None:
    assert identifier("cdc") == '"CDC"'
    assert identifier('"My Schema"') == '"My Schema"'
    assert identifier("my-schema") == '"my-schema"'


def test_validate_connect_creates_and_drops_a_table(
    snowflake_server: SnowflakeServer, snowflake_schema: str
) -> None:
    config = {"topics": "t", **snowflake_server.config(snowflake_schema)}
    checks = SnowflakeSink.check(config)
    checks_pass(checks)
    con = snowflake_server.connect()
    try:
        cur = con.cursor()
        schemas = cur.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
        tables = cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_hub_check_%'"
        ).fetchall()
    finally:
        con.close()
    assert (snowflake_schema.upper(),) in schemas  # where the check created its table
    assert tables == []  # and dropped it again


def test_the_next_run_of_a_task_aborts_what_a_killed_one_left_open(
    snowflake_server: SnowflakeServer, snowflake_schema: str
) -> None:
    """A killed worker's session keeps its open transaction and its locks (Snowflake ends it
    only when the session expires): the next run of the same task aborts it at connect, so its
    batch goes through, and the dead one's uncommitted write is gone; the staging tables it
    left are dropped."""
    where = {**snowflake_server.config(snowflake_schema), "snowflake.timeout.ms": 5000}
    t = PgTable("items", [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)])
    first = Sink(TARGETS["snowflake"], where)
    try:
        first.put([t.insert(0, {"id": 1, "v": "a"})])
        assert first.task is not None
        d = first.task.dialect
        assert isinstance(d, SnowflakeDialect)
        name = d._txn_name  # the task's transactions are named the same in every run
        leftover = d._staging_prefix + "0123456789ab_1"  # and its staging tables
        setup = snowflake_server.connect(snowflake_schema)
        try:
            setup.cursor().execute(f'CREATE TRANSIENT TABLE "{leftover}" ("C0" INT)')
        finally:
            setup.close()
        dead = snowflake_server.connect(snowflake_schema)  # a worker killed mid-batch:
        cur = dead.cursor()
        cur.execute(f"BEGIN TRANSACTION NAME {name}")
        cur.execute('UPDATE "srv_public_items" SET "v" = \'dead\' WHERE "id" = 1')
        first.stop()
        second = Sink(TARGETS["snowflake"], where)
        try:
            second.put([t.update(1, {"id": 1, "v": "b"})])
            assert second.rows("srv_public_items") == [(1, "b")]
            staged = second.query(
                "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%stage%'"
            )
            assert staged == []  # the killed run's staging table is dropped too
        finally:
            second.stop()
        other = snowflake_server.connect(snowflake_schema)
        try:  # and nothing else is aborted: a transaction of another name stays
            c = other.cursor()
            c.execute("BEGIN TRANSACTION NAME SOMEONE_ELSE")
            third = Sink(TARGETS["snowflake"], where)
            third.start([t.topic])
            third.stop()
            rows = c.execute("SHOW TRANSACTIONS").fetchall()
            assert [r[3] for r in rows] == ["SOMEONE_ELSE"]
            c.execute("ROLLBACK")
        finally:
            other.close()
    finally:
        first.stop()
