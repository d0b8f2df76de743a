"""Every change operation against both targets (DuckDB file, PostgreSQL database)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest

from connectors.sink.engine.errors import ValueNotHeldError
from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.types import DECIMAL, INT32, STRING, ColumnType
from connectors.source.postgres.types import Oid
from hub.runtime.api import SinkRecord
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable, people

T = "srv_public_people"
T_TOPIC = "srv.public.people"


def test_insert_update_delete_tombstone_across_batches(sink: Sink) -> None:
    t = people()
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1.5"}),
              t.insert(1, {"id": 2, "name": "b", "score": "-2.25"})])  # fmt: skip
    assert sink.rows(T) == [(1, "a", Decimal("1.50")), (2, "b", Decimal("-2.25"))]
    sink.put([t.update(2, {"id": 1, "name": "a2", "score": "3"})])
    sink.put([t.delete(3, {"id": 2}), t.tombstone(4, {"id": 2})])
    assert sink.rows(T) == [(1, "a2", Decimal("3.00"))]
    assert sink.query('SELECT topic, "partition", next_offset FROM "_hub_offsets"') == [
        (t.topic, 0, 5)
    ]


def test_batch_collapses_by_key_in_offset_order(sink: Sink) -> None:
    t = people()
    sink.put([
        t.insert(0, {"id": 1, "name": "a", "score": "1"}),
        t.update(1, {"id": 1, "name": "b", "score": "2"}),
        t.insert(2, {"id": 2, "name": "x", "score": "0"}),
        t.delete(3, {"id": 2}), t.tombstone(4, {"id": 2}),
        t.update(5, {"id": 1, "name": "c", "score": "3"}),
        t.delete(6, {"id": 1}), t.tombstone(7, {"id": 1}),
        t.insert(8, {"id": 1, "name": "again", "score": "4"}),
        t.insert(9, {"id": 3, "name": "z", "score": None}),
    ])  # fmt: skip
    assert sink.rows(T) == [(1, "again", Decimal("4.00")), (3, "z", None)]


def test_truncate_empties_the_table_and_keeps_later_rows(sink: Sink) -> None:
    t = people()
    sink.put([t.insert(i, {"id": i, "name": "n", "score": "1"}) for i in range(5)])
    sink.put([t.insert(5, {"id": 9, "name": "gone", "score": "1"}), t.truncate(6),
              t.insert(7, {"id": 7, "name": "after", "score": "2"})])  # fmt: skip
    assert sink.rows(T) == [(7, "after", Decimal("2.00"))]
    sink.put([t.truncate(8)])
    assert sink.rows(T) == []


def test_primary_key_change_is_delete_tombstone_create(sink: Sink) -> None:
    t = people()
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
    sink.put([t.delete(1, {"id": 1}), t.tombstone(2, {"id": 1}),
              t.insert(3, {"id": 10, "name": "a", "score": "1"})])  # fmt: skip
    assert sink.rows(T) == [(10, "a", Decimal("1.00"))]


def test_table_without_key_is_append_only(sink: Sink) -> None:
    t = PgTable("log", [("msg", Oid.TEXT, -1), ("n", Oid.INT8, -1)], pk=())
    sink.put([t.insert(0, {"msg": "a", "n": 1}), t.insert(1, {"msg": "a", "n": 1}),
              t.update(2, {"msg": "b", "n": 2})])  # fmt: skip
    sink.put([t.insert(3, {"msg": "c", "n": 3})])
    assert sink.rows("srv_public_log", "2") == [("a", 1), ("a", 1), ("b", 2), ("c", 3)]
    assert sink.columns("srv_public_log") and sink.task is not None


def test_redelivery_after_a_crash_writes_nothing_twice(sink: Sink) -> None:
    t = PgTable("log", [("msg", Oid.TEXT, -1)], pk=())
    batch = [t.insert(i, {"msg": f"m{i}"}) for i in range(10)]
    sink.put(batch[:6])
    # the group commit was lost: a new task gets the same records again, and more
    stored = sink.start([t.topic])
    assert list(stored.values()) == [6]
    sink.put(batch)
    assert [r[0] for r in sink.rows("srv_public_log")] == sorted(f"m{i}" for i in range(10))


def test_a_topic_made_again_is_written_from_its_start(sink: Sink) -> None:
    """A topic deleted and made again (or a log whose data directory was emptied) has
    another id: the offset stored for the old one is not the new one's. Its first records
    had been skipped as if written (15 new records past a stored 10: the first 10 lost)."""
    t = PgTable("log", [("msg", Oid.TEXT, -1)], pk=())
    sink.start([t.topic], topic_ids={t.topic: ("first",)})
    sink.put([t.insert(i, {"msg": f"old{i}"}) for i in range(10)])
    stored = sink.start([t.topic], topic_ids={t.topic: ("second",)})
    assert list(stored.values()) == [0]
    new = [t.insert(i, {"msg": f"new{i:02}"}) for i in range(15)]
    sink.put(new)
    want = sorted([f"new{i:02}" for i in range(15)] + [f"old{i}" for i in range(10)])
    assert [r[0] for r in sink.rows("srv_public_log")] == want
    # the same topic again: resumed where it was, nothing twice
    assert list(sink.start([t.topic], topic_ids={t.topic: ("second",)}).values()) == [15]
    sink.put(new)
    assert [r[0] for r in sink.rows("srv_public_log")] == want
    # a copy of the topic with every offset kept (hub log import) continues its id
    assert list(sink.start([t.topic], topic_ids={t.topic: ("copy", "second")}).values()) == [15]
    # a log that keeps no ids leaves the stored offset as it is
    assert list(sink.start([t.topic]).values()) == [15]


def test_offsets_stored_before_topic_ids_are_kept_and_given_one(sink: Sink) -> None:
    """A ``_hub_offsets`` made before topic ids gets the column; its offsets are used as they
    are (no id to compare), and the next write stores the topic's."""
    from connectors.sink.engine import offsets as offsets_table
    from connectors.sink.engine.types import INT64

    t = PgTable("log", [("msg", Oid.TEXT, -1)], pk=())
    sink.start()
    assert sink.task is not None
    d = sink.task.dialect
    if sink.kind != "bigquery":  # (the old layout)
        sink.execute('ALTER TABLE "_hub_offsets" DROP COLUMN "topic_id"')
    else:  # (the emulator takes DROP COLUMN and keeps the column)
        sink.execute('DROP TABLE "_hub_offsets"')
        text, int32, int64 = (d.sql_type(ColumnType(k)) for k in (STRING, INT32, INT64))
        d.begin()
        d.create_table(offsets_table.REF, {"connector": text, "topic": text, "partition": int32,
                       "next_offset": int64}, ("connector", "topic", "partition"))  # fmt: skip
        d.commit()
    d.begin()
    d.upsert_values(offsets_table.REF, ("connector", "topic", "partition"),
                    ("connector", "topic", "partition", "next_offset"), [("sink", t.topic, 0, 4)],
                    replace=True)  # fmt: skip
    d.commit()
    assert "topic_id" not in sink.columns("_hub_offsets")
    assert list(sink.start([t.topic], topic_ids={t.topic: ("now",)}).values()) == [4]
    sink.put([t.insert(i, {"msg": f"m{i}"}) for i in range(6)])
    assert [r[0] for r in sink.rows("srv_public_log")] == ["m4", "m5"]
    assert sink.query('SELECT "next_offset", "topic_id" FROM "_hub_offsets"') == [(6, "now")]


