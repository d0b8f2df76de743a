"""Errors of the sink engine and its dialects.

Retry logic switches on the class: a lost connection or a locked file is a `SinkTransientError`
(the runtime retries it within ``errors.retry.timeout``); a record or a schema change the
target cannot take is a `SinkFatalError` (the batch goes to the dead letter queue or stops the
task, per ``errors.tolerance``). Messages name the table, column, topic/partition/offset and
never the connection's password.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hub.errors import ConfigError, FatalError, ResumeError, TransientError


class SinkConfigError(ConfigError):
    """A sink property is wrong; the message names it."""

    def __init__(self, prop: str, problem: str) -> None:
        super().__init__(f"{prop}: {problem}")
        self.prop = prop
        self.problem = problem


class SinkTransientError(TransientError):
    """The target is unreachable or busy (connection lost, file locked): retry."""


class OffsetsMovedError(SinkTransientError):
    """The target's ``_hub_offsets`` rows are not the ones the task read: another writer (a
    batch a killed worker left running in the warehouse) committed since. The task reads
    them again and skips what is in the target."""


class TargetRewoundError(ResumeError):
    """The target's ``_hub_offsets`` went back below what this task committed: the target
    lost committed transactions (a crash with ``synchronous_commit=off``, a failover to a
    replica that was behind, a restore). Writing on would leave the lost records out for
    good; the task restarts instead and resumes from the stored offsets."""


class SinkFatalError(FatalError):
    """The target refused the batch and retrying will not help."""


class RecordError(SinkFatalError):
    """A record the sink cannot turn into a row (no key for an upsert, not a struct, ...)."""

    def __init__(self, topic: str, partition: int, offset: int, problem: str) -> None:
        super().__init__(f"record {topic}-{partition}@{offset}: {problem}")
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.problem = problem


class SchemaChangeError(SinkFatalError):
    """A column's type changed in a way the target table cannot follow."""

    def __init__(self, table: str, column: str, existing: str, incoming: str, why: str) -> None:
        super().__init__(
            f"table {table}, column {column}: cannot change type {existing} to {incoming} "
            f"({why}); alter or recreate the column in the target, or route the topic elsewhere"
            " (a source's decimal/binary/time handling mode or converters changed? The records "
            "already in the log keep their types, also after the change is undone: route them "
            "to new tables, or move the sink past them: stopped, its rows of _hub_offsets in "
            "the target and its group's offsets)"
        )
        self.table = table
        self.column = column
        self.existing = existing
        self.incoming = incoming


class KeyChangedError(SinkFatalError):
    """The records' key is not the table's primary key (the source table's key changed):
    upserts by the new key beside the old constraint would fail only once a row took an
    old key value again, stopping every table of the task, maybe days later."""

    def __init__(self, table: str, table_key: Sequence[str], record_key: Sequence[str]) -> None:
        have, want = ", ".join(table_key), ", ".join(record_key)
        super().__init__(
            f"table {table}: its primary key is ({have}) but the records' key is ({want}) "
            "(the source table's key changed?): give the table that primary key (ALTER TABLE "
            f"... DROP CONSTRAINT ..., ADD PRIMARY KEY ({want})), recreate it, or route the "
            "topic to another table"
        )
        self.table = table


class KeylessIntoKeyedError(SinkFatalError):
    """Records without a key were refused by a table with a primary key: a row of theirs
    took a key value the table holds (the source table's key was dropped)."""

    def __init__(self, table: str, table_key: Sequence[str], said: str) -> None:
        super().__init__(
            f"table {table}: its primary key is ({', '.join(table_key)}) but the records "
            "written to it have no key (the source table's key dropped?), and one took a key "
            "value the table holds: drop the table's primary key (ALTER TABLE ... DROP "
            "CONSTRAINT ...) to take them as a keyless table's rows, give the source table "
            f"its key back, or route the topic to another table; the target said: {said}"
        )
        self.table = table


class NameCollisionError(SinkFatalError):
    """Two names the target takes for one (DuckDB's identifiers are case-insensitive)."""

    def __init__(
        self, table: str, what: str, first: str, second: str,
        why: str = "its identifiers are case-insensitive",
    ) -> None:  # fmt: skip
        super().__init__(
            f"table {table}: {what} {first!r} and {second!r} are one name in this target "
            f"({why}); rename one in the source, leave it out "
            f"(column.exclude.list, or a ReplaceField transform), or route the topic to "
            f"another table (table.name.format)"
        )
        self.table = table
        self.names = (first, second)


class TableCollisionError(SinkFatalError):
    """Two topics map to one table through ``${topic}`` (its dots become underscores)."""

    def __init__(self, table: str, owner: str, topic: str, fmt: str) -> None:
        super().__init__(
            f"table {table}: topics {owner!r} and {topic!r} both map to it "
            f"(table.name.format={fmt!r} turns dots into underscores); it holds the rows of "
            f"{owner!r}, so {topic!r} is not written there: route one topic to another table "
            f"(table.name.format, e.g. with ${{source.schema}}.${{source.table}}, or a "
            f"RegexRouter transform) or rename the source table"
        )
        self.table = table
        self.topics = (owner, topic)


class MissingTableError(SinkFatalError):
    """schema.evolution=none and the table or a column does not exist."""


class ValueNotHeldError(SinkFatalError):
    """A value the target column cannot hold as it is (a timestamp past the target's range, a
    nested array in a one-dimensional column, ...): the batch fails rather than write a
    different value. Dialects raise it without the table; the engine adds it."""

    def __init__(self, column: str, what: str, target: str, table: str | None = None) -> None:
        where = f"table {table}, column {column}" if table else f"column {column}"
        super().__init__(
            f"{where}: {what} cannot be held by {target}; the batch is not written (change "
            "the value in the source, exclude the column, or route the topic to another sink)"
        )
        self.column, self.what, self.target, self.table = column, what, target, table

    def in_table(self, table: str) -> ValueNotHeldError:
        return ValueNotHeldError(self.column, self.what, self.target, table)


class ValueUnreadableError(ValueNotHeldError):
    """A value a dialect cannot read into the target's form (a ZonedTimestamp that is no
    ISO 8601 instant, as a transform such as MaskField makes it): named by its column, as
    the engine names one it cannot read (`apply.staged`), and the table the engine adds."""

    def __init__(self, column: str, what: str, target: str, table: str | None = None) -> None:
        where = f"table {table}, column {column}" if table else f"column {column}"
        SinkFatalError.__init__(
            self, f"{where} ({target}): a value cannot be read: {what}; the batch is not written"
        )
        self.column, self.what, self.target, self.table = column, what, target, table

    def in_table(self, table: str) -> ValueNotHeldError:
        return ValueUnreadableError(self.column, self.what, self.target, table)


T = TypeVar("T")


def column_staged(name: str, type_: object, convert: Callable[..., T], *args: Any) -> T:
    """``convert(*args)``, a dialect's conversion of one staged column, with a value it cannot
    read (a ValueError, TypeError or ArithmeticError, pyarrow's included) named by its column."""
    try:
        return convert(*args)
    except SinkFatalError:
        raise
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ValueUnreadableError(name, repr(exc), str(type_)) from None
