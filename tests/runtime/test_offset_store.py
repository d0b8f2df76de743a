"""The offsets store's writes survive landing only in part.

A write to ``__connect_offsets`` is several records; the embedded log appends them all or
nothing, but Kafka may land a prefix when the worker dies mid-call. Here a real log is written
through a backend that lands the first ``n`` records of one write and then fails, for every
``n``, and a new store reads the topic back as a restarted worker would: it must find the
whole write or none of it. The danger is new offsets read with the checkpoint of before,
whose open commit window makes a restarted task skip replayed records as "already in the
log" although they are not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from hub.log import Log, TopicPartition
from hub.runtime.offsets import OffsetStore, partition_key

A, B = {"table": "a"}, {"table": "b"}


class Died(Exception):
    pass


class PrefixLog:
    """A real log whose next ``append_durable`` lands only its first ``land`` records."""

    def __init__(self, log: Log) -> None:
        self._log = log
        self.land: int | None = None
        self.sizes: list[int] = []  # records per append_durable call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)

    def append_durable(
        self, tp: TopicPartition, keys: Sequence[bytes | None], values: Sequence[bytes | None]
    ) -> None:
        self.sizes.append(len(keys))
        land, self.land = self.land, None
        if land is None:
            self._log.append_durable(tp, keys, values)
            return
        if land:
            self._log.append_durable(tp, keys[:land], values[:land])
        raise Died(f"died after {land} of {len(keys)} records")


def _offsets(pos: int, *parts: dict[str, str]) -> dict[str, Any]:
    return {partition_key(p): (p, {"pos": pos}) for p in parts}


def _state(store: OffsetStore) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(offsets, checkpoint of task 0, of task 1) as a restarted worker reads them."""
    return (
        store.offsets("c"),
        store.task_checkpoint("c", 0),
        store.task_checkpoint("c", 1),
    )


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    log = Log(str(path))
    try:
        return _state(OffsetStore(log))
    finally:
        log.close()


def _run(path: Path, fn: Callable[[OffsetStore], None], land: int | None = None) -> int:
    """``fn`` on a store over the log at ``path``; records per append_durable call."""
    log = PrefixLog(Log(str(path)))
    try:
        store = OffsetStore(log)
        log.land = land
        if land is None:
            fn(store)
        else:
            with pytest.raises(Died):
                fn(store)
        return sum(log.sizes)
    finally:
        log.close()


def _every_prefix(
    tmp_path: Path, setup: Callable[[OffsetStore], None], write: Callable[[OffsetStore], None]
) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """The state read back after ``write`` (one append) landed 0, 1, … all of its records,
    each on a fresh log prepared by ``setup``: [before, after, prefix 0, prefix 1, …]."""
    probe = tmp_path / "probe"
    _run(probe, setup)
    before = _read(probe)
    size = _run(probe, write)
    after = _read(probe)
    assert size > 1, "a write of one record cannot land in part"
    out = [before, after]
    for land in range(size):
        path = tmp_path / f"land{land}"
        _run(path, setup)
        _run(path, write, land)
        out.append(_read(path))
    return out


def test_a_commit_landing_in_part_reads_as_all_or_nothing(tmp_path: Path) -> None:
    def setup(store: OffsetStore) -> None:
        store.write("c", _offsets(1, A, B), (0, {"seq": 10, "window": None}))
        store.write("c", {}, (0, {"seq": 10, "window": {"t/0": 5}}))  # records being sent

    def commit(store: OffsetStore) -> None:
        store.write("c", _offsets(2, A, B), (0, {"seq": 20, "window": None}))

    before, after, *prefixes = _every_prefix(tmp_path, setup, commit)
    assert before[0] == {k: v[1] for k, v in _offsets(1, A, B).items()}
    assert before[1] == {"seq": 10, "window": {"t/0": 5}}
    assert after[0] == {k: v[1] for k, v in _offsets(2, A, B).items()}
    assert after[1] == {"seq": 20, "window": None}
    assert prefixes[0] == before
    for i, state in enumerate(prefixes[1:], 1):
        assert state == after, f"{i} record(s) landed"


