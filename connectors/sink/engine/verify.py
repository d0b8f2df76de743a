"""``hub verify``'s view of an engine sink: the table a source table's topic lands in (the
sink's subscription and ``table.name.format``), read back as comparable tuples in the source's
column order. Rows soft-deleted (``delete.mode=soft``) are not counted: the source no longer
has them."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from connectors.sink.engine.evolution import aligned
from connectors.sink.engine.naming import TableNamer, TableRef
from connectors.sink.engine.types import leaf
from hub.runtime import csv_list
from hub.verify import TEXT_KINDS, Row, SourceTable, TargetTable, comparable

if TYPE_CHECKING:
    from connectors.sink.engine.task import EngineSinkTask


class EngineTarget:
    def __init__(self, task_class: type[EngineSinkTask[Any]], config: Mapping[str, Any]) -> None:
        self.cfg = task_class.config_class.of(config)
        self.dialect = task_class().make_dialect(self.cfg)
        self.dialect.read_only = True
        self.namer = TableNamer(self.cfg.table_name_format)
        self.topics = set(csv_list(config.get("topics")))
        regex = str(config.get("topics.regex") or "")
        self.regex = re.compile(regex) if regex else None
        self.dialect.begin()
        self.dialect.set_utc()  # zoned values as text in UTC

    def _takes(self, topic: str) -> bool:
        return topic in self.topics or bool(self.regex and self.regex.fullmatch(topic))

    def table(self, source: SourceTable) -> TargetTable | None:
        if not self._takes(source.topic):
            return None
        ref = self.namer.table(
            source.topic, {"db": None, "schema": source.schema, "table": source.table}
        )
        assert ref is not None
        info = self.dialect.describe(ref)
        if info is None:
            return TargetTable(str(ref), False, lambda: iter(()), lambda: 0)
        info = aligned(self.dialect, info, [c.name for c in source.columns])
        present = set(info.columns)
        d, q = self.dialect, self.dialect.quote
        select = ", ".join(
            "NULL" if c.name not in present
            else d.text_expr(q(c.name)) if c.type.kind in TEXT_KINDS
            else q(c.name)
            for c in source.columns
        )  # fmt: skip
        where = f" WHERE {q('__deleted')} IS NOT TRUE" if "__deleted" in present else ""
        sql = f"SELECT {select} FROM {d.table_name(ref)}{where}"
        kinds = [(c.type.kind, leaf(c.type).kind) for c in source.columns]

        def rows() -> Iterator[Row]:
            for values in d.query(sql):
                yield tuple(comparable(k, v, i) for (k, i), v in zip(kinds, values, strict=True))

        def count() -> int:
            return int(d.query(f"SELECT count(*) FROM {d.table_name(ref)}{where}")[0][0])

        return TargetTable(_name(ref), True, rows, count)

    def close(self) -> None:
        self.dialect.rollback()
        self.dialect.close()


def _name(ref: TableRef) -> str:
    return str(ref)
