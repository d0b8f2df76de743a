"""The worker's internal topics in Kafka Connect's formats and under the names a worker config
gives them (``config.storage.topic``, ``offset.storage.topic``, ``status.storage.topic``):
connector configs and target states, source offsets, connector and task states; a config
topic written in hub's earlier format still reads, and moves to Connect's on the next
change."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.errors import ConfigError
from hub.log import Log, TopicPartition
from hub.runtime.configs import ConfigStore
from hub.runtime.storage import StorageTopics
from hub.runtime.worker import Worker
from tests.helpers import wait_for

NAMES = StorageTopics("connect-configs", "connect-offsets", "connect-status")


def _records(log: Any, topic: str) -> list[tuple[str, Any]]:
    return [
        (r.key.decode(), None if r.value is None else json.loads(r.value))
        for r in log.scan(TopicPartition(topic, 0))
    ]


def _latest(records: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in records:
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def _drive(worker: Worker) -> None:
    """A REST-style connector through its life: created, stopped, resumed, paused; its
    source offsets stored; another created and deleted."""
    worker.create("gen", {"connector.class": "datagen", "topic": "events", "rate": 200,
                          "offset.flush.interval.ms": 100})  # fmt: skip
    worker.create("gone", {"connector.class": "datagen", "topic": "other", "rate": 10})
    wait_for(lambda: worker.offsets.offsets("gen"), what="gen's offsets stored")
    worker.stop_connector("gen")
    worker.resume("gen")
    worker.pause("gen")
    worker.publish_status()
    worker.delete("gone")
    worker.publish_status()


def _check(topics: dict[str, list[tuple[str, Any]]]) -> None:
    configs = _latest(topics["configs"])
    assert configs["connector-gen"] == {"properties": {
        "connector.class": "datagen", "topic": "events", "rate": 200,
        "offset.flush.interval.ms": 100}}  # fmt: skip
    assert configs["target-state-gen"] == {"state": "PAUSED", "state.v2": "PAUSED"}
    assert "connector-gone" not in configs
    stopped = [v for k, v in topics["configs"] if k == "target-state-gen"]
    assert {"state": "PAUSED", "state.v2": "STOPPED"} in stopped  # (Connect 3.5's STOPPED)
    offsets = _latest(topics["offsets"])
    keys = [json.loads(k) for k in offsets]
    assert ["gen", {"datagen": "events", "task": 0}] in keys  # [connector, source partition]
    status = _latest(topics["status"])
    assert status["status-connector-gen"]["state"] == "PAUSED"
    assert status["status-task-gen-0"]["state"] == "PAUSED"
    assert set(status["status-task-gen-0"]) == {"state", "trace", "worker_id", "generation"}
    assert not [k for k in status if "gone" in k]  # deleted with its connector
    assert ("status-connector-gone", None) in topics["status"]


def test_the_internal_topics_hold_connects_formats_under_the_given_names(
    tmp_path: Path,
) -> None:
    worker = Worker(str(tmp_path / "data"), storage=NAMES)
    try:
        _drive(worker)
        log = worker.log
        assert log is not None
        _check({k: _records(log, getattr(NAMES, k)) for k in ("configs", "offsets", "status")})
        assert not {"__connect_configs", "__connect_offsets", "__connect_status"} & set(
            log.topics(include_internal=True))  # fmt: skip
    finally:
        worker.stop()
    again = Worker(str(tmp_path / "data"), storage=NAMES)  # read back from the named topics
    try:
        assert set(again.connectors) == {"gen"}
        assert again.connectors["gen"].state == "PAUSED"
    finally:
        again.stop()


def test_a_config_topic_in_the_earlier_format_reads_and_moves_on_a_change(
    tmp_path: Path,
) -> None:
    """Keys that were the connector's name, ``{"state": ...}`` target states; Connect's own
    task and commit records are skipped."""
    with Log(str(tmp_path / "data")) as log:
        log.create_topic("__connect_configs", 1, {"cleanup.policy": "compact"})
        tp = TopicPartition("__connect_configs", 0)
        log.append_durable(tp, [b"old", b"target-state-old", b"task-x-0", b"commit-x",
                                b"connector-thing"],
                           [json.dumps({"connector.class": "datagen", "topic": "a"}).encode(),
                            b'{"state": "STOPPED"}', b'{"properties": {"k": "v"}}',
                            b'{"tasks": 1}',
                            json.dumps({"connector.class": "datagen"}).encode()])  # fmt: skip
        store = ConfigStore(log)
        assert store.configs() == {
            "old": {"connector.class": "datagen", "topic": "a"},
            "connector-thing": {"connector.class": "datagen"},  # (an old name, not a prefix)
        }
        assert store.state("old") == "STOPPED"
        store.put("old", {"connector.class": "datagen", "topic": "b"})
        tail = _records(log, "__connect_configs")[-2:]
        new = {"properties": {"connector.class": "datagen", "topic": "b"}}
        assert tail == [("connector-old", new), ("old", None)]
        assert ConfigStore(log).configs()["old"] == {"connector.class": "datagen", "topic": "b"}
        store.put("connector-thing", None)
        assert "connector-thing" not in ConfigStore(log).configs()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"status.storage.topic": "a b"}, "status.storage.topic must be a topic name"),
        ({"config.storage.topic": 5}, "config.storage.topic must be a topic name"),
        ({"config.storage.topic": "x", "offset.storage.topic": "x"}, "three different topics"),
    ],
)
def test_bad_storage_topic_names_are_named(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        StorageTopics.of(dict(doc), "worker.yaml")
    assert str(info.value).startswith("worker.yaml: ")


def test_on_kafka_a_plain_consumer_reads_connects_formats(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    """The same on a Kafka cluster (Tansu), read by a plain confluent-kafka consumer."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition as KafkaTopicPartition

    from hub.log.kafka import KafkaLog

    worker = Worker(str(tmp_path / "data"), storage=NAMES,
                    backend=KafkaLog({"bootstrap.servers": own_kafka_broker}))  # fmt: skip
    try:
        _drive(worker)
    finally:
        worker.stop()
    topics: dict[str, list[tuple[str, Any]]] = {}
    for field in ("configs", "offsets", "status"):
        consumer = Consumer({"bootstrap.servers": own_kafka_broker, "enable.partition.eof": True,
                             "group.id": f"reader-{uuid.uuid4().hex}",
                             "auto.offset.reset": "earliest"})  # fmt: skip
        consumer.assign([KafkaTopicPartition(getattr(NAMES, field), 0, 0)])
        got: list[tuple[str, Any]] = []
        while True:
            m = consumer.poll(10)
            assert m is not None, f"{field}: no end of partition within 10 s"
            if m.error() is not None:
                break  # (the end of the partition)
            value = m.value()
            got.append((m.key().decode(), None if value is None else json.loads(value)))
        consumer.close()
        topics[field] = got
    _check(topics)
