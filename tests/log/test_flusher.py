"""The log's background flusher: asleep while idle, woken by appends, group commit under load,
timed policies kept. Bounds are generous (the machine is shared): they separate "woken by the
event" from "never" or "a timer's period", not fast from slow."""

from __future__ import annotations

import threading
import time

import pytest

from hub.log import Log, TopicPartition
from hub.log.log import GROUP_COMMIT_S
from hub.log.segment import LogSegment

TP = TopicPartition("t", 0)


Polled = list[tuple[float, list[bytes | None]]]  # (when poll returned, values)


def _poll_in_thread(log: Log, timeout: float) -> tuple[threading.Thread, Polled]:
    consumer = log.consumer(auto_offset_reset="earliest")
    consumer.assign([TP])
    got: Polled = []

    def run() -> None:
        records = consumer.poll(timeout=timeout)
        got.append((time.monotonic(), [r.value for r in records]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got


def test_idle_flusher_sleeps_and_an_append_wakes_it_and_the_blocked_consumer(
    data_dir: str,
) -> None:
    with Log(data_dir) as log:
        log.create_topic("t", 1)
        thread, got = _poll_in_thread(log, timeout=30.0)
        time.sleep(0.3)  # the flusher's first round (at start) is behind it
        rounds = log.flusher_rounds
        time.sleep(0.6)
        # no timer: a 20 ms polling loop would have gone round ~30 times by now
        assert log.flusher_rounds == rounds
        assert not got  # the consumer is blocked too, waiting for durable records
        appended = time.monotonic()
        log.producer().send_many("t", [b"a"], partition=0)  # no flush: the flusher's job
        thread.join(10)
        assert got, "the consumer was not woken"
        woke, values = got[0]
        assert values == [b"a"]
        assert woke - appended < 1.0
        assert log.partition("t", 0).high_watermark == 1
        assert log.flusher_rounds > rounds


def test_appends_from_several_threads_share_fsyncs(
    data_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = 0
    real_sync = LogSegment.sync

    def counting_sync(self: LogSegment) -> None:
        nonlocal syncs
        syncs += 1
        real_sync(self)

    monkeypatch.setattr(LogSegment, "sync", counting_sync)
    threads, per_thread = 4, 100
    with Log(data_dir) as log:
        log.create_topic("t", 1)

        def produce() -> None:
            producer = log.producer()
            for i in range(per_thread):
                producer.send_many("t", [b"%d" % i], partition=0)
                producer.flush()  # each waits for its record to be durable

        workers = [threading.Thread(target=produce) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert log.partition("t", 0).high_watermark == threads * per_thread
    # one fsync per flush and per background round would be 400 or more
    assert syncs < threads * per_thread


def test_a_timed_policy_still_waits_for_its_interval(data_dir: str) -> None:
    with Log(data_dir) as log:
        log.create_topic("t", 1, {"flush.ms": "1500"})
        producer = log.producer()
        producer.send_many("t", [b"a"], partition=0)
        producer.flush()  # the interval counts from this flush
        producer.send_many("t", [b"b"], partition=0)
        part = log.partition("t", 0)
        time.sleep(0.3)
        assert part.high_watermark == 1  # the append woke the flusher, the policy holds it
        deadline = time.monotonic() + 10
        while part.high_watermark < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert part.high_watermark == 2  # then it woke at the partition's due time


def test_no_background_flush_without_a_policy(data_dir: str) -> None:
    with Log(data_dir, flush_interval_ms=None) as log:
        log.create_topic("t", 1)
        log.producer().send_many("t", [b"a"], partition=0)
        time.sleep(0.3)
        assert log.partition("t", 0).high_watermark == 0
        log.flush()
        assert log.partition("t", 0).high_watermark == 1


def test_close_wakes_the_sleeping_flusher(data_dir: str) -> None:
    log = Log(data_dir)
    log.create_topic("t", 1)
    time.sleep(0.2)  # asleep, with no maintenance due for minutes
    started = time.monotonic()
    log.close()
    assert time.monotonic() - started < 5.0
    assert log._thread is not None and not log._thread.is_alive()


def test_appends_under_a_timed_policy_do_not_wake_the_flusher_each_time(data_dir: str) -> None:
    with Log(data_dir) as log:
        log.create_topic("t", 1, {"flush.ms": "60000"})
        producer = log.producer()
        producer.send_many("t", [b"first"], partition=0)
        producer.flush()  # the interval counts from here
        time.sleep(0.2)
        rounds = log.flusher_rounds
        for i in range(100):
            producer.send_many("t", [b"%d" % i], partition=0)
            time.sleep(0.003)  # the flusher gets the GIL in between
        time.sleep(0.2)
        # the first append wakes it and it sleeps until the partition is due: not 100 rounds
        assert log.flusher_rounds - rounds <= 3
        assert log.partition("t", 0).high_watermark == 1


def test_altering_flush_ms_wakes_the_flusher(data_dir: str) -> None:
    with Log(data_dir) as log:
        log.create_topic("t", 1, {"flush.ms": "600000"})
        producer = log.producer()
        producer.send_many("t", [b"a"], partition=0)
        producer.flush()
        producer.send_many("t", [b"b"], partition=0)  # due in 10 minutes
        time.sleep(0.2)
        part = log.partition("t", 0)
        assert part.high_watermark == 1
        log.alter_topic("t", {"flush.ms": "0"})
        deadline = time.monotonic() + 5
        while part.high_watermark < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert part.high_watermark == 2


def test_a_stream_of_appends_gets_at_most_one_flush_round_per_group_commit_interval(
    data_dir: str,
) -> None:
    with Log(data_dir) as log:
        log.create_topic("t", 1)
        producer = log.producer()
        time.sleep(0.1)
        rounds = log.flusher_rounds
        started = time.monotonic()
        for i in range(200):
            producer.send_many("t", [b"%d" % i], partition=0)
            time.sleep(0.001)  # one append a millisecond or so: a round each without spacing
        elapsed = time.monotonic() - started
        part = log.partition("t", 0)
        deadline = time.monotonic() + 5
        while part.high_watermark < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert part.high_watermark == 200
        assert log.flusher_rounds - rounds <= (elapsed + 0.05) / GROUP_COMMIT_S + 5


def test_a_close_landing_inside_the_flushers_round_still_stops_it(data_dir: str) -> None:
    """close() sets stop and wakes the flusher. If that lands after the flusher looked at stop
    and before it cleared its wake-up (as `hub run` once hung on SIGTERM), the flusher must
    still see stop and end, not wait for ever (no timed policy, no maintenance: nothing else
    would wake it)."""
    log = Log(data_dir, maintenance_interval_ms=None)
    log.create_topic("t", 1)
    stop, thread = log._stop, log._thread
    assert thread is not None

    class CloseLandsHere(threading.Event):
        def clear(self) -> None:
            if not stop.is_set():  # close() runs right here: stop set, the flusher woken
                stop.set()
                self.set()
            super().clear()

    idle = log._wake  # what the idle flusher waits on now
    wake = log._wake = CloseLandsHere()
    idle.set()  # an append: the next round looks at stop, then clears `wake`
    thread.join(timeout=5)
    alive = thread.is_alive()
    wake.set()  # a flusher stuck in its wait is let go, so close() below returns
    log.close()
    assert not alive
