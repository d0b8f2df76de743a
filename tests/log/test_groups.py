"""Consumer groups: split, rebalance on join/leave/timeout, safe hand-over, committed offsets."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.log import CorruptRecordError, Log, NoOffsetError, RebalanceInProgressError, TopicPartition
from tests.helpers import freeze


def _produce(log: Log, topic: str, n: int, partitions: int) -> None:
    prod = log.producer()
    for p in range(partitions):
        prod.send_many(topic, [b"%d-%d" % (p, i) for i in range(n)], partition=p)
    prod.flush()


def _drain(c, rounds: int = 3) -> list:  # type: ignore[no-untyped-def]
    out = []
    idle = 0
    while idle < rounds:
        got = c.poll(0)
        out.extend(got)
        idle = 0 if got else idle + 1
    return out


def test_members_split_partitions_and_rebalance(log: Log) -> None:
    log.create_topic("t", 6)
    a = log.consumer(group_id="g")
    a.subscribe(["t"])
    a.poll(0)
    assert len(a.assignment()) == 6
    b = log.consumer(group_id="g")
    b.subscribe(["t"])
    b.poll(0)  # b's share is still owned by a: nothing handed over yet
    assert b.assignment() == set()
    a.poll(0)  # a releases what moved to b
    b.poll(0)
    assert len(a.assignment()) == 3 and len(b.assignment()) == 3
    assert a.assignment().isdisjoint(b.assignment())
    b.close()  # leaving hands b's partitions back
    a.poll(0)
    assert len(a.assignment()) == 6


def test_handover_commits_and_never_double_consumes(log: Log) -> None:
    log.create_topic("t", 4)
    _produce(log, "t", 50, 4)
    a = log.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=True)
    a.subscribe(["t"])
    first = a.poll(0, max_records=100)
    b = log.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=True)
    b.subscribe(["t"])
    seen = [r for r in first]
    for _ in range(10):
        seen += a.poll(0) + b.poll(0)
    seen += _drain(a) + _drain(b)
    keys = [(r.partition, r.offset) for r in seen]
    assert len(keys) == len(set(keys)) == 200  # every record exactly once across the handover


def test_stale_member_commit_is_rejected(log: Log) -> None:
    log.create_topic("t", 2)
    a = log.consumer(group_id="g")
    a.subscribe(["t"])
    a.poll(0)
    b = log.consumer(group_id="g")
    b.subscribe(["t"])
    a.poll(0)  # a released one partition
    moved = ({TopicPartition("t", 0), TopicPartition("t", 1)} - a.assignment()).pop()
    with pytest.raises(RebalanceInProgressError, match="no longer owns"):
        a.commit({moved: 1})


def test_session_timeout_expels_a_silent_member(log: Log) -> None:
    log.create_topic("t", 2)
    _produce(log, "t", 10, 2)
    a = log.consumer(group_id="g", session_timeout_ms=100, auto_offset_reset="earliest")
    a.subscribe(["t"])
    a.poll(0)
    b = log.consumer(group_id="g", session_timeout_ms=100, auto_offset_reset="earliest")
    b.subscribe(["t"])
    for _ in range(3):
        b.poll(0)
        time.sleep(0.06)  # a stays silent
    time.sleep(0.1)
    got = _drain(b)
    assert len(b.assignment()) == 2
    assert len(got) == 20
    assert log.groups.describe("g").state == "Stable"
    assert len(log.groups.describe("g").members) == 1


def test_committed_offsets_survive_restart(data_dir: str) -> None:
    with Log(data_dir, background=False) as log:
        log.create_topic("t", 3)
        _produce(log, "t", 100, 3)
        c = log.consumer(group_id="g", auto_offset_reset="earliest")
        c.subscribe(["t"])
        got = c.poll(0, max_records=130)
        c.commit()
        c.close()
    with Log(data_dir, background=False) as log:
        info = log.groups.describe("g")
        assert sum(p.committed for p in info.partitions) == 130
        # 100 + 30 read, so lags 0 and 70; p2, never read, is committed at its start (a
        # polled partition has a position, as in Kafka): lag 100
        assert sorted(p.lag for p in info.partitions) == [0, 70, 100]
        c = log.consumer(group_id="g", auto_offset_reset="earliest")
        c.subscribe(["t"])
        rest = _drain(c)
        keys = {(r.partition, r.offset) for r in got} | {(r.partition, r.offset) for r in rest}
        assert len(rest) == 170 and len(keys) == 300
        c.commit()
        assert all(p.lag == 0 for p in log.groups.describe("g").partitions)


def test_a_commit_after_a_poll_its_limit_cut_short_covers_every_assigned_partition(
    log: Log,
) -> None:
    """As with Kafka's consumer, every assigned partition has a position once polled: a
    reader from the beginning that stopped after a few records of one partition commits the
    start of the others too, and the group's next member reads them. (Only the partitions
    read from were committed: the next member started the others at latest, and their
    records were never delivered; `hub consume --group --max-messages` did that.)"""
    log.create_topic("t", 3)
    _produce(log, "t", 10, 3)
    first = log.consumer(group_id="g", auto_offset_reset="earliest")
    first.subscribe(["t"])
    got = first.poll(0, max_records=5)
    assert len(got) == 5
    first.commit()
    first.close()
    after = log.consumer(group_id="g", auto_offset_reset="latest")
    after.subscribe(["t"])
    rest = _drain(after)
    assert len(got) + len(rest) == 30
    assert {(r.partition, r.offset) for r in got} | {(r.partition, r.offset) for r in rest} == {
        (p, i) for p in range(3) for i in range(10)
    }


def test_a_stored_offset_of_a_partition_the_topic_lacks_does_not_fail_the_groups_view(
    log: Log,
) -> None:
    # (committed before hub checked, or by an older hub: describe raised, and with it the
    # REST group views and every sink's lag job)
    log.create_topic("t", 1)
    _produce(log, "t", 3, 1)
    log.groups.commit("g", {TopicPartition("t", 0): 2, TopicPartition("t", 7): 1})
    rows = log.groups.describe("g").partitions
    assert [(p.topic, p.partition, p.committed, p.lag) for p in rows] == [("t", 0, 2, 1)]


def test_fan_out_to_several_groups(log: Log) -> None:
    log.create_topic("t", 2)
    _produce(log, "t", 25, 2)
    for g in ("x", "y", "z"):
        c = log.consumer(group_id=g, auto_offset_reset="earliest")
        c.subscribe(["t"])
        assert len(_drain(c)) == 50
        c.close()


def test_auto_offset_reset_and_seek(log: Log) -> None:
    log.create_topic("t", 1)
    _produce(log, "t", 10, 1)
    tp = TopicPartition("t", 0)
    latest = log.consumer(group_id="l")
    latest.assign([tp])
    assert latest.poll(0) == []
    none = log.consumer(group_id="n", auto_offset_reset="none")
    none.assign([tp])
    with pytest.raises(NoOffsetError, match="auto.offset.reset=none"):
        none.poll(0)
    none.seek(tp, 7)
    assert [r.offset for r in none.poll(0)] == [7, 8, 9]
    none.seek_to_beginning()
    assert none.poll(0, max_records=1)[0].offset == 0
    assert none.lag() == {tp: 9}
    none.seek_to_end()
    assert none.lag() == {tp: 0}


def test_long_poll_wakes_on_new_data(log: Log) -> None:
    import threading

    log.create_topic("t", 1)
    c = log.consumer(auto_offset_reset="earliest")
    c.assign([TopicPartition("t", 0)])

    def later() -> None:
        time.sleep(0.2)
        _produce(log, "t", 1, 1)

    threading.Thread(target=later).start()
    t0 = time.monotonic()
    got = c.poll(timeout=5)
    assert len(got) == 1 and time.monotonic() - t0 < 2


def test_reset_offsets_and_delete_group(log: Log) -> None:
    log.create_topic("t", 1)
    _produce(log, "t", 10, 1)
    tp = TopicPartition("t", 0)
    log.groups.commit("g", {tp: 4})
    assert log.groups.committed("g", tp).offset == 4
    assert log.groups.list_groups() == ["g"]
    log.groups.delete_offsets("g")
    assert log.groups.list_groups() == []


@pytest.mark.parametrize("with_on_lost", [True, False])
def test_an_expelled_member_hears_its_partitions_were_lost(log: Log, with_on_lost: bool) -> None:
    log.create_topic("t", 2)
    _produce(log, "t", 10, 2)
    events: list[tuple[str, set[TopicPartition]]] = []
    a = log.consumer(group_id="g", session_timeout_ms=100, auto_offset_reset="earliest")
    a.subscribe(
        ["t"],
        on_assign=lambda tps: events.append(("assign", tps)),
        on_revoke=lambda tps: events.append(("revoke", tps)),
        on_lost=(lambda tps: events.append(("lost", tps))) if with_on_lost else None,
    )
    a.poll(0)
    both = {TopicPartition("t", 0), TopicPartition("t", 1)}
    assert events == [("assign", both)]
    b = log.consumer(group_id="g", session_timeout_ms=100, auto_offset_reset="earliest")
    b.subscribe(["t"])
    for _ in range(4):  # a stays silent past its session: b takes both partitions
        b.poll(0)
        time.sleep(0.06)
    assert b.assignment() == both
    a.poll(0)  # a hears of it: lost (not handed over), then it rejoins
    assert events[1] == ("lost" if with_on_lost else "revoke", both)
    with pytest.raises(RebalanceInProgressError):
        a.commit({TopicPartition("t", 0): 5})  # (no longer its partition to commit)


@pytest.mark.parametrize("reset", ["earliest", "latest"])
def test_an_offset_out_of_range_is_reset_with_a_warning(
    data_dir: str, reset: str, caplog: pytest.LogCaptureFixture
) -> None:
    # (retention moved the log start past a group's offset: the consumer went on from the
    # start, or the end, without a word, as the sink's status said RUNNING, lag 0)
    tp = TopicPartition("t", 0)
    with Log(data_dir, background=False) as log:
        log.create_topic("t", 1, {"segment.bytes": "1024", "retention.bytes": "3000"})
        prod = log.producer()
        for i in range(0, 300, 5):
            prod.send_many("t", [b"v%02d" % j for j in range(i, i + 5)], partition=0)
            prod.flush()
        log.groups.commit("g", {tp: 10})
        part = log.partition("t", 0)
        part.apply_retention()
        start = part.log_start_offset
        assert 10 < start < 300
        c = log.consumer(group_id="g", auto_offset_reset=reset)  # type: ignore[arg-type]
        c.assign([tp])
        got = c.poll(0)
        want = start if reset == "earliest" else 300
        assert (got[0].offset if got else c.position(tp)) == want
        said = [r.getMessage() for r in caplog.records if "out of range" in r.getMessage()]
        assert said == [
            f"t-0: offset 10 is out of range (valid offsets are {start}..300): going on from "
            f"{want} (auto.offset.reset={reset}), offsets 10 to {want - 1} skipped"
        ]


def test_a_delete_cut_short_leaves_no_offsets_for_a_topic_made_again(data_dir: str) -> None:
    # (killed after the topic's files went and before its offsets did, the group kept offset
    # 150 for good: the topic made again had its first 150 records skipped)
    tp = TopicPartition("orders", 0)
    with Log(data_dir, background=False) as log:
        log.create_topic("orders", 1)
        log.partition("orders", 0).append_records([None] * 150, [b"old"] * 150)
        log.groups.commit("billing", {tp: 150})
    child = (
        "import os, sys\n"
        "from hub.log import Log\n"
        "import shutil\n"
        "shutil.rmtree = lambda *a, **k: os._exit(137)  # killed with the files in the trash\n"
        "Log(sys.argv[1], background=False).delete_topic('orders')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-c", child, data_dir], env=env, timeout=60)
    assert r.returncode == 137
    with Log(data_dir, background=False) as log:
        assert log.topics() == [] and log.groups.committed("billing", tp) is None
        log.create_topic("orders", 1)
        log.partition("orders", 0).append_records([None] * 200, [b"new"] * 200)
        c = log.consumer(group_id="billing", auto_offset_reset="earliest")
        c.assign([tp])
        assert c.poll(0)[0].offset == 0


def test_a_stopped_process_does_not_expel_its_own_members(tmp_path: Path) -> None:
    # (a worker paused for longer than the session timeout, SIGSTOP or a VM frozen, expelled
    # its own sinks when it went on: each lost its partitions, warning that a batch took too
    # long, and rejoined; the time it stood still is not a member's silence)
    import signal
    import textwrap

    code = textwrap.dedent(f"""
        import sys, time
        from hub.log import Log
        log = Log({str(tmp_path)!r})
        log.create_topic("t", 2)
        lost = []
        def on_lost(tps):
            lost.extend(tps)
        c = log.consumer(group_id="g", session_timeout_ms=1200)
        c.subscribe(["t"], on_lost=on_lost)
        c.poll(timeout=0.2)
        dead = log.consumer(group_id="g", session_timeout_ms=1200)  # (never heard again)
        dead.subscribe(["t"])
        dead.poll(timeout=0.2)
        print("ready", flush=True)
        sys.stdin.readline()  # (stopped and continued meanwhile)
        c.poll(timeout=0.2)
        members = [m.member_id for m in log.groups.describe("g").members]
        print("lost", len(lost), "members", len(members), flush=True)
        time.sleep(1.5)  # (the silent one's session runs out in the time that runs)
        c.poll(timeout=0.2)
        print("after", len(log.groups.describe("g").members), flush=True)
        log.close()
    """)
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None and proc.stdin is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(0.3)
            freeze(proc.pid)
            time.sleep(3)
            proc.send_signal(signal.SIGCONT)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline().split() == ["lost", "0", "members", "2"]
            assert proc.stdout.readline().split() == ["after", "1"]
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_auto_offset_reset_none_names_a_committed_offset_retention_passed(tmp_path) -> None:
    """With auto.offset.reset=none, a committed offset that retention deleted raised "no
    committed offset ... seek or commit one first", though the group had one: the error is
    now Kafka's, naming the offset and the range there is."""
    from hub.log import OffsetOutOfRangeError

    tp = TopicPartition("t", 0)
    with Log(str(tmp_path / "d"), background=False, maintenance_interval_ms=None) as log:
        log.create_topic("t", 1, {"segment.bytes": "1024", "retention.bytes": "1024"})
        pr = log.producer()
        pr.send_many("t", [b"x" * 100] * 5, partition=0)
        pr.flush()
        log.groups.commit("g", {tp: 2})
        for _ in range(5):
            pr.send_many("t", [b"x" * 100] * 5, partition=0)
            pr.flush()
        log.run_maintenance()
        start = log.partition("t", 0).log_start_offset
        assert start > 2
        c = log.consumer(group_id="g", auto_offset_reset="none")
        c.assign([tp])
        with pytest.raises(OffsetOutOfRangeError) as failed:
            c.poll(0)
        assert (failed.value.offset, failed.value.start) == (2, start)


