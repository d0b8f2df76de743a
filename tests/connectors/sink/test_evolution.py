"""Schema evolution on both targets: new columns, widening, and changes no type can follow."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.sink.engine.errors import MissingTableError, SchemaChangeError
from connectors.source.postgres.types import Oid
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable

T = "srv_public_acc"


def _acc(*extra: tuple[str, int, int], n_type: int = Oid.INT4, scale: int = 2) -> PgTable:
    cols = [
        ("id", Oid.INT4, -1),
        ("n", n_type, -1),
        ("amount", Oid.NUMERIC, (10 << 16) + scale + 4),
    ]
    return PgTable("acc", cols + list(extra))


def test_new_column_is_added_and_old_rows_read_null(sink: Sink) -> None:
    v1, v2 = _acc(), _acc(("note", Oid.TEXT, -1))
    sink.put([v1.insert(0, {"id": 1, "n": 1, "amount": "1.5"})])
    # the new column appears in the middle of a batch
    sink.put([v1.insert(1, {"id": 2, "n": 2, "amount": "2"}),
              v2.insert(2, {"id": 3, "n": 3, "amount": "3", "note": "hello"})])  # fmt: skip
    assert sink.rows(T) == [(1, 1, Decimal("1.50"), None), (2, 2, Decimal("2.00"), None),
                            (3, 3, Decimal("3.00"), "hello")]  # fmt: skip


def test_widening_int_and_decimal(sink: Sink) -> None:
    sink.put([_acc().insert(0, {"id": 1, "n": 7, "amount": "1.25"})])
    wide = _acc(n_type=Oid.INT8, scale=4)
    if sink.kind == "snowflake":
        # (a review's: Snowflake's SET DATA TYPE refuses a NUMBER's scale changed, which
        # the stand-in took: refused with what to do, naming the column and both types)
        with pytest.raises(SchemaChangeError, match="same scale") as err:
            sink.put([wide.insert(1, {"id": 2, "n": 2**40, "amount": "12345.6789"})])
        assert (err.value.column, err.value.incoming.lower()) == ("amount", "number(12,4)")
        sink.put([_acc(n_type=Oid.INT8).insert(1, {"id": 2, "n": 2**40, "amount": "1"})])
        assert sink.columns(T)["n"].lower() == "number(19,0)"  # (more digits: in place)
        return
    sink.put([wide.insert(1, {"id": 2, "n": 2**40, "amount": "12345.6789"}),
              _acc().insert(2, {"id": 3, "n": 1, "amount": "0.5"})])  # fmt: skip
    assert sink.rows(T) == [(1, 7, Decimal("1.25")), (2, 2**40, Decimal("12345.6789")),
                            (3, 1, Decimal("0.5"))]  # fmt: skip
    cols = sink.columns(T)
    assert cols["n"].lower() in ("bigint", "number(19,0)", "int64")
    amount = cols["amount"].lower().replace(" ", "")
    if sink.kind == "bigquery" and amount == "numeric":
        amount = "numeric(12,4)"  # the stand-in reports no NUMERIC parameters; BigQuery does
    assert amount in ("decimal(12,4)", "numeric(12,4)", "number(12,4)")
    # a narrower type later is simply held by the wider column
    sink.put([_acc(n_type=Oid.INT2).insert(3, {"id": 4, "n": 5, "amount": "1"})])
    assert sink.columns(T) == cols


def test_impossible_change_names_table_column_and_both_types(sink: Sink) -> None:
    sink.put([_acc().insert(0, {"id": 1, "n": 7, "amount": "1"})])
    with pytest.raises(SchemaChangeError) as err:
        sink.put([_acc(n_type=Oid.DATE).insert(1, {"id": 2, "n": "2024-01-01", "amount": "1"})])
    e = err.value
    assert (e.table, e.column) == (T, "n")
    integer = {"snowflake": "number(10,0)", "bigquery": "int64"}.get(sink.kind, "integer")
    assert e.existing.lower() == integer and e.incoming.lower() == "date"
    assert "srv_public_acc" in str(e) and integer in str(e).lower() and "date" in str(e).lower()
    assert sink.rows(T) == [(1, 7, Decimal("1.00"))]


def test_schema_evolution_none_refuses_to_create(sink: Sink) -> None:
    sink.start(["srv.public.acc"], **{"schema.evolution": "none"})
    with pytest.raises(MissingTableError, match="srv_public_acc"):
        sink.put([_acc().insert(0, {"id": 1, "n": 7, "amount": "1"})])


# a table made by hand with ordinary types the sink would not choose
_HAND = {
    "duckdb": {"id": "INTEGER", "ts": "TIMESTAMP_MS", "u": "VARCHAR", "doc": "VARCHAR"},
    "postgres": {"id": "int", "ts": "timestamp(3)", "u": "varchar(36)", "doc": "text"},
    "redshift": {"id": "int", "ts": "timestamp(3)", "u": "varchar(36)", "doc": "text"},
    "snowflake": {"id": "NUMBER(10,0)", "ts": "TIMESTAMP_NTZ", "u": "VARCHAR(36)",
                  "doc": "VARCHAR"},
    "bigquery": {"id": "INT64", "ts": "DATETIME", "u": "STRING", "doc": "STRING"},
}  # fmt: skip


@pytest.mark.parametrize("evolution", ["none", "basic"])
def test_a_table_made_by_hand_with_other_types_takes_the_rows(sink: Sink, evolution: str) -> None:
    # (refused as "no type holds both" whatever schema.evolution said: a timestamp(3) for a
    # MicroTimestamp, a varchar(36) for a uuid, a text column for JSON)
    from connectors.sink.engine.naming import TableRef

    ph = "__debezium_unavailable_value"
    cols = [("id", Oid.INT4, -1), ("ts", Oid.TIMESTAMP, -1), ("u", Oid.UUID, -1),
            ("doc", Oid.JSONB, -1)]  # fmt: skip
    t = PgTable("hand", cols)
    sink.start([t.topic], **{"schema.evolution": evolution})
    assert sink.task is not None
    d = sink.task.dialect
    d.begin()
    d.create_table(TableRef(None, "srv_public_hand"), _HAND[sink.kind], ("id",))
    d.commit()
    u = "00000000-0000-0000-0000-000000000007"
    day = "2024-01-01 00:00:00"
    sink.put([t.insert(0, {"id": 1, "ts": "2024-05-06 07:08:09.25", "u": u, "doc": '{"a": 1}'}),
              t.insert(1, {"id": 2, "ts": day, "u": None, "doc": '{"b": 2}'})])  # fmt: skip
    sink.put([t.update(2, {"id": 1, "ts": "2024-05-06 07:08:09.5", "u": u, "doc": ph})])
    rows = sink.rows("srv_public_hand")
    assert [r[:3] for r in rows] == [
        (1, datetime(2024, 5, 6, 7, 8, 9, 500000), u), (2, datetime(2024, 1, 1), None),
    ]  # fmt: skip
    # (no NULL timestamp: the Snowflake stand-in's client reads one back as 1970-01-01)
    assert [json.loads(r[3]) for r in rows] == [{"a": 1}, {"b": 2}]  # (the unchanged one kept)
    assert sink.columns("srv_public_hand").keys() == _HAND[sink.kind].keys()


# integer columns as a table made by hand holds them: Snowflake keeps INTEGER as NUMBER(38,0)
_NUMBERS = {
    "duckdb": {"id": "INTEGER", "qty": "DECIMAL(38,0)", "small": "DOUBLE"},
    "postgres": {"id": "int", "qty": "numeric(38,0)", "small": "double precision"},
    "redshift": {"id": "int", "qty": "numeric(38,0)", "small": "double precision"},
    "snowflake": {"id": "NUMBER(38,0)", "qty": "NUMBER(38,0)", "small": "FLOAT"},
    "bigquery": {"id": "INT64", "qty": "NUMERIC", "small": "FLOAT64"},
}


def test_integers_go_into_a_decimal_or_double_column_made_by_hand(sink: Sink) -> None:
    # (every batch had stopped: "cannot change type NUMBER(38,0) to NUMBER(19,0) (no type
    # holds both)", for a Snowflake table whose columns the user declared INTEGER)
    from connectors.sink.engine.naming import TableRef

    cols = [("id", Oid.INT4, -1), ("qty", Oid.INT8, -1), ("small", Oid.INT4, -1)]
    t = PgTable("nums", cols)
    sink.start([t.topic])
    assert sink.task is not None
    d = sink.task.dialect
    d.begin()
    d.create_table(TableRef(None, "srv_public_nums"), _NUMBERS[sink.kind], ("id",))
    d.commit()
    # (BigQuery's NUMERIC holds 29 integer digits; its stand-in keeps it in DuckDB's
    # DECIMAL(18,3), 15)
    big = 10**14 + 1 if sink.kind == "bigquery" else 2**62 + 1
    sink.put([t.insert(0, {"id": 1, "qty": big, "small": -(2**31)}),
              t.insert(1, {"id": 2, "qty": -5, "small": 7})])  # fmt: skip
    rows = [(int(a), int(b), float(c)) for a, b, c in sink.rows("srv_public_nums")]
    assert rows == [(1, big, -(2.0**31)), (2, -5, 7.0)]
    assert sink.columns("srv_public_nums").keys() == _NUMBERS[sink.kind].keys()


def test_a_changed_key_is_said_at_its_first_batch(sink: Sink) -> None:
    # (the sinks merged by the new key beside the old primary key, and stopped with a
    # UniqueViolation only once a row took an old key value again: maybe days later)
    from connectors.sink.engine.errors import KeyChangedError

    cols = [("id", Oid.INT4, -1), ("code", Oid.TEXT, -1)]
    sink.put([PgTable("rekeyed", cols, pk=("id",)).insert(0, {"id": 1, "code": "a"})])
    later = PgTable("rekeyed", cols, pk=("code",)).insert(1, {"id": 2, "code": "b"})
    with pytest.raises(KeyChangedError, match=r"primary key is \(id\) but the records' key "
                       r"is \(code\)"):  # fmt: skip
        sink.put([later])


def test_table_name_format_from_source(sink: Sink) -> None:
    t = _acc()
    sink.start([t.topic], **{"table.name.format": "${source.table}_copy"})
    sink.put([t.insert(0, {"id": 1, "n": 7, "amount": "1"}),
              t.insert(1, {"id": 2, "n": 8, "amount": "2"})])  # fmt: skip
    assert sink.rows("acc_copy") == [(1, 7, Decimal("1.00")), (2, 8, Decimal("2.00"))]
    # a tombstone has no 'source' block: it follows its delete to the same table
    sink.put([t.delete(2, {"id": 1}), t.tombstone(3, {"id": 1})])
    sink.put([t.tombstone(4, {"id": 1})])
    assert sink.rows("acc_copy") == [(2, 8, Decimal("2.00"))]


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_table_named_as_the_sinks_own_is_refused_alone(sink: Sink) -> None:
    # (a source table _hub_offsets was evolved into the sink's offsets table: every batch
    # failed on a NOT NULL of its own columns, and no table was written any more)
    from connectors.sink.engine.errors import RecordError

    own, other = PgTable("_HUB_offsets", _acc().columns), _acc()
    sink.start([own.topic, other.topic], **{"table.name.format": "${source.table}"})
    with pytest.raises(RecordError, match="one of the sink's own tables"):
        sink.put([own.insert(0, {"id": 1, "n": 1, "amount": "1"})])
    sink.put([other.insert(0, {"id": 2, "n": 2, "amount": "2"})])
    assert sink.rows("acc") == [(2, 2, Decimal("2.00"))]
    # named with the schema the sink keeps its own tables in, too
    schema = "main" if sink.kind == "duckdb" else "public"
    sink.stop()
    sink.start([own.topic], **{"table.name.format": schema + ".${source.table}"})
    with pytest.raises(RecordError, match="one of the sink's own tables"):
        sink.put([own.insert(1, {"id": 1, "n": 1, "amount": "1"})])


def test_a_dot_in_table_name_format_names_a_schema(sink: Sink) -> None:
    t = _acc()
    sink.start([t.topic], **{"table.name.format": "analytics.${source.table}"})
    sink.put([t.insert(0, {"id": 1, "n": 7, "amount": "1"})])
    sink.put([t.update(1, {"id": 1, "n": 8, "amount": "2"})])
    assert sink.query('SELECT id, n FROM "analytics"."acc"') == [(1, 8)]


def _two_schemas() -> tuple[PgTable, PgTable]:
    """One table's events before and after the source dropped a column."""
    with_old = PgTable("ev", [("id", Oid.INT4, -1), ("txt", Oid.TEXT, -1), ("old", Oid.TEXT, -1)])
    return with_old, PgTable("ev", [("id", Oid.INT4, -1), ("txt", Oid.TEXT, -1)])


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "with_another_row"])
def test_a_column_a_change_does_not_carry_keeps_its_value_whatever_the_batch(
    sink: Sink, alone: bool
) -> None:
    # as one change at a time would (an upsert sets the columns it carries); it was NULL
    # when another row of the batch carried the column, kept when none did
    s1, s2 = _two_schemas()
    sink.put([s1.insert(0, {"id": 1, "txt": "a", "old": "kept"})])
    others = [] if alone else [s1.insert(1, {"id": 2, "txt": "x", "old": "y"})]
    sink.put([*others, s2.update(2, {"id": 1, "txt": "b"})])
    rows = sink.rows("srv_public_ev")
    assert rows[0] == (1, "b", "kept")


