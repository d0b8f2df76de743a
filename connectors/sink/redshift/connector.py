"""The ``redshift`` sink connector and its task (the engine with the Redshift dialect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.sink.engine.connector import EngineSink
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from connectors.sink.redshift.config import RedshiftSinkConfig


class RedshiftSinkTask(EngineSinkTask[RedshiftSinkConfig]):
    config_class = RedshiftSinkConfig

    def make_dialect(self, cfg: RedshiftSinkConfig) -> Dialect:
        from connectors.sink.redshift.dialect import RedshiftDialect

        return RedshiftDialect(cfg)


class RedshiftSink(EngineSink):
    name = "redshift"
    aliases = ("RedshiftSink", "RedshiftSinkConnector")
    config_model = RedshiftSinkConfig
    task_class = RedshiftSinkTask
    secret_properties = ("connection.password", "connection.url", "aws.secret.access.key")

    @classmethod
    def where(cls, config: Mapping[str, Any]) -> str:
        return RedshiftSinkConfig.of(config).where
