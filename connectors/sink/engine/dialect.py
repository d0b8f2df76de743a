"""What a target supplies to the engine: connection, catalog, type names, staging, and the
SQL of every statement the engine runs.

The engine decides WHAT happens to a batch (which tables to create or widen, which rows to
write, delete or keep, which offsets to store) and hands it to the dialect as values
(`Merge`, `StagedColumn`, column types); the dialect decides HOW: its quoting, its DDL, how
rows are staged (an Arrow table, ``COPY``, a load job, a stage file) and the statements that
apply them. The statement methods below have defaults in standard SQL (a ``MERGE`` per batch,
``CREATE TABLE … PRIMARY KEY``, ``ALTER COLUMN … SET DATA TYPE``) that a warehouse dialect
keeps or overrides one by one; the abstract methods are what every dialect must write.

A dialect is used by one task thread at a time, inside the engine's transactions:
``begin`` → DDL / ``stage`` / statements … → ``commit`` (or ``rollback`` on any error).
"""

from __future__ import annotations

import string
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class Merge:
    """One table's keyed changes of a batch, collapsed: at most one change per key, so the
    deletes and the rows never share a key and their order cannot matter.

    ``rows`` are the rows to write, column-major (every column of the batch; with ``soft``,
    ``__deleted`` = FALSE last); ``deletes`` the keys to delete (the ``key`` columns).
    ``keep[c][i]``: row ``i`` leaves column ``c`` as the target has it (an unchanged TOASTed
    value; staged as NULL, which an inserted row keeps). ``soft``: a delete sets ``__deleted``
    = TRUE instead. ``constraint``: the table's primary key is ``key`` (an ``ON CONFLICT``
    can name it); without one, a key's rows are all replaced. ``casts``: kept columns the
    target holds as another type than the staged one's (made by hand: ``text`` for JSON) ->
    that type, which the staged value is cast to beside the current one (`kept_value`: a
    ``CASE`` takes one type)."""

    table: TableRef
    key: tuple[str, ...]
    rows: Sequence[StagedColumn]
    deletes: Sequence[StagedColumn]
    keep: Mapping[str, Sequence[bool]]
    soft: bool
    constraint: bool
    casts: Mapping[str, str] = field(default_factory=dict)

    def kept_value(self, name: str, expr: str) -> str:
        """``expr``, the new value of kept column ``name``, as the target column's type."""
        t = self.casts.get(name)
        return expr if t is None else f"CAST({expr} AS {t})"

    @property
    def count(self) -> int:
        """How many rows are to be written."""
        return len(self.rows[0].values) if self.rows else 0


_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold_ascii(name: str) -> str:
    """``name`` as a target that folds only ASCII case sees it (DuckDB: ``Foo`` is ``foo``, but
    ``Ä`` and ``ä`` are two names); ``str.lower`` would fold those too."""
    return name.translate(_ASCII_FOLD)


def quote(name: str) -> str:
    """A double-quoted identifier (double quotes doubled inside), as standard SQL quotes it."""
    return '"' + name.replace('"', '""') + '"'


