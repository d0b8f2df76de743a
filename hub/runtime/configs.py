"""Connector configs created over REST, in a compacted internal topic (``__connect_configs``
unless the worker config's ``config.storage.topic`` names another), in Kafka Connect's
format, so tools that read Connect's config topic read ours:

* key ``connector-<name>``, value ``{"properties": {<config>}}``: the config exactly as it
  was given (``${env:..}``/``${file:..}`` references unresolved, so secrets held outside stay
  outside); a null value deletes the connector;
* key ``target-state-<name>``, value ``{"state": "STARTED" | "PAUSED", "state.v2":
  "STARTED" | "PAUSED" | "STOPPED"}`` (Connect 3.5's: a STOPPED connector reads as PAUSED to
  older readers), so a paused or stopped connector stays so across restarts.

Connect also keeps its tasks' configs there (``task-<name>-<n>``, ``commit-<name>``) and
other records (fencing, log levels); hub writes none of them (each worker computes a
connector's tasks when it starts it) and skips them when it reads a topic that has them.
Distributed workers write and read Connect's restart requests (``restart-connector-<name>``,
``{"include-tasks": bool, "only-failed": bool}``) and read what the others wrote with
``refresh``. Config values are kept as given (Connect writes strings only). A topic written before
this format (key: the connector's name, value: its config; target states as ``{"state":
...}``) is read, then rewritten in this format at once: the connectors' records first, then
tombstones for the old keys, so a rewrite that lands in part reads back the same and is done
again at the next start.

Thread safety: one lock; every write is fsynced before it returns. The topic is created on
the first write, so a data directory that never saw a REST-created connector has none.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from typing import Any

from hub.log import Record, TopicExistsError, TopicPartition
from hub.log.backend import LogBackend
from hub.runtime.storage import Remade, single_partition, tail

log = logging.getLogger(__name__)

TOPIC = "__connect_configs"
CONNECTOR_PREFIX = "connector-"
STATE_PREFIX = "target-state-"
RESTART_PREFIX = "restart-connector-"


def _state_record(state: str) -> bytes:
    """Connect's target state value: STOPPED is PAUSED to readers before ``state.v2``."""
    return json.dumps({"state": "PAUSED" if state == "STOPPED" else state,
                       "state.v2": state}).encode()  # fmt: skip


