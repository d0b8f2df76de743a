"""The schema history: every table's columns at each binlog position, kept from the DDL in
the binlog, so a row event is decoded with the columns of its time whatever
``binlog_row_metadata`` the server logs (with MINIMAL or NO_LOG a TABLE_MAP holds types but
no column names, signedness, ENUM labels or primary key).

State: every base table outside the system databases (a table renamed into the captured
ones must be known), each database's and the server's default character set (a column
declared without one takes its table's, then its database's, then the server's).

Stored in an internal topic of the log (``schema.history.internal.kafka.topic``), one record
per DDL in Debezium's history format (``source``, ``position``, ``ts_ms``, ``databaseName``,
``ddl``, ``tableChanges``: each changed table's whole definition after the statement) plus a
``hub`` block (where the statement stands in the binlog, database charsets, and on the
records of a baseline ``reset``). A baseline (every table, read from the catalog at a
snapshot's position) starts the history and each new snapshot. The records are written like
the connector's events, so a DDL's record is durable before an offset past it is stored.

Replay at start: records in log order, each applied when its statement comes before the
position the task resumes from, so a restart that re-reads a DDL decodes the events before
it with the columns before it. Not compacted: a table's latest definition alone would be
wrong for a task resuming from before its last DDL; the topic keeps every record (its
retention is infinite) and a DDL is rare.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from connectors.source.cdc.cuts import precedes
from connectors.source.cdc.envelope import VERSION
from connectors.source.mysql import ddl
from connectors.source.mysql.ddl import AlterTable, ColumnSpec, Statement, is_textual
from connectors.source.mysql.protocol.events import TableMap
from connectors.source.mysql.protocol.values import Column, T, decoder, string_max_len
from connectors.source.mysql.types import BINARY_CHARSET, EXTENDED, catalog_column
from hub.errors import ConfigError

log = logging.getLogger(__name__)

SYSTEM = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
RECORD_BYTES = 256 << 10  # a baseline's tables per record: about this much JSON


class SchemaHistoryError(ConfigError):
    """The history cannot say what a table's columns are (an unknown table, a DDL it could
    not parse, or columns that do not match the binlog's)."""


@dataclass(frozen=True)
class TableDef:
    db: str
    name: str
    columns: tuple[ColumnSpec, ...]  # textual columns with their charset resolved
    primary_key: tuple[str, ...] = ()
    charset: str | None = None  # the table's default
    versioned: bool = False  # MariaDB's SYSTEM VERSIONED (not captured: see SchemaHistory.ddl)

    def index(self, column: str) -> int:
        """A column's position (names are case-insensitive), -1 when absent."""
        want = column.casefold()
        for i, c in enumerate(self.columns):
            if c.name.casefold() == want:
                return i
        return -1


@dataclass(frozen=True)
class TableChange:
    type: str  # CREATE, ALTER, DROP
    db: str
    name: str
    table: TableDef | None  # None: DROP


# -- columns as Debezium's history writes them ---------------------------------------------
_JDBC = {
    "bit": -7, "tinyint": -6, "smallint": 5, "mediumint": 4, "int": 4, "bigint": -5,
    "float": 6, "double": 8, "decimal": 3, "date": 91, "time": 92, "datetime": 93,
    "timestamp": 2014, "year": 4, "char": 1, "varchar": 12, "tinytext": 12, "text": 12,
    "mediumtext": 12, "longtext": 12, "binary": -2, "varbinary": -3, "tinyblob": -4,
    "blob": -4, "mediumblob": -4, "longblob": -4, "enum": 1, "set": 1, "json": 1111,
}  # fmt: skip


def _column_json(c: ColumnSpec, position: int) -> dict[str, Any]:
    return {
        "name": c.name, "jdbcType": _JDBC.get(c.type_name, 1111),
        "typeName": c.type_name.upper() + (" UNSIGNED" if c.unsigned else ""),
        "typeExpression": c.type_expression, "charsetName": c.charset,
        "length": c.args[0] if c.args and not c.labels else None,
        "scale": c.args[1] if len(c.args) > 1 else None, "position": position,
        "optional": c.nullable, "autoIncremented": c.auto_increment, "generated": c.generated,
        "comment": c.comment, "hasDefaultValue": c.default is not None,
        "defaultValueExpression": c.default, "enumValues": list(c.labels) or None,
        # (hub's own, in its history's records only: not in the schema change events)
        **({"hubAddedFill": c.added_fill[0]} if c.added_fill is not None else {}),
    }  # fmt: skip


def _column_of(doc: Mapping[str, Any]) -> ColumnSpec:
    spec = ddl.parse_type(str(doc["name"]), str(doc["typeExpression"]))
    return replace(
        spec, charset=doc.get("charsetName"), nullable=bool(doc.get("optional", True)),
        auto_increment=bool(doc.get("autoIncremented")), generated=bool(doc.get("generated")),
        comment=doc.get("comment"), default=doc.get("defaultValueExpression"),
        added_fill=(doc["hubAddedFill"],) if "hubAddedFill" in doc else None,
    )  # fmt: skip


def table_id(db: str, name: str) -> str:
    return '"' + db.replace('"', '""') + '"."' + name.replace('"', '""') + '"'


_ID = re.compile(r'^"((?:[^"]|"")*)"\."((?:[^"]|"")*)"$')


def _parse_id(text: str) -> tuple[str, str]:
    m = _ID.match(text)
    if m is None:
        raise ValueError(f"not a table id: {text!r}")
    return m.group(1).replace('""', '"'), m.group(2).replace('""', '"')


def change_json(change: TableChange) -> dict[str, Any]:
    out: dict[str, Any] = {"type": change.type, "id": table_id(change.db, change.name)}
    t = change.table
    if t is not None:
        out["table"] = {
            "defaultCharsetName": t.charset, "primaryKeyColumnNames": list(t.primary_key),
            "columns": [_column_json(c, i + 1) for i, c in enumerate(t.columns)],
            "attributes": [], "comment": None,
        }  # fmt: skip
        if t.versioned:
            out["table"]["versioned"] = True
    return out


# -- the state -------------------------------------------------------------------------------
_BINLOG_FAMILY = {
    T.DATETIME: T.DATETIME2, T.TIMESTAMP: T.TIMESTAMP2, T.TIME: T.TIME2, T.NEWDATE: T.DATE,
    T.VAR_STRING: T.VARCHAR, T.TINY_BLOB: T.BLOB, T.MEDIUM_BLOB: T.BLOB, T.LONG_BLOB: T.BLOB,
    T.DECIMAL: T.NEWDECIMAL,
}  # fmt: skip


_TYPE_NAMES = {v: k for k, v in vars(T).items() if isinstance(v, int) and k.isupper()}


def _family(c: Column) -> int:
    t = c.real_type
    return _BINLOG_FAMILY.get(t, t)


def charset_id(name: str | None) -> int | None:
    """A collation id of the charset (what a TABLE_MAP's charset metadata would hold)."""
    if name is None:
        return None
    from connectors.source.mysql.charsets import collation_of

    return collation_of(name)


