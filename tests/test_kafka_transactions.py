"""Source tasks writing in Kafka transactions (the worker config's `exactly.once.source.support:
enabled`, KIP-618's model) on a Kafka-protocol broker (Tansu, tests/fixtures/kafka.py).

What Tansu lets a test check: each transaction commits a poll's records with the offsets
that cover them (a task killed -9 goes on from the last one), and a second producer of the
task's transactional id fences the first (a zombie's next write fails, with an error that
says so). What it does not: Tansu's read_committed readers see aborted transactions' records
(../shared/FACTS.md), so the records of the transaction a kill interrupted reach the sink
here, and again from the restarted task. On Apache Kafka they are hidden; that part is
reasoning, not tested (README: Several workers, docs/kafka-backend.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import run_killed, wait_for

pytestmark = pytest.mark.integration

TOTAL = 4000
BATCH = 100  # datagen's poll, one transaction each (transaction.boundary: poll)


def _lines(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    return path.read_bytes().split(b"\n")[:-1]  # (a torn last line is not one yet)


def _setup(tmp_path: Path, broker: str, eos: bool = True, **source: object) -> tuple[
    list[str], Path, str
]:  # fmt: skip
    topic, out = f"txn-{uuid.uuid4().hex[:8]}", tmp_path / "out.jsonl"
    worker = tmp_path / "worker.yaml"
    worker.write_text(f"log.backend: kafka\nbootstrap.servers: {broker}\nreplication.factor: 1\n"
                      "session.timeout.ms: 2000\nheartbeat.interval.ms: 500\n"
                      + ("exactly.once.source.support: enabled\n" if eos else ""))  # fmt: skip
    plain = {"value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false"}
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(json.dumps({"connectors": [
        {"name": "gen", "config": {
            "connector.class": "datagen", "topic": topic, "rate": 400, "keys": 50,
            "max.records": TOTAL, "batch.size": BATCH, "topic.creation.default.partitions": 2,
            **plain, **source,
        }},
        {"name": "out", "config": {
            "connector.class": "FileStreamSink", "topics": topic, "file": str(out),
            "offset.flush.interval.ms": 300, **plain,
        }},
    ]}))  # fmt: skip
    cmd = [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), "run",
           "--worker-config", str(worker), str(pipeline)]  # fmt: skip
    return cmd, out, topic


def _fail_fast(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """``cmd`` (hub run) with --fail-fast: it exits at an error retrying will not fix."""
    return subprocess.run(
        [*cmd[:-3], "--fail-fast", *cmd[-3:]],
        env=dict(os.environ, PYTHONPATH=os.getcwd()), capture_output=True, text=True, timeout=90,
    )  # fmt: skip


@pytest.mark.slow
def test_a_killed_task_goes_on_from_its_last_transaction(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    cmd, out, _ = _setup(tmp_path, own_kafka_broker)
    log_path = tmp_path / "worker.log"
    kills = (1200, 2600)  # killed twice while both connectors run
    run_killed(cmd, dict(os.environ, PYTHONPATH=os.getcwd()), log_path, lambda: len(_lines(out)),
               kills, lambda: len({*_lines(out)}) >= TOTAL)  # fmt: skip
    seqs = [json.loads(line)["seq"] for line in _lines(out)]
    assert sorted(set(seqs)) == list(range(TOTAL))  # nothing lost
    # twice: at most the records of the transaction each kill interrupted (Tansu shows an
    # aborted transaction's records; without the offsets committed in each transaction, a
    # restart would go back further than one poll)
    twice = sorted(s for s in set(seqs) if seqs.count(s) > 1)
    assert max(map(seqs.count, set(seqs))) <= 1 + len(kills)
    assert len(twice) <= len(kills) * BATCH, twice
    text = log_path.read_text()
    assert "failed" not in text and "fenced" not in text


def test_a_second_producer_of_the_task_fences_the_first(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    """Two workers running one source task (what a zombie worker does until it notices): the
    later one's producer fences the earlier one, whose task fails saying why. (A transaction
    of a few records a second: Tansu answers a fenced producer's commit by closing the
    connection, where Kafka answers PRODUCER_FENCED, so a fence landing while the first one
    commits would show as its commit timing out after 30 s.)"""
    cmd, out, _ = _setup(tmp_path, own_kafka_broker, rate=5, **{"batch.size": 5})
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with first_log.open("ab") as f1, second_log.open("ab") as f2:
        first = subprocess.Popen(cmd, env=env, stderr=f1)
        second = None
        try:
            wait_for(lambda: len(_lines(out)) >= 15, 60, "the first worker's records")
            second_cmd = [*cmd]
            second_cmd[second_cmd.index("--data-dir") + 1] = str(tmp_path / "data2")
            second = subprocess.Popen(second_cmd, env=env, stderr=f2)
            said = "another producer took over transactional id '__connect_offsets-gen-0'"

            def fenced() -> Path | None:
                return next((p for p in (first_log, second_log) if said in p.read_text()), None)

            # (the later one fences the earlier; but when the fence lands while the earlier
            # one commits, Tansu times that commit out after 30 s, its task starts again and
            # fences the later one in turn: one of them, saying why)
            loser = wait_for(fenced, 90, "one task fenced")
            assert "Traceback" not in loser.read_text().split("fenced")[0]
            at = len(_lines(out))
            wait_for(lambda: len(_lines(out)) >= at + 20, 60, "the other worker's records")
        finally:
            for p in (first, second):
                if p is not None:
                    p.send_signal(signal.SIGTERM)
                    p.wait(90)  # (a stop stuck past 65 s ends itself, saying where it was)
    winner = second_log if loser == first_log else first_log
    assert "fenced" not in winner.read_text()


def test_a_source_requiring_exactly_once_does_not_run_without_transactions(
    kafka_broker: str, tmp_path: Path
) -> None:
    cmd, out, _ = _setup(tmp_path, kafka_broker, eos=False, **{"exactly.once.support": "required"})
    r = _fail_fast(cmd)
    assert r.returncode != 0
    assert (
        "gen: exactly.once.support is 'required', but this worker's source tasks do not "
        "write in transactions: set exactly.once.source.support: enabled" in r.stderr
    )
    assert not _lines(out)


def test_a_commit_left_open_by_a_killed_task_holds_no_start(kafka_broker: str) -> None:
    """A worker killed between sending a commit's offsets and committing leaves a transaction
    open in the offsets topic, which holds every read_committed reader at its first record
    (until the task's next producer fences it, or Kafka aborts it). A worker starting meanwhile
    reads up to it at once; the task, started, fences it and then reads on to the end."""
    import time

    from hub.log.kafka import KafkaLog
    from hub.runtime.offsets import OffsetStore, partition_key

    log = KafkaLog({"bootstrap.servers": kafka_broker}, transaction_prefix="hub")
    topic = f"offsets-{uuid.uuid4().hex[:8]}"
    try:
        store = OffsetStore(log, topic, replication_factor=1)
        log.create_topic(f"data-{topic}", 1, replication_factor=1)
        part = {"file": "a"}
        first = log.transactional_producer("hub-c-0")
        first.send_many(f"data-{topic}", [b"r"])  # (a record of the commit)
        store.write("c", {partition_key(part): (part, {"pos": 1})}, (0, {"seq": 1}), via=first)
        # the next commit: its offsets sent, then the worker dies (no commit, no abort)
        first.send_many(topic, [b'{"pos": 2}'], keys=[b'["other", {"file": "b"}]'], partition=0)
        first.flush()
        began = time.monotonic()
        started = OffsetStore(log, topic)  # a worker starting now
        assert time.monotonic() - began < 10
        assert started.offsets("c") == {partition_key(part): {"pos": 1}}
        assert started.offsets("other") == {}  # (read up to the open one, not past it)
        log.transactional_producer("hub-c-0")  # the task starting: fences the killed one's
        began = time.monotonic()
        started.refresh()
        assert time.monotonic() - began < 10
        assert started.task_checkpoint("c", 0)["seq"] == 1
    finally:
        log.close()


def test_a_transaction_interval_kafka_would_abort_is_refused(
    kafka_broker: str, tmp_path: Path
) -> None:
    cmd, out, _ = _setup(tmp_path, kafka_broker, **{"transaction.boundary": "interval",
                                                    "offset.flush.interval.ms": 15000})  # fmt: skip
    r = _fail_fast(cmd)
    assert r.returncode != 0
    assert (
        "gen: with transaction.boundary: interval a transaction stays open up to "
        "offset.flush.interval.ms (15000), but Kafka aborts one open longer than the worker's "
        "transaction.timeout.ms (20000)" in r.stderr
    )
    assert not _lines(out)


def test_a_commit_read_past_before_it_is_applied_is_read_again(kafka_broker: str) -> None:
    """A task's transaction commits outside the offsets store's lock; should the store read
    the topic meanwhile past a newer commit of the same offsets (a worker that took the task
    over), the older one is not applied over it: the store reads the topic again."""
    from hub.log.kafka import KafkaLog
    from hub.runtime.offsets import OffsetStore, partition_key

    log = KafkaLog({"bootstrap.servers": kafka_broker}, transaction_prefix="hub")
    topic = f"offsets-{uuid.uuid4().hex[:8]}"
    part = {"file": "a"}
    key = partition_key(part)
    try:
        store = OffsetStore(log, topic, replication_factor=1)
        other = OffsetStore(log, topic)  # the worker the task moved to
        producer = log.transactional_producer("hub-c-0")

        class ThenOthers:
            """The task's producer, whose commit is followed at once by the other worker's
            newer commit and a read of both, before the store applies its own."""

            def send_many(self, *args: object, **kw: object) -> None:
                producer.send_many(*args, **kw)  # type: ignore[arg-type]

            def commit_transaction(self) -> None:
                producer.commit_transaction()
                other.write("c", {key: (part, {"pos": 2})}, (0, {"seq": 2}))
                store.refresh()

        store.write("c", {key: (part, {"pos": 1})}, (0, {"seq": 1}), via=ThenOthers())  # type: ignore[arg-type]
        assert store.offsets("c") == {key: {"pos": 2}}
        assert store.task_checkpoint("c", 0)["seq"] == 2
    finally:
        log.close()
