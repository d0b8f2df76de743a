"""Kafka's ``ValueToKey``: the key becomes a struct of some fields of the value."""

from __future__ import annotations

from dataclasses import replace

from hub.runtime.transforms import schema as s
from hub.runtime.transforms.base import VALUE, R, Transform
from hub.runtime.transforms.errors import TransformError
from hub.runtime.transforms.props import Props
from hub.runtime.transforms.struct_side import operand

PURPOSE = "copying fields from value to key"


class ValueToKey(Transform):
    """``fields`` (required): the value fields that form the key, in that order. With a
    schema, the key schema is a struct of those fields' schemas. A record without a value (a
    tombstone) is an error, as Kafka's: it went on with its old key, which no row keyed by
    the new one matches (the sinks failed later, blaming the source table's key)."""

    def __init__(self, props: Props) -> None:
        self.fields = props.names("fields", required="the value fields that form the key")
        if len(set(self.fields)) != len(self.fields):
            props.problem("fields", "names a field twice (a key has one field of a name)")
        self.replace_null = props.boolean("replace.null.with.default", s.KEEP_NULLS)

    def apply(self, record: R) -> R | None:
        op = operand(VALUE, record, PURPOSE)
        if op is None:
            raise TransformError(
                "a record without a value (a tombstone: a delete) has no fields to copy into "
                "the key; drop tombstones before this transform (Filter with the predicate "
                "RecordIsTombstone) or rewrite deletes as rows (ExtractNewRecordState's "
                "delete.tombstone.handling.mode: rewrite)",
                topic=record.topic,
            )
        if op.schema is None:
            key = {f: op.data.get(f) for f in self.fields}
            return replace(record, key=key, key_schema=None)
        entries = []
        for name in self.fields:
            entry = s.field(op.schema, name)
            if entry is None:
                raise TransformError(
                    f"field does not exist in the value schema: {name!r}", topic=record.topic
                )
            entries.append(s.named(name, entry))
        values = s.values(op.data, op.schema, self.replace_null)
        key = {f: values.get(f) for f in self.fields}
        return replace(record, key=key, key_schema=s.struct(entries))
