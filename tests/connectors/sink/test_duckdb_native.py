"""DuckDB's own path for encoded change events (`connectors.sink.duckdb.native`) against the
engine's Python path: the same batches of Debezium envelopes, as JSON with schemas, through a
task with ``duckdb.native.apply`` on (as the runner hands them: ``put_encoded``, else
decoded and ``put``) and one with it off, must leave the same tables and offsets; what the
fast path does not cover it declines before writing anything."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.sink.duckdb import DuckDBSinkTask
from hub.log import TopicPartition
from hub.log.record import Record
from hub.runtime.api import EncodedSinkRecords, SinkRecord, SinkTaskContext
from hub.runtime.converters import JsonConverter, dumps

TOPIC = "srv.public.things"
TABLE = "srv_public_things"
PLACEHOLDER = "__debezium_unavailable_value"


def _field(name: str, type_: str, logical: str | None = None, **params: str) -> dict[str, Any]:
    f: dict[str, Any] = {"type": type_, "optional": name != "id", "field": name}
    if logical:
        f["name"] = logical
    if params:
        f["parameters"] = params
    return f


FIELDS = [
    _field("id", "int32"),
    _field("small", "int16"),
    _field("big", "int64"),
    _field("txt", "string"),
    _field("flag", "boolean"),
    _field("day", "int32", "io.debezium.time.Date"),
    _field("at", "int64", "io.debezium.time.MicroTimestamp"),
    _field("at_ms", "int64", "org.apache.kafka.connect.data.Timestamp"),
    _field(
        "price",
        "bytes",
        "org.apache.kafka.connect.data.Decimal",
        scale="2",
        **{"connect.decimal.precision": "12"},
    ),  # fmt: skip
    _field(
        "whole",
        "bytes",
        "org.apache.kafka.connect.data.Decimal",
        scale="0",
        **{"connect.decimal.precision": "18"},
    ),  # fmt: skip
]
ROW = {"type": "struct", "optional": True, "name": f"{TOPIC}.Value", "fields": FIELDS}
SOURCE = {"type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source",
          "fields": [_field("db", "string"), _field("schema", "string"),
                     _field("table", "string")]}  # fmt: skip
VALUE_SCHEMA = {"type": "struct", "optional": False, "name": f"{TOPIC}.Envelope", "fields": [
    {**ROW, "field": "before"}, {**ROW, "field": "after"}, {**SOURCE, "field": "source"},
    _field("op", "string"), _field("ts_ms", "int64")]}  # fmt: skip
KEY_SCHEMA = {"type": "struct", "optional": False, "name": f"{TOPIC}.Key", "fields": FIELDS[:1]}
SRC = {"db": "db", "schema": "public", "table": "things"}


def _decimal(unscaled: int) -> str:
    n = max(1, (unscaled.bit_length() + 8) // 8)
    return base64.b64encode(unscaled.to_bytes(n, "big", signed=True)).decode()


def _value(rnd: random.Random, name: str) -> Any:
    if rnd.random() < 0.15:
        return None
    pick = rnd.random()
    if name == "small":
        return rnd.choice([-(2**15), 2**15 - 1, 0, rnd.randint(-999, 999)])
    if name == "big":
        return rnd.choice([-(2**63), 2**63 - 1, 0, rnd.randint(-(10**12), 10**12)])
    if name == "txt":
        return rnd.choice(["", "plain", 'a "quoted" \\ back\\slash', "tab\tnew\nline",
                           "ünï😀 cödé", "\u2028", "x" * rnd.randint(0, 300),
                           PLACEHOLDER if pick < 0.02 else "y"])  # fmt: skip
    if name == "flag":
        return rnd.random() < 0.5
    if name == "day":
        return rnd.choice(
            [-2147472692, -2147472691, 0, -719162, 2932896, rnd.randint(-9999, 99999)]
        )
    if name == "at":
        return rnd.choice([9223372036825200000, -9223372036832400000, 0, -1,
                           rnd.randint(-(10**16), 10**16)])  # fmt: skip
    if name == "at_ms":
        return rnd.choice([0, -1, rnd.randint(-(10**13), 10**13)])
    if name == "price":
        return _decimal(
            rnd.choice([0, -1, 1, 10**12 - 1, -(10**12) + 1, rnd.randint(-(10**9), 10**9)])
        )
    assert name == "whole"
    return _decimal(rnd.choice([0, 10**18 - 1, -(10**18) + 1, rnd.randint(-(10**15), 10**15)]))


def _row(rnd: random.Random, key: int) -> dict[str, Any]:
    return {"id": key, **{f["field"]: _value(rnd, f["field"]) for f in FIELDS[1:]}}


def _events(seed: int, n: int, keys: int) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(key, envelope payload or None for a tombstone), Debezium-like: a delete is followed by
    its tombstone; updates and deletes of keys not created (yet) happen too."""
    rnd = random.Random(seed)
    for _ in range(n):
        k = rnd.randrange(keys)
        r = rnd.random()
        if r < 0.12:
            before = _row(rnd, k) if rnd.random() < 0.7 else None
            yield k, {"before": before, "after": None, "source": SRC, "op": "d", "ts_ms": 1}
            yield k, None
        elif r < 0.14:
            yield k, None  # a tombstone on its own
        else:
            op = rnd.choice(["c", "r", "u"])
            before = _row(rnd, k) if op == "u" and rnd.random() < 0.3 else None
            yield k, {"before": before, "after": _row(rnd, k), "source": SRC, "op": op,
                      "ts_ms": 1}  # fmt: skip


