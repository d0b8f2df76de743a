"""Tables without a key whose events carry the full old row (``REPLICA IDENTITY FULL``): an
update or delete changes exactly ONE target row equal to the old image (NULL matches NULL), as
PostgreSQL's own apply worker does; without an old image the table stays append only."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.sink.engine.errors import SinkFatalError
from connectors.source.postgres.types import Oid
from hub.config import ConnectorSpec
from tests.connectors.postgres.helpers import events, source_config, start, wait_for
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable
from tests.fixtures.postgres import PgServer

T = "srv_public_bag"
# targets with a row identifier (the warehouses have none: `test_without_a_row_identifier_...`)
ROW_ID = pytest.mark.parametrize("sink", ["duckdb", "postgres", "postgres-merge"], indirect=True)


def bag() -> PgTable:
    return PgTable("bag", [("name", Oid.TEXT, -1), ("n", Oid.INT8, -1), ("doc", Oid.JSONB, -1)],
                   pk=())  # fmt: skip


def row(name: str | None, n: int | None, doc: str | None = None) -> dict[str, Any]:
    return {"name": name, "n": n, "doc": doc}


def content(sink: Sink, table: str = T) -> Counter[tuple[Any, ...]]:
    return Counter(sink.query(f'SELECT "name", "n" FROM "{table}"'))


@pytest.mark.parametrize("sink", ["snowflake", "bigquery"], indirect=True)
def test_without_a_row_identifier_updates_of_a_keyless_table_are_refused(sink: Sink) -> None:
    """Snowflake and BigQuery have no row identifier to take away one of identical rows:
    appends land, an update or delete by old row fails the batch with what to do, and nothing
    of it lands."""
    t = bag()
    a = row("a", 1)
    sink.put([t.insert(0, a), t.insert(1, a)])
    with pytest.raises(SinkFatalError, match="no row identifier.*give the table a primary key"):
        sink.put([t.event("u", 2, a, row("a", 2)), t.insert(3, row("b", 1))])
    assert content(sink) == Counter({("a", 1): 2})


@ROW_ID
def test_update_and_delete_change_one_matching_row_across_batches(sink: Sink) -> None:
    t = bag()
    a, b, c = row("a", 1, '{"x": [1, 2]}'), row("b", None), row(None, None)
    sink.put([t.insert(0, a), t.insert(1, a), t.insert(2, a), t.insert(3, b), t.insert(4, b),
              t.insert(5, c)])  # fmt: skip
    sink.put([t.event("u", 6, a, row("a", 2, '{"x": [1, 2]}'))])  # one of three a's
    assert content(sink) == Counter({("a", 1): 2, ("a", 2): 1, ("b", None): 2, (None, None): 1})
    sink.put([t.event("d", 7, b, None), t.event("d", 8, c, None)])  # NULLs match NULLs
    assert content(sink) == Counter({("a", 1): 2, ("a", 2): 1, ("b", None): 1})
    # two deletes of identical rows delete two rows; one of a row the target lacks is a no-op
    sink.put([t.event("d", 9, a, None), t.event("d", 10, a, None),
              t.event("d", 11, row("zz", 9), None)])  # fmt: skip
    assert content(sink) == Counter({("a", 2): 1, ("b", None): 1})
    sink.put([t.event("d", 12, row("a", 2, '{"x": [1, 3]}'), None)])  # doc differs: no match
    assert content(sink) == Counter({("a", 2): 1, ("b", None): 1})


@ROW_ID
def test_changes_inside_one_batch_apply_in_order(sink: Sink) -> None:
    t = bag()
    x, y = row("x", 1), row("y", 2)
    sink.put([t.insert(0, x), t.insert(1, x)])
    sink.put([
        t.insert(2, y),
        t.event("u", 3, y, row("y", 3)),    # the row written just before in this batch
        t.event("d", 4, x, None),           # one of the target's two x's
        t.insert(5, x),
        t.event("d", 6, x, None), t.event("d", 7, x, None),  # then none is left
        t.event("u", 8, row("y", 3), row("y", 4)),
        t.event("d", 9, row("q", 0), None),  # nothing matches: the batch still commits
    ])  # fmt: skip
    assert content(sink) == Counter({("y", 4): 1})
    assert sink.query('SELECT "next_offset" FROM "_hub_offsets"') == [(10,)]


def test_a_truncate_in_the_batch_drops_what_came_before(sink: Sink) -> None:
    t = bag()
    sink.put([t.insert(0, row("a", 1)), t.insert(1, row("a", 1))])
    sink.put([t.event("d", 2, row("a", 1), None), t.truncate(3), t.insert(4, row("b", 1)),
              t.event("u", 5, row("b", 1), row("b", 2))])  # fmt: skip
    assert content(sink) == Counter({("b", 2): 1})


@ROW_ID
def test_an_old_row_finds_a_row_of_the_batch_across_a_column_added_or_dropped(
    sink: Sink,
) -> None:
    """The source: INSERT (b,1); ALTER TABLE bag ADD COLUMN c int; UPDATE bag SET n = 2, all
    in one batch: the old row (b,1,NULL) is the row (b,1) the batch appended before the
    column existed (a missing column is NULL, as in the target); then c is dropped again."""
    v1 = PgTable("bag", [("name", Oid.TEXT, -1), ("n", Oid.INT8, -1)], pk=())
    v2 = PgTable("bag", [("name", Oid.TEXT, -1), ("n", Oid.INT8, -1), ("c", Oid.INT4, -1)],
                 pk=())  # fmt: skip
    sink.put([v1.insert(0, {"name": "a", "n": 1})])
    sink.put([
        v1.insert(1, {"name": "b", "n": 1}),
        v2.event("u", 2, {"name": "a", "n": 1, "c": None}, {"name": "a", "n": 2, "c": None}),
        v2.event("u", 3, {"name": "b", "n": 1, "c": None}, {"name": "b", "n": 2, "c": None}),
    ])  # fmt: skip
    got = Counter(sink.query(f'SELECT "name", "n", "c" FROM "{T}"'))
    assert got == Counter({("a", 2, None): 1, ("b", 2, None): 1})
    # the other way: rows with c written, c dropped, the old rows no longer carry it
    sink.put([
        v2.insert(4, {"name": "d", "n": 1, "c": 7}),
        v1.event("u", 5, {"name": "d", "n": 1}, {"name": "d", "n": 2}),
        v1.event("d", 6, {"name": "a", "n": 2}, None),
    ])  # fmt: skip
    got = Counter(sink.query(f'SELECT "name", "n", "c" FROM "{T}"'))
    assert got == Counter({("b", 2, None): 1, ("d", 2, None): 1})


@pytest.mark.parametrize("sink", ["postgres"], indirect=True)  # DuckDB has no json/jsonb
def test_an_existing_json_column_is_matched_as_jsonb(sink: Sink) -> None:
    """A user-created ``json`` (not ``jsonb``) column, and ``json[]``: ``json = jsonb`` does
    not exist, the old row is compared as jsonb."""
    sink.start()
    assert sink.task is not None
    d = sink.task.dialect
    d.begin()
    d.execute('CREATE TABLE "srv_public_docs" ("name" text, "doc" json, "docs" json[])')
    d.commit()
    t = PgTable("docs", [("name", Oid.TEXT, -1), ("doc", Oid.JSON, -1), ("docs", 199, -1)],
                pk=())  # fmt: skip
    docs = r'{"{\"k\": 1}","[]"}'  # the array's text form, as pgoutput sends it
    a = {"name": "a", "doc": '{"k": 1}', "docs": docs}
    sink.put([t.insert(0, a), t.insert(1, {**a, "name": "b"})])
    sink.put([t.event("u", 2, a, {**a, "doc": '{"k": 2}'}),
              t.event("d", 3, {**a, "name": "b"}, None)])  # fmt: skip
    q = 'SELECT name, doc::text, docs::text FROM "srv_public_docs"'
    assert sink.query(q) == [("a", '{"k": 2}', r'{"{\"k\": 1}",[]}')]


@ROW_ID
def test_soft_delete_marks_one_matching_row(sink: Sink) -> None:
    t = bag()
    a = row("a", 1)
    sink.put([t.insert(0, a), t.insert(1, a), t.insert(2, row("b", 1))])
    sink.stop()
    sink.start([t.topic], **{"delete.mode": "soft"})
    sink.put([t.event("d", 3, a, None), t.event("u", 4, row("b", 1), row("b", 2)),
              t.insert(5, row("c", 1)), t.event("d", 6, row("c", 1), None)])  # fmt: skip
    got = Counter(sink.query(f'SELECT "name", "n", "__deleted" FROM "{T}"'))
    # (the rows from before soft deletes are live: false, as a row written since)
    assert got == Counter({("a", 1, True): 1, ("a", 1, False): 1, ("b", 2, False): 1,
                           ("c", 1, True): 1})  # fmt: skip
    sink.put([t.event("d", 7, a, None), t.event("d", 8, a, None)])  # only one is live
    got = Counter(sink.query(f'SELECT "name", "n", "__deleted" FROM "{T}"'))
    assert got[("a", 1, True)] == 2 and sum(got.values()) == 4


def test_without_an_old_image_the_table_stays_append_only_and_says_so_once(
    sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    t = bag()
    with caplog.at_level(logging.WARNING):
        sink.put([t.insert(0, row("a", 1)), t.update(1, row("a", 2)), t.update(2, row("a", 3)),
                  t.event("d", 3, None, None)])  # fmt: skip
    assert content(sink) == Counter({("a", 1): 1, ("a", 2): 1, ("a", 3): 1})
    warnings = [r.getMessage() for r in caplog.records if "REPLICA IDENTITY FULL" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "srv_public_bag" in warnings[0] and "append" in warnings[0]


@pytest.mark.integration
def test_a_replica_identity_full_table_ends_equal_to_its_source_in_both_sinks(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    """The real thing: PostgreSQL source -> log -> DuckDB and PostgreSQL sinks."""
    import psycopg

    duck = tmp_path / "w.duckdb"
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute("CREATE TABLE bag (name text, n int, doc jsonb)")
        pg.execute("ALTER TABLE bag REPLICA IDENTITY FULL")
        pg.execute("INSERT INTO bag VALUES ('a', 1, '{\"k\": 1}'), ('a', 1, '{\"k\": 1}'), "
                   "('a', 1, '{\"k\": 1}'), ('b', NULL, NULL), ('b', NULL, NULL)")  # fmt: skip
        target = f"{pg_db}_sink"  # not the source database: its publication takes all tables
        pg.execute(f'CREATE DATABASE "{target}"')
        out = psycopg.connect(pg_server.dsn(target), autocommit=True)
        worker = start(tmp_path, source_config(pg_server, pg_db))
        sinks = {
            "duck": f"duckdb://{duck}",
            "pgs": f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{target}",
        }
        for name, url in sinks.items():
            worker.add(ConnectorSpec(name, {
                "connector.class": "duckdb" if name == "duck" else "postgres-sink",
                "connection.url": url, "topics": "app.public.bag",
                "table.name.format": "sink.${source.table}", "batch.max.wait.ms": 50,
                **({"duckdb.idle.release.ms": 50} if name == "duck" else {})}, "test"))  # fmt: skip
        try:
            wait_for(lambda: len(events(worker.log, "app.public.bag")) >= 5, what="the snapshot")
            pg.execute("UPDATE bag SET n = 2 WHERE ctid = (SELECT min(ctid) FROM bag "
                       "WHERE name = 'a')")  # fmt: skip
            pg.execute("DELETE FROM bag WHERE ctid = (SELECT min(ctid) FROM bag WHERE n IS NULL)")
            pg.execute("UPDATE bag SET doc = '{\"k\": 2}' WHERE n = 1")  # both remaining a's
            pg.execute("INSERT INTO bag VALUES ('c', 3, '[]')")
            pg.execute("DELETE FROM bag WHERE name = 'c'")
            want = Counter(pg.execute("SELECT name, n, doc::text FROM bag").fetchall())
            wait_for(lambda: len(events(worker.log, "app.public.bag")) >= 11, what="the changes")

            def pg_sink() -> Counter[tuple[Any, ...]]:
                q = "SELECT name, n, doc::text FROM sink.bag"
                try:
                    return Counter(out.execute(q).fetchall())
                except psycopg.errors.UndefinedTable:
                    return Counter()

            def duck_sink() -> Counter[tuple[Any, ...]] | None:
                import duckdb

                try:
                    with duckdb.connect(str(duck), read_only=True) as con:
                        q = "SELECT name, n, json(doc)::text FROM sink.bag"
                        return Counter(con.execute(q).fetchall())
                except duckdb.Error:
                    return None  # not there yet, or the sink holds the file

            wait_for(lambda: pg_sink() == want, what="the PostgreSQL sink")
            wait_for(lambda: duck_sink() == Counter(
                {(n, v, d.replace(" ", "") if d else d): c for (n, v, d), c in want.items()}
            ), what="the DuckDB sink")  # fmt: skip
        finally:
            worker.stop()
            out.close()


@ROW_ID
def test_an_unchanged_toasted_value_of_a_keyless_update_comes_from_its_old_row(
    sink: Sink,
) -> None:
    # (another producer's placeholder was written as the value: the old row has it)
    t = bag()
    sink.put([t.insert(0, row("big", 1))])
    sink.put([t.event("u", 1, row("big", 1), row("__debezium_unavailable_value", 2))])
    assert content(sink) == Counter({("big", 2): 1})


def test_a_record_key_without_fields_is_refused(sink: Sink) -> None:
    # (ReplaceField$Key excluding the key's every field, or an include of a misspelt one:
    # every row went under the one key (), none was written, and the task ran on, its
    # offsets committed)
    from connectors.sink.engine.errors import RecordError
    from tests.connectors.sink.events import people

    t = people()
    good = t.insert(0, {"id": 1, "name": "a", "score": "1.00"})
    keyless = dataclasses.replace(
        t.insert(1, {"id": 2, "name": "b", "score": "2.00"}),
        key={}, key_schema={"type": "struct", "optional": False, "fields": []},
    )  # fmt: skip
    with pytest.raises(RecordError, match="the record key has no fields"):
        sink.put([good, keyless])
    sink.put([good])
    assert sink.rows("srv_public_people") == [(1, "a", Decimal("1.00"))]


@ROW_ID
def test_keyless_records_into_a_keyed_table_are_told_of_and_their_refusal_says_why(
    sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    # the source table's primary key dropped: its records come without a key to the table
    # made with one; they are taken while their key values are new to it, and one that is
    # not failed the batch with the target's bare unique violation, maybe days later
    from connectors.sink.engine.errors import KeylessIntoKeyedError

    cols = [("id", Oid.INT4, -1), ("name", Oid.TEXT, -1)]
    keyed, keyless = PgTable("t", cols), PgTable("t", cols, pk=())
    sink.put([keyed.insert(0, {"id": 1, "name": "a"}), keyed.insert(1, {"id": 2, "name": "b"})])
    with caplog.at_level(logging.WARNING):
        sink.put([keyless.insert(2, {"id": 3, "name": "c"})])
    told = [r.getMessage() for r in caplog.records if "have no key" in r.getMessage()]
    assert len(told) == 1 and "srv_public_t has a primary key (id)" in told[0]
    with pytest.raises(KeylessIntoKeyedError, match=r"primary key is \(id\).*drop the table"):
        sink.put([keyless.insert(3, {"id": 1, "name": "again"})])
    # a keyless update (old image) finds its row; nothing of the refused batch landed
    sink.put([keyless.event("u", 3, {"id": 2, "name": "b"}, {"id": 2, "name": "B"})])
    assert sorted(sink.query('SELECT "id", "name" FROM "srv_public_t"')) == [
        (1, "a"), (2, "B"), (3, "c"),
    ]  # fmt: skip
    assert len([r for r in caplog.records if "have no key" in r.getMessage()]) == 1
    # another refusal is said as the target says it (not blamed on the key)
    sink.execute('ALTER TABLE "srv_public_t" ALTER COLUMN "name" SET NOT NULL')
    with pytest.raises(SinkFatalError) as refused:
        sink.put([keyless.insert(4, {"id": 9, "name": None})])
    assert not isinstance(refused.value, KeylessIntoKeyedError)
    assert "null" in str(refused.value).lower(), refused.value
    # and a unique index's, not the primary key's (dropping the key would not help)
    sink.execute('CREATE UNIQUE INDEX "t_name" ON "srv_public_t" ("name")')
    with pytest.raises(SinkFatalError) as refused:
        sink.put([keyless.insert(5, {"id": 10, "name": "a"})])
    assert not isinstance(refused.value, KeylessIntoKeyedError), refused.value


@ROW_ID
def test_keyless_records_into_a_table_keyed_by_oddly_named_columns_are_told_why(
    sink: Sink,
) -> None:
    # (PostgreSQL's detail quotes such names: "a, b" had been read as two columns, and a
    # name holding ")=" had cut the list short: the target's bare error stood)
    from connectors.sink.engine.errors import KeylessIntoKeyedError

    cols = [("a, b", Oid.INT4, -1), ('x)="y', Oid.TEXT, -1), ("name", Oid.TEXT, -1)]
    keyed = PgTable("odd", cols, pk=("a, b", 'x)="y'))
    keyless = PgTable("odd", cols, pk=())
    sink.put([keyed.insert(0, {"a, b": 1, 'x)="y': "k", "name": "a"})])
    with pytest.raises(KeylessIntoKeyedError, match="primary key is"):
        sink.put([keyless.insert(1, {"a, b": 1, 'x)="y': "k", "name": "again"})])
