"""Running out of file descriptors (each segment of each partition holds one open): a roll
that fails half-way leaves the partition appendable, and the errors say to raise the limit,
not to free disk space. Each case runs in a process of its own (the limit is per process)."""

from __future__ import annotations

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
