"""Recovery of the active segment: torn tails, flipped bytes, stale indexes.

Every case reopens a real data directory and checks what a reader gets: exactly the intact
batches before the damage, nothing corrupt, and appends continuing at the right offset.
"""

from __future__ import annotations

import os

import pytest

from hub.log import CorruptRecordError, Log, TopicPartition
from hub.log.batch import HEADER_SIZE

TP = TopicPartition("t", 0)


def _write(data_dir: str, batches: int = 12, per_batch: int = 3) -> list[tuple[int, int, int]]:
    """Write ``batches`` batches; returns (start, end, next_offset) byte ranges of each."""
    with Log(data_dir, background=False) as log:
        log.create_topic("t", 1, {"index.interval.bytes": "200"})
        prod = log.producer()
        for b in range(batches):
            prod.send_many(
                "t",
                [b"value-%d-%d" % (b, i) * (1 + b % 3) for i in range(per_batch)],
                keys=[b"k%d" % i for i in range(per_batch)],
                timestamps=1_000 + b,
                partition=0,
            )
            prod.flush()
    seg = _segment(data_dir)
    ranges = []
    pos, offset = 0, 0
    with open(seg, "rb") as f:
        blob = f.read()
    while pos < len(blob):
        size = int.from_bytes(blob[pos + 8 : pos + 12], "big") + 12
        offset += per_batch
        ranges.append((pos, pos + size, offset))
        pos += size
    return ranges


def _segment(data_dir: str) -> str:
    return os.path.join(data_dir, "t", "0", "00000000000000000000.log")


def _read_all(data_dir: str) -> list[bytes | None]:
    with Log(data_dir, background=False) as log:
        c = log.consumer(auto_offset_reset="earliest")
        c.assign([TP])
        out = []
        while batch := c.poll(0):
            out.extend(r.value for r in batch)
        return out


def _unclean(data_dir: str) -> None:
    os.unlink(os.path.join(data_dir, ".clean_shutdown"))


@pytest.mark.parametrize("clean_marker", [False, True])
def test_truncation_at_every_byte_keeps_exactly_the_whole_batches(tmp_path, clean_marker) -> None:
    src = str(tmp_path / "src")
    ranges = _write(src, batches=6)
    with open(_segment(src), "rb") as f:
        blob = f.read()
    expected_all = _read_all(src)
    for cut in range(0, len(blob) + 1, 3):
        d = str(tmp_path / f"cut{cut}")
        os.system(f"cp -r {src} {d}")
        if not clean_marker:
            _unclean(d)
        with open(_segment(d), "r+b") as f:
            f.truncate(cut)
        whole = [r for r in ranges if r[1] <= cut]
        n_records = whole[-1][2] if whole else 0
        with Log(d, background=False) as log:
            part = log.partition("t", 0)
            assert part.log_end_offset == n_records, cut
            assert os.path.getsize(_segment(d)) == (whole[-1][1] if whole else 0)
            # appends continue right after the last intact batch
            log.producer().send_many("t", [b"after"], partition=0)
            log.flush()
        values = _read_all(d)
        assert values == expected_all[:n_records] + [b"after"], cut


def test_flipped_byte_is_never_delivered(tmp_path) -> None:
    src = str(tmp_path / "src")
    ranges = _write(src, batches=5)
    expected = _read_all(src)
    size = os.path.getsize(_segment(src))
    for i in range(size):
        start = next(r for r in ranges if r[0] <= i < r[1])
        if 12 <= i - start[0] < 16:  # partitionLeaderEpoch: outside the CRC and unused
            continue
        d = str(tmp_path / f"flip{i}")
        os.system(f"cp -r {src} {d}")
        _unclean(d)
        with open(_segment(d), "r+b") as f:
            f.seek(i)
            b = f.read(1)
            f.seek(i)
            f.write(bytes([b[0] ^ 0x40]))
        got = _read_all(d)
        # a prefix of the original records, cut at the damaged batch, and nothing altered
        damaged = ranges.index(start)
        keep = ranges[damaged - 1][2] if damaged else 0
        assert got == expected[:keep], i


