"""Connect schemas as the JSON converter writes them, and the few edits transforms make.

A struct schema is ``{"type": "struct", "fields": [{"field": "id", "type": "int32",
"optional": false}, ...], "optional": false, "name": ..., "version": ...}``: each entry of
``fields`` is the field's own schema plus its name under ``"field"``. Schemas are never
modified in place; every helper returns a new dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hub.runtime.api import JsonMap

TIMESTAMP_NAME = "org.apache.kafka.connect.data.Timestamp"


def is_struct(schema: JsonMap | None) -> bool:
    return schema is not None and schema.get("type") == "struct"


def fields(schema: JsonMap) -> list[JsonMap]:
    return list(schema.get("fields") or [])


def field(schema: JsonMap | None, name: str) -> JsonMap | None:
    """The field's own schema (without ``"field"``), or None if the struct has no such field."""
    if schema is None or not is_struct(schema):
        return None
    for f in fields(schema):
        if f.get("field") == name:
            return {k: v for k, v in f.items() if k != "field"}
    return None


def named(name: str, schema: JsonMap) -> dict[str, Any]:
    """``schema`` as an entry of a struct's ``fields``."""
    return {"field": name, **{k: v for k, v in schema.items() if k != "field"}}


def with_fields(schema: JsonMap, entries: Iterable[JsonMap]) -> dict[str, Any]:
    """``schema`` (name, version, doc, parameters, optional) with other fields."""
    return {**schema, "fields": list(entries)}


def appended(schema: JsonMap, entries: Iterable[JsonMap]) -> dict[str, Any]:
    """``schema`` with ``entries`` added after its fields."""
    return with_fields(schema, [*fields(schema), *entries])


def struct(entries: Iterable[JsonMap], optional: bool = False) -> dict[str, Any]:
    return {"type": "struct", "fields": list(entries), "optional": optional}


def optional(schema: JsonMap) -> dict[str, Any]:
    """Debezium's ``copySchemaBasics(s).optional()``: the same type, optional, no default."""
    return {**{k: v for k, v in schema.items() if k not in ("field", "default")}, "optional": True}


def primitive(type_: str, optional: bool) -> dict[str, Any]:
    if type_ == "timestamp":
        return {"type": "int64", "optional": optional, "name": TIMESTAMP_NAME, "version": 1}
    return {"type": type_, "optional": optional}


# ``replace.null.with.default`` of the struct transforms (InsertField, ReplaceField, MaskField,
# ValueToKey): False unless set. Kafka's default is true, and so is its JsonConverter's, which
# writes a null field with a default as the default anyway; hub's converter keeps the null, so
# its transforms do too: a NULL column stays NULL whatever transform the chain has.
KEEP_NULLS = False


def values(data: Mapping[str, Any], schema: JsonMap, replace_null: bool) -> dict[str, Any]:
    """A copy of a struct's data with each null field replaced by its default when
    ``replace_null`` (keys the schema does not declare are kept as they are)."""
    out = dict(data)
    if replace_null:
        for entry in fields(schema):
            name = str(entry.get("field"))
            if out.get(name) is None and entry.get("default") is not None:
                out[name] = entry["default"]
    return out
