"""Snowflake sink (``connector.class: snowflake``): Debezium change events into Snowflake
tables, exactly once: each batch is loaded into staging tables (Parquet, ``PUT`` to a
temporary stage, ``COPY INTO``) and applied in one transaction with the ``_hub_offsets`` row
(`dialect`). Needs ``pip install -e '.[snowflake]'`` (snowflake-connector-python).

The type mapping is in `connectors.sink.snowflake.types`.
"""

from connectors.sink.snowflake.config import SnowflakeSinkConfig
from connectors.sink.snowflake.connector import SnowflakeSink, SnowflakeSinkTask

__all__ = ["SnowflakeSink", "SnowflakeSinkConfig", "SnowflakeSinkTask"]