def _encode(
    events: Sequence[tuple[int, dict[str, Any] | None]],
    start: int,
    schema: dict[str, Any] = VALUE_SCHEMA,
) -> list[Record]:
    out = []
    for i, (k, payload) in enumerate(events):
        kb = dumps({"schema": KEY_SCHEMA, "payload": {"id": k}})
        vb = None if payload is None else dumps({"schema": schema, "payload": payload})
        out.append(Record(TOPIC, i % 2, start + i, 0, kb, vb, ()))
    return out


def _decode(batch: Sequence[Record]) -> list[SinkRecord]:
    kc, vc = JsonConverter(True), JsonConverter(True)
    keys, kss = kc.to_values([r.key for r in batch])
    values, vss = vc.to_values([r.value for r in batch])
    return [
        SinkRecord(r.topic, r.partition, r.offset, r.timestamp, k, v, (), ks, vs)
        for r, k, v, ks, vs in zip(batch, keys, values, kss, vss, strict=True)
    ]


class Task:
    """A DuckDB sink task fed as the runner feeds it."""

    def __init__(self, path: Path, native: bool, **config: Any) -> None:
        self.path = path
        self.task = DuckDBSinkTask()
        self.task.start({"connection.url": f"duckdb://{path}", "duckdb.native.apply": native,
                         "duckdb.idle.release.ms": 0, "duckdb.native.min.records": 1, **config},
                        SinkTaskContext("sink", 0))  # fmt: skip
        self.task.open({TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)})
        self.kc, self.vc = JsonConverter(True), JsonConverter(True)  # (kept, as the runner's)
        self.native = 0

    def put(self, batch: Sequence[Record]) -> None:
        if self.task.put_encoded(EncodedSinkRecords(batch, self.kc, self.vc)):
            self.native += 1
        else:
            self.task.put(_decode(batch))
        self.task.flush({})

    def tables(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[Any]]:
        self.task.stop()
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            rows = con.execute(f'SELECT * FROM "{TABLE}" ORDER BY id').fetchall()
            offsets = con.execute("SELECT * FROM _hub_offsets ORDER BY ALL").fetchall()
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE table_name = '{TABLE}' ORDER BY ordinal_position"
            ).fetchall()
            return rows, offsets, columns
        finally:
            con.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_batches_leave_the_tables_the_engine_leaves(tmp_path: Path, seed: int) -> None:
    events = list(_events(seed, 3000, keys=120))
    rnd = random.Random(seed)
    fast, engine = Task(tmp_path / "fast.duckdb", True), Task(tmp_path / "engine.duckdb", False)
    i = batches = 0
    while i < len(events):
        size = rnd.choice([1, 2, 7, 50, 300, 900])
        batch = _encode(events[i : i + size], i)
        fast.put(batch)
        engine.put(batch)
        i += size
        batches += 1
    assert engine.native == 0
    # most batches are the fast path's: the first creates the table through it too; the
    # ones holding the placeholder (about one in four here) take the engine's
    assert fast.native >= batches * 0.5, (fast.native, batches)
    got, want = fast.tables(), engine.tables()
    assert got[2] == want[2]  # the same columns, of the same types, in the same order
    assert len(got[0]) > 30
    assert got[0] == want[0]
    assert got[1] == want[1]


