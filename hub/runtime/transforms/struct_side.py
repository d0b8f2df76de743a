"""The shared first step of the ``$Key``/``$Value`` field transforms: what the side holds.

Kafka's field transforms work on a ``Map`` when the side has no schema and on a ``Struct``
when it has one; a null side (a tombstone's value, a record without key) passes unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.runtime.api import JsonMap, SinkRecord, SourceRecord
from hub.runtime.transforms import schema as s
from hub.runtime.transforms.base import Side, require_map
from hub.runtime.transforms.errors import TransformError


@dataclass(frozen=True, slots=True)
class Operand:
    data: Mapping[str, Any]
    schema: JsonMap | None  # a struct schema, or None when schemaless


def operand(side: Side, record: SourceRecord | SinkRecord, purpose: str) -> Operand | None:
    """The side's dict and struct schema; None when the side is null (pass the record)."""
    data = side.get(record)
    if data is None:
        return None
    schema = side.schema(record)
    if schema is not None and not s.is_struct(schema):
        raise TransformError(
            f"{purpose} needs a struct {side.name} schema, found type {schema.get('type')!r}",
            topic=record.topic,
        )
    return Operand(require_map(data, purpose, record), schema)