def test_failed_put_leaves_the_target_unchanged(sink: Sink) -> None:
    t = people()
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
    bad = PgTable("people", [("id", Oid.INT4, -1), ("score", Oid.DATE, -1)])
    with pytest.raises(Exception, match="column score"):  # (no type holds a decimal and a date)
        sink.put([t.insert(1, {"id": 2, "name": "b", "score": "2"}),
                  bad.insert(2, {"id": 3, "score": "2024-01-01"})])  # fmt: skip
    assert sink.rows(T) == [(1, "a", Decimal("1.00"))]
    assert sink.query('SELECT next_offset FROM "_hub_offsets"') == [(1,)]
    # one record at a time (errors.tolerance=all) the good one goes in
    sink.put([t.insert(1, {"id": 2, "name": "b", "score": "2"})])
    assert len(sink.rows(T)) == 2


def test_soft_delete_and_cdc_metadata(sink: Sink) -> None:
    t = people()
    sink.start([t.topic], **{"delete.mode": "soft", "cdc.metadata.enabled": True})
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"}, lsn=77),
              t.insert(1, {"id": 2, "name": "b", "score": "2"})])  # fmt: skip
    sink.put([t.delete(2, {"id": 2}), t.tombstone(3, {"id": 2})])
    rows = sink.query(f'SELECT id, "__deleted", "__op", "__lsn" FROM "{T}" ORDER BY id')
    assert rows == [(1, False, "c", 77), (2, True, "c", 1001)]


def test_rows_written_before_delete_mode_soft_are_live(sink: Sink) -> None:
    # (switched from hard to soft: the column added, the rows the table had read NULL, and
    # WHERE NOT __deleted hid every one of them)
    t = people()
    sink.start([t.topic])
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
    sink.start([t.topic], **{"delete.mode": "soft"})
    sink.put([t.insert(1, {"id": 2, "name": "b", "score": "2"})])
    rows = sink.query(f'SELECT id FROM "{T}" WHERE NOT "__deleted" ORDER BY id')
    assert rows == [(1,), (2,)]


