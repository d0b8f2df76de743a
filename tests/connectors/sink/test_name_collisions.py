"""Names a target folds together: DuckDB's identifiers are case-insensitive, so tables ``Foo``
and ``foo``, or columns ``MixedCase`` and ``mixedcase``, would be one. The sink reports such a
collision per table, naming both names; the other tables go on (with a dead letter queue the
bad table's records go there, without one the task fails with that error, as Kafka Connect
does). PostgreSQL quotes identifiers case-sensitively and takes both."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from connectors.sink.engine.errors import NameCollisionError, TableCollisionError
from connectors.source.postgres.types import Oid
from hub.config import ConnectorSpec
from hub.log import Log
from hub.runtime.converters import JsonConverter
from hub.runtime.worker import Worker
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable

JSON = JsonConverter(schemas_enable=True)


def _tables() -> tuple[PgTable, PgTable, PgTable, PgTable]:
    cols = [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)]
    mixed = [*cols, ("MixedCase", Oid.TEXT, -1), ("mixedcase", Oid.TEXT, -1)]
    return PgTable("Foo", cols), PgTable("foo", cols), PgTable("bar", cols), PgTable("mixed", mixed)


# not against the Snowflake stand-in: its DuckDB folds the case of quoted names (Unicode too),
# which Snowflake does not; there they are two names, as in PostgreSQL. Redshift folds them:
# the sink writes every name folded (`Foo` is the table `foo`)
@pytest.mark.parametrize("sink", ["duckdb", "postgres", "postgres-merge", "redshift"],
                         indirect=True)  # fmt: skip
def test_case_folded_tables_and_columns_are_a_per_table_error(sink: Sink) -> None:
    big, small, bar, mixed = _tables()
    row = {"id": 1, "v": "x"}
    cfg = {"table.name.format": "${source.table}"}
    sink.start([], **cfg)
    sink.put([big.insert(0, row)])
    if sink.kind == "postgres":  # case-sensitive quoted identifiers: all of them replicate
        sink.put([small.insert(0, row), mixed.insert(0, {**row, "MixedCase": "a",
                                                          "mixedcase": "b"})])  # fmt: skip
        assert sink.rows("foo") == [(1, "x")] and sink.rows("mixed") == [(1, "x", "a", "b")]
        return
    with pytest.raises(NameCollisionError) as err:
        sink.put([small.insert(0, row)])
    msg = str(err.value)
    assert "'foo'" in msg and "'Foo'" in msg and "case-insensitive" in msg, msg
    with pytest.raises(NameCollisionError) as err:
        sink.put([mixed.insert(0, {**row, "MixedCase": "a", "mixedcase": "b"})])
    msg = str(err.value)
    assert "table mixed" in msg and "'MixedCase'" in msg and "'mixedcase'" in msg, msg
    sink.put([bar.insert(0, row)])  # the other tables go on
    assert sink.rows("Foo") == [(1, "x")] and sink.rows("bar") == [(1, "x")]
    # a column that differs only in case from one the table has
    sink.put([big.insert(1, {"id": 2, "v": "y"})])
    wide = PgTable("Foo", [("id", Oid.INT4, -1), ("V", Oid.TEXT, -1)])
    if sink.kind == "redshift":  # every name is folded: a later "V" is the column "v"
        sink.put([wide.insert(2, {"id": 3, "V": "z"})])
        assert sink.rows("foo") == [(1, "x"), (2, "y"), (3, "z")]
        return
    with pytest.raises(NameCollisionError, match="'V'.*'v'|'v'.*'V'"):
        sink.put([wide.insert(2, {"id": 3, "V": "z"})])


# not against the Snowflake stand-in: its DuckDB folds the case of quoted names (Unicode too),
# which Snowflake does not; there they are two names, as in PostgreSQL
@pytest.mark.parametrize("sink", ["duckdb", "postgres", "postgres-merge", "redshift"],
                         indirect=True)  # fmt: skip
def test_names_that_differ_only_in_non_ascii_case_are_two_names(sink: Sink) -> None:
    """DuckDB folds ASCII case only: ``Ä``/``ä`` columns and ``Äpfel``/``äpfel`` tables are
    distinct there (as in PostgreSQL), so both replicate; ``ÄB``/``Äb`` still collide."""
    cols = [("id", Oid.INT4, -1), ("Ä", Oid.TEXT, -1), ("ä", Oid.TEXT, -1)]
    one, two = PgTable("Äpfel", cols), PgTable("äpfel", [("id", Oid.INT4, -1)])
    cfg = {"table.name.format": "${source.table}"}
    sink.start([], **cfg)
    sink.put([one.insert(0, {"id": 1, "Ä": "upper", "ä": "lower"})])
    sink.put([two.insert(0, {"id": 2})])
    assert sink.rows("Äpfel") == [(1, "upper", "lower")] and sink.rows("äpfel") == [(2,)]
    both = PgTable("grün", [("id", Oid.INT4, -1), ("ÄB", Oid.TEXT, -1), ("Äb", Oid.TEXT, -1)])
    if sink.kind == "postgres":
        sink.put([both.insert(0, {"id": 1, "ÄB": "x", "Äb": "y"})])
        assert sink.rows("grün") == [(1, "x", "y")]
        return
    with pytest.raises(NameCollisionError, match="'ÄB'.*'Äb'"):
        sink.put([both.insert(0, {"id": 1, "ÄB": "x", "Äb": "y"})])
    with pytest.raises(NameCollisionError, match="'ÄPFEL'.*'Äpfel'|'Äpfel'.*'ÄPFEL'"):
        sink.put([PgTable("ÄPFEL", [("id", Oid.INT4, -1)]).insert(0, {"id": 3})])


def test_two_topics_that_name_one_table_are_a_per_table_error(sink: Sink) -> None:
    """``${topic}`` turns dots into underscores: source tables ``"a.b"`` and ``a_b`` would
    share ``srv_public_a_b`` (a delete in one taking the other's row). The first topic keeps
    the table, across restarts too; the second is refused, naming both."""
    cols = [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)]
    dotted, under, other = PgTable("a.b", cols), PgTable("a_b", cols), PgTable("c", cols)
    table = "srv_public_a_b"
    sink.put([dotted.insert(0, {"id": 1, "v": "from a.b"})])
    for batch in ([under.insert(0, {"id": 1, "v": "from a_b"})],
                  [under.event("d", 1, {"id": 1, "v": "from a.b"}, None)],
                  [other.insert(0, {"id": 1, "v": "c"}), dotted.insert(1, {"id": 2, "v": "x"}),
                   under.insert(2, {"id": 3, "v": "y"})],
                  [under.insert(3, {"id": 3, "v": "y"}), dotted.insert(2, {"id": 2, "v": "x"})],
                  ):  # fmt: skip
        with pytest.raises(TableCollisionError) as err:
            sink.put(batch)
        msg = str(err.value)
        assert msg.startswith(f"table {table}: topics 'srv.public.a.b' and 'srv.public.a_b'"), msg
        assert "table.name.format" in msg
    assert sink.rows(table) == [(1, "from a.b")]
    sink.stop()  # the owner is in the target: a new task refuses a_b too
    sink.start([dotted.topic, under.topic])
    with pytest.raises(TableCollisionError):
        sink.put([under.insert(4, {"id": 5, "v": "from a_b"})])
    sink.put([dotted.insert(3, {"id": 2, "v": "x"}), other.insert(1, {"id": 2, "v": "c"})])
    assert sink.rows(table) == [(1, "from a.b"), (2, "x")]
    assert sink.rows("srv_public_c") == [(2, "c")]  # the refused batch wrote nothing
    # a table dropped in the target is the next writer's
    assert sink.task is not None
    d = sink.task.dialect
    d.begin()
    d.execute(f'DROP TABLE "{table}"')
    d.commit()
    sink.start([under.topic])  # (a running task knows the table: its write would fail first)
    sink.put([under.insert(5, {"id": 6, "v": "from a_b"})])
    assert sink.rows(table) == [(6, "from a_b")]
    # a format without ${topic} merges topics on purpose (e.g. shards of one table)
    sink.start([], **{"table.name.format": "merged"})
    sink.put([dotted.insert(4, {"id": 7, "v": "a.b"}), under.insert(6, {"id": 8, "v": "a_b"})])
    assert sink.rows("merged") == [(7, "a.b"), (8, "a_b")]


@pytest.mark.parametrize("sink", ["postgres", "postgres-merge"], indirect=True)  # DuckDB: 1 writer
def test_the_owner_is_shared_by_the_tasks_of_a_target(sink: Sink) -> None:
    """A second task started before the first claimed the table still refuses the other
    topic: it asks the target, not only what it read at its start."""
    cols = [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)]
    dotted, under = PgTable("a.b", cols), PgTable("a_b", cols)
    other = Sink(sink.target, sink.config)
    other.start([under.topic])
    try:
        sink.put([dotted.insert(0, {"id": 1, "v": "from a.b"})])
        with pytest.raises(TableCollisionError, match="'srv.public.a.b' and 'srv.public.a_b'"):
            other.put([under.insert(0, {"id": 2, "v": "from a_b"})])
    finally:
        other.stop()
    assert sink.rows("srv_public_a_b") == [(1, "from a.b")]


def test_with_a_dead_letter_queue_only_the_bad_table_is_set_aside(tmp_path: Path) -> None:
    big, small, bar, _ = _tables()
    data = tmp_path / "data"
    with Log(str(data)) as log:
        prod = log.producer()
        for t in (big, small, bar):
            log.create_topic(t.topic, 1)
            for i in range(3):
                r = t.insert(i, {"id": i, "v": "x"})
                prod.send(t.topic, JSON.from_value(r.value, r.value_schema),
                          key=JSON.from_value(r.key, r.key_schema))  # fmt: skip
        prod.flush()
    duck = tmp_path / "w.duckdb"
    worker = Worker(str(data))
    try:
        worker.add(ConnectorSpec("sink", {
            "connector.class": "duckdb", "connection.url": f"duckdb://{duck}",
            "topics": ",".join(t.topic for t in (big, small, bar)),
            "table.name.format": "${source.table}", "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": "dlq",
            "errors.deadletterqueue.context.headers.enable": "true", "batch.max.wait.ms": 50,
        }, "test"))  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if worker.log.has_topic("dlq") and worker.log.partition("dlq", 0).high_watermark >= 3:
                break
            time.sleep(0.05)
        recs, _ = worker.log.partition("dlq", 0).records(0)
        assert {dict(r.headers)["__connect.errors.topic"] for r in recs} == {b"srv.public.foo"}
        msg = dict(recs[0].headers)["__connect.errors.exception.message"] or b""
        assert b"'Foo'" in msg and b"'foo'" in msg
        assert worker.status()["sink"][0].state == "RUNNING"
    finally:
        worker.stop()
    import duckdb

    with duckdb.connect(str(duck), read_only=True) as con:
        assert con.execute('SELECT count(*) FROM "Foo"').fetchall() == [(3,)]
        assert con.execute('SELECT count(*) FROM "bar"').fetchall() == [(3,)]


@pytest.mark.parametrize("sink", ["postgres", "postgres-merge"], indirect=True)
def test_names_past_postgresqls_63_bytes_are_the_table_it_stores(sink: Sink) -> None:
    # (PostgreSQL cuts identifiers at 63 bytes: two topics sharing their first 63 wrote one
    # table, each taking the other's rows, with no collision found)
    cols = [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)]
    stem = "customer_order_line_items_archive_history_é"  # (cut inside a 2-byte character)
    a, b = (
        PgTable(stem + "2023", cols, prefix="inventory_eu"),
        PgTable(stem + "2024", cols, prefix="inventory_eu"),
    )
    table = f"inventory_eu_public_{stem}2023".encode()[:63].decode("utf-8", "ignore")
    assert len(table.encode()) == 62
    sink.put([a.insert(0, {"id": 1, "v": "2023 one"}), a.insert(1, {"id": 2, "v": "2023 two"})])
    sink.put([a.update(2, {"id": 1, "v": "2023 one again"})])  # (the long name finds it)
    with pytest.raises(TableCollisionError, match="'inventory_eu.public.customer_order"):
        sink.put([b.insert(0, {"id": 1, "v": "2024 one"})])
    assert sink.rows(table) == [(1, "2023 one again"), (2, "2023 two")]
