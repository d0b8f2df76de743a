"""Read-only readers next to a writer in another process, and how reads report damage.

The writer runs in a real second process (``Writer``: executes the snippets the test sends
over a pipe, one at a time), the reader in the test process, or the other way round when the
reader is the one that may die. No mocks: real files, real renames, real mappings.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.log import CorruptRecordError, Log, TopicPartition, codec
from hub.log import batch as B
from hub.log.errors import LogError
from hub.log.segment import LogSegment
from tests.helpers import as_made_before_topic_ids

ROOT = str(Path(__file__).resolve().parents[2])
ENV = dict(os.environ, PYTHONPATH=ROOT)
TP = TopicPartition("t", 0)

pytestmark = pytest.mark.integration

_DRIVER = r"""
import json, sys, traceback
from hub.log import Log
ns = {"Log": Log, "data": sys.argv[1]}
for line in sys.stdin:
    ns["result"] = None
    try:
        exec(json.loads(line), ns)
        out = {"ok": ns["result"]}
    except BaseException:
        out = {"error": traceback.format_exc()}
    print(json.dumps(out), flush=True)
"""


class Writer:
    """A writer process holding ``Log(data)`` as ``lg``; ``run`` executes code there and
    returns what the code put in ``result``."""

    def __init__(self, data: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _DRIVER, data],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
        )  # fmt: skip

    def run(self, code: str, timeout: float = 60) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(code) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"writer did not answer within {timeout}s: {code}"
        out = json.loads(self.proc.stdout.readline() or '{"error": "writer died"}')
        assert "error" not in out, out["error"]
        return out["ok"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "data")


@pytest.fixture
def writer(data: str) -> Iterator[Writer]:
    w = Writer(data)
    w.run("lg = Log(data, background=False)")
    yield w
    w.stop()


def _read_only_eval(data: str, code: str) -> Any:
    """Run ``code`` against ``p = Log(data, read_only=True).partition("t", 0)`` in a fresh
    process; returns its ``result``."""
    script = (
        "import json, sys\nfrom hub.log import Log\n"
        "p = Log(sys.argv[1], read_only=True).partition('t', 0)\n"
        f"{code}\nprint(json.dumps(result))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, data], capture_output=True, text=True, env=ENV, cwd=ROOT,
        timeout=120, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.splitlines()[-1])


def _batch(n: int, size: int, key: bytes | None = None) -> bytearray:
    recs, cnt, first, mx = codec.encode_records([key] * n, [b"x" * size] * n, None, 1)
    return B.build_batch(recs, cnt, first, mx)


def _positions(seg_path: str) -> list[int]:
    seg = LogSegment(
        os.path.dirname(seg_path), int(os.path.basename(seg_path)[:20]),
        index_interval=1 << 30, active=False,
    )  # fmt: skip
    try:
        return [pos for pos, _ in seg.iter_batches()]
    finally:
        seg.close()


def _seg(data: str, base: int, suffix: str = ".log") -> str:
    return os.path.join(data, "t", "0", f"{base:020d}{suffix}")


# -- 1. refresh must not skip what was written before a roll ----------------------------------
def test_reader_gets_records_written_between_its_last_refresh_and_a_roll(
    data: str, writer: Writer
) -> None:
    writer.run(
        "lg.create_topic('t', 1, {'segment.bytes': '4096'})\n"
        "prod = lg.producer(batch_records=1)\n"
        "def put(a, b):\n"
        "    for i in range(a, b):\n"
        "        prod.send('t', b'v%04d' % i + b'x' * 200); prod.flush()\n"
        "put(0, 3)"
    )
    reader = Log(data, read_only=True)
    c = reader.consumer(auto_offset_reset="earliest")
    c.assign([TP])
    got = [r.offset for r in c.poll(1.0)]
    assert got == [0, 1, 2]
    segments = writer.run("put(3, 40); result = len(lg.partition('t', 0).segments)")
    assert segments >= 3  # the records after 2 went to segment 0, then it rolled
    while recs := c.poll(0.3):
        got += [r.offset for r in recs]
    assert got == list(range(40))
    reader.close()


def test_reader_finds_timestamps_in_a_segment_sealed_since_its_last_refresh(
    data: str, writer: Writer
) -> None:
    writer.run(
        "lg.create_topic('t', 1, {'segment.bytes': '4096'})\n"
        "prod = lg.producer(batch_records=1)\n"
        "def put(a, b):\n"
        "    for i in range(a, b):\n"
        "        prod.send('t', b'x' * 200, timestamp=1000 + i); prod.flush()\n"
        "put(0, 3)"
    )
    reader = Log(data, read_only=True)
    part = reader.partition("t", 0)
    assert part.offset_for_timestamp(1001) == 1
    writer.run("put(3, 40)")
    part.refresh()
    assert [part.offset_for_timestamp(1000 + i) for i in (5, 10, 13, 30)] == [5, 10, 13, 30]
    reader.close()


def test_read_raises_instead_of_skipping_missing_offsets(data: str) -> None:
    with Log(data, background=False) as lg:
        lg.create_topic("t", 1, {"segment.bytes": "4096"})
        prod = lg.producer(batch_records=1)
        for i in range(40):
            prod.send("t", b"v%04d" % i + b"x" * 200)
            prod.flush()
        assert len(lg.partition("t", 0).segments) >= 3
    positions = _positions(_seg(data, 0))
    os.truncate(_seg(data, 0), positions[3])  # offsets 3..13 vanish from a sealed segment
    with Log(data, background=False) as lg:
        part = lg.partition("t", 0)
        assert [r.offset for r in part.records(0)[0]][:3] == [0, 1, 2]
        with pytest.raises(CorruptRecordError, match=r"offsets 3\.\.13 are missing") as e:
            part.records(3)
        assert e.value.path == _seg(data, 14)
    with Log(data, read_only=True) as ro, pytest.raises(CorruptRecordError):
        ro.partition("t", 0).records(5)


# -- 2. a writer's index rewrite must not kill a reader that mapped the index ----------------
def test_writer_recovery_does_not_kill_a_reader_with_the_index_mapped(data: str) -> None:
    setup = (
        "import os, sys\nfrom hub.log import Log\n"
        "lg = Log(sys.argv[1], background=False)\n"
        "lg.create_topic('t', 1, {'index.interval.bytes': '1'})\n"
        "p = lg.producer(batch_records=1)\n"
        "for i in range(0, 60000, 1000):\n"
        "    p.send_many('t', [b'x' * 20] * 1000); p.flush()\n"
        "os._exit(137)\n"  # no clean shutdown: the next writer rescans and rebuilds the index
    )
    subprocess.run([sys.executable, "-c", setup, data], env=ENV, cwd=ROOT, check=False)
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfrom hub.log import Log\n"
         "p = Log(sys.argv[1], read_only=True).partition('t', 0)\n"
         "p.records(p.log_end_offset - 1, 100)\n"  # the index is mapped by now
         "print('ready', p.log_end_offset, flush=True)\n"
         "keep = int(sys.stdin.readline())\n"
         "for o in range(0, keep, 7):\n"  # lookups bisect the whole mapped index
         "    p.records(o, 100)\n"
         "print('done', flush=True)\n",
         data],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV, cwd=ROOT,
    )  # fmt: skip
    assert reader.stdout is not None and reader.stdin is not None
    assert reader.stdout.readline().split() == ["ready", "60000"]
    keep = 18000  # a torn tail: the writer's recovery rebuilds a shorter index
    os.truncate(_seg(data, 0), _positions(_seg(data, 0))[keep] + 30)
    with Log(data, background=False) as lg:
        assert lg.partition("t", 0).log_end_offset == keep
    assert os.path.getsize(_seg(data, 0, ".index")) < 60000 * 8 // 2
    reader.stdin.write(f"{keep}\n")
    reader.stdin.flush()
    out, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0, f"reader died with {reader.returncode}"
    assert out.strip() == "done"


# -- 3. index entries never point past the written data; readers cope if they do -------------
def test_flush_does_not_write_index_entries_of_batches_still_in_memory(data: str) -> None:
    with Log(data, background=False) as lg:
        lg.create_topic("t", 1, {"index.interval.bytes": "1"})
        part = lg.partition("t", 0)
        for _ in range(48):
            part.append_batch(_batch(1, 1 << 19))
        flusher = threading.Thread(target=part.flush)
        flusher.start()
        while not part._flushing:
            time.sleep(0.0002)
        part.append_batch(_batch(1, 10))  # lands while the flush writes outside the lock
        flusher.join()
        assert (part.high_watermark, part.log_end_offset) == (48, 49)
        size = os.path.getsize(_seg(data, 0))
        with open(_seg(data, 0, ".index"), "rb") as f:
            raw = f.read()
        positions = [int.from_bytes(raw[i + 4 : i + 8], "big") for i in range(0, len(raw), 8)]
        assert positions and max(positions) < size
        with open(_seg(data, 0, ".timeindex"), "rb") as f:
            raw = f.read()
        offsets = [int.from_bytes(raw[i + 8 : i + 12], "big") for i in range(0, len(raw), 12)]
        assert offsets and max(offsets) < 48
        assert _read_only_eval(data, "result = [p.log_end_offset, p.high_watermark]") == [48, 48]


def test_reader_walks_back_over_index_entries_past_the_end_of_the_log(data: str) -> None:
    with Log(data, background=False) as lg:
        lg.create_topic("t", 1, {"index.interval.bytes": "1"})
        prod = lg.producer()
        for i in range(20):
            prod.send_many("t", [b"r%d" % i] * 5)
            prod.flush()
    with open(_seg(data, 0, ".index"), "ab") as f:  # as an older writer could leave them
        f.write((100).to_bytes(4, "big") + (10**6).to_bytes(4, "big"))
        f.write((105).to_bytes(4, "big") + (10**6 + 500).to_bytes(4, "big"))
    assert _read_only_eval(
        data, "result = [p.log_end_offset, [r.offset for r in p.records(95)[0]]]"
    ) == [100, [95, 96, 97, 98, 99]]


# -- 4. compaction and retention under a long-running reader ----------------------------------
def test_reader_opened_before_a_compaction_reads_consistent_data(data: str, writer: Writer) -> None:
    writer.run(
        "lg.create_topic('t', 1, {'cleanup.policy': 'compact', 'segment.bytes': '100000',\n"
        "    'index.interval.bytes': '1', 'min.cleanable.dirty.ratio': '0.01'})\n"
        "p = lg.producer(batch_records=1)\n"
        "for i in range(1000):\n"
        "    p.send('t', b'v' * (50 + i % 7) + b'%d' % i, key=b'k%d' % (i % 10)); p.flush()\n"
        "result = [s.base_offset for s in lg.partition('t', 0).segments]"
    )
    reader = Log(data, read_only=True)
    part = reader.partition("t", 0)
    sealed_end = part.segments[1].base_offset
    before = os.stat(_seg(data, 0)).st_ino
    assert (
        writer.run("result = lg.run_maintenance(force_compaction=True)")["partitions_compacted"]
        == 1
    )
    assert os.stat(_seg(data, 0)).st_ino != before  # a new file under the old name
    # not refreshed yet: the old file, with its own index
    recs, _ = part.records(sealed_end - 3)
    assert [r.offset for r in recs][:3] == [sealed_end - 3, sealed_end - 2, sealed_end - 1]
    assert all(r.value.endswith(b"%d" % r.offset) for r in recs)  # type: ignore[union-attr]
    part.refresh()  # the compacted file
    offsets, offset = [], 0
    while offset < part.high_watermark:
        recs, nxt = part.records(offset)
        offsets += [r.offset for r in recs if r.offset < sealed_end]
        assert all(r.value.endswith(b"%d" % r.offset) for r in recs)  # type: ignore[union-attr]
        offset = nxt
    assert offsets == list(range(sealed_end - 10, sealed_end))  # the newest of each key
    reader.close()


def _fds_on_deleted_files() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.endswith("(deleted)"):
            out.append(target)
    return out


def test_reader_drops_segments_deleted_by_retention(data: str, writer: Writer) -> None:
    writer.run(
        "lg.create_topic('t', 1, {'segment.bytes': '2048', 'retention.bytes': '4096'})\n"
        "p = lg.producer(batch_records=1)"
    )
    reader = Log(data, read_only=True)
    part = reader.partition("t", 0)
    for _ in range(4):
        start = writer.run(
            "for i in range(100):\n"
            "    p.send('t', b'x' * 200); p.flush()\n"
            "lg.run_maintenance()\n"
            "result = lg.partition('t', 0).log_start_offset"
        )
        part.refresh()
        assert start > 0 and part.log_start_offset == start
        assert [r.offset for r in part.records(start)[0]][:1] == [start]
        on_disk = sorted(
            n for n in os.listdir(os.path.dirname(_seg(data, 0))) if n.endswith(".log")
        )
        assert [os.path.basename(s.path) for s in part.segments] == on_disk
        assert [f for f in _fds_on_deleted_files() if f.startswith(data)] == []
    reader.close()


# -- 5. segments vanishing while a reader opens them ------------------------------------------
def test_read_only_open_and_refresh_survive_retention_in_another_process(
    data: str, writer: Writer
) -> None:
    writer.run(
        "import threading, time\n"
        "lg.create_topic('t', 1, {'segment.bytes': '1024', 'retention.bytes': '2048'})\n"
        "p = lg.producer(batch_records=1)\n"
        "stats = {'deleted': 0, 'stop': False}\n"
        "def churn():\n"
        "    t = time.time()\n"
        "    while not stats['stop'] and time.time() - t < 60:\n"
        "        for i in range(20):\n"
        "            p.send('t', b'x' * 300)\n"
        "        p.flush()\n"
        "        stats['deleted'] += lg.run_maintenance()['segments_deleted']\n"
        "th = threading.Thread(target=churn); th.start()"
    )
    long_lived = Log(data, read_only=True)
    errors: list[str] = []
    opens = 0
    deadline = time.monotonic() + 60  # (until both have done enough: a loaded machine)
    while time.monotonic() < deadline:
        try:
            with Log(data, read_only=True) as r:
                r.partition("t", 0).refresh()
            opens += 1
            part = long_lived.partition("t", 0)
            part.refresh()
            part.records(part.log_start_offset, 4096)
        except Exception as e:  # noqa: BLE001 - collect, then report them all
            errors.append(f"{type(e).__name__}: {e}")
        if writer.proc.poll() is not None:
            break
        if not writer.run("result = th.is_alive()"):
            break
        if opens > 100 and writer.run("result = stats['deleted']") > 100:
            break
    deleted = writer.run("stats['stop'] = True; th.join(); result = stats['deleted']")
    long_lived.close()
    assert deleted > 100 and opens > 100
    assert errors == []


# -- 6. durable creation: directory entries are fsynced --------------------------------------
def test_new_partition_directory_and_first_segment_are_fsynced_in_their_parents(
    tmp_path: Path,
) -> None:
    strace = shutil.which("strace")
    if strace is None:
        if os.environ.get("CI"):  # CI installs strace (.ci/run): never skip there
            pytest.fail("strace is missing; .ci/run should have installed it")
        pytest.skip("needs strace to observe the fsync calls (apt-get install strace)")
    data = str(tmp_path / "data")
    os.makedirs(data)
    trace = str(tmp_path / "trace")
    script = (
        "import os, sys\nfrom hub.log import Log\n"
        "lg = Log(sys.argv[1], background=False)\n"
        "lg.create_topic('orders', 1)\n"
        "p = lg.producer(); p.send('orders', b'acked'); p.flush()\n"
        "os._exit(0)\n"  # power loss right after the acknowledgement
    )
    run = subprocess.run(
        [strace, "-f", "-o", trace, "-e", "trace=openat,open,mkdir,mkdirat,fsync,fdatasync",
         sys.executable, "-c", script, data],
        env=ENV, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if run.returncode != 0 and "ptrace" in run.stderr and not os.environ.get("CI"):
        pytest.skip(f"strace cannot trace here (ptrace refused): {run.stderr.strip()[:200]}")
    assert run.returncode == 0, run.stderr
    fds: dict[str, str] = {}
    events: list[tuple[str, str]] = []  # (what, path)
    with open(trace) as f:
        lines = f.read().splitlines()
    for line in lines:
        m = re.search(r'(openat|open)\((?:AT_FDCWD, )?"([^"]+)", ([^,)]+).*= (\d+)$', line)
        if m:
            fds[m.group(4)] = m.group(2)
            if "O_CREAT" in m.group(3):
                events.append(("create", m.group(2)))
            continue
        m = re.search(r'mkdir(?:at)?\((?:AT_FDCWD, )?"([^"]+)".*= 0$', line)
        if m:
            events.append(("create", m.group(1)))
            continue
        m = re.search(r"\bfsync\((\d+)\)\s+= 0$", line)
        if m and m.group(1) in fds:
            events.append(("fsync", fds[m.group(1)]))

    def fsynced_after_creation(path: str) -> bool:
        i = events.index(("create", path))
        return ("fsync", os.path.dirname(path)) in events[i + 1 :]

    partition = os.path.join(data, "orders", "0")
    assert fsynced_after_creation(partition)
    assert fsynced_after_creation(os.path.join(partition, "00000000000000000000.log"))


# -- 7. errors name the real place; a closed partition says so --------------------------------
def test_bad_batch_in_a_sealed_segment_raises_corrupt_record_error_with_its_place(
    data: str,
) -> None:
    lg = Log(data, background=False)
    lg.create_topic("t", 1, {"segment.bytes": "4096"})
    p = lg.producer(batch_records=1)
    for i in range(60):
        p.send("t", b"v%03d" % i + b"q" * 100)
        p.flush()
    part = lg.partition("t", 0)
    seg = part.segments[0]
    assert len(part.segments) > 2
    pos = [q for q, _ in seg.iter_batches()]
    with open(seg.path, "r+b") as f:
        f.seek(pos[5] + 16)
        f.write(b"\x07")  # magic of batch 5
    with pytest.raises(CorruptRecordError, match="unsupported magic 7") as e:
        part.records(8)
    assert (e.value.path, e.value.position) == (seg.path, pos[5])
    with open(seg.path, "r+b") as f:
        f.seek(pos[5] + 16)
        f.write(b"\x02")
        f.seek(pos[5] + 8)
        f.write((10**6).to_bytes(4, "big"))  # batchLength of batch 5
    c = lg.consumer(auto_offset_reset="earliest")
    c.assign([TP])
    got: list[int] = []
    with pytest.raises(CorruptRecordError, match="torn batch") as e:
        for _ in range(5):
            got += [r.offset for r in c.poll(0.05)]
    assert got == [0, 1, 2, 3, 4]
    assert (e.value.path, e.value.position) == (seg.path, pos[5])
    lg.close()


def test_malformed_records_are_reported_in_their_segment_at_their_file_position(
    data: str,
) -> None:
    with Log(data, background=False) as lg:
        lg.create_topic("t", 1, {"segment.bytes": "4096"})
        p = lg.producer(batch_records=1)
        for i in range(60):
            p.send("t", b"v%03d" % i + b"q" * 100)
            p.flush()
    path = _seg(data, 0)
    pos = _positions(path)[7]
    with open(path, "r+b") as f:  # first record's length: 8191, past the batch; CRC to match
        f.seek(pos + 8)
        size = int.from_bytes(f.read(4), "big") + B.LENGTH_PREFIX
        f.seek(pos)
        whole = bytearray(f.read(size))
        whole[B.HEADER_SIZE : B.HEADER_SIZE + 2] = b"\xfe\x7f"
        whole[17:21] = B.crc32c(memoryview(whole)[B.CRC_START :]).to_bytes(4, "big")
        f.seek(pos)
        f.write(whole)
    with Log(data, background=False) as lg:
        part = lg.partition("t", 0)
        assert part.segments[-1].path != path
        with pytest.raises(CorruptRecordError, match="malformed records") as e:
            part.records(5)
        assert (e.value.path, e.value.position) == (path, pos)


def test_using_a_partition_after_close_or_topic_deletion_raises_log_error(data: str) -> None:
    lg = Log(data, background=False)
    lg.create_topic("t", 1)
    lg.create_topic("u", 1)
    prod = lg.producer()
    prod.send_many("t", [b"x"])
    prod.flush()
    deleted = lg.partition("u", 0)
    lg.delete_topic("u")
    with pytest.raises(LogError, match="partition closed: log closed or topic deleted"):
        deleted.append_batch(_batch(1, 10))
    part = lg.partition("t", 0)
    lg.close()
    with pytest.raises(LogError, match="partition closed"):
        prod.send_many("t", [b"x"])
    for call in (
        lambda: part.records(0),
        lambda: part.read(0),
        lambda: part.append_batch(_batch(1, 10)),
        lambda: part.roll(),
        lambda: part.offset_for_timestamp(0),
    ):
        with pytest.raises(LogError, match="partition closed"):
            call()
    ro = Log(data, read_only=True)
    rpart = ro.partition("t", 0)
    ro.close()
    for call in (lambda: rpart.refresh(), lambda: rpart.records(0)):
        with pytest.raises(LogError, match="partition closed"):
            call()


def _compacted_300(data: Path) -> None:
    """A compacted topic of 300 records in 10-record batches."""
    log = Log(str(data), background=False)
    log.create_topic("t", 1, {"cleanup.policy": "compact", "segment.bytes": "1024"})
    part = log.partition("t", 0)
    for i in range(0, 300, 10):
        part.append_records([b"old%d" % j for j in range(i, i + 10)], [b"x"] * 10)
    log.close()


def _stopped_in_a_swap(data: Path, where: str = "clean:after-delete-old") -> None:
    """`_compacted_300` whose writer was killed in the middle of a compaction's swap: by
    default with the old first segment moved aside and the new one not yet renamed in (a
    live writer is there for two renames and a directory fsync)."""
    _compacted_300(data)
    code = "import sys; from hub.log import Log; Log(sys.argv[1], background=False)" \
        ".run_maintenance(force_compaction=True)"  # fmt: skip
    env = {**ENV, "HUB_FAULT": where}
    r = subprocess.run([sys.executable, "-c", code, str(data)], env=env, timeout=60)
    assert r.returncode == 137
    assert "cleaning.json" in os.listdir(data / "t" / "0")


def _read_all(data: Path) -> list[bytes | None]:
    with Log(str(data), read_only=True) as log:
        c = log.consumer(auto_offset_reset="earliest")
        c.assign([TP])
        out: list[bytes | None] = []
        while batch := c.poll(0.2):
            out.extend(r.key for r in batch)
        return out


def test_a_reader_never_takes_a_compaction_swap_half_done_for_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the first segment missing from the listing, the reader started at offset 50 and
    # printed 250 of the 300 records without an error; a missing middle segment read as
    # records compaction removed)
    from hub.log import cleaner

    _stopped_in_a_swap(tmp_path / "killed")
    began = time.monotonic()
    with pytest.raises(LogError, match="swap of segments .* start the worker again"):
        _read_all(tmp_path / "killed")
    # (no writer is left to finish it: said at once, where it had waited 10 s)
    assert time.monotonic() - began < 5
    # a live writer finishes the swap while the reader waits: the reader reads every record
    _compacted_300(tmp_path / "live")
    in_swap, go_on = threading.Event(), threading.Event()
    real = cleaner.fail_point

    def pause(name: str) -> None:
        if name == "clean:after-delete-old":
            in_swap.set()
            go_on.wait(30)
        real(name)

    monkeypatch.setattr(cleaner, "fail_point", pause)
    with Log(str(tmp_path / "live"), background=False) as writer:
        # (its lock file as an older hub's writer writes it, its pid alone, no token: the
        # writer is told alive by its lock, not by what the file names)
        with open(os.path.join(tmp_path / "live", ".lock"), "r+b") as f:
            pid = f.read().split(b"\n")[0]
            f.seek(0)
            f.truncate()
            f.write(pid + b"\n")
        compacting = threading.Thread(target=writer.run_maintenance, args=(None, True))
        compacting.start()
        try:
            assert in_swap.wait(30)
            threading.Timer(0.3, go_on.set).start()
            assert _read_all(tmp_path / "live") == [b"old%d" % i for i in range(300)]
        finally:
            go_on.set()
            compacting.join()


def test_a_swap_its_writer_left_before_moving_a_segment_aside_is_read_as_before(
    tmp_path: Path,
) -> None:
    """A worker killed in a compaction's swap before it moved any old segment aside (its
    manifest written, the new segment only in swap files) left every read-only open of the
    data directory failing after a 10 s wait (`hub topics list`, `hub consume` of any topic,
    as every open reads every partition): the old segments are whole and are read."""
    _stopped_in_a_swap(tmp_path, "clean:after-manifest")
    began = time.monotonic()
    assert _read_all(tmp_path) == [b"old%d" % i for i in range(300)]
    assert time.monotonic() - began < 5


def test_a_reader_sees_no_record_the_writer_has_not_made_durable(data: str) -> None:
    # (written to the file and not fsynced, they were served: the writer could still take
    # them back and give their offsets to other records; see also test_disk_full)
    with Log(data, flush_interval_ms=None, background=False) as writer:
        writer.create_topic("t", 1)
        p = writer.producer()
        p.send_many("t", [b"durable-%d" % i for i in range(3)])
        p.flush()
        p.send_many("t", [b"not-yet-%d" % i for i in range(3)])
        p.flush(durable=False)  # in the file, not fsynced
        with Log(data, read_only=True) as reader:
            c = reader.consumer(auto_offset_reset="earliest")
            c.assign([TP])
            assert reader.watermarks(TP) == (0, 3)
            assert [r.value for r in c.poll(0.2)] == [b"durable-%d" % i for i in range(3)]
            p.flush()  # now durable: the reader gets them
            assert [r.value for r in c.poll(1.0)] == [b"not-yet-%d" % i for i in range(3)]
            assert reader.watermarks(TP) == (0, 6)


def test_a_reader_reads_what_a_killed_writer_wrote_as_the_next_writer_will(data: str) -> None:
    # (a writer killed -9 leaves in the files, in the page cache, what it wrote and had not
    # fsynced yet; the next writer keeps it, but readers still stopped at the dead writer's
    # mark: a test read a source's stored offset as 200 rows into a table where the restart
    # resumed after 20 400)
    code = (
        "import sys\n"
        "from hub.log import Log\n"
        "w = Log(sys.argv[1], flush_interval_ms=None, background=False)\n"
        "w.create_topic('t', 1)\n"
        "p = w.producer()\n"
        "p.send_many('t', [b'durable-%d' % i for i in range(3)])\n"
        "p.flush()\n"
        "p.send_many('t', [b'written-%d' % i for i in range(3)])\n"
        "p.flush(durable=False)\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen([sys.executable, "-c", code, data], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        with Log(data, read_only=True) as reader:
            assert reader.watermarks(TP) == (0, 3)  # (its writer alive: the durable end)
            proc.kill()
            proc.wait()
            reader.partition("t", 0).refresh()
            assert reader.watermarks(TP) == (0, 6)
            assert [r.value for r in reader.scan(TP, 0, 10)][3:] == [
                b"written-%d" % i for i in range(3)
            ]
    with Log(data, background=False) as next_writer:  # (what the next writer finds)
        assert next_writer.watermarks(TP) == (0, 6)


def _make_t(writer: Log, prefix: bytes, n: int, again: bool = False) -> None:
    """Topic ``t`` (deleted and made again when ``again``) holding ``prefix-0..n-1``."""
    if again:
        writer.delete_topic("t")
    writer.create_topic("t", 1)
    p = writer.producer()
    p.send_many("t", [prefix + b"-%d" % i for i in range(n)])
    p.flush()


@pytest.mark.parametrize("ids", [True, False])
def test_a_reader_follows_a_topic_deleted_and_made_again(data: str, ids: bool) -> None:
    # (it went on serving the deleted topic's records, its files held open, for good; a topic
    # made before topics had ids too)
    with Log(data, flush_interval_ms=None, background=False) as writer:
        _make_t(writer, b"old", 3)
    if not ids:
        as_made_before_topic_ids(data, "t")
    with (
        Log(data, read_only=True) as reader,
        Log(data, flush_interval_ms=None, background=False) as writer,
    ):
        assert [r.value for r in reader.scan(TP, 0, 10)] == [b"old-0", b"old-1", b"old-2"]
        _make_t(writer, b"new", 5, again=True)
        assert reader.watermarks(TP) == (0, 5)
        assert [r.value for r in reader.scan(TP, 0, 10)] == [b"new-%d" % i for i in range(5)]


def test_a_reader_is_not_held_by_the_mark_of_a_writer_that_is_gone(data: str) -> None:
    # (an older hub, which writes no durable.mark, appended after this one: readers stopped
    # at the stale mark, 5 of 405 records; a mark is believed only while the lock file names
    # its writer's opening, not its pid alone: in a container the hub is always pid 1)
    with Log(data, background=False) as writer:
        writer.create_topic("t", 1)
        p = writer.producer()
        p.send_many("t", [b"new-%d" % i for i in range(5)])
        p.flush()
    with open(os.path.join(data, ".lock"), "rb") as f:
        pid = f.read().split(b"\n")[0]
    older = (  # a hub without marks, of the same pid: its lock file holds the pid alone
        "import os, sys\n"
        "import hub.log.mark as m\n"
        "m.MarkWriter.publish = lambda *a, **k: None\n"
        "from hub.log import Log\n"
        "with Log(sys.argv[1], background=False) as w:\n"
        "    with open(os.path.join(sys.argv[1], '.lock'), 'wb') as f:\n"
        "        f.write(sys.argv[2].encode())\n"
        "    p = w.producer()\n"
        "    p.send_many('t', [b'older-%d' % i for i in range(400)])\n"
        "    p.flush()\n"
    )
    subprocess.run([sys.executable, "-c", older, data, pid.decode()], check=True, timeout=60)
    with Log(data, read_only=True) as reader:
        assert reader.watermarks(TP) == (0, 405)
        assert len(list(reader.scan(TP, 0, 1000))) == 405


@pytest.mark.parametrize("side", ["writer", "reader"])
def test_a_consumer_reads_a_topic_made_again_from_its_start(data: str, side: str) -> None:
    # (its position, of the deleted topic, was kept: the new topic's first records were never
    # delivered, new-3 and new-4 read alone)
    with Log(data, flush_interval_ms=None, background=False) as writer:
        _make_t(writer, b"old", 3)
        log = writer if side == "writer" else Log(data, read_only=True)
        try:
            c = log.consumer(auto_offset_reset="earliest")
            c.assign([TP])
            assert [r.value for r in c.poll(0.5)] == [b"old-0", b"old-1", b"old-2"]
            _make_t(writer, b"new", 5, again=True)
            got = []
            while batch := c.poll(0.5):
                got += [r.value for r in batch]
            assert got == [b"new-%d" % i for i in range(5)]
        finally:
            if log is not writer:
                log.close()


def test_a_topic_made_again_is_committed_and_sought_in_as_a_new_one(data: str) -> None:
    # (the old topic's position was committed for the new one, whose first records a member
    # taking over then skipped; and a seek after the re-create was undone by the next poll)
    with Log(data, flush_interval_ms=None, background=False) as writer:
        _make_t(writer, b"old", 3)
        c = writer.consumer(group_id="g", auto_offset_reset="earliest")
        c.assign([TP])
        assert len(c.poll(0.5)) == 3
        c.commit()
        _make_t(writer, b"new", 5, again=True)
        c.commit({TP: 3})  # (a runner's record of what it handled, of the old topic)
        assert c.committed([TP]) == {TP: (0, "")}
        c.seek(TP, 2)
        assert [r.value for r in c.poll(0.5)] == [b"new-2", b"new-3", b"new-4"]
        c.commit({TP: 5})
        assert c.committed([TP]) == {TP: (5, "")}
