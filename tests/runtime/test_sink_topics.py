"""A sink whose topic does not exist yet waits for it: the topic is its source's to create,
with the partitions the source asks for, whichever of the two starts first."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hub.config import ConnectorSpec
from hub.runtime.worker import Worker
from tests.helpers import wait_for


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines() if p.exists() else []


def test_a_sink_started_first_waits_for_the_topic_its_source_creates(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.add(ConnectorSpec("out", {
            "connector.class": "FileStreamSink", "topics": "events", "file": str(out),
            "offset.flush.interval.ms": 100,
        }, "test"))  # fmt: skip
        wait_for(lambda: worker.status()["out"][0].state == "RUNNING", what="the sink runs")
        time.sleep(0.3)  # (it had time to create the topic, as it used to)
        assert not worker.backend.has_topic("events"), "the sink created its source's topic"
        worker.add(ConnectorSpec("gen", {
            "connector.class": "datagen", "topic": "events", "keys": 30, "max.records": 300,
            "topic.creation.default.partitions": 3,
        }, "test"))  # fmt: skip
        wait_for(lambda: len(_lines(out)) == 300, what="every record in the file")
        assert worker.backend.partition_count("events") == 3
        assert sorted(json.loads(line)["seq"] for line in _lines(out)) == list(range(300))
    finally:
        worker.stop()


def test_a_file_sink_writes_a_topic_made_again_from_its_start(tmp_path: Path) -> None:
    """The file's stored offset (10) is of the old topic: the new one's first 10 records had
    been skipped as written. The log's topic id tells the two apart."""
    from tests.runtime.file_pipeline import file_sink, produce

    out = tmp_path / "out.txt"
    worker = Worker(str(tmp_path / "data"))
    try:
        produce(worker, [b'"old%d"' % i for i in range(10)])
        worker.add(file_sink(tmp_path))
        wait_for(lambda: len(_lines(out)) == 10, what="the old topic's lines")
    finally:
        worker.stop()
    worker = Worker(str(tmp_path / "data"))
    try:
        assert worker.log is not None
        worker.log.delete_topic("in")
        produce(worker, [b'"new%d"' % i for i in range(15)])
        worker.add(file_sink(tmp_path))
        want = [f"old{i}" for i in range(10)] + [f"new{i}" for i in range(15)]
        wait_for(lambda: _lines(out) == want, what="every line of the new topic")
    finally:
        worker.stop()
