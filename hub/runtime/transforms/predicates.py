"""Kafka's predicates: ``TopicNameMatches``, ``RecordIsTombstone`` and ``HasHeaderKey``."""

from __future__ import annotations

from hub.runtime.api import SinkRecord, SourceRecord
from hub.runtime.transforms.base import Predicate
from hub.runtime.transforms.props import Props


class TopicNameMatches(Predicate):
    """True when the whole topic name matches ``pattern`` (a Java regular expression)."""

    def __init__(self, props: Props) -> None:
        self.pattern = props.regex("pattern", required="a regular expression for topic names")

    def test(self, record: SourceRecord | SinkRecord) -> bool:
        assert self.pattern is not None
        return self.pattern.fullmatch(record.topic) is not None


class RecordIsTombstone(Predicate):
    """True when the value is None."""

    def __init__(self, props: Props) -> None:
        pass

    def test(self, record: SourceRecord | SinkRecord) -> bool:
        return record.value is None


class HasHeaderKey(Predicate):
    """True when the record has at least one header named ``name``."""

    def __init__(self, props: Props) -> None:
        self.name = props.string("name", required="the header name") or ""

    def test(self, record: SourceRecord | SinkRecord) -> bool:
        return any(key == self.name for key, _ in record.headers)
