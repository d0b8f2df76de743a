"""What a transform and a predicate are, and which half of a record a ``$Key``/``$Value``
transform works on.

A transform takes a ``SourceRecord`` or a ``SinkRecord`` and returns a record of the same
class (a copy made with ``dataclasses.replace``; records are frozen) or None to drop it. A
predicate answers yes or no for a record. Both are configured once, from their properties,
and are then stateless: safe to share between tasks and threads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from hub.runtime.api import JsonMap, SinkRecord, SourceRecord
from hub.runtime.transforms.errors import TransformError

R = TypeVar("R", SourceRecord, SinkRecord)


class Transform(ABC):
    """One single message transform (SMT)."""

    @abstractmethod
    def apply(self, record: R) -> R | None:
        """The transformed record, or None to drop it."""


class Predicate(ABC):
    """A condition a transform may be applied under (``transforms.<alias>.predicate``)."""

    @abstractmethod
    def test(self, record: SourceRecord | SinkRecord) -> bool: ...


@dataclass(frozen=True, slots=True)
class Side:
    """The record's key or its value, with the schema that goes with it."""

    name: str  # "key" or "value"
    suffix: str  # "$Key" or "$Value"

    def get(self, record: SourceRecord | SinkRecord) -> Any:
        return record.key if self.name == "key" else record.value

    def schema(self, record: SourceRecord | SinkRecord) -> JsonMap | None:
        return record.key_schema if self.name == "key" else record.value_schema

    def put(self, record: R, data: Any, schema: JsonMap | None) -> R:
        if self.name == "key":
            return replace(record, key=data, key_schema=schema)
        return replace(record, value=data, value_schema=schema)


KEY = Side("key", "$Key")
VALUE = Side("value", "$Value")


def require_map(data: Any, purpose: str, record: SourceRecord | SinkRecord) -> Mapping[str, Any]:
    """``data`` as a mapping, or the error Kafka's ``Requirements.requireMap`` gives."""
    if not isinstance(data, Mapping):
        raise TransformError(
            f"only dict (struct/map) values are supported for {purpose}, "
            f"found {type(data).__name__}",
            topic=record.topic,
        )
    return data
