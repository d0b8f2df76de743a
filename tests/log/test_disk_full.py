"""Disk full on a real (tiny) tmpfs: a failed write rolls the partition back to its last
durable batch, says where and how much, and once space returns every record is there once.

Needs root to mount (CI runs as root); without it the tests fail, they are never skipped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys

import pytest

from hub.log import Log, LogStorageError, TopicPartition
from tests.fixtures.tmpfs import Tmpfs

TP = TopicPartition("t", 0)
CHUNK = 200  # records per send


def _values(start: int, n: int) -> list[bytes | None]:
    return [b"%010d" % i + b"v" * 90 for i in range(start, start + n)]


def _read_all(data: str) -> list[bytes | None]:
    """Every record value, read by a separate read-only opening of the directory."""
    with Log(data, read_only=True) as log:
        c = log.consumer(auto_offset_reset="earliest")
        c.assign([TP])
        out: list[bytes | None] = []
        while batch := c.poll(0):
            out.extend(r.value for r in batch)
        return out


def _fill_until_full(log: Log) -> tuple[int, LogStorageError]:
    """Send and flush chunks until the disk is full; returns the records acknowledged."""
    prod = log.producer()
    acked = 0
    for _ in range(10_000):
        try:
            prod.send_many("t", _values(acked, CHUNK), partition=0)
            prod.flush()
        except LogStorageError as exc:
            return acked, exc
        acked += CHUNK
    raise AssertionError("the 1 MB tmpfs never filled up")


def _segment_bytes(part_dir: str) -> int:
    names = [n for n in os.listdir(part_dir) if n.endswith(".log")]
    return sum(os.path.getsize(os.path.join(part_dir, n)) for n in names)


@pytest.mark.parametrize("segment_bytes", [None, "65536"], ids=["one-segment", "rolling"])
def test_disk_full_rolls_back_to_the_last_durable_batch_and_resumes_exactly(
    tmpfs_dir: Tmpfs, segment_bytes: str | None
) -> None:
    data = str(tmpfs_dir.path / "data")
    config = {"segment.bytes": segment_bytes} if segment_bytes else {}
    log = Log(data, background=False)
    try:
        log.create_topic("t", 1, config)
        part = log.partition("t", 0)
        acked, err = _fill_until_full(log)
        assert acked > 0
        # one clear error: the directory, the bytes it needed and the bytes free
        assert err.errno == errno.ENOSPC
        assert err.directory == part.directory
        assert part.directory in str(err) and "no space left on device" in str(err)
        assert err.needed > err.free >= 0
        assert f"{err.needed} bytes" in str(err) and f"{err.free} bytes free" in str(err)
        # the partition is back at its last durable batch, in memory and on disk
        assert part.log_end_offset == part.high_watermark == acked
        assert not part.active._pending
        assert part.active.size == part.active.durable_size
        assert _segment_bytes(part.directory) == sum(s.size for s in part.segments)
        assert _read_all(data) == _values(0, acked)

        # still full: it fails again, and still nothing half-written stays
        prod = log.producer()
        with pytest.raises(LogStorageError):
            prod.send_many("t", _values(acked, CHUNK), partition=0)
            prod.flush()
        assert part.log_end_offset == part.high_watermark == acked

        tmpfs_dir.resize("20m")  # space returns: the same records again, then more
        prod = log.producer()
        for start in range(acked, acked + 5 * CHUNK, CHUNK):
            prod.send_many("t", _values(start, CHUNK), partition=0)
            prod.flush()
        total = acked + 5 * CHUNK
    finally:
        log.close()
    assert _read_all(data) == _values(0, total)
    with Log(data, background=False) as log:  # reopened: indexes find every offset
        c = log.consumer()
        c.assign([TP])
        for offset in (0, acked - 1, acked, total - 1):
            c.seek(TP, offset)
            assert c.poll(0)[0].value == _values(offset, 1)[0]
        assert log.partition("t", 0).log_end_offset == total


def test_a_producer_learns_of_a_rollback_another_flush_made(tmpfs_dir: Tmpfs) -> None:
    """The log's background flusher may be the one that hits the full disk: the producer
    whose records it dropped must not see its next flush succeed."""
    data = str(tmpfs_dir.path / "data")
    with Log(data, background=False) as log:
        log.create_topic("t", 1)
        part = log.partition("t", 0)
        prod = log.producer()
        sent = 0
        while True:  # appended, not flushed by the producer
            prod.send_many("t", _values(sent, CHUNK), partition=0)
            sent += CHUNK
            try:
                part.flush()  # what the background flusher does
            except LogStorageError:
                break
        durable = part.high_watermark
        assert part.log_end_offset == durable < sent
        with pytest.raises(LogStorageError):
            prod.flush()
        other = log.producer()  # a producer that appended nothing before is not concerned
        tmpfs_dir.resize("20m")
        other.send_many("t", _values(durable, sent - durable), partition=0)
        other.flush()
    assert _read_all(data) == _values(0, sent)


def test_a_producer_whose_records_were_rolled_back_stays_failed(tmpfs_dir: Tmpfs) -> None:
    """Its next flush finds nothing left to write: were it to succeed, a caller would take
    it for the records being durable (the source runner stored offsets past them)."""
    data = str(tmpfs_dir.path / "data")
    with Log(data) as log:
        log.create_topic("t", 1)
        prod = log.producer()
        acked, first = _fill_until_full(log)
        prod.send_many("t", _values(acked, CHUNK), partition=0)
        with pytest.raises(LogStorageError):
            prod.flush()
        tmpfs_dir.resize("20m")  # space is back, but these records are gone all the same
        with pytest.raises(LogStorageError):
            prod.flush()
        with pytest.raises(LogStorageError):
            prod.send_many("t", _values(0, 1), partition=0)
        fresh = log.producer()  # a new producer writes again
        fresh.send_many("t", _values(acked, CHUNK), partition=0)
        fresh.flush()
    assert len(_read_all(data)) == acked + CHUNK
    assert first.errno == errno.ENOSPC


def test_a_durable_append_whose_batch_another_flush_dropped_raises(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the log's flusher failed while a group commit waited for it: the rollback dropped the
    # commit's record, and the commit then found nothing to write and returned as done; the
    # runtime writes configs, source offsets and status this way)
    import threading
    import time

    real = os.fdatasync
    gate, armed = threading.Event(), [True]

    def fdatasync(fd: int) -> None:
        if armed[0] and threading.current_thread().name == "hub-log":
            armed[0] = False
            gate.wait(5)
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    data = str(tmp_path)
    log = Log(data)  # its background flusher
    log.create_topic("t", 1)
    log.groups.commit("g", {TP: 5})
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    offsets = log.partition("__consumer_offsets", 0)
    offsets.append_records([b"k"], [b"v"], flush=False)  # what the flusher takes first
    time.sleep(0.2)
    failed: list[BaseException] = []

    def commit() -> None:
        try:
            log.groups.commit("g", {TP: 42})
        except BaseException as exc:
            failed.append(exc)

    t = threading.Thread(target=commit)
    t.start()
    time.sleep(0.3)
    gate.set()
    t.join()
    assert failed and isinstance(failed[0], LogStorageError), failed
    assert log.groups.committed("g", TP).offset == 5  # type: ignore[union-attr]
    log.close()
    monkeypatch.undo()
    with Log(data) as log:
        assert log.groups.committed("g", TP).offset == 5  # type: ignore[union-attr]


def test_a_rollback_that_cannot_cut_the_file_stops_the_partitions_writes(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (a short write, then the rollback's ftruncate failing too (EIO, or a filesystem gone
    # read-only): the high watermark moved over records never written, and later acknowledged
    # records stood behind the hole, cut at the next start)
    data = str(tmp_path)
    log = Log(data, flush_interval_ms=None)
    log.create_topic("t", 1)
    prod = log.producer()
    prod.send_many("t", [b"old-%d" % i for i in range(10)], partition=0)
    prod.flush()
    real_pwritev, real_pwrite = os.pwritev, os.pwrite
    armed = [True]

    def pwritev(fd: int, bufs: list[bytes], pos: int) -> int:
        if armed[0]:
            blob = b"".join(bytes(b) for b in bufs)
            return real_pwrite(fd, blob[: len(blob) // 2], pos)  # a short write
        return real_pwritev(fd, bufs, pos)

    def pwrite(fd: int, blob: bytes, pos: int) -> int:
        if armed[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, blob, pos)

    def ftruncate(fd: int, n: int) -> None:
        armed[0] = False  # the fault ends here
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "pwritev", pwritev)
    monkeypatch.setattr(os, "pwrite", pwrite)
    monkeypatch.setattr(os, "ftruncate", ftruncate)
    a = log.producer()
    a.send_many("t", [b"a-%d" % i for i in range(10)], partition=0)
    with pytest.raises(LogStorageError):
        a.flush()
    monkeypatch.undo()
    assert log.watermarks(TP) == (0, 10)
    b = log.producer()
    with pytest.raises(LogStorageError, match="no writes until the log is opened again"):
        b.send_many("t", [b"b-%d" % i for i in range(10)], partition=0)
        b.flush()
    log.close()
    with Log(data) as log:  # opened again: writes go on after the durable records
        prod = log.producer()
        prod.send_many("t", [b"c-%d" % i for i in range(3)], partition=0)
        prod.flush()
        c = log.consumer(auto_offset_reset="earliest")
        c.assign([TP])
        got = [r.value for r in c.poll(1)]
    assert got == [b"old-%d" % i for i in range(10)] + [b"c-%d" % i for i in range(3)]


def test_closing_on_a_full_disk_closes_every_topic_and_frees_the_directory(
    tmpfs_dir: Tmpfs, caplog: pytest.LogCaptureFixture
) -> None:
    # (an index that could not be written made close() raise a bare OSError at the first
    # topic: the others were never flushed, the directory stayed locked by this process)
    data = str(tmpfs_dir.path / "data")
    log = Log(data, maintenance_interval_ms=None, flush_interval_ms=None)
    log.create_topic("a", 1, {"index.interval.bytes": "1"})
    log.create_topic("b", 1)
    prod = log.producer()
    prod.send_many("a", [b"x" * 100], partition=0)
    prod.flush()  # (the .log has one page, its index is empty)
    filler = os.path.join(tmpfs_dir.path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # the disk full to the byte
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0" * 4096)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0")
    os.close(fd)
    prod.send_many("a", [b"y" * 100] * 3, partition=0)
    with caplog.at_level("ERROR", logger="hub.log"):
        prod.flush()  # (fits the page; the index cannot grow)
    # (reported as a rollback had been: "the partition is back at its last durable offset",
    # "0 records dropped", though the records were durable and nothing was taken back)
    [said] = [r.getMessage() for r in caplog.records if "00000000000000000000.index" in
              r.getMessage()]  # fmt: skip
    assert "the records are durable and nothing was dropped" in said, said
    assert "back at its last durable offset" not in said and "were dropped" not in said
    other = log.producer()
    other.send_many("b", [b"z"], partition=0)  # appended, never acknowledged
    with pytest.raises(LogStorageError, match="while closing"):
        log.close()
    assert not os.path.exists(os.path.join(data, ".clean_shutdown"))
    os.unlink(filler)
    with Log(data) as log:  # (the lock is free: opened again in this process)
        got = {}
        for topic in ("a", "b"):
            c = log.consumer(auto_offset_reset="earliest")
            c.assign([TopicPartition(topic, 0)])
            got[topic] = [r.value for r in c.poll(1)]
    assert got["a"] == [b"x" * 100] + [b"y" * 100] * 3
    assert got["b"] in ([], [b"z"])  # (no room for it: dropped, as never acknowledged)


def test_a_log_closed_cleanly_opens_for_writing_on_a_full_disk(tmpfs_dir: Tmpfs) -> None:
    # (every open cut the time index's last entries through a rewrite, which needed room:
    # the worker could not start on a full volume, with a bare OSError)
    data = str(tmpfs_dir.path / "data")
    with Log(data, maintenance_interval_ms=None) as log:
        log.create_topic("t", 1, {"index.interval.bytes": "4096"})
        prod = log.producer()
        for i in range(200):  # (each batch a new max timestamp: a time index entry each)
            prod.send_many("t", [b"x" * 100] * 10, partition=0, timestamps=1_700_000_000_000 + i)
        prod.flush()
    fd = os.open(os.path.join(tmpfs_dir.path, "filler"), os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while True:
            os.write(fd, b"\0" * 4096)
    os.close(fd)
    with Log(data, maintenance_interval_ms=None) as log:
        assert log.watermarks(TP) == (0, 2000)
        assert log.offset_for_timestamp(TP, 1_700_000_000_150) == 1500


def test_a_reader_never_gets_records_a_failed_write_took_back(tmpfs_dir: Tmpfs) -> None:
    # (a read-only reader had been served the records written and not yet durable; the
    # rollback gave their offsets to other records, which the reader then never got, and it
    # reported damage in a healthy file)
    data = str(tmpfs_dir.path / "data")
    with Log(data, flush_interval_ms=None, background=False) as log:
        log.create_topic("t", 1)
        p = log.producer()
        p.send_many("t", [b"durable-%d" % i for i in range(3)], partition=0)
        p.flush()
        p.send_many("t", [b"ghost-%d" % i for i in range(3)], partition=0)
        p.flush(durable=False)
        with Log(data, read_only=True) as ro:
            c = ro.consumer(auto_offset_reset="earliest")
            c.assign([TP])
            got = [r.value for r in c.poll(0.2)]
            filler = os.path.join(tmpfs_dir.path, "filler")
            with open(filler, "wb") as f, contextlib.suppress(OSError):
                f.write(b"\0" * (2 << 20))  # (the disk is full)
            big = log.producer()
            big.send_many("t", [b"y" * 200_000], partition=0)
            with pytest.raises(LogStorageError):
                big.flush()  # fails: the partition is rolled back to its durable end
            assert log.partition("t", 0).log_end_offset == 3
            os.unlink(filler)
            real = log.producer()
            real.send_many("t", [b"real-%d" % i for i in range(5)], partition=0)
            real.flush()
            while batch := c.poll(0.5):
                got += [r.value for r in batch]
    assert got == [b"durable-%d" % i for i in range(3)] + [b"real-%d" % i for i in range(5)]


def _fill(directory: str, leave: int = 0) -> str:
    """Fill the file system under ``directory`` until ``leave`` bytes (rounded to pages) are
    free, to the byte when ``leave`` is 0; returns the filler's path."""
    filler = os.path.join(directory, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize > leave:
                os.write(fd, b"\0" * 4096)
        if not leave:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0")
    finally:
        os.close(fd)
    return filler


def test_a_log_killed_on_a_full_disk_opens_and_writes_its_index_once_space_returns(
    tmpfs_dir: Tmpfs,
) -> None:
    # (the rescan after an unclean stop wrote the index entries back, with no room for them:
    # the worker could not start, and said only "[Errno 28] No space left on device")
    data = str(tmpfs_dir.path / "data")
    writer = f"""if True:
        import os
        from hub.log import Log
        log = Log({data!r}, maintenance_interval_ms=None)
        log.create_topic("t", 1, {{"index.interval.bytes": "1"}})
        prod = log.producer()
        for i in range(50):  # (an index entry a batch)
            prod.send_many("t", [b"x%03d" % i * 30], partition=0,
                           timestamps=1_700_000_000_000 + i)
        prod.flush()
        for name in ("00000000000000000000.index", "00000000000000000000.timeindex"):
            os.truncate(os.path.join({data!r}, "t", "0", name), 0)  # (entries not written yet)
        os._exit(0)  # (what a kill -9 leaves: no .clean_shutdown)
    """
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=60)
    index = os.path.join(data, "t", "0", "00000000000000000000.index")
    assert os.path.getsize(index) == 0
    filler = _fill(str(tmpfs_dir.path))
    with Log(data, maintenance_interval_ms=None) as again:  # the full rescan cut the entries
        assert again.watermarks(TP) == (0, 50)
        assert again.offset_for_timestamp(TP, 1_700_000_000_040) == 40
        c = again.consumer(auto_offset_reset="earliest")
        c.assign([TP])
        c.seek(TP, 45)
        assert [r.value for r in c.poll(0)] == [b"x%03d" % i * 30 for i in range(45, 50)]
        os.unlink(filler)
        p = again.producer()
        p.send_many("t", [b"after"], partition=0)
        p.flush()  # (and the entries kept in memory with it)
        assert os.path.getsize(index) >= 49 * 8  # (every batch but the first: an entry)
    with Log(data, read_only=True) as ro:
        assert ro.watermarks(TP) == (0, 51)


