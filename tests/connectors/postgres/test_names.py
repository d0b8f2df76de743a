"""Hostile table names: the topic is sanitized as Debezium does (every character outside
``[A-Za-z0-9._-]`` becomes ``_``), the event's ``source`` block keeps the real names, so a sink
with ``${source.schema}.${source.table}`` recreates each table under its exact name; two tables
that would share a topic are a configuration error naming both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.source.cdc.topics import topic_name
from hub.config import ConnectorSpec
from tests.connectors.postgres.helpers import events, failure, source_config, start, wait_for
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration

# (schema, table) as PostgreSQL holds them, and the topic Debezium would give them
TABLES = {
    ("public", "Order Items"): "app.public.Order_Items",
    ("public", "x; drop table y"): "app.public.x__drop_table_y",
    ("public", 'a"b'): "app.public.a_b",
    ("My Schema", "T"): "app.My_Schema.T",
    ("public", "café_ü"): "app.public.caf___",
    ("public", "emoji_\U0001f600"): "app.public.emoji___",  # two UTF-16 units, as in Java
    ("public", "dotted.name"): "app.public.dotted.name",
    ("public", "plain"): "app.public.plain",
}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def test_topic_names_are_sanitized_as_debezium_does() -> None:
    for (schema, table), topic in TABLES.items():
        assert topic_name("app", schema, table) == topic
    assert len(topic_name("app", "s", "t" * 300)) == 249


def test_hostile_table_names_replicate_under_their_exact_names(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    duck = tmp_path / "w.duckdb"
    target = f"{pg_db}_sink"  # not the source database: its publication takes all tables
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute('CREATE SCHEMA "My Schema"')
        for schema, table in TABLES:
            pg.execute(f"CREATE TABLE {q(schema)}.{q(table)} (id int PRIMARY KEY, v text)")
            pg.execute(f"INSERT INTO {q(schema)}.{q(table)} VALUES (1, 'snap'), (2, 'two')")
        pg.execute(f'CREATE DATABASE "{target}"')
        worker = start(tmp_path, source_config(pg_server, pg_db, **{
            "provide.transaction.metadata": True}))  # fmt: skip
        url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{target}"
        for name, cls, conn in (("duck", "duckdb", f"duckdb://{duck}"),
                                ("pgs", "postgres-sink", url)):  # fmt: skip
            worker.add(ConnectorSpec(name, {
                "connector.class": cls, "connection.url": conn, "topics.regex": r"app\.[^.]+\..*",
                "table.name.format": "${source.schema}.${source.table}",
                "batch.max.wait.ms": 50,
                **({"duckdb.idle.release.ms": 50} if cls == "duckdb" else {}),
            }, "test"))  # fmt: skip
        try:
            for (schema, table), topic in TABLES.items():
                evs = wait_for(lambda: events(worker.log, topic), what=f"the snapshot of {topic}")  # noqa: B023
                src = evs[0][1]["source"]
                assert (src["schema"], src["table"]) == (schema, table)
            for schema, table in TABLES:
                pg.execute(f"UPDATE {q(schema)}.{q(table)} SET v = 'streamed' WHERE id = 1")
                pg.execute(f"DELETE FROM {q(schema)}.{q(table)} WHERE id = 2")
            for topic in TABLES.values():
                wait_for(lambda: len(events(worker.log, topic)) >= 5, what=topic)  # noqa: B023
            assert failure(worker) is None

            def collections() -> set[str]:
                return {c["data_collection"] for _, v in events(worker.log, "app.transaction")
                        for c in (v["data_collections"] or ())}  # fmt: skip

            wait_for(lambda: collections() == {f"{s}.{t}" for s, t in TABLES},
                     what="the transactions' data collections")  # fmt: skip
            want = [(1, "streamed")]

            def pg_rows(schema: str, table: str) -> list[tuple[Any, ...]]:
                with psycopg.connect(pg_server.dsn(target)) as out:
                    try:
                        return out.execute(f"SELECT * FROM {q(schema)}.{q(table)}").fetchall()
                    except psycopg.errors.UndefinedTable:
                        return []

            def duck_rows(schema: str, table: str) -> list[tuple[Any, ...]]:
                import duckdb

                try:
                    with duckdb.connect(str(duck), read_only=True) as con:
                        return con.execute(f"SELECT * FROM {q(schema)}.{q(table)}").fetchall()
                except duckdb.Error:
                    return []

            for schema, table in TABLES:
                wait_for(lambda: pg_rows(schema, table) == want, what=f"pg {schema}.{table}")  # noqa: B023
                wait_for(lambda: duck_rows(schema, table) == want, what=f"duck {schema}.{table}")  # noqa: B023
            assert failure(worker, "duck") is None and failure(worker, "pgs") is None
        finally:
            worker.stop()


def test_two_tables_on_one_topic_are_a_clear_error(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute('CREATE TABLE "a b" (id int PRIMARY KEY)')
        pg.execute('CREATE TABLE "a_b" (id int PRIMARY KEY)')
        worker = start(tmp_path, source_config(pg_server, pg_db))
        try:
            trace = wait_for(lambda: failure(worker), what="the failure")
            assert "public.a b" in trace and "public.a_b" in trace, trace
            assert "app.public.a_b" in trace and "table.exclude.list" in trace, trace
            assert not worker.log.has_topic("app.public.a_b")
        finally:
            worker.stop()