def test_flip_before_the_tail_after_clean_shutdown_raises_instead_of_serving(tmp_path) -> None:
    """With a clean-shutdown marker only the tail is rescanned; a corrupt batch further back
    is caught by the CRC check on read and never handed out."""
    d = str(tmp_path / "d")
    ranges = _write(d, batches=8)
    with open(_segment(d), "r+b") as f:
        f.seek(ranges[1][0] + HEADER_SIZE + 2)
        f.write(b"\xff")
    with Log(d, background=False) as log:
        c = log.consumer(auto_offset_reset="earliest")
        c.assign([TP])
        first = c.poll(0, max_records=3)
        assert [r.offset for r in first] == [0, 1, 2]
        with pytest.raises(CorruptRecordError) as err:
            while c.poll(0):
                pass
        assert "CRC32C" in str(err.value) and "00000000000000000000.log" in str(err.value)


def test_index_pointing_past_the_end_is_repaired(tmp_path) -> None:
    d = str(tmp_path / "d")
    ranges = _write(d, batches=12)
    index = _segment(d).replace(".log", ".index")
    assert os.path.getsize(index) >= 16, "the test needs a few index entries"
    keep = ranges[3][1]
    with open(_segment(d), "r+b") as f:
        f.truncate(keep)
    with open(index, "ab") as f:  # and a garbage entry half-written
        f.write(b"\x00\x00\x01")
    with Log(d, background=False) as log:
        part = log.partition("t", 0)
        assert part.log_end_offset == ranges[3][2]
        for _off, pos in part.active.index.entries():
            assert pos < keep
        # every offset is still found through the repaired index
        for off in range(part.log_end_offset):
            recs, _ = part.records(off)
            assert recs[0].offset == off


