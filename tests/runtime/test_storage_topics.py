"""The worker's internal topics in Kafka Connect's formats and under the names a worker config
gives them (``config.storage.topic``, ``offset.storage.topic``, ``status.storage.topic``):
connector configs and target states, source offsets, connector and task states; a config
topic written in hub's earlier format still reads, and moves to Connect's on the next
change."""

from __future__ import annotations

import contextlib
import json
import time
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
    worker.publish_status()  # (the job's, every second: at each step here)
    worker.stop_connector("gen")
    worker.publish_status()
    worker.resume("gen")
    worker.pause("gen")
    worker.publish_status()
    worker.delete("gone")
    worker.publish_status()


def _check(topics: dict[str, list[tuple[str, Any]]], stopped: bool = False) -> None:
    """What `_drive` leaves in the three topics (``stopped``: and the worker stopped since,
    which leaves its connectors and tasks UNASSIGNED, as Connect's does)."""
    configs = _latest(topics["configs"])
    assert configs["connector-gen"] == {"properties": {
        "connector.class": "datagen", "topic": "events", "rate": 200,
        "offset.flush.interval.ms": 100}}  # fmt: skip
    assert configs["target-state-gen"] == {"state": "PAUSED", "state.v2": "PAUSED"}
    assert "connector-gone" not in configs
    targets = [v for k, v in topics["configs"] if k == "target-state-gen"]
    assert {"state": "PAUSED", "state.v2": "STOPPED"} in targets  # (Connect 3.5's STOPPED)
    offsets = _latest(topics["offsets"])
    keys = [json.loads(k) for k in offsets]
    assert ["gen", {"datagen": "events", "task": 0}] in keys  # [connector, source partition]
    status = _latest(topics["status"])
    now = "UNASSIGNED" if stopped else "PAUSED"
    assert status["status-connector-gen"]["state"] == now
    assert status["status-task-gen-0"]["state"] == now
    states = [v["state"] for k, v in topics["status"] if k == "status-connector-gen" and v]
    assert states[:1] == ["RUNNING"] and "STOPPED" in states and "PAUSED" in states
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


EARLIER: list[tuple[bytes, bytes | None]] = [
    (b"old", json.dumps({"connector.class": "datagen", "topic": "a"}).encode()),
    (b"target-state-old", b'{"state": "STOPPED"}'),
    # connectors whose names look like this format's keys
    (b"connector-x", json.dumps({"connector.class": "datagen", "topic": "x"}).encode()),
    (b"target-state-y", json.dumps({"connector.class": "datagen", "topic": "y"}).encode()),
    (b"session-key", json.dumps({"connector.class": "datagen", "topic": "s"}).encode()),
    (b"gone", json.dumps({"connector.class": "datagen"}).encode()),
    (b"gone", None),
    # Connect's own records: not connectors
    (b"task-x-0", b'{"properties": {"k": "v"}}'),
    (b"commit-x", b'{"tasks": 1}'),
    (b"tasks-fencing-x", b'{"task-count": 1}'),
    (b"restart-connector-x", b'{"include-tasks": true, "only-failed": false}'),
    (b"logger-cluster-org.apache", b'{"level": "DEBUG"}'),
]
EXPECTED = {
    "old": {"connector.class": "datagen", "topic": "a"},
    "connector-x": {"connector.class": "datagen", "topic": "x"},
    "target-state-y": {"connector.class": "datagen", "topic": "y"},
    "session-key": {"connector.class": "datagen", "topic": "s"},
}


