"""A third-party style sink for tests: put() raises TransientError (or, with ``error:
record``, a ValueError: records it refuses) the first N times."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from hub.errors import TransientError
from hub.runtime import ConnectorConfig, SinkConnector, SinkRecord, SinkTask, SinkTaskContext

RECEIVED: list[Any] = []
ATTEMPTS: list[int] = [0]


class FlakyConfig(ConnectorConfig):
    failures: int = Field(2, ge=0)
    password: str = Field("", alias="connection.password")
    # "transient": the target busy (TransientError); "record": the records refused
    error: str = "transient"


class FlakyTask(SinkTask):
    isolates_failures = True  # (it raises before writing anything: a batch whole or nothing)

    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None:
        cfg = FlakyConfig.of(config)
        self.failures, self.password, self.error = cfg.failures, cfg.password, cfg.error

    def put(self, records: Sequence[SinkRecord]) -> None:
        ATTEMPTS[0] += 1
        if ATTEMPTS[0] <= self.failures:
            # a careless driver quoting its connection settings in the message
            message = f"target busy (attempt {ATTEMPTS[0]}, pw={self.password})"
            raise TransientError(message) if self.error == "transient" else ValueError(message)
        RECEIVED.extend(r.value for r in records)

    def stop(self) -> None:
        pass


class FlakySink(SinkConnector):
    name = "flaky"
    config_model = FlakyConfig
    task_class = FlakyTask


class PartialTask(SinkTask):
    """Writes record by record and refuses a record whose value is "poison" where it comes:
    a failed put has written the records before it (its put is not all or nothing)."""

    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None:
        pass

    def put(self, records: Sequence[SinkRecord]) -> None:
        for r in records:
            if r.value == "poison":
                raise ValueError("poison")
            RECEIVED.append(r.value)

    def stop(self) -> None:
        pass


class PartialSink(SinkConnector):
    name = "partial"
    config_model = ConnectorConfig
    task_class = PartialTask


RELEASE = threading.Event()  # BlockingTask's puts wait for it


class BlockingTask(SinkTask):
    """A target that does not answer: put waits until RELEASE is set (a socket without a
    timeout, a client call that hangs)."""

    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None:
        pass

    def put(self, records: Sequence[SinkRecord]) -> None:
        RELEASE.wait()
        RECEIVED.extend(r.value for r in records)

    def stop(self) -> None:
        pass


class BlockingSink(SinkConnector):
    name = "blocking"
    config_model = ConnectorConfig
    task_class = BlockingTask
