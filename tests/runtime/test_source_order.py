"""A poll's records keep their order in every partition, whichever of them name a partition
and whichever leave it to their key (Kafka Connect sends a poll's records one by one)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from hub.runtime.api import (
    ConnectorConfig,
    EncodedBatch,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from hub.runtime.worker import ConnectorSpec, Worker
from tests.helpers import wait_for


class Config(ConnectorConfig):
    pass


class Task(SourceTask):
    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.done = False

    def poll(self) -> Sequence[SourceRecord | EncodedBatch]:
        if self.done:
            time.sleep(0.05)
            return []
        self.done = True
        p, o = {"p": 1}, {"o": 1}
        k = orjson.dumps("k")
        # one partition: every record lands in partition 0, named or by its key
        return [
            SourceRecord("t", "A", "k", p, o),
            SourceRecord("t", "B", "k", p, o, partition=0),
            SourceRecord("t", "C", "k", p, o),
            EncodedBatch("t", [k, k], [orjson.dumps("D"), orjson.dumps("E")], p, o),
            SourceRecord("t", "F", "k", p, o, partition=0),
            SourceRecord("u", "x", "k", p, o),  # (another topic in between)
            SourceRecord("t", "G", "k", p, o),
        ]

    def stop(self) -> None:
        pass


class Source(SourceConnector):
    name = "order-test"
    config_model = Config
    task_class = Task


def test_a_polls_records_keep_their_order_in_a_partition(tmp_path: Path) -> None:
    # a record given partition 0 between keyed ones that land there had gone after them all
    # (A, C, D, E, G, B, F): the last value of key k was F, not G
    worker = Worker(str(tmp_path / "data"))
    spec = {"connector.class": f"{__name__}:Source", "name": "src",
            "value.converter.schemas.enable": "false",
            "key.converter.schemas.enable": "false"}  # fmt: skip
    worker.add(ConnectorSpec("src", spec, "test"))
    try:
        wait_for(lambda: worker.log.has_topic("t") and len(
            worker.log.partition("t", 0).records(0)[0]) >= 7, 15, "the records")  # fmt: skip
        recs, _ = worker.log.partition("t", 0).records(0)
        assert [orjson.loads(r.value) for r in recs] == ["A", "B", "C", "D", "E", "F", "G"]
        seqs = [int(dict(r.headers)["hub.source.seq"].rsplit(b"/", 1)[1]) for r in recs]
        assert seqs == sorted(seqs)
    finally:
        worker.stop()
