from __future__ import annotations

from connectors.sink.engine.config import SinkConfig

SCHEMES = ("postgresql://", "postgres://", "jdbc:postgresql://")


class PostgresSinkConfig(SinkConfig):
    @classmethod
    def url_problem(cls, url: str) -> str | None:
        if not url.startswith(SCHEMES):
            return (
                "not a PostgreSQL URL; use postgresql://user@host:port/dbname "
                "(jdbc:postgresql://host:port/dbname works too)"
            )
        return None


def conninfo(url: str) -> str:
    """The libpq URI of a config's ``connection.url`` (Debezium's ``jdbc:`` prefix dropped)."""
    return url.removeprefix("jdbc:")
