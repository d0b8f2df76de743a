"""The task's `TableSchema` per table: built from the catalog for the snapshot and from
pgoutput's Relation messages while streaming (a new column or a changed type shows up in a
Relation message before the first change that uses it, so the next events carry it)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from connectors.source.cdc.filters import Filters
from connectors.source.cdc.masks import NONE as NO_MASKS
from connectors.source.cdc.masks import ColumnMasks
from connectors.source.cdc.topics import TopicRegistry
from connectors.source.postgres import catalog
from connectors.source.postgres.catalog import ColumnInfo, TableInfo
from connectors.source.postgres.config import PostgresSourceConfig
from connectors.source.postgres.events import TableSchema
from connectors.source.postgres.protocol.basics import UNCHANGED_TOAST
from hub.errors import ConfigError

if TYPE_CHECKING:
    from connectors.source.postgres.protocol.pgoutput import Relation

log = logging.getLogger(__name__)

FIRST_USER_OID = 16384


class TableSchemas:
    def __init__(
        self, meta: Any, cfg: PostgresSourceConfig, filters: Filters,
        topics: TopicRegistry | None = None, masks: ColumnMasks = NO_MASKS,
    ) -> None:  # fmt: skip
        self.meta = meta  # a normal connection for catalog lookups
        self.cfg = cfg
        self.masks = masks  # column.mask.* / column.truncate.* (`cdc.masks`)
        self.filters = filters
        self.topics = topics or TopicRegistry(cfg.topic_prefix)
        self.mapper, self.domains = catalog.type_mapper(meta, cfg)
        self.by_relation: dict[int, TableSchema | None] = {}
        self._warned: set[tuple[str, str]] = set()
        # each captured table as last seen in the catalog: its oid, its columns, its file
        self._shapes: dict[tuple[str, str], tuple[int, dict[str, ColumnInfo], int]] = {}
        # per table, the columns (name, number) added while the task ran that the rows the
        # table had hold NULL in, whatever default they were given since: added without a
        # default (PostgreSQL keeps no value for the rows), seen before anything rewrote the
        # table (which clears the kept values). A sink adding one fills its rows with NULL.
        self._null_fills: dict[tuple[str, str], set[tuple[str, int]]] = {}
        self._oids_at_start: set[int] = set()  # every table the database had (`seed`)

    def seed(self, tables: Sequence[TableInfo]) -> None:
        """The captured tables as the task found them at its start (`reshaped` compares),
        and every table the database had then (one not captured then may be renamed into
        the captured ones: its rows were never read)."""
        for t in tables:
            self._shapes[(t.schema, t.name)] = (
                t.oid,
                {c.name: c for c in t.columns},
                t.relfilenode,
            )
        self._oids_at_start = {
            int(r[0]) for r in self.meta.execute("SELECT oid FROM pg_class WHERE relkind = 'r'")
        }

    def reshaped(self, info: TableInfo) -> None:
        """Warn when the table changed in a way no row event reports, so that the sinks'
        rows the table had differ from the source's: renamed, re-created (dropped and
        created with its name), a column renamed, dropped and added again, or added with a
        default that is not a constant (each row got its own value, clock_timestamp()
        say)."""
        key = (info.schema, info.name)
        before = self._shapes.get(key)
        now = {c.name: c for c in info.columns}
        self._shapes[key] = (info.oid, now, info.relfilenode)
        if before is None:
            # renamed (ALTER TABLE ... RENAME TO, SET SCHEMA): the same table under a name
            # this task has not seen; its rows stay in the sinks under the old one
            was = next((k for k, (oid, *_) in self._shapes.items()
                        if oid == info.oid and k != key), None)  # fmt: skip
            if was is not None:
                del self._shapes[was]
                log.warning(
                    "table %s.%s: it was renamed from %s.%s: the sinks keep its rows under "
                    "the old name, and the new name's table gets only the rows changed from "
                    "now on; to bring the sinks' rows in line, signal an incremental snapshot "
                    "of the table (execute-snapshot)", info.schema, info.name, *was,
                )  # fmt: skip
            elif info.oid in self._oids_at_start:
                log.warning(
                    "table %s.%s: it was there, not captured, when the task started (renamed "
                    "or moved into the captured tables since?): the rows it had were never "
                    "read, and the sinks get only the rows changed from now on; signal an "
                    "incremental snapshot of the table (execute-snapshot) to copy them",
                    info.schema, info.name,
                )  # fmt: skip
            return
        oid, cols, relfilenode = before
        what: list[str] = []
        if oid == info.oid and relfilenode == info.relfilenode and relfilenode:
            self._note_null_fills(key, cols, now)
        if oid != info.oid:
            what.append("it was dropped and created again: the sinks keep the rows it had")
        else:
            by_num = {c.attnum: name for name, c in cols.items()}
            for name, c in now.items():
                old = cols.get(name)
                if old is None and c.attnum in by_num and by_num[c.attnum] not in now:
                    what.append(
                        f"column {by_num[c.attnum]!r} was renamed {name!r}: the sinks' rows "
                        "have it NULL (or its default) until their next change"
                    )
                elif old is not None and old.attnum != c.attnum:
                    what.append(
                        f"column {name!r} was dropped and added again: the sinks' rows keep "
                        "their old values until their next change"
                    )
                elif old is None and c.volatile_default:
                    what.append(
                        f"column {name!r} was added with a default that is not a constant: "
                        "the sinks' rows have it NULL until their next change"
                    )
                elif old is not None and not _keeps_values(old, c):
                    what.append(
                        f"column {name!r} changed type from {old.type_name} to {c.type_name}, "
                        "which may have rewritten the values it had (a smaller scale rounds, "
                        "USING computes new ones): the sinks' rows keep their old values until "
                        "their next change"
                    )
        if what:
            log.warning(
                "table %s.%s: %s; to bring the sinks' rows in line, signal an incremental "
                "snapshot of the table (execute-snapshot)", info.schema, info.name,
                "; ".join(what),
            )  # fmt: skip

    def _fills(
        self, info: TableInfo | None, columns: list[tuple[str, int, int]]
    ) -> dict[str, str | None]:
        """What a sink adding a column fills the rows it has with, where that is not the
        column's default: the value the rows got when it was added, or None (NULL) for the
        columns `_null_fills` holds that have a default now."""
        out: dict[str, str | None] = {**_defaults(info, columns, fills=True)}
        nulls = self._null_fills.get((info.schema, info.name)) if info is not None else None
        if info is not None and nulls:
            present = {c[0] for c in columns}
            for c in info.columns:
                if (c.name, c.attnum) in nulls and c.default is not None and c.name in present:
                    out[c.name] = None
        return out

    def _note_null_fills(
        self, key: tuple[str, str], cols: dict[str, ColumnInfo], now: dict[str, ColumnInfo]
    ) -> None:
        """The columns added since the table was last seen, in the same file (no rewrite
        came between: it would have cleared the kept values), for which PostgreSQL (11 on)
        keeps no value for the rows the table had: it keeps one for every column added with
        a default it does not evaluate per row, so these were added without one, and those
        rows hold NULL there whatever default the column was given since."""
        if self.meta.info.server_version < 110000:
            return
        known = {c.attnum for c in cols.values()}
        for name, c in now.items():
            if c.attnum not in known and c.missing is None and not c.volatile_default:
                self._null_fills.setdefault(key, set()).add((name, c.attnum))

    def current_values(self, table: TableSchema, values: Sequence[Any]) -> list[Any]:
        """A re-keyed row's new tuple (REPLICA IDENTITY DEFAULT) with its unchanged TOASTed
        values read from the table now, by the row's new key: the WAL has them neither in
        the new tuple nor in the old one (its key columns only), and the sinks have no row
        under the new key to keep them from, so the placeholder became NULL there. A later
        change of the row is streamed after this one, so a value read now that is newer than
        this change is what the row ends with anyway; a row gone since keeps the placeholder
        (its delete follows)."""
        unchanged = [i for i, v in enumerate(values) if v is UNCHANGED_TOAST]
        key = table.raw_key(values)
        if not unchanged or not key or any(v is None or v is UNCHANGED_TOAST for v in key):
            return list(values)
        names = table.column_names
        q = catalog.quote
        types = []
        for i in (names.index(k) for k in table.key_columns):
            oid, typmod = table.column_types[i]
            row = self.meta.execute("SELECT format_type(%s, %s)", (oid, typmod)).fetchone()
            types.append(row[0])
        where = " AND ".join(
            f"{q(k)} = CAST(%s AS {t})" for k, t in zip(table.key_columns, types, strict=True)
        )
        sql = (
            f"SELECT {', '.join(f'{q(names[i])}::text' for i in unchanged)} "
            f"FROM {q(table.schema)}.{q(table.table)} WHERE {where}"
        )
        row = self.meta.execute(sql, [bytes(v).decode() for v in key]).fetchone()
        out = list(values)
        if row is not None:
            for i, v in zip(unchanged, row, strict=True):
                out[i] = None if v is None else v.encode()
        return out

    def _known(self, oid: int) -> bool:
        m = self.mapper
        return (
            oid < FIRST_USER_OID or oid in m.enums or oid in m.arrays or oid in self.domains
            or oid == m.hstore_oid
        )  # fmt: skip

    def _build(
        self, schema: str, table: str, columns: list[tuple[str, int, int]], info: TableInfo | None,
        fallback_key: tuple[str, ...] = (),
        wal_key: tuple[str, ...] = (),
    ) -> TableSchema:  # fmt: skip
        self.topics.topic(schema, table)  # a table new since the start may share a topic
        if not all(self._known(c[1]) for c in columns):
            self.mapper, self.domains = catalog.type_mapper(self.meta, self.cfg)
        key = self.filters.key_override(schema, table, [c[0] for c in columns])
        if key is None:
            key = info.primary_key if info is not None else fallback_key
            if wal_key and set(wal_key) != set(key):
                key = wal_key  # the key changed since these changes were written
        # (in the catalog's column order when it is the same key: the snapshot's order)
        names = {c[0] for c in columns}
        if any(k not in names for k in key):
            # the catalog is today's, the columns are from the WAL being read: the key has
            # changed since (renamed, moved). The replica identity of that time keys the rows.
            log.warning(
                "%s.%s: key column(s) %s are not among the columns of the changes being read "
                "(%s); keying them by their replica identity %s", schema, table, list(key),
                ", ".join(sorted(names)), list(fallback_key) or "(none)",
            )  # fmt: skip
            key = tuple(k for k in fallback_key if k in names)
        not_null = {c.name for c in info.columns if c.not_null} if info is not None else set()
        built = TableSchema(
            self.cfg.topic_prefix, schema, table, columns,
            mapper=self.mapper, domains=self.domains, not_null=not_null, key=key,
            include=lambda name: self.filters.column(schema, table, name),
            placeholder=self.cfg.unavailable_value_placeholder,
            include_unknown=self.cfg.include_unknown_datatypes,
            defaults=_defaults(info, columns),
            fills=self._fills(info, columns),
            masks=self.masks,
        )  # fmt: skip
        built.deferrable_key = info is not None and info.deferrable_key
        if built.unknown_columns and (schema, table) not in self._warned:
            self._warned.add((schema, table))
            log.warning(
                "%s.%s: column(s) %s have types Debezium has no schema for and are left out "
                "of the events; set include.unknown.datatypes=true to send them (as their "
                "text's bytes, as Debezium does)",
                schema, table, ", ".join(built.unknown_columns),
            )  # fmt: skip
        return built

    def for_table(self, info: TableInfo) -> TableSchema:
        """For snapshot rows, in the catalog's column order."""
        cols = [(c.name, c.type_oid, c.typmod) for c in info.columns]
        return self._build(info.schema, info.name, cols, info)

    def on_relation(self, rel: Relation) -> None:
        if not self.filters.table(rel.namespace, rel.name):
            self.by_relation[rel.relation_id] = None
            was = next((k for k, (oid, *_) in self._shapes.items()
                        if oid == rel.relation_id), None)  # fmt: skip
            if was is not None:  # (renamed or moved out of the captured tables)
                del self._shapes[was]
                log.warning(
                    "table %s.%s: it was renamed %s.%s, which is not captured: its changes "
                    "are not read from now on, and the sinks keep its rows under the old name "
                    "as they are now (include the new name in table.include.list to go on "
                    "capturing it)", *was, rel.namespace, rel.name,
                )  # fmt: skip
            return
        found = catalog.tables(self.meta, self.filters, oid=rel.relation_id)
        info = found[0] if found else None
        if info is not None:
            self.reshaped(info)
        elif any(self.filters.table(*p) for p in catalog.partitions(self.meta, rel.relation_id)):
            # (a partition captured: its rows would be split; a root whose partitions are all
            # left out streams as a table of its own, as a start allows it)
            raise ConfigError(
                f"the changes of table {rel.namespace}.{rel.name}'s partitions now come as "
                f"its own: publication {self.cfg.publication_name!r} was set "
                "publish_via_partition_root = true, which hub does not support (the snapshot "
                "reads the partitions, so their rows would be split over two tables). ALTER "
                f"PUBLICATION {self.cfg.publication_name} SET (publish_via_partition_root = "
                "false); the changes made while it was true come the same way when read "
                "again: start with a new slot and a snapshot (or exclude the partitions)"
            )
        # the replica identity the changes were written with: with REPLICA IDENTITY DEFAULT
        # it is the primary key of that time, which beats today's catalog (the key may have
        # changed since); otherwise it is the fallback when the catalog's key does not fit
        flagged = tuple(c.name for c in rel.columns if c.is_key)
        fallback = flagged if rel.replica_identity != "f" else ()
        wal_key = flagged if rel.replica_identity == "d" else ()
        cols = [(c.name, c.type_oid, c.type_modifier) for c in rel.columns]
        built = self._build(rel.namespace, rel.name, cols, info, fallback, wal_key)
        key = built.key_columns
        unkeyed = set(key) - set(flagged) or not key and flagged
        if rel.replica_identity in "di" and unkeyed and not {"u", "d"} <= self.cfg.skipped():
            # (an identity changed since the start: its deletes would come without the key;
            # the stream stops at the first such change, not here: the WAL replayed after a
            # fix still holds this relation message, and its inserts are fine)
            built.unkeyed = catalog.unkeyed_line(f"{rel.namespace}.{rel.name}", key, flagged)
        self.by_relation[rel.relation_id] = built