class Schemas:
    """The tables' definitions at one position of the binlog. Not thread-safe."""

    def __init__(self, server_charset: str = "utf8mb4", mariadb: bool = True,
                 lower_case_names: bool = False) -> None:  # fmt: skip
        self.server_charset = server_charset
        self.mariadb = mariadb
        self.lower_case_names = lower_case_names
        self.tables: dict[tuple[str, str], TableDef] = {}
        self.databases: dict[str, str | None] = {}  # default charset by database

    def key(self, db: str, name: str) -> tuple[str, str]:
        return (db.lower(), name.lower()) if self.lower_case_names else (db, name)

    def get(self, db: str, name: str) -> TableDef | None:
        return self.tables.get(self.key(db, name))

    def put(self, t: TableDef) -> None:
        self.tables[self.key(t.db, t.name)] = t

    # -- columns: a definition's charset resolved as the server resolves it
    def resolve(self, c: ColumnSpec, table_charset: str | None) -> ColumnSpec:
        """A column as the history keeps it: its charset resolved as the server resolves it
        (then no collation), its primary key flag on the table instead."""
        charset: str | None = None
        if c.type_name == "json" and self.mariadb:  # MariaDB: LONGTEXT ... utf8mb4_bin
            c, charset = replace(c, type_name="longtext"), "utf8mb4"
        elif is_textual(c.type_name):
            charset = c.charset or (
                ddl.collation_charset(c.collation) if c.collation else table_charset
            )  # fmt: skip
        return replace(c, charset=charset, collation=None, primary=False)

    def table_charset(self, db: str, charset: str | None, collation: str | None) -> str:
        if charset is not None:
            return charset
        if collation is not None:
            return ddl.collation_charset(collation) or self.server_charset
        return self.databases.get(self.key(db, "")[0]) or self.server_charset

    # -- DDL
    def apply(self, sql: str, default_db: str, backslash_escapes: bool = True) -> list[TableChange]:
        """The statement's effect (`ddl.DdlError` when it does not parse,
        `SchemaHistoryError` when it names a table the history does not hold)."""
        stmt = ddl.parse(sql, backslash_escapes)
        if stmt is None:
            return []
        return self.apply_statement(stmt, default_db)

    def _db(self, db: str | None, default_db: str) -> str:
        if db is None and not default_db:
            raise SchemaHistoryError("a table is named without a database and none is in use")
        return db if db is not None else default_db

    def _known(self, db: str, name: str) -> TableDef:
        t = self.get(db, name)
        if t is None:
            raise SchemaHistoryError(f"the schema history does not hold table {db}.{name}")
        return t

    def apply_statement(
        self, stmt: ddl.Statement, default_db: str, explicit_timestamps: bool = True
    ) -> list[TableChange]:
        """Apply a parsed statement, whole or not at all. ``explicit_timestamps`` False: it
        ran under explicit_defaults_for_timestamp OFF (`_implicit_timestamps`)."""
        tables, databases = dict(self.tables), dict(self.databases)
        try:
            return self._apply(stmt, default_db, explicit_timestamps)
        except BaseException:
            self.tables, self.databases = tables, databases
            raise

    def targets(self, stmt: ddl.Statement, default_db: str) -> list[tuple[str, str]]:
        """The tables a statement creates or changes (as named in it)."""
        if isinstance(stmt, ddl.CreateTable | ddl.AlterTable):
            out = [(stmt.db or default_db, stmt.name)]
            if isinstance(stmt, ddl.AlterTable):
                out += [(a.db or stmt.db or default_db, a.name) for a in stmt.actions
                        if isinstance(a, ddl.RenameTo)]  # fmt: skip
                out += [(a.other[0] or default_db, a.other[1]) for a in stmt.actions
                        if isinstance(a, ddl.PartitionRows) and a.other is not None]  # fmt: skip
            return out
        if isinstance(stmt, ddl.RenameTables):
            return [(db or default_db, n) for pair in stmt.pairs for db, n in pair]
        return []

    def forget(self, tables: Iterable[tuple[str, str]]) -> list[TableChange]:
        """Drop tables whose definition the history can no longer tell."""
        return [TableChange("DROP", db, n, None) for db, n in tables
                if self.tables.pop(self.key(db, n), None) is not None]  # fmt: skip

    def _apply(
        self, stmt: ddl.Statement, default_db: str, explicit_timestamps: bool = True
    ) -> list[TableChange]:
        if isinstance(stmt, ddl.Database):
            return self._database(stmt, default_db)
        if isinstance(stmt, ddl.CreateTable):
            db = self._db(stmt.db, default_db)
            if stmt.temporary or db.lower() in SYSTEM:
                return []
            if stmt.if_not_exists and self.get(db, stmt.name) is not None:
                return []
            if stmt.like is not None:
                src = self._known(self._db(stmt.like[0], default_db), stmt.like[1])
                t = replace(src, db=db, name=stmt.name)
            else:
                cs = self.table_charset(db, stmt.charset, stmt.collation)
                t = TableDef(db, stmt.name, tuple(self.resolve(c, cs) for c in stmt.columns),
                             stmt.primary_key, cs, stmt.versioned)  # fmt: skip
                if not explicit_timestamps:
                    t = _implicit_timestamps(t, {c.name.casefold() for c in stmt.columns})
            self.put(t)
            return [TableChange("CREATE", db, stmt.name, t)]
        if isinstance(stmt, ddl.DropTables):
            out = []
            for db_, name in stmt.tables:
                db = self._db(db_, default_db)
                if not stmt.temporary and self.tables.pop(self.key(db, name), None) is not None:
                    out.append(TableChange("DROP", db, name, None))
            return out
        if isinstance(stmt, ddl.RenameTables):
            out = []
            for (odb, old), (ndb, new) in stmt.pairs:
                src_db, dst_db = self._db(odb, default_db), self._db(ndb, default_db)
                if src_db.lower() in SYSTEM:
                    continue
                moving = self.tables.pop(self.key(src_db, old), None)
                if moving is None:  # a view (the history holds base tables only)
                    continue
                if self.get(dst_db, new) is not None:
                    raise SchemaHistoryError(f"table {dst_db}.{new} exists already")
                out.append(TableChange("DROP", src_db, old, None))
                moved = replace(moving, db=dst_db, name=new)
                self.put(moved)
                out.append(TableChange("CREATE", dst_db, new, moved))
            return out
        assert isinstance(stmt, ddl.AlterTable)
        db = self._db(stmt.db, default_db)
        if db.lower() in SYSTEM or (stmt.if_exists and self.get(db, stmt.name) is None):
            return []
        t = self._alter(self._known(db, stmt.name), stmt.actions)
        defined = {
            a.column.name.casefold() for a in stmt.actions
            if isinstance(a, ddl.AddColumn | ddl.ModifyColumn)
        }  # fmt: skip
        if not explicit_timestamps and defined:
            # (an ALTER that adds or changes no column, RENAME TO, ADD INDEX, RENAME COLUMN,
            # leaves the columns' defaults as they were on the server)
            t = _implicit_timestamps(t, defined)
        if (t.db, t.name) != (db, stmt.name) and self.key(t.db, t.name) != self.key(db, stmt.name):
            self.tables.pop(self.key(db, stmt.name), None)
            self.put(t)
            return [
                TableChange("DROP", db, stmt.name, None),
                TableChange("CREATE", t.db, t.name, t),
            ]
        self.put(t)
        out = [TableChange("ALTER", t.db, t.name, t)]
        for a in stmt.actions:  # (MariaDB 10.7's partitions made tables and back)
            if not isinstance(a, ddl.PartitionRows) or a.other is None:
                continue
            other_db, other = self._db(a.other[0], default_db), a.other[1]
            if a.verb == "CONVERT":
                made = replace(t, db=other_db, name=other)
                self.put(made)
                out.append(TableChange("CREATE", other_db, other, made))
            elif a.verb == "INTO" and self.tables.pop(self.key(other_db, other), None) is not None:
                out.append(TableChange("DROP", other_db, other, None))
        return out

    def _database(self, stmt: ddl.Database, default_db: str) -> list[TableChange]:
        name = stmt.name if stmt.name is not None else default_db
        if not name or name.lower() in SYSTEM:
            return []
        name = self.key(name, "")[0]
        if stmt.verb == "DROP":
            self.databases.pop(name, None)
            gone = sorted((t.db, t.name) for t in self.tables.values()
                          if self.key(t.db, "") == self.key(name, ""))  # fmt: skip
            for db, table in gone:
                del self.tables[self.key(db, table)]
            return [TableChange("DROP", db, table, None) for db, table in gone]
        if stmt.verb == "CREATE" and stmt.if_not_exists and name in self.databases:
            return []
        charset = stmt.charset or (
            ddl.collation_charset(stmt.collation) if stmt.collation else None
        )
        if stmt.verb == "CREATE" or charset is not None:
            self.databases[name] = charset or self.databases.get(name)
        return []

    def _alter(self, t: TableDef, actions: tuple[ddl.Action, ...]) -> TableDef:
        """The table after an ALTER TABLE's clauses. As the server does, the columns a
        clause changes, drops or renames are named as they were before the statement (so
        ``RENAME COLUMN a TO b, RENAME COLUMN b TO a`` swaps them), and FIRST/AFTER and the
        primary key name the new columns. MariaDB's IF [NOT] EXISTS clauses are decided, as
        the server decides them, against the table before the statement (and an ADD COLUMN
        IF NOT EXISTS against the columns the statement added or changed before it too)."""
        actions = _if_exists(t, actions)
        # each column with the name it had before the statement ("" for one added by it)
        cols: list[tuple[str, ColumnSpec]] = [(c.name, c) for c in t.columns]
        pk: tuple[str, ...] | None = None  # set by the statement (new names), else kept
        kept_pk = [k.casefold() for k in t.primary_key]  # the old names, while they last
        charset, db, name, versioned = t.charset, t.db, t.name, t.versioned

        def old(column: str, missing_ok: bool = False) -> int:
            want = column.casefold()
            for i, (was, _) in enumerate(cols):
                if was.casefold() == want:
                    return i
            if missing_ok:
                return -1
            raise SchemaHistoryError(f"{t.db}.{t.name} has no column {column}")

        def new(column: str) -> int:
            want = column.casefold()
            for i, (_, c) in enumerate(cols):
                if c.name.casefold() == want:
                    return i
            raise SchemaHistoryError(f"{t.db}.{t.name} has no column {column}")

        def place(entry: tuple[str, ColumnSpec], position: str | None, at: int) -> None:
            if position is None and at >= 0:
                cols.insert(at, entry)
            elif position is None:
                cols.append(entry)
            elif position == "":
                cols.insert(0, entry)
            else:
                cols.insert(new(position) + 1, entry)

        for a in actions:
            if isinstance(a, ddl.AddColumn):
                if any(c.name.casefold() == a.column.name.casefold() for _, c in cols):
                    if a.if_not_exists:
                        continue
                    raise SchemaHistoryError(f"{t.db}.{t.name} already has column {a.column.name}")
                place(("", self.resolve(a.column, charset)), a.position, -1)
            elif isinstance(a, ddl.DropColumn):
                at = old(a.name, a.if_exists)
                if at >= 0:
                    was, _ = cols.pop(at)
                    kept_pk = [k for k in kept_pk if k != was.casefold()]
            elif isinstance(a, ddl.ModifyColumn):
                at = old(a.old, a.if_exists)
                if at >= 0:
                    was, before = cols.pop(at)
                    after = _keep_fill(before, self.resolve(a.column, charset))
                    place((was, after), a.position, at)
            elif isinstance(a, ddl.RenameColumn):
                at = old(a.old)
                was, c = cols[at]
                cols[at] = (was, replace(c, name=a.new))
            elif isinstance(a, ddl.SetDefault):
                at = old(a.column, a.if_exists)
                if at >= 0:
                    was, c = cols[at]
                    cols[at] = (was, _keep_fill(c, replace(c, default=a.default)))
            elif isinstance(a, ddl.RenameTo):
                db, name = (a.db if a.db is not None else db), a.name
            elif isinstance(a, ddl.PrimaryKey):
                pk = tuple(cols[new(k)][1].name for k in a.columns) if a.columns else ()
                kept_pk = []
            elif isinstance(a, ddl.Convert):
                cs = a.charset or (ddl.collation_charset(a.collation) if a.collation else None)
                if cs == "binary":  # CHAR/VARCHAR/TEXT become BINARY/VARBINARY/BLOB
                    cols = [(w, _to_binary(c)) for w, c in cols]
                elif cs is not None:
                    cols = [(w, replace(c, charset=cs) if is_textual(c.type_name) else c)
                            for w, c in cols]  # fmt: skip
                    charset = cs
            elif isinstance(a, ddl.DefaultCharset):
                cs = a.charset or (ddl.collation_charset(a.collation) if a.collation else None)
                charset = cs or charset
            elif isinstance(a, ddl.Versioning):
                versioned = a.on
        if pk is None:  # the key's columns as they are named now
            by_old = {w.casefold(): c.name for w, c in cols if w}
            pk = tuple(by_old[k] for k in kept_pk if k in by_old)
        return TableDef(db, name, tuple(c for _, c in cols), pk, charset, versioned)

    # -- the binlog's view
    def columns(self, t: TableDef) -> tuple[Column, ...]:
        """The table's columns as a TABLE_MAP with FULL row metadata would describe them (a
        truncate event's schema, of the table as it was then)."""
        out = []
        for spec in t.columns:
            args = spec.args
            kind = spec.type_name
            precision = args[0] if kind in ("decimal", "numeric") and args else None
            scale = args[1] if kind in ("decimal", "numeric") and len(args) > 1 else None
            fsp = args[0] if kind in ("datetime", "timestamp", "time") and args else None
            c = catalog_column(spec.name, kind, spec.type_expression, spec.nullable,
                               precision, scale, fsp, spec.charset)  # fmt: skip
            if c.charset is not None and c.charset != BINARY_CHARSET:
                c = replace(c, charset=charset_id(spec.charset) or c.charset)
            out.append(replace(c, unsigned=spec.unsigned, labels=spec.labels or c.labels))
        return tuple(out)

    def complete(self, tm: TableMap) -> TableMap:
        """A TABLE_MAP without column names (MINIMAL / NO_LOG metadata) completed from the
        history: names, signedness, charsets, ENUM/SET labels, the primary key. Each
        column's binlog type must be the history's, or the history is not this binlog's."""
        t = self.get(tm.schema, tm.table)
        where = f"{tm.schema}.{tm.table}"
        if t is None:
            raise SchemaHistoryError(
                f"the binlog has no column names for {where} (binlog_row_metadata is not "
                "FULL) and the schema history does not hold the table"
            )
        if len(t.columns) != len(tm.columns):
            raise SchemaHistoryError(
                f"{where}: the binlog's rows have {len(tm.columns)} columns, the schema "
                f"history says {len(t.columns)} ({', '.join(c.name for c in t.columns)})"
            )
        cols = []
        for c, spec in zip(tm.columns, t.columns, strict=True):
            want = catalog_column(spec.name, spec.type_name, spec.type_expression, c.nullable,
                                  None, None, None, spec.charset)  # fmt: skip
            if _family(want) != _family(c):
                raise SchemaHistoryError(
                    f"{where}: column {spec.name!r} is {spec.type_expression} in the schema "
                    f"history but {_TYPE_NAMES.get(c.real_type, c.real_type)} in the binlog's "
                    "rows: the history is not this binlog's (a DDL it missed?); set "
                    "binlog_row_metadata=FULL, or snapshot.mode=recovery to rebuild it"
                )
            charset = c.charset
            if charset is None and (want.charset is not None):
                charset = BINARY_CHARSET if want.charset == BINARY_CHARSET else (
                    charset_id(spec.charset)
                )  # fmt: skip
            cols.append(Column(c.type, c.meta, c.nullable, spec.name, spec.unsigned, charset,
                               spec.labels or c.labels, want.ext, want.geometry,
                               c.compressed))  # fmt: skip
        pk = tm.primary_key or tuple(t.index(k) for k in t.primary_key if t.index(k) >= 0)
        return TableMap(tm.table_id, tm.schema, tm.table, tuple(cols), pk,
                        tuple(decoder(c) for c in cols))  # fmt: skip

    def extended(self, tm: TableMap) -> TableMap:
        """A TABLE_MAP with column names whose BINARY(16) / BINARY(4) columns the history
        holds as MariaDB's UUID, INET6 or INET4 marked so (`Column.ext`); ``tm`` itself if
        none."""
        t = self.get(tm.schema, tm.table)
        if t is None:
            return tm
        kinds = {c.name.casefold(): c.type_name for c in t.columns if c.type_name in EXTENDED}
        if not kinds:
            return tm
        cols = []
        for c in tm.columns:
            kind = kinds.get((c.name or "").casefold(), "")
            if (
                kind and c.real_type == T.STRING and c.charset == BINARY_CHARSET
                and string_max_len(c.meta) == EXTENDED[kind]
            ):  # fmt: skip
                c = replace(c, ext=kind)
            cols.append(c)
        return replace(tm, columns=tuple(cols))

    # -- records
    def baseline(self) -> Iterator[list[TableChange]]:
        """Every table as CREATE changes, in groups of about `RECORD_BYTES` of JSON."""
        group: list[TableChange] = []
        size = 0
        for t in sorted(self.tables.values(), key=lambda t: (t.db, t.name)):
            change = TableChange("CREATE", t.db, t.name, t)
            group.append(change)
            size += len(orjson.dumps(change_json(change)))
            if size >= RECORD_BYTES:
                yield group
                group, size = [], 0
        if group or not self.tables:
            yield group

    def load(self, doc: Mapping[str, Any]) -> None:
        """Apply one history record."""
        hub = doc.get("hub") or {}
        if hub.get("reset"):
            self.tables.clear()
            self.databases.clear()
            self.server_charset = hub.get("server_charset") or self.server_charset
            self.lower_case_names = bool(hub.get("lower_case_names", self.lower_case_names))
        if "databases" in hub:  # (baselines and database statements: the whole map)
            self.databases = dict(hub["databases"])
        for change in doc.get("tableChanges") or ():
            db, name = _parse_id(str(change["id"]))
            if change["type"] == "DROP":
                self.tables.pop(self.key(db, name), None)
                continue
            t = change["table"]
            self.put(TableDef(db, name, tuple(_column_of(c) for c in t["columns"]),
                              tuple(t.get("primaryKeyColumnNames") or ()),
                              t.get("defaultCharsetName"), bool(t.get("versioned"))))  # fmt: skip