def test_a_key_deleted_and_written_again_in_a_batch_is_a_new_row(sink: Sink) -> None:
    # (a delete and a create of one key collapsed into an update that kept the deleted
    # row's values in the columns the create does not carry)
    s1, s2 = _two_schemas()
    sink.put([s1.insert(0, {"id": 1, "txt": "a", "old": "A-old"}),
              s1.insert(1, {"id": 3, "txt": "b", "old": "B-old"})])  # fmt: skip
    # a primary key change reusing a key: A 1 -> 2, then B 3 -> 1
    sink.put([
        s2.delete(2, {"id": 1}), s2.tombstone(3, {"id": 1}), s2.insert(4, {"id": 2, "txt": "a"}),
        s2.delete(5, {"id": 3}), s2.tombstone(6, {"id": 3}), s2.insert(7, {"id": 1, "txt": "b"}),
    ])  # fmt: skip
    assert sink.rows("srv_public_ev") == [(1, "b", None), (2, "a", None)]


class _WithDefaults(PgTable):
    """A table whose field schemas carry defaults, as Debezium's sources write them."""

    def __init__(self, *args: Any, defaults: dict[str, Any], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.defaults = defaults

    def _fields(self, names: Any = None) -> list[dict[str, Any]]:
        return [
            {**f, "default": self.defaults[f["field"]]} if f["field"] in self.defaults else f
            for f in super()._fields(names)
        ]


def test_a_column_added_with_a_default_holds_it_in_the_rows_that_were_there(sink: Sink) -> None:
    # ALTER TABLE ... ADD COLUMN c int DEFAULT 5 fills the source's rows; no change of theirs
    # says so: the sink had left them NULL (Debezium's JDBC sink adds the column with DEFAULT)
    cols = [("id", Oid.INT4, -1), ("n", Oid.INT4, -1)]
    v1 = PgTable("acc", cols)
    v2 = _WithDefaults("acc", [*cols, ("c", Oid.INT4, -1), ("s", Oid.TEXT, -1),
                               ("amount", Oid.NUMERIC, (10 << 16) + 2 + 4)],
                       defaults={"c": 5, "s": "x", "amount": "AJY="})  # fmt: skip
    sink.put([v1.insert(0, {"id": 1, "n": 1}), v1.insert(1, {"id": 2, "n": 2})])
    sink.put([
        v1.insert(2, {"id": 3, "n": 3}),  # (inserted before the ALTER: it got the defaults)
        v2.insert(3, {"id": 4, "n": 4, "c": 7, "s": "y", "amount": "9.99"}),
        v2.update(4, {"id": 1, "n": 10, "c": 5, "s": "x", "amount": "1.5"}),
    ])  # fmt: skip
    assert sink.rows(T) == [
        (1, 10, 5, "x", Decimal("1.50")), (2, 2, 5, "x", Decimal("1.50")),
        (3, 3, 5, "x", Decimal("1.50")), (4, 4, 7, "y", Decimal("9.99")),
    ]  # fmt: skip


@pytest.mark.parametrize("sink", ["duckdb", "postgres"], indirect=True)
def test_a_column_of_any_name_added_with_a_default_is_filled(sink: Sink) -> None:
    # (DuckDB's staging relation was named after the column, unquoted in the fill's SQL: a
    # name with a space, dash or quote failed every batch, and was SQL text)
    name = 'my "col"-x'
    cols = [("id", Oid.INT4, -1), ("n", Oid.INT4, -1)]
    v1 = PgTable("acc", cols)
    v2 = _WithDefaults("acc", [*cols, (name, Oid.INT4, -1)], defaults={name: 5})
    sink.put([v1.insert(0, {"id": 1, "n": 1})])
    sink.put([v2.insert(1, {"id": 2, "n": 2, name: 7})])
    assert sink.rows(T) == [(1, 1, 5), (2, 2, 7)]


_KEY = {"type": "struct", "optional": False,
        "fields": [{"field": "id", "type": "int32", "optional": False}]}  # fmt: skip
_ID_A = [{"field": "id", "type": "int32", "optional": False},
         {"field": "a", "type": "string", "optional": True}]  # fmt: skip


def _rec(off: int, fields: list[dict[str, Any]], value: dict[str, Any]) -> Any:
    """A record of topic evo.t keyed by id, its value schema ``fields``."""
    from hub.runtime.api import SinkRecord

    schema = {"type": "struct", "name": "v", "optional": False, "fields": fields}
    return SinkRecord("evo.t", 0, off, 0, {"id": value["id"]}, value, (), _KEY, schema)


def test_a_column_added_with_a_default_is_filled_even_when_its_batch_fails(sink: Sink) -> None:
    # Snowflake and BigQuery commit ADD COLUMN at once; the fill had been held for the batch's
    # transaction: a batch that failed left the column there and the rows NULL, and the next
    # try found the column and filled nothing ((1, 'x', None) there, (1, 'x', 5) elsewhere)
    from connectors.sink.engine.errors import SinkFatalError

    f1 = _ID_A
    sink.put([_rec(0, f1, {"id": 1, "a": "x"}), _rec(1, f1, {"id": 2, "a": "y"})])
    f2 = [
        *f1,
        {"field": "c", "type": "int32", "optional": True, "default": 5},
        {"field": "t", "type": "int64", "name": "io.debezium.time.MicroTime", "optional": True},
    ]
    good = _rec(2, f2, {"id": 3, "a": "z", "c": 7, "t": 1})
    with pytest.raises(SinkFatalError, match="not a time of day"):
        sink.put([good, _rec(3, f2, {"id": 4, "a": "p", "c": 7, "t": -1})])
    sink.put([good])  # (as errors.tolerance=all puts it again, alone)
    assert sorted(sink.query('SELECT "id", "a", "c" FROM "evo_t"')) == [
        (1, "x", 5),
        (2, "y", 5),
        (3, "z", 7),
    ]


def test_a_key_column_widened_at_the_source(sink: Sink) -> None:
    # INT -> BIGINT on a key column (a common migration) stopped the sink for good on every
    # target that declares keys; PostgreSQL widens a key column in place, the others still
    # refuse it, clearly (BigQuery declares no key, and has one integer type)
    t = PgTable("ev", [("id", Oid.INT4, -1), ("v", Oid.INT4, -1)])
    sink.put([t.insert(0, {"id": 1, "v": 1})])
    wide = PgTable("ev", [("id", Oid.INT8, -1), ("v", Oid.INT8, -1)])
    if sink.target.id in ("duckdb", "snowflake", "redshift"):
        with pytest.raises(SchemaChangeError, match="a primary key column is not altered"):
            sink.put([wide.insert(1, {"id": 5_000_000_000, "v": 2})])
        return
    sink.put([wide.insert(1, {"id": 5_000_000_000, "v": 5_000_000_000})])
    assert sink.rows("srv_public_ev") == [(1, 1), (5_000_000_000, 5_000_000_000)]


@pytest.mark.parametrize("sink", ["postgres", "postgres-merge"], indirect=True)
def test_a_column_name_past_what_postgresql_keeps_goes_on_after_a_restart(sink: Sink) -> None:
    # PostgreSQL keeps 63 bytes of a name: the column of 64 (MySQL allows them) was made
    # once, then looked missing after a restart and added again: DuplicateColumn for good
    long = "c" * 64
    t = PgTable("wide", [("id", Oid.INT4, -1), (long, Oid.TEXT, -1)])
    sink.put([t.insert(0, {"id": 1, long: "a"})])
    sink.stop()
    sink.start([t.topic])
    sink.put([t.insert(1, {"id": 2, long: "b"})])
    assert sink.rows("srv_public_wide") == [(1, "a"), (2, "b")]


@pytest.mark.parametrize("sink", ["postgres", "postgres-merge"], indirect=True)
def test_two_column_names_postgresql_cuts_to_one_are_a_collision(sink: Sink) -> None:
    # (the server's DuplicateColumn, with neither name, before)
    from connectors.sink.engine.errors import NameCollisionError

    a, b = "c" * 63 + "a", "c" * 63 + "b"
    t = PgTable("wide", [("id", Oid.INT4, -1), (a, Oid.TEXT, -1), (b, Oid.TEXT, -1)])
    with pytest.raises(NameCollisionError, match="it keeps the first 63 bytes of a name"):
        sink.put([t.insert(0, {"id": 1, a: "a", b: "b"})])
    one = PgTable("wide", [("id", Oid.INT4, -1), (a, Oid.TEXT, -1)])
    sink.put([one.insert(0, {"id": 1, a: "a"})])
    with pytest.raises(NameCollisionError, match=f"'{a}' and '{b}'"):  # (added to the table)
        sink.put([t.insert(1, {"id": 2, a: "a", b: "b"})])


def test_a_column_dropped_in_the_source_is_null_in_the_rows_written_after(sink: Sink) -> None:
    # (rows of the schema without it took the old schema's default when a row of the old
    # schema was in the same batch: 5 where the source never held a value)
    cols = [("id", Oid.INT4, -1), ("n", Oid.INT4, -1)]
    v1 = _WithDefaults("acc", [*cols, ("c", Oid.INT4, -1)], defaults={"c": 5})
    v2 = PgTable("acc", cols)  # ALTER TABLE acc DROP COLUMN c
    sink.put([v1.insert(0, {"id": 1, "n": 1, "c": 7})])
    sink.put([
        v1.insert(1, {"id": 2, "n": 2, "c": 8}),
        v2.insert(2, {"id": 3, "n": 3}),
        v2.update(3, {"id": 1, "n": 10}),  # (an update leaves the column as it was)
    ])  # fmt: skip
    sink.put([v2.insert(4, {"id": 4, "n": 4})])
    assert sink.rows(T) == [(1, 10, 7), (2, 2, 8), (3, 3, None), (4, 4, None)]


def test_schemas_interleaved_in_a_batch_give_a_missing_column_its_default(sink: Sink) -> None:
    # (records of two partitions interleave two schemas: the batch's order is not the order
    # the columns changed in, so a row lacking an added column keeps taking its default, as
    # the source's ADD COLUMN gave it)
    cols = [("id", Oid.INT4, -1), ("n", Oid.INT4, -1)]
    v1 = PgTable("acc", cols)
    v2 = _WithDefaults("acc", [*cols, ("c", Oid.INT4, -1)], defaults={"c": 5})
    sink.put([v1.insert(0, {"id": 1, "n": 1})])
    sink.put([
        v2.insert(1, {"id": 2, "n": 2, "c": 7}),
        v1.insert(2, {"id": 3, "n": 3}),  # (another partition's, from before the ALTER)
        v2.insert(3, {"id": 4, "n": 4, "c": 8}),
        v1.insert(4, {"id": 5, "n": 5}),
    ])  # fmt: skip
    assert sink.rows(T) == [(1, 1, 5), (2, 2, 7), (3, 3, 5), (4, 4, 8), (5, 5, 5)]


@pytest.mark.parametrize("column", ["__hub_delete", "__HUB_keep_v", "__hub_g"])
def test_a_column_named_as_the_engines_own_is_refused_before_any_write(
    sink: Sink, column: str
) -> None:
    # (the engine's staged statements read the user's column for their own: a row whose
    # __hub_delete was true was deleted instead of written, another's values kept or NULLed,
    # on Snowflake, BigQuery and DuckDB; PostgreSQL and Redshift failed unclearly)
    from connectors.sink.engine.naming import ReservedColumnError

    t = PgTable("flags", [("id", Oid.INT4, -1), (column, Oid.BOOL, -1), ("v", Oid.TEXT, -1)])
    with pytest.raises(ReservedColumnError, match=f"column '{column}' has a name hub keeps"):
        sink.put([t.insert(0, {"id": 1, column: "true", "v": "a"})])
    from connectors.sink.engine.naming import TableRef

    assert sink.task is not None
    assert sink.task.dialect.describe(TableRef(None, "srv_public_flags")) is None  # (no write)


class _Crash(BaseException):
    """A kill -9 between two statements, as far as the target can tell."""


def test_a_column_added_with_a_default_is_filled_after_a_crash_between_add_and_fill(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (Snowflake and BigQuery commit each DDL statement at once: killed after ADD COLUMN and
    # before the fill, the next try found the column there and the old rows kept NULL for good)
    import connectors.sink.engine.evolution as evolution

    f1 = _ID_A
    sink.put([_rec(0, f1, {"id": 1, "a": "x"}), _rec(1, f1, {"id": 2, "a": "y"})])
    f2 = [*f1, {"field": "c", "type": "int32", "optional": True, "default": 5}]
    batch = [_rec(2, f2, {"id": 3, "a": "z", "c": 7})]
    real_fill = evolution.fill

    def crash(*args: Any) -> None:
        raise _Crash

    monkeypatch.setattr(evolution, "fill", crash)
    with pytest.raises(_Crash):
        sink.put(batch)
    monkeypatch.setattr(evolution, "fill", real_fill)
    sink.start(["evo.t"])  # a new task, as after the restart; the batch comes again
    sink.put(batch)
    assert sorted(sink.query('SELECT "id", "a", "c" FROM "evo_t"')) == [
        (1, "x", 5),
        (2, "y", 5),
        (3, "z", 7),
    ]


@pytest.mark.parametrize("sink", ["snowflake", "bigquery"], indirect=True)
def test_two_tasks_adding_one_column_with_a_default_both_write(sink: Sink) -> None:
    # (the second task, its table info cached from before the first's ADD, made and filled
    # __hub_fill_c and failed to rename it, the column there now: its batch failed for good
    # on BigQuery's emulator, and __hub_fill_c stayed in the user's table on Snowflake)
    from hub.runtime.api import SinkRecord

    def rec(part: int, off: int, fields: list[dict[str, Any]], value: dict[str, Any]) -> Any:
        schema = {"type": "struct", "name": "v", "optional": False, "fields": fields}
        return SinkRecord("evo.t", part, off, 0, {"id": value["id"]}, value, (), _KEY, schema)

    f2 = [*_ID_A, {"field": "c", "type": "int32", "optional": True, "default": 5}]
    other = Sink(sink.target, sink.config)
    try:
        sink.put([rec(0, 0, _ID_A, {"id": 1, "a": "x"})])  # task A makes the table
        other.put([rec(1, 0, _ID_A, {"id": 2, "a": "y"})])  # task B writes it too
        sink.put([rec(0, 1, f2, {"id": 3, "a": "z", "c": 7})])  # A adds c, filled
        other.put([rec(1, 1, f2, {"id": 4, "a": "w", "c": 8})])  # B: its info has no c
        rows = sorted(sink.query('SELECT "id", "a", "c" FROM "evo_t"'))
        assert rows == [(1, "x", 5), (2, "y", 5), (3, "z", 7), (4, "w", 8)]
        assert not [n for n in sink.columns("evo_t") if n.lower().startswith("__hub_")]
    finally:
        other.stop()
