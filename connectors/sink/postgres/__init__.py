"""PostgreSQL sink (``connector.class: postgres-sink``): Debezium change events into
PostgreSQL tables with psycopg 3 — COPY into a TEMP staging table, then ``INSERT … ON
CONFLICT`` and ``DELETE … USING`` with the ``_hub_offsets`` update in one transaction.

The type mapping is in `connectors.sink.postgres.types`.
"""

from connectors.sink.postgres.config import PostgresSinkConfig
from connectors.sink.postgres.connector import PostgresSink, PostgresSinkTask

__all__ = ["PostgresSink", "PostgresSinkConfig", "PostgresSinkTask"]
