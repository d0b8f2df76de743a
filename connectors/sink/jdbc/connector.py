"""``io.debezium.connector.jdbc.JdbcSinkConnector``: Debezium's JDBC sink class name, so its
configs run as they are, with Debezium's defaults where hub's differ (`DEBEZIUM_DEFAULTS`:
a config written for Debezium that leaves deletes off keeps the rows its source deletes).
The dialect comes from ``connection.url``: ``duckdb:`` → the DuckDB sink, ``postgresql://`` /
``jdbc:postgresql://`` → the PostgreSQL sink. Under hub's own name (``jdbc``) hub's defaults
hold."""

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

# Debezium's JDBC sink defaults where the engine's differ (connectors/sink/engine/config.py)
DEBEZIUM_DEFAULTS = {
    "insert.mode": "insert", "primary.key.mode": "none", "delete.enabled": False,
    "truncate.enabled": False, "schema.evolution": "none",
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

        config = {**JdbcSink.class_defaults(str(config.get("connector.class", ""))), **config}
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
    def class_defaults(cls, connector_class: str) -> Mapping[str, Any]:
        return DEBEZIUM_DEFAULTS if connector_class in DEBEZIUM_NAMES else {}

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
