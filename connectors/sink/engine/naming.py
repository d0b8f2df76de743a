"""Target table names from ``table.name.format``.

``${topic}`` is the topic with dots turned into underscores (as Debezium's JDBC sink does),
``${source.db}``, ``${source.schema}`` and ``${source.table}`` come from a Debezium envelope's
``source`` block as they are: the real names, whatever characters they hold (a dot included),
since identifiers are always quoted. A dot written in the format itself qualifies the table
with a schema (``analytics.${source.table}``); the engine creates that schema when it is
missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TableRef:
    schema: str | None
    name: str

    def __str__(self) -> str:
        return self.name if self.schema is None else f"{self.schema}.{self.name}"


class TableNamer:
    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.needs_source = "${source." in fmt
        self._cache: dict[tuple[str, Any, Any, Any], TableRef] = {}

    def table(self, topic: str, source: Mapping[str, Any] | None) -> TableRef | None:
        """The table for a record; None when the format needs a ``source`` block it lacks."""
        if self.needs_source:
            if not source:
                return None
            key = (topic, source.get("db"), source.get("schema"), source.get("table"))
        else:
            key = (topic, None, None, None)
        ref = self._cache.get(key)
        if ref is None:
            ref = self._cache[key] = self._resolve(*key)
        return ref

    def _resolve(self, topic: str, db: Any, schema: Any, table: Any) -> TableRef:
        parts = []
        for part in re.split(r"\.(?![^{]*\})", self.fmt):  # dots outside ${...}
            parts.append(
                part.replace("${topic}", topic.replace(".", "_"))
                .replace("${source.db}", str(db or ""))
                .replace("${source.schema}", str(schema or ""))
                .replace("${source.table}", str(table or ""))
            )
        if len(parts) == 1:
            return TableRef(None, parts[0])
        return TableRef("_".join(parts[:-1]), parts[-1])
