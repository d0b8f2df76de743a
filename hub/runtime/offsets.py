"""Source offsets in the compacted internal topic ``__connect_offsets``.

Records use Kafka Connect's format, so tools that read Connect's offsets topic read ours:
key ``["<connector>", {<source partition>}]``, value ``{<source offset>}`` as JSON; a null
value deletes the partition's offset.

Besides user offsets, each source task keeps a checkpoint under the key
``["<connector>", {"hub.task": <id>}]``: ``{"seq": S, "window": {"topic/partition":
start_offset, ...} | null}``. ``seq`` counts the records the task handed to the log and that
are covered by stored offsets; ``window`` is written (durably) before a commit makes new
records durable and cleared when the offsets are stored. After a crash inside that window the
runtime scans those log ranges for the task's ``hub.source.seq`` headers to learn which
replayed records are already in the log (see hub.runtime.source_runner).

Thread safety: one lock; every write is fsynced before it returns.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from hub.log import TopicPartition
from hub.log.backend import LogBackend

TOPIC = "__connect_offsets"
_TP = TopicPartition(TOPIC, 0)
TASK_KEY = "hub.task"


def partition_key(partition: Mapping[str, Any]) -> str:
    return json.dumps(partition, sort_keys=True, separators=(",", ":"))


class OffsetStore:
    def __init__(self, log: LogBackend) -> None:
        self._log = log
        self._lock = threading.Lock()
        # connector -> partition key -> (partition, offset)
        self._offsets: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {}
        self._tasks: dict[tuple[str, int], dict[str, Any]] = {}
        if not log.has_topic(TOPIC):
            log.create_topic(
                TOPIC, 1, {"cleanup.policy": "compact", "segment.bytes": str(16 << 20)}
            )
        self._load()

    def _load(self) -> None:
        for r in self._log.scan(_TP):
            if r.key is not None:
                self._apply(r.key, r.value)

    def _apply(self, key: bytes, value: bytes | None) -> None:
        try:
            connector, partition = json.loads(key)
        except (ValueError, TypeError):
            return  # not ours (Connect's format is a 2-element array)
        doc = None if value is None else json.loads(value)
        if TASK_KEY in partition and len(partition) == 1:
            if doc is None:
                self._tasks.pop((connector, partition[TASK_KEY]), None)
            else:
                self._tasks[(connector, partition[TASK_KEY])] = doc
            return
        offsets = self._offsets.setdefault(connector, {})
        if doc is None:
            offsets.pop(partition_key(partition), None)
        else:
            offsets[partition_key(partition)] = (partition, doc)

    def offsets(self, connector: str) -> dict[str, dict[str, Any]]:
        """partition key -> offset, for ``SourceTaskContext``."""
        with self._lock:
            return {k: v[1] for k, v in self._offsets.get(connector, {}).items()}

    def partitions(self, connector: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(partition, offset) pairs, as the REST API shows them."""
        with self._lock:
            return list(self._offsets.get(connector, {}).values())

    def task_checkpoint(self, connector: str, task_id: int) -> dict[str, Any]:
        with self._lock:
            return dict(self._tasks.get((connector, task_id), {"seq": 0, "window": None}))

    def write(
        self,
        connector: str,
        offsets: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]],
        task: tuple[int, dict[str, Any]] | None = None,
    ) -> None:
        """Store offsets (None deletes) and optionally a task checkpoint, durably, at once."""
        items: list[tuple[bytes, bytes | None]] = []
        for partition, offset in offsets.values():
            key = json.dumps([connector, dict(partition)], sort_keys=True, separators=(",", ":"))
            items.append((key.encode(), None if offset is None else json.dumps(offset).encode()))
        if task is not None:
            key = json.dumps([connector, {TASK_KEY: task[0]}], separators=(",", ":"))
            items.append((key.encode(), json.dumps(task[1]).encode()))
        if not items:
            return
        with self._lock:
            self._log.append_durable(_TP, [k for k, _ in items], [v for _, v in items])
            for k, v in items:
                self._apply(k, v)

    def close_windows(self, connector: str) -> None:
        """Forget the unfinished commit windows of a connector's tasks (after its offsets were
        changed by hand: replayed records no longer line up with the window's seqs)."""
        with self._lock:
            open_ = {
                t: cp for (c, t), cp in self._tasks.items() if c == connector and cp.get("window")
            }
        for t, cp in open_.items():
            self.write(connector, {}, (t, {"seq": cp.get("seq", 0), "window": None}))

    def forget(self, connector: str) -> None:
        """Delete every offset and checkpoint of a connector."""
        with self._lock:
            parts = dict(self._offsets.get(connector, {}))
            tasks = [t for (c, t) in self._tasks if c == connector]
        self.write(connector, {k: (p, None) for k, (p, _) in parts.items()})
        for t in tasks:
            key = json.dumps([connector, {TASK_KEY: t}], separators=(",", ":")).encode()
            with self._lock:
                self._log.append_durable(_TP, [key], [None])
                self._apply(key, None)