def _implicit_timestamps(t: TableDef, defined: set[str]) -> TableDef:
    """A table as a statement under explicit_defaults_for_timestamp OFF leaves it (the
    server's promote_first_timestamp_column): its first TIMESTAMP column, when NOT NULL
    without a default or ON UPDATE, defaults to CURRENT_TIMESTAMP (the rows it had get the
    statement's time); any other the statement ``defined`` (casefolded names), when NOT NULL
    without a default, to the zero TIMESTAMP (the rows it had get that)."""
    columns = list(t.columns)
    first = next((i for i, c in enumerate(columns) if c.type_name == "timestamp"), None)
    for i, c in enumerate(columns):
        if c.type_name != "timestamp" or c.nullable or c.default is not None or c.generated:
            continue
        if i == first and not c.on_update:
            columns[i] = replace(c, default="current_timestamp()")
        elif c.name.casefold() in defined:
            columns[i] = replace(c, default=ddl.ZERO_DATETIME)
    return replace(t, columns=tuple(columns))


_NOT_CONSTANT = re.compile(
    r"\(.*|\w+\(\.\.\.\)|current_timestamp|current_date|current_time|localtime|"
    r"localtimestamp",
    re.IGNORECASE | re.DOTALL,
)


def _not_constant(default: str | None) -> bool:
    """A DEFAULT as `ddl` reads it that the server evaluates for each row: an expression in
    parentheses, a function call, CURRENT_TIMESTAMP and its kin."""
    return default is not None and bool(_NOT_CONSTANT.fullmatch(default.strip()))


