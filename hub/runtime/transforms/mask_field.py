"""Kafka's ``MaskField$Key``/``MaskField$Value``: replace field values with an empty value
of their type, or with ``replacement`` converted to their type. With a schema the type is the
field's: a Decimal (bytes, or base64 text after the JSON converter) is masked as a number at
the field's scale, a bytes field takes no replacement, an integer's must fit its width."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.runtime.converters import unscaled_bytes
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


_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
# (the JSON converter's names, which hub's schemas carry; Connect's FLOAT32 / FLOAT64 too)
_FLOATS = frozenset({"float", "double", "float32", "float64"})
DECIMAL = "org.apache.kafka.connect.data.Decimal"


def _integer(replacement: str, bits: int) -> int:
    """Java's Values.convertTo{Byte,Short,Integer,Long}: a number, its fraction cut off
    (``0.00`` is 0, ``1e3`` 1000, as BigDecimal.longValue gives them), within the width
    (where Java's would wrap around)."""
    if _INTEGER.fullmatch(replacement):
        n = int(replacement)
    else:
        try:  # (no spaces, no "_": Java's BigDecimal reads neither)
            d = Decimal(_number(replacement)) if replacement == replacement.strip() else None
        except InvalidOperation:
            d = None
        if d is None or not d.is_finite():
            raise ValueError(f"cannot convert replacement {replacement!r} to a number")
        n = int(d)  # (toward zero)
    if not -(1 << (bits - 1)) <= n < 1 << (bits - 1):
        raise ValueError(f"replacement {replacement!r} does not fit a {bits}-bit integer field")
    return n


def converted(value: Any, replacement: str) -> Any:
    """``replacement`` as ``value``'s type (strings and numbers only), without a schema."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"cannot mask a value of type {type(value).__name__} with a replacement")
    if isinstance(value, int):
        return _integer(replacement, 64)
    try:
        return type(value)(
            _number(replacement) if isinstance(value, float | Decimal) else replacement
        )
    except (ValueError, InvalidOperation):
        raise ValueError(f"cannot convert replacement {replacement!r} to a number") from None


def _number(replacement: str) -> str:
    """``replacement`` if it may be read as a number (ASCII, no ``_``: Java reads neither)."""
    if not replacement.isascii() or "_" in replacement:
        raise ValueError(f"cannot convert replacement {replacement!r} to a number")
    return replacement


def masked_decimal(value: Any, schema: Mapping[str, Any], replacement: str | None) -> Any:
    """A Connect Decimal field's masked value (0, or ``replacement``) at the field's scale, in
    the form the value has: bytes (from a source), base64 text (after the JSON converter) or a
    Decimal. Kafka masks a Decimal as BigDecimal.ZERO / ``new BigDecimal(replacement)``."""
    d = Decimal(0)
    if replacement is not None:
        try:
            d = Decimal(_number(replacement))
        except InvalidOperation:
            raise ValueError(f"cannot convert replacement {replacement!r} to a number") from None
        if not d.is_finite():
            raise ValueError(f"replacement {replacement!r} is not a decimal number")
    if isinstance(value, Decimal):
        return d
    scale = int((schema.get("parameters") or {}).get("scale", 0))
    unscaled = d.scaleb(scale)
    if unscaled != unscaled.to_integral_value():
        raise ValueError(f"replacement {d} has more than the field's {scale} fraction digits")
    raw = unscaled_bytes(int(unscaled))
    return base64.b64encode(raw).decode() if isinstance(value, str) else raw


_TEMPORAL = frozenset(f"org.apache.kafka.connect.data.{n}" for n in ("Date", "Time", "Timestamp"))


def masked(value: Any, schema: Mapping[str, Any] | None, replacement: str | None) -> Any:
    """``value`` masked as its field's schema says (a Decimal's bytes are a number, a bytes
    field takes no replacement, an integer's replacement must fit its width); as its Python
    type says when there is no schema."""
    if schema is not None:
        if schema.get("name") == DECIMAL:
            return masked_decimal(value, schema, replacement)
        kind = schema.get("type")
        if kind == "struct":  # ({} would break its schema: a sink fails later; Kafka's too)
            raise ValueError(
                f"cannot mask a struct field ({schema.get('name') or 'struct'}): mask its "
                "fields, or drop it with ReplaceField"
            )
        if replacement is not None:
            if kind == "bytes":
                raise ValueError("cannot mask a bytes field with a replacement")
            name = str(schema.get("name") or "")
            if name in _TEMPORAL:
                # (Kafka refuses a replacement for a java.util.Date: written as a number of
                # days or milliseconds, 20240101 was a date some 55 000 years on; Debezium's
                # io.debezium.time types are plain numbers to Kafka, masked as numbers)
                raise ValueError(
                    f"cannot mask a {name.rsplit('.', 1)[-1]} field with a replacement: "
                    "leave replacement out (it becomes the epoch) or drop it with ReplaceField"
                )
            bits = _INT_BITS.get(str(kind))
            if bits is not None and isinstance(value, int) and not isinstance(value, bool):
                return _integer(replacement, bits)
        if kind in _FLOATS:
            # (a NaN or an infinity comes back from the JSON converter as the text "NaN",
            # "Infinity": masked as text, it became "" and every sink refused the record;
            # Kafka masks the Double as 0.0)
            if replacement is None:
                return 0.0
            try:
                return float(_number(replacement))
            except ValueError:
                raise ValueError(
                    f"cannot convert replacement {replacement!r} to a number"
                ) from None
    return empty(value) if replacement is None else converted(value, replacement)


class MaskField(Transform):
    """``fields`` (required) and ``replacement`` (optional; for string and number fields).
    Null fields stay null; a schemaless record gets the fields it lacks as nulls, as Kafka's
    MaskField puts every field it is given (one with a schema: only the schema's)."""

    def __init__(self, props: Props, side: Side) -> None:
        self.side = side
        self.fields = set(props.names("fields", required="the names of the fields to mask"))
        self.replacement = props.string("replacement", non_empty=True)
        self.replace_null = props.boolean("replace.null.with.default", s.KEEP_NULLS)

    def mask(self, value: Any, topic: str, schema: Mapping[str, Any] | None = None) -> Any:
        if value is None:
            return None
        try:
            return masked(value, schema, self.replacement)
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
            field = None if op.schema is None else s.field(op.schema, name)
            data[name] = self.mask(data[name], record.topic, field)
        if op.schema is None:
            for name in sorted(self.fields - data.keys()):
                data[name] = None
        return self.side.put(record, data, op.schema)
