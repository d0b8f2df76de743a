"""A third-party style sink for tests: its first ``put`` takes ``first.put.ms`` (a target
busy past the group's poll interval), then it keeps what it gets. Offsets in the group."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from hub.runtime import ConnectorConfig, SinkConnector, SinkRecord, SinkTask, SinkTaskContext

RECEIVED: list[Any] = []
PUTS: list[int] = [0]
BATCHES: list[int] = []  # each put's record count
FAIL_FLUSH = [False]  # its flush raises (the target unreachable)


class SlowConfig(ConnectorConfig):
    first_put_ms: int = Field(0, ge=0, alias="first.put.ms")


class SlowTask(SinkTask):
    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None:
        self.first_put_ms = SlowConfig.of(config).first_put_ms

    def put(self, records: Sequence[SinkRecord]) -> None:
        PUTS[0] += 1
        BATCHES.append(len(records))
        if PUTS[0] == 1:
            time.sleep(self.first_put_ms / 1000)
        RECEIVED.extend(r.value for r in records)

    def flush(self, offsets: Mapping[Any, int]) -> None:
        if FAIL_FLUSH[0]:
            from hub.errors import TransientError

            raise TransientError("the target is unreachable")

    def stop(self) -> None:
        pass


class SlowSink(SinkConnector):
    name = "slow"
    config_model = SlowConfig
    task_class = SlowTask