class Dialect(ABC):
    """One target database. ``param`` is its bind-parameter marker."""

    param = "?"
    # set before the first begin() by readers that never write (hub verify): a dialect whose
    # target has a single-writer lock (DuckDB) then opens without taking it
    read_only = False
    # a column naming one row of a table (DuckDB ``rowid``, PostgreSQL ``ctid``): keyless
    # tables' updates and deletes take away one row by it; None: the target has none
    row_id: str | None = None
    # identifiers the target folds together whatever the quoting (DuckDB: ASCII letters'
    # case, see `fold_ascii`)
    case_insensitive = False
    # the target stores names with ASCII letters folded to lower case, quoted or not
    # (Redshift; ``case_insensitive`` too): `describe` gives the folded names, which the
    # engine matches to the batch's spelling (`evolution.aligned`); `quote` folds
    folds_names = False
    # the longest table or schema name the target keeps, in UTF-8 bytes: it cuts a longer one
    # (PostgreSQL: 63), so the engine names the table as it is stored (two topics that share
    # the first 63 bytes are one table: a `TableCollisionError`, not rows mixed). None: any
    max_name_bytes: int | None = None
    # the target refuses a row repeating a primary key's value (PostgreSQL, DuckDB); the
    # warehouses keep their keys as information only
    enforces_keys = True
    # the most tables one transaction may change (BigQuery: 100); a batch over more topics is
    # written as several transactions, each with its offsets. None: no limit
    max_tables: int | None = None
    # created tables declare their PRIMARY KEY (False: the target has none, BigQuery)
    primary_keys = True
    # who writes through this dialect: "connector/task" (set by the task before `begin`), so a
    # target can tell the transactions of a dead predecessor of the same task (Snowflake)
    writer = ""
    # DDL runs inside the batch's transaction and rolls back with it (DuckDB, PostgreSQL);
    # False: DDL commits on its own (Snowflake, BigQuery: see `deferred.DeferredDialect`)
    transactional_ddl = True
    # a primary key column's type can be widened in place (PostgreSQL rebuilds the index;
    # DuckDB refuses to alter a key column): INT to BIGINT is a common migration
    widens_keys = False

    # -- connection (abstract) ----------------------------------------------------------------

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

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a statement that only reads (a SELECT, a catalog lookup); its rows."""
        return self.execute(sql, params)

    def ddl(self, sql: str) -> None:
        """Run a DDL statement (CREATE, ALTER, DROP)."""
        self.execute(sql)

    @abstractmethod
    def translate(self, exc: Exception) -> Exception:
        """The hub error for a driver error: SinkTransientError or SinkFatalError."""

    def duplicate_key(self, exc: Exception, key: Sequence[str]) -> bool:
        """Whether ``exc`` (a driver error) is the primary key ``key``'s refusal of a row
        repeating a value it holds (not another unique index's)."""
        return False

    # -- catalog and types (abstract) ---------------------------------------------------------

    @abstractmethod
    def sql_type(self, t: ColumnType) -> str:
        """The column type DDL for an engine type."""

    @abstractmethod
    def column_type(self, sql_type: str) -> ColumnType | None:
        """The engine type a target column type holds (for widening); None if unknown."""

    def holds(self, existing: str, t: ColumnType) -> bool:
        """A column of type ``existing`` (as `describe` spells it) takes ``t``'s values though
        `sql_type` spells ``t`` otherwise (a text column that exists already taking JSON);
        the dialect's statements then write them as that column takes them."""
        return False

    @abstractmethod
    def describe(self, table: TableRef) -> TableInfo | None:
        """The table's columns and primary key; None if it does not exist."""

    def folded_twin(self, table: TableRef) -> str | None:
        """With ``case_insensitive``: the name of an existing table the target takes for
        ``table`` though it is spelt differently (``Foo`` for ``foo``, by `fold_ascii`); None
        if none. With ``folds_names`` also asked when the table is found: the spelling it was
        created for, if another."""
        return None

    # -- staging ------------------------------------------------------------------------------

    @abstractmethod
    def stage(self, name: str, columns: Sequence[StagedColumn]) -> str:
        """Bulk-load columns into a staging relation named after ``name`` (no per-row SQL);
        returns the relation to select from. Dropped by the end of the transaction."""

    def unstage(self, relation: str) -> None:  # noqa: B027 - optional hook
        """Release a staging relation early (e.g. unregister an Arrow table)."""

    def select_expr(self, col: StagedColumn, ref: str) -> str:
        """The expression turning staged column ``ref`` into the target column's type."""
        return ref

    def key_exprs(
        self, key: Sequence[str], cols: Sequence[StagedColumn], ref: str
    ) -> dict[str, str]:
        """Each key column of the staged ``cols`` in relation ``ref`` as the target holds it
        (`select_expr`: a decimal is staged unscaled), what a target row's key is matched to."""
        staged = {c.name: c for c in cols}
        return {k: self.select_expr(staged[k], f"{ref}.{self.quote(k)}") for k in key}

    def match_expr(self, col: StagedColumn, expr: str) -> str:
        """``expr`` (a target column, or `select_expr` of a staged one) as keyless old rows
        are compared with ``=`` / ``IS NOT DISTINCT FROM``: for a type without equality, or a
        column the target holds as another type than the one staged (PostgreSQL ``json``)."""
        return expr

    # -- names --------------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        """A quoted identifier: never a bare name from data."""
        return quote(name)

    def table_name(self, table: TableRef) -> str:
        """The qualified, quoted name of ``table``."""
        q = self.quote
        return q(table.name) if table.schema is None else f"{q(table.schema)}.{q(table.name)}"

    # -- DDL ----------------------------------------------------------------------------------

    def create_schema(self, schema: str) -> None:
        self.ddl(f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}")

    def create_table(
        self,
        table: TableRef,
        columns: Mapping[str, str],
        pk: Sequence[str],
        *,
        if_not_exists: bool = False,
    ) -> None:
        """``columns``: name -> `sql_type`; key columns are NOT NULL (and the PRIMARY KEY
        where `primary_keys`), then `table_options`."""
        q = self.quote
        defs = [f"{q(n)} {t}" + (" NOT NULL" if n in pk else "") for n, t in columns.items()]
        if pk and self.primary_keys and self.declares_key(table, columns, pk):
            defs.append("PRIMARY KEY (" + ", ".join(q(k) for k in pk) + ")")
        exists = "IF NOT EXISTS " if if_not_exists else ""
        options = self.table_options(table, columns, pk)
        self.ddl(f"CREATE TABLE {exists}{self.table_name(table)} ({', '.join(defs)}){options}")

    def declares_key(self, table: TableRef, columns: Mapping[str, str], pk: Sequence[str]) -> bool:
        """Whether a created table declares its key as PRIMARY KEY (False: the key's type cannot
        be one there; its changes are still applied by key, with ``MERGE``)."""
        return True

    def table_options(self, table: TableRef, columns: Mapping[str, str], pk: Sequence[str]) -> str:
        """What follows a created table's column list (BigQuery: PARTITION BY, CLUSTER BY);
        with a leading space, or ''."""
        return ""

    def drop_table(self, table: TableRef) -> None:
        self.ddl(f"DROP TABLE IF EXISTS {self.table_name(table)}")

    def add_column(self, table: TableRef, name: str, sql_type: str) -> None:
        """Add a nullable column."""
        t, c = self.table_name(table), self.quote(name)
        self.ddl(f"ALTER TABLE {t} ADD COLUMN {c} {sql_type}")

    def rename_column(self, table: TableRef, name: str, new: str) -> None:
        t = self.table_name(table)
        self.ddl(f"ALTER TABLE {t} RENAME COLUMN {self.quote(name)} TO {self.quote(new)}")

    def drop_column(self, table: TableRef, name: str) -> None:
        self.ddl(f"ALTER TABLE {self.table_name(table)} DROP COLUMN {self.quote(name)}")

    def widen_column(self, table: TableRef, name: str, sql_type: str, have: str = "") -> None:
        """Change a column's type (``have``, as the target names it) to a wider one (every
        value it holds stays as it is)."""
        self.ddl(
            f"ALTER TABLE {self.table_name(table)} ALTER COLUMN {self.quote(name)} "
            f"SET DATA TYPE {sql_type}"
        )

    # -- statements ---------------------------------------------------------------------------

    def truncate(self, table: TableRef, *, soft: bool) -> None:
        """Empty the table (``soft``: mark every row deleted)."""
        t = self.table_name(table)
        deleted = self.quote("__deleted")
        self.execute(f"UPDATE {t} SET {deleted} = TRUE" if soft else f"DELETE FROM {t}")

    def insert(self, table: TableRef, columns: Sequence[StagedColumn]) -> None:
        """Append rows (staged once, one ``INSERT … SELECT``)."""
        rel = self.stage("ins", columns)
        names = ", ".join(self.quote(c.name) for c in columns)
        exprs = ", ".join(self.select_expr(c, f"{rel}.{self.quote(c.name)}") for c in columns)
        self.execute(f"INSERT INTO {self.table_name(table)} ({names}) SELECT {exprs} FROM {rel}")
        self.unstage(rel)

    def merge(self, m: Merge) -> None:
        """Apply keyed changes: by default one staging relation and one ``MERGE``."""
        from connectors.sink.engine.merge import merge

        merge(self, m)

    def upsert_values(
        self,
        table: TableRef,
        key: Sequence[str],
        names: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        replace: bool,
    ) -> None:
        """Write a few rows of the engine's own tables (``_hub_offsets``, the table owners) by
        bound parameters; a row whose key exists is overwritten only with ``replace``. By
        default one ``MERGE`` from a ``SELECT … UNION ALL`` of the values."""
        from connectors.sink.engine.merge import upsert_values

        upsert_values(self, table, key, names, rows, replace=replace)

    def expect_offsets(
        self, connector: str, expected: Mapping[tuple[str, int], int | None]
    ) -> None:
        """Make the open transaction fail with `OffsetsMovedError` unless ``_hub_offsets``
        still holds ``expected`` (topic, partition -> next offset, None: no row) for the
        connector. Offsets moved on: a killed worker's last transaction committed after the
        next worker read them (a warehouse job runs on without its client; warehouses lock
        first, see theirs). Offsets gone back: the target lost committed transactions (a
        crash with synchronous_commit=off, a failover, a restore), and writing on would
        leave a gap. By default they are read in the open transaction and compared."""
        from connectors.sink.engine import offsets as offsets_table

        if expected:
            stored = offsets_table.read(self, connector)
            offsets_table.check(type(self).__name__.removesuffix("Dialect"), stored, expected)

    # -- reading back (hub verify) ------------------------------------------------------------

    def text_expr(self, expr: str) -> str:
        """``expr`` as text (a value hub verify compares as the source prints it)."""
        return f"CAST({expr} AS VARCHAR)"

    def text_array_expr(self, expr: str, depth: int) -> str | None:
        """An array ``expr`` (``depth`` levels) as arrays of its items' text (hub verify:
        dates and times with infinity, BC or years past 9999, which drivers cannot make Python
        values of; JSON items as written); None where arrays are not native."""
        return None

    def json_text_expr(self, expr: str) -> str | None:
        """A JSON column as its text, where the driver would parse it (with floats: digits
        past a double's would be lost); None: read as it is."""
        return None

    def reader_session(self) -> None:
        """Make the session print values as hub verify compares them: zoned values in UTC
        (read as text), and, where the database has such settings, whatever a user's defaults
        could change (date style, float digits)."""
        self.execute("SET TimeZone = 'UTC'")

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        """The rows of a read-only statement as they come (hub verify reads whole tables):
        by default all at once (`query`)."""
        return iter(self.query(sql))


def default_statements(d: Dialect) -> Dialect:
    """``d`` writing batches and offsets with the engine's default statements (`Dialect.merge`,
    `Dialect.upsert_values`: ``MERGE``) whatever its own: what a warehouse dialect that keeps
    them runs, tried against DuckDB and PostgreSQL (the sink tests, bench/sink_bench.py)."""
    for name in ("merge", "upsert_values"):
        setattr(d, name, getattr(Dialect, name).__get__(d))
    return d
