"""What ``ExtractNewRecordState`` does with delete events and with the tombstones after them.

Two ways to say it, as in Debezium: ``delete.tombstone.handling.mode`` (2.5+), or the older
pair ``drop.tombstones`` + ``delete.handling.mode``, read when the new property is not set
(defaults: tombstones dropped, deletes dropped). Both come down to a ``DeleteHandling``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from hub.runtime.api import JsonMap
from hub.runtime.transforms import schema as s
from hub.runtime.transforms.base import R
from hub.runtime.transforms.errors import TransformError
from hub.runtime.transforms.props import Props

DELETED_FIELD = "__deleted"
LEGACY_MODES = ("drop", "rewrite", "none")
MODES = ("drop", "tombstone", "rewrite", "rewrite-with-tombstone", "delete-to-tombstone")

Action = Literal["drop", "null", "tombstone", "rewrite"]
_BY_MODE: dict[str, tuple[bool, Action]] = {
    "drop": (False, "drop"),
    "tombstone": (False, "null"),
    "rewrite": (False, "rewrite"),
    "rewrite-with-tombstone": (True, "rewrite"),
    "delete-to-tombstone": (False, "tombstone"),
}
_BY_LEGACY_MODE: dict[str, Action] = {"drop": "drop", "rewrite": "rewrite", "none": "null"}


@dataclass(frozen=True, slots=True)
class DeleteHandling:
    """``keep_tombstones``: pass records whose value is None. ``deletes``: drop the delete
    event; turn it into a null value ("null": keeps the ``after`` schema, as Debezium's
    ``tombstone``/``none`` do; "tombstone": value and schema None); or "rewrite" it to the
    ``before`` state plus ``__deleted: "true"`` (and every other event gets "false")."""

    keep_tombstones: bool
    deletes: Action

    @classmethod
    def from_props(cls, props: Props) -> DeleteHandling:
        key = "delete.tombstone.handling.mode"
        # (blank, as unset: Debezium's isNullOrBlank falls back to the older pair)
        if not props.has(key) or not str(props.values[key]).strip():
            props.known.add(key)
            drop_tombstones = props.boolean("drop.tombstones", True)
            legacy_mode = props.choice("delete.handling.mode", LEGACY_MODES, "drop")
            return cls(not drop_tombstones, _BY_LEGACY_MODE[legacy_mode])
        mode = props.choice(key, MODES, "tombstone")
        for old in ("drop.tombstones", "delete.handling.mode"):
            if props.has(old):  # (Debezium's reads the one that replaces them)
                props.ignored(old, f"as {props.full(key)}, which replaces it, is set")
        return cls(*_BY_MODE[mode])

    @property
    def rewrite(self) -> bool:
        return self.deletes == "rewrite"

    def on_upsert(self, record: R, after: Any, after_schema: JsonMap | None) -> R:
        """The ``after`` state of a create, update or read event."""
        return _with_deleted(replace(record, value=after, value_schema=after_schema), self, "false")

    def on_delete(
        self, record: R, before: Any, before_schema: JsonMap | None, after_schema: JsonMap | None
    ) -> R | None:
        if self.deletes == "drop":
            return None
        if self.deletes == "null":
            return replace(record, value=None, value_schema=after_schema)
        if self.deletes == "tombstone":
            return replace(record, value=None, value_schema=None)
        rewritten = replace(record, value=before, value_schema=before_schema)
        return _with_deleted(rewritten, self, "true")


def _with_deleted(record: R, handling: DeleteHandling, deleted: str) -> R:
    """``__deleted`` added as Kafka's InsertField static field would (an optional string)."""
    if not handling.rewrite or not isinstance(record.value, dict):
        return record
    if DELETED_FIELD in record.value:  # (Debezium's schema builder refuses the duplicate)
        raise TransformError(
            f"the row has a column named {DELETED_FIELD}, which delete.handling.mode=rewrite "
            "adds: its value would be lost; rename the column or use another delete mode",
            topic=record.topic,
        )
    value = {**record.value, DELETED_FIELD: deleted}
    schema = record.value_schema
    if schema is not None and s.is_struct(schema):
        schema = s.appended(schema, [s.named(DELETED_FIELD, s.primitive("string", True))])
    return replace(record, value=value, value_schema=schema)
