"""``io.debezium.connector.jdbc.JdbcSinkConnector``: Debezium's JDBC sink class name, so its
configs run as they are. The dialect comes from ``connection.url``: ``duckdb:`` → the DuckDB
sink, ``postgresql://`` / ``jdbc:postgresql://`` → the PostgreSQL sink. hub's defaults hold
(those of the sink engine): each that differs from Debezium's and that the config leaves
unset is a warning (`DEBEZIUM_DEFAULTS`), so that a config written for Debezium does not
delete what it kept there without a word. (Running Debezium's defaults under its name would
change what a sink an earlier hub ran with that name does: its first update after the
upgrade failed on the key its tables have.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sink.duckdb.config import DuckDBSinkConfig, duckdb_path
from connectors.sink.postgres.config import SCHEMES
from hub.log import TopicPartition
from hub.runtime.api import (
    Check,
    EncodedSinkRecords,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SinkTaskContext,
)

# Debezium's JDBC sink defaults where the engine's differ (connectors/sink/engine/config.py):
# (Debezium's, hub's, what hub's means for the target)
DEBEZIUM_DEFAULTS = {
    "delete.enabled": ("false", "true", "a source's deletes and tombstones delete the row"),
    "truncate.enabled": ("false", "true", "a source's truncate empties the table"),
    "insert.mode": ("insert", "upsert when the table has a key", "a row written again "
                    "replaces the one with its key"),
    "primary.key.mode": ("none", "record_key", "tables get the record key as primary key"),
    "schema.evolution": ("none", "basic", "missing tables and columns are created"),
}  # fmt: skip
DEBEZIUM_NAMES = ("io.debezium.connector.jdbc.JdbcSinkConnector", "JdbcSinkConnector")


class JdbcSinkConfig(DuckDBSinkConfig):
    """Every property of the dialects; ``duckdb.*`` ones only matter for DuckDB URLs."""

    @classmethod
    def url_problem(cls, url: str) -> str | None:
        if url.startswith(("jdbc:redshift:", "redshift:")):
            return "Redshift has its own sink: set connector.class: redshift (same URL)"
        if duckdb_path(url) is None and not url.startswith(SCHEMES):
            return "no sink for this URL; use duckdb:///path.duckdb or postgresql://host/db"
        return None


class JdbcSinkTask(SinkTask):
    """Delegates to the DuckDB or PostgreSQL sink task picked by ``connection.url``."""

    offsets_in_target = True  # (the engine task it wraps keeps them)
    skips_below_stored = True
    isolates_failures = True  # (a batch is one transaction; a record's failure is its own)

    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None:
        from connectors.sink.engine.task import EngineSinkTask

        url = str(config.get("connection.url", ""))
        inner: EngineSinkTask[Any]
        if duckdb_path(url) is not None:
            from connectors.sink.duckdb.connector import DuckDBSinkTask

            inner = DuckDBSinkTask()
        else:
            from connectors.sink.postgres.connector import PostgresSinkTask

            inner = PostgresSinkTask()
            config = {k: v for k, v in config.items() if not k.startswith("duckdb.")}
        self.inner = inner
        inner.start(config, context)

    def open(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        return self.inner.open(partitions)

    def put(self, records: Sequence[SinkRecord]) -> None:
        self.inner.put(records)

    def put_encoded(self, batch: EncodedSinkRecords) -> bool:
        return self.inner.put_encoded(batch)  # (DuckDB's native path; declined elsewhere)

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.inner.flush(offsets)

    def close(self, partitions: set[TopicPartition]) -> None:
        self.inner.close(partitions)

    def stop(self) -> None:
        inner = getattr(self, "inner", None)
        if inner is not None:
            inner.stop()


class JdbcSink(SinkConnector):
    name = "jdbc"
    aliases = ("io.debezium.connector.jdbc.JdbcSinkConnector", "JdbcSinkConnector")
    config_model = JdbcSinkConfig
    task_class = JdbcSinkTask
    secret_properties = ("connection.password", "connection.url")

    @classmethod
    def config_warnings(cls, config: Mapping[str, Any]) -> list[str]:
        from connectors.sink.engine.connector import deletes_dropped

        if config.get("connector.class") not in DEBEZIUM_NAMES:
            return deletes_dropped(config)
        # (without a key, hub's deletes are off and its inserts plain: Debezium's defaults)
        keyless = str(config.get("primary.key.mode", "")).strip().lower() == "none"
        return deletes_dropped(config) + [
            f"{prop} is not set: hub's default is {ours} ({means}), Debezium's JDBC sink's "
            f"{theirs}; set {prop}: {theirs} to keep Debezium's behaviour"
            for prop, (theirs, ours, means) in DEBEZIUM_DEFAULTS.items()
            if prop not in config and not (keyless and prop in ("delete.enabled", "insert.mode"))
        ]  # fmt: skip

    @staticmethod
    def _dialect(config: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The sink ``connection.url`` picks, and the config as that one takes it."""
        if duckdb_path(str(config.get("connection.url", ""))) is not None:
            from connectors.sink.duckdb.connector import DuckDBSink

            return DuckDBSink, dict(config)
        from connectors.sink.postgres.connector import PostgresSink

        return PostgresSink, {k: v for k, v in config.items() if not k.startswith("duckdb.")}

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> list[Check]:
        """``hub validate --connect``: the target's, as its own sink checks it (it had said ok
        for a database it could not reach)."""
        sink, own = cls._dialect(config)
        return list(sink.check(own))

    @classmethod
    def verify_target(cls, config: Mapping[str, Any]) -> Any:
        sink, own = cls._dialect(config)
        return sink.verify_target(own)

    @classmethod
    def local_files(cls, config: Mapping[str, Any]) -> list[str]:
        path = duckdb_path(str(config.get("connection.url", "")))
        return [] if path is None else [path]