def test_a_config_topic_in_the_earlier_format_is_read_and_rewritten(tmp_path: Path) -> None:
    """Keys that were the connector's name, ``{"state": ...}`` target states: read, then
    rewritten at once in Connect's format; whatever prefix of the rewrite lands, a restart
    reads the same connectors, and finishes it; later changes and deletions stick."""
    from tests.runtime.test_offset_store import Died, PrefixLog

    with Log(str(tmp_path / "probe")) as log:  # (how many records the rewrite is)
        log.create_topic("__connect_configs", 1, {"cleanup.policy": "compact"})
        log.append_durable(TopicPartition("__connect_configs", 0), *zip(*EARLIER, strict=True))
        before = len(_records(log, "__connect_configs"))
        ConfigStore(log)
        size = len(_records(log, "__connect_configs")) - before
    assert size == 9  # 4 configs + 1 state, then 4 tombstones
    for land in range(size + 1):
        path = str(tmp_path / f"land{land}")
        with Log(path) as plain:
            plain.create_topic("__connect_configs", 1, {"cleanup.policy": "compact"})
            plain.append_durable(
                TopicPartition("__connect_configs", 0), *zip(*EARLIER, strict=True)
            )
            log = PrefixLog(plain)
            log.land = land if land < size else None
            try:
                store = ConfigStore(log)
                assert land == size
            except Died:
                store = ConfigStore(plain)  # the next start
            assert store.configs() == EXPECTED, land
            assert store.state("old") == "STOPPED" and store.state("x") == "STARTED"
            latest = _latest(_records(plain, "__connect_configs"))
            assert not {"old", "connector-x", "session-key", "gone"} & set(latest), land
            assert latest["connector-connector-x"] == {"properties": EXPECTED["connector-x"]}
            assert latest["target-state-old"] == {"state": "PAUSED", "state.v2": "STOPPED"}
            # changed and deleted in this format: so it stays
            store.put("old", {"connector.class": "datagen", "topic": "b"})
            store.put("connector-x", None)
            store.put("target-state-y", None)
            again = ConfigStore(plain)
            assert again.configs() == {"old": {"connector.class": "datagen", "topic": "b"},
                                       "session-key": EXPECTED["session-key"]}, land  # fmt: skip
            assert again.state("old") == "STOPPED"


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
        consumer = Consumer({"bootstrap.servers": own_kafka_broker,
                             "group.id": f"reader-{uuid.uuid4().hex}",
                             "auto.offset.reset": "earliest"})  # fmt: skip
        consumer.assign([KafkaTopicPartition(getattr(NAMES, field), 0, 0)])
        got: list[tuple[str, Any]] = []
        # to the end: 2 s without a record, and for the status topic the worker's last
        # write seen (Tansu's high watermark trails a batch of several records,
        # docs/kafka-backend.md, so a reader may wait a moment for the batch's rest)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = consumer.poll(2.0)
            if m is None:
                last = _latest(got).get("status-connector-gen", {}).get("state")
                if field != "status" or last == "UNASSIGNED":
                    break
                continue
            assert m.error() is None, m.error()
            value = m.value()
            got.append((m.key().decode(), None if value is None else json.loads(value)))
        consumer.close()
        topics[field] = got
    _check(topics, stopped=True)


def test_no_connector_reads_or_writes_the_internal_topics(tmp_path: Path) -> None:
    """The configs topic holds configs as sent (literal secrets too): a sink's topics.regex
    passes it by under any name, and naming it (or another internal topic) is an error."""
    worker = Worker(str(tmp_path / "data"), storage=NAMES)
    try:
        worker.create("gen", {"connector.class": "datagen", "topic": "events", "rate": 50})
        worker.create("all", {"connector.class": "FileStreamSink", "topics.regex": ".*",
                              "file": str(tmp_path / "all.txt"), "key.converter": "string",
                              "value.converter": "string"})  # fmt: skip
        out = tmp_path / "all.txt"
        wait_for(lambda: out.exists() and out.stat().st_size > 0, what="the sink writing")
        assert worker.log is not None and worker.log.has_topic("connect-configs")
        text = (tmp_path / "all.txt").read_text()
        assert "connector.class" not in text and "UNASSIGNED" not in text  # (only events)
        dlq = {"topics": "events", "errors.deadletterqueue.topic.name": "connect-status"}
        for name, extra in (("cfg", {"topics": "connect-configs"}), ("dlq", dlq)):
            # refused before it is stored (it had been stored, and FAILED at every start)
            with pytest.raises(ConfigError, match="one of the worker's internal topics"):
                worker.create(name, {"connector.class": "FileStreamSink",
                                     "file": str(tmp_path / f"{name}.txt"), **extra})  # fmt: skip
            assert name not in worker.connectors
            assert name not in ConfigStore(worker.backend, "connect-configs").configs()
        # nor a source (nothing of it written there: the configs still read)
        worker.create("src", {"connector.class": "datagen", "topic": "connect-configs",
                              "rate": 50})  # fmt: skip
        trace = wait_for(lambda: worker.status()["src"][0].trace, what="the source refused")
        assert "would go to 'connect-configs', one of the worker's internal topics" in trace
        assert ConfigStore(worker.backend, "connect-configs").configs()["src"]
    finally:
        worker.stop()


