"""The ``snowflake`` sink connector and its task (the engine with the Snowflake dialect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.sink.engine.connector import EngineSink
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from connectors.sink.snowflake.config import SnowflakeSinkConfig


class SnowflakeSinkTask(EngineSinkTask[SnowflakeSinkConfig]):
    config_class = SnowflakeSinkConfig

    def make_dialect(self, cfg: SnowflakeSinkConfig) -> Dialect:
        from connectors.sink.snowflake.dialect import SnowflakeDialect

        return SnowflakeDialect(cfg)


class SnowflakeSink(EngineSink):
    name = "snowflake"
    aliases = ("SnowflakeSink", "SnowflakeSinkConnector")
    config_model = SnowflakeSinkConfig
    task_class = SnowflakeSinkTask
    secret_properties = (
        "snowflake.private.key",
        "snowflake.private.key.passphrase",
        "snowflake.password",
        "connection.password",  # refused, but masked in the refusal's surroundings too
        "connection.url",  # (as every sink's: a URL may carry a password)
    )

    @classmethod
    def where(cls, config: Mapping[str, Any]) -> str:
        return SnowflakeSinkConfig.of(config).where
