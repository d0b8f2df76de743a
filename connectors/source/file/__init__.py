"""FileStreamSource: one record per line of a file, like Kafka's FileStreamSourceConnector."""

from connectors.source.file.connector import FileStreamSource, FileStreamSourceTask

__all__ = ["FileStreamSource", "FileStreamSourceTask"]
