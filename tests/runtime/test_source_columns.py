"""`SourceBatch`: a source's records as columns. A poll of batches writes what the same
records as `SourceRecord`s write (partitions, keys, values, seq headers, timestamps) and
stores the same offsets, with and without transforms; a record of a batch that fails to
convert is reported as a `SourceRecord`'s is; a batch is written whole or not at all."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hub.log import TopicPartition
from hub.runtime import source_runner
from hub.runtime.api import (
    ConnectorConfig,
    SourceBatch,
    SourceConnector,
    SourceRecord,
    SourceTaskContext,
)
from hub.runtime.offsets import OffsetStore
from hub.runtime.worker import ConnectorSpec, Worker
from tests.connectors.postgres.helpers import wait_for
from tests.runtime import test_source_batches as batches
from tests.runtime.test_source_batches import SCHEMA, A, B, _seq

STAMP = 1_700_000_000_000


def _batches() -> list[list[SourceRecord | SourceBatch]]:
    """Polls of batches of every shape (the first alone in its poll: written in one call)."""
    return [
        [
            SourceBatch(
                "t", [{"n": i} for i in range(50)], [{"k": i} for i in range(50)], A, {"pos": 49}
            )
        ],  # fmt: skip
        [
            SourceBatch(
                "t", [{"n": i} for i in range(10)], None, B, {"pos": 9}, STAMP, SCHEMA, SCHEMA
            )
        ],  # fmt: skip
        [
            SourceRecord("t", {"n": 100}, {"k": 100}, A, {"pos": 100}),
            SourceBatch("u", [{"n": 101}, None], [{"k": 101}, {"k": 102}], A, {"pos": 102}),
            SourceBatch("t", [], None, B, {"pos": 50}),  # (moves B's offset only)
            SourceRecord("t", {"n": 103}, None, A, {"pos": 103}),
        ],
        [SourceBatch("t", [], None, A, {"pos": 200})],
    ]


def _as_records(polls: list[list[SourceRecord | SourceBatch]]) -> list[list[SourceRecord]]:
    """The same polls as SourceRecords (a batch's records: its offset on the last)."""
    out: list[list[SourceRecord]] = []
    for poll in polls:
        records: list[SourceRecord] = []
        for item in poll:
            if isinstance(item, SourceRecord):
                records.append(item)
            elif not item.values:
                records.append(SourceRecord("", None, None, item.source_partition,
                                            item.source_offset))  # fmt: skip
            else:
                keys = item.keys if item.keys is not None else [None] * len(item.values)
                records += [SourceRecord(item.topic, v, k, item.source_partition,
                                         item.source_offset, timestamp=item.timestamp,
                                         key_schema=item.key_schema,
                                         value_schema=item.value_schema)
                            for k, v in zip(keys, item.values, strict=True)]  # fmt: skip
        out.append(records)
    return out


class Task(batches.Task):  # (its poll and stop: the polls given, one at a time)
    POLLS: list[list[Any]] = []

    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.polls = list(type(self).POLLS)


class Source(SourceConnector):
    name = "columns-test"
    config_model = ConnectorConfig
    task_class = Task


ROUTE = {
    "transforms": "route,add",
    "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
    "transforms.route.regex": "t", "transforms.route.replacement": "routed",
    "transforms.add.type": "org.apache.kafka.connect.transforms.InsertField$Value",
    "transforms.add.static.field": "via", "transforms.add.static.value": "smt",
}  # fmt: skip


def _run(
    tmp_path: Path, polls: list[list[Any]], extra: dict[str, Any], topics: tuple[str, ...]
) -> tuple[dict[str, list[Any]], dict[str, Any], int, int]:
    Task.POLLS = polls
    worker = Worker(str(tmp_path / "data"))
    spec = {"connector.class": f"{__name__}:Source", "topic.creation.default.partitions": 3,
            **extra}  # fmt: skip
    total = sum(len(p.values) if isinstance(p, SourceBatch) else bool(p.topic)
                for poll in polls for p in poll)  # fmt: skip
    t0 = time.time_ns() // 1_000_000
    worker.add(ConnectorSpec("columns", spec, "test"))
    try:
        wait_for(lambda: worker.status()["columns"][0].records >= total, 20, "the records")
        wait_for(lambda: OffsetStore(worker.log).offsets("columns").get('{"table":"a"}')
                 == {"pos": 200}, 20, "the offsets")  # fmt: skip
    finally:
        worker.stop()
    t1 = time.time_ns() // 1_000_000
    got, stored = batches._logged(tmp_path / "data", "columns", topics)
    return got, stored, t0, t1


@pytest.mark.parametrize("transforms", [False, True], ids=["plain", "transformed"])
def test_batches_write_what_the_same_records_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transforms: bool
) -> None:
    taken: list[bool] = []
    real = source_runner.SourceRunner._append_columns

    def counting(self: Any, b: SourceBatch) -> bool:
        done: bool = real(self, b)
        taken.append(done)
        return done

    monkeypatch.setattr(source_runner.SourceRunner, "_append_columns", counting)
    extra = ROUTE if transforms else {}
    topics = ("routed", "u") if transforms else ("t", "u")
    batched, b_offsets, b0, b1 = _run(tmp_path / "b", _batches(), extra, topics)
    # polls of one batch alone go in one call; with transforms, record by record
    assert taken == ([] if transforms else [True, True, True])
    records, r_offsets, r0, r1 = _run(tmp_path / "r", _as_records(_batches()), extra, topics)

    assert b_offsets == r_offsets == {'{"table":"a"}': {"pos": 200},
                                      '{"table":"b"}': {"pos": 50}}  # fmt: skip
    assert set(batched) == set(records) == set(topics)
    for topic in topics:
        b, r = _by_record(batched[topic]), _by_record(records[topic])
        assert b.keys() == r.keys()
        for rec, (bp, bk, bts) in b.items():
            rp, rk, rts = r[rec]
            assert bk == rk and (bp == rp or bk is None)
            assert bts == rts or (b0 <= bts <= b1 and r0 <= rts <= r1)
    assert sum(len(v) for v in batched.values()) == 50 + 10 + 4
    if transforms:
        assert all(b'"via":"smt"' in v for _, _, _, v, _, _ in batched["routed"])
    # one seq each, in poll order within every partition
    seqs = []
    for recs in batched.values():
        for p in range(3):
            mine = [_seq(h) for q, _, _, _, h, _ in recs if q == p]
            assert mine == sorted(mine)
            seqs += mine
    assert sorted(seqs) == list(range(1, 65))


