"""``hub verify``'s view of an engine sink: the table a source table's topic lands in (the
sink's subscription and ``table.name.format``), read back as comparable tuples in the source's
column order. Rows soft-deleted (``delete.mode=soft``) are not counted: the source no longer
has them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from connectors.sink.engine import temporal
from connectors.sink.engine.evolution import aligned
from connectors.sink.engine.naming import TableNamer, TableRef
from connectors.sink.engine.types import BOOLEAN, STRING, ColumnType, leaf
from hub.runtime import csv_list
from hub.verify import (
    EXACT,
    TEXT_KINDS,
    Row,
    SourceTable,
    TargetTable,
    comparable,
    plain,
    topic_router,
)

_US = dt.timedelta(microseconds=1)


def _zoned_text(s: str) -> str:
    """A ZonedTimestamp as PostgreSQL prints a timestamptz in UTC (BC last)."""
    v = temporal.zoned_micros(s)
    if isinstance(v, str):
        return v  # infinity
    text = temporal.pg_timestamp(v)
    return f"{text[:-3]}+00 BC" if text.endswith(" BC") else f"{text}+00"


PG_TEXT: dict[str, Callable[[Any], str]] = {
    "date": temporal.pg_date, "timestamp": temporal.pg_timestamp, "time": temporal.pg_time,
    "timestamptz": _zoned_text,
}  # fmt: skip
"""The text both sides compare a temporal value by (`TEXT_KINDS`), from its canonical value."""


def _driver_text(kind: str, v: Any) -> Any:
    """A driver's date or time object as `PG_TEXT` prints it (array items of a sink whose
    arrays are not read as text); anything else as it is."""
    if kind == "timestamptz" and isinstance(v, dt.datetime) and v.tzinfo is not None:
        return _zoned_text(v.isoformat())
    if kind == "timestamp" and isinstance(v, dt.datetime):
        return temporal.pg_timestamp((v.replace(tzinfo=None) - dt.datetime(1970, 1, 1)) // _US)
    if kind == "date" and isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return temporal.pg_date((v - dt.date(1970, 1, 1)).days)
    if kind == "time" and isinstance(v, dt.time):
        return temporal.pg_time(((v.hour * 60 + v.minute) * 60 + v.second) * 10**6 + v.microsecond)
    return v


def texts(v: Any, text: Callable[[Any], Any]) -> Any:
    """``text`` of each item of a (nested) array; None stays None."""
    if isinstance(v, list | tuple):
        return [texts(x, text) for x in v]
    return None if v is None else text(v)


def _depth(t: ColumnType) -> int:
    n = 0
    while t.kind == "array" and t.item is not None:
        n, t = n + 1, t.item
    return n


if TYPE_CHECKING:
    from connectors.sink.engine.task import EngineSinkTask


def _live_rows(d: Any, columns: Mapping[str, str], source: set[str]) -> str:
    """The WHERE clause leaving out rows deleted at the source but kept in the sink with a
    ``__deleted`` flag: a boolean (``delete.mode=soft``) or the text ``'true'`` (Debezium's
    ExtractNewRecordState ``rewrite`` with ``delete.enabled=false``); none when the source
    table has a ``__deleted`` column of its own (then it is data)."""
    have = columns.get("__deleted")
    if have is None or "__deleted" in source:
        return ""
    t, q = d.column_type(have), d.quote("__deleted")
    if t is not None and t.kind == BOOLEAN:
        return f" WHERE {q} IS NOT TRUE"
    if t is not None and t.kind == STRING:
        return f" WHERE ({q} IS NULL OR {q} <> 'true')"
    return ""


class EngineTarget:
    def __init__(self, task_class: type[EngineSinkTask[Any]], config: Mapping[str, Any]) -> None:
        self.cfg = task_class.config_class.of(config)
        self.dialect = task_class().make_dialect(self.cfg)
        self.dialect.read_only = True
        self.namer = TableNamer(self.cfg.table_name_format, self.dialect.max_name_bytes)
        self.route = topic_router(config)  # (a RegexRouter of the sink renames the table)
        self.topics = set(csv_list(config.get("topics")))
        regex = str(config.get("topics.regex") or "")
        self.regex = re.compile(regex) if regex else None
        self.dialect.begin()
        self.dialect.reader_session()  # zoned values as text in UTC, the database's defaults

    def _takes(self, topic: str) -> bool:
        return topic in self.topics or bool(self.regex and self.regex.fullmatch(topic))

    def table(self, source: SourceTable) -> TargetTable | None:
        if not self._takes(source.topic):
            return None
        block = source.block or {"db": None, "schema": source.schema, "table": source.table}
        ref = self.namer.table(self.route(source.topic), block)
        assert ref is not None
        info = self.dialect.describe(ref)
        if info is None:
            return TargetTable(str(ref), False, lambda: iter(()), lambda: 0)
        info = aligned(self.dialect, info, [c.name for c in source.columns])
        present = set(info.columns)
        d, q = self.dialect, self.dialect.quote
        exprs, fixes = [], []
        for c in source.columns:
            kind, item = c.type.kind, leaf(c.type).kind
            expr, fix = q(c.name), None
            if c.name not in present:
                expr = "NULL"
            elif kind in TEXT_KINDS or kind == "timetz":  # (drivers refuse a timetz 24:00)
                expr = d.text_expr(expr)
            elif kind == "json":
                expr = d.json_text_expr(expr) or expr
            elif kind == "array" and item in (*TEXT_KINDS, "json", "timetz"):
                as_text = d.text_array_expr(expr, _depth(c.type))
                if as_text is not None:
                    expr = as_text
                elif item in TEXT_KINDS:  # the driver's dates and times, printed alike
                    fix = item
            exprs.append(expr)
            fixes.append(fix)
        where = _live_rows(d, info.columns, {c.name for c in source.columns})
        sql = f"SELECT {', '.join(exprs)} FROM {d.table_name(ref)}{where}"
        kinds = [(c.type.kind, leaf(c.type).kind) for c in source.columns]
        fixed = [
            (i, lambda x, k=k: _driver_text(k, x)) for i, k in enumerate(fixes) if k is not None
        ]

        # (a plain column's integer, text or boolean as it is: no call for each)
        plans = [(k, i, plain(k)) for k, i in kinds]

        def rows() -> Iterator[Row]:
            for row in d.stream(sql):
                values = list(row)
                for i, text in fixed:
                    values[i] = texts(values[i], text)
                yield tuple(
                    v if fast and (v is None or type(v) in EXACT) else comparable(k, v, i)
                    for (k, i, fast), v in zip(plans, values, strict=True)
                )  # fmt: skip

        def count() -> int:
            return int(d.query(f"SELECT count(*) FROM {d.table_name(ref)}{where}")[0][0])

        names = {c.name for c in source.columns}
        missing = tuple(c.name for c in source.columns if c.name not in present)
        extra = tuple(n for n in info.columns if n not in names and not n.startswith("__"))
        return TargetTable(_name(ref), True, rows, count, missing, extra)

    def close(self) -> None:
        self.dialect.rollback()
        self.dialect.close()


def _name(ref: TableRef) -> str:
    return str(ref)