def _one(payload: dict[str, Any] | None, key: int = 1, offset: int = 0) -> list[Record]:
    return _encode([(key, payload)], offset)


def _upsert(**after: Any) -> dict[str, Any]:
    row = {f["field"]: None for f in FIELDS}
    return {"before": None, "after": {**row, "id": 1, **after}, "source": SRC, "op": "c",
            "ts_ms": 1}  # fmt: skip


@pytest.mark.parametrize(
    "after",
    [
        {"small": 1.5},  # not an integer: the converter's value is a float
        {"big": "12"},  # a string where an integer is due
        {"txt": 12},  # a number where a string is due
        {"flag": 1},
        {"small": 70000},  # past int16
        {"price": "12.5"},  # not base64
    ],
    ids=["float-int", "string-int", "number-string", "int-bool", "int16-range", "not-base64"],
)
def test_a_value_its_schema_does_not_allow_is_left_to_the_engine(
    tmp_path: Path, after: dict[str, Any]
) -> None:
    """DuckDB's JSON functions would round 1.5 to 2 or read 12 as '12': the fast path
    declines, and the engine's path decides (here it refuses the value, or writes it as
    it always did)."""
    outcomes = []
    for native in (True, False):
        t = Task(tmp_path / f"{native}.duckdb", native)
        t.put(_one(_upsert(id=2), key=2))  # the table exists
        batch = _one(_upsert(**after), offset=1)
        assert not t.task.put_encoded(EncodedSinkRecords(batch, t.kc, t.vc))
        try:
            t.task.put(_decode(batch))
            outcomes.append(("written", t.tables()[0]))
        except Exception as exc:  # noqa: BLE001 - compared below
            outcomes.append(("refused", type(exc).__name__))
            t.task.stop()
    assert outcomes[0] == outcomes[1]


def test_what_the_fast_path_leaves_to_the_engine(tmp_path: Path) -> None:
    t = Task(tmp_path / "t.duckdb", True)
    t.put(_one(_upsert(txt="a")))
    assert t.native == 1

    def declined(batch: list[Record]) -> bool:
        return not t.task.put_encoded(EncodedSinkRecords(batch, t.kc, t.vc))

    assert declined(_one(_upsert(txt=PLACEHOLDER), offset=1))  # keep the current value
    assert declined(_one({**_upsert(), "op": "t", "after": None}, offset=1))  # a truncate
    assert declined(_one(None, offset=1))  # tombstones only
    assert declined(_encode([(1, _upsert(txt="b"))], 0))  # below the stored offsets
    t.put(_one(_upsert(txt="c"), offset=1))
    assert t.native == 2
    assert t.tables()[0][0][3] == "c"


def test_a_config_the_fast_path_does_not_cover_declines_every_batch(tmp_path: Path) -> None:
    for config in ({"delete.mode": "soft"}, {"insert.mode": "insert"},
                   {"cdc.metadata.enabled": True}, {"primary.key.fields": "id"},
                   {"duckdb.native.apply": False},
                   {"duckdb.native.min.records": 2}):  # fmt: skip
        t = Task(tmp_path / "t.duckdb", True, **config)
        assert not t.task.put_encoded(EncodedSinkRecords(_one(_upsert()), t.kc, t.vc)), config
        t.task.stop()