def test_a_renamed_sink_is_warned_that_another_wrote_its_topics(
    sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    # (renamed, it wrote the whole log again into the same tables: a keyless table's rows
    # twice, without a word)
    import logging

    from hub.runtime.api import SinkTaskContext, TopicPartition

    t = people()
    sink.start([t.topic])
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
    sink.stop()
    task = sink.target.task()
    caplog.set_level(logging.WARNING)
    task.start(sink.config, SinkTaskContext("renamed", 0, lambda t: ()))
    try:
        assert task.open({TopicPartition(t.topic, 0)}) == {}
    finally:
        task.stop()
    assert (f"renamed: the target holds offsets of {t.topic} written by connector(s) sink, "
            "none of this one's") in caplog.text  # fmt: skip
    caplog.clear()  # (a partition of a topic it writes, still empty: not a rename)
    task = sink.target.task()
    task.start(sink.config, SinkTaskContext("sink", 0, lambda t: ()))
    try:
        task.open({TopicPartition(t.topic, 0), TopicPartition(t.topic, 1)})
    finally:
        task.stop()
    assert "written by connector(s)" not in caplog.text


def test_flat_records_after_unwrap_and_schemaless_json(sink: Sink) -> None:
    def rec(off: int, key: object, value: object) -> SinkRecord:
        return SinkRecord("plain.events", 0, off, 0, key, value)

    sink.start(["plain.events"], **{"primary.key.fields": "id"})
    sink.put([
        rec(0, {"id": 1}, {"id": 1, "name": "a", "n": 1.5, "ok": True, "tags": {"x": 1}}),
        rec(1, {"id": 2}, {"id": 2, "name": "b", "n": 2.5, "ok": False, "tags": None}),
        rec(2, {"id": 1}, {"id": 1, "name": "a2", "n": 3.0, "ok": True, "tags": None}),
        rec(3, {"id": 2}, None),
        rec(4, 3, {"name": "from primitive key", "n": 0.0, "ok": True, "tags": None}),
        rec(5, {"id": 4}, {"id": 4, "name": "d", "__deleted": "false"}),
        rec(6, {"id": 4}, {"id": 4, "name": "d", "__deleted": "true"}),
    ])  # fmt: skip
    rows = sink.query('SELECT id, name, n, ok FROM "plain_events" ORDER BY id')
    assert rows == [(1, "a2", 3.0, True), (3, "from primitive key", 0.0, True)]


def test_a_schemaless_key_whose_fields_the_value_lacks_makes_key_columns(sink: Sink) -> None:
    # (datagen's records, JSON without schemas, into a SQL sink with its defaults: the key
    # {"id": ...} was added to the rows but not to the table, "does not have a column with
    # name id" at every MERGE)
    def rec(off: int, k: int, payload: str | None) -> SinkRecord:
        key = {"id": f"key-{k}"}
        value = None if payload is None else {"seq": off, "key": f"key-{k}", "payload": payload}
        return SinkRecord("gen.events", 0, off, 0, key, value)

    sink.start(["gen.events"])
    sink.put([rec(0, 1, "a"), rec(1, 2, "b"), rec(2, 1, "c")])
    sink.put([rec(3, 2, None), rec(4, 3, "d")])
    rows = sink.query('SELECT id, seq, payload FROM "gen_events" ORDER BY id')
    assert rows == [("key-1", 2, "c"), ("key-3", 4, "d")]


def test_a_schemaless_number_written_whole_after_a_fraction_is_taken(sink: Sink) -> None:
    # (JSON writers print 10.0 as 10: {"price": 10.5} then {"price": 11} had stopped the sink,
    # "no type holds both"); an integer a double would round is refused, naming the column
    from connectors.sink.engine.errors import ValueNotHeldError

    def rec(off: int, key: int, price: object) -> SinkRecord:
        return SinkRecord("plain.prices", 0, off, 0, {"id": key}, {"id": key, "price": price})

    sink.start(["plain.prices"], **{"primary.key.fields": "id"})
    sink.put([rec(0, 1, 10.5), rec(1, 2, 11), rec(2, 3, -(2**53))])
    sink.put([rec(3, 4, 12)])
    rows = sink.query('SELECT id, price FROM "plain_prices" ORDER BY id')
    assert [(i, float(p)) for i, p in rows] == [(1, 10.5), (2, 11.0), (3, -(2.0**53)), (4, 12.0)]
    with pytest.raises(ValueNotHeldError, match=r"column price: the integer 9007199254740993"):
        sink.put([rec(5, 5, 2**53 + 1)])


def test_schemaless_fields_set_back_to_null_are_set(sink: Sink) -> None:
    """A schemaless field that is null has no type to infer a column from: left out of the
    batch's columns, the target kept its old value ((1, 'x', 5) for every target)."""

    def rec(off: int, key: object, value: object) -> SinkRecord:
        return SinkRecord("plain.events", 0, off, 0, key, value)

    sink.start(["plain.events"], **{"primary.key.fields": "id"})
    sink.put([rec(0, {"id": 1}, {"id": 1, "c": "x", "n": 5}),
              rec(1, {"id": 2}, {"id": 2, "c": "y", "n": 6})])  # fmt: skip
    sink.put([rec(2, {"id": 1}, {"id": 1, "c": None, "n": None}),
              rec(3, {"id": 2}, {"id": 2, "c": "z", "n": None, "new": None})])  # fmt: skip
    rows = sink.query('SELECT id, c, n FROM "plain_events" ORDER BY id')
    assert rows == [(1, None, None), (2, "z", None)]  # ("new": no column, no type to give it)


def test_unchanged_toasted_values_keep_what_the_table_has(sink: Sink) -> None:
    ph = "__debezium_unavailable_value"
    cols = [("id", Oid.INT4, -1), ("body", Oid.TEXT, -1), ("doc", Oid.JSONB, -1),
            ("blob", Oid.BYTEA, -1), ("tags", 1009, -1), ("n", Oid.INT4, -1)]  # fmt: skip
    t = PgTable("docs", cols)
    full = {"body": "long text", "doc": '{"a": 1}', "blob": "\\x0102", "tags": "{x,y}"}
    sink.put([t.insert(0, {"id": 1, **full, "n": 1}), t.insert(1, {"id": 2, **full, "n": 1})])

    def toasted(off: int, key: int, n: int) -> SinkRecord:
        rec = t.update(off, {"id": key, "n": n})
        after = rec.value["after"]
        after.update(body=ph, doc=ph, blob=base64.b64encode(ph.encode()).decode(), tags=[ph])
        return rec

    # id 1: earlier batch; id 3: inserted and updated in the same batch
    sink.put([toasted(2, 1, 2), t.insert(3, {"id": 3, **full, "n": 1}), toasted(4, 3, 5)])
    rows = sink.query('SELECT id, body, doc, blob, tags, n FROM "srv_public_docs" ORDER BY id')
    for row, n in zip(rows, (2, 1, 5), strict=True):
        assert row[1] == "long text" and row[5] == n
        assert json.loads(row[2]) == {"a": 1} if isinstance(row[2], str) else row[2] == {"a": 1}
        tags = json.loads(row[4]) if isinstance(row[4], str) else list(row[4])  # Snowflake: JSON
        assert bytes(row[3]) == b"\x01\x02" and tags == ["x", "y"]


def test_a_rekeyed_row_keeps_the_unchanged_toasted_values_of_its_old_key(sink: Sink) -> None:
    """A primary-key update: Debezium sends a delete of the old key and a create of the new
    one whose unchanged TOASTed values are placeholders (its ``__debezium.oldkey`` header
    names the old key). No row under the new key holds them: they had become NULL. They
    come from the old key's row, in the target or earlier in the batch."""
    ph = "__debezium_unavailable_value"
    t = PgTable("docs", [("id", Oid.INT4, -1), ("body", Oid.TEXT, -1), ("n", Oid.INT4, -1)])

    def rekey(off: int, old: int, new: int, n: int) -> list[SinkRecord]:
        gone = t.delete(off, {"id": old})
        gone.headers = (("__debezium.newkey", json.dumps({"id": new}).encode()),)
        made = t.insert(off + 2, {"id": new, "body": ph, "n": n})
        made.headers = (("__debezium.oldkey", json.dumps({"id": old}).encode()),)
        return [gone, t.tombstone(off + 1, {"id": old}), made]

    sink.put(
        [t.insert(i, {"id": k, "body": f"b{k}", "n": 0}) for i, k in enumerate((1, 5, 8, 10, 11))]
    )
    toasted = t.update(10, {"id": 8, "n": 7})
    toasted.value["after"]["body"] = ph
    sink.put([
        *rekey(20, 1, 2, 1),  # the old row in the target
        t.insert(30, {"id": 3, "body": "b3", "n": 0}), *rekey(31, 3, 4, 2),  # in the batch
        *rekey(40, 5, 6, 3), *rekey(43, 6, 7, 4),  # moved twice
        toasted, *rekey(50, 8, 9, 5),  # updated (the value still the target's), then moved
        t.delete(60, {"id": 10}), *rekey(61, 11, 10, 6),  # onto a key deleted in the batch
    ])  # fmt: skip
    assert sink.rows("srv_public_docs") == [
        (2, "b1", 1), (4, "b3", 2), (7, "b5", 4), (9, "b8", 5), (10, "b11", 6)
    ]  # fmt: skip
    sink.put(rekey(70, 9, 12, 8))  # a batch of its own
    assert sink.rows("srv_public_docs")[-1] == (12, "b8", 8)
    # keys moved round in one batch: each new key was another move's old key (the copy
    # had deleted the rows under the new keys before reading the old ones: NULL)
    sink.put([t.insert(80 + i, {"id": k, "body": f"b{k}", "n": 0})
              for i, k in enumerate((20, 21, 30, 31))])  # fmt: skip
    sink.put([
        *rekey(90, 20, 22, 1), *rekey(93, 21, 20, 2), *rekey(96, 22, 21, 3),  # a swap
        *rekey(100, 30, 29, 4), *rekey(103, 31, 30, 5),  # a shift
    ])  # fmt: skip
    rows = {r[0]: r[1:] for r in sink.rows("srv_public_docs")}
    assert [rows[k] for k in (20, 21, 29, 30)] == [("b21", 2), ("b20", 3), ("b30", 4), ("b31", 5)]
    assert 22 not in rows and 31 not in rows


def test_a_rekeyed_row_with_a_decimal_key_finds_its_old_row(sink: Sink) -> None:
    # the header spells a decimal as its text (hub's sources: a string; Connect's
    # SimpleHeaderConverter: a number), the key record as base64 of the unscaled value
    ph = "__debezium_unavailable_value"
    numeric_10_2 = (10 << 16 | 2) + 4
    t = PgTable("prices", [("k", Oid.NUMERIC, numeric_10_2), ("body", Oid.TEXT, -1)], pk=("k",))

    def rekey(off: int, old: str, new: str, header: bytes) -> list[SinkRecord]:
        gone, made = t.delete(off, {"k": old}), t.insert(off + 1, {"k": new, "body": ph})
        made.headers = (("__debezium.oldkey", header),)
        return [gone, made]

    sink.put([t.insert(0, {"k": "1.50", "body": "a"})])
    sink.put([
        *rekey(1, "1.50", "2.00", b'{"k":"1.50"}'),  # the old row in the target
        t.insert(3, {"k": "7.25", "body": "b"}), *rekey(4, "7.25", "8.00", b'{"k":7.25}'),
    ])  # fmt: skip
    rows = sorted(sink.query('SELECT k, body FROM "srv_public_prices"'))
    assert [(Decimal(k), b) for k, b in rows] == [(Decimal("2.00"), "a"), (Decimal("8.00"), "b")]


@pytest.mark.parametrize("sink", ["postgres", "postgres-merge"], indirect=True)
def test_a_nul_character_postgresql_cannot_store_is_named_with_its_column(sink: Sink) -> None:
    # (psycopg's error named the byte, not the table or the column)
    from connectors.sink.engine.errors import ValueNotHeldError

    t = people()
    with pytest.raises(ValueNotHeldError, match=f"table {T}, column name: a text holding a NUL"):
        sink.put([t.insert(0, {"id": 1, "name": "a\x00b", "score": "1"})])


def test_float_nan_and_infinities_arrive_as_such(sink: Sink) -> None:
    """JSON carries them as strings ("NaN", "Infinity"), as Kafka's JsonConverter writes
    them; the table gets the float values, not NULL."""
    import math

    t = PgTable("floats", [("id", Oid.INT4, -1), ("x", Oid.FLOAT8, -1), ("y", Oid.FLOAT4, -1)])
    sink.put([
        t.insert(0, {"id": 1, "x": "NaN", "y": "Infinity"}),
        t.insert(1, {"id": 2, "x": "-Infinity", "y": "1.5"}),
        t.insert(2, {"id": 3, "x": None, "y": None}),
    ])  # fmt: skip
    rows = sink.rows("srv_public_floats")
    assert math.isnan(rows[0][1]) and rows[0][2] == math.inf
    assert rows[1][1:] == (-math.inf, 1.5)
    assert rows[2][1:] == (None, None)


def test_a_table_without_primary_key_takes_keyed_changes_by_key(sink: Sink) -> None:
    """A table someone created without the key as its primary key: nothing to name in an
    ``ON CONFLICT``, so the rows go through the default ``MERGE``; an unchanged TOASTed
    value still keeps what the table has."""
    ph = "__debezium_unavailable_value"
    t = PgTable("notes", [("id", Oid.INT4, -1), ("body", Oid.TEXT, -1), ("n", Oid.INT4, -1)])
    sink.start([t.topic])
    assert sink.task is not None
    d = sink.task.dialect
    d.begin()
    kinds = {"id": INT32, "body": STRING, "n": INT32}
    d.create_table(TableRef(None, "srv_public_notes"),
                   {c: d.sql_type(ColumnType(k)) for c, k in kinds.items()}, ())  # fmt: skip
    d.commit()
    sink.put([t.insert(0, {"id": 1, "body": "long", "n": 1}),
              t.insert(1, {"id": 2, "body": "b", "n": 1})])  # fmt: skip
    toasted = t.update(2, {"id": 1, "n": 2})
    toasted.value["after"]["body"] = ph
    sink.put([toasted, t.delete(3, {"id": 2}), t.insert(4, {"id": 3, "body": "c", "n": 3})])
    assert sink.rows("srv_public_notes") == [(1, "long", 2), (3, "c", 3)]
    d.begin()
    info = d.describe(TableRef(None, "srv_public_notes"))
    d.rollback()
    assert info is not None and info.pk == ()  # the sink added none


# (the warehouses refuse keyless updates and deletes: they have no row identifier)
@pytest.mark.parametrize("sink", ["duckdb", "postgres", "postgres-merge"], indirect=True)
def test_keyed_and_keyless_changes_of_a_table_apply_in_order(sink: Sink) -> None:
    # after DROP PRIMARY KEY / ADD PRIMARY KEY one batch held keyed and keyless changes of a
    # table, applied as keyless removals, keyed writes, keyless appends: a keyless delete
    # after a keyed update matched nothing (the row stayed), a keyless insert before a keyed
    # update came after it (the row twice)
    cols = [("id", Oid.INT4, -1), ("a", Oid.INT4, -1)]
    keyed, keyless = PgTable("t", cols), PgTable("t", cols, pk=())
    sink.put([keyed.insert(0, {"id": 1, "a": 10}), keyed.insert(1, {"id": 2, "a": 20})])
    sink.put([
        keyed.update(2, {"id": 1, "a": 11}),
        keyless.delete(3, {"id": 1, "a": 11}),  # (the primary key dropped)
        keyless.event("u", 4, {"id": 2, "a": 20}, {"id": 2, "a": 21}),
    ])  # fmt: skip
    assert sink.rows("srv_public_t") == [(2, 21)]
    added = PgTable("u", cols, pk=())
    sink.put([added.insert(0, {"id": 2, "a": 20})])
    sink.put([
        added.insert(1, {"id": 1, "a": 10}),
        PgTable("u", cols).update(2, {"id": 1, "a": 11}),  # (a primary key added)
    ])  # fmt: skip
    assert sink.rows("srv_public_u") == [(1, 11), (2, 20)]


@pytest.mark.parametrize("pk", [True, False], ids=["primary_key", "table_without_one"])
def test_a_decimal_key_with_a_scale_matches_its_own_row(sink: Sink, pk: bool) -> None:
    # (the PostgreSQL sink compared the target's 1.50 with the staged unscaled 150: a delete
    # of 1.50 removed the row 150.00, an unchanged TOASTed value became NULL, and a table
    # without a primary key took every update as a new row)
    ph = "__debezium_unavailable_value"
    numeric_10_2 = (10 << 16 | 2) + 4
    t = PgTable("prices", [("k", Oid.NUMERIC, numeric_10_2), ("v", Oid.TEXT, -1),
                           ("body", Oid.TEXT, -1)], pk=("k",))  # fmt: skip
    if not pk:
        sink.start([t.topic])
        assert sink.task is not None
        d = sink.task.dialect
        d.begin()
        types = {"k": d.sql_type(ColumnType(DECIMAL, 10, 2)), "v": d.sql_type(ColumnType(STRING)),
                 "body": d.sql_type(ColumnType(STRING))}  # fmt: skip
        d.create_table(TableRef(None, "srv_public_prices"), types, ())
        d.commit()
    sink.put([t.insert(0, {"k": "1.50", "v": "a", "body": "long"}),
              t.insert(1, {"k": "150.00", "v": "b", "body": "x"}),
              t.insert(2, {"k": "2.75", "v": "c", "body": "y"})])  # fmt: skip
    toasted = t.update(3, {"k": "1.50", "v": "a2"})
    toasted.value["after"]["body"] = ph
    sink.put([toasted, t.delete(4, {"k": "2.75"}), t.tombstone(5, {"k": "2.75"})])
    sink.put([t.update(6, {"k": "1.50", "v": "a3", "body": ph})])
    rows = sorted(sink.query('SELECT k, v, body FROM "srv_public_prices"'))
    assert [(Decimal(k), v, b) for k, v, b in rows] == [
        (Decimal("1.50"), "a3", "long"), (Decimal("150.00"), "b", "x"),
    ]  # fmt: skip
    sink.put([t.delete(7, {"k": "1.50"}), t.tombstone(8, {"k": "1.50"})])
    assert [(Decimal(k), v) for k, v in sink.query('SELECT k, v FROM "srv_public_prices"')] == [
        (Decimal("150.00"), "b")
    ]


@pytest.mark.parametrize("sink", ["duckdb", "postgres", "postgres-merge"], indirect=True)
def test_an_insert_keeps_a_value_that_looks_like_the_unchanged_placeholder(sink: Sink) -> None:
    # (a bool[] of 28 trues, one per byte of the placeholder, is one of its forms: an insert
    # or a snapshot read of it was written as NULL; only updates, and the create of a
    # re-keyed row (Debezium's __debezium.oldkey header), carry placeholders)
    t = PgTable("flags", [("id", Oid.INT4, -1), ("f", 1000, -1), ("n", Oid.INT4, -1)])
    trues = "{" + ",".join(["t"] * 28) + "}"
    snap = t.insert(1, {"id": 2, "f": trues, "n": 0})
    snap.value["op"] = "r"
    sink.put([t.insert(0, {"id": 1, "f": trues, "n": 0}), snap,
              t.insert(2, {"id": 3, "f": "{f}", "n": 0})])  # fmt: skip
    # the same batch: an update of a row inserted before it keeps the insert's real value
    sink.put([t.insert(3, {"id": 4, "f": "{f,t}", "n": 0}), t.update(4, {"id": 4, "f": trues,
              "n": 1}), t.insert(5, {"id": 5, "f": trues, "n": 0})])  # fmt: skip
    sink.put([t.update(6, {"id": 3, "f": trues, "n": 1})])  # (an update: unchanged, kept)
    rekeyed = t.insert(7, {"id": 6, "f": trues, "n": 2})
    rekeyed.headers = (("__debezium.oldkey", b'{"id":3}'),)
    sink.put([rekeyed])
    rows = {r[0]: (list(r[1]) if r[1] is not None else None, r[2])
            for r in sink.query('SELECT id, f, n FROM "srv_public_flags"')}  # fmt: skip
    assert rows == {
        1: ([True] * 28, 0), 2: ([True] * 28, 0), 3: ([False], 1), 4: ([False, True], 1),
        5: ([True] * 28, 0), 6: ([False], 2),  # (6: row 3's value, which it was moved from)
    }  # fmt: skip


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
@pytest.mark.parametrize("deletes", ["true", "false"])
def test_unwrap_rewrite_deletes_or_marks_rows_by_delete_enabled(sink: Sink, deletes: str) -> None:
    # (with delete.enabled=false the __deleted column was dropped and the delete skipped: a
    # deleted row stayed in the target looking live; Debezium's JDBC sink keeps __deleted)
    from dataclasses import replace

    from hub.runtime.transforms.chain import build_chain

    chain = build_chain({
        "transforms": "unwrap",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.delete.handling.mode": "rewrite",
        "transforms.unwrap.drop.tombstones": "true",
    })  # fmt: skip
    t = people()
    src = [t.insert(0, {"id": 1, "name": "a", "score": "1"}),
           t.insert(1, {"id": 2, "name": "b", "score": "2"}),
           t.event("d", 2, {"id": 2, "name": "b", "score": "2"}),  # (REPLICA IDENTITY FULL)
           t.tombstone(3, {"id": 2})]  # fmt: skip
    flat = [chain.apply(replace(r, original_topic=r.topic, original_partition=0,
                                original_offset=r.offset)) for r in src]  # fmt: skip
    sink.start([t.topic], **{"delete.enabled": deletes})
    sink.put([r for r in flat if r is not None])
    if deletes == "true":
        assert sink.query(f'SELECT id FROM "{T}" ORDER BY id') == [(1,)]
    else:
        rows = sink.query(f'SELECT id, name, "__deleted" FROM "{T}" ORDER BY id')
        assert rows == [(1, "a", "false"), (2, "b", "true")]


def _through(config: dict[str, str], records: list[SinkRecord]) -> list[SinkRecord]:
    from dataclasses import replace

    from hub.runtime.transforms.chain import build_chain

    chain = build_chain(config)
    out = [chain.apply(replace(r, original_topic=r.topic, original_partition=0,
                               original_offset=r.offset)) for r in records]  # fmt: skip
    return [r for r in out if r is not None]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
@pytest.mark.parametrize("schemas", [True, False], ids=["schema", "schemaless"])
def test_a_row_with_columns_named_op_before_after_is_a_row(sink: Sink, schemas: bool) -> None:
    # (an audit table's row state after unwrap was read as a change event by its fields: its
    # op='t' emptied the sink table, op='d' was never written, any other op failed the task;
    # an event is one by its schema's name, *.Envelope, as in Debezium's sink and unwrap)
    t = PgTable("audit", [("id", Oid.INT4, -1), ("op", Oid.TEXT, -1),
                          ("before", Oid.TEXT, -1), ("after", Oid.TEXT, -1)])  # fmt: skip
    unwrap = {"transforms": "u", "transforms.u.type": "ExtractNewRecordState"}
    rows = [{"id": i, "op": op, "before": "b", "after": "a" if op != "d" else None}
            for i, op in enumerate(["c", "u", "d", "t", "r"], 1)]  # fmt: skip
    from dataclasses import replace

    sink.start([t.topic])
    for batch in ([rows[0], rows[1]], [rows[2]], [rows[3]], [rows[4]]):
        flat = _through(unwrap, [t.insert(r["id"], r) for r in batch])
        if not schemas:  # (without one, an op of Debezium's with text before/after: a row)
            flat = [replace(r, value_schema=None, key_schema=None) for r in flat]
        sink.put(flat)
    got = sink.query('SELECT id, op, "before", "after" FROM "srv_public_audit" ORDER BY id')
    assert got == [(r["id"], r["op"], r["before"], r["after"]) for r in rows]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_an_event_with_its_before_dropped_is_an_event(sink: Sink) -> None:
    # (ReplaceField$Value exclude=before, to make events smaller: the event was written as a
    # row, its after, source and op as columns, and its deletes as rows too)
    t = people()
    drop = {
        "transforms": "r",
        "transforms.r.exclude": "before",
        "transforms.r.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
    }
    sink.start([t.topic])
    sink.put(_through(drop, [
        t.insert(0, {"id": 1, "name": "a", "score": "1"}),
        t.insert(1, {"id": 2, "name": "b", "score": "2"}),
        t.event("u", 2, {"id": 1, "name": "a", "score": "1"},
                {"id": 1, "name": "a2", "score": "1"}),
        t.delete(3, {"id": 2}),
    ]))  # fmt: skip
    assert sink.query(f'SELECT id, name FROM "{T}" ORDER BY id') == [(1, "a2")]


def test_a_value_a_dialect_cannot_read_is_named_by_table_and_column(sink: Sink) -> None:
    # (MaskField makes a timestamptz, a ZonedTimestamp string, ""; the sinks failed with
    # "ValueError: not an ISO 8601 timestamp with offset: ''", no table, no column)
    t = PgTable("ev", [("id", Oid.INT4, -1), ("ts", Oid.TIMESTAMPTZ, -1)])
    mask = {"transforms": "u,m", "transforms.u.type": "ExtractNewRecordState",
            "transforms.m.type": "MaskField$Value", "transforms.m.fields": "ts"}  # fmt: skip
    sink.start([t.topic])
    with pytest.raises(ValueNotHeldError) as got:
        sink.put(_through(mask, [t.insert(0, {"id": 1, "ts": "2024-01-01 00:00:00+00"})]))
    assert "column ts" in str(got.value) and "srv_public_ev" in str(got.value), got.value
    assert "not an ISO 8601 timestamp with offset: ''" in str(got.value), got.value


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
@pytest.mark.parametrize("exclude", ["", "source", "before"])
def test_a_schemaless_event_a_transform_changed_is_an_event(sink: Sink, exclude: str) -> None:
    # (without a schema an event is one by its fields: one InsertField added a field to, or
    # ReplaceField took its source out of, had been written as a row, its deletes as rows)
    def ev(op: str, off: int, before: Any, after: Any) -> SinkRecord:
        source = {
            "version": "2.7.0.hub2",
            "connector": "postgresql",
            "name": "srv",
            "db": "db",
            "schema": "public",
            "table": "people",
            "lsn": 100 + off,
        }
        value = {"before": before, "after": after, "source": source, "op": op, "ts_ms": 1}
        return SinkRecord(T_TOPIC, 0, off, 0, {"id": (after or before)["id"]}, value)

    change = (
        {"transforms": "r", "transforms.r.exclude": exclude,
         "transforms.r.type": "org.apache.kafka.connect.transforms.ReplaceField$Value"}
        if exclude else
        {"transforms": "i", "transforms.i.static.field": "region",
         "transforms.i.static.value": "eu",
         "transforms.i.type": "org.apache.kafka.connect.transforms.InsertField$Value"}
    )  # fmt: skip
    sink.start([T_TOPIC])
    sink.put(_through(change, [
        ev("c", 0, None, {"id": 1, "name": "a"}), ev("c", 1, None, {"id": 2, "name": "b"}),
        ev("u", 2, {"id": 1, "name": "a"}, {"id": 1, "name": "a2"}),
        ev("d", 3, {"id": 2, "name": "b"}, None),
    ]))  # fmt: skip
    assert sink.query(f'SELECT id, name FROM "{T}" ORDER BY id') == [(1, "a2")]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_record_value_keys_and_the_tombstone_after_a_delete(sink: Sink) -> None:
    # (keyed by a value column the record key lacks, every tombstone after a delete failed
    # the task: "key column 'name' is missing"; the delete event did the work)
    t = people()
    sink.start([t.topic], **{"primary.key.mode": "record_value", "primary.key.fields": "name"})
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"}),
              t.insert(1, {"id": 2, "name": "b", "score": "2"})])  # fmt: skip
    sink.put([t.event("d", 2, {"id": 2, "name": "b", "score": "2"}), t.tombstone(3, {"id": 2})])
    assert sink.query(f'SELECT name FROM "{T}"') == [("a",)]
    with pytest.raises(Exception, match="key column 'name' is missing"):
        sink.put([t.tombstone(5, {"id": 1})])  # (alone: nothing names its row)