def _keep_fill(before: ColumnSpec, after: ColumnSpec) -> ColumnSpec:
    """``after``, a column changed in place (SET DEFAULT, MODIFY), keeping the value the
    rows got when it was added, where its default now differs (a sink adding it fills them
    with that: `fills`)."""
    if before.added_fill is not None:
        return replace(after, added_fill=before.added_fill)
    if before.fill_default != after.fill_default:
        return replace(after, added_fill=(before.fill_default,))
    return after


def fills(table: TableDef | None) -> dict[str, str | None]:
    """The columns whose rows got another value when the column was added than its default
    now gives (`ColumnSpec.added_fill`): the text of that value (None: NULL)."""
    if table is None:
        return {}
    return {
        c.name: c.added_fill[0] for c in table.columns
        if c.added_fill is not None and c.added_fill[0] != c.fill_default
    }  # fmt: skip


def _if_exists(t: TableDef, actions: tuple[ddl.Action, ...]) -> tuple[ddl.Action, ...]:
    """The clauses of an ALTER TABLE that the server carries out: one with IF [NOT] EXISTS
    whose condition fails is left out (``DROP COLUMN IF EXISTS v, ADD COLUMN IF NOT EXISTS
    v`` drops v when the table has it, else adds it)."""
    before = {c.name.casefold() for c in t.columns}
    named: set[str] = set()  # the columns the kept ADD / CHANGE / MODIFY clauses define
    kept: list[ddl.Action] = []
    for a in actions:
        if isinstance(a, ddl.AddColumn) and a.if_not_exists:
            if a.column.name.casefold() in before | named:
                continue
        elif isinstance(a, ddl.DropColumn) and a.if_exists:
            if a.name.casefold() not in before:
                continue
        elif isinstance(a, ddl.ModifyColumn) and a.if_exists and a.old.casefold() not in before:
            continue
        if isinstance(a, ddl.AddColumn | ddl.ModifyColumn):
            named.add(a.column.name.casefold())
        kept.append(a)
    return tuple(kept)


