"""The BigQuery sink's properties: the Confluent (WePay) BigQuery connector's names where it
has them (``project``, ``defaultDataset``, ``keyfile``, ``keySource``), Kafka Connect's style
for the rest, with the engine's (`SinkConfig`) for what is written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from connectors.sink.engine.config import SinkConfig
from hub.runtime import csv_list

_PROJECT = re.compile(r"[a-z][a-z0-9.:-]{4,62}|[A-Za-z0-9_.:-]{1,63}")
_DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")


class BigQuerySinkConfig(SinkConfig):
    connection_url: str = Field("", alias="connection.url", description="not used: set project")
    project: str = Field(description="the Google Cloud project that holds the dataset")
    default_dataset: str = Field(
        alias="defaultDataset",
        description="the dataset tables are written to (created if missing); a table name "
        "with a schema part (table.name.format=${source.schema}.…) names the dataset itself",
    )
    key_source: Literal["FILE", "JSON", "APPLICATION_DEFAULT"] | None = Field(
        None,
        alias="keySource",
        description="how keyfile is read: FILE (a path), JSON (the key itself); "
        "APPLICATION_DEFAULT: Google's application default credentials. Default: FILE with a "
        "keyfile, else APPLICATION_DEFAULT",
    )
    keyfile: str = Field(
        "",
        description="secret: a service account key (its path with keySource=FILE, its JSON "
        "with keySource=JSON)",
    )
    location: str = Field(
        "", description="where datasets are created and jobs run (US, EU, europe-west3…)"
    )
    endpoint: str = Field(
        "",
        alias="bigquery.endpoint",
        description="the API endpoint, for a local emulator (http://127.0.0.1:9050); without "
        "a keyfile it is reached with anonymous credentials",
    )
    merge_interval_ms: int = Field(
        60_000,
        alias="merge.interval.ms",
        ge=0,
        description="how long a batch gathers changes before its load and MERGE (the "
        "Confluent connector's mergeIntervalMs): each MERGE scans the target, so fewer, "
        "bigger ones cost less; rows are visible up to this much later",
    )
    merge_records_threshold: int = Field(
        100_000,
        alias="merge.records.threshold",
        ge=1,
        description="a batch is written as soon as it holds this many records",
    )
    clustering_fields: list[str] | None = Field(
        None,
        alias="clusteringPartitionFieldNames",
        description="columns that created tables are clustered by (at most 4); default: the "
        "key columns BigQuery can cluster by; empty: none",
    )
    partition_field: str = Field(
        "",
        alias="timestampPartitionFieldName",
        description="a DATE, DATETIME or TIMESTAMP column that created tables having it are "
        "partitioned by (MERGEs and queries that filter on it read fewer partitions)",
    )
    partitioning_type: Literal["HOUR", "DAY", "MONTH", "YEAR"] = Field(
        "DAY", alias="partitioning.type", description="the partitions' span"
    )
    timeout_ms: int = Field(
        300_000,
        alias="bigquery.timeout.ms",
        ge=1000,
        description="how long one job (a load, a batch's transaction) may take before the "
        "batch fails and is retried per errors.retry.timeout",
    )

    @field_validator("clustering_fields", mode="before")
    @classmethod
    def _fields_list(cls, v: object) -> list[str] | None:
        return None if v is None else csv_list(v)

    @field_validator("clustering_fields")
    @classmethod
    def _at_most_four(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(v) > 4:
            raise ValueError("BigQuery clusters a table by at most 4 columns")
        return v

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        if not _PROJECT.fullmatch(v):
            raise ValueError("not a Google Cloud project id (lowercase letters, digits, '-')")
        return v

    @field_validator("default_dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        if not _DATASET.fullmatch(v):
            raise ValueError("a dataset name has letters, digits and '_' only")
        return v

    @classmethod
    def url_problem(cls, url: str) -> str | None:
        if url:
            return "the bigquery sink does not take connection.url; set project and defaultDataset"
        return None

    @model_validator(mode="after")
    def _credentials(self) -> BigQuerySinkConfig:
        if self.connection_username or self.connection_password:
            raise ValueError(
                "the bigquery sink does not take connection.username or connection.password; "
                "set keyfile (a service account key) or use application default credentials"
            )
        source = self.source
        if source == "APPLICATION_DEFAULT" and self.keyfile:
            raise ValueError("keySource=APPLICATION_DEFAULT takes no keyfile; remove one")
        if source in ("FILE", "JSON") and not self.keyfile:
            raise ValueError(f"keySource={source} needs keyfile")
        if source == "FILE" and not _is_file(self.keyfile):
            if self.keyfile.lstrip().startswith("{"):
                raise ValueError("keyfile holds a key, not a path: set keySource=JSON")
            raise ValueError(
                "keyfile: no such file (with keySource=FILE it is the path of a service "
                "account key; set keySource=JSON to give the key itself)"
            )
        if source == "JSON":
            try:
                json.loads(self.keyfile)
            except ValueError:
                raise ValueError(
                    "keyfile: not JSON (keySource=JSON takes the key itself)"
                ) from None
        return self

    @property
    def source(self) -> str:
        return self.key_source or ("FILE" if self.keyfile else "APPLICATION_DEFAULT")

    @property
    def where(self) -> str:
        """``BigQuery project.dataset`` for messages (no credentials)."""
        at = f" at {self.endpoint}" if self.endpoint else ""
        return f"BigQuery {self.project}.{self.default_dataset}{at}"


def _is_file(path: str) -> bool:
    """Whether ``path`` names a file; False for what cannot be a path (too long, NUL): the
    error about it would quote the value, which may be the key itself."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False
