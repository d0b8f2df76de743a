"""FileStreamSink's offsets, stored beside its file: whose they are, and a file cut outside hub
(the review's run: the README's file-to-file.yaml wrote nothing again after the output was
deleted, and a new connector on the same file wrote none of the records, both silently)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.runtime.worker import Worker
from tests.fixtures.tmpfs import Tmpfs
from tests.helpers import wait_for
from tests.runtime.file_pipeline import file_sink, produce


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def _run(tmp_path: Path, name: str, until: list[bytes], more: list[bytes] | None = None) -> None:
    """A worker running the sink ``name`` until the file holds ``until`` (after producing
    ``more``) and its lag is 0."""
    worker = Worker(str(tmp_path / "data"))
    try:
        if more:
            produce(worker, more)
        spec = file_sink(tmp_path)
        spec.name = name
        worker.add(spec)
        wait_for(lambda: _lines(tmp_path / "out.txt") == until)
        wait_for(lambda: worker.status()[name][0].lag == 0)
    finally:
        worker.stop()


def test_a_new_connector_on_the_file_writes_its_own_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = [b'{"a":%d}' % i for i in range(3)]
    _run(tmp_path, "sink", first, first)
    sidecar = tmp_path / ".out.txt.hub-offsets"
    assert json.loads(sidecar.read_text())["connector"] == "sink"
    # (Connect's sink of another name reads from its own group's offsets: every record)
    _run(tmp_path, "renamed", first + first)
    assert "was written by connector sink" in caplog.text
    assert json.loads(sidecar.read_text())["connector"] == "renamed"


def test_a_file_cut_outside_hub_is_said_and_written_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = [b'{"a":%d}' % i for i in range(3)]
    _run(tmp_path, "sink", first, first)
    out = tmp_path / "out.txt"
    out.unlink()
    _run(tmp_path, "sink", [b'{"b":1}'], [b'{"b":1}'])
    assert "holds 0 bytes, fewer than the 24 this connector wrote" in caplog.text
    assert json.loads((tmp_path / ".out.txt.hub-offsets").read_text())["size"] == 8


def test_a_file_deleted_while_written_gets_its_records_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # (a review's: records that came after the file was deleted were written into the
    # deleted file, their offsets stored as done, and nothing was said until a restart)
    worker = Worker(str(tmp_path / "data"))
    out = tmp_path / "out.txt"
    try:
        produce(worker, [b'{"a":%d}' % i for i in range(3)])
        worker.add(file_sink(tmp_path))
        sidecar = tmp_path / ".out.txt.hub-offsets"
        wait_for(lambda: len(_lines(out)) == 3 and json.loads(sidecar.read_text())[
            "offsets"].get("in/0") == 3, what="the first records stored as done")  # fmt: skip
        # (deleted before that, they are rightly written again into the new file)
        out.unlink()
        produce(worker, [b'{"b":%d}' % i for i in range(3)])
        wait_for(lambda: _lines(out) == [b'{"b":%d}' % i for i in range(3)], 30,
                 "the records after the deletion, in a new file")  # fmt: skip
        wait_for(lambda: worker.status()["sink"][0].lag == 0)
    finally:
        worker.stop()
    assert "out.txt was deleted while written" in caplog.text


def test_a_full_disk_names_the_file(tmpfs_dir: Tmpfs, caplog: pytest.LogCaptureFixture) -> None:
    # (a review's: "[Errno 28] No space left on device", of no file, then a second error from
    # the stop flushing the same buffer)
    base = tmpfs_dir.path
    worker = Worker(str(base.parent / "data"))
    out = base / "out.txt"
    try:
        values = [b'{"v":"%s"}' % (b"x" * 1000) for _ in range(2000)]  # (2 MB into 1 MB)
        produce(worker, values)
        worker.add(file_sink(base))
        wait_for(lambda: "No space left on device" in caplog.text, 30, "the disk full")
        tmpfs_dir.resize("8m")
        wait_for(lambda: len(_lines(out)) == 2000, 60, "every record once space came back")
    finally:
        worker.stop()
    assert f"writing {out}: No space left on device: free space" in caplog.text or (
        f"flushing {out}: No space left on device: free space" in caplog.text
    )
    assert "stopping the failed task raised" not in caplog.text
    assert len(set(_lines(out))) == 1 and len(_lines(out)) == 2000


def test_offsets_that_cannot_be_stored_name_their_file(tmp_path: Path) -> None:
    # (a review's: a full disk while the offsets were saved said "[Errno 28] No space left on
    # device", of no file)
    (tmp_path / ".out.txt.hub-offsets.tmp").mkdir()  # (where they are written first)
    worker = Worker(str(tmp_path / "data"))
    try:
        produce(worker, [b'{"a":1}'])
        worker.add(file_sink(tmp_path))
        trace = wait_for(lambda: worker.status()["sink"][0].trace, 30, "the failure")
        assert f"storing the offsets in {tmp_path / '.out.txt.hub-offsets'}" in trace
    finally:
        worker.stop()
