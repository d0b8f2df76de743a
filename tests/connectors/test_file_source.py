"""FileStreamSource reads a finished file to its end, batch.size lines a poll."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.source.file.connector import FileStreamSourceTask
from hub.runtime.api import SourceTaskContext


def test_a_finished_file_is_read_to_its_last_line(tmp_path: Path) -> None:
    # (lines read past a poll's batch.size waited for the file to grow: 2000 of 5000 came)
    path = tmp_path / "in.txt"
    path.write_bytes("".join(f"line {i}\n" for i in range(4998)).encode() + b"a\r\n\xffb\n")
    task = FileStreamSourceTask()
    task.start({"file": str(path), "topic": "t", "batch.size": 100},
               SourceTaskContext("file", 0, {}))  # fmt: skip
    try:
        got: list[str] = []
        for _ in range(200):
            for batch in task.poll():  # (one batch a poll: its offset after its last line)
                assert 0 < len(batch.values) <= 100
                got += batch.values
                offset = batch.source_offset["position"]
            if len(got) == 5000:
                break
    finally:
        task.stop()
    assert got == [f"line {i}" for i in range(4998)] + ["a", "\ufffdb"]
    assert offset == path.stat().st_size


def _read(task: FileStreamSourceTask, want: int, seconds: float = 20) -> tuple[list[str], Any]:
    """Lines polled until ``want`` came, and the last batch's offset."""
    got: list[str] = []
    offset = None
    deadline = time.monotonic() + seconds
    while len(got) < want:
        assert time.monotonic() < deadline, got
        for batch in task.poll():
            got += batch.values
            offset = batch.source_offset
    return got, offset


def _task(path: Path, offsets: dict[str, Any] | None = None) -> FileStreamSourceTask:
    task = FileStreamSourceTask()
    task.start({"file": str(path), "topic": "t"},
               SourceTaskContext("file", 0, offsets or {}))  # fmt: skip
    return task


def test_a_file_rotated_or_truncated_while_read_loses_no_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # (a review's: truncated in place (logrotate's copytruncate), only the lines past the old
    # position came; renamed and made again, the new file was never read, and a restart
    # applied the old position to it, losing lines and cutting one; nothing was said)
    from connectors.source.file import connector

    monkeypatch.setattr(connector, "ROTATE_QUIET_S", 0.2)
    path = tmp_path / "app.log"
    path.write_text("".join(f"a {i}\n" for i in range(5)))
    task = _task(path)
    try:
        assert _read(task, 5)[0] == [f"a {i}" for i in range(5)]
        path.write_text("b 0\nb 1\n")  # truncated in place, fewer bytes than read
        assert _read(task, 2)[0] == ["b 0", "b 1"]
        assert "was truncated (copytruncate?)" in caplog.text
        path.write_text("c 0\nc 1\nc 2\nc 3\nc 4\nc 5\n")  # truncated, refilled past it
        assert _read(task, 6)[0] == [f"c {i}" for i in range(6)]
        with path.open("a") as w:  # renamed (logrotate's create), its writer still at it
            os.rename(path, tmp_path / "app.log.1")
            w.write("b 2\nb 3")  # (its last line without a newline, never finished)
        path.write_text("d 0\nd 1\n")
        got, offset = _read(task, 4)
        assert got == ["b 2", "b 3", "d 0", "d 1"]
        assert offset["position"] == 8 and offset["inode"] and offset["head"]
    finally:
        task.stop()


def test_a_file_replaced_while_stopped_is_read_from_its_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "app.log"
    path.write_text("".join(f"a {i}\n" for i in range(5)))
    task = _task(path)
    try:
        _, offset = _read(task, 5)
    finally:
        task.stop()
    from hub.runtime.offsets import partition_key

    stored = {partition_key({"filename": str(path)}): offset}
    os.rename(path, tmp_path / "app.log.1")
    path.write_text("".join(f"n {i}\n" for i in range(9)))  # longer than the position
    task = _task(path, stored)
    try:
        got, offset2 = _read(task, 9)
        assert got == [f"n {i}" for i in range(9)]
    finally:
        task.stop()
    assert "another file than the one read up to byte 20" in caplog.text
    # the same file (inode) truncated and written again past the position while stopped:
    # its first bytes tell it (a device number, which a remount changes, is not compared)
    with path.open("r+b") as w:
        w.truncate(0)
        w.write(b"".join(b"m %d\n" % i for i in range(12)))
    task = _task(path, {partition_key({"filename": str(path)}): {**offset2, "position": 20}})
    try:
        assert _read(task, 12)[0] == [f"m {i}" for i in range(12)]
    finally:
        task.stop()
    # an offset without an inode (Kafka's, an older hub's), the file now shorter: from the start
    path.write_text("s 0\n")
    task = _task(path, {partition_key({"filename": str(path)}): {"position": 20}})
    try:
        assert _read(task, 1)[0] == ["s 0"]
    finally:
        task.stop()
    assert "holds 4 bytes, fewer than the 20 read" in caplog.text