def test_insert_mode_takes_a_key_deleted_and_inserted_again_in_one_batch(sink: Sink) -> None:
    # (the batch kept the insert alone: the old row was still there and the INSERT failed on
    # the duplicate key, stopping the task on a valid stream)
    t = people()
    sink.start([t.topic], **{"insert.mode": "insert"})
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
    sink.put([t.delete(1, {"id": 1}), t.tombstone(2, {"id": 1}),
              t.insert(3, {"id": 1, "name": "again", "score": "2"})])  # fmt: skip
    assert sink.rows(T) == [(1, "again", Decimal("2.00"))]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_time_outside_the_day_is_refused_by_column(sink: Sink) -> None:
    # (a MySQL TIME is a duration: DuckDB's TIME column took -01:00:00 and 25:00:00 as
    # invalid values, read back as an internal error; hub verify crashed on them)
    from connectors.sink.engine.errors import SinkFatalError

    schema = {"type": "struct", "name": "row", "optional": False, "fields": [
        {"type": "int32", "optional": False, "field": "id"},
        {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTime", "version": 1,
         "field": "t"},
    ]}  # fmt: skip
    key = {"type": "struct", "optional": False, "fields": [schema["fields"][0]]}

    def rec(off: int, i: int, t: int) -> SinkRecord:
        return SinkRecord("durations", 0, off, 0, {"id": i}, {"id": i, "t": t}, (), key, schema)

    sink.start(["durations"])
    sink.put([rec(0, 1, 3_600_000_000), rec(1, 2, 86_400_000_000)])
    for bad in (-1_000_000, 90_000_000_000):
        with pytest.raises(SinkFatalError, match=r"column t .*not a time of day"):
            sink.put([rec(2, 3, bad)])
    assert [r[0] for r in sink.query('SELECT id FROM "durations" ORDER BY id')] == [1, 2]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_key_field_the_row_lacks_is_a_column_of_the_table(sink: Sink) -> None:
    # (after a key transform such as InsertField on the key, ByLogicalTableRouter's table
    # identifier: every batch failed on a raw driver error, "no column tbl"; Debezium's JDBC
    # sink writes the key's fields as columns, as hub's flat records already did)
    from dataclasses import replace

    t = people()

    def keyed(rec: SinkRecord) -> SinkRecord:
        ks = dict(rec.key_schema or {})
        ks["fields"] = [*ks["fields"], {"type": "string", "optional": False, "field": "tbl"}]
        return replace(rec, key={**rec.key, "tbl": "public.people"}, key_schema=ks)

    sink.put([keyed(t.insert(0, {"id": 1, "name": "a", "score": "1"})),
              keyed(t.insert(1, {"id": 2, "name": "b", "score": "2"}))])  # fmt: skip
    sink.put([keyed(t.update(2, {"id": 1, "name": "a2", "score": "1"})),
              keyed(t.event("d", 3, {"id": 2, "name": "b", "score": "2"}))])  # fmt: skip
    rows = sink.query(f'SELECT id, tbl, name FROM "{T}" ORDER BY id')
    assert rows == [(1, "public.people", "a2")]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_table_keyed_by_an_interval_takes_its_changes_by_key(sink: Sink) -> None:
    # (DuckDB cannot index an INTERVAL: CREATE TABLE failed on a raw driver error)
    t = PgTable("spans", [("d", Oid.INTERVAL, -1), ("v", Oid.TEXT, -1)], pk=("d",))
    sink.put([t.insert(0, {"d": "1 day 02:00:00", "v": "a"}),
              t.insert(1, {"d": "-00:00:01", "v": "b"})])  # fmt: skip
    sink.put([t.update(2, {"d": "1 day 02:00:00", "v": "a2"}), t.delete(3, {"d": "-00:00:01"}),
              t.tombstone(4, {"d": "-00:00:01"})])  # fmt: skip
    assert [r[1] for r in sink.query('SELECT d, v FROM "srv_public_spans"')] == ["a2"]