def test_compaction_on_a_full_disk_gives_its_space_back_and_says_so(tmpfs_dir: Tmpfs) -> None:
    # (a failed pass kept its partial copy's descriptor open: the file was unlinked by the
    # next pass, its blocks held until the process exited, and one more descriptor a pass;
    # the error was a bare OSError, logged with a traceback)
    tmpfs_dir.resize("8m")
    data = str(tmpfs_dir.path / "data")
    log = Log(data, maintenance_interval_ms=None)
    cfg = {"cleanup.policy": "compact", "segment.bytes": str(256 << 10),
           "min.cleanable.dirty.ratio": "0.01", "compression.type": "none"}  # fmt: skip
    log.create_topic("kv", 1, cfg)
    part = log.partition("kv", 0)
    for i in range(1500):  # ~1.5 MB, 6 sealed segments; every key unique: all of it kept
        part.append_records([b"k%d" % i], [os.urandom(1000)])
    free = os.statvfs(tmpfs_dir.path).f_bavail
    filler = _fill(str(tmpfs_dir.path), leave=100_000)  # room for part of one copy only

    def cleaned_open() -> list[str]:
        out = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                out.append(os.readlink(f"/proc/self/fd/{fd}"))
        return [path for path in out if ".cleaned" in path]

    for _ in range(3):
        with pytest.raises(LogStorageError, match="while compacting") as failed:
            log.run_maintenance(force_compaction=True)
        assert failed.value.errno == errno.ENOSPC
        assert "the pass is dropped" in str(failed.value)
        assert "back at its last durable offset" not in str(failed.value)
        assert cleaned_open() == []
        assert not [n for n in os.listdir(os.path.join(data, "kv", "0")) if "cleaned" in n]
    os.unlink(filler)
    assert os.statvfs(tmpfs_dir.path).f_bavail == free  # every block of the copies back
    log.close()


def test_a_topic_not_created_on_a_full_disk_is_named_and_leaves_nothing(
    tmpfs_dir: Tmpfs,
) -> None:
    data = str(tmpfs_dir.path / "data")
    with Log(data, maintenance_interval_ms=None) as log:
        log.create_topic("a", 1)
        filler = _fill(str(tmpfs_dir.path))
        with pytest.raises(LogStorageError, match="while creating topic 'b'") as failed:
            log.create_topic("b", 1)
        assert "the topic is not created" in str(failed.value)
        assert "topic.json" in str(failed.value)
        assert not os.path.exists(os.path.join(data, "b"))
        os.unlink(filler)
        log.create_topic("b", 1)
        assert log.has_topic("b")
