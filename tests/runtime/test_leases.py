"""Task leases on a Kafka cluster (Tansu): each lease held by exactly one of the workers
competing for it; given up before another takes it; a killed worker's taken over within its
session timeout (hub.runtime.leases, docs/distributed.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hub.runtime.leases import TaskLeases
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

NAMES = {"src-0", "src-1", "sink-0", "sink-1"}
CONF = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 300}
Event = tuple[float, str, str, str]  # (when, worker, "+" acquired or "-" released, lease)


class Worker:
    """A worker's leases, polled by a thread of its own, with what happened when."""

    def __init__(self, broker: str, cluster: str, name: str, events: list[Event]) -> None:
        self.name = name
        self.leases = TaskLeases(
            {"bootstrap.servers": broker, **CONF}, cluster,
            on_acquire=lambda n: events.append((time.monotonic(), self.name, "+", n)),
            on_release=lambda n: events.append((time.monotonic(), self.name, "-", n)),
        )  # fmt: skip
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.leases.poll()
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.leases.close()


@contextmanager
def _workers(
    broker: str, cluster: str, names: list[str], events: list[Event]
) -> Iterator[list[Worker]]:
    workers = [Worker(broker, cluster, n, events) for n in names]
    try:
        yield workers
    finally:
        for w in workers:
            if not w._stop.is_set():
                w.close()


def _split(workers: list[Worker]) -> bool:
    held = [w.leases.held() for w in workers]
    return set().union(*held) == NAMES and sum(map(len, held)) == len(NAMES)


def test_each_lease_has_one_holder_and_moves_only_after_it_was_given_up(
    kafka_broker: str,
) -> None:
    events: list[tuple[float, str, str, str]] = []
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    with _workers(kafka_broker, cluster, ["a", "b"], events) as (a, b):
        a.leases.want(NAMES)
        wait_for(lambda: a.leases.held() == NAMES, 30, "a holding every lease alone")
        b.leases.want(NAMES)  # (sticky: b joining takes none of a's)
        time.sleep(3)
        assert a.leases.held() == NAMES and b.leases.held() == set()
        a.close()  # a leaves: b takes them all, each after a gave it up
        wait_for(lambda: b.leases.held() == NAMES, 30, "b holding every lease")
    released = {n: t for t, who, what, n in events if who == "a" and what == "-"}
    taken = {n: t for t, who, what, n in events if who == "b" and what == "+"}
    assert set(released) == set(taken) == NAMES
    assert all(released[n] <= taken[n] for n in NAMES)


def test_two_workers_share_the_leases_without_overlap(kafka_broker: str) -> None:
    events: list[tuple[float, str, str, str]] = []
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    with _workers(kafka_broker, cluster, ["a", "b"], events) as workers:
        for w in workers:
            w.leases.want(NAMES)
        wait_for(lambda: _split(workers), 30, "every lease held by one worker")
        time.sleep(2)
        assert _split(workers)  # (and it stays so)
        a, b = workers
        a.leases.want(NAMES - {"src-0"})  # a lease no longer wanted by a: b's
        wait_for(lambda: "src-0" in b.leases.held() and "src-0" not in a.leases.held(), 30,
                 "src-0 with b")  # fmt: skip
        assert _split(workers)


