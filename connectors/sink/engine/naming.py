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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.sink.engine.errors import SinkFatalError


@dataclass(frozen=True, slots=True)
class TableRef:
    schema: str | None
    name: str

    def __str__(self) -> str:
        return self.name if self.schema is None else f"{self.schema}.{self.name}"


def clip(name: str, max_bytes: int | None) -> str:
    """``name`` as a target that keeps ``max_bytes`` of an identifier's UTF-8 stores it: cut
    at a character's boundary (as PostgreSQL's ``truncate_identifier``)."""
    if max_bytes is None:
        return name
    raw = name.encode("utf-8", "surrogatepass")
    if len(raw) <= max_bytes:
        return name
    return raw[:max_bytes].decode("utf-8", "ignore")


# the engine's own tables, kept in the target beside the rows (`offsets`, `owners`)
RESERVED = frozenset({"_hub_offsets", "_hub_table_topics"})
# the engine's staging and working columns (merge's ``__hub_delete`` and ``__hub_keep_*``,
# ``__hub_old_*``, the keyless ``__hub_g``/``__hub_n``, a fill's ``__hub_fill_*``) begin so
RESERVED_COLUMN_PREFIX = "__hub_"


class ReservedColumnError(SinkFatalError):
    """A record's column has a name the engine keeps for its own (`RESERVED_COLUMN_PREFIX`):
    a statement naming it would have read the user's column for the engine's (a row deleted
    because its ``__hub_delete`` column was true)."""


def check_columns(table: object, names: Iterable[str]) -> None:
    """`ReservedColumnError` for a name beginning with `RESERVED_COLUMN_PREFIX`, in any case
    (DuckDB and BigQuery take names alike but for case as one)."""
    for name in names:
        if name[: len(RESERVED_COLUMN_PREFIX)].lower() == RESERVED_COLUMN_PREFIX:
            raise ReservedColumnError(
                f"table {table}: column {name!r} has a name hub keeps for its own staging "
                f"columns (those beginning with {RESERVED_COLUMN_PREFIX}, in any case): rename "
                "it, at the source or on the way (ExtractNewRecordState, then ReplaceField's "
                "renames)"
            )


class ReservedTableError(SinkFatalError):
    """A record's table would be one of the engine's own (`RESERVED`)."""


class TableNamer:
    def __init__(self, fmt: str, max_name_bytes: int | None = None) -> None:
        self.fmt = fmt
        self.max_name_bytes = max_name_bytes
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
            ref = self._resolve(*key)
            if ref.name.casefold() in RESERVED:  # (in any schema: the sink's own is the default)
                raise ReservedTableError(
                    f"its table would be {ref.name!r}, the name of one of the sink's own "
                    "tables (offsets, table owners): route it to another table "
                    "(table.name.format, e.g. ${source.table}_t, or a RegexRouter transform)"
                )
            self._cache[key] = ref
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
        n = self.max_name_bytes
        if len(parts) == 1:
            return TableRef(None, clip(parts[0], n))
        return TableRef(clip("_".join(parts[:-1]), n), clip(parts[-1], n))
