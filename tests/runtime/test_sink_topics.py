"""A sink whose topic does not exist yet waits for it: the topic is its source's to create,
with the partitions the source asks for, whichever of the two starts first."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def test_a_file_sink_keeps_the_topic_id_of_each_partition(tmp_path: Path) -> None:
    """A partition of the topic made again that gets no record before a restart keeps the old
    topic's offset: the id stored with it must stay the old topic's too (stored per topic, it
    had been moved on by the other partition's flush, and that partition's first records
    were later skipped)."""
    from tests.runtime.file_pipeline import file_sink

    out = tmp_path / "out.txt"

    def send(worker: Worker, partition: int, values: list[bytes]) -> None:
        assert worker.log is not None
        if not worker.log.has_topic("in"):
            worker.log.create_topic("in", 2)
        prod = worker.log.producer()
        prod.send_many("in", values, partition=partition)
        prod.flush()

    def run(lines: int, then: Callable[[Worker], None]) -> None:
        worker = Worker(str(tmp_path / "data"))
        try:
            then(worker)
            worker.add(file_sink(tmp_path))
            wait_for(lambda: len(_lines(out)) == lines, what=f"{lines} lines")
        finally:
            worker.stop()

    def old(worker: Worker) -> None:
        send(worker, 0, [b'"a%d"' % i for i in range(10)])
        send(worker, 1, [b'"b%d"' % i for i in range(10)])

    def again(worker: Worker) -> None:
        assert worker.log is not None
        worker.log.delete_topic("in")
        send(worker, 0, [b'"new-a%d"' % i for i in range(15)])

    run(20, old)
    run(35, again)
    run(50, lambda worker: send(worker, 1, [b'"new-b%d"' % i for i in range(15)]))
    assert sorted(_lines(out)[35:]) == sorted(f"new-b{i}" for i in range(15))


def test_a_connector_making_fewer_tasks_than_tasks_max_says_so(tmp_path: Path, caplog: Any) -> None:
    # (a chaos review's: tasks.max 2 on a database sink ran one task without a word)
    import logging

    from tests.runtime.file_pipeline import file_sink

    caplog.set_level(logging.INFO, logger="hub.runtime.worker")
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.add(file_sink(tmp_path, **{"tasks.max": 2}))
        worker.add(ConnectorSpec("gen", {"connector.class": "datagen", "topic": "g",
                                         "tasks.max": 2, "rate": 1}, "test"))  # fmt: skip
        wait_for(lambda: "connector gen started" in caplog.text, what="the start")
    finally:
        worker.stop()
    assert "connector sink started with 1 task(s) (tasks.max 2: the connector makes 1)" in (
        caplog.text
    )
    assert "connector gen started with 2 task(s): " in caplog.text
