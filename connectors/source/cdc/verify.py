"""``hub verify``'s comparable form of a source's event values, whatever the source: each
value as the sink engine applies it (canonical), temporal kinds as the text the sinks'
readers select."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connectors.sink.engine.types import Column, decimal_value, leaf
from connectors.sink.engine.verify import PG_TEXT, texts
from hub.verify import EXACT, comparable, plain


def comparable_value(c: Column, v: Any) -> Any:
    """The comparable form of one event value: canonical (what the sink engine applies),
    temporal kinds (also as array items) as PostgreSQL's text (what the sink's reader
    selects)."""
    if v is None:
        return None
    canonical = c.convert(v) if c.convert is not None else v
    kind, item = c.type.kind, leaf(c.type).kind
    if kind in PG_TEXT:
        canonical = PG_TEXT[kind](canonical)
    elif kind == "decimal":
        canonical = decimal_value(c.type, canonical)
    elif kind == "array" and item in PG_TEXT:
        canonical = texts(canonical, PG_TEXT[item])
    return comparable(kind, canonical, item if kind == "array" else None)


def comparable_row(columns: Sequence[Column]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """An event row (a dict) as the tuple of its columns' `comparable_value`s: a plain
    column's (`hub.verify.plain`, no conversion) integer, text or boolean as it is."""
    plans = [(c, c.name, c.convert is None and plain(c.type.kind)) for c in columns]

    def row(values: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for c, name, fast in plans:
            v = values.get(name)
            out.append(v if fast and (v is None or type(v) in EXACT) else comparable_value(c, v))
        return tuple(out)

    return row


def milliseconds(mode: str, columns: Sequence[Any]) -> tuple[str, ...]:
    """Verify's note for ``time.precision.mode=connect``: Connect's types hold milliseconds,
    so times and timestamps that differ below one compare equal."""
    if mode != "connect":
        return ()
    names = [c.name for c in columns if c.type.kind in ("time", "timestamp")]
    if not names:
        return ()
    return (
        f"{', '.join(names)}: times and timestamps to the millisecond "
        "(time.precision.mode=connect): values that differ below one compare equal",
    )
