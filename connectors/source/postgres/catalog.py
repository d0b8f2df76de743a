"""What the source reads from the system catalogs: server settings, captured tables, their
columns and keys, and the user-defined types (enums, domains, arrays of them, hstore) the
type mapper needs. Plain SQL over a normal (non-replication) psycopg connection."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.source.cdc.filters import Filters
from connectors.source.postgres.config import PostgresSourceConfig
from connectors.source.postgres.errors import ServerSetupError
from connectors.source.postgres.types import TypeMapper

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import psycopg

    from connectors.source.postgres.config import PostgresSourceConfig


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    type_oid: int
    typmod: int
    not_null: bool
    type_name: str  # format_type(): what a literal is cast to
    default: str | None = None  # a constant default's text (`literal_default`); None: none
    attnum: int = 0  # its number in the table: a column dropped and added again gets another
    volatile_default: bool = False  # a default that is not a constant (now(), nextval(...))
    collation: str | None = None  # one other than the database's default: it orders keys
    # the text of the value the table's rows got when the column was added (the missing
    # value PostgreSQL keeps: a default changed or dropped since, now() evaluated once), or
    # else its constant default: what a sink adding the column fills the rows it has with
    fill: str | None = None
    missing: str | None = None  # the kept value alone (None: none kept, or PostgreSQL < 11)


_QUOTED = re.compile(r"'((?:[^']|'')*)'(?:::[\w .\[\]\"]+)*")
_NUMBER = re.compile(r"\(?(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\)?(?:::[\w .\[\]\"]+)*")


def literal_default(expr: str | None) -> str | None:
    """A column default that is a constant (``5``, ``'-5'::integer``, ``'abc'::text``,
    ``true``) as the text of its value, as pgoutput would send it; None for an expression
    (``now()``, ``nextval(...)``), whose value the rows that were there do not share."""
    if expr is None:
        return None
    m = _QUOTED.fullmatch(expr)
    if m is not None:
        return m.group(1).replace("''", "'")
    m = _NUMBER.fullmatch(expr)
    if m is not None:
        return m.group(1)
    if expr in ("true", "false"):
        return expr[0]
    return None


@dataclass(frozen=True, slots=True)
class TableInfo:
    oid: int
    schema: str
    name: str
    replica_identity: str  # d(efault), f(ull), i(ndex), n(othing)
    primary_key: tuple[str, ...]
    columns: tuple[ColumnInfo, ...]
    estimated_rows: int
    identity_index: tuple[str, ...] = ()  # REPLICA IDENTITY USING INDEX: its columns
    # its primary key is DEFERRABLE: never the replica identity (PostgreSQL takes only an
    # immediate one), and two rows may hold one key inside a transaction
    deferrable_key: bool = False
    # the file the rows are in: a rewrite (VACUUM FULL, CLUSTER, ALTER ... TYPE, TRUNCATE)
    # gives it a new one, and clears every column's kept value (`ColumnInfo.missing`)
    relfilenode: int = 0

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def identity(self) -> tuple[str, ...] | None:
        """The columns the WAL carries of a deleted (or re-keyed) row; None: all of them."""
        if self.replica_identity == "f":
            return None
        if self.replica_identity == "i":
            return self.identity_index
        if self.replica_identity == "d" and not self.deferrable_key:
            return self.primary_key
        return ()

    def lacks_identity(self) -> bool:
        """PostgreSQL cannot log the key of its updated and deleted rows, and refuses their
        UPDATE and DELETE once the table is published: no (immediate) primary key, and
        REPLICA IDENTITY DEFAULT or NOTHING (a keyed table with NOTHING: its inserts, whole)."""
        if self.replica_identity == "n":  # (a keyed table's inserts are whole: captured)
            return not self.primary_key
        return self.replica_identity == "d" and (not self.primary_key or self.deferrable_key)


def quote(name: str) -> str:
    """A quoted identifier (its quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def check_server(conn: psycopg.Connection[tuple[Any, ...]], cfg: PostgresSourceConfig) -> int:
    """Fail clearly unless the server can serve logical replication to this role; return the
    server version number."""
    row = conn.execute(
        "SELECT current_setting('wal_level'), current_setting('server_version_num')::int, "
        "r.rolreplication OR r.rolsuper, current_setting('server_encoding') FROM pg_roles r "
        "WHERE r.rolname = current_user"
    ).fetchone()
    assert row is not None
    wal_level, version, can_replicate, encoding = row
    where = cfg.where()
    if encoding == "SQL_ASCII":
        log.warning(
            "%s: the database's encoding is SQL_ASCII, which holds any bytes unchecked: a "
            "text value that is not UTF-8 stops the connector at that row (the server's "
            "'invalid byte sequence for encoding \"UTF8\"'), again at each restart; "
            "convert the database to UTF8 (dump and restore) to capture it",
            where,
        )  # fmt: skip
    if version < 100000:
        raise ServerSetupError(f"{where}: PostgreSQL {version // 10000} has no pgoutput; use 10+")
    if wal_level != "logical":
        raise ServerSetupError(
            f"{where}: wal_level is {wal_level!r}, logical decoding needs 'logical': run "
            f"ALTER SYSTEM SET wal_level = logical and restart the server"
        )
    if not can_replicate:
        raise ServerSetupError(
            f"{where}: role {cfg.user!r} may not start replication: run ALTER ROLE "
            f"{cfg.user} WITH REPLICATION (and grant it SELECT on the captured tables)"
        )
    return int(version)


# the columns, in order, of the table's index that has ``flag`` (its primary key, its replica
# identity index)
_INDEX_COLUMNS = """coalesce((SELECT array_agg(a.attname::text ORDER BY k.i)
                 FROM pg_index x CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY k(attnum, i)
                 JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                 WHERE x.indrelid = c.oid AND x.{flag}), '{{}}')"""

_TABLES = f"""
SELECT c.oid, n.nspname, c.relname, c.relreplident,
       greatest(c.reltuples, pg_stat_get_live_tuples(c.oid), 0)::bigint,
       {_INDEX_COLUMNS.format(flag="indisprimary")},
       {_INDEX_COLUMNS.format(flag="indisreplident")},
       EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisprimary
               AND NOT x.indimmediate),
       c.relfilenode
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence = 'p' {{where}}
ORDER BY n.nspname, c.relname
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
       format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid), a.attnum,
       CASE WHEN a.attcollation IN (0, 100) THEN NULL
            ELSE (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.collname)
                  FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
                  WHERE c.oid = a.attcollation) END,
       {missing}
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attrelid, a.attnum
"""


# The value the rows a table had when a column was added hold (PostgreSQL 11 on keeps it, a
# one-element array, instead of rewriting the table, for a constant or stable default: now()
# included): the column's default may have changed or been dropped since (Django's AddField
# adds a column with a default and drops the default at once), and the sinks fill the rows
# they had with this value (`ColumnInfo.fill`), not today's default. As text, as pgoutput
# sends values (a box's delimiter is ';': array_to_string, not a cast to text[]); NULL
# elements read as chr(2).
_MISSING = (
    "CASE WHEN a.atthasmissing THEN "
    "nullif(array_to_string(a.attmissingval, chr(1), chr(2)), chr(2)) END"
)


def partitions(conn: psycopg.Connection[tuple[Any, ...]], oid: int) -> list[tuple[str, str]]:
    """The partitions, at every level, of the partitioned table ``oid`` (schema, name); none
    for another relation."""
    return [(str(s), str(n)) for s, n in conn.execute("""
        WITH RECURSIVE part(oid) AS (
            SELECT inhrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
            WHERE i.inhparent = %s AND p.relkind = 'p'
            UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN part ON i.inhparent = part.oid)
        SELECT n.nspname, c.relname FROM part JOIN pg_class c ON c.oid = part.oid
        JOIN pg_namespace n ON n.oid = c.relnamespace""", (oid,)).fetchall()]  # fmt: skip


def tables(
    conn: psycopg.Connection[tuple[Any, ...]], filters: Filters, oid: int | None = None
) -> list[TableInfo]:
    """The captured tables (or the one with ``oid``, if captured), sorted by name."""
    where, params = ("AND c.oid = %s", (oid,)) if oid is not None else ("", ())
    rows = [
        r
        for r in conn.execute(_TABLES.replace("{where}", where), params).fetchall()
        if not PostgresSourceConfig.system_namespace(r[1]) and filters.table(r[1], r[2])
    ]
    columns: dict[int, list[ColumnInfo]] = {}
    if rows:
        missing = _MISSING if conn.info.server_version >= 110000 else "NULL::text"
        for row in conn.execute(_COLUMNS.format(missing=missing), ([r[0] for r in rows],)):
            relid, name, oid, typmod, not_null, type_name, default, attnum, coll, kept = row
            literal = literal_default(default)
            columns.setdefault(relid, []).append(ColumnInfo(
                name, oid, typmod, not_null, type_name, literal, attnum,
                kept is None and default is not None and literal is None
                and default.upper() != "NULL", coll, kept if kept is not None else literal, kept,
            ))  # fmt: skip
    return [
        TableInfo(
            r[0],
            r[1],
            r[2],
            r[3],
            tuple(r[5]),
            tuple(columns.get(r[0], ())),
            r[4],
            tuple(r[6]),
            bool(r[7]),
            int(r[8]),
        )  # fmt: skip
        for r in rows
    ]


_TABLE_NAMES = """
SELECT n.nspname, c.relname, c.oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence = 'p'
"""


def captured_ids(conn: psycopg.Connection[tuple[Any, ...]], filters: Filters) -> dict[str, int]:
    """The captured tables' OIDs by name, ``schema.table``: `tables`' without describing
    them."""
    return {
        f"{s}.{t}": int(oid) for s, t, oid in conn.execute(_TABLE_NAMES).fetchall()
        if not PostgresSourceConfig.system_namespace(s) and filters.table(s, t)
    }  # fmt: skip


def type_mapper(
    conn: psycopg.Connection[tuple[Any, ...]], cfg: PostgresSourceConfig
) -> tuple[TypeMapper, dict[int, tuple[int, int]]]:
    """A `TypeMapper` that knows this database's enums, arrays of user types and hstore, and
    the domains: ``{domain oid: (base type oid, base typmod)}``."""
    rows = conn.execute(
        "SELECT t.oid, t.typtype, t.typbasetype, t.typtypmod, t.typelem, t.typname, "
        "  (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e "
        "   WHERE e.enumtypid = t.oid) "
        "FROM pg_type t WHERE t.oid >= 16384"
    ).fetchall()
    enums = {r[0]: tuple(r[6] or ()) for r in rows if r[1] == "e"}
    domains: dict[int, tuple[int, int]] = {r[0]: (r[2], r[3]) for r in rows if r[1] == "d"}
    for oid in list(domains):  # a domain over a domain: follow to the base type
        base, typmod = domains[oid]
        for _ in range(16):
            if base not in domains:
                break
            base, inner = domains[base]
            typmod = typmod if typmod >= 0 else inner
        domains[oid] = (base, typmod)
    hstore = next((r[0] for r in rows if r[5] == "hstore"), None)
    arrays = {}
    for r in rows:
        if r[5].startswith("_") and r[4]:
            elem = domains.get(r[4], (r[4], -1))[0]
            arrays[r[0]] = elem
    kwargs: dict[str, Any] = {"enums": enums, "arrays": arrays, "hstore_oid": hstore,
                              "money_shift": _money_shift(conn, cfg)}  # fmt: skip
    mapper = TypeMapper.from_config(cfg.model_dump(by_alias=True), **kwargs)
    return mapper, domains


def _money_shift(conn: psycopg.Connection[tuple[Any, ...]], cfg: PostgresSourceConfig) -> int:
    """How far a money value read as the C locale prints it (two fraction digits, as the
    connector's sessions set ``lc_monetary``) is from its value: ``money`` stores a count of
    the minor unit of the database's own ``lc_monetary`` (yen: 0 fraction digits, so 1000 yen
    prints as 10.00 under C; dinar: 3). 0 without money columns; else 2 minus the digits of a
    session as the applications have it (the database's and role's defaults)."""
    used = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attnum > 0 AND NOT a.attisdropped AND (t.oid IN (790, 791) "
        "OR t.typbasetype IN (790, 791) OR t.typelem = 790))"
    ).fetchone()
    if not used or not used[0]:
        return 0
    import psycopg

    default = "-c DateStyle=ISO"  # (the other settings as the connector's; lc_monetary not)
    with psycopg.connect(cfg.conninfo(options=default), autocommit=True) as plain:
        row = plain.execute("SELECT scale(0::money::numeric)").fetchone()
    return 2 - int(row[0]) if row else 0


def unkeyed_changes(
    tables: list[TableInfo], filters: Filters, skipped: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """The tables whose deleted (or re-keyed) rows the WAL would carry without their message
    key: keyed by columns their replica identity does not hold (REPLICA IDENTITY USING INDEX
    of other columns, message.key.columns outside the identity), or without a key and with an
    index identity (whose updates and deletes a sink could only append). One line each; none
    when updates and deletes are both in ``skipped`` (skipped.operations)."""
    out: list[str] = []
    if {"u", "d"} <= set(skipped):
        return out
    for t in tables:
        identity = t.identity()
        if identity is None or t.replica_identity == "n" or t.lacks_identity():
            continue  # (all of the row; or NOTHING: PostgreSQL refuses its updates, deletes)
        key = filters.key_override(t.schema, t.name, [c.name for c in t.columns]) or t.primary_key
        if key and set(key) <= set(identity):
            continue
        if not key and t.replica_identity != "i":
            continue  # (no key and no identity: ReplicaIdentityError's)
        out.append(unkeyed_line(t.qualified, key, identity))
    return out


def names(
    conn: psycopg.Connection[tuple[Any, ...]], columns: bool
) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    """The database's schemas, and its tables with (when ``columns``) their columns' names,
    outside the system schemas: names only, for the lists' check (`Filters.unmatched`)."""
    system = PostgresSourceConfig.system_namespace
    spaces = [str(n) for (n,) in conn.execute("SELECT nspname FROM pg_namespace") if not system(n)]
    found: dict[tuple[str, str], list[str]] = {}
    for ns, rel in conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')"
    ):
        if not system(ns):
            found[(str(ns), str(rel))] = []
    if columns:
        for ns, rel, col in conn.execute(
            "SELECT n.nspname, c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON "
            "c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
            "c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
        ):
            if (str(ns), str(rel)) in found:
                found[(str(ns), str(rel))].append(str(col))
    return spaces, [(ns, rel, cols) for (ns, rel), cols in found.items()]


def uncaptured(
    conn: psycopg.Connection[tuple[Any, ...]], filters: Filters, partitioned: bool = True
) -> tuple[list[str], set[str], list[str]]:
    """Tables the lists match whose rows would not be captured, without a word otherwise:
    partitioned tables (relkind 'p': their rows are in their partitions, which hub captures
    as tables of their own) of which the lists take no partition, as one line each; the
    partitions the lists leave out of partitioned tables they match (left out on purpose
    when some others are taken; a running task names those made since its start); and
    UNLOGGED tables (their changes are not in the WAL)."""
    system = PostgresSourceConfig.system_namespace
    rows = conn.execute(
        "SELECT n.nspname, c.relname, c.relkind, c.oid FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE (c.relkind = 'p' AND %s) OR (c.relkind = 'r' AND c.relpersistence = 'u')",
        (partitioned,),
    ).fetchall()
    roots, left, unlogged = [], set(), []
    for ns, rel, kind, oid in rows:
        if system(ns) or not filters.table(ns, rel):
            continue
        if kind == "r":
            unlogged.append(f"{ns}.{rel}")
            continue
        leaves = _leaves(conn, oid)
        out = [f"{s}.{n}" for s, n in leaves if not filters.table(s, n)]
        left.update(out)
        if leaves and len(out) == len(leaves):  # (named alone: nothing of it captured)
            roots.append(f"{ns}.{rel} is a partitioned table, whose rows are in its partitions: "
                         f"hub captures each partition as a table of its own, and the lists "
                         f"take none of them ({', '.join(sorted(out))})")  # fmt: skip
    return roots, left, sorted(unlogged)


def _leaves(conn: psycopg.Connection[tuple[Any, ...]], oid: int) -> list[tuple[str, str]]:
    """The partitions holding rows (at every level) of the partitioned table ``oid``."""
    return [(str(s), str(n)) for s, n in conn.execute("""
        WITH RECURSIVE part(oid) AS (
            SELECT inhrelid FROM pg_inherits WHERE inhparent = %s
            UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN part ON i.inhparent = part.oid)
        SELECT n.nspname, c.relname FROM part JOIN pg_class c ON c.oid = part.oid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r'""", (oid,)
    ).fetchall()]  # fmt: skip


def via_root(conn: psycopg.Connection[tuple[Any, ...]], publication: str) -> bool:
    """Whether the publication exists and publishes partitions' changes as their root's
    (a partitioned table captured as one table: its partitions are left out)."""
    row = conn.execute(
        "SELECT pubviaroot FROM pg_publication WHERE pubname = %s", (publication,)
    ).fetchone()
    return bool(row and row[0])


def row_security(conn: psycopg.Connection[tuple[Any, ...]], tables: list[TableInfo]) -> list[str]:
    """The tables with row-level security whose policies apply to this role (neither a
    superuser, nor BYPASSRLS, nor the owner of a table without FORCE ROW LEVEL SECURITY): a
    snapshot would read only the rows they show it, while the stream gets every change."""
    if not tables:
        return []
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
        "c.relnamespace, pg_roles r WHERE r.rolname = current_user AND c.oid = ANY(%s) "
        "AND c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls) AND "
        "(c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE'))",
        ([t.oid for t in tables],),
    ).fetchall()  # fmt: skip
    return sorted(f"{ns}.{rel}" for ns, rel in rows)