def test_a_killed_workers_leases_are_taken_over_within_its_session(kafka_broker: str) -> None:
    cluster = f"c-{uuid.uuid4().hex[:8]}"
    script = textwrap.dedent(f"""
        import sys, time
        from hub.runtime.leases import TaskLeases
        leases = TaskLeases({{"bootstrap.servers": {kafka_broker!r}, **{CONF!r}}}, {cluster!r},
                            on_acquire=lambda n: print("+", n, flush=True),
                            on_release=lambda n: print("-", n, flush=True))
        leases.want({sorted(NAMES)!r})
        while True:
            leases.poll()
            time.sleep(0.05)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.getcwd()))  # fmt: skip
    events: list[tuple[float, str, str, str]] = []
    try:
        assert proc.stdout is not None
        held: set[str] = set()
        while held != NAMES:  # the other process holds every lease first
            line = proc.stdout.readline()
            assert line, "the leasing process ended"
            held.add(line.split()[1])
        with _workers(kafka_broker, cluster, ["b"], events) as (b,):
            b.leases.want(NAMES)
            time.sleep(3)
            assert b.leases.held() == set()  # (held elsewhere)
            killed = time.monotonic()
            os.kill(proc.pid, signal.SIGKILL)
            wait_for(lambda: b.leases.held() == NAMES, 30, "b taking over every lease")
            took = time.monotonic() - killed
        assert took < 15, took  # session.timeout.ms 2 s, and the group's rebalance
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_ideal_placement_is_balanced_and_moves_little() -> None:
    from hub.runtime.leases import ideal

    tasks = [f"task:c{c}:{t}" for c in range(4) for t in range(5)]  # 20 tasks
    three = ideal(tasks, ["w1", "w2", "w3"])
    assert sorted(three) == sorted(tasks)
    assert sorted(list(three.values()).count(w) for w in ("w1", "w2", "w3")) == [6, 7, 7]
    assert ideal(reversed(tasks), ["w3", "w1", "w2"]) == three  # (the same on every worker)
    four = ideal(tasks, ["w1", "w2", "w3", "w4"])
    assert sorted(list(four.values()).count(w) for w in ("w1", "w2", "w3", "w4")) == [5] * 4
    moved = [t for t in tasks if four[t] != three[t]]
    # the joining worker's 5, and a few that its share displaced (not a reshuffle)
    assert sum(four[t] == "w4" for t in moved) == 5 and len(moved) <= 10, moved
    assert ideal(tasks, []) == {} and set(ideal(tasks, ["w1"]).values()) == {"w1"}


def test_workers_of_one_cluster_with_other_settings_are_named(
    kafka_broker: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker whose exactly.once.source.support or storage topics differ from another's
    had gone unnoticed: a task moving between them read other offsets, or ran unfenced
    beside a zombie (found by a review). Each names the other's setting, once."""
    import logging

    cluster = f"c-{uuid.uuid4().hex[:8]}"

    def worker(name: str, eos: str) -> TaskLeases:
        return TaskLeases({"bootstrap.servers": kafka_broker, **CONF}, cluster,
                          on_acquire=lambda n: None, on_release=lambda n: None, member=name,
                          settings={"exactly.once.source.support": eos,
                                    "offset.storage.topic": "offsets"})  # fmt: skip

    a, b = worker("a", "enabled"), worker("b", "disabled")
    try:
        with caplog.at_level(logging.ERROR, logger="hub.runtime.leases"):

            def named() -> bool:
                a.poll()
                b.poll()
                return len([r for r in caplog.records if "exactly.once" in r.message]) >= 2

            wait_for(named, 30, "each worker naming the other's setting")
            for _ in range(20):  # (more beats: still once each)
                a.poll()
                b.poll()
                time.sleep(0.05)
        said = sorted(r.getMessage() for r in caplog.records if "exactly.once" in r.message)
        assert len(said) == 2, said
        assert "worker a of cluster" in said[0] and "enabled, this worker disabled" in said[0]
        assert "worker b of cluster" in said[1] and "disabled, this worker enabled" in said[1]
        assert not [r for r in caplog.records if "offset.storage.topic" in r.getMessage()]
    finally:
        a.close()
        b.close()


def test_a_rejoin_makes_the_leases_topics_again(own_kafka_broker: str) -> None:
    # (a broker that came back without them: every lease's group had no partition to give,
    # for ever, and the workers' rejoins changed nothing)
    from confluent_kafka.admin import AdminClient

    cluster = f"c-{uuid.uuid4().hex[:8]}"
    events: list[Event] = []
    with _workers(own_kafka_broker, cluster, ["a"], events) as (a,):
        a.leases.want({"src-0"})
        wait_for(lambda: "src-0" in a.leases.held(), 30, "the lease")
        admin = AdminClient({"bootstrap.servers": own_kafka_broker})
        topics = [f"{cluster}.leases", f"{cluster}.workers"]
        for f in admin.delete_topics(topics).values():
            f.result(10)
        wait_for(lambda: not set(topics) & set(admin.list_topics(timeout=10).topics), 30,
                 "the topics gone")  # fmt: skip
        a.leases.rejoin("src-0")  # (held: only the topics are made again)
        assert set(topics) <= set(admin.list_topics(timeout=10).topics)


def test_a_worker_back_from_a_long_silence_is_not_settled_at_once() -> None:
    # (a review's: a worker frozen past its session counted as settled the moment it beat
    # again; the balancer then gave up the task another worker had just taken over from it,
    # while its lease members were still rejoining, and the task ran nowhere for minutes)
    import json as _json
    import threading as _threading

    from hub.runtime.leases import TaskLeases

    leases = TaskLeases.__new__(TaskLeases)  # (the beats' bookkeeping alone: no cluster)
    leases.member, leases.cluster, leases.session_s = "me", "c", 2.0
    leases.settings, leases._differ, leases._seen, leases._newest = {}, set(), {}, 0
    leases._lock = _threading.RLock()

    class Beat:
        def __init__(self, member: str, at_ms: int) -> None:
            self.doc, self.at = {"worker_id": member, "gone": False}, at_ms

        def value(self) -> bytes:
            return _json.dumps(self.doc).encode()

        def timestamp(self) -> tuple[int, int]:
            return (1, self.at)

    def beat(at_s: float) -> None:
        leases._saw(Beat("me", int(at_s * 1000)))
        leases._saw(Beat("other", int(at_s * 1000)))

    for t in range(1, 10):  # both beat for 9 s: settled (a beat's time 0 reads as now)
        beat(t)
    assert leases.members(settled_s=2.0) == {"me", "other"}
    for t in range(10, 20):  # the other one is frozen for 10 s
        leases._saw(Beat("me", t * 1000))
    assert leases.members() == {"me"}
    beat(20)  # back: alive, but not settled until a session has passed
    assert leases.members() == {"me", "other"}
    assert leases.members(settled_s=2.0) == {"me"}
    beat(21)
    beat(22.5)
    assert leases.members(settled_s=2.0) == {"me", "other"}
    # a gap within the window (the session, at least 3 beats) does not reset it
    for t in (23, 25.5):
        beat(t)
    assert leases.members(settled_s=2.0) == {"me", "other"}
