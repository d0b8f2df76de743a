from __future__ import annotations

from pydantic import field_validator

from connectors.sink.engine.config import SinkConfig

SCHEMES = ("postgresql://", "postgres://", "jdbc:postgresql://")


class PostgresSinkConfig(SinkConfig):
    @field_validator("connection_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(SCHEMES):
            raise ValueError(
                "not a PostgreSQL URL; use postgresql://user@host:port/dbname "
                "(jdbc:postgresql://host:port/dbname works too)"
            )
        return v


def conninfo(url: str) -> str:
    """The libpq URI of a config's ``connection.url`` (Debezium's ``jdbc:`` prefix dropped)."""
    return url.removeprefix("jdbc:")
