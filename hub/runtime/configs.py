"""Connector configs created over REST, in a compacted internal topic (``__connect_configs``
unless the worker config's ``config.storage.topic`` names another), in Kafka Connect's
format, so tools that read Connect's config topic read ours:

* key ``connector-<name>``, value ``{"properties": {<config>}}``: the config exactly as it
  was given (``${env:..}``/``${file:..}`` references unresolved, so secrets held outside stay
  outside); a null value deletes the connector;
* key ``target-state-<name>``, value ``{"state": "STARTED" | "PAUSED", "state.v2":
  "STARTED" | "PAUSED" | "STOPPED"}`` (Connect 3.5's: a STOPPED connector reads as PAUSED to
  older readers), so a paused or stopped connector stays so across restarts.

Connect also keeps its tasks' configs there (``task-<name>-<n>``, ``commit-<name>``); hub
does not (each worker computes a connector's tasks when it starts it) and skips them when it
reads a topic that has them. A topic written before this format (key: the connector's name,
value: its config; ``{"state": ...}`` target states) reads as before, and a connector stored
so is written in the new format when it next changes. The worker reads the topic on start and
restarts what it finds.

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
CONNECTOR_PREFIX = "connector-"
STATE_PREFIX = "target-state-"
_CONNECT_ONLY = ("task-", "commit-", "session-key")  # Connect's records hub does not keep


def _state_record(state: str) -> bytes:
    """Connect's target state value: STOPPED is PAUSED to readers before ``state.v2``."""
    return json.dumps({"state": "PAUSED" if state == "STOPPED" else state,
                       "state.v2": state}).encode()  # fmt: skip


class ConfigStore:
    def __init__(self, log: LogBackend, topic: str = TOPIC) -> None:
        self._log = log
        self.topic = topic
        self._tp = TopicPartition(topic, 0)
        self._lock = threading.Lock()
        self._configs: dict[str, dict[str, Any]] = {}
        self._states: dict[str, str] = {}
        self._legacy: set[str] = set()  # connectors stored under their bare name (old format)
        if log.has_topic(topic):
            self._load()

    def _load(self) -> None:
        for r in self._log.scan(self._tp):
            if r.key is None:
                continue
            key = r.key.decode()
            doc = None if r.value is None else json.loads(r.value)
            fields = set(doc) if isinstance(doc, dict) else set()
            if key.startswith(STATE_PREFIX) and (doc is None or "state" in fields <= {
                "state", "state.v2"
            }):  # fmt: skip
                target = key[len(STATE_PREFIX) :]
                if doc is None:
                    self._states.pop(target, None)
                else:
                    self._states[target] = str(doc.get("state.v2", doc["state"]))
            elif key.startswith(CONNECTOR_PREFIX) and (doc is None or fields == {"properties"}):
                name = key[len(CONNECTOR_PREFIX) :]
                self._legacy.discard(name)  # (its old record's tombstone follows, if any)
                if doc is None:
                    self._configs.pop(name, None)
                else:
                    self._configs[name] = dict(doc["properties"])
            elif key.startswith(_CONNECT_ONLY) and (
                doc is None or fields in ({"properties"}, {"tasks"}) or key == "session-key"
            ):
                continue
            elif doc is None:  # the old format: the name as the key
                if key in self._legacy:  # (else: a config in the new format has replaced it)
                    self._configs.pop(key, None)
                    self._legacy.discard(key)
            else:
                self._configs[key] = doc
                self._legacy.add(key)

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
        value = (
            None if config is None
            else json.dumps({"properties": config}, sort_keys=True).encode()
        )  # fmt: skip
        with self._lock:
            if config is None and name not in self._configs:
                return
            items = [((CONNECTOR_PREFIX + name).encode(), value)]
            if name in self._legacy:  # (after the new record: any prefix of it reads right)
                items.append((name.encode(), None))
            gone = config is None or name not in self._configs
            if gone and name in self._states:
                # deleted with it; and a state a deletion that landed in part (Kafka) left
                # behind is not a new connector's of the same name: deleted first
                state = ((STATE_PREFIX + name).encode(), None)
                items.insert(0 if config is not None else len(items), state)
            self._append(items)
            self._legacy.discard(name)
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
            self._append([((STATE_PREFIX + name).encode(), _state_record(state))])
            self._states[name] = state

    def _append(self, items: list[tuple[bytes, bytes | None]]) -> None:
        if not self._log.has_topic(self.topic):
            self._log.create_topic(
                self.topic, 1, {"cleanup.policy": "compact", "segment.bytes": str(16 << 20)}
            )
        self._log.append_durable(self._tp, [k for k, _ in items], [v for _, v in items])
