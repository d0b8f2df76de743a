"""A sink whose batch outlasts the group's poll interval on Kafka: its member is expelled, its
partitions lost; the task neither fails nor commits for them, rejoins and goes on, and every
record reaches the target (at least once: the batch in flight may come again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _slow_worker(tmp_path: Path, **kw: Any) -> Worker:
    slow_sink.RECEIVED.clear()
    slow_sink.PUTS[0] = 0
    worker = Worker(str(tmp_path / "data"), **kw)
    log = worker.log
    assert log is not None
    log.create_topic("in", 1)
    prod = log.producer()
    prod.send_many("in", [b'"r%d"' % i for i in range(20)], partition=0)
    prod.flush()
    return worker


def test_on_the_embedded_log_a_put_may_last_the_poll_interval(tmp_path: Path) -> None:
    # (the embedded group expelled a member silent for 10 s: a sink batch that took longer
    # was written again and again and never committed; now its poll interval, Kafka's
    # max.poll.interval.ms, 300 s unless consumer.override.max.poll.interval.ms says)
    worker = _slow_worker(tmp_path)
    try:
        worker.add(ConnectorSpec("slow", {
            "connector.class": "tests.runtime.slow_sink:SlowSink", "topics": "in",
            "first.put.ms": 1500, "value.converter.schemas.enable": "false",
            "consumer.override.max.poll.interval.ms": 1000, "offset.flush.interval.ms": 200,
        }, "test"))  # fmt: skip
        expected = {f"r{i}" for i in range(20)}
        wait_for(lambda: set(slow_sink.RECEIVED) == expected, 30, "every record")
        assert slow_sink.PUTS[0] >= 2  # (expelled past 1 s: the batch came again)
        worker.remove("slow")
        slow_sink.RECEIVED.clear()
        slow_sink.PUTS[0] = 0
        worker.add(ConnectorSpec("slow2", {
            "connector.class": "tests.runtime.slow_sink:SlowSink", "topics": "in",
            "first.put.ms": 1500, "value.converter.schemas.enable": "false",
            "offset.flush.interval.ms": 200,
        }, "test"))  # fmt: skip
        wait_for(lambda: set(slow_sink.RECEIVED) == expected, 30, "every record")
        log = worker.log
        assert log is not None
        wait_for(lambda: log.groups.committed("connect-slow2", TopicPartition("in", 0)) is not
                 None, 30, "the commit")  # fmt: skip
        assert slow_sink.PUTS[0] == 1  # (past 1 s, within the default 300 s: once)
        assert len(slow_sink.RECEIVED) == 20
    finally:
        worker.stop()


def test_a_sink_left_behind_in_its_put_hands_its_partitions_over_at_once(
    tmp_path: Path,
) -> None:
    import time

    worker = _slow_worker(tmp_path, task_shutdown_graceful_timeout_ms=300)
    try:
        worker.add(ConnectorSpec("slow", {
            "connector.class": "tests.runtime.slow_sink:SlowSink", "topics": "in",
            "first.put.ms": 8000, "value.converter.schemas.enable": "false",
        }, "test"))  # fmt: skip
        wait_for(lambda: slow_sink.PUTS[0] == 1, 20, "the first put")
        worker.restart("slow", include_tasks=True)  # (its task is left behind inside put)
        began = time.monotonic()
        wait_for(lambda: slow_sink.PUTS[0] >= 2 and len(set(slow_sink.RECEIVED)) == 20, 20,
                 "the restarted task's records")  # fmt: skip
        # (not after the left-behind member's session: 300 s, or its put's 8 s)
        assert time.monotonic() - began < 5
    finally:
        worker.stop()


def test_a_sink_batch_is_cut_at_batch_max_bytes(tmp_path: Path) -> None:
    # (batch.size alone: 2 000 rows of 500 KB had made one batch of 1 GB, 8 GB in a DuckDB
    # sink; Kafka's fetch.max.bytes caps a poll alike)
    worker = Worker(str(tmp_path / "data"))
    slow_sink.RECEIVED.clear()
    slow_sink.BATCHES.clear()
    try:
        log = worker.log
        assert log is not None
        log.create_topic("big", 20, {"max.message.bytes": str(1 << 20)})
        prod = log.producer()
        for i in range(60):
            prod.send("big", b'"' + b"x" * 100_000 + b'%d"' % i, key=b"%d" % i)
        prod.flush()
        worker.add(ConnectorSpec("slow", {
            "connector.class": "tests.runtime.slow_sink:SlowSink", "topics": "big",
            "value.converter.schemas.enable": "false", "batch.max.bytes": 1_000_000,
            "key.converter": "string",
        }, "test"))  # fmt: skip
        wait_for(lambda: len(slow_sink.RECEIVED) == 60, 30, "every record")
        # (a batch ends at the partition's fetch that passes the cap, a fetch at most 1 MiB:
        # a poll of 20 partitions had taken each one's, 18 MB against a 1 MB cap)
        assert len(slow_sink.BATCHES) >= 3 and max(slow_sink.BATCHES) <= 21, slow_sink.BATCHES
    finally:
        worker.stop()


def test_a_sink_whose_last_flush_fails_leaves_its_group_at_once(tmp_path: Path) -> None:
    # (the revoke at its consumer's close flushed again, failed again, and the member stayed
    # in the group, owning its partitions: its restarted task got nothing until the session
    # ended, 300 s)
    import time

    worker = _slow_worker(tmp_path)
    try:
        worker.add(ConnectorSpec("slow", {
            "connector.class": "tests.runtime.slow_sink:SlowSink", "topics": "in",
            "value.converter.schemas.enable": "false", "offset.flush.interval.ms": 60000,
        }, "test"))  # fmt: skip
        wait_for(lambda: len(slow_sink.RECEIVED) == 20, 20, "the records")
        slow_sink.FAIL_FLUSH[0] = True  # (the target goes away)
        worker.restart("slow", include_tasks=True)
        slow_sink.FAIL_FLUSH[0] = False
        log = worker.log
        assert log is not None
        prod = log.producer()
        prod.send_many("in", [b'"n%d"' % i for i in range(3)], partition=0)
        prod.flush()
        began = time.monotonic()
        wait_for(lambda: "n2" in slow_sink.RECEIVED, 20, "the restarted task's records")
        assert time.monotonic() - began < 10
        assert len(log.groups.describe("connect-slow").members) == 1
    finally:
        slow_sink.FAIL_FLUSH[0] = False
        worker.stop()
