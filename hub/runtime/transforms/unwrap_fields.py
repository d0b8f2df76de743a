"""Envelope fields that ``ExtractNewRecordState`` copies into the value (``add.fields``) or
into headers (``add.headers``), named as Debezium names them.

``op`` → ``__op``; ``source.ts_ms`` → ``__source_ts_ms``; ``table`` (a plain name other than
``op``/``ts_ms``/``ts_us``/``ts_ns`` and the transaction's ``id``/``total_order``/
``data_collection_order``) is looked up in ``source``; ``name:NEW`` renames to ``__NEW``. A
field that is not in the struct is looked up at the top of the envelope; one that is in
neither is left out. With a schema, presence is the schema's; without, the data's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hub.runtime.api import JsonMap
from hub.runtime.transforms import schema as s

_TOP = {"op", "ts_ms", "ts_us", "ts_ns"}
_TRANSACTION = {"id", "total_order", "data_collection_order"}


@dataclass(frozen=True, slots=True)
class FieldReference:
    struct: str | None  # "source", "transaction", or None for the envelope itself
    field: str
    new_name: str

    @classmethod
    def parse(cls, prefix: str, spec: str) -> FieldReference:
        """``[struct.]field[:new_name]``; ValueError when it is not of that shape."""
        path, sep, new = spec.partition(":")
        parts = path.split(".")
        if (sep and (not new or ":" in new)) or len(parts) > 2 or not all(parts):
            raise ValueError(f"{spec!r} is not [struct.]field[:new_name]")
        field = parts[-1]
        if len(parts) == 2:
            struct: str | None = parts[0]
        else:
            struct = None if field in _TOP else "transaction" if field in _TRANSACTION else "source"
        default = field if len(parts) == 1 else f"{parts[0]}_{field}"
        return cls(struct, field, prefix + (new or default))

    def schema(self, envelope: JsonMap) -> JsonMap | None:
        """The optional schema of the added field; None when the envelope has no such field."""
        parent = envelope if self.struct is None else s.field(envelope, self.struct)
        found = s.field(parent, self.field) or s.field(envelope, self.field)
        return None if found is None else s.optional(found)

    def present(self, envelope: Mapping[str, Any]) -> bool:
        """Schemaless presence: the field is there, or its struct is there but null."""
        if self.field in envelope:
            return True
        if self.struct is None or self.struct not in envelope:
            return False
        parent = envelope[self.struct]
        return parent is None or (isinstance(parent, Mapping) and self.field in parent)

    def value(self, envelope: Mapping[str, Any]) -> Any:
        parent = envelope if self.struct is None else envelope.get(self.struct)
        if not isinstance(parent, Mapping):
            return None
        return parent[self.field] if self.field in parent else envelope.get(self.field)


def header_bytes(value: Any) -> bytes | None:
    """A header value as Kafka's SimpleHeaderConverter writes it."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, str | int | float | Decimal):
        return str(value).encode()
    return json.dumps(value, separators=(",", ":"), default=str).encode()
