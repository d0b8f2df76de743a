"""Connector configs created over REST, in the compacted internal topic ``__connect_configs``.

Record key: the connector name (UTF-8); value: the config as JSON, exactly as it was given
(``${env:..}``/``${file:..}`` references unresolved, so secrets held outside stay outside);
a null value deletes the connector. The target state set over REST (pause/stop/resume) is kept
as in Kafka Connect: key ``target-state-<name>``, value ``{"state": "STARTED" | "PAUSED" |
"STOPPED"}``, so a paused or stopped connector stays so across restarts. The worker reads
the topic on start and restarts what it finds.

Thread safety: one lock; every write is fsynced before it returns. The topic is created on
the first write, so a data directory that never saw a REST-created connector has none.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from hub.log import TopicPartition
from hub.log.backend import LogBackend

TOPIC = "__connect_configs"
_TP = TopicPartition(TOPIC, 0)
STATE_PREFIX = "target-state-"


class ConfigStore:
    def __init__(self, log: LogBackend) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._configs: dict[str, dict[str, Any]] = {}
        self._states: dict[str, str] = {}
        if log.has_topic(TOPIC):
            self._load()

    def _load(self) -> None:
        for r in self._log.scan(_TP):
            if r.key is None:
                continue
            name = r.key.decode()
            doc = None if r.value is None else json.loads(r.value)
            if name.startswith(STATE_PREFIX) and (doc is None or set(doc) == {"state"}):
                target = name[len(STATE_PREFIX) :]
                if doc is None:
                    self._states.pop(target, None)
                else:
                    self._states[target] = doc["state"]
            elif doc is None:
                self._configs.pop(name, None)
            else:
                self._configs[name] = doc

    def configs(self) -> dict[str, dict[str, Any]]:
        """connector name -> config, in the order they were first stored."""
        with self._lock:
            return {k: dict(v) for k, v in self._configs.items()}

    def state(self, name: str) -> str:
        """The stored target state: STARTED (default), PAUSED or STOPPED."""
        with self._lock:
            return self._states.get(name, "STARTED")

    def put(self, name: str, config: dict[str, Any] | None) -> None:
        """Store a connector's config durably; None deletes it (and its target state)."""
        value = None if config is None else json.dumps(config, sort_keys=True).encode()
        with self._lock:
            if config is None and name not in self._configs:
                return
            items = [(name.encode(), value)]
            gone = config is None or name not in self._configs
            if gone and name in self._states:
                # deleted with it; and a state a deletion that landed in part (Kafka) left
                # behind is not a new connector's of the same name: deleted first
                state = ((STATE_PREFIX + name).encode(), None)
                items.insert(0 if config is not None else 1, state)
            self._append(items)
            if gone:
                self._states.pop(name, None)
            if config is None:
                self._configs.pop(name, None)
            else:
                self._configs[name] = dict(config)

    def put_state(self, name: str, state: str) -> None:
        """Keep a REST-created connector's target state (others have nothing stored)."""
        with self._lock:
            if name not in self._configs or self._states.get(name, "STARTED") == state:
                return
            self._append([((STATE_PREFIX + name).encode(), json.dumps({"state": state}).encode())])
            self._states[name] = state

    def _append(self, items: list[tuple[bytes, bytes | None]]) -> None:
        if not self._log.has_topic(TOPIC):
            self._log.create_topic(
                TOPIC, 1, {"cleanup.policy": "compact", "segment.bytes": str(16 << 20)}
            )
        self._log.append_durable(_TP, [k for k, _ in items], [v for _, v in items])
