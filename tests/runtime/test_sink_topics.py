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
