"""Debezium's ``ExtractNewRecordState`` ("unwrap"): the row state out of a change event.

The value of a Debezium record is an envelope ``{"before", "after", "source", "op", "ts_ms",
"transaction"}``; this transform makes the value the ``after`` state (for creates, updates
and snapshot reads) and handles deletes and tombstones as ``DeleteHandling`` says. Events
with neither ``before`` nor ``after`` (truncate) are dropped. Records that are not envelopes
(heartbeats, schema changes, rows with columns named ``op``/``after``, anything else) pass
unchanged. An envelope is recognised by a struct schema named ``*.Envelope``, as Debezium
does, or, without a schema, by a dict of envelope fields only (``op`` one of Debezium's,
``source``, and ``before`` or ``after``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hub.runtime.api import HUB_VERSION_MARK, UNAVAILABLE_HEADER, JsonMap, is_envelope
from hub.runtime.transforms import schema as s
from hub.runtime.transforms.base import R, Transform
from hub.runtime.transforms.errors import TransformError
from hub.runtime.transforms.props import Props
from hub.runtime.transforms.unwrap_deletes import DELETED_FIELD, DeleteHandling
from hub.runtime.transforms.unwrap_fields import FieldReference, header_bytes

UNSUPPORTED = {
    key: "a Debezium property hub does not support yet"
    for key in (
        "drop.fields.header.name",
        "drop.fields.from.key",
        "drop.fields.keep.schema.compatible",
        "replace.null.with.default",
    )
}


def _has(ref: FieldReference, envelope: Mapping[str, Any], schema: JsonMap | None) -> bool:
    return ref.present(envelope) if schema is None else ref.schema(schema) is not None


def _references(props: Props, key: str) -> list[FieldReference]:
    prefix = props.string(f"{key}.prefix", "__") or ""
    refs = []
    for spec in props.names(key):
        ref = props.parse(key, spec, lambda v: FieldReference.parse(prefix, v))
        if ref is not None:
            refs.append(ref)
    twice = sorted({r.new_name for r in refs if [x.new_name for x in refs].count(r.new_name) > 1})
    if twice:  # (one value was lost, as Debezium's SchemaBuilder refuses it)
        props.problem(key, f"names {', '.join(twice)} more than once: rename one (field:name)")
    return refs


_NONE_UNAVAILABLE = (UNAVAILABLE_HEADER, b"[]")


def _names_none(envelope: Mapping[str, Any], headers: Any) -> bool:
    """Whether an event is hub's (`HUB_VERSION_MARK`) and says that no value of its row is
    the unavailable-value placeholder by having no `UNAVAILABLE_HEADER`: the row state keeps
    that said in a header (an empty list), as the source version does not go with it."""
    source = envelope.get("source")
    version = source.get("version") if isinstance(source, Mapping) else None
    return (
        isinstance(version, str)
        and version.endswith(HUB_VERSION_MARK)
        and not any(h[0] == UNAVAILABLE_HEADER for h in headers)
    )


class ExtractNewRecordState(Transform):
    """``delete.tombstone.handling.mode`` or ``drop.tombstones``/``delete.handling.mode``;
    ``add.fields``/``add.fields.prefix``; ``add.headers``/``add.headers.prefix``;
    ``route.by.field`` (a row field whose value becomes the topic)."""

    def __init__(self, props: Props) -> None:
        self.deletes = DeleteHandling.from_props(props)
        self.fields = _references(props, "add.fields")
        self.headers = _references(props, "add.headers")
        self.route_by_field = props.string("route.by.field", "") or None

    def apply(self, record: R) -> R | None:
        envelope, schema = record.value, record.value_schema
        if envelope is None:
            record = self._add_headers(record, None, None)
            return record if self.deletes.keep_tombstones else None
        if not is_envelope(envelope, schema):
            return record
        record = self._add_headers(record, envelope, schema)
        after, before = envelope.get("after"), envelope.get("before")
        if after is None and before is None:
            return None
        if after is None:
            before_schema, after_schema = s.field(schema, "before"), s.field(schema, "after")
            out = self.deletes.on_delete(record, before, before_schema, after_schema)
        else:
            if _names_none(envelope, record.headers):
                record = replace(record, headers=(*record.headers, _NONE_UNAVAILABLE))
            out = self.deletes.on_upsert(record, after, s.field(schema, "after"))
        if out is None:
            return None
        out = self._route(out, after if after is not None else before)
        return out if out.value is None else self._add_fields(out, envelope, schema)

    def _route(self, record: R, state: Any) -> R:
        if self.route_by_field is None or not isinstance(state, Mapping):
            return record
        field = self.route_by_field
        if field not in state:  # (Debezium's Struct.getString fails on it too)
            raise TransformError(
                f"route.by.field: the row has no column {field!r}", topic=record.topic
            )
        topic = state[field]
        if topic is None or (isinstance(topic, str) and not topic.strip()):
            return record
        if not isinstance(topic, str):
            raise TransformError(
                f"route.by.field: column {field!r} holds {type(topic).__name__} values, not "
                "text: Debezium's routes only by a text column",
                topic=record.topic,
            )
        return replace(record, topic=topic)

    def _add_headers(self, record: R, envelope: Any, schema: JsonMap | None) -> R:
        added: list[tuple[str, bytes | None]] = []
        for ref in self.headers:
            if envelope is None:
                if ref.struct is None and ref.field == "op":
                    added.append((ref.new_name, b"d"))
            elif _has(ref, envelope, schema):
                added.append((ref.new_name, header_bytes(ref.value(envelope))))
        return replace(record, headers=(*record.headers, *added)) if added else record

    def _add_fields(self, record: R, envelope: Mapping[str, Any], schema: JsonMap | None) -> R:
        if not self.fields:
            return record
        if not isinstance(record.value, Mapping):
            raise TransformError(
                f"add.fields needs a struct row state, found {type(record.value).__name__}",
                topic=record.topic,
            )
        value = dict(record.value)
        for ref in self.fields:  # (Debezium's schema builder refuses the duplicate)
            if ref.new_name in value and ref.new_name != DELETED_FIELD:
                raise TransformError(
                    f"add.fields would add {ref.new_name}, a column the row has already (its "
                    "value would be lost); rename the column or set add.fields.prefix",
                    topic=record.topic,
                )
        out_schema = record.value_schema
        entries = None
        if out_schema is not None and s.is_struct(out_schema):
            entries = s.fields(out_schema)
        for ref in self.fields:
            if not _has(ref, envelope, schema):
                continue
            field_schema = None if schema is None else ref.schema(schema)
            if entries is not None and field_schema is not None:
                entries.append(s.named(ref.new_name, field_schema))
            value[ref.new_name] = ref.value(envelope)
        # (__deleted, added by the delete handling, stays before them: Debezium 2.5 and later
        # add it first; 2.4 and earlier added it last)
        if entries is not None and out_schema is not None:
            out_schema = s.with_fields(out_schema, entries)
        return replace(record, value=value, value_schema=out_schema)
