"""The Redshift sink's properties: the JDBC sinks' ``connection.url`` / ``connection.username``
/ ``connection.password`` for the cluster, the S3 staging of Amazon's and Confluent's S3
connectors (``s3.bucket.name``, ``s3.region``, ``aws.access.key.id``…), ``redshift.iam.role``
for ``COPY``, with the engine's (`SinkConfig`) for what is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, model_validator

from connectors.sink.engine.config import SinkConfig
from connectors.sink.engine.dialect import fold_ascii

SSL_MODES = ("disable", "verify-ca", "verify-full")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    database: str
    sslmode: str


def endpoint(url: str) -> Endpoint:
    """``jdbc:redshift://HOST[:5439]/DATABASE[?sslmode=…]`` (``redshift://`` too)."""
    text = url[5:] if url.startswith("jdbc:") else url
    parts = urlsplit(text)
    database = unquote(parts.path.lstrip("/"))
    if text.startswith("redshift:iam:"):
        raise ValueError(
            "IAM authentication (jdbc:redshift:iam://) is not supported yet; "
            "use jdbc:redshift:// with connection.username and connection.password"
        )
    if parts.scheme != "redshift" or not parts.hostname or not database or "/" in database:
        raise ValueError(
            "not a Redshift URL; use jdbc:redshift://CLUSTER.ID.REGION.redshift.amazonaws.com"
            ":5439/DATABASE (redshift://… works too)"
        )
    if parts.username or parts.password:
        raise ValueError("give the user and password as connection.username/password")
    query = parse_qs(parts.query)
    sslmode = query.pop("sslmode", ["verify-ca"])[-1]
    if sslmode not in SSL_MODES:
        raise ValueError(
            f"sslmode={sslmode}: use one of {', '.join(SSL_MODES)} (the driver always checks "
            "the server's certificate when it encrypts: verify-ca, the default, does not check "
            "its host name)"
        )
    if query:
        raise ValueError(f"unknown URL parameters {', '.join(sorted(query))}; only sslmode")
    return Endpoint(parts.hostname, parts.port or 5439, database, sslmode)


class RedshiftSinkConfig(SinkConfig):
    connection_url: str = Field(
        alias="connection.url",
        description="jdbc:redshift://CLUSTER.ID.REGION.redshift.amazonaws.com:5439/DATABASE "
        "(?sslmode=disable|verify-ca|verify-full, default verify-ca)",
    )
    schema_name: str = Field(
        "public",
        alias="redshift.schema.name",
        description="where tables go when table.name.format names no schema",
    )
    staging: Literal["auto", "s3", "insert"] = Field(
        "auto",
        alias="redshift.staging",
        description="how a batch reaches Redshift: s3 (a Parquet file COPY'd from "
        "s3.bucket.name, the fast way), insert (multi-row INSERTs, no bucket needed, for "
        "small volumes); auto: s3 when s3.bucket.name is set",
    )
    iam_role: str = Field(
        "",
        alias="redshift.iam.role",
        description="the IAM role ARN Redshift's COPY reads the bucket with; default: the "
        "access key below",
    )
    bucket_name: str = Field("", alias="s3.bucket.name")
    prefix: str = Field(
        "hub-staging", alias="s3.prefix", description="staging files go under this key prefix"
    )
    region: str = Field("", alias="s3.region", description="default: boto3's (AWS_REGION)")
    s3_endpoint: str = Field(
        "",
        alias="s3.endpoint",
        description="an S3-compatible endpoint URL instead of AWS's (a local stand-in)",
    )
    access_key_id: str = Field(
        "", alias="aws.access.key.id", description="default: boto3's credential chain"
    )
    secret_access_key: str = Field("", alias="aws.secret.access.key", description="secret")
    timeout_ms: int = Field(
        300_000,
        alias="redshift.timeout.ms",
        ge=1000,
        description="connect and socket timeout; a statement still running then fails the "
        "batch, which is retried per errors.retry.timeout",
    )

    @classmethod
    def url_problem(cls, url: str) -> str | None:
        try:
            endpoint(url)
        except ValueError as exc:
            return str(exc)
        return None

    @model_validator(mode="after")
    def _staging(self) -> RedshiftSinkConfig:
        if not self.connection_username:
            raise ValueError("connection.username: required (the database user)")
        if self.staging == "s3" and not self.bucket_name:
            raise ValueError("redshift.staging=s3 needs s3.bucket.name")
        if (
            self.s3
            and self.s3_endpoint
            and not self.s3_endpoint.startswith(("http://", "https://"))
        ):
            raise ValueError("s3.endpoint: give a URL (https://HOST[:PORT])")
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError("set both aws.access.key.id and aws.secret.access.key, or neither")
        if self.s3 and not self.iam_role and not self.access_key_id:
            raise ValueError(
                "S3 staging needs redshift.iam.role (the role Redshift's COPY reads the bucket "
                "with) or aws.access.key.id and aws.secret.access.key"
            )
        return self

    @property
    def s3(self) -> bool:
        """Batches are staged through S3 (else by INSERT)."""
        return self.staging == "s3" or (self.staging == "auto" and bool(self.bucket_name))

    @property
    def endpoint(self) -> Endpoint:
        return endpoint(self.connection_url)

    @property
    def default_schema(self) -> str:
        """The default schema as Redshift names it (ASCII folded to lower case)."""
        return fold_ascii(self.schema_name)

    @property
    def where(self) -> str:
        """``Redshift host:port/database.schema`` for messages (no credentials)."""
        e = self.endpoint
        return f"Redshift {e.host}:{e.port}/{e.database}.{self.default_schema}"