def _everything(path: Path) -> dict[str, Any]:
    """Every table of the file: its columns (in order, with types) and rows."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for schema, name in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY ALL"
        ).fetchall():
            ref = f'"{schema}"."{name}"'
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE "
                f"table_schema = '{schema}' AND table_name = '{name}' ORDER BY ordinal_position"
            ).fetchall()
            out[f"{schema}.{name}"] = (
                columns,
                con.execute(f"SELECT * FROM {ref} ORDER BY ALL").fetchall(),
            )
        return out
    finally:
        con.close()


def _both(tmp_path: Path, batches: list[list[Record]], **config: Any) -> tuple[int, Any]:
    """The batches through the fast path and the engine's: the same outcome of each batch
    (written, or refused with the same error) and the same tables; the fast path's count."""
    results = []
    for native in (True, False):
        path = tmp_path / f"{native}.duckdb"
        t = Task(path, native, **config)
        outcomes = []
        for batch in batches:
            try:
                t.put(batch)
                outcomes.append("written")
            except Exception as exc:  # noqa: BLE001 - compared
                outcomes.append(type(exc).__name__)
                break
        t.task.stop()
        results.append((t.native, outcomes, _everything(path)))
    (fast, got_outcomes, got), (_, want_outcomes, want) = results
    assert got_outcomes == want_outcomes
    assert got == want
    return fast, want


def _delete(key: int, before: bool = True) -> dict[str, Any]:
    row = {f["field"]: None for f in FIELDS}
    return {"before": {**row, "id": key} if before else None, "after": None, "source": SRC,
            "op": "d", "ts_ms": 1}  # fmt: skip


@pytest.mark.parametrize("evolution", ["basic", "none"])
def test_a_first_batch_of_deletes_does_as_the_engine_does(tmp_path: Path, evolution: str) -> None:
    """(the engine made the table from a batch of deletes, or refused the batch with
    schema.evolution=none: a table never written has no row to delete, and neither path
    makes it now)"""
    batch = _encode([(1, _delete(1)), (1, None), (2, _delete(2, before=False))], 0)
    fast, tables = _both(tmp_path, [batch], **{"schema.evolution": evolution})
    assert fast == 1
    assert not [t for t in tables if "_hub_" not in str(t)]


def test_a_tombstone_first_creates_the_key_column_first(tmp_path: Path) -> None:
    """The engine's columns come in the order its changes bring them."""
    row = {**ROW, "fields": [*FIELDS[1:], FIELDS[0]]}  # the key column last in the row
    schema = {**VALUE_SCHEMA, "fields": [{**row, "field": "before"}, {**row, "field": "after"},
                                         *VALUE_SCHEMA["fields"][2:]]}  # fmt: skip
    batch = _encode([(1, None), (2, _upsert(id=2))], 0, schema)
    fast, tables = _both(tmp_path, [batch])
    assert fast == 1
    assert [c for c, _ in tables[f"main.{TABLE}"][0]][:2] == ["id", "small"]


def test_deletes_disabled_claim_no_table_for_deletes_only(tmp_path: Path) -> None:
    fast, tables = _both(
        tmp_path, [_encode([(1, _delete(1)), (1, None)], 0)], **{"delete.enabled": False}
    )
    assert fast == 1
    assert set(tables) == {"main._hub_offsets", "main._hub_table_topics"}
    assert tables["main._hub_table_topics"][1] == []


def test_bytes_past_the_payload_or_a_null_source_are_the_engines(tmp_path: Path) -> None:
    good = _encode([(1, _upsert(id=1))], 0)
    t = Task(tmp_path / "t.duckdb", True, **{"table.name.format": "cdc_${source.table}"})
    trailing = [good[0]._replace(value=good[0].value + b" x")]
    assert not t.task.put_encoded(EncodedSinkRecords(trailing, t.kc, t.vc))
    no_source = _encode([(1, {**_upsert(id=1), "source": None})], 0)
    assert not t.task.put_encoded(EncodedSinkRecords(no_source, t.kc, t.vc))
    t.task.stop()
    _both(tmp_path / "both", [no_source], **{"table.name.format": "cdc_${source.table}"})


