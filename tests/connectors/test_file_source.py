"""FileStreamSource reads a finished file to its end, batch.size lines a poll."""

from __future__ import annotations

from pathlib import Path

from connectors.source.file.connector import FileStreamSourceTask
from hub.runtime.api import SourceTaskContext


def test_a_finished_file_is_read_to_its_last_line(tmp_path: Path) -> None:
    # (lines read past a poll's batch.size waited for the file to grow: 2000 of 5000 came)
    path = tmp_path / "in.txt"
    path.write_text("".join(f"line {i}\n" for i in range(5000)))
    task = FileStreamSourceTask()
    task.start({"file": str(path), "topic": "t", "batch.size": 100},
               SourceTaskContext("file", 0, {}))  # fmt: skip
    try:
        got: list[str] = []
        for _ in range(200):
            got += [r.value for r in task.poll()]
            if len(got) == 5000:
                break
    finally:
        task.stop()
    assert got == [f"line {i}" for i in range(5000)]
