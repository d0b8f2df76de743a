"""Encoded source records: a task told ``json_encoding`` may hand the runtime the converters'
bytes itself; the runtime writes them as they are, and says None whenever a transform or a
non-JSON converter sits in between (the task must then return values). Also what else a
task may ask of its context: a commit at once."""

from __future__ import annotations

import time
from array import array
from collections.abc import Mapping, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.log import Log
from hub.log.packed import Packed
from hub.runtime.api import (
    ConnectorConfig,
    EncodedBatch,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from hub.runtime.converters import JsonConverter
from hub.runtime.offsets import OffsetStore
from hub.runtime.source_runner import SEQ_HEADER, SourceRunner
from hub.runtime.worker import ConnectorSpec, Worker
from tests.connectors.postgres.helpers import wait_for

SCHEMA = {"type": "struct", "optional": False, "fields": [
    {"type": "int64", "optional": False, "field": "n"}]}  # fmt: skip
SEEN: dict[str, Any] = {}


class Config(ConnectorConfig):
    batch: bool = False
    packed: bool = False


class Task(SourceTask):
    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.encoding = SEEN[config["name"]] = context.json_encoding
        self.done = False
        self.batch = bool(config.get("batch"))
        self.packed = bool(config.get("packed"))

    def poll(self) -> Sequence[SourceRecord]:
        if self.done:
            time.sleep(0.05)
            return []
        self.done = True
        out: list[SourceRecord | EncodedBatch] = []
        if self.packed and self.encoding is not None:
            wrap = (b'{"v":', b"}", b"[", b"]")
            p = _packed([b'"k1"', b'"k2"', b'"k3"'], [b'"v1"', b'"v2"', b'"v3"'])
            out.append(SourceRecord("t", b'"first"', None, {"p": 1}, {"o": 0}, encoded=True))
            out.append(EncodedBatch("t", [], [], {"p": 1}, {"o": 2}, packed=p.slice(0, 2, wrap)))
            out.append(SourceRecord("t", b'"mid"', None, {"p": 1}, {"o": 3}, encoded=True))
            out.append(EncodedBatch("t", [], [], {"p": 1}, {"o": 4}, packed=p.slice(2, 3, wrap)))
            return out
        if self.batch and self.encoding is not None:
            out.append(SourceRecord("t", b'"first"', None, {"p": 1}, {"o": 0}, encoded=True))
            keys: list[bytes | None] = [b'"k1"', None]
            values: list[bytes | None] = [b'"v1"', b'"v2"']
            out.append(EncodedBatch("t", keys, values, {"p": 1}, {"o": 2}))
            return out
        for n in range(3):
            value, key = {"n": n}, {"n": n}
            if self.encoding is None:
                out.append(SourceRecord("t", value, key, {"p": 1}, {"o": n},
                                        key_schema=SCHEMA, value_schema=SCHEMA))  # fmt: skip
                continue
            ks, vs = self.encoding
            kb = JsonConverter(ks).from_value(key, SCHEMA)
            vb = b"encoded:" + JsonConverter(vs).from_value(value, SCHEMA)  # not a converter's
            out.append(SourceRecord("t", vb, kb, {"p": 1}, {"o": n}, encoded=True))
        return out

    def stop(self) -> None:
        pass


class Source(SourceConnector):
    name = "encoded-test"
    config_model = Config
    task_class = Task


def _run(
    tmp_path: Path, name: str, min_records: int = 3, **config: Any
) -> list[tuple[bytes | None, bytes | None]]:
    worker = Worker(str(tmp_path / "data"))
    spec = {"connector.class": f"{__name__}:Source", "name": name, **config}
    worker.add(ConnectorSpec(name, spec, "test"))
    try:
        deadline = time.monotonic() + 15
        while True:
            if worker.log.has_topic("t"):
                recs, _ = worker.log.partition("t", 0).records(0)
                if len(recs) >= min_records:
                    return [(r.key, r.value) for r in recs]
            assert time.monotonic() < deadline, "no records"
            time.sleep(0.05)
    finally:
        worker.stop()


def test_json_converters_without_transforms_take_encoded_bytes_as_they_are(
    tmp_path: Path,
) -> None:
    got = _run(tmp_path, "plain")
    assert SEEN["plain"] == (True, True)
    assert got[1] == (
        b'{"schema":' + orjson.dumps(SCHEMA) + b',"payload":{"n":1}}',
        b'encoded:{"schema":' + orjson.dumps(SCHEMA) + b',"payload":{"n":1}}',
    )


def test_schemas_enable_settings_reach_the_task(tmp_path: Path) -> None:
    got = _run(tmp_path, "bare", **{"key.converter.schemas.enable": False})
    assert SEEN["bare"] == (False, True)
    assert got[0][0] == b'{"n":0}'


@pytest.mark.parametrize(
    "config",
    [
        {"value.converter": "string"},
        {"transforms": "route", "transforms.route.type": "RegexRouter",
         "transforms.route.regex": "x", "transforms.route.replacement": "y"},
    ],
    ids=["string-converter", "transform"],
)  # fmt: skip
def test_a_transform_or_another_converter_asks_for_values(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    got = _run(tmp_path, "values", **config)
    assert SEEN["values"] is None
    assert not any(v is not None and v.startswith(b"encoded:") for _, v in got)


def test_an_encoded_batch_is_written_in_order_with_one_seq_per_record(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path / "data"))
    spec = {"connector.class": f"{__name__}:Source", "name": "batch", "batch": True}
    worker.add(ConnectorSpec("batch", spec, "test"))
    try:
        deadline = time.monotonic() + 15
        while True:
            recs = worker.log.partition("t", 0).records(0)[0] if worker.log.has_topic("t") else []
            if len(recs) >= 3:
                break
            assert time.monotonic() < deadline, "no records"
            time.sleep(0.05)
    finally:
        worker.stop()
    assert [(r.key, r.value) for r in recs] == [
        (None, b'"first"'),
        (b'"k1"', b'"v1"'),
        (None, b'"v2"'),
    ]
    assert [dict(r.headers)[SEQ_HEADER] for r in recs] == [b"batch/0/1", b"batch/0/2", b"batch/0/3"]
    log = Log(str(tmp_path / "data"))
    try:
        stored = OffsetStore(log).offsets("batch")
    finally:
        log.close()
    assert list(stored.values()) == [{"o": 2}]


def _packed(keys: list[bytes], values: list[bytes]) -> Packed:
    return Packed(b"".join(values), array("q", accumulate(map(len, values))).tobytes(),
                  b"".join(keys), array("q", accumulate(map(len, keys))).tobytes(),
                  0, len(values))  # fmt: skip


@pytest.mark.parametrize("packed", [False, True], ids=["lists", "packed"])
def test_an_encoded_batch_replayed_after_a_crash_drops_what_the_log_has(packed: bool) -> None:
    runner = SourceRunner.__new__(SourceRunner)
    runner._prefix, runner._skip = b"c/0/", {6, 8}
    groups: dict[tuple[str, int | None], list[Any]] = {}
    keys, values = [b"a", b"b", b"c", b"d"], [b"1", b"2", b"3", b"4"]
    if packed:
        batch = EncodedBatch("t", [], [], {}, {}, packed=_packed(keys, values))
    else:
        batch = EncodedBatch("t", keys, values, {}, {})
    assert runner._append_batch(batch, groups, 4, 99, 0, {}) == 8  # seqs 5..8; 6 and 8 are in
    [(keys, values, headers, stamps, _)] = groups[("t", None)]
    assert (keys, values, stamps) == ([b"a", b"c"], [b"1", b"3"], [99, 99])
    assert headers == [((SEQ_HEADER, b"c/0/5"),), ((SEQ_HEADER, b"c/0/7"),)]
    assert runner._skip == set()


def test_packed_batches_are_written_in_order_among_records(tmp_path: Path) -> None:
    got = _run(tmp_path, "packed", packed=True, min_records=5)
    assert got == [
        (None, b'"first"'), (b'["k1"]', b'{"v":"v1"}'), (b'["k2"]', b'{"v":"v2"}'),
        (None, b'"mid"'), (b'["k3"]', b'{"v":"v3"}'),
    ]  # fmt: skip


class AskConfig(ConnectorConfig):
    ask: bool = False


class CommittingTask(SourceTask):
    """Emits one record a poll; after the third it asks for a commit, then stays quiet."""

    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.context, self.n = context, 0
        self.ask = bool(config.get("ask"))

    def poll(self) -> Sequence[SourceRecord]:
        if self.n >= 3:
            time.sleep(0.05)
            return []
        self.n += 1
        if self.n == 3 and self.ask:
            self.context.request_commit()
        return [SourceRecord("t", {"n": self.n}, None, {"p": 1}, {"o": self.n})]

    def stop(self) -> None:
        pass


class CommittingSource(SourceConnector):
    name = "committing-test"
    config_model = AskConfig
    task_class = CommittingTask


@pytest.mark.parametrize("ask", [True, False], ids=["asked", "not-asked"])
def test_a_task_asking_for_a_commit_gets_it_at_once(tmp_path: Path, ask: bool) -> None:
    """`SourceTaskContext.request_commit`: the offsets are stored right after that poll's
    records are written, not at the next offset.flush.interval.ms (here an hour)."""
    worker = Worker(str(tmp_path / "data"))
    spec = {"connector.class": f"{__name__}:CommittingSource", "name": "c", "ask": ask,
            "offset.flush.interval.ms": 3_600_000}  # fmt: skip
    worker.add(ConnectorSpec("c", spec, "test"))
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and worker.offsets.offsets("c") == {}:
            time.sleep(0.05)
        stored = list(worker.offsets.offsets("c").values())
        assert stored == ([{"o": 3}] if ask else [])
    finally:
        worker.stop()


def _count(worker: Worker, topic: str) -> int:
    """Records in the topic's partition 0 (0 while it does not exist)."""
    if not worker.log.has_topic(topic):
        return 0
    return len(worker.log.partition(topic, 0).records(0)[0])


class StateTask(SourceTask):
    """Keeps what it saw in its own internal topic (as the MySQL source keeps its schema
    history): reads it at start, adds one record per run."""

    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.seen = context.internal_topic("__state.t", {"retention.ms": "-1"})
        SEEN.setdefault("state", []).append(self.seen)
        self.done = False

    def poll(self) -> Sequence[SourceRecord]:
        if self.done:
            time.sleep(0.05)
            return []
        self.done = True
        run = len(self.seen)
        return [SourceRecord("__state.t", b"run %d" % run, None, {"p": 1}, {"o": run},
                             encoded=True)]  # fmt: skip

    def stop(self) -> None:
        pass


class StateSource(SourceConnector):
    name = "state-test"
    config_model = Config
    task_class = StateTask


def test_a_task_keeps_its_state_in_an_internal_topic(tmp_path: Path) -> None:
    """Created with the task's config (retention: forever), read back at the next start, its
    records written as they are (the transform that renames every other topic passes them
    by), hidden among the internal topics."""
    spec = {
        "connector.class": f"{__name__}:StateSource", "name": "state", "transforms": "route",
        "transforms.route.type": "RegexRouter", "transforms.route.regex": ".*",
        "transforms.route.replacement": "elsewhere",
    }  # fmt: skip
    for run in range(2):
        worker = Worker(str(tmp_path / "data"))
        worker.add(ConnectorSpec("state", spec, "test"))
        try:
            wait_for(lambda w=worker, n=run + 1: _count(w, "__state.t") >= n, 15, "its record")
            info = worker.log.describe("__state.t")
            assert info.internal and info.config["retention.ms"] == "-1"
            assert "__state.t" not in worker.log.topics() and not worker.log.has_topic("elsewhere")
        finally:
            worker.stop()
    assert SEEN["state"] == [[], [b"run 0"]]
