"""JsonConverter caches the encoded Connect schema per schema object: the bytes must be exactly
those of encoding ``{"schema": ..., "payload": ...}`` as one document, in every case."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from connectors.source.cdc.envelope import envelope
from connectors.source.postgres.events import SOURCE_SCHEMA, envelope_schema
from hub.runtime.converters import JsonConverter, dumps

ROW_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": True, "name": "app.public.t.Value", "fields": [
        {"type": "int32", "optional": False, "field": "id"},
        {"type": "string", "optional": True, "field": "txt"},
        {"type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
         "version": 1, "parameters": {"scale": "2", "connect.decimal.precision": "12"},
         "field": "amount"},
        {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp",
         "version": 1, "field": "ts"},
    ],
}  # fmt: skip
ENVELOPE = envelope_schema("app.public.t.Envelope", ROW_SCHEMA)


def reference(value: Any, schema: Any) -> bytes | None:
    """What JsonConverter(schemas_enable=True) wrote before the cache."""
    return None if value is None else dumps({"schema": schema, "payload": value})


def event(i: int, **after: Any) -> dict[str, Any]:
    src = {f["field"]: None for f in SOURCE_SCHEMA["fields"]} | {"lsn": i, "db": "d"}
    row = {"id": i, "txt": f"row {i} é ✓", "amount": b"\x00\x96", "ts": "2026-01-01T00:00:00Z"}
    return envelope("c", None, row | after, src)


VALUES: list[tuple[str, Any, Any]] = [
    ("debezium envelope", event(1), ENVELOPE),
    (
        "non-ascii, bytes, Decimal, dates",
        {
            "s": "žluťoučký ☃ \u2028",
            "b": b"\xff\x00",
            "d": Decimal("-12.340"),
            "dt": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            "day": date(2026, 1, 2),
            "t": time(1, 2, 3),
            "f": 1.5,
            "n": None,
            "l": [1, "x", None],
            "nested": {"a": {"b": 1}},
        },
        {"type": "struct", "name": "ünï", "fields": [], "optional": False},
    ),  # fmt: skip
    # payloads orjson refuses: the whole document goes through the json module
    ("non-string key in a row", event(2, txt={7: "é"}), ENVELOPE),
    ("non-string keys", {1: "a", "é": 2}, {"type": "map", "name": "ñ", "optional": False}),
    # a schema orjson refuses (a non-string key)
    (
        "schema with a non-string key",
        {"x": 1},
        {"type": "int64", "parameters": {1: "x"}, "doc": "é", "optional": True},
    ),  # fmt: skip
    ("no schema", {"a": 1}, None),
    ("string payload", "plain ✓", {"type": "string", "optional": False}),
    ("number payload", 42, {"type": "int32", "optional": False}),
    ("tombstone", None, ENVELOPE),
]


@pytest.mark.parametrize(("value", "schema"), [v[1:] for v in VALUES], ids=[v[0] for v in VALUES])
def test_bytes_identical_to_encoding_the_whole_document(value: Any, schema: Any) -> None:
    conv = JsonConverter()
    for _ in range(3):  # a miss, then hits
        assert conv.from_value(value, schema) == reference(value, schema)


def test_many_records_of_many_schemas_in_turn() -> None:
    conv = JsonConverter()
    schemas = [envelope_schema(f"app.public.t{i}.Envelope", ROW_SCHEMA) for i in range(5)]
    for i in range(2000):
        s = schemas[i % 5]
        v = event(i) if i % 7 else event(i, txt={i: "é"})  # (every 7th by the fallback)
        assert conv.from_value(v, s) == reference(v, s)


def test_more_schemas_than_the_cache_holds_and_new_schema_objects_per_record() -> None:
    conv = JsonConverter()
    n = JsonConverter.SCHEMA_CACHE_SIZE * 3
    for i in range(n):
        # a fresh dict each time (as a transform may build), freed right after: its id may be
        # reused by the next one, whose content differs
        s = {"type": "struct", "name": f"s{i}", "optional": False, "fields": [
            {"type": "int32", "optional": False, "field": f"f{i}"}]}  # fmt: skip
        v = {f"f{i}": i}
        assert conv.from_value(v, s) == reference(v, s)
        del s  # freed at once (no cycle): the next dict may take its id
    assert len(conv._schemas) <= JsonConverter.SCHEMA_CACHE_SIZE


def test_equal_content_in_different_objects_and_schemas_disabled() -> None:
    conv = JsonConverter()
    a = {"type": "string", "optional": False}
    b = {"type": "string", "optional": True}
    assert conv.from_value("x", a) == reference("x", a)
    assert conv.from_value("x", b) == reference("x", b)
    assert conv.from_value("x", a) == reference("x", a)
    off = JsonConverter(schemas_enable=False)
    v = event(4)
    assert off.from_value(v, ENVELOPE) == dumps(v)
    assert off.from_value({1: "x"}, None) == dumps({1: "x"})
    assert off.from_value(None, ENVELOPE) is None


def test_round_trip() -> None:
    conv = JsonConverter()
    v = event(5)
    value, schema = conv.to_value(conv.from_value(v, ENVELOPE))
    assert schema == ENVELOPE
    assert value["after"]["id"] == 5 and value["after"]["amount"] == "AJY="
