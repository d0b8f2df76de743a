"""The internal topics' stores as distributed workers share them (hub.runtime.worker): two
stores over one topic, each reading what the other wrote with ``refresh``, on the embedded
log (the Kafka path is tests/test_distributed.py's)."""

from __future__ import annotations

from pathlib import Path

from hub.log import Log, TopicPartition
from hub.runtime.configs import ConfigStore
from hub.runtime.offsets import OffsetStore, partition_key
from hub.runtime.storage import StatusStore

P = {"file": "a"}


def test_a_config_store_reads_the_other_workers_writes(tmp_path: Path) -> None:
    with Log(tmp_path / "data") as log:
        mine, theirs = ConfigStore(log), ConfigStore(log)
        theirs.put("gen", {"connector.class": "datagen"})
        theirs.put_state("gen", "PAUSED")
        assert mine.configs() == {}
        assert mine.refresh() is True
        assert mine.configs() == {"gen": {"connector.class": "datagen"}}
        assert mine.state("gen") == "PAUSED"
        assert mine.refresh() is False  # nothing new
        # a restart request is for the workers running when it was written
        theirs.put_restart("gen", True, False)
        later = ConfigStore(log)
        assert later.restarts() == []
        mine.refresh()
        assert mine.restarts() == [("gen", True, False)]
        assert mine.restarts() == []  # (handed over once)
        theirs.put("gen", None)
        mine.refresh()
        assert mine.configs() == {} and mine.state("gen") == "STARTED"
        # my own write and theirs after it: reading ends where the topic ends
        mine.put("x", {"v": 1})
        theirs.refresh()
        theirs.put("x", {"v": 2})
        mine.refresh()
        assert mine.configs() == {"x": {"v": 2}}


def test_an_offset_store_starts_a_moved_task_from_the_last_commit(tmp_path: Path) -> None:
    with Log(tmp_path / "data") as log:
        old_owner = OffsetStore(log, repair=False)
        new_owner = OffsetStore(log, repair=False)
        old_owner.write("src", {partition_key(P): (P, {"pos": 5})}, (0, {"seq": 5, "window": None}))
        old_owner.write("src", {partition_key(P): (P, {"pos": 9})}, (0, {"seq": 9, "window": None}))
        assert new_owner.offsets("src") == {}
        new_owner.refresh()
        assert new_owner.offsets("src") == {partition_key(P): {"pos": 9}}
        assert new_owner.task_checkpoint("src", 0) == {"seq": 9, "window": None}
        # the new owner's commit, then the old one reads it too
        new_owner.write(
            "src", {partition_key(P): (P, {"pos": 12})}, (0, {"seq": 12, "window": None})
        )
        old_owner.refresh()
        assert old_owner.offsets("src") == {partition_key(P): {"pos": 12}}


def test_reading_the_offsets_without_repair_writes_nothing(tmp_path: Path) -> None:
    """A commit that landed in part (its checkpoint only) is rewritten by a worker on its own
    (repair), never by a distributed one: its rewrite could land after the task's owner
    committed newer offsets."""
    tp = TopicPartition("__connect_offsets", 0)
    with Log(tmp_path / "data") as log:
        store = OffsetStore(log)
        store.write("src", {partition_key(P): (P, {"pos": 5})}, (0, {"seq": 5, "window": None}))
        end = log.watermarks(tp)[1]
        # the next commit's checkpoint alone (a crash before its per-partition record)
        checkpoint = b'{"seq":7,"window":null,"offsets":[[{"file":"a"},{"pos":7}]]}'
        log.append_durable(tp, [b'["src",{"hub.task":0}]'], [checkpoint])
        OffsetStore(log, repair=False)
        assert log.watermarks(tp)[1] == end + 1
        assert OffsetStore(log, repair=False).offsets("src") == {partition_key(P): {"pos": 7}}
        OffsetStore(log)  # (on its own: rewrites the per-partition record)
        assert log.watermarks(tp)[1] == end + 2


def test_status_stores_keep_each_others_keys(tmp_path: Path) -> None:
    with Log(tmp_path / "data") as log:
        a, b = StatusStore(log, "__connect_status"), StatusStore(log, "__connect_status")
        a.publish({b"status-task-x-0": b"A", b"status-connector-x": b"A"}, keep_others=True)
        b.refresh()
        b.publish({b"status-task-x-1": b"B", b"status-task-x-1-0": b"B"}, keep_others=True)
        a.refresh()
        assert a.get(b"status-task-x-1") == b"B"
        assert sorted(a.keys_of("x")) == [
            b"status-connector-x",
            b"status-task-x-0",
            b"status-task-x-1",
        ]  # (status-task-x-1-0 is task 0 of connector x-1)
        # a task moved back to a: its value is written again though a wrote it before
        b.publish({b"status-task-x-0": b"B"}, keep_others=True)
        a.refresh()
        assert a.publish({b"status-task-x-0": b"A"}, keep_others=True) == 1
        b.refresh()
        assert b.get(b"status-task-x-0") == b"A"
        a.publish(dict.fromkeys(a.keys_of("x")), keep_others=True)
        b.refresh()
        assert b.keys_of("x") == [] and b.get(b"status-task-x-1-0") == b"B"


