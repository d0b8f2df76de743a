"""The engine's SinkTask: one transaction per ``put``, offsets in the target.

``put(records)``: skip records below the stored next offset (redelivered after a crash between
the target's commit and the group commit), read each record into a change, collapse them per
table and key, then in ONE transaction: evolve each table, stage and apply its changes, and
upsert the batch's next offsets into ``_hub_offsets``. With table names made of topics, a table
another topic owns is a `TableCollisionError` (`owners`). On any error the transaction is rolled
back and the target is as before the call, so the runtime may re-put the batch record by
record (``errors.tolerance=all``) to isolate a poison record. ``flush`` stores only offsets
past the target's own: records that never reached it (dead-lettered, filtered out).
``open`` hands the runtime the offsets stored in the target.

A dialect package subclasses `EngineSinkTask` and implements `make_dialect`.
"""

from __future__ import annotations

import gc
import logging
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from connectors.sink.engine import offsets as offsets_table
from connectors.sink.engine import owners as owners_table
from connectors.sink.engine.apply import DELETED, apply
from connectors.sink.engine.batch import TableBatch, collapse
from connectors.sink.engine.config import SinkConfig
from connectors.sink.engine.dialect import Dialect, TableInfo
from connectors.sink.engine.errors import (
    KeyChangedError,
    KeylessIntoKeyedError,
    MissingTableError,
    NameCollisionError,
    OffsetsMovedError,
    SinkFatalError,
    TableCollisionError,
    TargetRewoundError,
    ValueNotHeldError,
)
from connectors.sink.engine.evolution import aligned, create, evolve, inexact_in_doubles
from connectors.sink.engine.naming import TableRef, check_columns
from connectors.sink.engine.records import ChangeReader
from connectors.sink.engine.types import STRING, Column, ColumnType, infer
from hub.errors import HubError
from hub.log import TopicPartition
from hub.runtime.api import SinkRecord, SinkTask, SinkTaskContext

log = logging.getLogger(__name__)


C = TypeVar("C", bound=SinkConfig)


