"""A FileStreamSink reading topic ``in`` of a worker's embedded log, for the runtime's tests."""

from __future__ import annotations

from pathlib import Path

from hub.config import ConnectorSpec
from hub.runtime.worker import Worker


def file_sink(tmp_path: Path, **extra: object) -> ConnectorSpec:
    """A FileStreamSink named ``sink`` from ``in`` into ``tmp_path/out.txt``, quick batches."""
    return ConnectorSpec("sink", {
        "connector.class": "FileStreamSink", "topics": "in", "file": str(tmp_path / "out.txt"),
        "value.converter.schemas.enable": "false", "offset.flush.interval.ms": 100,
        "batch.max.wait.ms": 50, **extra,
    }, "test")  # fmt: skip


def produce(worker: Worker, values: list[bytes], keys: list[bytes | None] | None = None) -> None:
    """Append to partition 0 of ``in`` (made with one partition if missing), durably."""
    assert worker.log is not None
    if not worker.log.has_topic("in"):
        worker.log.create_topic("in", 1)
    prod = worker.log.producer()
    prod.send_many("in", values, keys=keys, partition=0)
    prod.flush()
