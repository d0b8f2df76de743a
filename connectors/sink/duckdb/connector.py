"""The ``duckdb`` sink connector and its task (the engine with the DuckDB dialect)."""

from __future__ import annotations

from typing import Any, ClassVar

from connectors.sink.duckdb.config import DuckDBSinkConfig
from connectors.sink.engine.config import SinkConfig
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from hub.runtime.api import SinkConnector


class DuckDBSinkTask(EngineSinkTask):
    config_class: ClassVar[type[SinkConfig]] = DuckDBSinkConfig

    def make_dialect(self, cfg: Any) -> Dialect:
        from connectors.sink.duckdb.dialect import DuckDBDialect

        return DuckDBDialect(cfg)


class DuckDBSink(SinkConnector):
    name = "duckdb"
    aliases = ("DuckDBSink", "DuckDBSinkConnector")
    config_model = DuckDBSinkConfig
    task_class = DuckDBSinkTask
    secret_properties = ("connection.password", "connection.url")
