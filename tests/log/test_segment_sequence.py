"""The segments a partition opens with: what a crash or damage leaves must not cost the newest
records, nor hand their offsets out again (a consumer committed past them would skip the new
records silently)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.log import CorruptRecordError, Log, TopicPartition

TP = TopicPartition("t", 0)

CHILD = r"""
import os, sys
from hub.log import Log
import hub.log.segment as segment
log = Log(sys.argv[1], background=False, maintenance_interval_ms=None)
log.create_topic("t", 1)
prod = log.producer()
prod.send_many("t", [b"record-%d" % i for i in range(5)], partition=0)
prod.flush()  # durable, acknowledged
segment.LogSegment.seal = lambda self: os._exit(137)  # killed while rolling
log.partition("t", 0).roll()
"""


def _records(data: Path) -> list[tuple[int, bytes | None]]:
    with Log(str(data), background=False) as log:
        consumer = log.consumer(auto_offset_reset="earliest")
        consumer.assign([TP])
        out = []
        while batch := consumer.poll(0):
            out.extend((r.offset, r.value) for r in batch)
        return out


def _segments(data: Path) -> list[str]:
    return sorted(n for n in os.listdir(data / "t" / "0") if n.endswith(".log"))


def test_a_roll_killed_before_the_seal_keeps_the_segment(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], env=env, timeout=60)
    assert r.returncode == 137
    assert _records(tmp_path) == [(i, b"record-%d" % i) for i in range(5)]


def _three_segments(data: Path, config: dict[str, str] | None = None) -> None:
    with Log(str(data), background=False) as log:
        log.create_topic("t", 1, config or {})
        prod = log.producer()
        for i in range(3):
            prod.send_many("t", [b"seg%d-%d" % (i, j) for j in range(2)], partition=0)
            prod.flush()
            if i < 2:
                log.partition("t", 0).roll()


def test_a_sealed_segment_without_its_index_gets_it_made_again(tmp_path: Path) -> None:
    # (a sealed segment without one was set aside whole: 2 acknowledged records gone)
    _three_segments(tmp_path)
    os.unlink(tmp_path / "t" / "0" / "00000000000000000000.index")
    want = [(i * 2 + j, b"seg%d-%d" % (i, j)) for i in range(3) for j in range(2)]
    assert _records(tmp_path) == want
    assert os.path.exists(tmp_path / "t" / "0" / "00000000000000000000.index")
    assert _records(tmp_path) == want


def test_a_damaged_index_of_an_older_segment_never_sets_the_newest_aside(tmp_path: Path) -> None:
    # (its last entry pointing past the file read as "that segment ends at its base": the
    # active segment was set aside, and the next appends took its offsets again)
    with Log(str(tmp_path), background=False) as log:
        log.create_topic("t", 1, {"index.interval.bytes": "1"})
        prod = log.producer()
        for i in range(4):  # four batches: three index entries
            prod.send("t", b"old-%d" % i, partition=0)
            prod.flush()
        log.partition("t", 0).roll()
        prod.send_many("t", [b"new-4", b"new-5"], partition=0)
        prod.flush()
    index = tmp_path / "t" / "0" / "00000000000000000000.index"
    raw = bytearray(index.read_bytes())
    raw[-4] ^= 0x40  # the last entry's position, far past the end of the file
    index.write_bytes(bytes(raw))
    with Log(str(tmp_path), background=False) as log:
        assert log.partition("t", 0).log_end_offset == 6  # (past 4 and 5)
        prod = log.producer()
        prod.send("t", b"after", partition=0)
        prod.flush()
    got = _records(tmp_path)
    assert [o for o, _ in got] == list(range(7)) and got[-1] == (6, b"after")


def test_a_partition_left_without_segments_starts_past_what_it_handed_out(
    tmp_path: Path,
) -> None:
    # (its only segment set aside, it started again at 0: offsets below every consumer's)
    _three_segments(tmp_path)
    part = tmp_path / "t" / "0"
    for name in _segments(tmp_path)[:-1]:
        for suffix in (".log", ".index", ".timeindex"):
            (part / name.replace(".log", suffix)).unlink(missing_ok=True)
    last = part / _segments(tmp_path)[-1]  # 4, holding offsets 4 and 5
    raw = bytearray(last.read_bytes())
    raw[7] ^= 0x04  # its first batch's base offset (outside the CRC): 4 -> 0
    last.write_bytes(bytes(raw))
    with Log(str(tmp_path), background=False) as log:
        assert log.partition("t", 0).log_end_offset == 6  # (past 4 and 5)


def test_a_damaged_base_offset_fails_the_reader_instead_of_stalling_it(tmp_path: Path) -> None:
    # (outside the CRC: a batch that said 1026 stopped a consumer at offset 2 with no error)
    with Log(str(tmp_path), background=False) as log:
        log.create_topic("t", 1, {"index.interval.bytes": "1"})
        prod = log.producer()
        for i in range(6):
            prod.send("t", b"r%d" % i, partition=0)
            prod.flush()
    seg = tmp_path / "t" / "0" / "00000000000000000000.log"
    raw = bytearray(seg.read_bytes())
    pos = 0
    for _ in range(2):  # the third batch
        pos += int.from_bytes(raw[pos + 8 : pos + 12], "big") + 12
    raw[pos + 6] ^= 0x04  # its base offset: 2 -> 1026
    seg.write_bytes(bytes(raw))
    with Log(str(tmp_path), background=False) as log:
        consumer = log.consumer(auto_offset_reset="earliest")
        consumer.assign([TP])
        got = []
        with pytest.raises(CorruptRecordError):
            for _ in range(10):
                got.extend(r.offset for r in consumer.poll(0))
        assert got == [0, 1]


def test_a_damaged_time_index_is_not_used(tmp_path: Path) -> None:
    # (a derived file, unchecked: one entry out of order made time lookups skip records)
    def times() -> list[int | None]:
        with Log(str(tmp_path), background=False) as log:
            part = log.partition("t", 0)
            return [part.offset_for_timestamp(ts) for ts in range(995, 1110, 3)]

    with Log(str(tmp_path), background=False) as log:
        log.create_topic("t", 1, {"index.interval.bytes": "1"})
        prod = log.producer()
        for b in range(10):
            stamps = [1000 + 10 * b + i for i in range(3)]
            prod.send_many("t", [b"v%d" % i for i in range(3)], timestamps=stamps, partition=0)
            prod.flush()
        log.partition("t", 0).roll()
        prod.send_many("t", [b"tail"], timestamps=5000, partition=0)
        prod.flush()
    want = times()
    index = tmp_path / "t" / "0" / "00000000000000000000.timeindex"
    raw = bytearray(index.read_bytes())
    raw[11] ^= 0x10  # the first entry's offset, 16 past its own (and the next entry's)
    index.write_bytes(bytes(raw))
    assert times() == want


def test_a_file_put_between_two_segments_is_set_aside(tmp_path: Path) -> None:
    # (a sealed segment without an index gets one made again: only if it fits there)
    _three_segments(tmp_path)
    part = tmp_path / "t" / "0"
    stray = part / "00000000000000000003.log"
    stray.write_bytes((part / "00000000000000000004.log").read_bytes())  # offsets 4 and 5
    want = [(i * 2 + j, b"seg%d-%d" % (i, j)) for i in range(3) for j in range(2)]
    assert _records(tmp_path) == want
    assert not stray.exists() and (part / "00000000000000000003.log.quarantined").exists()


def test_an_empty_newest_segment_after_one_that_lost_its_tail_keeps_the_log_end(
    tmp_path: Path,
) -> None:
    # (the empty segment a roll made was set aside as "past the end of the one before", and
    # the damaged one's end became the log end: offsets 3 and 4 were handed out again)
    with Log(str(tmp_path), background=False) as log:
        log.create_topic("t", 1)
        prod = log.producer()
        for i in range(5):
            prod.send("t", b"old-%d" % i, partition=0)
            prod.flush()
        log.partition("t", 0).roll()  # the active segment starts at 5, empty
    part = tmp_path / "t" / "0"
    assert _segments(tmp_path) == ["00000000000000000000.log", "00000000000000000005.log"]
    with Log(str(tmp_path), background=False) as log:  # where the fourth batch starts
        positions = [p for p, _ in log.partition("t", 0).segments[0].iter_batches(0)]
    first = part / "00000000000000000000.log"
    os.truncate(first, positions[3])  # damage: the sealed segment loses offsets 3 and 4
    with Log(str(tmp_path), background=False) as log:
        assert log.partition("t", 0).log_end_offset == 5
        prod = log.producer()
        prod.send("t", b"after", partition=0)
        prod.flush()
    with Log(str(tmp_path), background=False) as log:
        consumer = log.consumer(auto_offset_reset="earliest")
        consumer.assign([TP])
        consumer.seek(TP, 5)  # where a consumer that had read 3 and 4 goes on
        assert [(r.offset, r.value) for r in consumer.poll(0)] == [(5, b"after")]
        consumer.seek(TP, 0)  # the damage is reported where it is, not skipped
        assert [r.value for r in consumer.poll(0)] == [b"old-0", b"old-1", b"old-2"]
        with pytest.raises(CorruptRecordError, match="offsets 3..4 are missing"):
            consumer.poll(0)
