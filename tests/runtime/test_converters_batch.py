"""Converters a batch at a time (what the runners call, once per poll) give what they give
one record at a time; a batch with a record that cannot be converted is converted record by
record, so only that one is reported and the others go on in order."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.runtime.api import (
    ConnectorConfig,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from hub.runtime.converters import make_converter
from hub.runtime.worker import ConnectorSpec, Worker
from tests.connectors.postgres.helpers import wait_for
from tests.runtime.test_encoded_records import _count

SCHEMA = {"type": "struct", "optional": False,
          "fields": [{"type": "string", "optional": True, "field": "v"}]}  # fmt: skip
VALUES: list[Any] = [{"v": "a"}, None, {"v": "é\n"}, [1, 2], 2**64 - 1, Decimal("1.50"),
                     b"\x00\xff", "plain", {"n": 1.5}, {1: "é"},
                     {"n": [float("nan"), None]}]  # fmt: skip


@pytest.mark.parametrize("name", ["json", "string", "bytes"])
@pytest.mark.parametrize("schemas", [True, False])
def test_a_batch_converts_as_its_records_do(name: str, schemas: bool) -> None:
    c = make_converter(name, schemas)
    values = [v for v in VALUES if name != "bytes" or v is None or isinstance(v, bytes)]
    schema_list = [SCHEMA if isinstance(v, dict) and "v" in v else None for v in values]
    one = [c.from_value(v, s) for v, s in zip(values, schema_list, strict=True)]
    assert c.from_values(values, schema_list) == one
    back = make_converter(name, schemas)
    got = back.to_values(one)
    assert got == ([back.to_value(d)[0] for d in one], [back.to_value(d)[1] for d in one])


def test_a_record_after_a_known_schema_but_laid_out_otherwise_reads_as_alone() -> None:
    c = make_converter("json", True)
    first = c.from_value({"v": "a"}, SCHEMA)
    assert first is not None
    prefix = first[: first.index(b'"payload":') + len(b'"payload":')]
    odd = [first, prefix + b'1,"extra":2}', first, None, prefix + b'{"v":"b"}}']
    alone = make_converter("json", True)
    want = [alone.to_value(d) for d in odd]
    assert c.to_values(odd) == ([w[0] for w in want], [w[1] for w in want])
    assert want[1][0] == {"schema": SCHEMA, "payload": 1, "extra": 2}


class Config(ConnectorConfig):
    pass


class Task(SourceTask):
    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.done = False

    def poll(self) -> Sequence[SourceRecord]:
        if self.done:
            time.sleep(0.05)
            return []
        self.done = True
        values: list[Any] = ["a", object(), "b", "c"]  # JSON cannot hold the second
        out = [SourceRecord("t", v, None, {"p": 1}, {"o": n}) for n, v in enumerate(values)]
        # a connector's own record class, and an offset-only update, in between
        return [out[0], Mine("t", "mine", None, {"p": 1}, {"o": 0}),
                SourceRecord("", None, None, {"p": 1}, {"o": 0}), *out[1:]]  # fmt: skip

    def stop(self) -> None:
        pass


class Mine(SourceRecord):
    pass


class Source(SourceConnector):
    name = "batch-test"
    config_model = Config
    task_class = Task


def test_a_value_that_cannot_be_converted_is_reported_alone(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path / "data"))
    spec = {"connector.class": f"{__name__}:Source", "name": "src", "errors.tolerance": "all",
            "value.converter.schemas.enable": "false"}  # fmt: skip
    worker.add(ConnectorSpec("src", spec, "test"))
    try:
        wait_for(lambda: _count(worker, "t") >= 4, 15, "the four records")
        recs, _ = worker.log.partition("t", 0).records(0)
        assert [r.value for r in recs] == [b'"a"', b'"mine"', b'"b"', b'"c"']
        seqs = [dict(r.headers)["hub.source.seq"].rsplit(b"/", 1)[1] for r in recs]
        assert seqs == [b"1", b"2", b"4", b"5"]  # the failed one counted: a replay lines up
        assert worker.status()["src"][0].errors == 1
    finally:
        worker.stop()


@pytest.mark.parametrize("schemas", [True, False])
def test_json_writes_what_it_reads_back_as_written_or_refuses(schemas: bool) -> None:
    # orjson wrote NaN and infinities as null, the json module's fallback wrote 2**64+1 that
    # orjson read back as 1.8446744073709552e+19, and a lone surrogate as an escape no reader
    # takes: the log held another value, or a record every sink failed on
    c = make_converter("json", schemas)
    schema = {"type": "struct", "optional": False, "fields": [
        {"type": "double", "optional": True, "field": "d"},
        {"type": "array", "optional": True, "field": "a",
         "items": {"type": "double"}}]}  # fmt: skip
    nan = {"d": float("nan"), "a": [1.5, float("inf"), float("-inf")], "n": None}
    written = c.from_value(nan, schema if schemas else None)
    assert c.from_values([nan], [schema if schemas else None]) == [written]
    value, _ = make_converter("json", schemas).to_value(written)
    # as Kafka's JsonConverter (Jackson quotes them); the sinks read these strings as floats
    assert value == {"d": "NaN", "a": [1.5, "Infinity", "-Infinity"], "n": None}
    assert nan["d"] != nan["d"] and nan["a"][1] == float("inf")  # the record is left as it was
    for edge in (2**64 - 1, -(2**63), 2**53 + 1):
        assert make_converter("json", schemas).to_value(c.from_value({"i": edge}))[0] == {"i": edge}
    for bad, says in (
        ({"i": 2**64}, "past 64 bits"),
        ({"i": [-(2**63) - 1]}, "past 64 bits"),
        ({"i": 2**64, "d": float("nan")}, "past 64 bits"),
        ({"s": "a\ud800b", "t": "é"}, "lone surrogate"),
    ):
        with pytest.raises(ValueError, match=says):
            c.from_value(bad)
        with pytest.raises(ValueError, match=says):
            c.from_values([bad], [None])


def test_string_writes_values_as_kafka_does() -> None:
    # a key's bytes decide its partition and compaction: "True" is another key than "true",
    # "{'id': 1}" another than Kafka Connect's "Struct{id=1}"
    c = make_converter("string", False)
    assert c.from_values([True, False, 1, "x"], [None] * 4) == [b"true", b"false", b"1", b"x"]
    key = {"type": "struct", "fields": [{"field": "id", "type": "int32"},
                                        {"field": "name", "type": "string"},
                                        {"field": "gone", "type": "string"}]}  # fmt: skip
    assert c.from_value({"id": 1, "name": "a", "gone": None}, key) == b"Struct{id=1,name=a}"
    assert c.from_value({"a": 1, "b": [1, None]}) == b"{a=1, b=[1, null]}"
    # logical types as Kafka's toString of their Java values (OpenJDK 17, UTC): a Decimal's
    # bytes had been written as Python's repr, b'\x04\xd2'
    dec = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
           "parameters": {"scale": "2"}}  # fmt: skip
    logical = {"type": "struct", "fields": [
        {**dec, "field": "id"},
        {"field": "at", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"},
        {"field": "d", "type": "int32", "name": "org.apache.kafka.connect.data.Date"}]}  # fmt: skip
    assert c.from_value({"id": b"\x04\xd2", "at": 1704067200000, "d": 19723}, logical) == (
        b"Struct{id=12.34,at=Mon Jan 01 00:00:00 UTC 2024,d=Mon Jan 01 00:00:00 UTC 2024}"
    )
    assert c.from_value(b"\xfb\x2e", dec) == b"-12.34"  # (a value of its own)
    assert c.from_value("AQ==", {**dec, "parameters": {"scale": "10"}}) == b"1E-10"
    doubles = [1e7, 1.5, 1e-4, -1.2345e-5, 123456789.0, 0.001, float("nan")]
    assert [c.from_value(d) for d in doubles] == [  # Java's Double.toString
        b"1.0E7",
        b"1.5",
        b"1.0E-4",
        b"-1.2345E-5",
        b"1.23456789E8",
        b"0.001",
        b"NaN",
    ]


def test_json_with_schemas_takes_only_an_envelope_with_a_schema() -> None:
    """A row of two columns named schema and payload (an outbox table), read with
    schemas.enable: its text schema column had been taken for the envelope's schema and the
    row replaced by its payload (found by a review). An envelope's schema is null or an
    object with a type."""
    c = make_converter("json", True)
    row = b'{"schema":"orders.v1","payload":"{\\"id\\": 1}"}'
    want = ({"schema": "orders.v1", "payload": '{"id": 1}'}, None)
    assert c.to_value(row) == want
    assert c.to_values([row, row]) == ([want[0]] * 2, [None, None])
    schema = {"type": "struct", "fields": [{"field": "id", "type": "int32"}]}
    written = c.from_value({"id": 1}, schema)
    assert c.to_value(written) == ({"id": 1}, schema)
    assert c.to_value(b'{"schema":null,"payload":{"id":1}}') == ({"id": 1}, None)


@pytest.mark.parametrize("schemas", [True, False])
def test_json_writes_a_map_with_keys_that_are_not_strings_as_pairs(schemas: bool) -> None:
    # (the json module's fallback wrote the keys as strings: 1 and "1" became one key, one
    # value lost; Kafka's JsonConverter writes such a map as an array of [key, value] pairs)
    c = make_converter("json", schemas)
    schema = {"type": "map", "optional": False, "keys": {"type": "int32"},
              "values": {"type": "string"}}  # fmt: skip
    mixed = {"m": {1: "a", "1": "b", None: "c", 2.5: float("nan")}, "s": {"k": "v"}}
    written = c.from_value(mixed)
    assert c.from_values([mixed], [None]) == [written]
    value, _ = make_converter("json", schemas).to_value(written)
    assert value == {"m": [[1, "a"], ["1", "b"], [None, "c"], [2.5, "NaN"]], "s": {"k": "v"}}
    ints = {3: "x", 4: "y"}
    written = c.from_value(ints, schema if schemas else None)
    assert make_converter("json", schemas).to_value(written)[0] == [[3, "x"], [4, "y"]]


def test_json_writes_an_empty_map_with_keys_that_are_not_strings_as_an_empty_array() -> None:
    # (written {}: Kafka's JsonConverter refuses an object for such a map, "Maps with
    # non-string fields should be encoded as JSON array of tuples")
    c = make_converter("json", True)
    ints = {"type": "map", "optional": True, "keys": {"type": "int32"},
            "values": {"type": "string"}}  # fmt: skip
    texts = {**ints, "keys": {"type": "string"}}
    schema = {"type": "struct", "optional": False, "fields": [
        {**ints, "field": "m"}, {**texts, "field": "s"},
        {"type": "array", "optional": False, "items": ints, "field": "a"},
    ]}  # fmt: skip
    value = {"m": {}, "s": {}, "a": [{}, {1: "x"}]}
    written = c.from_value(value, schema)
    assert orjson.loads(written)["payload"] == {"m": [], "s": {}, "a": [[], [[1, "x"]]]}
    assert c.from_values([value], [schema]) == [written]
    assert value == {"m": {}, "s": {}, "a": [{}, {1: "x"}]}  # (the caller's value unchanged)
    plain = {"m": {}, "s": {}, "a": []}
    assert orjson.loads(c.from_value(plain, schema))["payload"] == {"m": [], "s": {}, "a": []}


NUMERIC_SCHEMA = {"type": "struct", "optional": False, "fields": [
    {"field": "amount", "type": "bytes", "optional": False, "version": 1,
     "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}},
    {"field": "ratio", "type": "double", "optional": True},
    {"field": "point", "type": "struct", "optional": True, "fields": [
        {"field": "x", "type": "bytes", "optional": True, "version": 1,
         "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}]},
]}  # fmt: skip


def test_decimals_written_as_json_numbers_are_read_exactly() -> None:
    """Kafka's JsonConverter with decimal.format=NUMERIC writes a Decimal as a JSON number
    and reads it back as a BigDecimal. Read as a float, 12345678901234567.89 reached the
    sink as ...567.88 (unscaled 1234567890123456800); a double beside it stays a float."""
    import orjson

    from connectors.sink.engine.types import column_type

    prefix = b'{"schema":' + orjson.dumps(NUMERIC_SCHEMA) + b',"payload":'
    numbers = [b"12345678901234567.89", b"1.5", b"123456789012345678901234567890"]
    # (a double past 17 digits beside them stays the double it is read as)
    docs = [prefix + b'{"amount":%s,"ratio":0.30000000000000004441,"point":{"x":%s}}}' % (n, n)
            for n in numbers] * 2  # fmt: skip
    _, convert = column_type(NUMERIC_SCHEMA["fields"][0])
    _, convert_x = column_type(NUMERIC_SCHEMA["fields"][2]["fields"][0])
    assert convert is not None and convert_x is not None
    want = [1234567890123456789, 150, 12345678901234567890123456789000] * 2
    one = make_converter("json", True)
    batch = make_converter("json", True)
    # (the second round reads through the schema's remembered prefix)
    for got in ([one.to_value(d)[0] for d in docs], batch.to_values(docs)[0]):
        assert [convert(v["amount"]) for v in got] == want
        assert [convert_x(v["point"]["x"]) for v in got] == want
        assert all(type(v["ratio"]) is float and v["ratio"] == 0.30000000000000004 for v in got)


@pytest.mark.parametrize("schemas", [True, False])
def test_a_batch_encoded_in_one_call_gives_the_bytes_of_one_call_per_value(schemas: bool) -> None:
    # (no value that is not finite: the batch goes through one orjson call, split in C)
    pairs = {"type": "map", "optional": True, "keys": {"type": "int32"},
             "values": {"type": "string"}}  # fmt: skip
    with_pairs = {"type": "struct", "optional": False, "fields": [{**pairs, "field": "m"}]}
    values: list[Any] = [
        {"v": 'a,"]}\\'}, None, {"v": "é\n\u2028"}, [1, [2, {"x": None}]], 2**64 - 1,
        Decimal("1.50"), b"\x00\xff", "", {"m": {}}, {"m": {1: "x"}}, None, {"d": 1.5e300},
    ]  # fmt: skip
    schema_list = [with_pairs if isinstance(v, dict) and "m" in v
                   else SCHEMA if isinstance(v, dict) and "v" in v else None
                   for v in values]  # fmt: skip
    c = make_converter("json", schemas)
    one = [c.from_value(v, s) for v, s in zip(values, schema_list, strict=True)]
    assert make_converter("json", schemas).from_values(values, schema_list) == one
    assert [make_converter("json", schemas).from_values([v], [s])[0]
            for v, s in zip(values, schema_list, strict=True)] == one  # fmt: skip
    assert make_converter("json", schemas).from_values([None, None], [None, None]) == [None] * 2
    assert make_converter("json", schemas).from_values([], []) == []
