"""Debezium's placeholder for an unchanged TOASTed value (``unavailable.value.placeholder``).

A PostgreSQL update that leaves a large (TOASTed) value alone does not carry it in the WAL
unless the table has REPLICA IDENTITY FULL; the source then emits a placeholder in its place:
the text for string columns, its bytes (base64 in JSON) for bytes columns; for arrays (as
Debezium's UnchangedToastedPlaceholder builds them) the text once, or one item per byte of it
for numbers, booleans and decimals; for a map ``{text: text}``; for a VariableScaleDecimal
the bytes at scale 0 (a Decimal or Bits column holds them as any bytes column does). The sink
must keep the value the target already has. Two places do it: collapse (an update of a row
written earlier in the same batch takes that row's value) and apply (the staged row marks the
column, and the upsert reads the current value from the table).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any


class Unavailable:
    def __init__(self, text: str) -> None:
        self.text = text
        self.b64 = base64.b64encode(text.encode()).decode()
        raw = text.encode()
        uuid3 = str(uuid.UUID(bytes=hashlib.md5(raw).digest(), version=3))
        per_byte = [base64.b64encode(bytes([b])).decode() for b in raw]
        self.forms: tuple[Any, ...] = (
            text, self.b64, [text], [self.b64], [uuid3],
            list(raw),  # numbers (95 == 95.0: float arrays too)
            [b != 0 for b in raw],  # booleans
            per_byte,  # Connect decimals, base64 of the unscaled byte
            [{"scale": 0, "value": v} for v in per_byte],  # VariableScaleDecimal
            {"scale": 0, "value": self.b64},  # a VariableScaleDecimal (numeric)
            {text: text},  # a map (hstore.handling.mode=map)
        )  # fmt: skip
        # (hashable values cannot equal a list or a dict: only these forms can be theirs)
        self._text_forms = frozenset(f for f in self.forms if type(f) is str)

    def is_placeholder(self, v: Any) -> bool:
        t = type(v)
        return (t is str or t is list or t is dict) and v in self.forms

    def any_in(self, values: Sequence[Any]) -> bool:
        """Whether a column's raw values hold the placeholder (C-speed scans; one set
        lookup a value when they are all hashable: strings, numbers, None, as a decimal or
        text column's are)."""
        try:
            return not self._text_forms.isdisjoint(values)
        except TypeError:  # (lists or dicts among them: an array or a map column)
            return any(f in values for f in self.forms)

    def holds(self, row: Mapping[str, Any]) -> bool:
        """Whether a row holds the placeholder in some column."""
        return any(map(self.is_placeholder, row.values()))

    def fill(
        self,
        new: Mapping[str, Any],
        old: Mapping[str, Any],
        held: frozenset[str] | None = None,
    ) -> Mapping[str, Any]:
        """``new`` with placeholders replaced by ``old``'s values (those of the columns
        ``held`` names, when it says which hold one)."""
        out: dict[str, Any] | None = None
        for k, v in new.items():
            if self.is_placeholder(v) and (held is None or k in held):
                if out is None:
                    out = dict(new)
                out[k] = old.get(k)
        return new if out is None else out