def test_kill_9_mid_write_loses_only_unflushed_records(tmp_path) -> None:
    import signal
    import subprocess
    import sys
    import textwrap

    d = str(tmp_path / "d")
    script = textwrap.dedent(
        f"""
        import sys
        from hub.log import Log
        log = Log({d!r}, background=False)
        log.create_topic("t", 1)
        p = log.producer()
        i = 0
        while True:
            p.send_many("t", [b"%08d" % j for j in range(i, i + 100)], partition=0)
            p.flush()
            i += 100
            print(i, flush=True)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        acked = int(line)
        if acked >= 3000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    values = _read_all(d)
    assert len(values) >= acked  # every acknowledged (flushed) record survived
    assert values == [b"%08d" % j for j in range(len(values))]  # in order, no gap, no dup


def test_offsets_cut_with_damage_are_never_handed_out_again(tmp_path) -> None:
    # (a group that committed past the damage resumed there, and the new records given the
    # cut offsets again were never delivered to it: 50 of 60 in the review's run)
    d = str(tmp_path / "d")
    ranges = _write(d, batches=10)
    with Log(d, background=False) as log:
        group = log.consumer(group_id="g", auto_offset_reset="earliest")
        group.assign([TP])
        while group.poll(0):
            pass
        group.commit()
        group.close()
    _unclean(d)
    start, end, _ = ranges[5]  # one byte of the 6th batch goes bad on disk
    with open(_segment(d), "r+b") as f:
        f.seek((start + end) // 2)
        b = f.read(1)
        f.seek((start + end) // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    with Log(d, background=False) as log:
        assert log.watermarks(TP)[1] == 30  # past every offset the segment held
        log.producer().send_many("t", [b"new-%d" % i for i in range(20)], partition=0)
        log.flush()
        group = log.consumer(group_id="g", auto_offset_reset="earliest")
        group.assign([TP])
        got = [r.value for r in group.poll(0)]
        assert got == [b"new-%d" % i for i in range(20)]
    with Log(d, background=False) as log:  # and the same after the next start
        assert log.watermarks(TP) == (0, 50)
        assert [r.value for r in log.scan(TP, 30, 50)] == [b"new-%d" % i for i in range(20)]
        # a reader behind the damage reads on past the cut (reported; it had stopped for good)
        assert [r.offset for r in log.scan(TP, 12, 50)] == [12, 13, 14, *range(30, 50)]
        behind = log.consumer(group_id="behind", auto_offset_reset="earliest")
        behind.assign([TP])
        behind.seek(TP, 9)
        got = []
        while batch := behind.poll(0):
            got += [r.offset for r in batch]
        assert got == [*range(9, 15), *range(30, 50)]


@pytest.mark.parametrize("killed_in", ["_go_on_after", "cut", "before the cut"])
def test_a_kill_while_recovery_cuts_damage_hands_out_no_offset_again(
    tmp_path, killed_in: str
) -> None:
    """The segment new records start in, past the intact batches a cut removes with the
    damage, was made after the cut: a process killed in between (a few fsyncs) left no
    trace of those offsets, and the next open handed out 15..29 again."""
    import subprocess
    import sys

    d = str(tmp_path / "d")
    ranges = _write(d, batches=10)
    _unclean(d)
    start, end, _ = ranges[5]
    with open(_segment(d), "r+b") as f:
        f.seek((start + end) // 2)
        b = f.read(1)
        f.seek((start + end) // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    # killed right after the file is cut, or in the making of the new segment
    kill = ("import os, sys; import hub.log.partition as P; "
            + ("P.Partition._go_on_after = lambda self, reach: os._exit(137); "
               if killed_in == "_go_on_after" else
               "real = os.ftruncate; os.ftruncate = lambda fd, n: (real(fd, n), "
               "os.readlink(f'/proc/self/fd/{fd}').endswith('.log') and os._exit(137)); "
               if killed_in == "cut" else  # (and before it: the damage stays, noted)
               "real = os.ftruncate; os.ftruncate = lambda fd, n: ("
               "os.readlink(f'/proc/self/fd/{fd}').endswith('.log') and os._exit(137), "
               "real(fd, n)); ")
            + "from hub.log import Log; Log(sys.argv[1], background=False)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", kill, d]).returncode == 137
    with Log(d, background=False) as log:
        assert log.watermarks(TP)[1] == 30
        log.producer().send_many("t", [b"new"], partition=0)
        log.flush()
        assert [r.offset for r in log.scan(TP, 12, 31)] == [12, 13, 14, 30]


def test_a_cut_readers_read_past_outlives_the_rotation_of_recovery_notes(tmp_path) -> None:
    # (only the last ten notes were kept: ten crashes mid-write later, the cut's note was gone
    # and a group behind it stuck on CorruptRecordError again)
    from hub.log import recovery

    d = str(tmp_path)
    cut = recovery.Truncation(os.path.join(d, "x.log"), 10, 500, 15, 29, "CRC32C mismatch")
    recovery.report(d, cut)
    for i in range(12):
        torn = recovery.Truncation(os.path.join(d, "x.log"), 900 + i, 7, 40 + i, None, "torn")
        recovery.report(d, torn)
    notes = recovery.read_notes(d)
    assert len(notes) == recovery.KEEP_NOTES + 1
    assert (notes[0]["first_offset"], notes[0]["last_offset"]) == (15, 29)


def _flip_index_entry(index: str, entry: int) -> None:
    """One bit of an offset-index entry's position: it points a MiB further on."""
    with open(index, "r+b") as f:
        f.seek(entry * 8 + 4)
        pos = int.from_bytes(f.read(4), "big")
        f.seek(entry * 8 + 4)
        f.write((pos | 0x100000).to_bytes(4, "big"))


def _offsets_read(log: Log, topic: str) -> list[int]:
    """Every offset of the topic's partition 0, a small read at a time (each one looked up
    in the index, as a consumer with a small fetch size does)."""
    part = log.partition(topic, 0)
    out: list[int] = []
    offset = part.log_start_offset
    while offset < part.high_watermark:
        recs, nxt = part.records(offset, 200)
        out += [r.offset for r in recs]
        assert nxt > offset, f"stalled at {offset} below {part.high_watermark}"
        offset = nxt
    return out


@pytest.mark.parametrize("read_only", [False, True])
def test_an_index_entry_past_the_end_of_a_compacted_segment_skips_nothing(
    tmp_path, read_only: bool
) -> None:
    """The index is written without a checksum: one bit of an entry's position flipped had
    it point past the end of its .log, read as "no batch there"; in a compacted topic the
    records from that entry to the segment's end were then taken as compacted away and
    skipped, with no error. The segment is read from its start instead."""
    d = str(tmp_path / "d")
    with Log(d, background=False) as log:
        log.create_topic("c", 1, {"cleanup.policy": "compact", "segment.bytes": "4000",
                                  "index.interval.bytes": "200"})  # fmt: skip
        p = log.partition("c", 0)
        for i in range(100):
            p.append_records([b"key-%d" % i], [b"value-%d" % i + b"." * 40])
    index = os.path.join(d, "c", "0", "00000000000000000000.index")
    entries = os.path.getsize(index) // 8
    assert entries >= 3, "the test needs a few index entries"
    _flip_index_entry(index, entries - 1)
    with Log(d, read_only=read_only, background=False) as log:
        assert _offsets_read(log, "c") == list(range(100))


def test_an_index_entry_past_the_end_of_the_active_segment_stalls_no_reader(tmp_path) -> None:
    """The same in the active segment (after a clean shutdown only the index's last entry is
    checked): readers had stopped below the high watermark, with no error, and
    offset_for_timestamp had found nothing."""
    d = str(tmp_path / "d")
    _write(d, batches=12)
    _flip_index_entry(_segment(d).replace(".log", ".index"), 0)
    with Log(d, background=False) as log:
        assert _offsets_read(log, "t") == list(range(36))
        assert log.offset_for_timestamp(TP, 1_010) == 30


@pytest.mark.parametrize("where", ["base offset", "max timestamp"])
def test_a_damaged_batch_header_fails_a_search_by_time_instead_of_skipping(
    tmp_path, where: str
) -> None:
    """offset_for_timestamp (seek_to_time, `hub groups reset --to-datetime`, the REST API's
    messages by time) trusted a batch's header unchecked: one flipped bit of its base offset
    (outside the CRC) or of its max timestamp answered a later offset, skipping records a
    read of the same place refuses."""
    d = str(tmp_path / "d")
    ranges = _write(d, batches=12)
    start = ranges[5][0]
    # a high byte of the base offset (a later offset); the max timestamp made 8 ms earlier,
    # before the time searched for
    at, bit = (start + 3, 0x10) if where == "base offset" else (start + 42, 0x08)
    with open(_segment(d), "r+b") as f:
        f.seek(at)
        b = f.read(1)
        assert b[0] & bit or where == "base offset"
        f.seek(at)
        f.write(bytes([b[0] ^ bit]))
    with Log(d, read_only=True) as log:
        with pytest.raises(CorruptRecordError) as failed:
            log.offset_for_timestamp(TP, 1_005)
        assert failed.value.position == start


def test_a_search_by_time_past_what_is_written_finds_no_damage(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer's index holds the entries of batches appended and not yet written (the
    flusher's): a search by time reaching one had them taken for a damaged index (a warning
    telling to delete it, and a scan of the segment from its start under the lock)."""
    import logging

    log = Log(str(tmp_path / "d"), maintenance_interval_ms=None)
    try:
        log.create_topic("t", 1, {"index.interval.bytes": "1"})
        p = log.partition("t", 0)
        p.append_records([b"k"], [b"a" * 100], timestamp=1000)
        p.append_records([b"k"], [b"b" * 100], timestamp=2000)
        p.append_records([b"k"], [b"c" * 100], timestamp=3000, flush=False)
        with caplog.at_level(logging.WARNING):
            assert p.offset_for_timestamp(3001) is None
            assert p.offset_for_timestamp(1500) == 1
        assert "damaged" not in caplog.text
    finally:
        log.close()


def test_a_damaged_base_offset_at_an_index_entry_of_a_compacted_segment_is_refused(
    tmp_path,
) -> None:
    """A batch's base offset is outside its CRC. Where the index has an entry for the batch
    and the two disagree, the batch is damaged, not the index: the segment read from its
    start had delivered the batch's record under the offset it did not have."""
    import struct

    from hub.log.segment import LogSegment

    d = str(tmp_path / "d")
    with Log(d, maintenance_interval_ms=None) as log:
        log.create_topic("c", 1, {"cleanup.policy": "compact", "segment.bytes": "2000",
                                  "index.interval.bytes": "1"})  # fmt: skip
        p = log.partition("c", 0)
        for i in range(120):  # (keys repeat: compaction leaves gaps between survivors)
            p.append_records([b"k%d" % (i % 10) if i % 3 else b"u%d" % i], [b"v%d" % i])
        log.run_maintenance(force_compaction=True)
        sealed = [(s.base_offset, s.path) for s in p.segments[:-1]]
    target = None
    for base, path in sealed:  # a batch with an index entry and a gap after it
        seg = LogSegment(os.path.dirname(path), base, index_interval=1, active=False)
        batches = list(seg.iter_batches(0))
        indexed = {position for _, position in seg.index.entries()}
        seg.close()
        for (pos, h), (_, nxt) in zip(batches[1:], batches[2:], strict=False):
            if pos in indexed and h.last_offset + 2 < nxt.base_offset:
                target = (path, pos, h.base_offset)
                break
        if target:
            break
    assert target, "the test needs a batch with a gap after it"
    path, pos, base = target
    with open(path, "r+b") as f:
        f.seek(pos)
        f.write(struct.pack(">q", base + 1))
    with Log(d, maintenance_interval_ms=None) as log:
        with pytest.raises(CorruptRecordError) as failed:
            log.partition("c", 0).records(base, 1)
        assert failed.value.position == pos
