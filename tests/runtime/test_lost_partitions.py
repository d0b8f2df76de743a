"""A sink whose batch outlasts the group's poll interval on Kafka: its member is expelled, its
partitions lost; the task neither fails nor commits for them, rejoins and goes on, and every
record reaches the target (at least once: the batch in flight may come again)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConnectorSpec
from hub.log import TopicPartition
from hub.runtime.worker import Worker
from tests.helpers import wait_for
from tests.runtime import slow_sink

pytestmark = pytest.mark.integration


def test_a_sink_batch_past_the_poll_interval_loses_nothing_and_does_not_fail(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    from hub.log.kafka import KafkaLog

    slow_sink.RECEIVED.clear()
    slow_sink.PUTS[0] = 0
    backend = KafkaLog({
        "bootstrap.servers": own_kafka_broker, "session.timeout.ms": "1000",
        "heartbeat.interval.ms": "300", "max.poll.interval.ms": "1500",
    })  # fmt: skip
    worker = Worker(str(tmp_path / "data"), backend=backend)
    try:
        backend.create_topic("in", 1)
        prod = backend.producer()
        prod.send_many("in", [b'"r%d"' % i for i in range(20)], partition=0)
        prod.flush()
        worker.add(ConnectorSpec("slow", {
            "connector.class": "tests.runtime.slow_sink:SlowSink", "topics": "in",
            "first.put.ms": 3000, "value.converter.schemas.enable": "false",
            "offset.flush.interval.ms": 200,
        }, "test"))  # fmt: skip
        expected = {f"r{i}" for i in range(20)}
        wait_for(lambda: set(slow_sink.RECEIVED) == expected, 60, "every record")

        def committed() -> int | None:
            return backend.groups._committed("connect-slow").get(TopicPartition("in", 0))

        wait_for(lambda: committed() == 20, 60, "the group's offset at the end")
        status = worker.status()["slow"][0]
        assert (status.state, status.failures) == ("RUNNING", 0)  # (never failed, restarted)
        assert slow_sink.PUTS[0] >= 2  # (the first batch outlasted the interval)
    finally:
        worker.stop()


def test_a_partition_taken_while_a_batch_gathers_is_not_written_twice(tmp_path: Path) -> None:
    """A sink lingers over a batch of two partitions; meanwhile another member joins its
    group and takes one of them, reading it from the last commit. What the sink had
    gathered of that partition is dropped, not written beside the new owner's."""
    import time

    slow_sink.RECEIVED.clear()
    slow_sink.PUTS[0] = 0
    worker = Worker(str(tmp_path / "data"))
    try:
        log = worker.log
        assert log is not None
        log.create_topic("in", 2)
        prod = log.producer()
        for p in (0, 1):
            prod.send_many("in", [b'"p%d-%d"' % (p, i) for i in range(10)], partition=p)
        prod.flush()
        worker.add(ConnectorSpec("slow", {
            "connector.class": "tests.runtime.slow_sink:SlowSink", "topics": "in",
            "value.converter.schemas.enable": "false", "batch.linger.ms": 3000,
            "batch.max.wait.ms": 5000,
        }, "test"))  # fmt: skip
        time.sleep(1.0)  # (its gather began: both partitions' records held, lingering)
        other = log.consumer(group_id="connect-slow", auto_offset_reset="earliest")
        other.subscribe(["in"])
        theirs: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(theirs) < 10:
            theirs += [r.value.decode().strip('"') for r in other.poll(0.2) if r.value]
        assert len(theirs) == 10 and len({t.split("-")[0] for t in theirs}) == 1
        mine = {"p0": "p1", "p1": "p0"}[theirs[0].split("-")[0]]
        wait_for(lambda: len(slow_sink.RECEIVED) >= 10, 20, "the sink's batch")
        time.sleep(0.5)
        got = [str(v) for v in slow_sink.RECEIVED]
        assert sorted(got) == sorted(f"{mine}-{i}" for i in range(10))  # its partition, once
        assert not set(got) & set(theirs)
        other.close()
    finally:
        worker.stop()
