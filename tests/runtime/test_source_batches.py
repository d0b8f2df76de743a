"""The source runner's batch path (`SourceRunner._append_fast`: a poll's records read a batch at
a time, converted in one call per converter, written in one call with the seq headers written
by the codec) against its record-by-record path: the same polls give the same log (partitions,
keys, values, headers, timestamps) and the same stored offsets, whichever path takes them."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from hub.log import Log, codec
from hub.runtime import source_runner
from hub.runtime.api import (
    ConnectorConfig,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from hub.runtime.offsets import OffsetStore
from hub.runtime.worker import ConnectorSpec, Worker
from tests.connectors.postgres.helpers import wait_for

SCHEMA = {"type": "struct", "optional": False, "fields": [
    {"type": "int64", "optional": False, "field": "n"}]}  # fmt: skip
A, B = {"table": "a"}, {"table": "b"}


class _Sub(SourceRecord):
    __slots__ = ()


def _polls() -> list[list[SourceRecord]]:
    """Polls of every shape: the batch path takes some, the other path the rest."""
    return [
        # one topic, one source partition, keys spread over partitions: the batch path
        [SourceRecord("t", {"n": i}, {"k": i}, A, {"pos": i}) for i in range(50)],
        # two source partitions interleaved, explicit timestamps, a None key and value
        [
            SourceRecord(
                "t",
                {"n": i},
                {"k": i} if i % 7 else None,
                A if i % 3 else B,
                {"pos": 100 + i},
                timestamp=1_700_000_000_000 + i,
            )
            for i in range(40)
        ]
        + [SourceRecord("t", None, {"k": "gone"}, B, {"pos": 999})],
        # some timestamps given, others not; schemas
        [
            SourceRecord(
                "t",
                {"n": i},
                {"n": i},
                A,
                {"pos": 200 + i},
                key_schema=SCHEMA,
                value_schema=SCHEMA,
                timestamp=None if i % 2 else 1_600_000_000_000,
            )
            for i in range(10)
        ],
        # what the batch path leaves to the other one: two topics, headers, a partition
        # given, an offset update, a record not replayable, a subclass
        [
            SourceRecord("t", {"n": 1}, None, A, {"pos": 300}),
            SourceRecord("u", {"n": 2}, None, A, {"pos": 301}),
        ],
        [SourceRecord("t", {"n": 3}, None, A, {"pos": 302}, headers=(("h", b"x"),))],
        [SourceRecord("t", {"n": 4}, {"k": 4}, A, {"pos": 303}, partition=2)],
        [
            SourceRecord("t", {"n": 5}, None, A, {"pos": 304}),
            SourceRecord("", None, None, B, {"pos": 1000}),
        ],
        [SourceRecord("t", {"n": 6}, None, A, {"pos": 305}, replayable=False)],
        [_Sub("t", {"n": 7}, None, A, {"pos": 306})],
        [],
    ]


class Task(SourceTask):
    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.polls = _polls()

    def poll(self) -> Sequence[SourceRecord]:
        if not self.polls:
            time.sleep(0.05)
            return []
        return self.polls.pop(0)

    def stop(self) -> None:
        pass


class Source(SourceConnector):
    name = "batches-test"
    config_model = ConnectorConfig
    task_class = Task


def _run(tmp_path: Path) -> tuple[dict[str, list[Any]], dict[str, Any], int, int]:
    total = sum(len([r for r in poll if r.topic]) for poll in _polls())
    worker = Worker(str(tmp_path / "data"))
    spec = {"connector.class": f"{__name__}:Source", "topic.creation.default.partitions": 3}
    t0 = time.time_ns() // 1_000_000
    worker.add(ConnectorSpec("batches", spec, "test"))
    try:
        wait_for(lambda: worker.status()["batches"][0].records >= total, 20, "the records")
    finally:
        worker.stop()
    t1 = time.time_ns() // 1_000_000
    got, stored = _logged(tmp_path / "data", "batches", ("t", "u"))
    return got, stored, t0, t1


def _logged(
    data: Path, connector: str, topics: tuple[str, ...]
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Each topic's records (partition, offset, key, value, headers, timestamp) over its 3
    partitions, and the connector's stored offsets."""
    log = Log(str(data))
    try:
        got: dict[str, list[Any]] = {}
        for topic in topics:
            for p in range(3):
                for r in log.partition(topic, p).records(0)[0]:
                    got.setdefault(topic, []).append(
                        (p, r.offset, r.key, r.value, r.headers, r.timestamp)
                    )
        return got, OffsetStore(log).offsets(connector)
    finally:
        log.close()


def test_the_batch_path_writes_what_the_record_path_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[int] = []
    real = source_runner.SourceRunner._append_fast

    def counting(self: Any, records: Any, cols: Any) -> bool:
        done: bool = real(self, records, cols)
        taken.append(done)
        return done

    monkeypatch.setattr(source_runner.SourceRunner, "_append_fast", counting)
    fast, fast_offsets, f0, f1 = _run(tmp_path / "fast")
    assert taken[:3] == [True, True, True] and sum(taken) == 3  # the first three polls
    monkeypatch.setattr(codec, "slot_columns", lambda *a: None)  # every poll record by record
    slow, slow_offsets, s0, s1 = _run(tmp_path / "slow")

    assert fast_offsets == slow_offsets
    assert fast_offsets == {
        '{"table":"a"}': {"pos": 306}, '{"table":"b"}': {"pos": 1000},
    }  # fmt: skip
    assert set(fast) == set(slow) == {"t", "u"}
    for topic in fast:
        # per record (by its seq, or its value for the one without): partition, key, value,
        # headers, timestamp; a record without a key may go to any partition (sticky, random)
        f, s = _by_record(fast[topic]), _by_record(slow[topic])
        assert f.keys() == s.keys()
        for rec, (fp, fk, fh, fts) in f.items():
            sp, sk, sh, sts = s[rec]
            assert (fk, fh) == (sk, sh)
            assert fp == sp or fk is None
            # a timestamp the record gave is kept; the others are the time of the write
            assert fts == sts or (f0 <= fts <= f1 and s0 <= sts <= s1)
    # the seq headers number every replayable record once, in poll order, and each
    # partition holds its records in that order
    seqs = []
    for recs in fast.values():
        for p in range(3):
            mine = [_seq(h) for q, _, _, _, h, _ in recs if q == p and _seq(h) is not None]
            assert mine == sorted(mine)
            seqs += mine
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    assert len(seqs) == sum(len(v) for v in fast.values()) - 1  # (the one not replayable)


def _seq(headers: Any) -> int | None:
    v = dict(headers).get(source_runner.SEQ_HEADER)
    return None if v is None else int(v.rpartition(b"/")[2])


def _by_record(recs: list[Any]) -> dict[Any, tuple[Any, ...]]:
    return {(_seq(h), v): (p, k, h, ts) for p, _, k, v, h, ts in recs}