def test_a_damaged_batch_of_the_groups_offsets_says_what_to_do(tmp_path) -> None:
    """One flipped byte in __consumer_offsets failed every open of the data directory, the
    read-only ones too (hub topics list, hub consume), with a CRC mismatch and no way out.
    Read-only opens now go on without the offsets past it; a writer says what to do, and
    doing it opens the log."""
    import shutil

    d = str(tmp_path / "d")
    tp = TopicPartition("t", 0)
    with Log(d, background=False, maintenance_interval_ms=None) as log:
        log.create_topic("t", 1)
        log.producer().send_many("t", [b"x"] * 3, partition=0)
        for i in range(50):
            log.groups.commit(f"g{i % 5}", {tp: i % 3})
    folder = os.path.join(d, "__consumer_offsets", "0")
    (seg,) = [f for f in os.listdir(folder) if f.endswith(".log")]
    with open(os.path.join(folder, seg), "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 1]))
    with Log(d, read_only=True) as log:
        assert [r.value for r in log.scan(tp)] == [b"x"] * 3
    with pytest.raises(CorruptRecordError, match="move that file and its .index and .timeindex"):
        Log(d, background=False)
    aside = tmp_path / "aside"
    aside.mkdir()
    for name in os.listdir(folder):
        if name.startswith(seg[: -len(".log")]):
            shutil.move(os.path.join(folder, name), aside / name)
    with Log(d, background=False) as log:
        assert log.groups.committed("g1", tp) is None
        log.groups.commit("g1", {tp: 2})
        assert log.groups.committed("g1", tp).offset == 2


def test_a_partitions_error_loses_no_record_another_partition_gave_that_poll(tmp_path) -> None:
    """One partition's error (here auto.offset.reset=none past retention) was raised from the
    middle of a poll, after another partition's records were taken and its position moved
    past them: those were never delivered. They are handed over, the error raised at the
    next poll, as Kafka's consumer does."""
    from hub.log import OffsetOutOfRangeError

    a, b = TopicPartition("a", 0), TopicPartition("b", 0)
    with Log(str(tmp_path / "d"), background=False, maintenance_interval_ms=None) as log:
        log.create_topic("a", 1, {})
        log.create_topic("b", 1, {"segment.bytes": "1024", "retention.bytes": "1024"})
        pr = log.producer()
        pr.send_many("b", [b"x" * 100] * 5, partition=0)
        pr.send_many("a", [b"a%d" % i for i in range(10)], partition=0)
        pr.flush()
        log.groups.commit("g", {a: 0, b: 2})
        for _ in range(5):
            pr.send_many("b", [b"x" * 100] * 5, partition=0)
            pr.flush()
        log.run_maintenance()
        c = log.consumer(group_id="g", auto_offset_reset="none")
        c.assign([a, b])  # (a is fetched first)
        got = [r.value for r in c.poll(0)]
        with pytest.raises(OffsetOutOfRangeError):
            c.poll(0)
        c.seek(b, log.partition("b", 0).log_start_offset)  # as Kafka's documentation says
        while batch := c.poll(0):
            got += [r.value for r in batch if r.topic == "a"]
        assert got == [b"a%d" % i for i in range(10)]
