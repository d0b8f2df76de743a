"""Which column type can hold two others: the rule both batches and target tables follow.

Integers widen to larger integers, floats to doubles, decimals to the precision and scale
that hold both (integer digits and fraction digits each kept), arrays by their items. An
integer goes into a decimal of enough integer digits, and into a float that holds each of its
values exactly (a 64-bit one into none: a double rounds past 2**53).
Anything else (a string becoming a number, a timestamp becoming a date, ...) has no common
type: the caller reports it with both types.
"""

from __future__ import annotations

from connectors.sink.engine.types import (
    ARRAY,
    DECIMAL,
    FLOAT32,
    FLOAT64,
    INT16,
    INT32,
    INT64,
    VDECIMAL,
    ColumnType,
)

_RANKS = {INT16: (0, 1), INT32: (0, 2), INT64: (0, 3), FLOAT32: (1, 1), FLOAT64: (1, 2)}
# the decimal digits an integer type needs; the floats that hold every one of its values
_DIGITS = {INT16: 5, INT32: 10, INT64: 19}
_EXACT_IN = {INT16: (FLOAT32, FLOAT64), INT32: (FLOAT64,), INT64: ()}


def wider(a: ColumnType, b: ColumnType) -> ColumnType | None:
    """The narrowest type that holds every value of ``a`` and of ``b``; None if none."""
    if a == b:
        return a
    ra, rb = _RANKS.get(a.kind), _RANKS.get(b.kind)
    if ra is not None and rb is not None:
        if ra[0] != rb[0]:  # an integer and a float: the float, if it holds every integer
            i, f = (a, b) if ra[0] == 0 else (b, a)
            if f.kind in _EXACT_IN[i.kind]:
                return f
            return ColumnType(FLOAT64) if FLOAT64 in _EXACT_IN[i.kind] else None
        return a if ra[1] >= rb[1] else b
    # an integer and a decimal: the decimal of enough integer digits (a table made by hand
    # with INTEGER columns, which Snowflake keeps as NUMBER(38,0), Redshift as NUMERIC)
    if a.kind in _DIGITS and b.kind in (DECIMAL, VDECIMAL):
        a = ColumnType(DECIMAL, _DIGITS[a.kind], 0)
    elif b.kind in _DIGITS and a.kind in (DECIMAL, VDECIMAL):
        b = ColumnType(DECIMAL, _DIGITS[b.kind], 0)
    if {a.kind, b.kind} <= {DECIMAL, VDECIMAL} and VDECIMAL in (a.kind, b.kind):
        return ColumnType(VDECIMAL)  # an unbounded decimal holds any decimal
    if a.kind == DECIMAL and b.kind == DECIMAL:
        scale = max(a.scale or 0, b.scale or 0)
        if a.precision is None or b.precision is None:
            return ColumnType(DECIMAL, None, scale)
        digits = max(a.precision - (a.scale or 0), b.precision - (b.scale or 0))
        return ColumnType(DECIMAL, digits + scale, scale)
    if a.kind == ARRAY and b.kind == ARRAY:
        assert a.item is not None and b.item is not None
        item = wider(a.item, b.item)
        return None if item is None else ColumnType(ARRAY, item=item)
    return None