def test_a_key_payload_other_than_its_schema_is_the_engines(tmp_path: Path) -> None:
    t = Task(tmp_path / "t.duckdb", True)
    value = dumps({"schema": VALUE_SCHEMA, "payload": _upsert(id=1)})
    for key in ({"id": 1, "extra": 2}, {}):
        kb = dumps({"schema": KEY_SCHEMA, "payload": key})
        batch = [Record(TOPIC, 0, 0, 0, kb, value, ())]
        assert not t.task.put_encoded(EncodedSinkRecords(batch, t.kc, t.vc)), key
    t.task.stop()


def test_a_decimal_that_spells_the_placeholder_is_the_engines(tmp_path: Path) -> None:
    """A short custom placeholder is also valid base64: the engine keeps an earlier value of
    the batch in its place, in any column."""
    placeholder = "N/A="  # (base64 of 3 bytes)
    batch = _encode(
        [(1, _upsert(id=1, price=_decimal(5))), (1, _upsert(id=1, price=placeholder))], 0
    )
    fast, _ = _both(tmp_path, [batch], **{"unavailable.value.placeholder": placeholder})
    assert fast == 0


@pytest.mark.parametrize("split", [False, True], ids=["one_batch", "next_batch"])
def test_a_tombstone_never_deletes_from_another_table_of_its_topic(
    tmp_path: Path, split: bool
) -> None:
    """One topic, two tables named by source fields: a tombstone cannot name its table (it
    took the table of the topic's last event, another one's row 5)."""

    def upsert(table: str, key: int) -> dict[str, Any]:
        return {**_upsert(id=key), "source": {**SRC, "table": table}}

    delete = {**_delete(5), "source": {**SRC, "table": "a"}}
    first = _encode([(5, upsert("a", 5)), (5, upsert("b", 5))], 0)  # partitions 0, 1
    then = [(5, delete), (7, upsert("b", 7)), (5, None)]  # 0, 1, 0: the tombstone after b's
    batches = [first, _encode(then, 2)]
    if split:
        batches = [first, _encode(then[:2], 2), _encode([(5, None)], 4)]
    _, tables = _both(tmp_path, batches, **{"table.name.format": "${source.table}"})
    assert [r[0] for r in tables["main.a"][1]] == []
    assert [r[0] for r in tables["main.b"][1]] == [5, 7]


def test_a_key_written_again_into_a_table_with_more_columns_is_the_engines(
    tmp_path: Path,
) -> None:
    """A key deleted and written again is a new row: the columns the batch does not carry
    are NULL, not the deleted row's (the engine deletes it first; one MERGE would keep
    them)."""
    fields = [f for f in FIELDS if f["field"] != "txt"]  # (the source dropped txt)
    row = {**ROW, "fields": fields}
    schema = {**VALUE_SCHEMA, "fields": [{**row, "field": "before"}, {**row, "field": "after"},
                                         *VALUE_SCHEMA["fields"][2:]]}  # fmt: skip
    later = {**_upsert(id=1, small=2), "after": {f["field"]: None for f in fields} | {
        "id": 1, "small": 2}}  # fmt: skip
    first = _encode([(1, _upsert(id=1, small=1, txt="deleted"))], 0)
    then = _encode([(1, {**_delete(1), "before": None}), (1, None), (1, later)], 1, schema)
    fast, tables = _both(tmp_path, [first, then])
    assert fast == 1  # (the first batch only)
    txt = [c for c, _ in tables[f"main.{TABLE}"][0]].index("txt")
    assert tables[f"main.{TABLE}"][1][0][txt] is None


