"""MySQL/MariaDB source: consistent snapshot + binlog streaming, Debezium events."""

from connectors.source.mysql.connector import (
    MariaDbConnector,
    MariaDbSourceTask,
    MySqlConnector,
    MySqlSourceTask,
)

__all__ = ["MariaDbConnector", "MariaDbSourceTask", "MySqlConnector", "MySqlSourceTask"]
