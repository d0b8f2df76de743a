"""`hub log export` / `hub log import`: a worker's log moved between its data directory and a
Kafka cluster (Tansu), and the same connectors resuming there without a new snapshot: every
record once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.config import ConnectorSpec
from hub.log import Log, TopicPartition
from hub.log.backend import LogBackend
from hub.runtime.offsets import OffsetStore
from hub.runtime.storage import StorageTopics
from hub.runtime.worker import Worker
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

STORAGE = StorageTopics("connect-configs", "connect-offsets", "connect-status")


def _worker_yaml(tmp_path: Path, broker: str) -> Path:
    path = tmp_path / "worker.yaml"
    path.write_text(
        f"log.backend: kafka\nbootstrap.servers: {broker}\nreplication.factor: 1\n"
        "config.storage.topic: connect-configs\noffset.storage.topic: connect-offsets\n"
        "status.storage.topic: connect-status\nsession.timeout.ms: 2000\n"
        "heartbeat.interval.ms: 500\n"
    )
    return path


def _hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=180,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )  # fmt: skip


def _contents(log: LogBackend, topic: str) -> list[list[tuple[Any, ...]]]:
    return [
        [
            (r.offset, r.key, r.value, tuple(r.headers), r.timestamp)
            for r in log.scan(TopicPartition(topic, p))
        ]  # fmt: skip
        for p in range(log.partition_count(topic))
    ]


def _seqs(path: Path) -> list[int]:
    """The seqs of the file's whole lines (the sink may be writing the next one)."""
    return [json.loads(line)["seq"] for line in path.read_text().split("\n")[:-1]]