@pytest.mark.parametrize("sink", ["postgres"], indirect=True)
def test_a_wide_tables_unchanged_toasted_values_are_kept_past_1600_staged_columns(
    sink: Sink,
) -> None:
    # (a mark column per unchanged value: 1 101 columns and 500 kept ones made a staging
    # table past PostgreSQL's 1 600 columns, the batch failing for ever)
    from connectors.source.postgres.types import Oid

    cols = [("id", Oid.INT4, -1)] + [(f"i{n}", Oid.INT4, -1) for n in range(600)]
    cols += [(f"t{n}", Oid.TEXT, -1) for n in range(500)]
    t = PgTable("wide", cols)
    first = {"id": 1, **{f"i{n}": n for n in range(600)}, **{f"t{n}": f"v{n}" for n in range(500)}}
    held = {f"t{n}": "__debezium_unavailable_value" for n in range(500)}
    sink.put([t.insert(0, first), t.insert(1, {**first, "id": 2})])
    sink.put([t.update(2, {**first, "i0": 7, **held}), t.update(3, {**first, "id": 2, "i0": 8})])
    rows = sink.query('SELECT "id", "i0", "t0", "t1", "t498", "t499" FROM "srv_public_wide" '
                      "ORDER BY 1")  # fmt: skip
    assert rows == [(1, 7, "v0", "v1", "v498", "v499"), (2, 8, "v0", "v1", "v498", "v499")]


