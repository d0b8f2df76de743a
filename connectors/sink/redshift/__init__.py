"""Redshift sink (``connector.class: redshift``): Debezium change events into Amazon Redshift
tables, exactly once: each batch is staged (a Parquet file in S3 loaded by ``COPY``, or
multi-row ``INSERT``s) into temporary tables and applied in one transaction with the
``_hub_offsets`` row (`dialect`). Needs ``pip install -e '.[redshift]'`` (redshift_connector,
boto3).

The type mapping is in `connectors.sink.redshift.types`.
"""

from connectors.sink.redshift.config import RedshiftSinkConfig
from connectors.sink.redshift.connector import RedshiftSink, RedshiftSinkTask

__all__ = ["RedshiftSink", "RedshiftSinkConfig", "RedshiftSinkTask"]