def test_a_pipeline_moves_to_kafka_and_back_with_every_record_once(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    from hub.log.kafka import KafkaLog

    out = tmp_path / "out.jsonl"
    gen = {"connector.class": "datagen", "topic": "events", "rate": 0, "keys": 50,
           "max.records": 3000, "batch.size": 500, "value.converter.schemas.enable": "false",
           "topic.creation.default.partitions": 3}  # fmt: skip
    sink = {"connector.class": "FileStreamSink", "topics": "events", "file": str(out),
            "value.converter.schemas.enable": "false", "offset.flush.interval.ms": 100}  # fmt: skip
    # 1. on the embedded log, as REST creates them (their configs in the configs topic)
    embedded = tmp_path / "data"
    worker = Worker(str(embedded))
    try:
        worker.create("gen", gen)
        worker.create("out", sink)
        wait_for(lambda: out.exists() and len(_seqs(out)) == 3000, 60, "3000 lines")
        worker.log.create_topic("plain", 1, {"retention.ms": "86400000"})  # type: ignore[union-attr]
        prod = worker.log.producer()  # type: ignore[union-attr]
        prod.send("plain", b"v", key=b"k", headers=[("h", b"1")], timestamp=1234)
        prod.flush()
    finally:
        worker.stop()
    config = _worker_yaml(tmp_path, own_kafka_broker)

    # 2. export: a dry run says what, then the copy
    dry = _hub("--data-dir", str(embedded), "log", "export", "--worker-config", str(config),
               "--dry-run")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "events: 3 partition(s), 3,000 records, offsets kept" in dry.stdout
    assert "__connect_configs -> connect-configs" in dry.stdout
    assert "dry run:" in dry.stdout
    kafka = KafkaLog({"bootstrap.servers": own_kafka_broker})
    try:
        assert not kafka.has_topic("events")  # (nothing copied by a dry run)
        done = _hub("--data-dir", str(embedded), "log", "export", "--worker-config", str(config))
        assert done.returncode == 0, done.stderr
        with Log(str(embedded), read_only=True) as log:
            for topic, there in (("events", "events"), ("plain", "plain"),
                                 ("__connect_offsets", "connect-offsets"),
                                 ("__connect_configs", "connect-configs")):  # fmt: skip
                assert _contents(kafka, there) == _contents(log, topic), topic
            committed = {
                p.partition: p.committed for p in log.groups.describe("connect-out").partitions
            }
        assert kafka.topic_properties("plain")  # (Tansu reports its configs as defaults)
        kafka_committed = {p.partition: p.committed
                           for p in kafka.groups.describe("connect-out").partitions}  # fmt: skip
        assert kafka_committed == committed

        # 3. the same connectors on Kafka, read back from the copied configs: the source goes on
        # from its offset, the sink from its file's: every record once
        there = Worker(str(tmp_path / "kafka-data"), backend=kafka, storage=STORAGE)
        try:
            assert set(there.connectors) == {"gen", "out"}
            there.put_config("gen", {**gen, "max.records": 6000})
            wait_for(lambda: len(_seqs(out)) >= 6000, 90, "6000 lines")
        finally:
            there.stop()
        assert sorted(_seqs(out)) == list(range(6000))

        # 4. and back: import into a new data directory
        back = tmp_path / "back"
        done = _hub("--data-dir", str(back), "log", "import", "--worker-config", str(config))
        assert done.returncode == 0, done.stderr
        with Log(str(back), read_only=True) as log:
            for topic, there_name in (
                ("events", "events"),
                ("__connect_offsets", "connect-offsets"),
            ):
                assert _contents(log, topic) == _contents(kafka, there_name), topic
            assert len([r for p in _contents(log, "events") for r in p]) == 6000
        # a second copy into the same place is refused: nothing is mixed
        again = _hub("--data-dir", str(back), "log", "import", "--worker-config", str(config))
        assert again.returncode == 2 and "already has" in again.stderr
    finally:
        kafka.close()


def test_a_copy_that_would_shift_offsets_is_refused_unless_allowed(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    """A compacted topic has lost offsets: its records would get other offsets on Kafka. The
    copy is refused; allowed, the group's offset moves to the same record's new offset."""
    from hub.log.kafka import KafkaLog

    data = tmp_path / "data"
    with Log(str(data)) as log:
        log.create_topic("table", 1, {"cleanup.policy": "compact", "segment.bytes": "1024",
                                      "min.cleanable.dirty.ratio": "0"})  # fmt: skip
        prod = log.producer()
        for i in range(0, 200, 20):  # (batches of 20 over several segments)
            chunk = range(i, i + 20)
            prod.send_many("table", [b"%d" % j for j in chunk],
                           keys=[b"k%d" % (j % 10) for j in chunk], partition=0)  # fmt: skip
            prod.flush()
        log.run_maintenance(force_compaction=True)
        kept = [r.offset for r in log.scan(TopicPartition("table", 0))]
        assert len(kept) < 200 and kept[-1] == 199  # (gaps: compacted)
        log.groups.commit("readers", {TopicPartition("table", 0): kept[-3]})
        # a source task killed inside a commit: its window names table/0
        OffsetStore(log).write("src", {}, task=(0, {"seq": 5, "window": {"table/0": 150}}))
    config = _worker_yaml(tmp_path, own_kafka_broker)
    stuck = _hub("--data-dir", str(data), "log", "export", "--worker-config", str(config),
                 "--allow-offset-shift")  # fmt: skip
    assert stuck.returncode == 2
    assert "src task 0: table/0" in stuck.stderr and "stop it" in stuck.stderr
    with Log(str(data)) as log:  # (a clean stop closes it)
        OffsetStore(log).write("src", {}, task=(0, {"seq": 5, "window": None}))
    refused = _hub("--data-dir", str(data), "log", "export", "--worker-config", str(config))
    assert refused.returncode == 2
    assert "table/0" in refused.stderr and "--allow-offset-shift" in refused.stderr
    assert "Traceback" not in refused.stderr
    done = _hub("--data-dir", str(data), "log", "export", "--worker-config", str(config),
                "--allow-offset-shift")  # fmt: skip
    assert done.returncode == 0, done.stderr
    kafka = KafkaLog({"bootstrap.servers": own_kafka_broker})
    try:
        values = [r.value for r in kafka.scan(TopicPartition("table", 0))]
        assert len(values) == len(kept)
        (lag,) = kafka.groups.describe("readers").partitions
        assert lag.committed == len(kept) - 3  # the same record, at its new offset
        assert values[len(kept) - 3] == b"%d" % kept[-3]
    finally:
        kafka.close()


def test_exporting_while_a_worker_holds_the_log_is_refused(
    kafka_broker: str, tmp_path: Path
) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        worker.add(ConnectorSpec("gen", {"connector.class": "datagen", "topic": "t",
                                         "rate": 10}, "test"))  # fmt: skip
        config = _worker_yaml(tmp_path, kafka_broker)
        r = _hub("--data-dir", str(tmp_path / "data"), "log", "export", "--worker-config",
                 str(config))  # fmt: skip
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert "a worker runs on the data directory" in r.stderr and "read-only" not in r.stderr
    finally:
        worker.stop()


def _embedded_plan(tmp_path: Path) -> tuple[Log, Any]:
    """A log whose t/0 was emptied by retention (its start and end 10, the group at 10) and
    whose compacted offsets topic lost offsets: what a long-running worker leaves."""
    import time

    src = Log(str(tmp_path / "src"), background=False)
    src.create_topic("t", 2, {})
    prod = src.producer()
    old = int(time.time() * 1000) - 30 * 86_400_000
    prod.send_many("t", [b"v%d" % i for i in range(10)], timestamps=old, partition=0)
    prod.send_many("t", [b"w%d" % i for i in range(10)], partition=1)
    prod.flush()
    src.groups.commit("connect-out", {TopicPartition("t", 0): 10, TopicPartition("t", 1): 7})
    src.partition("t", 0).roll()
    src.run_maintenance()
    assert src.watermarks(TopicPartition("t", 0)) == (10, 10)
    return src, src


def test_an_emptied_partition_is_not_taken_for_one_that_keeps_its_offsets(
    tmp_path: Path,
) -> None:
    from hub.errors import ConfigError
    from hub.runtime.migrate import check_copy, copy_log, plan_copy

    src, _ = _embedded_plan(tmp_path)
    dst = Log(str(tmp_path / "dst"), background=False)
    try:
        plan = plan_copy(src, StorageTopics(), StorageTopics(), dst_is_embedded=True)
        kept = {p.tp.partition: p.kept for p in plan.partitions["t"]}
        assert kept == {0: False, 1: True}
        with pytest.raises(ConfigError, match="t/0"):
            check_copy(plan, src, dst, allow_offset_shift=False)
        check_copy(plan, src, dst, allow_offset_shift=True)
        groups = copy_log(src, dst, plan)
        # the group's offset 10 was past every record of t/0: it is the new end, 0
        assert groups["connect-out"] == {TopicPartition("t", 0): 0, TopicPartition("t", 1): 7}
        prod = dst.producer()
        prod.send_many("t", [b"new%d" % i for i in range(15)], partition=0)
        prod.flush()
        c = dst.consumer(group_id="connect-out", auto_offset_reset="earliest")
        c.assign([TopicPartition("t", 0)])
        got: list[bytes | None] = []
        while batch := c.poll(0.2):
            got += [r.value for r in batch]
        assert got == [b"new%d" % i for i in range(15)]  # none skipped
    finally:
        src.close()
        dst.close()


def test_a_compacted_offsets_topic_needs_no_offset_shift_permission(tmp_path: Path) -> None:
    """Storage topics are read by key: their offsets may change in a copy."""
    from hub.runtime.migrate import check_copy, plan_copy

    with Log(str(tmp_path / "src"), background=False) as src:
        src.create_topic("__connect_offsets", 1, {"cleanup.policy": "compact",
                                                  "segment.bytes": "1024"})  # fmt: skip
        store = OffsetStore(src)
        for i in range(300):  # a source committing its offset again and again
            store.write("gen", {'{"p":0}': ({"p": 0}, {"n": i})})
        src.run_maintenance(force_compaction=True)
        assert len(list(src.scan(TopicPartition("__connect_offsets", 0)))) < 300
        with Log(str(tmp_path / "dst"), background=False) as dst:
            plan = plan_copy(src, StorageTopics(), StorageTopics("c", "o", "s"))
            assert plan.shifted == []
            check_copy(plan, src, dst, allow_offset_shift=False)


def test_custom_storage_names_of_the_data_directory_are_used(
    kafka_broker: str, tmp_path: Path
) -> None:
    """--embedded-worker-config: the data directory's own storage topic names."""
    names = StorageTopics("my-configs", "my-offsets", "my-status")
    worker = Worker(str(tmp_path / "data"), storage=names)
    try:
        worker.create("gen", {"connector.class": "datagen", "topic": "t", "rate": 200,
                              "offset.flush.interval.ms": 100})  # fmt: skip
        wait_for(lambda: worker.offsets.offsets("gen"), what="offsets stored")
    finally:
        worker.stop()
    embedded = tmp_path / "embedded.yaml"
    embedded.write_text("config.storage.topic: my-configs\noffset.storage.topic: my-offsets\n"
                        "status.storage.topic: my-status\n")  # fmt: skip
    config = _worker_yaml(tmp_path, kafka_broker)
    r = _hub("--data-dir", str(tmp_path / "data"), "log", "export", "--worker-config",
             str(config), "--embedded-worker-config", str(embedded), "--dry-run")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "my-offsets -> connect-offsets" in r.stdout
    assert "my-configs -> connect-configs" in r.stdout
    assert "my-status" not in r.stdout  # (workers write it again)
    # without it, my-offsets had been copied as a plain topic: on Kafka the source started
    # over and wrote its records again
    r = _hub("--data-dir", str(tmp_path / "data"), "log", "export", "--worker-config",
             str(config), "--dry-run")  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no offsets topic '__connect_offsets', but 'my-offsets' holds source offsets" in r.stderr


def _two_topics(path: Path) -> Log:
    src = Log(str(path), background=False)
    OffsetStore(src).write("gen", {'{"p":0}': ({"p": 0}, {"seq": 6})})
    for name in ("a", "b"):
        src.create_topic(name, 1)
        prod = src.producer()
        prod.send_many(name, [b"x"] * 3, partition=0)
        prod.flush()
    src.groups.commit("connect-out", {TopicPartition("a", 0): 2})
    return src


def test_a_copy_stopped_part_way_leaves_no_offsets_and_a_mark_until_it_is_redone(
    tmp_path: Path,
) -> None:
    # (the offsets topic was copied first: a copy stopped in the records left every source
    # offset there, and a worker started on it went on past records never copied, silently)
    from hub.errors import ConfigError
    from hub.runtime.copymark import undo, unfinished
    from hub.runtime.migrate import CopyFailed, check_copy, copy_log, plan_copy

    with _two_topics(tmp_path / "src") as src:
        dst_dir = str(tmp_path / "dst")
        with Log(dst_dir, background=False) as dst:
            plan = plan_copy(src, StorageTopics(), StorageTopics(), dst_is_embedded=True)
            check_copy(plan, src, dst, allow_offset_shift=False)
            dst.create_topic("b", 1)  # (made meanwhile: the copy fails there)
            with pytest.raises(CopyFailed, match="created a on the destination.*run the same"):
                copy_log(src, dst, plan)
            assert not dst.has_topic("__connect_offsets")  # (written after the records)
            assert not dst.groups.describe("connect-out").partitions
        with pytest.raises(ConfigError, match="copy from another log .* has not finished"):
            Worker(dst_dir)
        other = Worker(dst_dir, storage=StorageTopics("c2", "o2", "s2"))  # (not its topics)
        other.stop()
        with Log(dst_dir, background=False) as dst:
            mark = unfinished(dst)
            assert mark is not None and not mark.alive()
            assert undo(dst, mark) == ["a"]  # (what it made: b is someone else's)
            assert dst.has_topic("b") and not dst.has_topic("a")
            dst.delete_topic("b")
            plan = plan_copy(src, StorageTopics(), StorageTopics(), dst_is_embedded=True)
            check_copy(plan, src, dst, allow_offset_shift=False)
            copy_log(src, dst, plan)
            assert unfinished(dst) is None  # (done: marked so, nothing deleted)
        worker = Worker(dst_dir)
        try:
            assert worker.offsets.offsets("gen") == {'{"p":0}': {"seq": 6}}
        finally:
            worker.stop()
        with Log(dst_dir, read_only=True) as dst:
            assert [len(list(dst.scan(TopicPartition(t, 0)))) for t in ("a", "b")] == [3, 3]


def test_a_stopped_copy_is_undone_only_by_itself_and_never_while_it_runs(tmp_path: Path) -> None:
    # (the review of the mark: any later copy deleted a stopped one's topics by name, a user's
    # topic made again under one of them too; a copy still running was taken for a stopped
    # one and undone; a source holding a stopped copy was copied on, unmarked)
    import socket

    from hub.errors import ConfigError
    from hub.runtime import copymark
    from hub.runtime.migrate import CopyFailed, copy_log, plan_copy

    with _two_topics(tmp_path / "src") as src, Log(str(tmp_path / "dst")) as dst:
        plan = plan_copy(src, StorageTopics(), StorageTopics(), dst_is_embedded=True)
        dst.create_topic("b", 1)
        with pytest.raises(CopyFailed):
            copy_log(src, dst, plan, origin="the data directory /x")
        dst.delete_topic("a")
        dst.create_topic("a", 1)  # a user's topic made again under the copy's name
        mark = copymark.unfinished(dst)
        assert mark is not None and mark.source == "the data directory /x"
        assert copymark.deletable(dst, mark) == []  # (another id: not the copy's)
        assert copymark.undo(dst, mark) == [] and dst.has_topic("a")
        # a copy still running: on this host, its process alive; elsewhere, seen lately
        running = copymark.Marker(dst, "the data directory /y", ("__connect_offsets",))
        mark = copymark.unfinished(dst)
        assert mark is not None
        mark.pid, mark.started = 1, copymark._started(1)  # (init: alive, not this process)
        with pytest.raises(ConfigError, match="still running"):
            copymark.undo(dst, mark)
        # (silent however long: a running copy beats only while it copies, a slow cluster
        # may take minutes to make a topic; the same process, not a reused pid, counts)
        assert mark.alive(mark.beat + 10 * copymark.STALE_MS)
        mark.started = "another start"
        assert not mark.alive()
        mark.host = socket.gethostname() + "-elsewhere"
        assert mark.alive() and not mark.alive(mark.beat + copymark.STALE_MS)
        # as a source: refused until it is done
        with pytest.raises(ConfigError, match="the source holds a copy .* has not finished"):
            copymark.refuse_unfinished_source(dst)
        running.done()
        copymark.refuse_unfinished_source(dst)


def test_a_source_that_changes_during_the_copy_fails_it(tmp_path: Path) -> None:
    # (records removed by retention meanwhile: the partition was copied short and "copied N"
    # said the count; records added: a worker runs there, and the two logs went apart)
    from hub.errors import ConfigError
    from hub.runtime.migrate import CopyFailed, check_copy, copy_log, plan_copy

    with Log(str(tmp_path / "src"), background=False) as src:
        src.create_topic("t", 1, {"segment.bytes": "1024"})
        prod = src.producer()
        for i in range(50):
            prod.send("t", b"v" * 100, partition=0, timestamp=i + 1)
        prod.flush()
        plan = plan_copy(src, StorageTopics(), StorageTopics(), dst_is_embedded=True)
        with Log(str(tmp_path / "dst"), background=False) as dst:
            check_copy(plan, src, dst, allow_offset_shift=True)
            src.alter_topic("t", {"retention.bytes": "2048"})
            src.run_maintenance()
            assert src.watermarks(TopicPartition("t", 0))[0] > 0
            with pytest.raises(CopyFailed, match="short of the 50 counted"):
                copy_log(src, dst, plan)
        plan = plan_copy(src, StorageTopics(), StorageTopics(), dst_is_embedded=True)
        prod.send("t", b"new", partition=0)
        prod.flush()
        with (
            Log(str(tmp_path / "dst2"), background=False) as dst,
            pytest.raises(ConfigError, match="written to during the copy: t/0"),
        ):
            check_copy(plan, src, dst, allow_offset_shift=True)


def test_an_export_of_topics_kafka_would_take_for_one_is_refused_before_copying(
    tmp_path: Path,
) -> None:
    # (Kafka refuses a topic whose name differs from another's only in '.' and '_': the copy
    # failed part way, at the second one)
    from hub.errors import ConfigError
    from hub.runtime.migrate import plan_copy

    with Log(str(tmp_path / "src"), background=False) as src:
        src.create_topic("orders.eu", 1)
        src.create_topic("orders_eu", 1)
        plan_copy(src, StorageTopics(), StorageTopics(), dst_is_embedded=True)  # (embedded: fine)
        with pytest.raises(ConfigError, match="'orders.eu' and 'orders_eu' differ only in"):
            plan_copy(src, StorageTopics(), StorageTopics())


def test_a_copy_carries_what_the_destination_would_not_keep_alike(tmp_path: Path) -> None:
    # an export sets the embedded log's retention on the cluster's topic (a cluster default
    # of a day had deleted what the data directory kept); an import raises max.message.bytes
    # to a record the cluster held (its limit applies to compressed batches)
    from hub.runtime.migrate import plan_copy

    with Log(str(tmp_path / "src"), background=False) as src:
        src.create_topic("t", 1, {"max.message.bytes": "3000000"})
        prod = src.producer()
        prod.send("t", b"x" * 2_000_000, key=b"k", partition=0, timestamp=0)
        prod.flush()
        exported = plan_copy(src, StorageTopics(), StorageTopics())
        assert exported.configs["t"]["retention.ms"] == "604800000"
        assert exported.configs["t"]["cleanup.policy"] == "delete"
        assert exported.partitions["t"][0].zero_timestamps == 1
        src.alter_topic("t", {"max.message.bytes": "1048588"})  # (as a cluster's default)
        imported = plan_copy(src, StorageTopics(), StorageTopics(), dst_is_embedded=True)
        limit = int(imported.configs["t"]["max.message.bytes"])
        assert imported.raised == {"t": limit} and limit > 2_000_101
        with Log(str(tmp_path / "dst"), background=False) as dst:
            dst.create_topic("t", 1, imported.configs["t"])
            dst.producer().send("t", b"x" * 2_000_000, key=b"k", partition=0)


def test_an_import_keeps_what_the_cluster_kept(own_kafka_broker: str, tmp_path: Path) -> None:
    # only the configs set on a topic itself were copied (a broker may report them as its
    # defaults, and a broker-wide log.retention.ms=-1 is one): the embedded 7-day delete
    # policy then removed a month-old topic's records and the source offsets at the next
    # maintenance, and the source would have snapshotted again
    import time

    from hub.log.kafka import KafkaLog

    old = int(time.time() * 1000) - 30 * 86_400_000
    kafka = KafkaLog({"bootstrap.servers": own_kafka_broker})
    try:
        kafka.create_topic("forever", 1, {"retention.ms": "-1"})
        kafka.create_topic("connect-offsets", 1, {"cleanup.policy": "compact"})
        producer = kafka.producer()
        values, keys = [b"v%d" % i for i in range(50)], [b"k%d" % i for i in range(50)]
        producer.send_many("forever", values, keys=keys, timestamps=old, partition=0)
        key = json.dumps(["src", {"db": "x"}]).encode()
        producer.send("connect-offsets", json.dumps({"lsn": 123}).encode(), key=key,
                      timestamp=old, partition=0)  # fmt: skip
        producer.flush()
    finally:
        kafka.close()
    config = _worker_yaml(tmp_path, own_kafka_broker)
    back = str(tmp_path / "back")
    r = _hub("--data-dir", back, "log", "import", "--worker-config", str(config), "--dry-run")
    assert r.returncode == 0 and "forever" in r.stdout, r.stderr
    assert not (tmp_path / "back").exists()  # (a dry run had made the data directory)
    r = _hub("--data-dir", back, "log", "import", "--worker-config", str(config))
    assert r.returncode == 0, r.stderr
    with Log(back, background=False) as log:
        assert log.describe("forever").config.get("retention.ms") == "-1"
        assert log.describe("__connect_offsets").config.get("cleanup.policy") == "compact"
        for topic in ("forever", "__connect_offsets"):  # a week later: rolled, maintained
            log.partition(topic, 0).roll()
        log.run_maintenance()
        assert len(list(log.scan(TopicPartition("forever", 0)))) == 50
        assert OffsetStore(log, "__connect_offsets").offsets("src") == {'{"db":"x"}': {"lsn": 123}}


def test_an_export_interrupted_part_way_is_redone_by_running_it_again(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    # (SIGTERM, docker stop, Ctrl-C: the command exited 130 saying nothing, the cluster held
    # the offsets of records it did not hold, and a worker there went on past them)
    import signal
    import time

    from hub.errors import ConfigError
    from hub.log.kafka import KafkaLog

    data = str(tmp_path / "data")
    with Log(data, background=False) as log:
        OffsetStore(log).write("gen", {'{"p":0}': ({"p": 0}, {"seq": 60_000})})
        log.create_topic("events", 2)
        prod = log.producer()
        for i in range(0, 60_000, 10_000):
            prod.send_many("events", [b"%d" % n for n in range(i, i + 10_000)],
                           keys=[b"k%d" % (n % 97) for n in range(i, i + 10_000)])  # fmt: skip
        prod.flush()
    config = _worker_yaml(tmp_path, own_kafka_broker)
    err = tmp_path / "export.err"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "--data-dir", data, "log", "export", "--worker-config",
             str(config)], stdout=subprocess.DEVNULL, stderr=stderr,
            env=dict(os.environ, PYTHONPATH=os.getcwd()),
        )  # fmt: skip
        wait_for(lambda: "events: " in err.read_text(), 120, "the copy of events started", 0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 1, err.read_text()
    said = err.read_text()
    assert "the copy stopped (it was interrupted)" in said and "run the same command" in said
    kafka = KafkaLog({"bootstrap.servers": own_kafka_broker})
    try:
        assert kafka.has_topic("events") and not kafka.has_topic("connect-offsets")
        with pytest.raises(ConfigError, match="copy from the data directory .* not finished"):
            Worker(None, backend=kafka, storage=STORAGE)  # type: ignore[arg-type]
    finally:
        kafka.close()
    r = _hub("--data-dir", data, "log", "export", "--worker-config", str(config), "--dry-run")
    assert r.returncode == 0, r.stderr  # (it had refused: "the destination already has events")
    assert "the copy deletes what it made (events) first" in r.stdout
    t0 = time.monotonic()
    r = _hub("--data-dir", data, "log", "export", "--worker-config", str(config))
    assert r.returncode == 0, r.stderr
    assert "had stopped part way: deleted what it made (events); copying again" in r.stderr
    assert "copied 60,001 records" in r.stdout, (r.stdout, time.monotonic() - t0)
    kafka = KafkaLog({"bootstrap.servers": own_kafka_broker})
    try:
        values = [r.value for p in (0, 1) for r in kafka.scan(TopicPartition("events", p))]
        assert sorted(int(v or b"") for v in values) == list(range(60_000))
        worker = Worker(None, backend=kafka, storage=STORAGE)  # type: ignore[arg-type]
        try:
            assert worker.offsets.offsets("gen") == {'{"p":0}': {"seq": 60_000}}
        finally:
            worker.stop()
    finally:
        kafka.close()


def test_a_crashed_sources_window_is_read_on_kafka_after_an_export(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    # a source task killed inside a commit window, its log exported: the export writes the
    # records in big batches, and Tansu reports a partition's end as its last batch's first
    # offset + 1, below the window's start; the recovery took that end and read nothing of
    # the window, and the window's records were written again (296 twice in a review)
    import signal
    import textwrap
    import time

    from hub.log.kafka import KafkaLog
    from tests.fixtures.hub_process import start_hub, stop_hub

    n = 6000
    gen = tmp_path / "gen.yaml"
    gen.write_text(textwrap.dedent(f"""
        name: gen
        config:
          connector.class: datagen
          topic: events
          rate: 3000
          max.records: {n}
          offset.flush.interval.ms: 600000
    """))  # fmt: skip

    def count() -> int:
        if not (tmp_path / "data").exists():
            return 0
        with Log(str(tmp_path / "data"), read_only=True) as log:
            if not log.has_topic("events"):
                return 0
            return len(list(log.scan(TopicPartition("events", 0))))

    proc = start_hub(tmp_path, str(gen))  # run 1: stopped cleanly, its records committed
    wait_for(lambda: count() >= 1500, 60, "1500 records")
    stop_hub(proc, tmp_path)
    proc = start_hub(tmp_path, str(gen))  # run 2: killed inside its window, a short one
    done = count()
    wait_for(lambda: count() > done, 60, "records more", 0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    config = _worker_yaml(tmp_path, own_kafka_broker)
    r = _hub("--data-dir", str(tmp_path / "data"), "log", "export", "--worker-config",
             str(config))  # fmt: skip
    assert r.returncode == 0, r.stderr
    kafka = KafkaLog({"bootstrap.servers": own_kafka_broker})
    tp = TopicPartition("events", 0)
    try:
        there = tmp_path / "kafka"
        there.mkdir()
        proc = start_hub(there, str(gen), worker_config=str(config))  # run 3, on Kafka
        try:
            wait_for(lambda: len(list(kafka.scan(tp))) >= n, 90, f"{n} records on Kafka")
            time.sleep(1)  # (anything written twice lands meanwhile)
        finally:
            stop_hub(proc, there)
        seqs = [json.loads(r.value or b"{}")["payload"]["seq"] for r in kafka.scan(tp)]
    finally:
        kafka.close()
    assert sorted(seqs) == list(range(n)), len(seqs)


def test_undo_copy_deletes_a_stopped_import_without_its_source(tmp_path: Path) -> None:
    # (a stopped import marked the data directory, and only the import run again could undo
    # it: with the cluster gone, no hub command could, and hub topics delete refuses __ names)
    import json as json_

    from hub.runtime import copymark

    data = tmp_path / "data"
    with Log(str(data), background=False) as log:
        log.create_topic("keep", 1)
        marker = copymark.Marker(log, "the Kafka cluster at gone:9092", ("__connect_offsets",))
        marker.making("events")
        log.create_topic("events", 1)
        marker.made("events")
        mark = copymark.unfinished(log)
        assert mark is not None
        doc = {**copymark._doc(mark), "pid": 2**22 + 12345}  # (a process long gone)
        log.append_durable(TopicPartition(copymark.COPY_MARKER_TOPIC, 0), [b"copy"],
                           [json_.dumps(doc).encode()])  # fmt: skip
    gen = tmp_path / "gen.yaml"
    gen.write_text("name: gen\nconfig:\n  connector.class: datagen\n  topic: t\n")
    r = _hub("--data-dir", str(data), "run", str(gen))
    assert r.returncode == 2 and "'hub log undo-copy'" in r.stderr, r.stderr
    r = _hub("--data-dir", str(data), "log", "undo-copy")
    assert r.returncode == 0, r.stderr
    assert "undid a copy from the Kafka cluster at gone:9092" in r.stdout and "events" in r.stdout
    with Log(str(data), read_only=True) as log:
        assert log.has_topic("keep") and not log.has_topic("events")
        assert copymark.unfinished(log) is None
    r = _hub("--data-dir", str(data), "log", "undo-copy")
    assert r.returncode == 0 and "nothing to undo" in r.stdout, r.stderr
