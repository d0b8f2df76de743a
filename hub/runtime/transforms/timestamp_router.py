"""Kafka's ``TimestampRouter``: a topic name from the topic and the record's timestamp."""

from __future__ import annotations

from dataclasses import replace

from hub.runtime.transforms.base import R, Transform
from hub.runtime.transforms.date_format import compile_date_format
from hub.runtime.transforms.errors import TransformError
from hub.runtime.transforms.props import Props


class TimestampRouter(Transform):
    """``topic.format`` (default ``${topic}-${timestamp}``) and ``timestamp.format`` (a
    ``SimpleDateFormat`` pattern, default ``yyyyMMdd``, in UTC). A record without a
    timestamp is an error, as in Kafka."""

    def __init__(self, props: Props) -> None:
        self.topic_format = props.string("topic.format", "${topic}-${timestamp}") or ""
        pattern = props.string("timestamp.format", "yyyyMMdd") or ""
        self.format = props.parse("timestamp.format", pattern, compile_date_format)

    def apply(self, record: R) -> R | None:
        assert self.format is not None
        if record.timestamp is None:
            raise TransformError("timestamp missing on record", topic=record.topic)
        try:
            stamp = self.format(record.timestamp)
        except OverflowError:  # (Java prints years past 9999; Python's dates end there)
            raise TransformError(
                f"timestamp {record.timestamp} ms is outside the years 1 to 9999, which "
                "TimestampRouter names topics by",
                topic=record.topic,
            ) from None
        topic = self.topic_format.replace("${topic}", record.topic)
        return replace(record, topic=topic.replace("${timestamp}", stamp))
