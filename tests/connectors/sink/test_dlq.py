"""A poison record that is the last of its partition goes to the dead letter queue once: the
sink's offsets in its target move past it, so a restart does not process it again."""

from __future__ import annotations

import time
from pathlib import Path

from hub.config import ConnectorSpec
from hub.log import TopicPartition
from hub.runtime.worker import Worker
from tests.connectors.sink.conftest import Sink
from tests.helpers import wait_for


def _dlq(worker: Worker) -> list[bytes | None]:
    if not worker.log.has_topic("dlq"):
        return []
    recs, _ = worker.log.partition("dlq", 0).records(0)
    return [r.value for r in recs]


def test_a_dead_lettered_last_record_is_not_processed_again(sink: Sink, tmp_path: Path) -> None:
    config = {
        "connector.class": sink.target.connector_class,
        **sink.config, "topics": "in", "table.name.format": "t",
        "primary.key.mode": "none", "delete.enabled": "false",
        "value.converter.schemas.enable": "false",
        "key.converter.schemas.enable": "false", "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "dlq", "batch.max.wait.ms": 50,
        "offset.flush.interval.ms": 100,
    }  # fmt: skip
    values = [b'{"n": 1}', b'{"n": 2}', b'"not a row"']
    for run in range(4):
        worker = Worker(str(tmp_path / "data"))
        try:
            if run == 0:
                worker.log.create_topic("in", 1)
                prod = worker.log.producer()
                prod.send_many("in", values, partition=0)
                prod.flush()
            worker.add(ConnectorSpec("sink", config, "test"))
            wait_for(lambda: _dlq(worker) == [b'"not a row"'])  # noqa: B023

            def committed() -> int | None:
                om = worker.log.groups.committed("connect-sink", TopicPartition("in", 0))  # noqa: B023
                return None if om is None else om.offset

            wait_for(lambda: committed() == 3)
            time.sleep(0.5)  # time enough to take the record again, were it to
            assert _dlq(worker) == [b'"not a row"'], f"run {run}"
        finally:
            worker.stop()
    assert sorted(sink.query('SELECT "n" FROM "t"')) == [(1,), (2,)]
    assert sink.query('SELECT "next_offset" FROM "_hub_offsets"') == [(3,)]
