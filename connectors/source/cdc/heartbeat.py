"""Heartbeats (``heartbeat.interval.ms``): on a quiet stream, a record ``{"ts_ms": ...}`` keyed
``{"serverName": <topic.prefix>}`` in ``<topic.heartbeat.prefix>.<topic.prefix>`` every
interval, as Debezium writes it, so consumers see the connector alive, and the source's
position moves on with it (the database can drop the log it no longer needs). Heartbeats are
not part of the replay: one may repeat or go missing across a crash."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from hub.runtime.api import JsonMap, SourceRecord

log = logging.getLogger(__name__)

HEARTBEAT_KEY_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": False, "name": "io.debezium.connector.common.ServerNameKey",
    "version": 1, "fields": [{"type": "string", "optional": False, "field": "serverName"}],
}  # fmt: skip
HEARTBEAT_VALUE_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": False, "name": "io.debezium.connector.common.Heartbeat",
    "version": 1, "fields": [{"type": "int64", "optional": False, "field": "ts_ms"}],
}  # fmt: skip


class Heartbeat:
    def __init__(
        self, interval_ms: int, topics_prefix: str, server: str,
        action: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.interval_s = interval_ms / 1000
        self.topic = f"{topics_prefix}.{server}"
        self.server = server
        self.action = action  # heartbeat.action.query, run at each beat
        self._last = time.monotonic()

    def due(self) -> bool:
        """Whether a beat is due now; runs the action if so (a failure is logged, never
        raised: a heartbeat must not stop the stream)."""
        if not self.interval_s:
            return False
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return False
        self._last = now
        if self.action is not None:
            try:
                self.action()
            except Exception as exc:  # noqa: BLE001
                log.warning("heartbeat.action.query failed: %s", exc)
        return True

    def record(self, partition: JsonMap, offset: JsonMap) -> SourceRecord:
        return SourceRecord(
            self.topic, {"ts_ms": time.time_ns() // 1_000_000}, {"serverName": self.server},
            partition, offset, key_schema=HEARTBEAT_KEY_SCHEMA,
            value_schema=HEARTBEAT_VALUE_SCHEMA, replayable=False,
        )  # fmt: skip
