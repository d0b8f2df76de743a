"""The ``postgres-sink`` connector and its task (the engine with the PostgreSQL dialect)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from connectors.sink.engine.connector import EngineSink
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from connectors.sink.postgres.config import PostgresSinkConfig


class PostgresSinkTask(EngineSinkTask[PostgresSinkConfig]):
    config_class = PostgresSinkConfig

    def make_dialect(self, cfg: PostgresSinkConfig) -> Dialect:
        from connectors.sink.postgres.dialect import PostgresDialect

        return PostgresDialect(cfg)


class PostgresSink(EngineSink):
    name = "postgres-sink"
    aliases = ("PostgresSink", "PostgresSinkConnector")
    config_model = PostgresSinkConfig
    task_class = PostgresSinkTask
    secret_properties = ("connection.password", "connection.url")

    @classmethod
    def where(cls, config: Mapping[str, Any]) -> str:
        cfg = PostgresSinkConfig.of(config)
        return _where(cfg.connection_url, cfg.connection_username)


def _where(url: str, username: str | None = None) -> str:
    """``user@host:port/db`` of a connection URL, without its password; the user is
    connection.username's where set (it is the one the sink logs in as)."""
    from psycopg.conninfo import conninfo_to_dict

    from connectors.sink.postgres.config import conninfo

    try:
        d = conninfo_to_dict(conninfo(url))
    except Exception:  # noqa: BLE001 - the URL was validated; this is for a message only
        return "the PostgreSQL target"
    user = username or d.get("user") or os.environ.get("PGUSER", "")
    return f"{user}@{d.get('host', '')}:{d.get('port', 5432)}/{d.get('dbname', '')}"