def _to_binary(c: ColumnSpec) -> ColumnSpec:
    binary = ddl.BINARY_OF.get(c.type_name)
    return replace(c, type_name=binary, charset=None) if binary else c


# -- the stored history ----------------------------------------------------------------------
def record(
    server: str, position: Mapping[str, Any], at: tuple[str, int], ts_ms: int, db: str,
    sql: str, changes: Iterable[TableChange], hub: Mapping[str, Any] | None = None,
) -> bytes:  # fmt: skip
    return orjson.dumps({
        "source": {"server": server}, "position": dict(position), "ts_ms": ts_ms,
        "databaseName": db, "schemaName": None, "ddl": sql,
        "tableChanges": [change_json(c) for c in changes],
        "hub": {"at": list(at), **(hub or {})},
    })  # fmt: skip


def replay(values: Iterable[bytes | None], resume: tuple[str, int], schemas: Schemas) -> int:
    """Apply the stored records whose statements come before ``resume`` (a baseline: at or
    before it) to ``schemas``; how many applied."""
    applied = 0
    for value in values:
        if value is None:
            continue
        doc = orjson.loads(value)
        hub = doc.get("hub") or {}
        at = hub.get("at")
        if not at:
            continue
        if hub.get("baseline"):
            if precedes(list(resume), at):
                continue
        elif not precedes(at, list(resume)):
            continue
        schemas.load(doc)
        applied += 1
    return applied