def test_offsets_altered_by_hand_landing_in_part_void_every_open_window(tmp_path: Path) -> None:
    def setup(store: OffsetStore) -> None:
        store.write("c", _offsets(1, A), (0, {"seq": 10, "window": None}))
        store.write("c", _offsets(1, B), (1, {"seq": 7, "window": None}))
        # both tasks died with records in flight: their windows are open
        store.write("c", {}, (0, {"seq": 10, "window": {"t/0": 5}}))
        store.write("c", {}, (1, {"seq": 7, "window": {"t/0": 9}}))

    def alter(store: OffsetStore) -> None:
        store.alter("c", {**_offsets(50, A), partition_key(B): (B, None)})

    before, after, *prefixes = _every_prefix(tmp_path, setup, alter)
    assert before[1]["window"] and before[2]["window"]
    assert after == (
        {partition_key(A): {"pos": 50}},
        {"seq": 10, "window": None},
        {"seq": 7, "window": None},
    )
    assert prefixes[0] == before
    for i, state in enumerate(prefixes[1:], 1):
        assert state == after, f"{i} record(s) landed"


def test_checkpoints_written_after_an_alteration_keep_their_windows(tmp_path: Path) -> None:
    log = Log(str(tmp_path / "log"))
    store = OffsetStore(log)
    store.write("c", _offsets(1, A), (0, {"seq": 10, "window": {"t/0": 5}}))
    store.alter("c", _offsets(3, A))
    assert store.task_checkpoint("c", 0) == {"seq": 10, "window": None}
    # the task runs again from the new offsets and opens a window of its own
    store.write("c", {}, (0, {"seq": 10, "window": {"t/0": 8}}))
    log.close()
    assert _read(tmp_path / "log")[:2] == (
        {partition_key(A): {"pos": 3}},
        {"seq": 10, "window": {"t/0": 8}},
    )


def test_forgetting_landing_in_part_reads_as_forgotten(tmp_path: Path) -> None:
    def setup(store: OffsetStore) -> None:
        store.write("c", _offsets(1, A), (0, {"seq": 10, "window": {"t/0": 5}}))
        store.write("c", _offsets(1, B), (1, {"seq": 7, "window": None}))

    def forget(store: OffsetStore) -> None:
        store.forget("c")

    before, after, *prefixes = _every_prefix(tmp_path, setup, forget)
    assert before[0] and before[1]["window"]
    assert after == ({}, {"seq": 0, "window": None}, {"seq": 0, "window": None})
    assert prefixes[0] == before
    for i, (offsets, cp0, cp1) in enumerate(prefixes[1:], 1):
        assert (offsets, cp0["window"], cp1["window"]) == ({}, None, None), f"{i} landed"


def _compacted(src: Path, dst: Path, drop_tombstones: bool) -> None:
    """What compaction leaves of the offsets topic: the latest record of each key, in log
    order (and, once delete.retention.ms has passed, no tombstone)."""
    tp = TopicPartition("__connect_offsets", 0)
    with Log(str(src)) as log:
        records = list(log.scan(tp))
    latest = {r.key: r.offset for r in records}
    with Log(str(dst)) as log:
        log.create_topic(tp.topic, 1, {"cleanup.policy": "compact"})
        for r in records:
            if latest[r.key] == r.offset and not (drop_tombstones and r.value is None):
                log.append_durable(tp, [r.key], [r.value])


