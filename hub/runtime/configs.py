"""Connector configs created over REST, in the compacted internal topic ``__connect_configs``.

Record key: the connector name (UTF-8); value: the config as JSON, exactly as it was given
(``${env:..}``/``${file:..}`` references unresolved, so secrets held outside stay outside);
a null value deletes the connector. The worker reads the topic on start and restarts what it
finds.

Thread safety: one lock; every write is fsynced before it returns. The topic is created on
the first write, so a data directory that never saw a REST-created connector has none.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from hub.log import Log, codec
from hub.log import batch as _batch

TOPIC = "__connect_configs"


class ConfigStore:
    def __init__(self, log: Log) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._configs: dict[str, dict[str, Any]] = {}
        if log.has_topic(TOPIC):
            self._load()

    def _load(self) -> None:
        part = self._log.partition(TOPIC, 0)
        offset = part.log_start_offset
        while offset < part.high_watermark:
            records, nxt = part.records(offset, 4 << 20)
            for r in records:
                if r.key is None:
                    continue
                name = r.key.decode()
                if r.value is None:
                    self._configs.pop(name, None)
                else:
                    self._configs[name] = json.loads(r.value)
            if nxt <= offset:
                break
            offset = nxt

    def configs(self) -> dict[str, dict[str, Any]]:
        """connector name -> config, in the order they were first stored."""
        with self._lock:
            return {k: dict(v) for k, v in self._configs.items()}

    def put(self, name: str, config: dict[str, Any] | None) -> None:
        """Store a connector's config durably; None deletes it."""
        value = None if config is None else json.dumps(config, sort_keys=True).encode()
        with self._lock:
            if config is None and name not in self._configs:
                return
            if not self._log.has_topic(TOPIC):
                self._log.create_topic(
                    TOPIC, 1, {"cleanup.policy": "compact", "segment.bytes": str(16 << 20)}
                )
            part = self._log.partition(TOPIC, 0)
            enc = codec.encode_records([name.encode()], [value], None, time.time_ns() // 1_000_000)
            part.append_batch(_batch.build_batch(*enc))
            part.flush()
            if config is None:
                self._configs.pop(name, None)
            else:
                self._configs[name] = dict(config)
