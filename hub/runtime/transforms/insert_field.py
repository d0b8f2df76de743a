"""Kafka's ``InsertField$Key``/``InsertField$Value``: add record metadata or a constant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.runtime.api import SinkRecord, SourceRecord
from hub.runtime.transforms import schema as s
from hub.runtime.transforms.base import R, Side, Transform
from hub.runtime.transforms.errors import TransformError
from hub.runtime.transforms.props import Props
from hub.runtime.transforms.struct_side import operand

PURPOSE = "field insertion"
_ABSENT = object()


def _partition(record: SourceRecord | SinkRecord) -> Any:
    return _ABSENT if record.partition is None else record.partition


def _timestamp(record: SourceRecord | SinkRecord) -> Any:
    return _ABSENT if record.timestamp is None else record.timestamp


def _offset(record: SourceRecord | SinkRecord) -> Any:
    if not isinstance(record, SinkRecord):
        raise TransformError("offset.field is only available on sink records", topic=record.topic)
    return record.offset


@dataclass(frozen=True, slots=True)
class Insertion:
    """One field to insert: its name, whether optional, its schema type and its value."""

    name: str
    optional: bool
    type: str
    value: Callable[[SourceRecord | SinkRecord], Any]  # _ABSENT: leave unset


class InsertField(Transform):
    """``topic.field``, ``partition.field``, ``offset.field`` (sink records only),
    ``timestamp.field``, ``static.field`` with ``static.value``; a name ending in ``!`` is a
    required field of the schema, ``?`` (the default) optional."""

    def __init__(self, props: Props, side: Side) -> None:
        self.side = side
        self.replace_null = props.boolean("replace.null.with.default", s.KEEP_NULLS)
        static_value = props.string("static.value")
        sources: list[tuple[str, str, Callable[[SourceRecord | SinkRecord], Any]]] = [
            ("topic.field", "string", lambda r: r.topic),
            ("partition.field", "int32", _partition),
            ("offset.field", "int64", _offset),
            ("timestamp.field", "timestamp", _timestamp),
            ("static.field", "string", lambda r: static_value),
        ]
        self.insertions: list[Insertion] = []
        for key, type_, value in sources:
            spec = props.string(key, non_empty=True)
            if spec is None:
                continue
            name = spec[:-1] if spec[-1] in "!?" else spec
            if not name.strip():
                props.problem(key, "needs a field name before '!' or '?'")
            if any(i.name == name for i in self.insertions):  # (one value was lost)
                props.problem(key, f"names field {name!r}, which another property inserts too")
            self.insertions.append(Insertion(name, not spec.endswith("!"), type_, value))
        if not self.insertions:
            props.problems.append(
                f"{props.prefix}*: nothing to insert; set at least one of "
                + ", ".join(props.full(k) for k, _, _ in sources)
            )
        if props.has("static.field") and static_value is None:
            props.missing("static.value", "the value of the field static.field names")

    def apply(self, record: R) -> R | None:
        op = operand(self.side, record, PURPOSE)
        if op is None:
            return record
        added = {i.name: i.value(record) for i in self.insertions}
        if op.schema is None:
            data = dict(op.data)
            data.update({k: v for k, v in added.items() if v is not _ABSENT})
            return self.side.put(record, data, None)
        entries = s.fields(op.schema)
        clash = {str(e.get("field")) for e in entries} & set(added)
        if clash:
            raise TransformError(
                f"cannot insert field(s) {sorted(clash)}: already in the {self.side.name} schema",
                topic=record.topic,
            )
        for i in self.insertions:
            if not i.optional and (added[i.name] is None or added[i.name] is _ABSENT):
                raise TransformError(  # (Kafka's Struct.validate refuses it too)
                    f"field {i.name} is required ('!') but the record has no value for it "
                    "(a source record's partition or offset is not known yet)",
                    topic=record.topic,
                )
        entries += [s.named(i.name, s.primitive(i.type, i.optional)) for i in self.insertions]
        data = s.values(op.data, op.schema, self.replace_null)
        data.update({k: None if v is _ABSENT else v for k, v in added.items()})
        return self.side.put(record, data, s.with_fields(op.schema, entries))
