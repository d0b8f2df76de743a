"""What a task runner gets from the worker: one value, shared by source and sink runners."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.log.backend import LogBackend
from hub.runtime.converters import Converter
from hub.runtime.errors import ErrorReporter
from hub.runtime.status import TaskState
from hub.runtime.transforms import TransformChain
from hub.runtime.validation import CommonConfig


@dataclass(frozen=True)
class RunnerContext:
    connector: str
    task_id: int
    config: dict[str, Any]  # the task's config (connector and runtime properties)
    common: CommonConfig
    log: LogBackend
    key_converter: Converter
    value_converter: Converter
    state: TaskState
    errors: ErrorReporter
    chain: TransformChain | None = None  # the connector's transforms, if any
    # the worker's internal topics by name (``*.storage.topic``): never a sink's to read
    internal_topics: frozenset[str] = frozenset()
    # the config of the topics a source creates (topic.creation.default.<topic config>)
    topic_configs: dict[str, str] = field(default_factory=dict)
    # the connector's active topics (Connect's GET /connectors/{name}/topics): a source's
    # tasks add each topic they write to, a sink's each topic they take records from
    active_topics: set[str] = field(default_factory=set)

    @property
    def flush_interval(self) -> float:
        """Seconds between offset commits (offset.flush.interval.ms)."""
        return self.common.offset_flush_interval_ms / 1000
