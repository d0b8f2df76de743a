"""A sink's lag as the worker reports it (status, REST, the live view) while one of its
partitions has nothing committed yet: all of that partition is still to read (a review saw
458 for a sink ~25 000 records behind on a topic it had just found: the committed
partitions' lags alone were summed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hub.config import ConnectorSpec
from hub.log import TopicPartition
from hub.runtime import ConnectorConfig, SinkConnector, SinkRecord, SinkTask, SinkTaskContext
from hub.runtime.worker import Worker
from tests.helpers import wait_for

RELEASE = threading.Event()


class HoldingTask(SinkTask):
    """Takes the records of ``lag.a``; holds at the first batch of any other topic."""

    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None:
        pass

    def put(self, records: Sequence[SinkRecord]) -> None:
        if any(r.topic != "lag.a" for r in records):
            RELEASE.wait(30)

    def stop(self) -> None:
        RELEASE.set()


class HoldingSink(SinkConnector):
    name = "holding"
    config_model = ConnectorConfig
    task_class = HoldingTask


def _produce(worker: Worker, topic: str, n: int) -> None:
    if not worker.log.has_topic(topic):
        worker.log.create_topic(topic, 1)
    prod = worker.log.producer()
    prod.send_many(topic, [b'"x"'] * n, partition=0)
    prod.flush()


def _add_sink(worker: Worker, **extra: str) -> None:
    worker.add(ConnectorSpec("sink", {
        "connector.class": f"{__name__}:HoldingSink", "value.converter.schemas.enable": "false",
        "offset.flush.interval.ms": 100, **extra,
    }, "test"))  # fmt: skip


def test_a_partition_with_nothing_committed_counts_whole_in_the_lag(tmp_path: Path) -> None:
    RELEASE.clear()
    worker = Worker(str(tmp_path / "data"))
    try:
        _produce(worker, "lag.a", 5)
        _add_sink(worker, **{"topics.regex": "lag\\..*"})
        committed = worker.log.groups.committed
        wait_for(lambda: getattr(committed("connect-sink", TopicPartition("lag.a", 0)),
                                 "offset", None) == 5)  # fmt: skip
        _produce(worker, "lag.b", 300)  # (its first batch is held: nothing committed on it)
        wait_for(lambda: any(
            p.topic == "lag.b" and p.owner is not None
            for p in worker.log.groups.describe("connect-sink").partitions
        ))  # fmt: skip
        worker.refresh_lag()
        assert worker.status()["sink"][0].lag == 300
    finally:
        RELEASE.set()
        worker.stop()


def test_a_sink_reading_from_the_end_has_no_lag_at_the_end(tmp_path: Path) -> None:
    # (auto.offset.reset=latest: a partition with nothing committed was counted whole, 25 000
    # for a sink at the end of its topic, flipping with the runner's own 0 at every commit)
    RELEASE.clear()
    worker = Worker(str(tmp_path / "data"))
    try:
        _produce(worker, "lag.a", 500)
        _add_sink(worker, topics="lag.a", **{"consumer.override.auto.offset.reset": "latest"})
        wait_for(lambda: any(
            p.owner is not None for p in worker.log.groups.describe("connect-sink").partitions
        ))  # fmt: skip
        wait_for(lambda: worker.status()["sink"][0].state == "RUNNING")
        worker.refresh_lag()
        assert worker.status()["sink"][0].lag in (None, 0)  # (unknown until it commits)
    finally:
        RELEASE.set()
        worker.stop()


def test_an_idle_sink_commits_nothing_new(tmp_path: Path) -> None:
    # (an idle sink rewrote its unchanged offsets every flush interval, each fsync'd: ~10 KB/s
    # of __consumer_offsets for two idle sinks, for ever)
    RELEASE.clear()
    worker = Worker(str(tmp_path / "data"))
    try:
        _produce(worker, "lag.a", 50)
        _add_sink(worker, topics="lag.a")
        wait_for(lambda: worker.status()["sink"][0].lag == 0, what="the sink caught up")
        offsets = TopicPartition("__consumer_offsets", 0)
        wait_for(lambda: worker.log.has_topic("__consumer_offsets"), what="a commit")
        time.sleep(1.0)  # ten flush intervals, idle: the last commit is made
        settled = worker.log.watermarks(offsets)[1]
        time.sleep(1.0)  # ten more
        assert worker.log.watermarks(offsets)[1] == settled
        _produce(worker, "lag.a", 5)  # a new record: committed again
        wait_for(lambda: worker.log.watermarks(offsets)[1] > settled, what="a new commit")
    finally:
        RELEASE.set()
        worker.stop()
