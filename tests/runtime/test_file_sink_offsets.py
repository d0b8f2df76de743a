"""FileStreamSink's offsets, stored beside its file: whose they are, and a file cut outside hub
(the review's run: the README's file-to-file.yaml wrote nothing again after the output was
deleted, and a new connector on the same file wrote none of the records, both silently)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.runtime.worker import Worker
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
