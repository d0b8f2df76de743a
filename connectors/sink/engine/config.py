"""Properties every sink of the engine takes (Debezium JDBC sink's names where they exist).

hub's defaults differ from Debezium's JDBC sink in three places, so that a sink fed by a hub
source ends equal to the source without extra settings: ``primary.key.mode`` defaults to
``record_key`` (Debezium: ``none``), ``delete.enabled`` and ``truncate.enabled`` default to
true (Debezium: false); ``insert.mode`` is an upsert when keyed (Debezium: insert) and
``schema.evolution`` basic (Debezium: none). Set them explicitly to get Debezium's
behaviour; under Debezium's class name for the JDBC sink each left unset is a warning
(connectors/sink/jdbc).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hub.runtime import csv_list
from hub.runtime.api import ConnectorConfig

PLACEHOLDERS = ("${topic}", "${source.schema}", "${source.table}", "${source.db}")


class SinkConfig(ConnectorConfig):
    connection_url: str = Field(
        alias="connection.url",
        description="target: duckdb:///abs/path.duckdb, duckdb:rel.duckdb, "
        "postgresql://user@host:port/db",
    )
    connection_username: str = Field("", alias="connection.username")
    connection_password: str = Field("", alias="connection.password", description="secret")
    insert_mode: Literal["insert", "upsert"] | None = Field(
        None, alias="insert.mode", description="default: upsert when the table has a key"
    )
    primary_key_mode: Literal["none", "record_key", "record_value"] = Field(
        "record_key", alias="primary.key.mode"
    )
    primary_key_fields: list[str] = Field(default_factory=list, alias="primary.key.fields")
    delete_enabled: bool = Field(True, alias="delete.enabled")
    delete_mode: Literal["hard", "soft"] = Field(
        "hard", alias="delete.mode", description="soft: keep the row, set __deleted = true"
    )
    truncate_enabled: bool = Field(True, alias="truncate.enabled")
    schema_evolution: Literal["none", "basic"] = Field("basic", alias="schema.evolution")
    table_name_format: str = Field("${topic}", alias="table.name.format")
    unavailable_value_placeholder: str = Field(
        "__debezium_unavailable_value",
        alias="unavailable.value.placeholder",
        description="the source's stand-in for an unchanged TOASTed value: the column keeps "
        "the value the target has",
    )
    cdc_metadata: bool = Field(
        False,
        alias="cdc.metadata.enabled",
        description="add __op, __source_ts_ms and __lsn / __binlog_file, __binlog_pos",
    )

    @field_validator("primary_key_fields", mode="before")
    @classmethod
    def _fields(cls, v: Any) -> list[str]:
        return csv_list(v)

    @field_validator("table_name_format")
    @classmethod
    def _format(cls, v: str) -> str:
        for ph in re.findall(r"\$\{[^}]*\}", v):
            if ph not in PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {ph}; use {', '.join(PLACEHOLDERS)}")
        if not v.strip():
            raise ValueError("must not be empty")
        if "${" in re.sub(r"\$\{[^}]*\}", "", v):  # ("${topic" made a table named so)
            raise ValueError(
                f"a placeholder is not closed with '}}'; use {', '.join(PLACEHOLDERS)}"
            )
        return v

    @classmethod
    def url_problem(cls, url: str) -> str | None:
        """What is wrong with ``connection.url`` for this sink (None: nothing). Checked in the
        model validator so that the URL, which may hold a password, is never quoted."""
        return None

    @model_validator(mode="after")
    def _consistent(self) -> SinkConfig:
        problems = []
        url = self.url_problem(self.connection_url)
        if url:
            problems.append(f"connection.url: {url}")
        if self.primary_key_mode == "record_value" and not self.primary_key_fields:
            problems.append(
                "primary.key.mode=record_value needs primary.key.fields (the key columns)"
            )
        if self.primary_key_mode == "none" and "delete_enabled" not in self.model_fields_set:
            # (no key to delete by: deletes are not applied, as Debezium's default; a config
            # from Debezium that names primary.key.mode=none alone had been refused)
            object.__setattr__(self, "delete_enabled", False)
        if self.primary_key_mode == "none":
            if self.insert_mode == "upsert":
                problems.append(
                    "insert.mode=upsert needs a key: set primary.key.mode to record_key or "
                    "record_value"
                )
            if self.delete_enabled:
                problems.append(
                    "delete.enabled=true needs a key: set primary.key.mode to record_key or "
                    "record_value, or delete.enabled=false"
                )
            elif self.delete_mode == "soft" and "delete_enabled" not in self.model_fields_set:
                # (it marks the row of a key; with delete.enabled=false set, as an earlier hub
                # required here, it still adds the column: kept)
                problems.append(
                    "delete.mode=soft needs a key: set primary.key.mode to record_key or "
                    "record_value, or delete.mode=hard"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def keyed(self) -> bool:
        return self.primary_key_mode != "none"