def test_a_record_that_fails_to_convert_is_reported_and_its_batch_is_written_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = {"n": object()}  # (no JSON for it)
    polls: list[list[Any]] = [
        [
            SourceRecord("t", {"n": 0}, None, B, {"pos": 0}),
            SourceBatch("t", [{"n": 1}, bad, {"n": 3}], None, A, {"pos": 3}),
        ],  # fmt: skip
        [SourceBatch("t", [], None, A, {"pos": 200})],
    ]
    caplog.set_level(logging.WARNING)
    tolerant = {"errors.tolerance": "all", "errors.log.enable": True}
    got, offsets, _, _ = _run(tmp_path / "all", polls, tolerant, ("t",))
    assert sorted(v for _, _, _, v, _, _ in got["t"]) == [
        b'{"schema":null,"payload":{"n":0}}', b'{"schema":null,"payload":{"n":1}}',
        b'{"schema":null,"payload":{"n":3}}',
    ]  # fmt: skip
    assert offsets['{"table":"a"}'] == {"pos": 200}
    assert "VALUE_CONVERTER failed for record, skipped" in caplog.text

    # errors.tolerance none: the task fails on it, nothing of the batch is written
    Task.POLLS = [[SourceBatch("t", [{"n": 1}, bad, {"n": 3}], None, A, {"pos": 3})]]
    worker = Worker(str(tmp_path / "none" / "data"))
    worker.add(ConnectorSpec("columns", {"connector.class": f"{__name__}:Source"}, "test"))
    try:
        wait_for(lambda: worker.status()["columns"][0].state == "FAILED", 20, "the failure")
        assert worker.status()["columns"][0].records == 0
        assert OffsetStore(worker.log).offsets("columns") == {}
        log = worker.log
        assert not log.has_topic("t") or all(
            log.watermarks(TopicPartition("t", p))[1] == 0 for p in range(log.partition_count("t"))
        )  # (nothing of the batch in the log)
    finally:
        worker.stop()


def test_a_batch_with_a_key_short_or_no_topic_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match=r"topic 't': 1 keys for 2 values"):
        SourceBatch("t", [1, 2], [1])
    with pytest.raises(ValueError, match="a topic is needed"):
        SourceBatch("", [1])


def _by_record(recs: list[Any]) -> dict[Any, tuple[Any, ...]]:
    return {(_seq(h), v): (p, k, ts) for p, _, k, v, h, ts in recs}
