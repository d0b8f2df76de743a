"""FileStreamSink's encoded path: JSON values written as they are in the log (no decoding and
encoding again) when the C scanner vouches for every key and value, and the decoded path
(`put`) for any batch it declines. Both give lines that read as the same JSON values."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from connectors.sink.file import FileStreamSinkTask
from hub.log import Record, TopicPartition, codec
from hub.runtime import (
    ByteArrayConverter,
    JsonConverter,
    SinkRecord,
    SinkTaskContext,
    StringConverter,
)
from hub.runtime.api import EncodedSinkRecords
from hub.runtime.converters import Converter
from hub.runtime.worker import Worker
from tests.helpers import wait_for
from tests.runtime.file_pipeline import file_sink, produce

# the encoded path needs the C scanner: without a C compiler the sink decodes every batch
# (the other tests here hold either way). CI builds it and sets HUB_REQUIRE_SPEEDUPS=1, which
# makes a missing build a failure, not a skip
needs_c = pytest.mark.skipif(
    codec.json_lines is None and os.environ.get("HUB_REQUIRE_SPEEDUPS") != "1",
    reason="the C extension is not built: the file sink decodes every batch",
)

TP = TopicPartition("t", 0)

DOCS: list[bytes | None] = [
    b'{"id":1,"name":"a"}',
    b'{"id": 2, "name": "b\\u00e9", "tags": ["x", "y"]}',  # another writer's spaces, escapes
    b'{"id":3,"nested":{"deep":[1,2.5,-3e2,null,true,false]},"s":"\xe2\x82\xac"}',
    None,  # a tombstone: a null line
    b"[1,2,3]",
    b'{"id":4,"big":18446744073709551615}',
]


def _records(values: list[bytes | None], keys: list[bytes | None] | None = None) -> list[Record]:
    keys = keys if keys is not None else [b'{"id":%d}' % i for i in range(len(values))]
    pairs = enumerate(zip(keys, values, strict=True))
    return [Record("t", 0, i, 0, k, v, ()) for i, (k, v) in pairs]


def _task(path: Path) -> FileStreamSinkTask:
    task = FileStreamSinkTask()
    task.start({"file": str(path)}, SinkTaskContext("s", 0))
    task.open({TP})
    return task


def _decoded(records: list[Record], kc: Converter, vc: Converter) -> list[SinkRecord]:
    out = []
    for r in records:
        key, _ = kc.to_value(r.key)
        value, _ = vc.to_value(r.value)
        out.append(SinkRecord(r.topic, r.partition, r.offset, r.timestamp, key, value))
    return out


def _written(task: FileStreamSinkTask, path: Path) -> list[Any]:
    task.flush({TP: 0})
    task.stop()
    return [json.loads(line) for line in path.read_text().splitlines()]


@needs_c
@pytest.mark.parametrize("kc", [JsonConverter(False), StringConverter(), ByteArrayConverter()])
def test_encoded_lines_read_as_the_decoded_paths(tmp_path: Path, kc: Converter) -> None:
    vc = JsonConverter(False)
    records = _records(DOCS)
    fast = _task(tmp_path / "fast.jsonl")
    assert fast.put_encoded(EncodedSinkRecords(records, kc, vc)) is True
    slow = _task(tmp_path / "slow.jsonl")
    slow.put(_decoded(records, kc, vc))
    assert _written(fast, tmp_path / "fast.jsonl") == _written(slow, tmp_path / "slow.jsonl")
    lines = (tmp_path / "fast.jsonl").read_bytes().splitlines()
    assert lines[1] == DOCS[1]  # as the writer formatted it


@needs_c
def test_schema_envelopes_give_their_payload(tmp_path: Path) -> None:
    vc = JsonConverter(True)
    schema = {"type": "struct", "fields": [{"field": "id", "type": "int32"}], "optional": False}
    values = [vc.from_value({"id": i}, schema) for i in range(3)] + [None]
    records = _records(values)
    fast = _task(tmp_path / "fast.jsonl")
    assert fast.put_encoded(EncodedSinkRecords(records, JsonConverter(True), vc)) is True
    assert _written(fast, tmp_path / "fast.jsonl") == [{"id": 0}, {"id": 1}, {"id": 2}, None]


@pytest.mark.parametrize(
    ("values", "keys", "why"),
    [
        ([b'{"id":1}', b'"a string"'], None, "a string's line is its text"),
        ([b'{"id":1}', b"{not json"], None, "the converter fails on it"),
        ([b'{"id":1}', b'{"id":\n2}'], None, "two lines"),
        ([b'{"id":1}', b'{"n":123456789012345678901234567890}'], None, "orjson makes it a float"),
        ([b'{"id":1}'], [b"{not json"], "the key converter fails on it"),
    ],
)
def test_batches_the_scanner_declines_go_to_put(
    tmp_path: Path, values: list[bytes | None], keys: list[bytes | None] | None, why: str
) -> None:
    task = _task(tmp_path / "out.jsonl")
    batch = EncodedSinkRecords(_records(values, keys), JsonConverter(False), JsonConverter(False))
    assert task.put_encoded(batch) is False, why
    task.flush({TP: 0})
    assert (tmp_path / "out.jsonl").read_bytes() == b""  # nothing written: put does it all
    task.stop()


@needs_c
def test_text_is_written_as_the_string_converter_reads_it(tmp_path: Path) -> None:
    texts: list[bytes | None] = [b"plain", "caf\u00e9 \u20ac".encode(), b"", None,
                                 b"two\nlines", b'{"not": "parsed"}']  # fmt: skip
    kc, vc = StringConverter(), StringConverter()
    fast, slow = _task(tmp_path / "fast.txt"), _task(tmp_path / "slow.txt")
    assert fast.put_encoded(EncodedSinkRecords(_records(texts), kc, vc)) is True
    slow.put(_decoded(_records(texts), kc, vc))
    for task in (fast, slow):
        task.flush({TP: 0})
        task.stop()
    assert (tmp_path / "fast.txt").read_bytes() == (tmp_path / "slow.txt").read_bytes()
    # not valid UTF-8 (a broken sequence, a surrogate): put writes replacement characters
    for bad in (b"caf\xc3", b"\xed\xa0\x80", b"\xc3", b"ok"):
        task = _task(tmp_path / "bad.txt")
        batch = EncodedSinkRecords(_records([bad, b"\xa9"] if bad == b"\xc3" else [bad]), kc, vc)
        assert task.put_encoded(batch) is (bad == b"ok"), bad  # (c3 + a9 would be a valid é)
        task.stop()


def test_other_value_converters_go_to_put(tmp_path: Path) -> None:
    task = _task(tmp_path / "out.jsonl")
    batch = EncodedSinkRecords(_records([b"\x00\x01"]), JsonConverter(False), ByteArrayConverter())
    assert task.put_encoded(batch) is False
    task.stop()


def _produce(worker: Worker, values: list[bytes]) -> None:
    produce(worker, values, keys=[b'{"k":%d}' % i for i in range(len(values))])


@needs_c
def test_a_worker_writes_documents_as_they_are(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        docs = [b'{"id": %d, "v": "x"}' % i for i in range(50)]  # (re-encoding drops the spaces)
        _produce(worker, docs)
        worker.add(file_sink(tmp_path, **{"key.converter.schemas.enable": "false"}))
        out = tmp_path / "out.txt"
        wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") == 50)
        assert out.read_bytes() == b"".join(d + b"\n" for d in docs)
    finally:
        worker.stop()


def test_poison_among_documents_goes_to_the_dead_letter_queue(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        _produce(worker, [b'{"id": 1}', b"{not json", b'{"id": 2}'])
        worker.add(file_sink(tmp_path, **{
            "key.converter.schemas.enable": "false", "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": "dlq",
        }))  # fmt: skip
        out = tmp_path / "out.txt"
        wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") == 2)
        assert [json.loads(line) for line in out.read_text().splitlines()] == [{"id": 1}, {"id": 2}]
        wait_for(lambda: worker.log.has_topic("dlq"))
        recs, _ = worker.log.partition("dlq", 0).records(0)
        assert [r.value for r in recs] == [b"{not json"]
    finally:
        worker.stop()


def test_poison_among_documents_fails_the_task_without_tolerance(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        _produce(worker, [b'{"id": 1}', b"{not json"])
        worker.add(file_sink(tmp_path, **{"key.converter.schemas.enable": "false"}))
        wait_for(lambda: worker.status()["sink"][0].state == "FAILED")
        trace = worker.status()["sink"][0].trace
        assert trace is not None and "JSONDecodeError" in trace
        out = tmp_path / "out.txt"
        assert not out.exists() or out.read_bytes() == b""
    finally:
        worker.stop()
