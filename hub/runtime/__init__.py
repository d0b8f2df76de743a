"""hub.runtime: the connect runtime (connectors, tasks, offsets, worker).

A connector in one file::

    from hub.runtime import SourceConnector, SourceTask, SourceRecord, ConnectorConfig

    class CounterConfig(ConnectorConfig):
        topic: str

    class CounterTask(SourceTask):
        def start(self, config, context):
            self.topic = CounterConfig.of(config).topic
            offset = context.offset({"counter": 0})
            self.n = offset["n"] if offset else 0
        def poll(self):
            self.n += 1
            return [SourceRecord(self.topic, {"n": self.n}, source_partition={"counter": 0},
                                 source_offset={"n": self.n})]
        def stop(self):
            pass

    class Counter(SourceConnector):
        name = "counter"
        config_model = CounterConfig
        task_class = CounterTask

Register it under the entry-point group ``hub.connectors`` (or name it ``module:Class`` in
``connector.class``).
"""

from hub.runtime.api import (
    Check,
    Connector,
    ConnectorConfig,
    EncodedBatch,
    EncodedSinkRecords,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SinkTaskContext,
    SourceBatch,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
    csv_list,
    masked,
)
from hub.runtime.converters import (
    ByteArrayConverter,
    JsonConverter,
    StringConverter,
    dumps,
    json_default,
    unscaled_bytes,
)

__all__ = [
    "ByteArrayConverter",
    "Check",
    "Connector",
    "ConnectorConfig",
    "EncodedBatch",
    "EncodedSinkRecords",
    "JsonConverter",
    "SinkConnector",
    "SinkRecord",
    "SinkTask",
    "SinkTaskContext",
    "SourceBatch",
    "SourceConnector",
    "SourceRecord",
    "SourceTask",
    "SourceTaskContext",
    "StringConverter",
    "csv_list",
    "dumps",
    "json_default",
    "masked",
    "unscaled_bytes",
]
