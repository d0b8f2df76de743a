"""The ``bigquery`` sink connector and its task (the engine with the BigQuery dialect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.sink.bigquery.config import BigQuerySinkConfig
from connectors.sink.engine.connector import EngineSink
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from hub.runtime.api import ConnectorConfig


class BigQuerySinkTask(EngineSinkTask[BigQuerySinkConfig]):
    config_class = BigQuerySinkConfig

    def make_dialect(self, cfg: BigQuerySinkConfig) -> Dialect:
        from connectors.sink.bigquery.dialect import BigQueryDialect

        return BigQueryDialect(cfg)


class BigQuerySink(EngineSink):
    name = "bigquery"
    aliases = ("BigQuerySink", "BigQuerySinkConnector")
    config_model = BigQuerySinkConfig
    task_class = BigQuerySinkTask
    secret_properties = ("keyfile", "connection.password", "connection.url")

    @classmethod
    def where(cls, config: Mapping[str, Any]) -> str:
        return BigQuerySinkConfig.of(config).where

    @classmethod
    def runtime_defaults(cls, config: ConnectorConfig) -> dict[str, Any]:
        """A batch gathers for merge.interval.ms (each MERGE scans the target table) and is
        cut at merge.records.threshold records."""
        assert isinstance(config, BigQuerySinkConfig)
        wait = config.merge_interval_ms
        return {
            "batch.linger.ms": wait,
            "batch.max.wait.ms": wait,
            "batch.size": config.merge_records_threshold,
        }