class EngineSinkTask(SinkTask, Generic[C]):
    """The engine's task, generic over its sink's config class: ``self.cfg`` and
    ``make_dialect`` are typed with it, so a misspelt property is a type error."""

    config_class: type[C]  # (each sink sets its own)
    offsets_in_target = True  # (the table _hub_offsets)
    skips_below_stored = True
    isolates_failures = True  # (a batch is one transaction; a record's failure is its own)

    @abstractmethod
    def make_dialect(self, cfg: C) -> Dialect: ...

    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None:
        self.cfg: C = self.config_class.of(config)
        self.connector = context.connector
        self.context = context
        self.topic_ids: dict[str, tuple[str, ...]] = {}  # the log's, read at open
        self.dialect = self.make_dialect(self.cfg)
        self.reader = ChangeReader(self.cfg, self.dialect.max_name_bytes)
        self.unavailable = self.reader.unavailable
        self.dialect.writer = f"{context.connector}/{context.task_id}"
        self.tables: dict[TableRef, TableInfo | None] = {}
        self._keyless_told: set[TableRef] = set()  # keyed tables told of keyless records
        self.next: dict[tuple[str, int], int] = {}
        # table -> the topic that writes it, when table names are made of topics (`owners`)
        self.owners: dict[TableRef, str] | None = None
        self.owners = self._run(self._prepare)

    def _prepare(self) -> dict[TableRef, str] | None:
        """The engine's own tables (one transaction: DuckDB commits are not free)."""
        offsets_table.ensure_table(self.dialect)
        if "${topic}" not in self.cfg.table_name_format:
            return None
        owners_table.ensure_table(self.dialect)
        return owners_table.read(self.dialect)

    def _run(self, fn: Any) -> Any:
        """``fn()`` in one transaction; any failure rolls back and is raised as a hub error."""
        d = self.dialect
        try:
            d.begin()
            out = fn()
            d.commit()
            return out
        except BaseException as exc:
            d.rollback()
            self.tables.clear()  # DDL may have been rolled back with the rest
            if isinstance(exc, HubError) or not isinstance(exc, Exception):
                raise
            raise d.translate(exc) from exc

    def open(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """The stored offsets of ``partitions``; a stored offset of another incarnation of
        its topic (deleted and made again, or the log's data emptied: another topic id) is
        reset to 0 first, so the new topic is written from its start instead of its first
        records being skipped as if written."""
        for topic in {tp.topic for tp in partitions}:
            self.topic_ids[topic] = self.context.topic_ids(topic)
        stored: dict[tuple[str, int], tuple[int, str | None]] = self._run(
            lambda: offsets_table.read_rows(self.dialect, self.connector)
        )
        out, other = {}, {}
        # (topics this connector holds no offset of at all: a partition still empty of a
        # topic it writes is not one)
        fresh = {tp.topic for tp in partitions} - {t for t, _ in stored}
        if fresh:
            self._written_by_others(fresh)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if key not in stored:
                continue
            off, held = stored[key]
            if SinkTaskContext.another_topic(held, self.topic_ids[tp.topic]):
                other[key] = off
                off = 0
            out[tp] = off
            self.next[key] = off
        if other:
            log.warning(
                "%s: the target's stored offsets of %s are of another topic of that name (the "
                "topic was deleted and made again, or the log's data directory emptied): "
                "writing it from its start", self.connector,
                ", ".join(f"{t}[{p}] ({off})" for (t, p), off in sorted(other.items())),
            )  # fmt: skip
            self._run(lambda: self._store_offsets(dict.fromkeys(other, 0), expected=other))
        return out

    def _written_by_others(self, topics: set[str]) -> None:
        """Warn of topics this connector has no offsets of that another connector wrote to
        this target: renamed, it writes them again from their start (the rows of tables
        without a key come twice; keyed ones are upserted again)."""
        by = self._run(lambda: offsets_table.others(self.dialect, self.connector, topics))
        if by:
            log.warning(
                "%s: the target holds offsets of %s written by connector(s) %s, none of this "
                "one's: it writes them from their start. A connector renamed? Then the rows of "
                "tables without a key come twice: give it its old name back (two sinks that "
                "write a topic into different tables of one target are fine)", self.connector,
                ", ".join(sorted(by)), ", ".join(sorted(set().union(*by.values()))),
            )  # fmt: skip

    def put(self, records: Sequence[SinkRecord]) -> None:
        # a batch allocates many small acyclic objects; with the batch's records alive, every
        # cyclic GC pass would walk them all again (measured: up to a third of put's time)
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for chunk in self._chunks(records):
                tps = {r.position[:2] for r in chunk}
                self._moved_safe(lambda chunk=chunk: self._put(chunk), tps)
        finally:
            if was_enabled:
                gc.enable()

    def _chunks(self, records: Sequence[SinkRecord]) -> list[Sequence[SinkRecord]]:
        """The records in runs that change at most `Dialect.max_tables` tables, in log order:
        each run is a transaction with its own offsets. A topic is one table, unless
        table.name.format names tables by the events' ``source`` (one topic may then carry
        any number: counted by topic, 121 tables had gone into one BigQuery transaction)."""
        limit = self.dialect.max_tables
        if limit is None:
            return [records]
        namer = self.reader.namer

        def table(r: SinkRecord) -> Any:
            if not namer.needs_source:
                return r.topic
            v = r.value
            return namer.table(r.topic, v.get("source") if type(v) is dict else None)

        if len({table(r) for r in records}) <= limit:
            return [records]
        out: list[Sequence[SinkRecord]] = []
        start, tables = 0, set[Any]()
        for i, r in enumerate(records):
            t = table(r)
            if t not in tables and len(tables) == limit:
                out.append(records[start:i])
                start, tables = i, set()
            tables.add(t)
        out.append(records[start:])
        return out

    def _moved_safe(self, fn: Any, tps: set[tuple[str, int]]) -> None:
        """``fn()``; when another writer moved the stored offsets of ``tps`` on meanwhile (a
        killed worker's last transaction that committed late), read them again and redo
        ``fn``, which then skips what is in the target. Stored offsets *behind* what this
        task committed mean the target lost transactions: `TargetRewoundError`, so the task
        restarts from them rather than write past the gap."""
        for attempt in range(3):
            try:
                fn()
                return
            except OffsetsMovedError as exc:
                if attempt == 2:
                    raise
                log.warning("%s: %s; reading the offsets again", self.connector, exc)
                stored = self._run(lambda: offsets_table.read(self.dialect, self.connector))
                behind = sorted(
                    (tp, self.next[tp], stored.get(tp)) for tp in tps
                    if tp in self.next and (stored.get(tp) or 0) < self.next[tp]
                )  # fmt: skip
                self.next.update(stored)
                if behind:
                    for tp, _, now in behind:
                        if now is None:
                            self.next.pop(tp, None)
                    raise TargetRewoundError(
                        f"{self.connector}: the target's stored offsets went back ("
                        + ", ".join(f"{t}[{p}] {was} -> {now}" for (t, p), was, now in behind)
                        + "): it lost committed transactions (a crash with synchronous_commit"
                        "=off, a failover to a replica that was behind, a restore); the task "
                        "restarts and resumes from them"
                    ) from None

    def _store_offsets(
        self,
        positions: Mapping[tuple[str, int], int],
        expected: Mapping[tuple[str, int], int] | None = None,
    ) -> None:
        """Write the offsets (in the open transaction), unless the stored ones moved from
        ``expected`` (by default what this task read or wrote)."""
        nxt = self.next if expected is None else expected
        self.dialect.expect_offsets(self.connector, {tp: nxt.get(tp) for tp in positions})
        offsets_table.write(self.dialect, self.connector, positions, self.topic_ids)

    def _put(self, records: Sequence[SinkRecord]) -> None:
        changes = []
        positions: dict[tuple[str, int], int] = {}
        nxt = self.next
        read = self.reader.read
        owned = self.owners is not None
        topics: dict[TableRef, str] = {}  # table -> topic, with `owners`
        for r in records:
            # (offsets by where the record is in the log: a transform may have renamed its
            # topic, and two topics routed to one name must not share offsets)
            if r.original_topic is None:  # (r.position, without a call a record)
                topic, partition, offset = r.topic, r.partition, r.offset
            else:
                topic, partition, offset = r.position
            tp = (topic, partition)
            stored = nxt.get(tp)
            if stored is not None and offset < stored:
                continue  # already in the target (stored with the rows it covers)
            ch = read(r)
            if ch is not None:
                if owned and topics.setdefault(ch.table, r.topic) != r.topic:
                    first, owners = topics[ch.table], self.owners or {}
                    if owners.get(ch.table) == r.topic:  # the owner came second
                        raise self._collision(ch.table, r.topic, first)
                    raise self._collision(ch.table, first, r.topic)
                changes.append(ch)
            positions[tp] = offset + 1
        if not positions:
            return
        cfg = self.cfg
        batches = collapse(
            changes, self.unavailable, cfg.insert_mode == "insert", cfg.delete_mode == "soft"
        )
        claimed = self._run(lambda: self._write(batches, positions, topics))
        nxt.update(positions)
        if claimed:
            assert self.owners is not None
            self.owners.update(claimed)

    def _write(
        self,
        batches: list[TableBatch],
        positions: dict[tuple[str, int], int],
        topics: dict[TableRef, str],
    ) -> dict[TableRef, str]:
        """Apply the batches and store the offsets; the tables newly owned by a topic."""
        claimed = self._claim(topics) if topics else {}
        for tb in batches:
            self._apply(tb)
        self._store_offsets(positions)
        return claimed

    def _claim(self, topics: dict[TableRef, str]) -> dict[TableRef, str]:
        """`TableCollisionError` when another topic owns one of the tables (and it exists);
        else the tables ``topics`` own from now on, claimed in the open transaction."""
        owners, d = self.owners, self.dialect
        assert owners is not None
        if all(owners.get(t) == topic for t, topic in topics.items()):
            return {}
        owners.update(owners_table.read(d))  # another task of the connector may own it now
        new, moved = {}, {}
        for table, topic in topics.items():
            owner = owners.get(table)
            if owner == topic:
                continue
            if owner is None:
                new[table] = topic
            elif self._info(table) is None:  # dropped since: the next writer's
                moved[table] = topic
            else:
                raise self._collision(table, owner, topic)
        if moved:
            owners_table.write(d, moved, replace=True)
        if new:  # a concurrent claim that committed first wins: check what the target holds
            owners_table.write(d, new, replace=False)
            held = owners_table.read(d)
            for table, topic in new.items():
                if held.get(table, topic) != topic:
                    raise self._collision(table, held[table], topic)
        return {**new, **moved}

    def _collision(self, table: TableRef, owner: str, topic: str) -> TableCollisionError:
        return TableCollisionError(str(table), owner, topic, self.cfg.table_name_format)

    def _info(self, table: TableRef) -> TableInfo | None:
        if table not in self.tables:
            d = self.dialect
            info = d.describe(table)
            if info is not None and d.folds_names:  # found under its folded name: whose?
                twin = d.folded_twin(table)
                if twin is not None:
                    raise NameCollisionError(str(table), "tables", twin, str(table))
            self.tables[table] = info
        return self.tables[table]

    def _apply(self, tb: TableBatch) -> None:
        d, cfg = self.dialect, self.cfg
        check_columns(tb.table, [*tb.columns, *tb.pk, *tb.nulls])
        info = self._info(tb.table)
        if info is not None and (d.folds_names or d.max_name_bytes is not None):
            info = aligned(d, info, [*tb.columns, *tb.pk])
        soft = cfg.delete_mode == "soft"
        columns = list(tb.columns.values())
        extra = [DELETED] if soft else []
        # (a batch of deletes only writes no row: a table it does not find stays unmade)
        has_rows = bool(tb.appended) or tb.has_upserts()
        if info is None:
            if not has_rows:
                return  # a truncate or deletes of a table that was never written
            if cfg.schema_evolution == "none":
                raise MissingTableError(
                    f"table {tb.table} does not exist and schema.evolution=none; create it "
                    "or set schema.evolution=basic"
                )
            pk = tb.pk if all(k in tb.columns for k in tb.pk) else ()
            info = create(d, tb.table, columns + extra, pk)
        elif has_rows or soft:
            if info.pk and tb.pk and set(info.pk) != set(tb.pk) and cfg.insert_mode != "insert":
                raise KeyChangedError(str(tb.table), info.pk, tb.pk)
            info = evolve(d, tb.table, info, columns + extra, cfg.schema_evolution == "basic")
        self.tables[tb.table] = info
        for k in tb.pk:  # a key column only the target knows (schemaless tombstones)
            if k not in tb.columns:
                t = d.column_type(info.columns.get(k, "")) or self._guess(tb, k)
                columns.append(Column(k, t))
        for name in sorted(tb.nulls - tb.columns.keys() - set(tb.pk)):
            # null in every schemaless row of the batch: the target's column is set to NULL
            # (left out, the column kept its old value); none to make when it has none
            held = d.column_type(info.columns[name]) if name in info.columns else None
            if held is not None:
                columns.append(Column(name, held))
        upsert = cfg.insert_mode != "insert"
        # keyless records appended to a table with a primary key (the source table's key
        # dropped, or a key made by hand): taken as long as their key values are new to it; one
        # that is not fails the batch, maybe days later: said at once, and the failure says why
        keyless_into_keyed = bool(info.pk and not tb.pk and tb.appended)
        if keyless_into_keyed and tb.table not in self._keyless_told:
            self._keyless_told.add(tb.table)
            log.warning(
                "%s: table %s has a primary key (%s) but the records written to it have no "
                "key (the source table's key dropped, or a key made by hand?): they are "
                "inserted as a keyless table's rows, and %s; drop the table's primary key "
                "to take them as keyless rows, or give the source table its key back",
                self.connector, tb.table, ", ".join(info.pk),
                "one whose key the table holds will fail its batch" if d.enforces_keys else
                "the target does not enforce the key: one repeating a key the table holds "
                "lands as a second row of it",
            )  # fmt: skip
        try:
            inexact_in_doubles(d, info, columns, lambda: [*tb.upserts(), *tb.appended])
            apply(d, tb, info, columns, upsert=upsert, soft=soft, unavailable=self.unavailable)
        except ValueNotHeldError as exc:
            raise exc.in_table(str(tb.table)) from None
        except Exception as exc:
            # (only a key's refusal: a NOT NULL or CHECK one is said as the target says it)
            if (
                not (keyless_into_keyed or not upsert) or isinstance(exc, HubError)
                or not d.duplicate_key(exc, info.pk)
            ):  # fmt: skip
                raise
            said = d.translate(exc)
            if not isinstance(said, SinkFatalError):
                raise
            if keyless_into_keyed:
                raise KeylessIntoKeyedError(str(tb.table), info.pk, str(said)) from exc
            raise SinkFatalError(
                f"table {tb.table}: {said}: insert.mode=insert writes each record as a new "
                f"row, and the table's primary key ({', '.join(info.pk)}) holds one of the "
                "batch's keys already; set insert.mode: upsert to replace the row of a key "
                "written again, or drop the table's primary key to keep every version"
            ) from exc

    @staticmethod
    def _guess(tb: TableBatch, name: str) -> ColumnType:
        for row in tb.deletes():
            t = infer(row.get(name))
            if t is not None:
                return t
        return ColumnType(STRING)

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Every put committed its own transaction: nothing is pending. ``offsets`` past what
        the target holds cover records that never reached it (sent to the dead letter queue,
        filtered out): store them, or the next start would take those records again."""
        self._moved_safe(lambda: self._flush(offsets),
                         {(tp.topic, tp.partition) for tp in offsets})  # fmt: skip

    def _flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        nxt = self.next
        ahead = {
            (tp.topic, tp.partition): off
            for tp, off in offsets.items()
            if off > nxt.get((tp.topic, tp.partition), -1)
        }
        if ahead:
            self._run(lambda: self._store_offsets(ahead))
            nxt.update(ahead)

    def stop(self) -> None:
        dialect = getattr(self, "dialect", None)
        if dialect is not None:
            dialect.close()