def row_security_problem(user: str, names: list[str]) -> str:
    return (
        f"{', '.join(names)} have row-level security policies that apply to {user}: a "
        "snapshot reads only the rows they show it, while the stream gets every change (if "
        "they hide rows, the sinks miss them, and hub verify, reading as it, cannot tell); let "
        f"it read them all (ALTER ROLE {user} BYPASSRLS), or leave them out (table.exclude.list)"
    )


UNLOGGED_LINE = (
    "UNLOGGED: their changes are not in the WAL, so hub cannot capture them (nor can any "
    "logical replication); ALTER TABLE ... SET LOGGED to capture them (then signal an "
    "incremental snapshot to copy their rows), or leave them out (table.exclude.list)"
)


def missing_key_columns(tables: list[TableInfo], filters: Filters) -> list[str]:
    """The tables message.key.columns keys by columns they do not have, one line each (it
    had been said as a replica identity that does not hold the key)."""
    out = []
    for t in tables:
        names = [c.name for c in t.columns]
        missing = [c for c in filters.key_override(t.schema, t.name, names) or () if c not in names]
        if missing:
            out.append(f"{t.qualified} has no column {', '.join(missing)} (its columns: "
                       f"{', '.join(names)})")  # fmt: skip
    return out


def unkeyed_line(table: str, key: Sequence[str], identity: Sequence[str]) -> str:
    """One table's line of `KeyOutsideIdentityError`."""
    return (
        f"{table}: keyed by ({', '.join(key) or 'nothing'}), its replica identity holds "
        f"({', '.join(identity)})"
    )
