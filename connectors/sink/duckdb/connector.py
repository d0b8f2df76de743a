"""The ``duckdb`` sink connector and its task (the engine with the DuckDB dialect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.sink.duckdb.config import DuckDBSinkConfig
from connectors.sink.engine.connector import EngineSink
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from hub.runtime.api import Check


class DuckDBSinkTask(EngineSinkTask[DuckDBSinkConfig]):
    config_class = DuckDBSinkConfig

    def make_dialect(self, cfg: DuckDBSinkConfig) -> Dialect:
        from connectors.sink.duckdb.dialect import DuckDBDialect

        return DuckDBDialect(cfg)


class DuckDBSink(EngineSink):
    name = "duckdb"
    aliases = ("DuckDBSink", "DuckDBSinkConnector")
    config_model = DuckDBSinkConfig
    task_class = DuckDBSinkTask
    secret_properties = ("connection.password", "connection.url")

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> list[Check]:
        import os

        from connectors.sink.duckdb.config import duckdb_path
        from connectors.sink.engine.checks import check_target

        path = os.path.abspath(duckdb_path(str(config["connection.url"])) or "")
        if not os.path.exists(path):  # never create the file just to check
            parent = os.path.dirname(path)
            while not os.path.exists(parent):
                parent = os.path.dirname(parent)
            ok = os.access(parent, os.W_OK | os.X_OK)
            return [Check(f"DuckDB file {path} can be created", ok,
                          "" if ok else f"{parent} is not writable")]  # fmt: skip
        return check_target(cls.task_class, {**config, "duckdb.lock.timeout.ms": 2000}, path)
