"""The Snowflake sink's properties: the Snowflake Kafka connector's names where it has them
(``snowflake.url.name``, ``snowflake.user.name``, ``snowflake.private.key``,
``snowflake.private.key.passphrase``, ``snowflake.database.name``, ``snowflake.schema.name``,
``snowflake.role.name``), with the engine's (`SinkConfig`) for what is written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from connectors.sink.engine.config import SinkConfig

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass(frozen=True)
class Endpoint:
    """Where the client connects: ``account`` for the login, and the host, port and
    protocol of the URL (a stand-in on ``http://127.0.0.1:PORT`` has no account: ``hub``)."""

    account: str
    host: str
    port: int
    protocol: str


def endpoint(url: str) -> Endpoint:
    """``xy12345.eu-central-1.snowflakecomputing.com[:443]`` (https implied) or a full URL."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "snowflake.url.name: not a Snowflake URL; use "
            "ACCOUNT.REGION.snowflakecomputing.com:443 (https://… and http://host:port work too)"
        )
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    account = host.split(".")[0] if host.endswith(".snowflakecomputing.com") else "hub"
    return Endpoint(account, host, port, parts.scheme)


def identifier(name: str) -> str:
    """A configured database or schema name as Snowflake reads it unquoted (``public`` is
    ``PUBLIC``), quoted; a name that needs quotes (``"My Schema"``) as written."""
    if len(name) > 1 and name.startswith('"') and name.endswith('"'):
        name = name[1:-1].replace('""', '"')
    elif _PLAIN.fullmatch(name):
        name = name.upper()
    return '"' + name.replace('"', '""') + '"'


class SnowflakeSinkConfig(SinkConfig):
    connection_url: str = Field(
        "", alias="connection.url", description="not used: set snowflake.url.name"
    )
    url_name: str = Field(
        alias="snowflake.url.name",
        description="the account URL: ACCOUNT.REGION.snowflakecomputing.com:443",
    )
    user_name: str = Field(alias="snowflake.user.name")
    private_key: str = Field(
        "",
        alias="snowflake.private.key",
        description="secret: the user's private key, PEM (PKCS#8) or its base64 body",
    )
    private_key_passphrase: str = Field(
        "", alias="snowflake.private.key.passphrase", description="secret"
    )
    password: str = Field(
        "", alias="snowflake.password", description="secret: instead of a private key"
    )
    database_name: str = Field(alias="snowflake.database.name")
    schema_name: str = Field("PUBLIC", alias="snowflake.schema.name")
    role_name: str = Field("", alias="snowflake.role.name")
    warehouse_name: str = Field(
        "", alias="snowflake.warehouse.name", description="default: the user's default"
    )
    timeout_ms: int = Field(
        60_000,
        alias="snowflake.timeout.ms",
        ge=1000,
        description="login and network timeout; a statement still running then fails the "
        "batch, which is retried per errors.retry.timeout",
    )

    @classmethod
    def url_problem(cls, url: str) -> str | None:
        if url:
            return "the snowflake sink does not take connection.url; set snowflake.url.name"
        return None

    @model_validator(mode="after")
    def _credentials(self) -> SnowflakeSinkConfig:
        endpoint(self.url_name)  # raises with the property's name
        if self.connection_username or self.connection_password:
            raise ValueError(
                "the snowflake sink does not take connection.username or connection.password; "
                "set snowflake.user.name and snowflake.password or snowflake.private.key"
            )
        if not self.private_key and not self.password:
            raise ValueError(
                "set snowflake.private.key (key-pair authentication) or snowflake.password"
            )
        if self.private_key and self.password:
            raise ValueError("set one of snowflake.private.key and snowflake.password, not both")
        return self

    @property
    def endpoint(self) -> Endpoint:
        return endpoint(self.url_name)

    @property
    def where(self) -> str:
        """``account/DATABASE.SCHEMA`` for messages (no credentials)."""
        e = self.endpoint
        return f"Snowflake {e.host}:{e.port} {identifier(self.database_name)}." + identifier(
            self.schema_name
        )
