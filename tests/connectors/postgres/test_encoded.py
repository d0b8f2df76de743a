"""Encoded events (`rowcodec.RowCodec` + `encoded.EventEncoder`, the hot path used with JSON
converters and no transforms) are byte for byte what Kafka's JsonConverter writes for the slow
path's dicts, for every type of the matrix and every handling mode, in both converter
settings, and whether the row comes from COPY text (snapshot) or a pgoutput TupleData
(streaming)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from connectors.source.cdc.envelope import envelope
from connectors.source.cdc.filters import Filters
from connectors.source.postgres import PostgresSourceTask, catalog, encoded, rowcodec
from connectors.source.postgres.config import PostgresSourceConfig
from connectors.source.postgres.encoded import EventEncoder, SnapshotRows
from connectors.source.postgres.schemas import TableSchemas
from connectors.source.postgres.snapshot import copy_text, parse_copy_text
from hub.log.packed import Packed
from hub.runtime.api import EncodedBatch, SourceTaskContext
from hub.runtime.converters import JsonConverter
from tests.connectors.postgres.helpers import events, failure, source_config, start, wait_for
from tests.connectors.postgres.test_resume_edges import crash, poll_for
from tests.connectors.postgres.test_type_matrix import (
    MATRIX,
    MATRIX_A,
    MATRIX_B,
    MODES_A,
    MODES_B,
    SETUP,
    Col,
    create,
    insert,
)
from tests.fixtures.postgres import PgServer

TS_NS = 1_764_000_000_123_456_789  # the event's time
COMMIT_US = 1_763_999_999_000_321  # the transaction's commit time


def tuple_data(values: list[bytes | None]) -> bytes:
    """The pgoutput TupleData of a row of text values."""
    out = [struct.pack("!h", len(values))]
    for v in values:
        out.append(b"n" if v is None else b"t" + struct.pack("!i", len(v)) + v)
    return b"".join(out)


@pytest.mark.parametrize("codec", [rowcodec.RowCodec, rowcodec.PyRowCodec], ids=["c", "python"])
@pytest.mark.parametrize(
    ("cols", "modes"), [(MATRIX, {}), (MATRIX_A, MODES_A), (MATRIX_B, MODES_B)],
    ids=["default", "modes_a", "modes_b"],
)  # fmt: skip
def test_encoded_events_are_the_converters_bytes(
    pg_server: PgServer, pg_db: str, cols: list[Col], modes: dict[str, Any], codec: type,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(encoded, "RowCodec", codec)
    cfg = PostgresSourceConfig.of(source_config(pg_server, pg_db, **modes))
    filters = Filters.from_config(cfg)
    with psycopg.connect(cfg.conninfo(), autocommit=True) as conn:
        for stmt in SETUP:
            conn.execute(stmt)
        create(conn, "m", cols)
        insert(conn, "m", cols, 1)
        schemas = TableSchemas(conn, cfg, filters)
        [info] = [t for t in catalog.tables(conn, filters) if t.name == "m"]
        schema = schemas.for_table(info)
        names = ", ".join(f'"{c.name}"' for c in info.columns)
        data = copy_text(conn, f"COPY (SELECT {names} FROM m ORDER BY id) TO STDOUT")
    rows = parse_copy_text(data)
    assert len(rows) == 5
    db, name = cfg.dbname, cfg.topic_prefix
    rel = struct.pack("!I", 7)
    block = {"id": "77:5", "total_order": 3, "data_collection_order": 2}
    for json_encoding in [(True, True), (False, False), (False, True)]:
        enc = EventEncoder(json_encoding, db, name)
        t = enc.table(schema)
        kc, vc = JsonConverter(json_encoding[0]), JsonConverter(json_encoding[1])
        structs, ends, keys, key_ends, _, declined = SnapshotRows(t).copy_packed(data)
        assert declined == []
        head, tail = enc.snapshot_wrap(t, ts_us=COMMIT_US, lsn=1234, ts_ns=TS_NS)
        packed = Packed(structs, ends, keys, key_ends, 0, len(rows),
                        (head, tail, t.key_head, t.key_tail))  # fmt: skip
        for n, values in enumerate(rows):
            got = t.codec.values(values)
            assert got is not None
            row, key = got
            after = schema.row(values)
            key_bytes = t.key_head + key + t.key_tail if key is not None else None
            assert key_bytes == kc.from_value(schema.key(after), schema.key_schema)
            # a snapshot read
            src = schema.source(db, name, ts_us=COMMIT_US, snapshot="last", lsn=1234)
            want = vc.from_value(envelope("r", None, after, src, ts_ns=TS_NS), schema.value_schema)
            h, tl = enc.snapshot_wrap(t, ts_us=COMMIT_US, marker="last", lsn=1234, ts_ns=TS_NS)
            assert h + row + tl == want
            # the snapshot reader's form (marker "true"): packed, wrapped as the log writes it
            src = schema.source(db, name, ts_us=COMMIT_US, snapshot="true", lsn=1234)
            want = vc.from_value(envelope("r", None, after, src, ts_ns=TS_NS), schema.value_schema)
            assert packed.value(n) == want
            assert packed.key(n) == kc.from_value(schema.key(after), schema.key_schema)
            # streamed changes, the row from a TupleData
            new, new_key, end = t.codec.tuple(b"xx" + tuple_data(values), 2)
            assert (new, new_key, end) == (row, key, len(tuple_data(values)) + 2)
            src = schema.source(db, name, ts_us=COMMIT_US, txid=77, lsn=999, sequence='["5","999"]')
            # an update with its old row and transaction metadata; a delete without it
            for op, old, txn in (("u", True, block), ("d", True, None), ("c", False, None)):
                new_after = None if op == "d" else after
                want = vc.from_value(
                    envelope(op, after if old else None, new_after, src, txn, ts_ns=TS_NS),
                    schema.value_schema,
                )
                txn_json = None if txn is None else orjson.dumps(txn)
                got = rowcodec.change_value(
                    t.wrap, t.source_parts(COMMIT_US, 5, 77), op.encode(),
                    new if old else None, None if op == "d" else new, 999, txn_json, TS_NS,
                )  # fmt: skip
                assert got == want, op
                # straight from the pgoutput message, as the stream's hot path takes it
                msg = {"u": b"U" + rel + b"N" + tuple_data(values),
                       "d": b"D" + rel + b"O" + tuple_data(values),
                       "c": b"I" + rel + b"N" + tuple_data(values)}[op]  # fmt: skip
                if op == "u":  # the message has no old row: before is null
                    want = vc.from_value(
                        envelope(op, None, after, src, txn, ts_ns=TS_NS), schema.value_schema
                    )
                change = t.codec.change(
                    msg, t.wrap, t.source_parts(COMMIT_US, 5, 77), 999, txn_json, TS_NS
                )
                assert change == (want, key_bytes), op
            # the old row of a keyed table's update: whether the key changed is the slow
            # path's call
            old_new = b"U" + rel + b"O" + tuple_data(values) + b"N" + tuple_data(values)
            assert t.codec.change(old_new, t.wrap, (b"", b""), 1, None, TS_NS) is None


def test_copy_text_rows_of_one_empty_field_are_rows() -> None:
    """COPY writes a row whose only column is '' as an empty line: a row, not a gap."""
    data = b"\na\n\n"
    assert parse_copy_text(data) == [[b""], [b"a"], [b""]]
    fields = [(0, "k", rowcodec.KIND_STR, 0, lambda raw: None if raw is None else raw.decode())]
    for codec in (rowcodec.RowCodec, rowcodec.PyRowCodec):
        structs, ends, *_ = codec(fields, (0,)).copy_packed(data)
        cut = memoryview(ends).cast("q")
        assert [structs[cut[i - 1] if i else 0 : cut[i]] for i in range(len(cut))] == [
            b'{"k":""}',
            b'{"k":"a"}',
            b'{"k":""}',
        ]


@pytest.mark.parametrize("encoded_path", [True, False], ids=["encoded", "values"])
def test_snapshot_of_a_table_with_one_text_column_keeps_the_empty_string_row(
    pg_server: PgServer, pg_db: str, tmp_path: Path, encoded_path: bool
) -> None:
    extra: dict[str, Any] = {"snapshot.mode": "initial_only"}
    if not encoded_path:  # any transform makes the runtime ask for values
        extra.update({
            "transforms": "route", "transforms.route.type": "RegexRouter",
            "transforms.route.regex": "nomatch", "transforms.route.replacement": "x",
        })  # fmt: skip
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        conn.execute("CREATE TABLE one (k text PRIMARY KEY)")
        conn.execute("INSERT INTO one VALUES (''), ('a'), ('b\tc')")
    worker = start(tmp_path, source_config(pg_server, pg_db, **extra))
    try:
        got = wait_for(
            lambda: len(events(worker.log, "app.public.one")) >= 3 or failure(worker),
            what="the snapshot",
        )
        assert got is True, failure(worker)
        evs = events(worker.log, "app.public.one")
    finally:
        worker.stop()
    assert sorted(k["k"] for k, _ in evs) == ["", "a", "b\tc"]
    assert [v["op"] for _, v in evs] == ["r"] * 3


def _comparable(data: bytes | None) -> Any:
    """A key or value's JSON, without the envelope's own (processing-time) ts_* fields."""
    if data is None:
        return None
    doc = orjson.loads(data)
    payload = doc.get("payload")
    if isinstance(payload, dict) and "op" in payload:
        for k in ("ts_ms", "ts_us", "ts_ns"):
            payload.pop(k, None)
    return doc


def _records(records: Any) -> list[Any]:
    conv = JsonConverter(True)
    out = []
    for r in records:
        if type(r) is EncodedBatch:
            out += [(r.topic, _comparable(k), _comparable(v)) for k, v in zip(
                r.keys, r.values, strict=True
            )]  # fmt: skip
        elif r.topic and r.encoded:
            out.append((r.topic, _comparable(r.key), _comparable(r.value)))
        elif r.topic:
            key = conv.from_value(r.key, r.key_schema)
            value = conv.from_value(r.value, r.value_schema)
            out.append((r.topic, _comparable(key), _comparable(value)))
    return out


def test_the_encoded_stream_equals_the_values_stream(pg_server: PgServer, pg_db: str) -> None:
    """One workload, two tasks on two slots, one told json_encoding: every key and value is
    the same JSON (unchanged TOAST, key changes, FULL identity with message.key.columns, a
    keyless table, column filters, a column added mid-stream, truncate, metadata)."""
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE a (id int PRIMARY KEY, v text, big text, n numeric(10,2), x int)")
        sql.execute("CREATE TABLE f (id int PRIMARY KEY, code text, v text)")
        sql.execute("ALTER TABLE f REPLICA IDENTITY FULL")
        sql.execute("CREATE TABLE nk (v text, w int)")
        sql.execute("ALTER TABLE nk REPLICA IDENTITY FULL")
        extra = {
            "snapshot.mode": "no_data", "provide.transaction.metadata": "true",
            "skipped.operations": "none", "message.key.columns": "public.f:code",
            "column.exclude.list": "public.a.x",
        }  # fmt: skip
        tasks = []
        for encoding in ((True, True), None):
            task = PostgresSourceTask()
            task.start(source_config(pg_server, pg_db, **extra),
                       SourceTaskContext("pg", 0, {}, None, encoding))  # fmt: skip
            tasks.append(task)
        try:
            for task in tasks:
                poll_for(task, 0.3)
            with sql.transaction():
                sql.execute("INSERT INTO a VALUES (1, 'x', repeat(md5('a'), 1000), 1.5, 7), "
                            "(2, NULL, NULL, NULL, NULL)")  # fmt: skip
                sql.execute("UPDATE a SET v = 'y' WHERE id = 1")  # the big value: unchanged
                sql.execute("UPDATE a SET id = 3 WHERE id = 2")  # key change ('K')
                sql.execute("DELETE FROM a WHERE id = 1")
                sql.execute("INSERT INTO f VALUES (1, 'c1', 'a'), (2, 'c2', 'b')")
                sql.execute("UPDATE f SET v = 'z' WHERE id = 1")
                sql.execute("UPDATE f SET code = 'c9' WHERE id = 2")  # the message key
                sql.execute("UPDATE f SET id = 5 WHERE id = 1")
                sql.execute("DELETE FROM f WHERE id = 5")
                sql.execute("INSERT INTO nk VALUES ('a', 1), ('a', 1)")
                sql.execute("UPDATE nk SET w = 2")
                sql.execute("DELETE FROM nk")
            sql.execute("ALTER TABLE a ADD COLUMN extra int")
            sql.execute("INSERT INTO a VALUES (10, 'p', NULL, 2.25, 1, 42)")
            sql.execute("UPDATE a SET extra = 43 WHERE id = 10")
            sql.execute("TRUNCATE nk")
            fast = poll_for(tasks[0], 2.5)
            slow = poll_for(tasks[1], 2.5)
        finally:
            for task in tasks:
                crash(task)
    assert sum(len(r.values) for r in fast if type(r) is EncodedBatch) > 10  # the fast path ran
    got, want = _records(fast), _records(slow)
    assert len(got) == len(want) > 25
    for i, (x, y) in enumerate(zip(got, want, strict=True)):
        assert x == y, i
