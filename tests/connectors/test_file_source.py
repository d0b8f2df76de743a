"""FileStreamSource reads a finished file to its end, batch.size lines a poll."""

from __future__ import annotations

from pathlib import Path

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
