"""JsonConverter.to_value reuses the schema of recent records: same values, same schema
(the object itself for repeats), and documents it cannot split are read whole."""

from __future__ import annotations

import orjson

from hub.runtime.converters import JsonConverter

SCHEMA = {"type": "struct", "fields": [{"type": "int32", "field": "id"}], "name": "t.Value"}


def test_repeated_schemas_are_shared_and_values_exact() -> None:
    out, back = JsonConverter(), JsonConverter()
    payloads = [{"id": i, "s": "x" * i, "nested": {"a": [i, None]}} for i in range(50)]
    read = [back.to_value(out.from_value(p, SCHEMA)) for p in payloads]
    assert [v for v, _ in read] == payloads
    assert all(s == SCHEMA for _, s in read)
    assert all(s is read[1][1] for _, s in read[1:])  # one object after the first record


def test_documents_that_do_not_split_are_read_whole() -> None:
    conv = JsonConverter()
    plain = orjson.dumps({"schema": SCHEMA, "payload": {"id": 1}})
    assert conv.to_value(plain) == ({"id": 1}, SCHEMA)
    # the same schema prefix, but a third key: not the two-key layout
    odd = plain[:-1] + b',"extra":1}'
    assert conv.to_value(odd) == ({"schema": SCHEMA, "payload": {"id": 1}, "extra": 1}, None)
    # formatted by another writer (spaces): read whole every time, never mis-split
    spaced = b'{"schema": ' + orjson.dumps(SCHEMA) + b', "payload": {"id": 2}}'
    assert conv.to_value(spaced) == ({"id": 2}, SCHEMA)
    # a payload that is a string ending in a brace
    tricky = conv.to_value(JsonConverter().from_value("a}", SCHEMA))
    assert tricky == ("a}", SCHEMA)
    assert conv.to_value(JsonConverter().from_value(None, SCHEMA)) == (None, None)
