"""BigQuery sink (``connector.class: bigquery``): Debezium change events into BigQuery tables,
exactly once: each batch is loaded into staging tables (Parquet load jobs) and applied by one
transaction script with the ``_hub_offsets`` row (`dialect`). Needs
``pip install -e '.[bigquery]'`` (google-cloud-bigquery).

The type mapping is in `connectors.sink.bigquery.types`.
"""

from connectors.sink.bigquery.config import BigQuerySinkConfig
from connectors.sink.bigquery.connector import BigQuerySink, BigQuerySinkTask

__all__ = ["BigQuerySink", "BigQuerySinkConfig", "BigQuerySinkTask"]
