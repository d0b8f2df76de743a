"""The ``postgres-sink`` connector and its task (the engine with the PostgreSQL dialect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.sink.engine.config import SinkConfig
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from connectors.sink.postgres.config import PostgresSinkConfig
from hub.runtime.api import Check, SinkConnector


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

    @classmethod
    def verify_target(cls, config: Mapping[str, Any]) -> Any:
        """Its tables as ``hub verify`` reads them back."""
        from connectors.sink.engine.verify import EngineTarget

        return EngineTarget(cls.task_class, config)

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> list[Check]:
        from connectors.sink.engine.checks import check_target

        cfg = PostgresSinkConfig.of(config)
        return check_target(cls.task_class, config, _where(cfg.connection_url))


def _where(url: str) -> str:
    """``user@host:port/db`` of a connection URL, without its password."""
    from psycopg.conninfo import conninfo_to_dict

    from connectors.sink.postgres.config import conninfo

    try:
        d = conninfo_to_dict(conninfo(url))
    except Exception:  # noqa: BLE001 - the URL was validated; this is for a message only
        return "the PostgreSQL target"
    return f"{d.get('user', '')}@{d.get('host', '')}:{d.get('port', 5432)}/{d.get('dbname', '')}"