def test_duckdb_out_of_memory_names_the_batch_settings(duck: Sink) -> None:
    # (DuckDB's own message names its threads and preserve_insertion_order: the batch's size
    # is what a sink of big rows lowers)
    from connectors.sink.engine.errors import SinkFatalError

    t = PgTable("docs", [("id", Oid.INT4, -1), ("doc", Oid.TEXT, -1)])
    duck.start(["srv.public.docs"], **{"duckdb.memory.limit": "4MB"})
    big = [t.insert(i, {"id": i, "doc": f"{i}" + "x" * 2_000_000}) for i in range(6)]
    with pytest.raises(SinkFatalError, match="lower batch.max.bytes"):
        duck.put(big)


@pytest.mark.parametrize("sink", ["postgres"], indirect=True)
def test_a_limit_of_postgresql_fails_the_batch_for_good(sink: Sink) -> None:
    # (program_limit_exceeded, class 54, is an OperationalError to psycopg: taken for a lost
    # connection, the same batch was retried for ever)
    from connectors.sink.engine.errors import SinkFatalError, SinkTransientError

    t = PgTable("toowide", [("id", Oid.INT4, -1)] + [(f"c{n}", Oid.INT4, -1) for n in range(1600)])
    with pytest.raises(SinkFatalError, match="1600 columns") as failed:
        sink.put([t.insert(0, {"id": 1, **{f"c{n}": n for n in range(1600)}})])
    assert not isinstance(failed.value, SinkTransientError)


