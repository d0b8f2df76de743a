"""The ``snowflake`` sink connector and its task (the engine with the Snowflake dialect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.sink.engine.config import SinkConfig
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from connectors.sink.snowflake.config import SnowflakeSinkConfig
from hub.runtime.api import Check, SinkConnector


class SnowflakeSinkTask(EngineSinkTask):
    config_class: ClassVar[type[SinkConfig]] = SnowflakeSinkConfig

    def make_dialect(self, cfg: Any) -> Dialect:
        from connectors.sink.snowflake.dialect import SnowflakeDialect

        return SnowflakeDialect(cfg)


class SnowflakeSink(SinkConnector):
    name = "snowflake"
    aliases = ("SnowflakeSink", "SnowflakeSinkConnector")
    config_model = SnowflakeSinkConfig
    task_class = SnowflakeSinkTask
    secret_properties = (
        "snowflake.private.key",
        "snowflake.private.key.passphrase",
        "snowflake.password",
    )

    @classmethod
    def verify_target(cls, config: Mapping[str, Any]) -> Any:
        """Its tables as ``hub verify`` reads them back."""
        from connectors.sink.engine.verify import EngineTarget

        return EngineTarget(cls.task_class, config)

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> list[Check]:
        from connectors.sink.engine.checks import check_target

        cfg = SnowflakeSinkConfig.of(config)
        return check_target(cls.task_class, config, cfg.where)
