"""``hub verify``'s comparable form of a source's event values, whatever the source: each
value as the sink engine applies it (canonical), temporal kinds as the text the sinks'
readers select."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.sink.engine import temporal
from connectors.sink.engine.types import Column, decimal_value, leaf
from hub.verify import comparable


def _zoned_text(s: str) -> str:
    """A ZonedTimestamp as PostgreSQL prints a timestamptz in UTC (BC last)."""
    v = temporal.zoned_micros(s)
    if isinstance(v, str):
        return v  # infinity
    text = temporal.pg_timestamp(v)
    return f"{text[:-3]}+00 BC" if text.endswith(" BC") else f"{text}+00"


_TEXT: dict[str, Callable[[Any], str]] = {
    "date": temporal.pg_date, "timestamp": temporal.pg_timestamp, "time": temporal.pg_time,
    "timestamptz": _zoned_text,
}  # fmt: skip


def comparable_value(c: Column, v: Any) -> Any:
    """The comparable form of one event value: canonical (what the sink engine applies),
    temporal kinds as PostgreSQL's text (what the sink's reader selects)."""
    if v is None:
        return None
    canonical = c.convert(v) if c.convert is not None else v
    kind = c.type.kind
    if kind in _TEXT:
        canonical = _TEXT[kind](canonical)
    elif kind == "decimal":
        canonical = decimal_value(c.type, canonical)
    return comparable(kind, canonical, leaf(c.type).kind if kind == "array" else None)
