"""Debezium's JDBC sink class name (``io.debezium.connector.jdbc.JdbcSinkConnector``), with
the dialect picked from ``connection.url``."""

from connectors.sink.jdbc.connector import JdbcSink, JdbcSinkConfig, JdbcSinkTask

__all__ = ["JdbcSink", "JdbcSinkConfig", "JdbcSinkTask"]
