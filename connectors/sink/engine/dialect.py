"""What a target supplies to the engine: connection, type names, staging and a few SQL forms.

A dialect is used by one task thread at a time, inside the engine's transactions:
``begin`` → DDL / ``stage`` / ``execute`` … → ``commit`` (or ``rollback`` on any error).
Everything else — which statements run, in what order, the offsets table — is the engine's.
"""

from __future__ import annotations

import string
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.types import ColumnType


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A table as the target has it: column name -> SQL type (as `Dialect.sql_type` spells
    it), and its primary key columns (empty: none)."""

    columns: dict[str, str]
    pk: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StagedColumn:
    """One column of a staging relation: canonical values (see `types`), None for NULL."""

    name: str
    type: ColumnType
    values: list[Any]


_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold_ascii(name: str) -> str:
    """``name`` as a target that folds only ASCII case sees it (DuckDB: ``Foo`` is ``foo``, but
    ``Ä`` and ``ä`` are two names); ``str.lower`` would fold those too."""
    return name.translate(_ASCII_FOLD)


def quote(name: str) -> str:
    """A quoted identifier (double quotes doubled inside): never a bare name from data."""
    return '"' + name.replace('"', '""') + '"'


def qualified(table: TableRef) -> str:
    return (
        quote(table.name) if table.schema is None else f"{quote(table.schema)}.{quote(table.name)}"
    )


class Dialect(ABC):
    """One target database. ``param`` is its bind-parameter marker."""

    param = "?"
    # set before the first begin() by readers that never write (hub verify): a dialect whose
    # target has a single-writer lock (DuckDB) then opens without taking it
    read_only = False
    # ALTER TABLE t <alter_type> "c" TYPE x  (DuckDB and PostgreSQL both take ALTER COLUMN)
    alter_type = "ALTER COLUMN"
    # a column naming one row of a table (DuckDB ``rowid``, PostgreSQL ``ctid``): keyless
    # tables' updates and deletes take away one row by it; None: the target has none
    row_id: str | None = None
    # identifiers the target folds together whatever the quoting (DuckDB: ASCII letters'
    # case, see `fold_ascii`)
    case_insensitive = False

    @abstractmethod
    def begin(self) -> None:
        """Start a transaction (connecting first if needed)."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None:
        """Undo the open transaction; must not raise when the connection is gone."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement with bound parameters; the rows it returns (or [])."""

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def sql_type(self, t: ColumnType) -> str:
        """The column type DDL for an engine type."""

    @abstractmethod
    def column_type(self, sql_type: str) -> ColumnType | None:
        """The engine type a target column type holds (for widening); None if unknown."""

    @abstractmethod
    def describe(self, table: TableRef) -> TableInfo | None:
        """The table's columns and primary key; None if it does not exist."""

    def folded_twin(self, table: TableRef) -> str | None:
        """With ``case_insensitive``: the name of an existing table the target takes for
        ``table`` though it is spelt differently (``Foo`` for ``foo``, by `fold_ascii`); None
        if none."""
        return None

    @abstractmethod
    def stage(self, name: str, columns: Sequence[StagedColumn]) -> str:
        """Bulk-load columns into a staging relation named after ``name`` (no per-row SQL);
        returns the relation to select from. Dropped by the end of the transaction."""

    def select_expr(self, col: StagedColumn, ref: str) -> str:
        """The expression turning staged column ``ref`` into the target column's type."""
        return ref

    def match_expr(self, col: StagedColumn, expr: str) -> str:
        """``expr`` (a target column, or `select_expr` of a staged one) as keyless old rows
        are compared with ``=`` / ``IS NOT DISTINCT FROM``: for a type without equality, or a
        column the target holds as another type than the one staged (PostgreSQL ``json``)."""
        return expr

    def unstage(self, relation: str) -> None:  # noqa: B027 - optional hook
        """Release a staging relation early (e.g. unregister an Arrow table)."""

    @abstractmethod
    def translate(self, exc: Exception) -> Exception:
        """The hub error for a driver error: SinkTransientError or SinkFatalError."""
