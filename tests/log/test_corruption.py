"""Damage in the middle of a segment, seen through the real `hub` command: a reader fails
loudly instead of ending early, and recovery says what it cut (log line, `topics describe`)
and never cuts older segments.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.log import Log

pytestmark = pytest.mark.integration

N = 10_000
ENV = {k: v for k, v in os.environ.items() if k != "HUB_DATA_DIR"}


def _hub(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "--data-dir", str(data), *args],
        capture_output=True, text=True, env=ENV, timeout=60,
    )  # fmt: skip


def _fill(data: Path, config: dict[str, str] | None = None) -> list[str]:
    """N records in batches of 100; returns the partition's segment files, oldest first."""
    with Log(str(data), background=False) as log:
        log.create_topic("t", 1, config or {})
        prod = log.producer()
        for i in range(0, N, 100):
            prod.send_many("t", [b"%06d" % j + b"x" * 50 for j in range(i, i + 100)], partition=0)
            prod.flush()
    part = data / "t" / "0"
    return sorted(str(part / n) for n in os.listdir(part) if n.endswith(".log"))


def _consume(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _hub(data, "consume", "t", "--timeout-ms", "300", *args)


def _overwrite(path: str, at: int, n: int = 16) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(b"\xff" * n)


def _splice(path: str, at: int, n: int = 1000) -> None:
    with open(path, "rb") as f:
        blob = f.read()
    with open(path, "wb") as f:
        f.write(blob[:at] + blob[at + n :])


def _unclean(data: Path) -> None:
    os.unlink(data / ".clean_shutdown")


def test_overwritten_bytes_fail_the_reader_and_recovery_says_what_it_cut(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seg = _fill(data)[0]
    size = os.path.getsize(seg)
    _overwrite(seg, size * 4 // 10)

    r = _consume(data, "--from-beginning")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "corrupt record batch" in r.stderr and seg in r.stderr
    assert "t-0 cannot be read from offset 4000" in r.stderr

    _unclean(data)
    r = _hub(data, "topics", "create", "other")  # opens the log for writing: recovery runs
    assert r.returncode == 0, r.stderr
    kept = len(_consume(data, "--from-beginning").stdout.splitlines())
    assert 0 < kept < N
    cut = f"offsets {kept}..{N - 1} ({N - kept} records)"
    assert cut in r.stderr and os.path.basename(seg) in r.stderr
    assert f"cut {size - os.path.getsize(seg)} bytes" in r.stderr

    described = _hub(data, "topics", "describe", "t")
    assert described.returncode == 0, described.stderr
    assert "Recovery" in described.stdout and cut in described.stdout
    assert oct(os.stat(data / "t" / "0" / "recovery.json").st_mode & 0o777) == "0o600"
    r = _consume(data, "--from-beginning")  # what is left is intact and complete
    assert r.returncode == 0 and len(r.stdout.splitlines()) == kept


def test_spliced_out_bytes_fail_a_read_only_consume(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seg = _fill(data)[0]
    _splice(seg, os.path.getsize(seg) * 4 // 10)
    r = _consume(data, "--from-beginning")
    assert r.returncode != 0, f"consume reported success at {len(r.stdout.splitlines())} records"
    assert "corrupt record batch" in r.stderr and "Traceback" not in r.stderr


def test_damage_in_an_older_segment_never_cuts_the_later_ones(tmp_path: Path) -> None:
    data = tmp_path / "data"
    segs = _fill(data, {"segment.bytes": "100000"})
    assert len(segs) > 3
    _overwrite(segs[1], os.path.getsize(segs[1]) // 2)
    _unclean(data)
    with Log(str(data), background=False) as log:
        part = log.partition("t", 0)
        assert part.log_end_offset == N
        assert len(part.segments) == len(segs)
    r = _consume(data, "--from-beginning")
    assert r.returncode != 0 and "corrupt record batch" in r.stderr and segs[1] in r.stderr
    later = int(os.path.basename(segs[2]).split(".")[0])
    r = _consume(data, "--offset", str(later), "--partition", "0")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == N - later
