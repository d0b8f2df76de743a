"""FileStreamSink: one line per record, like Kafka's FileStreamSinkConnector, exactly once."""

from connectors.sink.file.connector import FileStreamSink, FileStreamSinkTask

__all__ = ["FileStreamSink", "FileStreamSinkTask"]