def test_a_moved_task_repairs_its_own_commit_that_landed_in_part(tmp_path: Path) -> None:
    """The checkpoint of task 0's last commit landed, its per-partition record not: the
    worker that takes task 0 over rewrites that record (no other task writes it); a
    partition another task's checkpoint carries is left to that task."""
    tp = TopicPartition("__connect_offsets", 0)
    other = {"file": "b"}
    with Log(tmp_path / "data") as log:
        store = OffsetStore(log, repair=False)
        store.write("src", {partition_key(P): (P, {"pos": 5})}, (0, {"seq": 5, "window": None}))
        store.write("src", {partition_key(other): (other, {"pos": 1})},
                    (1, {"seq": 1, "window": None}))  # fmt: skip
        for task, part, pos in ((0, "a", 7), (1, "b", 3)):  # checkpoints alone
            log.append_durable(tp, [f'["src",{{"hub.task":{task}}}]'.encode()], [
                f'{{"seq":{pos},"window":null,"offsets":[[{{"file":"{part}"}},{{"pos":{pos}}}]]}}'
                .encode()])  # fmt: skip
        taker = OffsetStore(log, repair=False)
        end = log.watermarks(tp)[1]
        taker.refresh(repair=("src", 0))
        assert log.watermarks(tp)[1] == end + 1  # task 0's partition only
        plain = {r.key: r.value for r in log.scan(tp) if r.key is not None}
        assert plain[b'["src",{"file":"a"}]'] == b'{"pos": 7}'
        assert plain[b'["src",{"file":"b"}]'] == b'{"pos": 1}'
        taker.refresh(repair=("src", 0))
        assert log.watermarks(tp)[1] == end + 1  # (nothing more to repair)


def test_stores_read_a_storage_topic_made_again(tmp_path: Path) -> None:
    # (a cluster that came back without its topics: the stores went on reading from the
    # offsets they had read to, past the new topics' ends, and never saw another worker's
    # records again; each worker's status said RUNNING on a worker that ran nothing)
    with Log(tmp_path / "data") as log:
        a, b = StatusStore(log, "status-x"), StatusStore(log, "status-x")
        a.publish({f"status-task-x-{i}".encode(): b"A" for i in range(5)}, keep_others=True)
        a.refresh()  # (the status job reads the topic every second)
        mine, theirs = ConfigStore(log, "configs-x"), ConfigStore(log, "configs-x")
        for i in range(5):
            mine.put(f"c{i}", {"v": i})
        log.delete_topic("status-x")
        log.delete_topic("configs-x")
        b.publish({b"status-task-y-0": b"B"}, keep_others=True)  # (made again: 1 record)
        theirs.put("new", {"v": 9})
        a.refresh()
        assert a.get(b"status-task-y-0") == b"B"
        assert a.get(b"status-task-x-0") is None  # (the topic lost it)
        # what a holds is written again at its next publish
        assert a.publish({b"status-task-x-0": b"A"}, keep_others=True) == 1
        b.refresh()
        assert b.get(b"status-task-x-0") == b"A"
        assert mine.refresh() is True
        assert mine.configs()["new"] == {"v": 9}


def test_stores_read_a_storage_topic_made_again_that_grew_past_what_they_had_read(
    tmp_path: Path,
) -> None:
    # (the review of the change above: noticed only while the new topic was shorter than what
    # a store had read; other workers writing more first, its records were skipped; now the
    # topic's id tells, checked every id_check_s)
    with Log(tmp_path / "data") as log:
        a = StatusStore(log, "status-x", id_check_s=0)
        b = StatusStore(log, "status-x", id_check_s=0)
        a.publish({f"status-task-x-{i}".encode(): b"A" for i in range(5)}, keep_others=True)
        a.refresh()
        mine = ConfigStore(log, "configs-x", id_check_s=0)
        theirs = ConfigStore(log, "configs-x", id_check_s=0)
        for i in range(5):
            mine.put(f"c{i}", {"v": i})
        mine.refresh()
        log.delete_topic("status-x")
        log.delete_topic("configs-x")
        b.publish({f"status-task-y-{i}".encode(): b"B" for i in range(6)}, keep_others=True)
        for i in range(6):
            theirs.put(f"new{i}", {"v": i})
        a.refresh()
        assert [a.get(f"status-task-y-{i}".encode()) for i in range(6)] == [b"B"] * 6
        assert a.get(b"status-task-x-0") is None  # (the topic lost it: written again next)
        assert mine.refresh() is True
        assert sorted(k for k in mine.configs() if k.startswith("new")) == [
            f"new{i}" for i in range(6)
        ]
