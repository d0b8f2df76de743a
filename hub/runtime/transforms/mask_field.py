"""Kafka's ``MaskField$Key``/``MaskField$Value``: replace field values with an empty value
of their type, or with ``replacement`` converted to their type."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.runtime.transforms import schema as s
from hub.runtime.transforms.base import R, Side, Transform
from hub.runtime.transforms.errors import TransformError
from hub.runtime.transforms.props import Props
from hub.runtime.transforms.struct_side import operand

PURPOSE = "mask fields"
_EPOCH = datetime(1970, 1, 1)


def empty(value: Any) -> Any:
    """The "null value" of ``value``'s type: False, 0, "", the epoch, an empty container."""
    if isinstance(value, bool):
        return False
    if isinstance(value, datetime):
        return _EPOCH.replace(tzinfo=value.tzinfo)
    for kind, masked in ((int, 0), (float, 0.0), (Decimal, Decimal(0)), (str, ""), (bytes, b"")):
        if isinstance(value, kind):
            return masked
    if isinstance(value, date):
        return _EPOCH.date()
    if isinstance(value, time):
        return time(0, tzinfo=value.tzinfo)
    if isinstance(value, list | tuple):
        return []
    if isinstance(value, dict):
        return {}
    raise ValueError(f"cannot mask a value of type {type(value).__name__}")


def converted(value: Any, replacement: str) -> Any:
    """``replacement`` as ``value``'s type (strings and numbers only)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"cannot mask a value of type {type(value).__name__} with a replacement")
    try:
        return type(value)(replacement)
    except (ValueError, InvalidOperation):
        raise ValueError(f"cannot convert replacement {replacement!r} to a number") from None


class MaskField(Transform):
    """``fields`` (required) and ``replacement`` (optional; for string and number fields).
    Null fields stay null; fields the record lacks are not added."""

    def __init__(self, props: Props, side: Side) -> None:
        self.side = side
        self.fields = set(props.names("fields", required="the names of the fields to mask"))
        self.replacement = props.string("replacement", non_empty=True)
        self.replace_null = props.boolean("replace.null.with.default", True)

    def mask(self, value: Any, topic: str) -> Any:
        if value is None:
            return None
        try:
            return empty(value) if self.replacement is None else converted(value, self.replacement)
        except ValueError as exc:
            raise TransformError(str(exc), topic=topic) from None

    def apply(self, record: R) -> R | None:
        op = operand(self.side, record, PURPOSE)
        if op is None:
            return record
        data = dict(op.data)
        if op.schema is not None:
            data = s.values(op.data, op.schema, self.replace_null)
        for name in self.fields & data.keys():
            data[name] = self.mask(data[name], record.topic)
        return self.side.put(record, data, op.schema)
