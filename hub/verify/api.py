"""What a source and a sink supply to ``hub verify``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Row = tuple[Any, ...]


@dataclass(frozen=True)
class SourceTable:
    """One captured table: where its changes go and how to read it now.

    ``columns`` are the sink engine's `Column`\\ s of its events (name and type, in row
    order); ``key`` names the key columns (empty: none); ``rows()`` streams the table's rows as
    comparable tuples in ``columns`` order (see `hub.verify.values`); ``count()`` counts them
    in the database."""

    schema: str
    table: str
    topic: str
    columns: tuple[Any, ...]
    key: tuple[str, ...]
    rows: Callable[[], Iterator[Row]]
    count: Callable[[], int]
    # the db, schema and table of its events' source block (table.name.format's ${source.*});
    # None: schema and table only
    block: Mapping[str, Any] | None = None
    # what the documented mapping makes alike, said beside an "ok" (values compared after it)
    lossy: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class TargetTable:
    """The table a topic lands in: its name for people, whether it exists, its rows as
    comparable tuples in the source's column order (a column it lacks reads None, and is
    named in ``missing``; ``extra`` names its columns the source has not, e.g. dropped)."""

    name: str
    exists: bool
    rows: Callable[[], Iterator[Row]]
    count: Callable[[], int]
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()


class Target(Protocol):
    def table(self, source: SourceTable) -> TargetTable | None:
        """Where ``source``'s topic lands; None when this sink does not consume it."""

    def close(self) -> None: ...