def _compacted(log: Any, topic: str) -> list[tuple[bytes, bytes]]:
    """The topic as full compaction leaves it: each key's last record, where it stood, and
    no tombstones."""
    last: dict[bytes, tuple[int, bytes | None]] = {}
    for r in log.scan(TopicPartition(topic, 0)):
        last[r.key] = (r.offset, r.value)
    kept = sorted((offset, key, value) for key, (offset, value) in last.items())
    return [(key, value) for _, key, value in kept if value is not None]


def test_the_rewrite_keeps_connectors_whose_new_key_was_anothers_old_one(tmp_path: Path) -> None:
    """``x``'s new key ``connector-x`` was the earlier-format key of a connector named
    ``connector-x`` (and so on): whatever prefix of the rewrite lands, and compacted or not,
    every connector reads back."""
    from tests.runtime.test_offset_store import Died, PrefixLog

    names = ["x", "connector-x", "connector-connector-x", "y"]
    earlier = [(n.encode(), json.dumps({"connector.class": "datagen", "topic": n}).encode())
               for n in names]  # fmt: skip
    want = {n: {"connector.class": "datagen", "topic": n} for n in names}
    for land in range(12):
        with Log(str(tmp_path / f"land{land}")) as plain:
            plain.create_topic("__connect_configs", 1, {"cleanup.policy": "compact"})
            plain.append_durable(
                TopicPartition("__connect_configs", 0), *zip(*earlier, strict=True)
            )
            log = PrefixLog(plain)
            log.land = land
            with contextlib.suppress(Died):
                ConfigStore(log)
            for compact in (False, True):
                if compact:  # (what a compacted topic holds; read by a new worker)
                    records = _compacted(plain, "__connect_configs")
                    fresh = Log(str(tmp_path / f"compacted{land}"))
                    fresh.create_topic("__connect_configs", 1, {"cleanup.policy": "compact"})
                    fresh.append_durable(TopicPartition("__connect_configs", 0),
                                         *zip(*records, strict=True))  # fmt: skip
                    assert ConfigStore(fresh).configs() == want, (land, compact)
                    # and once more after that start's own rewrite, compacted again
                    again = _compacted(fresh, "__connect_configs")
                    fresh.close()
                    with Log(str(tmp_path / f"again{land}")) as last:
                        last.create_topic("__connect_configs", 1, {"cleanup.policy": "compact"})
                        last.append_durable(TopicPartition("__connect_configs", 0),
                                            *zip(*again, strict=True))  # fmt: skip
                        assert ConfigStore(last).configs() == want, (land, "twice")
                else:
                    assert ConfigStore(plain).configs() == want, (land, compact)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"config.storage.replication.factor": 0}, "config.storage.replication.factor must be -1"),
        ({"offset.storage.replication.factor": "x"}, "offset.storage.replication.factor must"),
        ({"offset.storage.partitions": 25}, "offset.storage.partitions is 25, but hub keeps"),
        ({"status.storage.partitions": 5}, "status.storage.partitions is 5"),
    ],
)
def test_bad_storage_topic_properties_are_named(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StorageTopics.of(dict(doc), "worker.yaml")


def test_storage_topic_properties_are_read() -> None:
    props: dict[str, object] = {
        "config.storage.replication.factor": 3, "offset.storage.replication.factor": "-1",
        "status.storage.partitions": 1, "bootstrap.servers": "b:9092",
    }  # fmt: skip
    topics = StorageTopics.of(props, "worker.yaml")
    assert (topics.configs_replication, topics.offsets_replication) == (3, -1)
    assert topics.status_replication is None  # (the worker's replication.factor)
    assert props == {"bootstrap.servers": "b:9092"}  # (the rest goes to the client)


def test_a_storage_topic_of_several_partitions_is_refused(tmp_path: Path) -> None:
    """Connect's own offsets topic has 25 partitions: hub reads partition 0 only, and would
    start its sources again from scratch for the offsets the others hold."""
    with Log(str(tmp_path / "data")) as log:
        log.create_topic("connect-offsets", 25)
    with pytest.raises(ConfigError, match="'connect-offsets' has 25 partitions"):
        Worker(str(tmp_path / "data"), storage=NAMES)


@pytest.mark.parametrize("which", ["configs", "offsets", "status"])
def test_a_storage_topic_not_compacted_is_refused_on_kafka_and_in_the_log(
    kafka_broker: str, tmp_path: Path, which: str
) -> None:
    # (made beforehand with cleanup.policy=delete, by an admin or a broker's auto-creation,
    # it was taken: on Kafka, retention would then delete the source offsets and connector
    # configs no newer record replaced, and sources start over; Kafka Connect refuses it)
    from hub.log.kafka import KafkaLog

    name = f"{which}-{uuid.uuid4().hex[:8]}"
    storage = StorageTopics(**{"configs": f"c-{name}", "offsets": f"o-{name}",
                               "status": f"s-{name}", which: name})  # fmt: skip
    backend = KafkaLog({"bootstrap.servers": kafka_broker}, replication_factor=1)
    try:
        backend.create_topic(name, 1, {"cleanup.policy": "delete", "retention.ms": "60000"})
        with pytest.raises(ConfigError, match=f"'{name}' has cleanup.policy=delete"):
            Worker(str(tmp_path / "data"), storage=storage, backend=backend)
    finally:
        backend.close()
    with Log(str(tmp_path / "log")) as log:
        log.create_topic(name, 1, {"cleanup.policy": "compact,delete"})
    with pytest.raises(ConfigError, match=f"'{name}' has cleanup.policy=compact,delete"):
        Worker(str(tmp_path / "log"), storage=storage)


def test_on_kafka_topics_get_the_replication_factors_asked_for(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    """Each internal topic its *.storage.replication.factor, a source's topics the
    connector's topic.creation.default.replication.factor and partitions, its dead letter
    queue errors.deadletterqueue.topic.replication.factor, anything else the worker's
    replication.factor (Tansu keeps one copy whatever it is asked, but reports the factor
    asked for: what is checked here is what hub asks)."""
    from confluent_kafka.admin import AdminClient

    from hub.log.kafka import KafkaLog

    storage = StorageTopics("connect-configs", "connect-offsets", "connect-status",
                            configs_replication=3, offsets_replication=2)  # fmt: skip
    backend = KafkaLog({"bootstrap.servers": own_kafka_broker}, replication_factor=1)
    worker = Worker(str(tmp_path / "data"), storage=storage, backend=backend)
    try:
        worker.create("gen", {
            "connector.class": "datagen", "topic": "events", "rate": 100,
            "topic.creation.default.replication.factor": 2,
            "topic.creation.default.partitions": 3,
        })  # fmt: skip
        worker.create("other", {"connector.class": "datagen", "topic": "plain", "rate": 100})
        # a record the sink's key converter cannot read: to the dead letter queue, created
        backend.create_topic("bad", 1)
        prod = backend.producer()
        prod.send("bad", b'"v"', key=b"{not json")
        prod.flush()
        worker.create("sink", {
            "connector.class": "FileStreamSink", "topics": "bad",
            "file": str(tmp_path / "out.txt"), "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": "dlq",
            "errors.deadletterqueue.topic.replication.factor": 3,
            "key.converter": "json", "value.converter": "string",
        })  # fmt: skip
        admin = AdminClient({"bootstrap.servers": own_kafka_broker})

        def factors() -> dict[str, tuple[int, int]]:
            md = admin.list_topics(timeout=10).topics
            return {name: (len(t.partitions), len(t.partitions[0].replicas))
                    for name, t in md.items() if 0 in t.partitions}  # fmt: skip

        for name in ("events", "plain", "dlq"):
            wait_for(lambda name=name: name in factors(), 60, f"topic {name}")
        got = factors()
        assert got["connect-configs"] == (1, 3)
        assert got["connect-offsets"] == (1, 2)
        assert got["connect-status"] == (1, 1)  # (the worker's)
        assert got["events"] == (3, 2)
        assert got["plain"] == (1, 1)
        assert got["dlq"] == (1, 3)
    finally:
        worker.stop()
        backend.close()


def test_topic_creation_default_configs_go_to_the_topics_a_source_creates(
    tmp_path: Path,
) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.create("gen", {
            "connector.class": "datagen", "topic": "events", "rate": 100,
            "topic.creation.default.cleanup.policy": "compact",
            "topic.creation.default.retention.ms": 3_600_000,
        })  # fmt: skip
        assert worker.log is not None
        log = worker.log
        wait_for(lambda: log.has_topic("events"), what="the topic")
        props = worker.backend.topic_properties("events")
        assert (props["cleanup.policy"], props["retention.ms"]) == ("compact", "3600000")
    finally:
        worker.stop()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"topic.creation.default.retention.ms": "soon"}, "retention.ms='soon'"),
        ({"topic.creation.default.replication.factor": 0}, "must be -1"),
        ({"errors.deadletterqueue.topic.replication.factor": -2}, "must be -1"),
    ],
)
def test_bad_topic_creation_properties_are_named(extra: dict[str, Any], message: str) -> None:
    from hub.config import ConnectorSpec
    from hub.runtime.validation import validate

    spec = ConnectorSpec("gen", {"connector.class": "datagen", "topic": "t", **extra}, "x.yaml")
    with pytest.raises(ConfigError, match=message):
        validate(spec)


def test_kafka_only_topic_configs_pass_validation_without_a_warning() -> None:
    from hub.config import ConnectorSpec
    from hub.runtime.validation import validate

    valid = validate(ConnectorSpec("gen", {
        "connector.class": "datagen", "topic": "t",
        "topic.creation.default.min.insync.replicas": 2,
        "topic.creation.default.compression.type": "snappy",  # (Kafka's; not the embedded log's)
    }, "x.yaml"))  # fmt: skip
    assert valid.warnings == []


def test_the_embedded_log_leaves_out_kafka_only_topic_configs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.create("gen", {
            "connector.class": "datagen", "topic": "events", "rate": 100,
            "topic.creation.default.min.insync.replicas": 2,
            "topic.creation.default.retention.ms": 60_000,
        })  # fmt: skip
        assert worker.log is not None
        log = worker.log
        wait_for(lambda: log.has_topic("events"), what="the topic, created all the same")
        assert worker.backend.topic_properties("events")["retention.ms"] == "60000"
        assert worker.status()["gen"][0].state == "RUNNING"
        assert "leaves out topic.creation.default.min.insync.replicas" in caplog.text
    finally:
        worker.stop()
