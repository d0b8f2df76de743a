"""The sink engine, shared by every database sink (DuckDB, PostgreSQL, and the warehouses).

A record becomes a `Change` (`records`), a batch's changes are collapsed per table and key
(`batch`), each table is created or evolved (`evolution`), its rows bulk-loaded into a
staging relation and applied with a few set-based statements (`apply`), and the batch's next
offsets stored in ``_hub_offsets`` (`offsets`), all in one transaction (`task`). A dialect
(`dialect`) supplies the connection, type names, the bulk load and the SQL of every statement
(standard SQL by default: one ``MERGE`` per table and batch, `merge`).
"""

from connectors.sink.engine.config import SinkConfig
from connectors.sink.engine.dialect import (
    Dialect,
    Merge,
    StagedColumn,
    TableInfo,
    default_statements,
)
from connectors.sink.engine.errors import (
    MissingTableError,
    RecordError,
    SchemaChangeError,
    SinkConfigError,
    SinkFatalError,
    SinkTransientError,
)
from connectors.sink.engine.task import EngineSinkTask

__all__ = [
    "Dialect",
    "EngineSinkTask",
    "Merge",
    "MissingTableError",
    "RecordError",
    "SchemaChangeError",
    "SinkConfig",
    "SinkConfigError",
    "SinkFatalError",
    "SinkTransientError",
    "StagedColumn",
    "TableInfo",
    "default_statements",
]