def test_a_commit_landed_in_part_survives_the_next_checkpoint_and_compaction(
    tmp_path: Path,
) -> None:
    """The checkpoint carries the offsets its per-partition records did not get to write;
    the task's next checkpoint replaces it, so reading the topic again (a restart) must have
    written them by then."""
    path = tmp_path / "log"
    _run(path, lambda s: s.write("c", _offsets(1, A, B), (0, {"seq": 10, "window": None})))
    _run(path, lambda s: s.write("c", _offsets(2, A, B), (0, {"seq": 20, "window": None})), 1)
    # the restarted task opens a window: a checkpoint without offsets replaces the one above
    _run(path, lambda s: s.write("c", {}, (0, {"seq": 20, "window": {"t/0": 9}})))
    _compacted(path, tmp_path / "compacted", drop_tombstones=True)
    offsets, cp0, _ = _read(tmp_path / "compacted")
    assert offsets == {k: v[1] for k, v in _offsets(2, A, B).items()}
    assert cp0 == {"seq": 20, "window": {"t/0": 9}}


def test_an_offset_deleted_by_hand_stays_deleted_after_compaction(tmp_path: Path) -> None:
    """A checkpoint carrying an offset must not bring it back once its tombstone is gone."""
    path = tmp_path / "log"
    _run(path, lambda s: s.write("c", _offsets(1, A, B), (0, {"seq": 10, "window": None})))
    _run(path, lambda s: s.alter("c", {partition_key(B): (B, None)}))
    _run(path, lambda s: s.alter("c", _offsets(5, A)))  # (replaces the alteration above)
    _compacted(path, tmp_path / "compacted", drop_tombstones=True)
    assert _read(tmp_path / "compacted")[0] == {partition_key(A): {"pos": 5}}
    _run(path, lambda s: s.forget("c"))
    _compacted(path, tmp_path / "forgotten", drop_tombstones=True)
    assert _read(tmp_path / "forgotten") == ({}, {"seq": 0, "window": None},
                                              {"seq": 0, "window": None})  # fmt: skip


def test_after_a_write_that_failed_the_store_reads_what_landed(tmp_path: Path) -> None:
    log = PrefixLog(Log(str(tmp_path / "log")))
    try:
        store = OffsetStore(log)
        store.write("c", _offsets(1, A), (0, {"seq": 10, "window": {"t/0": 5}}))
        log.land = 1
        with pytest.raises(Died):
            store.alter("c", _offsets(7, A))
        # the alteration's first record landed: this store must not go on with the old state
        assert store.offsets("c") == {partition_key(A): {"pos": 7}}
        assert store.task_checkpoint("c", 0) == {"seq": 10, "window": None}
        store.write("c", {}, (0, {"seq": 10, "window": {"t/0": 8}}))  # gen of the alteration
        assert store.task_checkpoint("c", 0) == {"seq": 10, "window": {"t/0": 8}}
    finally:
        log.close()


def test_a_connector_deleted_in_part_leaves_no_target_state_behind(tmp_path: Path) -> None:
    """The config store's deletion of a paused connector (config, then target state):
    whatever part landed, a connector created again under the name starts as asked, not
    PAUSED, and a deletion that did not land leaves the connector as it was."""
    from hub.runtime.configs import ConfigStore

    for land in (0, 1):
        log = PrefixLog(Log(str(tmp_path / f"land{land}")))
        store = ConfigStore(log)
        store.put("orders", {"connector.class": "datagen"})
        store.put_state("orders", "PAUSED")
        log.land = land
        with pytest.raises(Died):
            store.put("orders", None)
        assert log.sizes[-1] == 2
        log.close()
        log = PrefixLog(Log(str(tmp_path / f"land{land}")))
        store = ConfigStore(log)
        assert ("orders" in store.configs()) == (land == 0)
        if land == 0:  # the deletion did not land: the connector as before it
            assert store.state("orders") == "PAUSED"
        else:  # it is created again
            store.put("orders", {"connector.class": "datagen"})
            assert store.state("orders") == "STARTED"
        log.close()
        with Log(str(tmp_path / f"land{land}")) as reopened:
            again = ConfigStore(reopened)
            assert again.state("orders") == ("PAUSED" if land == 0 else "STARTED"), land
