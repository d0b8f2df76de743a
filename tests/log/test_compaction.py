"""Compaction: newest value per key survives, tombstones expire, crashes at any step are safe."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hub.log import Log, LogStorageError, TopicPartition

TP = TopicPartition("t", 0)
NOW = int(time.time() * 1000)
COMPACT = {"cleanup.policy": "compact", "segment.bytes": "4096", "min.cleanable.dirty.ratio": "0"}


def _history(n_keys: int, n_writes: int, seed: int = 1) -> list[tuple[bytes, bytes | None]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n_writes):
        k = b"key-%03d" % rnd.randrange(n_keys)
        out.append((k, None if rnd.random() < 0.1 else b"value-%06d" % i))
    return out


def _write(log: Log, history: list[tuple[bytes, bytes | None]], ts: int = NOW) -> None:
    prod = log.producer()
    for i in range(0, len(history), 20):
        chunk = history[i : i + 20]
        prod.send_many(
            "t", [v for _, v in chunk], keys=[k for k, _ in chunk], timestamps=ts, partition=0
        )
        prod.flush()


def _latest(history: list[tuple[bytes, bytes | None]]) -> dict[bytes, tuple[int, bytes | None]]:
    out = {}
    for off, (k, v) in enumerate(history):
        out[k] = (off, v)
    return out


def _read(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    c = log.consumer(auto_offset_reset="earliest")
    c.assign([TP])
    out = []
    while batch := c.poll(0):
        out.extend((r.offset, r.key, r.value) for r in batch)
    return out


def test_compaction_keeps_newest_per_key_and_offsets(log: Log) -> None:
    log.create_topic("t", 1, COMPACT)
    history = _history(40, 3000)
    _write(log, history)
    part = log.partition("t", 0)
    size_before = part.size_bytes()
    log.run_maintenance(force_compaction=True)
    assert part.size_bytes() < size_before / 3
    got = _read(log)
    offsets = [o for o, _, _ in got]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    latest = _latest(history)
    # below the active segment (never cleaned) only the newest record of each key remains
    active_base = part.active.base_offset
    latest_cleaned = _latest(history[:active_base])
    for off, k, v in got:
        assert history[off] == (k, v)
        if off < active_base:
            assert latest_cleaned[k][0] == off
    # the newest value of every key is readable
    newest_read = {}
    for off, k, v in got:
        newest_read[k] = (off, v)
    for k, (off, v) in latest.items():
        if v is not None or off >= active_base:
            assert newest_read[k] == (off, v)
    # log end offset unchanged; appends continue
    assert part.log_end_offset == len(history)


def test_tombstones_kept_until_delete_retention(log: Log) -> None:
    log.create_topic("t", 1, {**COMPACT, "delete.retention.ms": "60000"})
    history = [(b"a", b"1"), (b"b", b"1"), (b"a", None)] + [(b"c", b"%d" % i) for i in range(300)]
    _write(log, history)
    log.run_maintenance(now=NOW, force_compaction=True)
    got = _read(log)
    assert (2, b"a", None) in got  # tombstone still there
    assert (0, b"a", b"1") not in got  # the value it deleted is gone
    log.run_maintenance(now=NOW + 120_000, force_compaction=True)
    got = _read(log)
    assert all(k != b"a" for _, k, _ in got)
    assert (1, b"b", b"1") in got


def test_dirty_ratio_and_lag_gate_cleaning(log: Log) -> None:
    log.create_topic("t", 1, {**COMPACT, "min.cleanable.dirty.ratio": "0.5"})
    _write(log, _history(10, 1000))
    part = log.partition("t", 0)
    assert log.run_maintenance()["partitions_compacted"] == 1
    # nothing new: everything before the active segment is clean now
    assert log.run_maintenance()["partitions_compacted"] == 0
    log.alter_topic("t", {"min.compaction.lag.ms": str(3600_000)})
    _write(log, _history(10, 1000, seed=2))
    assert log.run_maintenance(now=NOW)["partitions_compacted"] == 0
    assert part.log_end_offset == 2000


def test_compacted_topic_survives_reopen(data_dir: str) -> None:
    history = _history(30, 2000)
    with Log(data_dir, background=False) as log:
        log.create_topic("t", 1, COMPACT)
        _write(log, history)
        log.run_maintenance(force_compaction=True)
        before = _read(log)
    with Log(data_dir, background=False) as log:
        assert _read(log) == before
        assert log.partition("t", 0).log_end_offset == len(history)


CRASH_SCRIPT = textwrap.dedent(
    """
    import sys
    from hub.log import Log
    log = Log(sys.argv[1], background=False)
    print("open", flush=True)
    log.run_maintenance(force_compaction=True)
    print("done", flush=True)
    """
)


def _prepare(path: str, history: list[tuple[bytes, bytes | None]]) -> None:
    with Log(path, background=False) as log:
        log.create_topic("t", 1, COMPACT)
        _write(log, history)


def _check(path: str, history: list[tuple[bytes, bytes | None]]) -> None:
    latest = _latest(history)
    with Log(path, background=False) as log:
        part = log.partition("t", 0)
        names = os.listdir(part.directory)
        assert not [n for n in names if n.endswith((".cleaned", ".swap", ".deleted"))], names
        assert "cleaning.json" not in names
        got = _read(log)
        offsets = [o for o, _, _ in got]
        assert offsets == sorted(set(offsets))
        for off, k, v in got:
            assert history[off] == (k, v)  # nothing altered
        newest = {k: (o, v) for o, k, v in got}
        for k, (off, v) in latest.items():
            if v is not None:
                assert newest.get(k) == (off, v), k  # never loses the newest value
        assert part.log_end_offset == len(history)


@pytest.mark.parametrize(
    "fault",
    [
        "clean:after-cleaned",
        "clean:after-swap-files",
        "clean:after-manifest",
        "clean:after-delete-old",
    ],
)
def test_crash_at_each_compaction_step(tmp_path, fault: str) -> None:
    path = str(tmp_path / "d")
    history = _history(25, 1500)
    _prepare(path, history)
    env = dict(os.environ, PYTHONPATH=os.getcwd(), HUB_FAULT=fault)
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, path], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 137, proc.stderr  # it really died at the fault point
    _check(path, history)
    with Log(path, background=False) as log:  # and a later pass completes the job
        log.run_maintenance(force_compaction=True)
    _check(path, history)


def test_kill_9_at_random_moments_during_compaction(tmp_path) -> None:
    history = _history(50, 6000, seed=7)
    src = str(tmp_path / "src")
    _prepare(src, history)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    rnd = random.Random(3)
    for attempt in range(6):
        path = str(tmp_path / f"d{attempt}")
        subprocess.run(["cp", "-r", src, path], check=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", CRASH_SCRIPT, path], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "open"
        time.sleep(rnd.uniform(0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        _check(path, history)


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip"])
def test_compaction_of_compressed_batches(log: Log, codec: str) -> None:
    log.create_topic("t", 1, {**COMPACT, "compression.type": codec})
    history = _history(20, 1500, seed=5)
    _write(log, history)
    log.run_maintenance(force_compaction=True)
    part = log.partition("t", 0)
    for seg in part.segments[:-1]:
        for _, header in seg.iter_batches(check_crc=True):
            assert header.compression == codec
    got = _read(log)
    for off, k, v in got:
        assert history[off] == (k, v)
    newest = {k: (o, v) for o, k, v in got}
    for k, (off, v) in _latest(history).items():
        if v is not None:
            assert newest[k] == (off, v)


def test_old_timestamped_tombstone_survives_its_first_pass(log: Log) -> None:
    """A delete whose record timestamp is already older than delete.retention.ms (e.g. a
    source catching up) must still reach consumers: its clock starts at the first pass."""
    log.create_topic("t", 1, {**COMPACT, "delete.retention.ms": "60000"})
    old = NOW - 10 * 86_400_000
    _write(log, [(b"K", b"row-v1")] + [(b"c", b"%d" % i) for i in range(200)], ts=old)
    _write(log, [(b"K", None)] + [(b"d", b"%d" % i) for i in range(200)], ts=old)
    log.run_maintenance(now=NOW, force_compaction=True)
    assert (201, b"K", None) in _read(log)
    log.run_maintenance(now=NOW + 30_000, force_compaction=True)
    assert (201, b"K", None) in _read(log)  # not yet delete.retention.ms since the first pass
    log.run_maintenance(now=NOW + 61_000, force_compaction=True)
    assert all(k != b"K" for _, k, _ in _read(log))


def test_failed_pass_leaves_nothing_behind(log: Log, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A pass that dies half-way (here: the file size limit, as on a full disk) must not
    poison the next one with its partial .cleaned segment."""
    import resource

    log.create_topic("t", 1, COMPACT)
    history = _history(30, 2000, seed=9)
    _write(log, history)
    part = log.partition("t", 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = __import__("signal").signal(
        __import__("signal").SIGXFSZ, __import__("signal").SIG_IGN
    )
    resource.setrlimit(resource.RLIMIT_FSIZE, (300, hard))
    try:
        with pytest.raises(LogStorageError, match="File too large while compacting"):
            log.run_maintenance(force_compaction=True)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        __import__("signal").signal(__import__("signal").SIGXFSZ, old_handler)
    assert not [n for n in os.listdir(part.directory) if n.endswith(".cleaned")]
    log.run_maintenance(force_compaction=True)
    for seg in part.segments:
        list(seg.iter_batches(check_crc=True))  # every batch intact
    got = _read(log)
    for off, k, v in got:
        assert history[off] == (k, v)


def test_concurrent_maintenance_passes_are_serialised(log: Log) -> None:
    import threading

    log.create_topic("t", 1, COMPACT)
    history = _history(30, 3000, seed=4)
    _write(log, history)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(3):
                log.run_maintenance(force_compaction=True)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    for off, k, v in _read(log):
        assert history[off] == (k, v)


def test_a_scan_ends_where_compaction_removed_the_last_records(log: Log) -> None:
    # (a scan that cannot move below the high watermark raises, but not over records the
    # cleaner removed: how compacted internal topics load)
    log.create_topic("t", 1, {**COMPACT, "delete.retention.ms": "0"})
    _write(log, [(b"a", b"1"), (b"b", b"1"), (b"a", None), (b"b", None)])
    log.partition("t", 0).roll()
    log.run_maintenance(now=NOW + 120_000, force_compaction=True)
    log.run_maintenance(now=NOW + 240_000, force_compaction=True)
    part = log.partition("t", 0)
    assert part.high_watermark == 4
    assert list(part.scan()) == []


def test_an_emptied_segment_does_not_move_the_log_start(tmp_path: Path) -> None:
    # (compact,delete with nothing past retention: retention deleted the segment the cleaner
    # had emptied, the log start moved, and a group committed inside it with
    # auto.offset.reset=latest jumped to the end, missing the 60 records past its offset)
    tp = TopicPartition("accounts", 0)
    with Log(str(tmp_path), background=False) as log:
        config = {"cleanup.policy": "compact,delete", "retention.ms": "-1", "segment.bytes": "1024"}
        log.create_topic("accounts", 1, config)
        p = log.partition("accounts", 0)
        p.append_records([b"a%d" % i for i in range(40)], [b"v1"] * 40)
        log.groups.commit("billing", {tp: 10})
        p.append_records([b"a%d" % i for i in range(40)], [b"v2"] * 40)  # every key again
        p.append_records([b"b%d" % i for i in range(20)], [b"x"] * 20)
        p.roll()
        for _ in range(2):
            log.run_maintenance(force_compaction=True)
        assert p.log_start_offset == 0
        c = log.consumer(group_id="billing", auto_offset_reset="latest")
        c.subscribe(["accounts"])
        got = []
        while batch := c.poll(0.2):
            got.extend(r.offset for r in batch)
        c.close()
        assert got == list(range(40, 100))


@pytest.mark.parametrize("read_only", [False, True])
def test_a_tail_compacted_away_moves_readers_to_the_end(tmp_path: Path, read_only: bool) -> None:
    # (the tombstones at the end dropped, a consumer at offset 10 stayed there: lag 5 for
    # ever, and a read-only poll spun at full CPU until its timeout)
    tp = TopicPartition("t", 0)
    config = {"cleanup.policy": "compact", "delete.retention.ms": "0", "segment.bytes": "1024"}
    with Log(str(tmp_path), background=False) as log:
        log.create_topic("t", 1, config)
        p = log.partition("t", 0)
        p.append_records([b"a%d" % i for i in range(10)], [b"v"] * 10)  # 0..9
        log.groups.commit("g", {tp: 10})
        p.append_records([b"a%d" % i for i in range(5)], [None] * 5)  # 10..14: deletes
        p.roll()
        now = int(time.time() * 1000)
        log.run_maintenance(now=now, force_compaction=True)
        log.run_maintenance(now=now + 10, force_compaction=True)  # the tombstones dropped
        assert max(r.offset for r in p.scan()) < 10 and p.high_watermark == 15
    with Log(str(tmp_path), background=False, read_only=read_only) as log:
        c = log.consumer(group_id=None if read_only else "g")
        c.assign([tp])
        if read_only:
            c.seek(tp, 10)
        started = time.process_time()
        assert c.poll(0.5) == []
        assert c.position(tp) == 15 and c.lag() == {tp: 0}
        assert time.process_time() - started < 0.25  # (waited, not spun)


def test_a_compacted_topic_refuses_records_without_a_key(log: Log) -> None:
    # (they were taken and kept for ever: compaction keeps the newest record per key, and a
    # record without one has none; Kafka's broker refuses them)
    from hub.log import KeylessRecordError
    from hub.log.packed import Packed

    log.create_topic("c", 1, {"cleanup.policy": "compact"})
    prod = log.producer()
    for send in (
        lambda: prod.send("c", b"v"),
        lambda: prod.send_many("c", [b"v", b"w"], keys=[b"k", None]),
        lambda: prod.send_many("c", [b"v"]),
        lambda: prod.send_packed(Packed(b"v", b"\x01\x00\x00\x00", None, None, 0, 1, None), "c"),
        lambda: log.partition("c", 0).append_records([None], [b"v"]),
    ):
        with pytest.raises(KeylessRecordError, match="'c' is compacted"):
            send()
    prod.send_many("c", [b"v"], keys=[b"k"])
    prod.flush()
    assert [r.key for r in log.partition("c", 0).scan()] == [b"k"]


def test_a_damaged_segment_holds_up_no_other_partitions_retention(tmp_path: Path) -> None:
    """A batch of a compacted partition's sealed segment that fails its CRC failed every
    maintenance pass at that partition, with a CRC mismatch naming no file: retention of
    the partitions after it never ran again (the disk filled)."""
    from hub.log import CorruptRecordError

    d = str(tmp_path / "data")
    log = Log(d, maintenance_interval_ms=None)
    log.create_topic("a", 1, {**COMPACT, "segment.bytes": "1024"})
    log.create_topic("b", 1, {"segment.bytes": "1024", "retention.bytes": "2048"})
    for i in range(60):
        log.partition("a", 0).append_records([b"k%d" % (i % 5)], [b"value-%d" % i + b"." * 40])
    for i in range(200):
        log.partition("b", 0).append_records([None], [b"b-%d" % i + b"." * 40])
    log.close()
    seg0 = os.path.join(d, "a", "0", "00000000000000000000.log")
    with open(seg0, "r+b") as f:  # a byte of a record of a's first segment
        f.seek(70)
        b = f.read(1)
        f.seek(70)
        f.write(bytes([b[0] ^ 0xFF]))
    log = Log(d, maintenance_interval_ms=None)
    try:
        b_part = log.partition("b", 0)
        before = b_part.size_bytes()
        with pytest.raises(CorruptRecordError) as failed:
            log.run_maintenance(force_compaction=True)
        assert failed.value.path == seg0 and failed.value.position == 0
        assert b_part.size_bytes() <= 2048 + 1024 < before  # b's retention ran all the same
    finally:
        log.close()