def _history_table(sink: Sink, t: PgTable, name: str) -> None:
    """A table of ``t``'s columns without a primary key, made by hand (a history table)."""
    sink.start([t.topic])
    assert sink.task is not None
    d = sink.task.dialect
    d.begin()
    d.create_table(TableRef(None, name), {"id": d.sql_type(ColumnType(INT32)),
                                          "name": d.sql_type(ColumnType(STRING))}, ())  # fmt: skip
    d.commit()


def test_insert_mode_keeps_every_version_of_a_key_within_a_batch(sink: Sink) -> None:
    # (a review's: the batch was collapsed by key whatever insert.mode said, so a history
    # table kept only the last version of each key of a batch: which versions landed
    # depended on where the batches ended)
    t = PgTable("hist", [("id", Oid.INT4, -1), ("name", Oid.TEXT, -1)], pk=("id",))
    _history_table(sink, t, "srv_public_hist")
    sink.start([t.topic], **{"insert.mode": "insert"})
    sink.put([t.insert(0, {"id": 1, "name": "a"}), t.update(1, {"id": 1, "name": "b"}),
              t.insert(2, {"id": 2, "name": "x"}),
              t.update(3, {"id": 1, "name": "c"})])  # fmt: skip
    sink.put([t.update(4, {"id": 1, "name": "d"})])
    assert sorted(sink.query('SELECT id, name FROM "srv_public_hist"')) == [
        (1, "a"), (1, "b"), (1, "c"), (1, "d"), (2, "x"),
    ]  # fmt: skip
    # a delete takes every row of its key, those of its batch before it too; what comes after
    # it is kept
    sink.put([t.update(5, {"id": 2, "name": "y"}), t.delete(6, {"id": 2}),
              t.tombstone(7, {"id": 2}), t.insert(8, {"id": 2, "name": "z"}),
              t.update(9, {"id": 2, "name": "zz"}), t.delete(10, {"id": 1})])  # fmt: skip
    assert sorted(sink.query('SELECT id, name FROM "srv_public_hist"')) == [(2, "z"), (2, "zz")]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_record_key_the_row_disagrees_with_is_refused(sink: Sink) -> None:
    # (a review's: the batch was collapsed by the record key but its rows written under the
    # value's key columns: key {id: 1} on rows of id 2 and 3 in one batch left row 3 alone,
    # in two batches both; then a review of the fix's: writing the key's values over the
    # row's stopped every batch of a string key "1" on rows of id 1)
    from connectors.sink.engine.errors import RecordError

    t = people()
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
    a = t.update(1, {"id": 2, "name": "b", "score": "2"})
    a.key["id"] = 1  # (a key transform, a producer of its own: they disagree)
    with pytest.raises(RecordError, match="the record key's id differs from its row's"):
        sink.put([a])
    gone = t.delete(2, {"id": 3})
    gone.key["id"] = 1
    with pytest.raises(RecordError, match="primary.key.mode: record_value"):
        sink.put([gone])
    assert sink.rows(T) == [(1, "a", Decimal("1.00"))]
    # the same value as text and as a number: one key
    same = t.update(3, {"id": 1, "name": "a2", "score": "2"})
    same.key["id"] = "1"
    sink.start([t.topic])
    sink.put([same])
    assert sink.rows(T) == [(1, "a2", Decimal("2.00"))]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_rewritten_delete_without_its_key_column_deletes_by_the_key(sink: Sink) -> None:
    # (a review's: unwrap's delete.handling.mode=rewrite and a rename of the key column: the
    # delete's row lacked "id", staged as NULL, and deleted nothing)
    t = people()
    chain = {
        "transforms": "unwrap,rename",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.delete.tombstone.handling.mode": "rewrite",
        "transforms.rename.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
        "transforms.rename.renames": "id:person_id",
    }
    sink.start([t.topic])
    sink.put(_through(chain, [t.insert(0, {"id": 1, "name": "a", "score": "1"}),
                              t.insert(1, {"id": 2, "name": "b", "score": "2"})]))  # fmt: skip
    sink.put(_through(chain, [t.delete(2, {"id": 2}), t.tombstone(3, {"id": 2})]))
    assert sink.query(f'SELECT id, person_id FROM "{T}" ORDER BY 1') == [(1, 1)]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
