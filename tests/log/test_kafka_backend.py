"""The log backend on Kafka (`hub.log.kafka.KafkaLog`) against a real Kafka-protocol broker
(Tansu, tests/fixtures/kafka.py): the seam's semantics the runtime relies on — topics, sends
partitioned as the embedded log partitions them and refused whole, seq headers, scans to the
end, durable appends, group consumers with the embedded consumer's listeners and commits —
and the source runner's exactly-once recovery on it after a kill -9."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.log import (
    RecordTooLargeError,
    TopicExistsError,
    TopicPartition,
    UnknownTopicError,
    default_partition,
)
from hub.log.kafka import KafkaLog
from tests.helpers import freeze, wait_for

pytestmark = pytest.mark.integration


def _topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def klog(kafka_broker: str) -> Iterator[KafkaLog]:
    log = KafkaLog({"bootstrap.servers": kafka_broker})
    yield log
    log.close()


def test_topics(klog: KafkaLog) -> None:
    name = _topic()
    assert not klog.has_topic(name)
    klog.create_topic(name, 3, {"cleanup.policy": "compact"})
    assert klog.has_topic(name) and name in klog.topics()
    assert klog.partition_count(name) == 3
    with pytest.raises(TopicExistsError):
        klog.create_topic(name, 3)
    # ids: the cluster's (KIP-516), and those a copy continues (hub log import)
    other = _topic()
    klog.create_topic(other, 1)
    [own] = klog.topic_ids(name)
    assert klog.topic_ids(other) != (own,)
    klog.continue_topic(name, ["copied", own])
    assert klog.topic_ids(name) == (own, "copied")
    with pytest.raises(UnknownTopicError):
        klog.topic_ids(_topic())


def test_sends_are_partitioned_as_the_embedded_log_and_numbered(klog: KafkaLog) -> None:
    name = _topic()
    klog.create_topic(name, 3)
    producer = klog.producer()
    keys = [b"key-%d" % i for i in range(30)]
    values = [b"value-%d" % i for i in range(30)]
    producer.send_many(name, values, keys=keys, timestamps=1_700_000_000_000,
                       seq_header=("hub.source.seq", b"c/0/", 5))  # fmt: skip
    producer.flush()
    got = {}
    for p in range(3):
        for r in klog.scan(TopicPartition(name, p)):
            assert p == default_partition(r.key, 3)  # Kafka's murmur2, as hub.log partitions
            got[r.value] = (r.key, r.headers, r.timestamp)
    assert got == {
        values[i]: (keys[i], (("hub.source.seq", b"c/0/%d" % (5 + i)),), 1_700_000_000_000)
        for i in range(30)
    }


def test_a_producer_keeps_keyless_records_in_one_partition_when_asked(klog: KafkaLog) -> None:
    # (a change source's keyless tables and truncates: librdkafka spread them at random)
    name = _topic()
    klog.create_topic(name, 3)
    producer = klog.producer(keyless_partition=0)
    keys = [None if i % 2 else b"key-%d" % i for i in range(40)]
    values = [b"value-%d" % i for i in range(40)]
    producer.send_many(name, values[:20], keys=keys[:20])
    producer.send_many(name, values[20:30], keys=keys[20:30], timestamps=1_700_000_000_000)
    for k, v in zip(keys[30:], values[30:], strict=True):
        producer.send(name, v, key=k)
    producer.flush()
    parts = [[(r.key, r.value) for r in klog.scan(TopicPartition(name, p))] for p in range(3)]
    keyless = [v for k, v in zip(keys, values, strict=True) if k is None]
    assert [v for k, v in parts[0] if k is None] == keyless
    assert all(k is not None for part in parts[1:] for k, _ in part)
    assert sum(map(len, parts)) == 40


def test_a_send_with_one_record_too_large_sends_nothing(klog: KafkaLog) -> None:
    name = _topic()
    klog.create_topic(name, 1, {"max.message.bytes": 2000})
    producer = klog.producer()
    with pytest.raises(RecordTooLargeError):
        producer.send_many(name, [b"small"] * 10 + [b"x" * 5000])
    producer.send_many(name, [b"after"])
    producer.flush()
    assert [r.value for r in klog.scan(TopicPartition(name, 0))] == [b"after"]


def test_durable_appends_scan_back_in_order_from_any_offset(klog: KafkaLog) -> None:
    name = _topic()
    klog.create_topic(name, 1, {"cleanup.policy": "compact"})
    tp = TopicPartition(name, 0)
    klog.append_durable(tp, [b"a", b"b", b"c"], [b"1", b"2", b"3"])
    klog.append_durable(tp, [b"d", b"e"], [b"4", None])
    assert [(r.offset, r.key, r.value) for r in klog.scan(tp)] == [
        (0, b"a", b"1"), (1, b"b", b"2"), (2, b"c", b"3"), (3, b"d", b"4"), (4, b"e", None),
    ]  # fmt: skip
    assert [r.key for r in klog.scan(tp, 3)] == [b"d", b"e"]


def test_a_transactional_producer_fences_the_earlier_one_of_its_id(klog: KafkaLog) -> None:
    """KIP-618's zombie fencing: the task's producer made again (another worker, a restart)
    makes the earlier one's next send or commit fail, with an error saying why; a read to
    the end steps over the markers that close transactions."""
    from hub.log import ProducerFencedError

    name = _topic()
    klog.create_topic(name, 1)
    tp = TopicPartition(name, 0)
    txn_id = f"hub-{name}-0"
    first = klog.transactional_producer(txn_id)
    assert not first.in_transaction
    first.commit_transaction()  # (none open: nothing to do)
    first.send_many(name, [b"a", b"b"])
    assert first.in_transaction
    first.commit_transaction()
    first.send_many(name, [b"c"])  # a transaction the zombie leaves open
    first.flush()
    second = klog.transactional_producer(txn_id)  # fences the first
    with pytest.raises(ProducerFencedError, match="another producer took over"):
        first.send_many(name, [b"zombie"])
        first.commit_transaction()
    assert not first.in_transaction
    second.send_many(name, [b"d"])
    second.commit_transaction()
    end = klog.watermarks(tp)[1]
    began = time.monotonic()
    values = [r.value for r in klog.scan(tp, 0, end=end)]
    assert time.monotonic() - began < 5  # (not waiting for a record past the last marker)
    assert values[:2] == [b"a", b"b"] and values[-1] == b"d"
    assert b"zombie" not in values


@pytest.mark.parametrize("backend", ["kafka", "embedded"])
def test_a_scan_to_an_end_returns_while_others_append(
    klog: KafkaLog, tmp_path: Path, backend: str
) -> None:
    """A crashed source task's recovery reads its window up to the end as it was: every
    record of a batch that began before that end, and it returns although other tasks keep
    appending (a scan to the end that is there none left while they did)."""
    from hub.log import Log

    log = klog if backend == "kafka" else Log(tmp_path / "data", flush_interval_ms=0)
    name = _topic()
    log.create_topic(name, 1)
    tp = TopicPartition(name, 0)
    log.append_durable(tp, [None] * 5, [b"%d" % i for i in range(5)])
    log.append_durable(tp, [None] * 3, [b"mine-%d" % i for i in range(3)])  # the window's
    end = log.watermarks(tp)[1]
    stop = threading.Event()

    def others() -> None:
        while not stop.is_set():
            log.append_durable(tp, [None], [b"other"])

    thread = threading.Thread(target=others)
    thread.start()
    try:
        time.sleep(0.3)  # (appending all the while)
        began = time.monotonic()
        read = [r.value for r in log.scan(tp, 5, end=end)]
        took = time.monotonic() - began
    finally:
        stop.set()
        thread.join()
        if log is not klog:
            log.close()
    assert read[:3] == [b"mine-0", b"mine-1", b"mine-2"]
    assert took < 5, took  # (to the end as it was, not to one that keeps moving)


def test_a_scan_to_the_end_returns_while_another_commits_transactions_all_the_while(
    klog: KafkaLog,
) -> None:
    # (a worker's start reads the offsets topic to its end; another worker's task committing
    # a transaction every poll left no fetch empty, and the start waited until it stopped:
    # 66 s in the review's run)
    name = _topic()
    klog.create_topic(name, 1)
    tp = TopicPartition(name, 0)
    klog.append_durable(tp, [None] * 50, [b"before-%d" % i for i in range(50)])
    stop = threading.Event()

    def commits(n: int) -> None:  # (for 15 s at most: the scan used to outlast them)
        writer = klog.transactional_producer(f"hub-{name}-{n}")
        until = time.monotonic() + 15
        while not stop.is_set() and time.monotonic() < until:
            writer.send_many(name, [b"other"] * 50)
            writer.commit_transaction()

    threads = [threading.Thread(target=commits, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: klog.watermarks(tp)[1] > 80, 10, "transactions committed")
        read = [r.value for r in klog.scan(tp)]
        assert all(t.is_alive() for t in threads)  # (it returned while the commits went on)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert read[:50] == [b"before-%d" % i for i in range(50)]


def test_a_group_consumer_seeks_in_on_assign_and_resumes_from_its_commit(
    klog: KafkaLog,
) -> None:
    name, group = _topic(), f"g-{uuid.uuid4().hex[:8]}"
    klog.create_topic(name, 1)
    tp = TopicPartition(name, 0)
    klog.append_durable(tp, [None] * 6, [b"%d" % i for i in range(6)])
    consumer = klog.consumer(group_id=group, auto_offset_reset="earliest", max_poll_records=3)
    opened: list[set[TopicPartition]] = []

    def on_assign(tps: set[TopicPartition]) -> None:
        opened.append(tps)
        consumer.seek(tp, 2)  # as a sink resuming from its target's offsets

    consumer.subscribe([name], on_assign=on_assign)
    got = wait_for(lambda: consumer.poll(1.0), 30, "records")
    assert opened == [{tp}] and consumer.assignment() == {tp}
    assert [r.value for r in got] == [b"2", b"3", b"4"]
    consumer.commit({tp: 5})
    consumer.close()
    again = klog.consumer(group_id=group, auto_offset_reset="earliest", max_poll_records=10)
    again.subscribe([name])
    assert [r.value for r in wait_for(lambda: again.poll(1.0), 30, "records")] == [b"5"]
    again.close()


def test_a_consumer_past_its_poll_interval_loses_its_partitions_and_rejoins(
    kafka_broker: str,
) -> None:
    """librdkafka leaves the group when the application does not poll for
    max.poll.interval.ms (a sink's batch that takes that long): the next poll reports it,
    which is not a failure; the partitions reach on_lost (no commit can succeed for them),
    and the member rejoins and is assigned again."""
    klog = KafkaLog({"bootstrap.servers": kafka_broker, "session.timeout.ms": "1000",
                     "heartbeat.interval.ms": "300", "max.poll.interval.ms": "1500"})  # fmt: skip
    try:
        name = _topic()
        klog.create_topic(name, 2)
        events: list[tuple[str, set[TopicPartition]]] = []
        consumer = klog.consumer(group_id=f"g-{uuid.uuid4().hex[:8]}")
        consumer.subscribe(
            [name],
            on_assign=lambda tps: events.append(("assign", tps)),
            on_revoke=lambda tps: events.append(("revoke", tps)),
            on_lost=lambda tps: events.append(("lost", tps)),
        )
        both = {TopicPartition(name, 0), TopicPartition(name, 1)}
        wait_for(lambda: consumer.poll(0.2) or consumer.assignment() == both, 30, "assigned")
        time.sleep(2.5)  # past max.poll.interval.ms without a poll
        wait_for(lambda: consumer.poll(0.2) or len(events) >= 3, 30, "lost and rejoined")
        assert events == [("assign", both), ("lost", both), ("assign", both)]
        consumer.close()
    finally:
        klog.close()


def test_a_member_joining_moves_only_the_partitions_that_change_owner(klog: KafkaLog) -> None:
    """Cooperative rebalancing (as Connect's sink tasks): the first member keeps reading the
    partitions it keeps; only those that go to the new member are revoked from it."""
    name, group = _topic(), f"g-{uuid.uuid4().hex[:8]}"
    klog.create_topic(name, 4)
    events: dict[str, list[tuple[str, set[int]]]] = {"a": [], "b": []}
    members = {}
    for m in ("a", "b"):
        c = klog.consumer(group_id=group, auto_offset_reset="earliest")
        members[m] = c
    try:

        def listen(m: str) -> tuple[Any, Any]:
            return (
                lambda tps: events[m].append(("assign", {tp.partition for tp in tps})),
                lambda tps: events[m].append(("revoke", {tp.partition for tp in tps})),
            )

        members["a"].subscribe([name], *listen("a"))
        wait_for(lambda: members["a"].poll(0.2) is not None
                 and len(members["a"].assignment()) == 4, 30, "a with every partition")  # fmt: skip
        members["b"].subscribe([name], *listen("b"))

        def split() -> bool:
            for c in members.values():
                c.poll(0.2)
            return [len(c.assignment()) for c in members.values()] == [2, 2]

        wait_for(split, 60, "the partitions shared")
        kept = {tp.partition for tp in members["a"].assignment()}
        moved = {tp.partition for tp in members["b"].assignment()}
        assert kept | moved == {0, 1, 2, 3} and not kept & moved
        assert events["a"] == [("assign", {0, 1, 2, 3}), ("revoke", moved)]
        assert events["b"] == [("assign", moved)]
    finally:
        for c in members.values():
            c.close()


def test_a_paused_consumer_keeps_its_partitions_and_loses_nothing(klog: KafkaLog) -> None:
    # (a paused sink connector: heartbeat instead of poll, then polling again)
    name = _topic()
    klog.create_topic(name, 1)
    tp = TopicPartition(name, 0)
    klog.append_durable(tp, [None] * 3, [b"0", b"1", b"2"])
    consumer = klog.consumer(group_id=f"g-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
                             max_poll_records=2)  # fmt: skip
    consumer.subscribe([name])
    try:
        first = wait_for(lambda: consumer.poll(1.0), 30, "records")
        klog.append_durable(tp, [None] * 3, [b"3", b"4", b"5"])
        for _ in range(10):  # paused for a while, records arriving meanwhile
            consumer.heartbeat()
            time.sleep(0.1)
        assert consumer.assignment() == {tp}
        rest: list[bytes | None] = []
        wait_for(lambda: rest.extend(r.value for r in consumer.poll(0.5)) or len(rest) >= 6
                 - len(first), 30, "the other records")  # fmt: skip
        assert [r.value for r in first] + rest == [b"%d" % i for i in range(6)]
    finally:
        consumer.close()


def test_group_offsets_are_set_read_and_forgotten_as_the_worker_does(klog: KafkaLog) -> None:
    # (the offsets endpoints of a STOPPED sink connector: its group has no member)
    name, group = _topic(), f"connect-{uuid.uuid4().hex[:8]}"
    klog.create_topic(name, 2)
    klog.append_durable(TopicPartition(name, 0), [None] * 5, [b"x"] * 5)
    a, b = TopicPartition(name, 0), TopicPartition(name, 1)
    klog.groups.commit(group, {a: 3, b: 0})
    info = klog.groups.describe(group)
    assert [(p.topic, p.partition, p.committed) for p in info.partitions] == [
        (name, 0, 3), (name, 1, 0),
    ]  # fmt: skip
    klog.groups.delete_offsets(group)
    assert klog.groups.describe(group).partitions == ()
    # (deleting one partition's offset deletes the group and commits the rest again, which
    # Tansu cannot do: it fails a commit to a group it deleted; not tested here)
    # a consumer of a group starts where the offsets set for it say
    other = f"{group}-2"
    klog.groups.commit(other, {a: 4})
    consumer = klog.consumer(group_id=other, auto_offset_reset="earliest", max_poll_records=10)
    consumer.subscribe([name])
    try:
        got = wait_for(lambda: consumer.poll(1.0), 30, "records")
        assert [(r.partition, r.offset) for r in got] == [(0, 4)]
    finally:
        consumer.close()


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "the runner exited (its error is in the captured output)"
    return True


RUNNER = textwrap.dedent("""
    import logging, sys, time
    from hub.log.kafka import KafkaLog
    from hub.runtime.api import SourceRecord, SourceTask
    from hub.runtime.converters import JsonConverter
    from hub.runtime.errors import ErrorReporter
    from hub.runtime.offsets import OffsetStore
    from hub.runtime.runner import RunnerContext
    from hub.runtime.source_runner import SourceRunner
    from hub.runtime.status import TaskState
    from hub.runtime.validation import CommonConfig

    bootstrap, topic, total = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class Counter(SourceTask):  # replays exactly from its offset
        def start(self, config, context):
            got = context.offset({"c": 1})
            self.n = got["n"] if got else 0
        def poll(self):
            if self.n >= total:
                time.sleep(0.05)
                return []
            time.sleep(0.01)
            batch = [SourceRecord(topic, {"n": i}, {"k": i % 7}, {"c": 1}, {"n": i + 1})
                     for i in range(self.n, min(self.n + 25, total))]
            self.n += len(batch)
            return batch
        def stop(self):
            pass

    logging.basicConfig(level=logging.INFO)
    log = KafkaLog({"bootstrap.servers": bootstrap})
    common = CommonConfig.model_validate({"connector.class": "counter",
                                          "offset.flush.interval.ms": 300,
                                          "topic.creation.default.partitions": 2})
    errors = ErrorReporter("counter", 0, common, log)
    conv = JsonConverter(False)
    ctx = RunnerContext("counter", 0, {}, common, log, conv, JsonConverter(False), TaskState(0),
                        errors)
    print("started", flush=True)
    SourceRunner(ctx, Counter(), OffsetStore(log)).run()
""")


@pytest.mark.slow
def test_kill_9_of_a_source_on_kafka_loses_and_duplicates_nothing(
    kafka_broker: str, klog: KafkaLog, tmp_path: Path
) -> None:
    name, total = _topic(), 5000
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    env = dict(os.environ, PYTHONPATH=os.getcwd())

    def written() -> int:  # (at least: the broker may report its watermarks low)
        if not klog.has_topic(name):
            return 0
        return sum(klog.watermarks(TopicPartition(name, p))[1] for p in range(2))

    def count() -> int:
        return sum(1 for p in range(2) for _ in klog.scan(TopicPartition(name, p)))

    out = (tmp_path / "runner.log").open("ab")
    for kill_at in (800, 2000, 3200):  # killed three times, mid-stream
        proc = subprocess.Popen([sys.executable, str(script), kafka_broker, name, str(total)],
                                env=env, stderr=out)  # fmt: skip
        try:
            wait_for(lambda p=proc, at=kill_at: _alive(p) and written() >= at, 60, "records")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    proc = subprocess.Popen(
        [sys.executable, str(script), kafka_broker, name, str(total)], env=env, stderr=out
    )
    try:
        wait_for(lambda: _alive(proc) and written() >= total * 0.9, 60, "the records")
        wait_for(lambda: count() >= total, 60, "every record")
        time.sleep(1)  # anything written twice would show up by now
        by_key: dict[bytes | None, list[int]] = {}
        for p in range(2):
            for r in klog.scan(TopicPartition(name, p)):
                assert r.value is not None
                by_key.setdefault(r.key, []).append(int(r.value.split(b":")[1].rstrip(b"}")))
        values = sorted(n for ns in by_key.values() for n in ns)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    out.close()
    assert values == list(range(total))
    assert all(ns == sorted(ns) for ns in by_key.values())  # each key's records in order
    # (the kills came inside windows: restarts found records of an unfinished commit)
    assert "will not be written again" in (tmp_path / "runner.log").read_text()


def test_a_status_read_answers_while_the_cluster_does_not(own_kafka_broker: str) -> None:
    # (a read of a task's status waited for the status job's lock, held across its calls to
    # the cluster: every worker's REST status timed out while the broker was unreachable)
    from hub.runtime.storage import StatusStore

    def quietly(fn: Any, *args: Any) -> threading.Thread:  # (they fail once it answers late)
        def run() -> None:
            with contextlib.suppress(Exception):
                fn(*args)

        return threading.Thread(target=run)

    log = KafkaLog({"bootstrap.servers": own_kafka_broker, "message.timeout.ms": "3000"})
    store = StatusStore(log, "status-hang")
    store.publish({b"status-task-x-0": b"RUNNING"}, keep_others=True)
    store.refresh()
    port = own_kafka_broker.rsplit(":", 1)[1]
    (pid,) = [int(p) for p in subprocess.run(
        ["pgrep", "-f", f"listener-url tcp://127.0.0.1:{port} "], capture_output=True,
        text=True).stdout.split()]  # fmt: skip
    freeze(pid)
    try:
        jobs = [quietly(store.refresh), quietly(store.publish, {b"status-task-x-1": b"RUN"})]
        for job in jobs:
            job.start()
        time.sleep(0.5)  # (both inside their calls to the broker, which does not answer)
        began = time.monotonic()
        assert store.get(b"status-task-x-0") == b"RUNNING"
        assert time.monotonic() - began < 0.5
    finally:
        os.kill(pid, signal.SIGCONT)
    for job in jobs:
        job.join(60)
    log.close()


def test_a_broker_reporting_a_low_end_fails_no_sink_and_remakes_no_storage_topic(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    # Tansu reports a partition's end as its last batch's first offset + 1: a sink task moved
    # to another worker found its target's stored offset past that end and failed for good
    # ("the topic was deleted and made again"), and every worker read the status topic
    # again every second, warning that the cluster had lost it
    import json
    import logging

    from hub.runtime.storage import StatusStore, StorageTopics
    from hub.runtime.worker import Worker

    kafka = KafkaLog({"bootstrap.servers": own_kafka_broker})
    try:
        kafka.create_topic("t", 1)
        producer = kafka.producer()
        producer.send_many("t", [json.dumps({"id": i, "v": i}).encode() for i in range(300)],
                           keys=[json.dumps({"id": i}).encode() for i in range(300)],
                           partition=0)  # fmt: skip
        producer.flush()
        tp = TopicPartition("t", 0)
        assert kafka.watermarks(tp)[1] < 300  # (the premise: the end reported low)
        status = StatusStore(kafka, "status-low", 1)
        status.publish({f"status-task-x-{i}".encode(): b"RUNNING" for i in range(5)},
                       keep_others=True)  # fmt: skip
        status.refresh()
        assert kafka.watermarks(TopicPartition("status-low", 0))[1] < 5
        records = logging.getLogger("hub")
        seen: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda r: seen.append(r.getMessage())  # type: ignore[method-assign]
        records.addHandler(handler)
        try:
            status.refresh()
            assert status.get(b"status-task-x-4") == b"RUNNING"
            assert not [m for m in seen if "made again" in m], seen
        finally:
            records.removeHandler(handler)
    finally:
        kafka.close()
    db = str(tmp_path / "out.duckdb")
    sink = {"connector.class": "duckdb", "topics": "t", "connection.url": f"duckdb:{db}",
            "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
            "duckdb.idle.release.ms": 50}  # fmt: skip
    from tests.fixtures.duckdb_reader import read_duckdb

    def rows() -> int:
        got = read_duckdb(db, 'SELECT count(*) FROM "t"')
        return int(got[0][0]) if got else 0

    def worker() -> Worker:
        return Worker(str(tmp_path / "data"), storage=StorageTopics("c", "o", "s"),
                      backend=KafkaLog({"bootstrap.servers": own_kafka_broker}))  # fmt: skip

    first = worker()
    try:
        first.create("sink", sink)
        wait_for(lambda: rows() == 300, 60, "300 rows")
    finally:
        first.stop()
    second = worker()  # the task's new start, its target at offset 300
    try:

        def assigned() -> bool:
            (task,) = second.connectors["sink"].tasks
            runner = task.runner
            return task.state.state == "FAILED" or (
                runner is not None and bool(runner.consumer.assignment())  # type: ignore[union-attr]
            )

        wait_for(assigned, 60, "the sink's partition assigned")
        more = second.backend.producer()  # (then more records: they reach the table)
        ids = range(300, 310)
        more.send_many("t", [json.dumps({"id": i, "v": i}).encode() for i in ids],
                       keys=[json.dumps({"id": i}).encode() for i in ids], partition=0)  # fmt: skip
        more.flush()
        wait_for(lambda: rows() == 310 or second.status()["sink"][0].state == "FAILED", 60,
                 "310 rows")  # fmt: skip
        (task,) = second.status()["sink"]
        assert task.state == "RUNNING", task.trace
        assert rows() == 310
    finally:
        second.stop()
