"""The ``postgres-sink`` connector and its task (the engine with the PostgreSQL dialect)."""

from __future__ import annotations

from typing import Any, ClassVar

from connectors.sink.engine.config import SinkConfig
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from connectors.sink.postgres.config import PostgresSinkConfig
from hub.runtime.api import SinkConnector


class PostgresSinkTask(EngineSinkTask):
    config_class: ClassVar[type[SinkConfig]] = PostgresSinkConfig

    def make_dialect(self, cfg: Any) -> Dialect:
        from connectors.sink.postgres.dialect import PostgresDialect

        return PostgresDialect(cfg)


class PostgresSink(SinkConnector):
    name = "postgres-sink"
    aliases = ("PostgresSink", "PostgresSinkConnector")
    config_model = PostgresSinkConfig
    task_class = PostgresSinkTask
    secret_properties = ("connection.password", "connection.url")
