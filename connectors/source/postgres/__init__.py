"""PostgreSQL source: consistent snapshot + logical replication (pgoutput), Debezium events."""

from connectors.source.postgres.connector import PostgresConnector, PostgresSourceTask

__all__ = ["PostgresConnector", "PostgresSourceTask"]
