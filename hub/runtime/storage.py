"""The worker's three internal topics, as Kafka Connect names them in a worker config
(``config.storage.topic``, ``offset.storage.topic``, ``status.storage.topic``), and the status
store: connector and task states in Connect's status topic format, so tools that read
Connect's status topic read hub's.

Status records (JSON): key ``status-connector-<name>`` or ``status-task-<name>-<id>``, value
``{"state": "RUNNING", "trace": null | "<stack trace>", "worker_id": "host:port",
"generation": 0}``; a connector deleted gets null values (tombstones) for its keys. The
worker publishes what changed about once a second (`StatusStore.publish`), so the topic
follows the states without a write per transition; what a worker killed meanwhile never
wrote, the next one overwrites at its start.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from hub.errors import ConfigError
from hub.log import TopicPartition
from hub.log.backend import LogBackend

_LEGAL = re.compile(r"[A-Za-z0-9._-]{1,249}")


@dataclass(frozen=True, slots=True)
class StorageTopics:
    configs: str = "__connect_configs"
    offsets: str = "__connect_offsets"
    status: str = "__connect_status"

    @classmethod
    def of(cls, props: dict[str, object], where: str) -> StorageTopics:
        """Take Connect's ``*.storage.topic`` properties out of ``props`` (a worker config
        read from ``where``); the defaults for those not given."""
        names: dict[str, str] = {}
        for field, prop in (("configs", "config.storage.topic"),
                            ("offsets", "offset.storage.topic"),
                            ("status", "status.storage.topic")):  # fmt: skip
            if prop not in props:
                continue
            value = props.pop(prop)
            if not isinstance(value, str) or not _LEGAL.fullmatch(value) or value in (".", ".."):
                raise ConfigError(
                    f"{where}: {prop} must be a topic name (letters, digits, '.', '_', '-'; "
                    f"at most 249), not {value!r}"
                )
            names[field] = value
        topics = cls(**names)
        if len({topics.configs, topics.offsets, topics.status}) != 3:
            raise ConfigError(
                f"{where}: config.storage.topic, offset.storage.topic and status.storage.topic "
                "must be three different topics"
            )
        return topics


def status_value(state: str, trace: str | None, worker_id: str) -> bytes:
    return json.dumps(
        {"state": state, "trace": trace, "worker_id": worker_id, "generation": 0}
    ).encode()


class StatusStore:
    def __init__(self, log: LogBackend, topic: str) -> None:
        self._log = log
        self.topic = topic
        self._tp = TopicPartition(topic, 0)
        self._lock = threading.Lock()
        self._written: dict[bytes, bytes] = {}  # key -> the value it holds now
        self._retry_at = 0.0  # (after a failed write: when to try again)
        self._wait = 0.0
        if log.has_topic(topic):
            for r in log.scan(self._tp):
                if r.key is None:
                    continue
                if r.value is None:
                    self._written.pop(r.key, None)
                else:
                    self._written[r.key] = r.value

    def backing_off(self) -> bool:
        """A write failed a moment ago: the periodic publish waits."""
        return time.monotonic() < self._retry_at

    def publish(
        self, states: Mapping[bytes, bytes], keep_others: bool = False, backoff: bool = False
    ) -> int:
        """Make the topic say ``states`` (key -> value): the keys whose value changed are
        written, the keys not in ``states`` deleted (unless ``keep_others``); how many records
        that took. With ``backoff`` (the periodic publish) a failure makes the next calls do
        nothing for a while (1 s, doubling to 60 s): a cluster refusing the writes is told
        about once in a while, not every second, and the offset store's writes do not queue
        behind these."""
        with self._lock:
            if backoff and time.monotonic() < self._retry_at:
                return 0
            items: list[tuple[bytes, bytes | None]] = [
                (k, v) for k, v in states.items() if self._written.get(k) != v
            ]
            if not keep_others:
                items += [(k, None) for k in self._written if k not in states]
            if not items:
                return 0
            try:
                if not self._log.has_topic(self.topic):  # (new, or deleted meanwhile: all)
                    self._log.create_topic(self.topic, 1, {
                        "cleanup.policy": "compact", "segment.bytes": str(16 << 20)})  # fmt: skip
                    self._written.clear()
                    items = list(states.items())
                self._log.append_durable(self._tp, [k for k, _ in items], [v for _, v in items])
            except Exception:
                self._wait = min(max(self._wait * 2, 1.0), 60.0)
                self._retry_at = time.monotonic() + self._wait
                raise
            self._wait = 0.0
            for k, v in items:
                if v is None:
                    self._written.pop(k, None)
                else:
                    self._written[k] = v
            return len(items)