def from_catalog(con: Any, mariadb: bool) -> Schemas:
    """Every base table's definition as the catalog has it now (outside system databases)."""
    from connectors.source.mysql.server import query, variables

    v = variables(con, "character_set_server", "lower_case_table_names")
    schemas = Schemas(v.get("character_set_server") or "utf8mb4", mariadb,
                      v.get("lower_case_table_names", "0") != "0")  # fmt: skip
    system = ",".join(f"'{s}'" for s in sorted(SYSTEM))
    for db, cs in query(
        con,
        "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM "
        f"information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ({system})",
    ):
        schemas.databases[str(db)] = None if cs is None else str(cs)
    charsets: dict[tuple[str, str], str | None] = {}
    versioned: set[tuple[str, str]] = set()
    for db, name, collation, type_ in query(con,
        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_COLLATION, TABLE_TYPE FROM "
        f"information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ({system}) AND TABLE_TYPE IN "
        "('BASE TABLE', 'SYSTEM VERSIONED')"):  # fmt: skip
        charsets[(str(db), str(name))] = (
            ddl.collation_charset(str(collation)) if collation is not None else None
        )
        if type_ == "SYSTEM VERSIONED":
            versioned.add((str(db), str(name)))
    columns: dict[tuple[str, str], list[ColumnSpec]] = {}
    for db, name, col, ctype, nullable, cs, collation, extra, default, comment in query(con,
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, "
        "CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, COLUMN_DEFAULT, COLUMN_COMMENT "
        f"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA NOT IN ({system}) "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"):  # fmt: skip
        key = (str(db), str(name))
        if key not in charsets:
            continue  # a view's columns
        try:
            spec = ddl.parse_type(str(col), str(ctype))
        except ddl.DdlError as exc:
            raise SchemaHistoryError(f"column {db}.{name}.{col}: {exc}") from None
        extra = str(extra or "").lower().replace("default_generated", "")  # (MySQL 8)
        if default is not None and str(default) == "NULL":  # MariaDB: the literal NULL
            default = None
        elif (
            default is not None
            and len(str(default)) > 1
            and str(default)[0] == "'"
            and (str(default)[-1] == "'")
        ):  # MariaDB quotes string defaults
            default = str(default)[1:-1].replace("''", "'")
        spec = replace(
            spec, nullable=nullable == "YES", charset=None if cs is None else str(cs),
            collation=None if collation is None else str(collation),
            auto_increment="auto_increment" in extra, on_update="on update" in extra,
            generated=any(w in extra for w in ("virtual", "stored", "persistent")),
            default=None if default is None else str(default), comment=str(comment or "") or None,
        )  # fmt: skip
        columns.setdefault(key, []).append(spec)
    _warn_of_question_marks(con, columns)
    keys: dict[tuple[str, str], list[str]] = {}
    for db, name, col in query(con,
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        f"WHERE INDEX_NAME = 'PRIMARY' AND TABLE_SCHEMA NOT IN ({system}) "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX"):  # fmt: skip
        keys.setdefault((str(db), str(name)), []).append(str(col))
    for (db, name), cs in charsets.items():
        cols = tuple(schemas.resolve(c, cs) for c in columns.get((db, name), ()))
        schemas.put(TableDef(db, name, cols, tuple(keys.get((db, name), ())), cs,
                             (db, name) in versioned))  # fmt: skip
    return schemas


def _warn_of_question_marks(con: Any, columns: Mapping[tuple[str, str], list[ColumnSpec]]) -> None:
    """MariaDB's and MySQL's catalogs (information_schema, SHOW CREATE TABLE: utf8mb3) show
    a character of an ENUM/SET label past U+FFFF (an emoji) as "?". With
    binlog_row_metadata=FULL the binlog carries the labels; otherwise the stream reads them
    from here, and such a label would be streamed as "?": say so for every label holding a
    "?" (it may be one), naming the column."""
    from connectors.source.mysql.server import variables

    odd = [(db, name, c) for (db, name), specs in columns.items() for c in specs
           if any("?" in v for v in c.labels)]  # fmt: skip
    if not odd:
        return
    metadata = variables(con, "binlog_row_metadata").get("binlog_row_metadata", "MINIMAL")
    if str(metadata).upper() == "FULL":
        return
    for db, name, c in odd:
        log.warning(
            "%s.%s.%s: the catalog shows its labels as %s; it shows a character past U+FFFF "
            "(an emoji) as '?', and with binlog_row_metadata=%s the stream takes the labels "
            "from it: if a '?' there stands for such a character, it is streamed as '?'. Set "
            "binlog_row_metadata=FULL (the binlog then carries the labels)",
            db, name, c.name, c.type_expression, metadata,
        )  # fmt: skip


# -- the connector's history: state, records, schema change events ---------------------------
TOPIC_CONFIG = {
    "retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete",
    "max.message.bytes": str(64 << 20),  # a table of thousands of columns is one record
}  # fmt: skip
_STR = {"type": "string", "optional": True}


def _field(name: str, type_: str, optional: bool = True, **more: Any) -> dict[str, Any]:
    return {"type": type_, "optional": optional, "field": name, **more}


_COLUMN_SCHEMA = {
    "type": "struct", "optional": False, "name": "io.debezium.connector.schema.Column",
    "fields": [
        _field("name", "string", False), _field("jdbcType", "int32", False),
        _field("nativeType", "int32"), _field("typeName", "string", False),
        _field("typeExpression", "string"), _field("charsetName", "string"),
        _field("length", "int32"), _field("scale", "int32"), _field("position", "int32", False),
        _field("optional", "boolean"), _field("autoIncremented", "boolean"),
        _field("generated", "boolean"), _field("comment", "string"),
        _field("defaultValueExpression", "string"),
        _field("enumValues", "array", items={"type": "string", "optional": False}),
    ],
}  # fmt: skip
_CHANGE_SCHEMA = {
    "type": "struct", "optional": False, "name": "io.debezium.connector.schema.Change",
    "fields": [
        _field("type", "string", False), _field("id", "string", False),
        {"type": "struct", "optional": True, "name": "io.debezium.connector.schema.Table",
         "field": "table", "fields": [
            _field("defaultCharsetName", "string"),
            _field("primaryKeyColumnNames", "array", items={"type": "string", "optional": False}),
            {"type": "array", "optional": False, "field": "columns", "items": _COLUMN_SCHEMA},
            _field("comment", "string"),
         ]},
    ],
}  # fmt: skip
_COLUMN_FIELDS = [
    "name", "jdbcType", "nativeType", "typeName", "typeExpression", "charsetName", "length",
    "scale", "position", "optional", "autoIncremented", "generated", "comment",
    "defaultValueExpression", "enumValues",
]  # fmt: skip


def _renames_as_alters(
    stmt: Statement, changes: list[TableChange], captured: Callable[[str, str], bool]
) -> list[TableChange]:
    """The statement's changes of captured tables; a rename's DROP of the old name and
    CREATE of the new (as the history records each renamed table: a pair) as one ALTER of
    the new name, as Debezium's schema change events have it (a rename out of the captured
    tables a DROP, one into them a CREATE)."""
    renames = isinstance(stmt, ddl.RenameTables) or (
        isinstance(stmt, ddl.AlterTable) and any(isinstance(a, ddl.RenameTo) for a in stmt.actions)
    )  # fmt: skip
    out: list[TableChange] = []
    i = 0
    while i < len(changes):
        c = changes[i]
        n = changes[i + 1] if i + 1 < len(changes) else None
        if renames and c.type == "DROP" and n is not None and n.type == "CREATE":
            was, now = captured(c.db, c.name), captured(n.db, n.name)
            if was and now:
                out.append(replace(n, type="ALTER"))
            elif was or now:
                out.append(c if was else n)
            i += 2
            continue
        if captured(c.db, c.name):
            out.append(c)
        i += 1
    return out


def _event_change(change: TableChange) -> dict[str, Any]:
    doc = change_json(change)
    t = doc.get("table")
    if t is None:
        return {"type": doc["type"], "id": doc["id"], "table": None}
    cols = [{k: c.get(k) for k in _COLUMN_FIELDS} for c in t["columns"]]
    return {"type": doc["type"], "id": doc["id"], "table": {
        "defaultCharsetName": t["defaultCharsetName"],
        "primaryKeyColumnNames": t["primaryKeyColumnNames"], "columns": cols, "comment": None,
    }}  # fmt: skip


def fill_defaults(table: TableDef | None) -> dict[str, str]:
    """The text of the value each column's field schema defaults to (`ColumnSpec.
    fill_default`: its DEFAULT, or for a NOT NULL column its type's implicit default; a key
    column's DEFAULT only): the same for the snapshot's events and the stream's."""
    if table is None:
        return {}
    return {
        c.name: d for c in table.columns
        if (d := c.fill_default if c.name not in table.primary_key else c.default) is not None
    }  # fmt: skip


_TEXT_LENGTHS = {"tinytext": 255, "tinyblob": 255, "text": 65_535, "blob": 65_535,
                 "mediumtext": 16_777_215, "mediumblob": 16_777_215,
                 "longtext": 4_294_967_295, "longblob": 4_294_967_295}  # fmt: skip


def declared_lengths(table: TableDef | None) -> dict[str, int]:
    """The text and binary columns' declared lengths (characters, or bytes): a hash mask is
    cut to it (`cdc.masks`)."""
    if table is None:
        return {}
    out = {}
    for c in table.columns:
        if c.type_name in ("char", "varchar", "binary", "varbinary") and c.args:
            out[c.name] = c.args[0]
        elif c.type_name in _TEXT_LENGTHS:
            out[c.name] = _TEXT_LENGTHS[c.type_name]
        elif c.type_name == "enum":  # (as Debezium's DDL parser sets them)
            out[c.name] = 1
        elif c.type_name == "set":
            out[c.name] = max(2 * len(c.labels) - 1, 1)
    return out


class SchemaHistory:
    """A connector's schema history: the state, the records that store it and the schema
    change events (``include.schema.changes``)."""

    def __init__(
        self, schemas: Schemas, topic: str, prefix: str, connector: str,
        partition: Mapping[str, Any], emit_changes: bool, skip_unparseable: bool, captured: Any,
        required: bool = True,
    ) -> None:  # fmt: skip
        from connectors.source.mysql.schema import mysql_source_schema

        self.schemas, self.topic, self.prefix, self.connector = schemas, topic, prefix, connector
        self.partition = dict(partition)
        self.emit_changes, self.skip_unparseable = emit_changes, skip_unparseable
        self.captured = captured  # (db, table) -> bool: the connector's table filter
        # the binlog has no column names (binlog_row_metadata MINIMAL, NO_LOG): events are
        # decoded with the history's definitions, so a DDL it cannot apply stops the task
        self.required = required
        # columns dropped from captured tables since the task started: one added again with
        # its name finds the sinks' column holding the old values (`_warn_of_stale_rows`)
        self._dropped_columns: dict[tuple[str, str], set[str]] = {}
        self.key_schema = {
            "type": "struct", "optional": False,
            "name": f"io.debezium.connector.{connector}.SchemaChangeKey",
            "fields": [_field("databaseName", "string", False)],
        }  # fmt: skip
        self.value_schema = {
            "type": "struct", "optional": False,
            "name": f"io.debezium.connector.{connector}.SchemaChangeValue",
            "fields": [
                {**mysql_source_schema(connector), "field": "source"},
                _field("ts_ms", "int64", False), _field("databaseName", "string"),
                _field("schemaName", "string"), _field("ddl", "string"),
                {"type": "array", "optional": False, "field": "tableChanges",
                 "items": _CHANGE_SCHEMA},
            ],
        }  # fmt: skip

    def _record(self, value: bytes, offset: Mapping[str, Any], replayable: bool = True) -> Any:
        from hub.runtime.api import SourceRecord

        return SourceRecord(self.topic, value, None, self.partition, dict(offset), partition=0,
                            encoded=True, replayable=replayable)  # fmt: skip

    def baseline(self, at: tuple[str, int], offset: Mapping[str, Any]) -> list[Any]:
        """Records that start the history over with every table (a new snapshot's)."""
        out = []
        now = _now_ms()
        for i, changes in enumerate(self.schemas.baseline()):
            hub: dict[str, Any] = {"baseline": True, "reset": i == 0}
            if i == 0:
                hub["server_charset"] = self.schemas.server_charset
                hub["lower_case_names"] = self.schemas.lower_case_names
                hub["databases"] = self.schemas.databases
            # not replayable: a restart may or may not write a baseline again (it finds
            # this one when it became durable), so its records must not take sequence numbers
            # that a replay of the change events counts on
            out.append(self._record(
                record(self.prefix, offset, at, now, "", "", changes, hub), offset, False
            ))  # fmt: skip
        return out

    def snapshot_changes(
        self, at: tuple[str, int], offset: Mapping[str, Any],
        show_create: Callable[[str, str], str],
    ) -> list[Any]:  # fmt: skip
        """A snapshot's schema change events (``include.schema.changes``): one CREATE TABLE
        per captured table, its statement as ``show_create(db, table)`` gives it, as
        Debezium's snapshot writes them to ``<topic.prefix>`` (source.snapshot true, the
        snapshot's binlog position). Not replayable: a resumed snapshot writes them again."""
        from hub.runtime.api import SourceRecord

        if not self.emit_changes:
            return []
        out = []
        now = _now_ms()
        tables = sorted((t for t in self.schemas.tables.values() if self.captured(t.db, t.name)),
                        key=lambda t: (t.db, t.name))  # fmt: skip
        for t in tables:
            source = {
                "version": VERSION, "connector": self.connector, "name": self.prefix,
                "ts_ms": now, "snapshot": "true", "db": t.db, "sequence": None,
                "ts_us": now * 1000, "ts_ns": now * 1_000_000, "table": t.name,
                "server_id": 0, "gtid": None, "file": at[0], "pos": at[1], "row": 0,
                "thread": None, "query": None,
            }  # fmt: skip
            value = {
                "source": source, "ts_ms": now, "databaseName": t.db, "schemaName": None,
                "ddl": show_create(t.db, t.name),
                "tableChanges": [_event_change(TableChange("CREATE", t.db, t.name, t))],
            }  # fmt: skip
            out.append(SourceRecord(
                self.prefix, value, {"databaseName": t.db}, self.partition, dict(offset),
                key_schema=self.key_schema, value_schema=self.value_schema, replayable=False,
            ))  # fmt: skip
        return out

    def ddl(
        self, sql: str, db: str, at: tuple[str, int], offset: Mapping[str, Any],
        source: Mapping[str, Any], emit: bool = True, backslash_escapes: bool = True,
        explicit_timestamps: bool = True,
    ) -> list[Any]:  # fmt: skip
        """Apply a statement; its history record and schema change event (``emit``).
        ``backslash_escapes`` False: it ran under sql_mode NO_BACKSLASH_ESCAPES;
        ``explicit_timestamps`` False: under explicit_defaults_for_timestamp OFF.

        One the history cannot parse, or apply (a column it does not know...), stops the
        task where the binlog has no column names (``required``) unless
        skip.unparseable.ddl; otherwise it is logged and skipped, and the tables it names
        are dropped from the history (a record says so), so none of them is decoded from a
        definition the history can no longer vouch for."""
        try:
            stmt = ddl.parse(sql, backslash_escapes, explicit_timestamps)
        except ddl.DdlError as exc:
            self._cannot(sql, at, exc, self.required)
            return []
        if stmt is None:
            return []
        hub: dict[str, Any] | None = None
        try:
            existed = {
                self.schemas.key(*t) for t in self.schemas.targets(stmt, db)
                if self.schemas.get(*t) is not None
            }  # fmt: skip
            changes = self.schemas.apply_statement(stmt, db, explicit_timestamps)
            mine = [c for c in changes if self.captured(c.db, c.name)]
            if mine and emit:
                self._warn_of_stale_rows(stmt, db, existed, mine)
        except SchemaHistoryError as exc:
            targets = self.schemas.targets(stmt, db)
            self._cannot(sql, at, exc, self.required and any(self.captured(*t) for t in targets))
            changes, mine, hub = self.schemas.forget(targets), [], {"forgotten": True}
        versioned = [c for c in mine if c.table is not None and c.table.versioned]
        if versioned:
            from connectors.source.mysql.server import ServerSetupError

            names = ", ".join(f"{c.db}.{c.name}" for c in versioned)
            raise ServerSetupError(
                f"table(s) {names} became SYSTEM VERSIONED by the DDL at {at[0]}:{at[1]} "
                f"({sql[:200]!r}), which hub does not capture yet (an update or delete would "
                "come as an insert of the row's history): leave them out with "
                "table.exclude.list (to capture one again, ALTER TABLE ... DROP SYSTEM "
                "VERSIONING, include it again and take an incremental snapshot of it)"
            )
        if isinstance(stmt, ddl.Database):
            hub = {"databases": self.schemas.databases}
        if not emit:
            return []
        now = _now_ms()
        out = [self._record(record(self.prefix, offset, at, now, db, sql, changes, hub), offset)]
        if self.emit_changes and mine:
            from hub.runtime.api import SourceRecord

            # as Debezium's: one event per table changed, named by its database (not the
            # session's default one, which may be another), a renamed table's as an ALTER of
            # its new name (a consumer applying the events to a copy renames it: a DROP and a
            # CREATE lost the rows)
            for c in _renames_as_alters(stmt, changes, self.captured):
                value = {
                    "source": {**source, "db": c.db, "table": c.name}, "ts_ms": now,
                    "databaseName": c.db, "schemaName": None, "ddl": sql,
                    "tableChanges": [_event_change(c)],
                }  # fmt: skip
                out.append(SourceRecord(
                    self.prefix, value, {"databaseName": c.db}, self.partition, dict(offset),
                    key_schema=self.key_schema, value_schema=self.value_schema,
                ))  # fmt: skip
        return out

    def _warn_of_stale_rows(
        self, stmt: Statement, db: str, existed: set[tuple[str, str]], mine: list[TableChange]
    ) -> None:
        """Warn when a statement leaves the sinks' rows other than the source's with no row
        event to say so (as the PostgreSQL source does): a captured table dropped (its rows
        stay in the sinks, and a table created again with its name adds its own to them),
        replaced (CREATE OR REPLACE) or renamed (its rows stay under the old name), a column
        renamed (the sinks' rows have the new one NULL) or dropped and added again (they keep
        the old values)."""
        said: dict[tuple[str, str], list[str]] = {}
        renames: list[tuple[tuple[str, str], tuple[str, str]]] = []
        if isinstance(stmt, ddl.RenameTables):
            renames = [((o[0] or db, o[1]), (n[0] or db, n[1])) for o, n in stmt.pairs]
        elif isinstance(stmt, ddl.AlterTable):
            renames = [((stmt.db or db, stmt.name), (a.db or stmt.db or db, a.name))
                       for a in stmt.actions if isinstance(a, ddl.RenameTo)]  # fmt: skip
        for old, new in renames:  # (pairs as the statement writes them: a swap's cut-over)
            old_in, new_in = self.captured(*old), self.captured(*new)
            if old_in and new_in:
                said.setdefault(old, []).append(
                    f"it was renamed {new[0]}.{new[1]}: the sinks keep its rows under its old "
                    "name, and the new name's table gets only the rows changed from now on"
                )
            elif old_in:
                said.setdefault(old, []).append(
                    f"it was renamed {new[0]}.{new[1]}, which is not captured: the sinks keep "
                    "its rows"
                )
            elif new_in:
                said.setdefault(new, []).append(
                    f"{old[0]}.{old[1]}, which is not captured, was renamed to it: the sinks "
                    "get only the rows of it changed from now on, beside the rows they had"
                )
        if not renames:
            for c in (c for c in mine if c.type == "DROP"):
                said.setdefault((c.db, c.name), []).append(
                    "it was dropped: the sinks keep the rows it had (a table created again "
                    "with its name adds its rows to them)"
                )
            for c in (c for c in mine if c.type == "CREATE"):
                if self.schemas.key(c.db, c.name) in existed:
                    said.setdefault((c.db, c.name), []).append(
                        "it was replaced (CREATE OR REPLACE): the sinks keep the rows the old "
                        "table had"
                    )
        if isinstance(stmt, ddl.AlterTable):
            self._partition_rows(stmt, db, said)
            table = next((c for c in reversed(mine) if c.table is not None), None)
            if table is not None:
                where = (table.db, table.name)
                gone = self._dropped_columns.setdefault(self.schemas.key(*where), set())
                for a in stmt.actions:
                    if isinstance(a, ddl.DropColumn):
                        gone.add(a.name.lower())
                    elif isinstance(a, ddl.AddColumn) and a.column.name.lower() in gone:
                        gone.discard(a.column.name.lower())
                        said.setdefault(where, []).append(
                            f"column {a.column.name!r} was dropped and added again: the sinks' "
                            "rows keep their old values until their next change"
                        )
                    elif isinstance(a, ddl.AddColumn) and (
                        a.column.generated or a.column.auto_increment
                    ):  # fmt: skip
                        # (each row got the server's value; a VIRTUAL one changes with the
                        # row's other columns only)
                        kind = "a generated" if a.column.generated else "an AUTO_INCREMENT"
                        said.setdefault(where, []).append(
                            f"column {a.column.name!r} was added as {kind} column: the "
                            "sinks' rows have it NULL until their next change"
                        )
                    elif isinstance(a, ddl.AddColumn) and _not_constant(a.column.default):
                        # (each row got the server's value: CURRENT_TIMESTAMP, UUID()...; a
                        # sink adding the column has none to fill its rows with)
                        said.setdefault(where, []).append(
                            f"column {a.column.name!r} was added with a default that is not a "
                            f"constant ({a.column.default}): the sinks' rows have it NULL "
                            "until their next change"
                        )
                    elif isinstance(a, ddl.RenameColumn | ddl.ModifyColumn):
                        was, now = (
                            (a.old, a.new) if isinstance(a, ddl.RenameColumn)
                            else (a.old, a.column.name)
                        )  # fmt: skip
                        if was.lower() != now.lower():
                            said.setdefault(where, []).append(
                                f"column {was!r} was renamed {now!r}: the sinks' rows have it "
                                "NULL (or its default) until their next change"
                            )
        for (db, name), what in said.items():
            log.warning(
                "table %s.%s: %s; to bring the sinks' rows in line, signal an incremental "
                "snapshot of the table (execute-snapshot)", db, name, "; ".join(what),
            )  # fmt: skip

    def _partition_rows(
        self, stmt: AlterTable, db: str, said: dict[tuple[str, str], list[str]]
    ) -> None:
        """The captured tables a partition operation changed the rows of without row events
        (Debezium's events say nothing of them either)."""
        table = (stmt.db or db, stmt.name)
        for a in stmt.actions:
            if not isinstance(a, ddl.PartitionRows):
                continue
            other = (a.other[0] or db, a.other[1]) if a.other is not None else None
            name = f"{other[0]}.{other[1]}" if other is not None else ""
            lines: dict[str, list[tuple[tuple[str, str] | None, str]]] = {
                "TRUNCATE": [
                    (
                        table,
                        "the rows of a partition were deleted (TRUNCATE "
                        "PARTITION): the sinks keep them",
                    )
                ],
                "DROP": [
                    (
                        table,
                        "a partition was dropped with its rows (DROP PARTITION): "
                        "the sinks keep them",
                    )
                ],
                "DISCARD": [
                    (
                        table,
                        "its tablespace was discarded (DISCARD TABLESPACE): the sinks keep "
                        "the rows it had",
                    ),
                ],
                "IMPORT": [
                    (
                        table,
                        "a tablespace was imported into it (IMPORT TABLESPACE): the sinks "
                        "lack the rows it brought",
                    ),
                ],
                "EXCHANGE": [
                    (
                        table,
                        f"a partition's rows were exchanged with {name}'s (EXCHANGE "
                        "PARTITION): the sinks keep the rows it had, and lack the ones it got",
                    ),
                    (
                        other,
                        f"its rows were exchanged with a partition of {table[0]}."
                        f"{table[1]} (EXCHANGE PARTITION): the sinks keep the rows it had, and "
                        "lack the ones it got",
                    ),
                ],
                "CONVERT": [
                    (
                        table,
                        f"a partition was made the table {name} (CONVERT PARTITION): the "
                        "sinks keep its rows",
                    ),
                    (
                        other,
                        f"it was made of a partition of {table[0]}.{table[1]} (CONVERT "
                        "PARTITION): the sinks get only the rows changed from now on",
                    ),
                ],
                "INTO": [
                    (
                        table,
                        f"the table {name} was made a partition of it (CONVERT TABLE): "
                        "the sinks lack its rows",
                    ),
                    (
                        other,
                        f"it was made a partition of {table[0]}.{table[1]} (CONVERT TABLE): "
                        "the sinks keep its rows",
                    ),
                ],
            }
            for where, line in lines.get(a.verb, []):
                if where is not None and self.captured(*where):
                    said.setdefault(where, []).append(line)

    def _cannot(self, sql: str, at: tuple[str, int], exc: Exception, stop: bool) -> None:
        where = f"{at[0]}:{at[1]}"
        if stop and not self.skip_unparseable:
            raise SchemaHistoryError(
                f"the binlog at {where} has a DDL statement the schema history cannot apply "
                f"({exc}): {sql[:300]!r}. Set schema.history.internal.skip.unparseable.ddl="
                "true to skip it (the tables it names are then dropped from the history: "
                "their events stop the task until binlog_row_metadata=FULL names their "
                "columns), or set binlog_row_metadata=FULL on the server"
            ) from None
        log.warning("skipped a DDL statement at %s the schema history cannot apply (%s): %s",
                    where, exc, sql[:300])  # fmt: skip


def _now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000
