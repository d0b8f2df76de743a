"""A dialect for warehouses whose DDL and bulk loads cannot share the batch's transaction.

In Snowflake a DDL statement commits the open transaction; in BigQuery a load job is a job of
its own and a transaction is one script. The engine's transaction is still all or nothing there
when the dialect runs a batch in three steps:

1. DDL (create a table, add or widen a column: `Dialect.ddl`) and the bulk loads of staging
   tables (`Dialect.stage`: a file to a stage then ``COPY INTO``, a load job) run at once,
   each committed on its own. Both leave the target tables' rows as they were: a column
   added for a batch that then fails is NULL in every row, as a sink adds it anyway.
2. Every write the engine asks for (`Dialect.execute`) is held, in order.
3. `commit` runs the held writes and the offsets row as ONE transaction (`run_transaction`),
   then drops the staging tables. `rollback` drops them and forgets the writes.

Reads (`Dialect.query`) run at once and see the target as committed: the engine never reads
what it wrote in the same batch, except the table owners' claim (`owners`): there, two tasks
that claim one new table in the same instant are not told apart (the first row stays).
"""

from __future__ import annotations

import contextlib
import logging
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from connectors.sink.engine.dialect import Dialect, StagedColumn

log = logging.getLogger(__name__)

Statement = tuple[str, tuple[Any, ...]]


class DeferredDialect(Dialect):
    transactional_ddl = False

    def __init__(self) -> None:
        self._held: list[Statement] = []
        self._staged: list[str] = []
        self._open = False

    # -- what a warehouse writes ------------------------------------------------------------

    @abstractmethod
    def connect(self) -> None:
        """Open the connection if it is not open (reconnect after a failure)."""

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement at once, committed on its own; its rows."""

    @abstractmethod
    def run_transaction(self, statements: Sequence[Statement]) -> None:
        """Run the statements as one transaction: all committed, or none (then raise)."""

    @abstractmethod
    def load(self, name: str, columns: Sequence[StagedColumn]) -> tuple[str, str]:
        """Bulk-load the columns into a new staging table named after ``name``: the relation
        statements select from (the table, or a query of it), and the table, which
        `drop_staged` drops after the transaction."""

    def drop_staged(self, table: str) -> None:
        self.run(f"DROP TABLE IF EXISTS {table}")

    # -- the engine's transaction -----------------------------------------------------------

    def begin(self) -> None:
        self.connect()
        self._held, self._staged, self._open = [], [], True

    def commit(self) -> None:
        held, self._held = self._held, []
        try:
            if held:
                self.run_transaction(held)
        finally:
            self._end()

    def rollback(self) -> None:
        self._held = []
        self._end()

    def _end(self) -> None:
        self._open = False
        staged, self._staged = self._staged, []
        for table in staged:  # best effort: a leftover costs storage, not correctness
            try:
                self.drop_staged(table)
            except Exception as exc:  # noqa: BLE001 - the connection may be gone
                log.warning("could not drop the staging table %s: %s", table, exc)
                with contextlib.suppress(Exception):
                    self.close()
                return

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Hold a write for the transaction at `commit`."""
        self._held.append((sql, tuple(params)))
        return []

    def hold_first(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Hold a statement that the transaction runs before every other (a check that
        should fail the batch before its writes cost anything)."""
        self._held.insert(0, (sql, tuple(params)))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.run(sql, params)

    def ddl(self, sql: str) -> None:
        self.run(sql)

    def stage(self, name: str, columns: Sequence[StagedColumn]) -> str:
        relation, table = self.load(name, columns)
        self._staged.append(table)
        return relation

    def unstage(self, relation: str) -> None:
        """Kept until the held writes that read it have run (dropped at the end)."""
