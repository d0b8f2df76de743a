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


def test_a_sink_of_the_same_name_on_another_schema_aborts_nothing(
    snowflake_server: SnowflakeServer, snowflake_schema: str
) -> None:
    # (the transactions were named by connector and task alone: two deployments whose sinks
    # share a name and a user aborted each other's batches; on the stand-in the rest of the
    # aborted batch then ran statement by statement and its offsets were stored)
    t = PgTable("items", [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)])
    first = Sink(TARGETS["snowflake"], snowflake_server.config(snowflake_schema))
    other_schema = snowflake_schema + "_b"
    second = Sink(TARGETS["snowflake"], snowflake_server.config(other_schema))
    running = snowflake_server.connect(snowflake_schema)
    try:
        first.put([t.insert(0, {"id": 1, "v": "a"})])
        assert first.task is not None
        name = first.task.dialect._txn_name  # type: ignore[attr-defined]
        cur = running.cursor()
        cur.execute(f"BEGIN TRANSACTION NAME {name}")  # (first's batch, under way)
        cur.execute('UPDATE "srv_public_items" SET "v" = \'b\' WHERE "id" = 1')
        second.put([t.insert(0, {"id": 1, "v": "x"})])  # (it connects: its own name)
        assert second.task is not None
        assert second.task.dialect._txn_name != name  # type: ignore[attr-defined]
        names = [r[3] for r in cur.execute("SHOW TRANSACTIONS").fetchall()]
        assert name in names  # not aborted
        cur.execute("COMMIT")
        assert first.rows("srv_public_items") == [(1, "b")]
    finally:
        running.close()
        second.stop()
        first.stop()


def test_a_batch_whose_transaction_another_run_aborted_stores_no_offsets(
    snowflake_server: SnowflakeServer, snowflake_schema: str
) -> None:
    # (a second run of the task connected while the first was inside its batch and aborted
    # it; the first session's remaining statements then ran one by one, its offsets among
    # them, and put() returned: the aborted part of the batch was skipped for good)
    from connectors.sink.engine.errors import SinkTransientError

    a = PgTable("ka", [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)])
    where = snowflake_server.config(snowflake_schema)
    victim = Sink(TARGETS["snowflake"], where)
    other: list[Sink] = []
    wrote: list[str] = []
    try:
        victim.put([a.insert(0, {"id": 1, "v": "x"})])
        assert victim.task is not None
        d = victim.task.dialect
        real = d._con.cursor  # type: ignore[attr-defined]

        def cursor(*args: Any, **kw: Any) -> Any:
            cur = real(*args, **kw)
            execute = cur.execute

            def run(sql: str, *p: Any, **k: Any) -> Any:
                if sql.startswith("SELECT CURRENT_TRANSACTION") and wrote and not other:
                    # (its rows applied, its offsets next: the second run connects now)
                    other.append(Sink(TARGETS["snowflake"], where))
                    other[0].start([])  # (it aborts the open transaction of sink/0)
                if sql.startswith(("UPDATE", "INSERT")) and "srv_public_ka" in sql:
                    wrote.append(sql)
                return execute(sql, *p, **k)

            cur.execute = run
            return cur

        d._con.cursor = cursor  # type: ignore[attr-defined]
        batch = [a.insert(1, {"id": 2, "v": "y"}), a.update(2, {"id": 1, "v": "x2"})]
        with pytest.raises(SinkTransientError, match="aborted by another session"):
            victim.task.put(batch)
        d._con.cursor = real  # type: ignore[attr-defined]
        assert other, "the second run never connected"
        assert victim.query('SELECT "next_offset" FROM "_hub_offsets"') == [(1,)]
        victim.task.put(batch)  # (retried)
        assert victim.rows("srv_public_ka") == [(1, "x2"), (2, "y")]
        assert victim.query('SELECT "next_offset" FROM "_hub_offsets"') == [(3,)]
    finally:
        for s in other:
            s.stop()
        victim.stop()