@pytest.mark.parametrize("native", [True, False])
def test_a_decimal_column_made_varchar_takes_the_next_decimals(
    tmp_path: Path, native: bool
) -> None:
    # DECIMAL(38,2) then DECIMAL(38,4): the sink widened the column to VARCHAR (no DuckDB
    # decimal holds 40 digits) and then refused the next DECIMAL(38,4) batch into it, for
    # good ("no type holds both"); the same after a variable-scale numeric
    def schema(scale: int, precision: int = 38) -> dict[str, Any]:
        n = _field("price", "bytes", "org.apache.kafka.connect.data.Decimal", scale=str(scale),
                   **{"connect.decimal.precision": str(precision)})  # fmt: skip
        row = {**ROW, "fields": [FIELDS[0], n]}
        return {**VALUE_SCHEMA, "fields": [{**row, "field": "before"}, {**row, "field": "after"},
                                           *VALUE_SCHEMA["fields"][2:]]}  # fmt: skip

    def put(task: Task, start: int, scale: int, unscaled: list[int]) -> None:
        events = [(start + i, {"before": None, "after": {"id": start + i, "price": _decimal(u)},
                               "source": SRC, "op": "c", "ts_ms": 1})
                  for i, u in enumerate(unscaled)]  # fmt: skip
        task.put(_encode(events, start, schema(scale)))

    task = Task(tmp_path / "t.duckdb", native)
    put(task, 0, 2, [150, -1])  # 1.50, -0.01
    put(task, 10, 4, [22500])  # 2.2500: the column becomes VARCHAR
    put(task, 20, 4, [99900, 0])  # 9.9900, 0.0000: refused before
    rows, _, columns = task.tables()
    assert dict(columns)["price"] == "VARCHAR"
    assert [(i, Decimal(p)) for i, p in rows] == [
        (0, Decimal("1.50")), (1, Decimal("-0.01")), (10, Decimal("2.25")),
        (20, Decimal("9.99")), (21, Decimal(0)),
    ]  # fmt: skip


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("change", ["added", "dropped"])
def test_a_column_added_or_dropped_mid_batch_on_both_paths(
    tmp_path: Path, native: bool, change: str
) -> None:
    # added: rows of the old schema in the batch that adds the column (inserted before the
    # ALTER TABLE ... ADD COLUMN ... DEFAULT) hold the default in the source, as the rows
    # before; dropped: rows of the schema without the column (inserted after ALTER TABLE ...
    # DROP COLUMN) are NULL there, not the dropped column's default
    def schema(*extra: dict[str, Any]) -> dict[str, Any]:
        row = {**ROW, "fields": [FIELDS[0], FIELDS[3], *extra]}
        return {**VALUE_SCHEMA, "fields": [{**row, "field": "before"}, {**row, "field": "after"},
                                           *VALUE_SCHEMA["fields"][2:]]}  # fmt: skip

    def create(i: int, **after: Any) -> tuple[int, dict[str, Any]]:
        return i, {"before": None, "after": {"id": i, **after}, "source": SRC, "op": "c",
                   "ts_ms": 1}  # fmt: skip

    c = {**_field("c", "int32"), "default": 5}
    added = change == "added"
    old, new = (schema(), schema(c)) if added else (schema(c), schema())
    old_c, new_c = ({}, {"c": 7}) if added else ({"c": 7}, {})
    task = Task(tmp_path / "t.duckdb", native)
    task.put(_encode([create(i, txt="old", **old_c) for i in range(1, 1501)], 0, old))
    batch = _encode([create(i, txt="old", **old_c) for i in range(1501, 1601)], 1500, old)
    batch += _encode([create(i, txt="new", **new_c) for i in range(1601, 3001)], 1600, new)
    task.put(batch)
    rows, _, columns = task.tables()
    assert [c for c, _ in columns] == ["id", "txt", "c"]
    got = {i: c for i, _, c in rows}
    assert len(got) == 3000
    want_old, want_new = (5, 7) if added else (7, None)
    assert {got[i] for i in range(1, 1601)} == {want_old}
    assert {got[i] for i in range(1601, 3001)} == {want_new}