@pytest.mark.parametrize("mode", ["record_key", "record_value"])
def test_deletes_of_a_table_never_written_make_no_table(sink: Sink, mode: str) -> None:
    # (a review's: a batch of deletes only made the table, with its key's columns, or, keyed
    # by the value, failed on a table of no columns, rolling back the batch's other tables)
    t, other = people(), PgTable("other", [("id", Oid.INT4, -1)], pk=("id",))
    config = {"primary.key.mode": mode}
    if mode == "record_value":
        config["primary.key.fields"] = "id"
    sink.start([t.topic, other.topic], **config)
    sink.put([t.delete(0, {"id": 1}), t.tombstone(1, {"id": 1}), other.insert(0, {"id": 7})])
    assert sink.columns(T) == {}
    assert sink.query('SELECT id FROM "srv_public_other"') == [(7,)]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_tombstone_that_names_no_table_is_said(sink: Sink, caplog: Any) -> None:
    # (a review's: with table.name.format=${source.table}, every shipped config's, a sink
    # behind compaction read the tombstones left of deleted rows, which name no table, and
    # skipped them: the rows stayed, the log said nothing)
    t = people()
    sink.start([t.topic], **{"table.name.format": "${source.table}"})
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"}),
              t.insert(1, {"id": 2, "name": "b", "score": "1"})])  # fmt: skip
    sink.put([t.delete(2, {"id": 1}), t.tombstone(3, {"id": 1})])  # (its delete did it)
    assert not [r for r in caplog.records if "follows no delete event" in r.getMessage()]
    sink.put([t.tombstone(9, {"id": 2}), t.tombstone(10, {"id": 2})])  # (compacted to these)
    told = [r.getMessage() for r in caplog.records if "follows no delete event" in r.getMessage()]
    assert len(told) == 1 and "the tombstone at offset 9[0]" in told[0]
    assert "table.name.format=${source.table}" in told[0]
    assert sink.query('SELECT id FROM "people"') == [(2,)]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_delete_by_a_null_key_value_is_said(sink: Sink, caplog: Any) -> None:
    # (a review's: keyed by a value column, a delete whose old row holds only the source's
    # key, NULL there, deleted nothing without a word)
    t = people()
    sink.start([t.topic], **{"primary.key.mode": "record_value", "primary.key.fields": "name"})
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
    sink.put([t.delete(1, {"id": 1}), t.delete(2, {"id": 1})])
    told = [r.getMessage() for r in caplog.records if "deletes no row" in r.getMessage()]
    assert len(told) == 1 and "holds NULL in name" in told[0] and "REPLICA IDENTITY FULL" in told[0]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_insert_mode_on_a_key_the_table_holds_names_the_setting(sink: Sink) -> None:
    # (a review's: DuckDB's "Duplicate key violates primary key constraint" named neither the
    # table nor insert.mode)
    t = people()
    sink.start([t.topic], **{"insert.mode": "insert"})
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
    with pytest.raises(Exception, match=r"table srv_public_people: .*insert\.mode=insert") as err:
        sink.put([t.update(1, {"id": 1, "name": "b", "score": "2"})])
    assert "set insert.mode: upsert" in str(err.value)


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
@pytest.mark.parametrize("mode", ["upsert", "insert"])
def test_a_soft_delete_of_a_row_written_in_its_batch_keeps_the_row_marked(
    sink: Sink, mode: str
) -> None:
    # (a review's: collapsed over the delete, a row written and soft-deleted in one batch was
    # never written, so never marked: it vanished, where split over batches it stayed, marked)
    t = PgTable("hist", [("id", Oid.INT4, -1), ("name", Oid.TEXT, -1)], pk=("id",))
    if mode == "insert":
        _history_table(sink, t, "srv_public_hist")
    sink.start([t.topic], **{"delete.mode": "soft", "insert.mode": mode})
    sink.put([t.insert(0, {"id": 1, "name": "a"}), t.update(1, {"id": 1, "name": "b"}),
              t.delete(2, {"id": 1}), t.tombstone(3, {"id": 1}),
              t.insert(4, {"id": 2, "name": "x"})])  # fmt: skip
    rows = sorted(sink.query('SELECT id, name, "__deleted" FROM "srv_public_hist"'))
    marked = [(1, "a", True), (1, "b", True)] if mode == "insert" else [(1, "b", True)]
    assert [(i, n, d in (True, "true")) for i, n, d in rows] == [*marked, (2, "x", False)]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_soft_truncate_after_rows_of_its_batch_keeps_them_marked(sink: Sink) -> None:
    # (a review's: the truncate cleared the batch's rows before them, which vanished, where
    # a record at a time they landed and were marked)
    t = PgTable("hist", [("id", Oid.INT4, -1), ("name", Oid.TEXT, -1)], pk=("id",))
    sink.start([t.topic], **{"delete.mode": "soft"})
    sink.put([t.insert(0, {"id": 1, "name": "a"}), t.insert(1, {"id": 2, "name": "b"}),
              t.truncate(2), t.update(3, {"id": 2, "name": "c"})])  # fmt: skip
    rows = sorted(sink.query('SELECT id, name, "__deleted" FROM "srv_public_hist"'))
    assert [(i, n, d in (True, "true")) for i, n, d in rows] == [(1, "a", True), (2, "c", False)]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_key_spelled_as_text_and_as_a_number_is_one_key_in_a_batch(sink: Sink) -> None:
    # (a review's: "1" and 1 were one key to the check but two to the batch: an upsert under
    # one and a delete under the other left the row)
    t = people()
    sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
    up = t.update(1, {"id": 1, "name": "new", "score": "2"})
    up.key["id"] = "1"
    sink.put([up, t.delete(2, {"id": 1})])
    assert sink.rows(T) == []