def _defaults(
    info: TableInfo | None, columns: list[tuple[str, int, int]], fills: bool = False
) -> dict[str, str]:
    """The constant defaults of the catalog's columns that have the type the rows' columns
    have (the catalog is today's; the rows may be older than a change of type); ``fills``:
    instead the values the rows got when a column was added (`ColumnInfo.fill`), where they
    are not its default."""
    if info is None:
        return {}
    types = {c[0]: (c[1], c[2]) for c in columns}
    return {
        c.name: v for c in info.columns
        if (v := (c.fill if c.fill != c.default else None) if fills else c.default) is not None
        and types.get(c.name) == (c.type_oid, c.typmod)
    }  # fmt: skip


# types whose values every row keeps when a column moves from the first to the second
# (ALTER COLUMN TYPE without USING): integers widened, text kinds, numeric unbounded
_WIDENS = {
    ("smallint", "integer"), ("smallint", "bigint"), ("integer", "bigint"),
    ("smallint", "numeric"), ("integer", "numeric"), ("bigint", "numeric"),
    ("character varying", "text"), ("text", "character varying"),
}  # fmt: skip
_VARLENA_TEXT = ("character varying", "bit varying")


def _keeps_values(old: ColumnInfo, new: ColumnInfo) -> bool:
    """Whether ALTER COLUMN ... TYPE from ``old`` to ``new`` keeps every row's value as it
    was (so the sinks' rows still match): the same type and modifier, a varchar or varbit
    made longer, a numeric given more digits on both sides of the point, an integer
    widened. Anything else may have rewritten values without a row event (numeric(6,2) to
    numeric(6,0) rounds 12.34 to 12, char(3) to char(6) pads, USING computes new values)."""
    if (old.type_oid, old.typmod) == (new.type_oid, new.typmod):
        return True
    before, after = old.type_name.partition("(")[0], new.type_name.partition("(")[0]
    if (before, after) in _WIDENS:
        return True
    if before != after or old.type_oid != new.type_oid:
        return False
    if before in _VARLENA_TEXT:  # (typmod: the length, + 4 for varchar; -1: unbounded)
        return new.typmod == -1 or (old.typmod != -1 and new.typmod >= old.typmod)
    if before == "numeric":  # (typmod - 4 = precision << 16 | scale; -1: unbounded)
        if new.typmod == -1:
            return True
        if old.typmod == -1:
            return False
        p0, s0 = (old.typmod - 4) >> 16, (old.typmod - 4) & 0xFFFF
        p1, s1 = (new.typmod - 4) >> 16, (new.typmod - 4) & 0xFFFF
        return s1 >= s0 and p1 - s1 >= p0 - s0
    return False
