"""Running out of file descriptors (each segment of each partition holds one open): a roll
that fails half-way leaves the partition appendable, and the errors say to raise the limit,
not to free disk space. Each case runs in a process of its own (the limit is per process)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub.log import InvalidTopicError, Log, TopicPartition


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("spare", [0, 1, 2])
def test_a_roll_short_of_descriptors_leaves_the_partition_appendable(
    tmp_path: Path, spare: int
) -> None:
    # (with one descriptor spare, the new segment's .log opened, its index did not, the .log's
    # descriptor leaked, and the old segment could not be opened again: every later append
    # failed with "index ... is sealed" until a restart)
    out = _run(f"""
        import os, resource, time
        from hub.log import Log
        lg = Log({str(tmp_path)!r}, background=False)
        lg.create_topic("t", 1, {{"retention.ms": "60000"}})
        p = lg.producer()
        p.send("t", b"old", timestamp=int(time.time() * 1000) - 3_600_000); p.flush()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        taken = []
        while True:
            try:
                taken.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                break
        for _ in range({spare}):
            os.close(taken.pop())
        try:
            lg.run_maintenance()  # retention rolls the active segment
        except Exception as exc:
            print("maintenance:", exc)
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for i in range(3):
            q = lg.producer(); q.send("t", b"new-%d" % i); q.flush()
        print("appended")
        lg.close()
    """)
    assert "appended" in out
    if "maintenance:" in out:
        assert "raise the limit of open files" in out and "free disk space" not in out
    with Log(str(tmp_path), background=False) as log:
        values = [r.value for r in log.scan(TopicPartition("t", 0), 0, 10)]
        assert values[-3:] == [b"new-0", b"new-1", b"new-2"]


def test_a_log_of_more_segments_than_descriptors_says_to_raise_the_limit(tmp_path: Path) -> None:
    with Log(str(tmp_path), background=False) as log:
        log.create_topic("t", 4, {"segment.bytes": "1024"})
        p = log.producer()
        for _ in range(20):
            for part in range(4):
                p.send_many("t", [b"x" * 900], partition=part)
            p.flush()
    out = _run(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
        from hub.log import Log
        try:
            Log({str(tmp_path)!r}, background=False)
        except Exception as exc:
            print(type(exc).__name__, exc)
    """)
    assert out.startswith("LogError cannot open the log"), out
    assert "raise the limit of open files (ulimit -n, now 48" in out
    assert int(re.search(r"has (\d+) segments:", out).group(1)) >= 80  # type: ignore[union-attr]


def test_a_topic_short_of_descriptors_is_not_left_half_made(tmp_path: Path) -> None:
    # (topic.json was written, then the partitions failed with EMFILE: the half-made topic
    # stayed, and no command could open the data directory again; `topics delete` failed too)
    out = _run(f"""
        import os, resource
        from hub.log import Log, LogStorageError
        lg = Log({str(tmp_path)!r}, background=False)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        try:
            lg.create_topic("wide", 200)
        except LogStorageError as exc:
            print("refused:", exc)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        print("left:", os.path.exists(os.path.join({str(tmp_path)!r}, "wide")))
        lg.close()
    """)
    assert "refused: cannot write the log in" in out and "while creating topic 'wide'" in out
    assert "the topic is not created; raise the limit of open files" in out
    assert "left: False" in out
    with Log(str(tmp_path)) as log:  # (it opens)
        assert not log.has_topic("wide")
        log.create_topic("wide", 4)
        with pytest.raises(InvalidTopicError, match="partitions must be from 1 to 4096, not"):
            log.create_topic("wider", 5000)


def test_a_sealed_segment_read_by_offset_holds_one_descriptor(tmp_path: Path) -> None:
    # (its index was mapped, and Python 3.11's mmap keeps a descriptor of its own: two per
    # sealed segment once read, and a long run with 500+ segments neared the 1 024 limit)
    with Log(str(tmp_path), background=False) as log:
        log.create_topic("t", 1, {"segment.bytes": "1048576", "index.interval.bytes": "512"})
        p = log.producer()
        for i in range(60_000):
            p.send("t", b"x" * 100, key=b"%d" % i)
        p.flush()
        c = log.consumer()
        tp = TopicPartition("t", 0)
        c.assign([tp])
        segments = log.describe("t").partitions[0].segments
        assert segments >= 5
        for offset in range(0, 60_000, 60_000 // segments // 2):  # (each segment, by offset)
            c.seek(tp, offset)
            assert c.poll(timeout=1, max_records=1)[0].offset == offset

        def opened(suffix: str) -> int:
            names = []
            for fd in os.listdir("/proc/self/fd"):
                with contextlib.suppress(FileNotFoundError):  # (the listing's own)
                    names.append(os.readlink(f"/proc/self/fd/{fd}"))
            return sum(name.endswith(suffix) for name in names)

        assert opened(".log") >= segments  # (one each: a log file stays open, as Kafka's)
        assert opened(".index") == opened(".timeindex") == 0
        c.close()


def test_hub_run_raises_its_soft_limit_of_open_files_to_the_hard_one(tmp_path: Path) -> None:
    # (systemd's soft limit is 1 024, its hard one 524 288: a worker of many segments got a
    # bare EMFILE at 1 024 where it may open half a million)
    import resource
    import signal
    import time

    cfg = tmp_path / "g.yaml"
    cfg.write_text("name: g\nconfig: {connector.class: datagen, topic: t}\n")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def low() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "d"), "run", str(cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=low,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    try:
        want = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        deadline = time.monotonic() + 30
        while True:
            limits = Path(f"/proc/{proc.pid}/limits").read_text()
            (line,) = [x for x in limits.splitlines() if x.startswith("Max open files")]
            if line.split()[3] != "256":
                break
            assert time.monotonic() < deadline and proc.poll() is None, line
            time.sleep(0.2)
        assert line.split()[3:5] == [want if want != "unlimited" else str(1 << 20), want]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
