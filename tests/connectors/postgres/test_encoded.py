"""Encoded events (`rowcodec.RowCodec` + `encoded.EventEncoder`, the hot path used with JSON
converters and no transforms) are byte for byte what Kafka's JsonConverter writes for the slow
path's dicts, for every type of the matrix and every handling mode, in both converter
settings, and whether the row comes from COPY text (snapshot) or a pgoutput TupleData
(streaming)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.source.postgres import catalog, encoded, rowcodec
from connectors.source.postgres.config import PostgresSourceConfig
from connectors.source.postgres.encoded import EventEncoder, SnapshotRows
from connectors.source.postgres.events import envelope
from connectors.source.postgres.filters import Filters
from connectors.source.postgres.schemas import TableSchemas
from connectors.source.postgres.snapshot import copy_text, parse_copy_text
from hub.runtime.converters import JsonConverter
from tests.connectors.postgres.helpers import events, failure, source_config, start, wait_for
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
    block = {"id": "77:5", "total_order": 3, "data_collection_order": 2}
    for json_encoding in [(True, True), (False, False), (False, True)]:
        enc = EventEncoder(json_encoding, db, name)
        t = enc.table(schema)
        kc, vc = JsonConverter(json_encoding[0]), JsonConverter(json_encoding[1])
        copied = t.codec.copy_rows(data, (0,))
        wrapped = SnapshotRows(t).copy_rows(data, (0,))
        for n, (values, (row, key, pos, fallback)) in enumerate(zip(rows, copied, strict=True)):
            assert fallback is None and row is not None
            assert values[0] is not None and pos == (values[0].decode(),)
            after = schema.row(values)
            assert enc.key(t, key) == kc.from_value(schema.key(after), schema.key_schema)
            # a snapshot read
            src = schema.source(db, name, ts_us=COMMIT_US, snapshot="last", lsn=1234)
            want = vc.from_value(envelope("r", None, after, src, ts_ns=TS_NS), schema.value_schema)
            got = enc.snapshot(t, row, ts_us=COMMIT_US, marker="last", lsn=1234, ts_ns=TS_NS)
            assert got == want
            # the snapshot reader's form (marker "true"), wrapped by the task
            src = schema.source(db, name, ts_us=COMMIT_US, snapshot="true", lsn=1234)
            want = vc.from_value(envelope("r", None, after, src, ts_ns=TS_NS), schema.value_schema)
            head, tail = enc.snapshot_wrap(t, ts_us=COMMIT_US, lsn=1234, ts_ns=TS_NS)
            assert head + wrapped[n][0] + tail == want
            assert wrapped[n][1] == kc.from_value(schema.key(after), schema.key_schema)
            # streamed changes, the row from a TupleData
            new, new_key, end = t.codec.tuple(b"xx" + tuple_data(values), 2)
            assert (new, new_key, end) == (row, key, len(tuple_data(values)) + 2)
            src = schema.source(
                db, name, ts_us=COMMIT_US, txid=77, lsn=999, sequence='["5","999"]'
            )
            # an update with its old row and transaction metadata; a delete without it
            for op, old, txn in (("u", True, block), ("d", True, None), ("c", False, None)):
                new_after = None if op == "d" else after
                want = vc.from_value(
                    envelope(op, after if old else None, new_after, src, txn, ts_ns=TS_NS),
                    schema.value_schema,
                )
                got = enc.change(
                    t, op, new if old else None, None if op == "d" else new, ts_us=COMMIT_US,
                    last_commit=5, lsn=999, txid=77, transaction=txn, ts_ns=TS_NS,
                )  # fmt: skip
                assert got == want, op


def test_copy_text_rows_of_one_empty_field_are_rows() -> None:
    """COPY writes a row whose only column is '' as an empty line: a row, not a gap."""
    data = b"\na\n\n"
    assert parse_copy_text(data) == [[b""], [b"a"], [b""]]
    fields = [(0, "k", rowcodec.KIND_STR, 0, lambda raw: None if raw is None else raw.decode())]
    for codec in (rowcodec.RowCodec, rowcodec.PyRowCodec):
        got = codec(fields, (0,)).copy_rows(data, (0,))
        assert [(r[0], r[2]) for r in got] == [
            (b'{"k":""}', ("",)), (b'{"k":"a"}', ("a",)), (b'{"k":""}', ("",))
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
