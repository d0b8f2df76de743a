"""DuckDB sink (``connector.class: duckdb``): Debezium change events into a DuckDB file, one
transaction per batch, offsets kept in the file's ``_hub_offsets`` table (exactly once).

Reading the file while hub runs: DuckDB allows one read-write process OR any number of
read-only ones per file. hub holds the write connection only while batches arrive and closes
it after ``duckdb.idle.release.ms`` (default 1000) without one. Readers open the file
read-only (``duckdb.connect(path, read_only=True)`` / ``duckdb -readonly path``), query, and
close again soon: while a reader is attached hub waits (up to ``duckdb.lock.timeout.ms``, then
the batch is retried per ``errors.retry.timeout``). For a reader that must stay attached, copy
the file (``EXPORT DATABASE``) or read through PostgreSQL instead.

The type mapping is in `connectors.sink.duckdb.types`.
"""

from connectors.sink.duckdb.config import DuckDBSinkConfig
from connectors.sink.duckdb.connector import DuckDBSink, DuckDBSinkTask

__all__ = ["DuckDBSink", "DuckDBSinkConfig", "DuckDBSinkTask"]