class ConfigStore:
    def __init__(
        self, log: LogBackend, topic: str = TOPIC, replication_factor: int | None = None,
        id_check_s: float = 10.0,
    ) -> None:  # fmt: skip
        self._log = log
        self.topic = topic
        self._replication = replication_factor
        self._tp = TopicPartition(topic, 0)
        self._remade = Remade(log, self._tp, id_check_s)
        self._lock = threading.Lock()
        self._configs: dict[str, dict[str, Any]] = {}
        self._states: dict[str, str] = {}
        # the earlier format: keys that hold a connector's config under its bare name, and
        # the connectors whose config is such a record
        self._live_bare: set[str] = set()
        self._from_bare: set[str] = set()
        self._old_states: set[str] = set()  # target states without "state.v2"
        self._next = 0  # the offset after the last record read
        self._restarts: list[tuple[str, bool, bool]] = []
        self._loaded = False
        if log.has_topic(topic):
            single_partition(log, topic, "connector configs")
            self._load()
            self._remade.note()
            if self._live_bare or self._old_states:
                self._rewrite()
        self._loaded = True

    def _load(self) -> None:
        for r in self._log.scan(self._tp):
            self._apply(r)

    def refresh(self) -> bool:
        """Read what other workers wrote since (hub.runtime.worker's distributed mode);
        whether anything was."""
        with self._lock:
            got = False
            if self._remade(self._next):  # (what it holds is read again)
                log.warning("the config topic %s was made again (the cluster lost it?): "
                            "reading it from its start", self.topic)  # fmt: skip
                self._next = 0
            for r in tail(self._log, self._tp, self._next):
                self._apply(r)
                got = True
            return got

    def restarts(self) -> list[tuple[str, bool, bool]]:
        """The restart requests read since the last call: (connector, include tasks, only
        failed)."""
        with self._lock:
            out, self._restarts = self._restarts, []
            return out

    def put_restart(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        """Ask every worker to restart ``name`` (Connect's restart request record)."""
        value = json.dumps({"include-tasks": include_tasks, "only-failed": only_failed})
        with self._lock:
            self._append([((RESTART_PREFIX + name).encode(), value.encode())])

    def _apply(self, r: Record) -> None:
        self._next = max(self._next, r.offset + 1)
        if r.key is not None:
            self._apply_record(r.key.decode(), None if r.value is None else json.loads(r.value))

    def _apply_record(self, key: str, doc: Any) -> None:
        if doc is None:
            if key in self._live_bare:  # an earlier-format record deleted
                self._live_bare.discard(key)
                if key in self._from_bare:
                    self._from_bare.discard(key)
                    self._configs.pop(key, None)
            elif key.startswith(STATE_PREFIX):
                self._states.pop(key[len(STATE_PREFIX) :], None)
                self._old_states.discard(key[len(STATE_PREFIX) :])
            elif key.startswith(CONNECTOR_PREFIX):
                name = key[len(CONNECTOR_PREFIX) :]
                self._configs.pop(name, None)
                self._from_bare.discard(name)
            return
        fields = set(doc) if isinstance(doc, dict) else set()
        if key.startswith(STATE_PREFIX) and "state" in fields <= {"state", "state.v2"}:
            target = key[len(STATE_PREFIX) :]
            self._states[target] = str(doc.get("state.v2", doc["state"]))
            if "state.v2" in fields:
                self._old_states.discard(target)
            else:
                self._old_states.add(target)
        elif key.startswith(CONNECTOR_PREFIX) and fields == {"properties"}:
            name = key[len(CONNECTOR_PREFIX) :]
            self._configs[name] = dict(doc["properties"])
            self._from_bare.discard(name)
            # (the key was an earlier-format connector's too, "connector-<name>": this
            # record replaced that one, which the rewrite wrote under its new key first)
            self._live_bare.discard(key)
        elif key.startswith(RESTART_PREFIX) and isinstance(doc, dict):
            if self._loaded:  # (a request from before this worker started is done)
                self._restarts.append((key[len(RESTART_PREFIX) :],
                                       bool(doc.get("include-tasks")),
                                       bool(doc.get("only-failed"))))  # fmt: skip
        elif "connector.class" in fields:  # the earlier format: the name as the key
            self._configs[key] = doc
            self._live_bare.add(key)
            self._from_bare.add(key)
        # else: Connect's task, commit, fencing, restart or logger records

    def _rewrite(self) -> None:
        """The earlier format's records in this one: new records first, then the old keys'
        tombstones, so any prefix of the write reads back the same, compacted or not. A
        connector's new key can be another's old one (``x`` -> ``connector-x``, which an
        earlier-format connector named ``connector-x`` used): the longer name goes first,
        so its config is under its new key before its old record is overwritten, and a key
        a new record overwrites gets no tombstone."""
        items: list[tuple[bytes, bytes | None]] = []
        for name in sorted(self._from_bare, key=lambda n: (-len(n), n)):
            config = {"properties": self._configs[name]}
            items.append(((CONNECTOR_PREFIX + name).encode(), json.dumps(config).encode()))
        for name in sorted(self._old_states & set(self._states)):
            items.append(((STATE_PREFIX + name).encode(), _state_record(self._states[name])))
        written = {k for k, _ in items}
        items += [(key.encode(), None) for key in sorted(self._live_bare)
                  if key.encode() not in written]  # fmt: skip
        self._append(items)
        self._live_bare.clear()
        self._from_bare.clear()
        self._old_states.clear()

    def configs(self) -> dict[str, dict[str, Any]]:
        """connector name -> config, in the order they were first stored."""
        with self._lock:
            return {k: dict(v) for k, v in self._configs.items()}

    def state(self, name: str) -> str:
        """The stored target state: STARTED (default), PAUSED or STOPPED."""
        with self._lock:
            return self._states.get(name, "STARTED")

    def put(self, name: str, config: dict[str, Any] | None, state: str | None = None) -> None:
        """Store a connector's config durably; None deletes it (and its target state).
        ``state``: a new connector's target state (PAUSED or STOPPED), written before its
        config, so no reader starts it running first."""
        value = (
            None if config is None
            else json.dumps({"properties": config}, sort_keys=True).encode()
        )  # fmt: skip
        with self._lock:
            if config is None and name not in self._configs:
                return
            items = [((CONNECTOR_PREFIX + name).encode(), value)]
            gone = config is None or name not in self._configs
            if config is not None and state not in (None, "STARTED"):
                items.insert(0, ((STATE_PREFIX + name).encode(), _state_record(state)))
            elif gone and name in self._states:
                # deleted with it; and a state a deletion that landed in part (Kafka) left
                # behind is not a new connector's of the same name: deleted first
                tombstone = ((STATE_PREFIX + name).encode(), None)
                items.insert(0 if config is not None else len(items), tombstone)
            self._append(items)
            if config is not None and state not in (None, "STARTED"):
                self._states[name] = str(state)
            elif gone:
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
            # (another worker of a cluster may create it first: then it is there)
            with contextlib.suppress(TopicExistsError):
                self._log.create_topic(
                    self.topic, 1, {"cleanup.policy": "compact", "segment.bytes": str(16 << 20)},
                    self._replication,
                )  # fmt: skip
        self._log.append_durable(self._tp, [k for k, _ in items], [v for _, v in items])
