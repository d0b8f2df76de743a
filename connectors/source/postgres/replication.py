"""Slot and publication management, over a normal connection (SQL functions and DDL).

The slot itself is created over the replication connection (`protocol.stream`), because only
``CREATE_REPLICATION_SLOT`` there can export a snapshot for a consistent initial read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.source.postgres.catalog import TableInfo
from connectors.source.postgres.errors import ServerSetupError, SlotInUseError
from hub.errors import ConfigError

if TYPE_CHECKING:
    import psycopg

    from connectors.source.postgres.config import PostgresSourceConfig

log = logging.getLogger(__name__)

Conn = Any  # psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class SlotState:
    name: str
    plugin: str | None
    database: str | None
    active_pid: int | None
    confirmed_flush: int | None
    restart_lsn: int | None
    # invalidated (wal_status 'lost': the server removed WAL it still needed, past
    # max_slot_wal_keep_size): nothing can be streamed from it any more
    lost: bool = False


def _lsn(text: str | None) -> int | None:
    if text is None:
        return None
    hi, _, lo = str(text).partition("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def slot_state(conn: psycopg.Connection[Any], slot: str) -> SlotState | None:
    row = conn.execute(
        "SELECT slot_name, plugin, database, active_pid, confirmed_flush_lsn::text, "
        "restart_lsn::text, wal_status FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    ).fetchone()
    if row is None:
        return None
    return SlotState(row[0], row[1], row[2], row[3], _lsn(row[4]), _lsn(row[5]), row[6] == "lost")


def open_transactions(conn: psycopg.Connection[Any], waiter: int) -> list[str]:
    """The transactions the backend ``waiter`` (a replication connection making a slot)
    waits for, as a user ends them: from pg_locks, which every role reads (pg_stat_activity
    hides other roles' transactions from a role without pg_read_all_stats, the connector's
    usual one); a prepared transaction (it outlives sessions and server restarts) by its
    gid, a session by its pid. Each prepared transaction is named too: the slot waits for
    them one after the other."""
    rows = conn.execute(
        "SELECT DISTINCT h.pid, p.gid, a.usename, a.datname "
        "FROM pg_locks w JOIN pg_locks h ON h.locktype = 'transactionid' "
        "AND h.transactionid = w.transactionid AND h.granted "
        "LEFT JOIN pg_prepared_xacts p ON p.transaction = h.transactionid "
        "LEFT JOIN pg_stat_activity a ON a.pid = h.pid "
        "WHERE w.pid = %s AND w.locktype = 'transactionid' AND NOT w.granted",
        (waiter,),
    ).fetchall()
    prepared = conn.execute("SELECT gid, database, owner FROM pg_prepared_xacts").fetchall()
    out = []
    for pid, gid, user, db in rows:
        if gid is None and pid is not None:
            out.append(f"session {pid} ({user or 'another role'}@{db or '?'}): end its "
                       f"transaction, or SELECT pg_terminate_backend({pid})")  # fmt: skip
    for gid, database, owner in prepared:
        quoted = "'" + str(gid).replace("'", "''") + "'"
        out.append(f"prepared transaction {quoted} (database {database}, by {owner}): COMMIT "
                   f"PREPARED {quoted} or ROLLBACK PREPARED {quoted}")  # fmt: skip
    return out


def check_slot(state: SlotState, cfg: PostgresSourceConfig) -> None:
    """The slot exists: is it ours to stream from?"""
    if state.plugin != "pgoutput" or state.database != cfg.dbname:
        raise ConfigError(
            f"replication slot {state.name!r} exists but is a {state.plugin or 'physical'} slot "
            f"of database {state.database!r}: this connector needs a pgoutput slot of "
            f"{cfg.dbname!r}; choose another slot.name or drop that slot"
        )
    if state.active_pid is not None:
        raise SlotInUseError(state.name, state.active_pid)


def drop_slot(conn: psycopg.Connection[Any], slot: str, wait: float = 5.0) -> None:
    """Drop ``slot`` if it exists, waiting up to ``wait`` s for a just-closed stream of ours
    to let go of it."""
    deadline = time.monotonic() + wait
    while True:
        state = slot_state(conn, slot)
        if state is None:
            return
        if state.active_pid is None:
            break
        if time.monotonic() >= deadline:
            raise SlotInUseError(slot, state.active_pid)
        time.sleep(0.05)
    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _refuse_via_root(conn: psycopg.Connection[Any], name: str, tables: list[TableInfo]) -> None:
    """A publication with ``publish_via_partition_root`` streams a partition's changes as its
    root table's, while the snapshot reads the partitions: the rows of one table would be
    split over two topics (a snapshotted row's delete in the other). Refused while a captured
    table is a partition."""
    parts = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
        "c.relnamespace WHERE c.relispartition AND c.oid = ANY(%s) ORDER BY 1, 2",
        ([t.oid for t in tables],),
    ).fetchall()
    if parts:
        shown = ", ".join(f"{s}.{t}" for s, t in parts[:5]) + (" ..." if len(parts) > 5 else "")
        raise ConfigError(
            f"publication {name!r} has publish_via_partition_root = true, which hub does not "
            f"support yet (it would stream the changes of partitions {shown} as their root "
            f"table's, which the snapshot reads as themselves): ALTER PUBLICATION {name} SET "
            "(publish_via_partition_root = false), or exclude the partitions"
        )


def unpublished_tables(
    conn: psycopg.Connection[Any], name: str, tables: list[TableInfo]
) -> list[str]:
    """The captured tables an existing publication does not publish (``schema.table``)."""
    if not tables:
        return []
    published = _published(conn, name)
    return [f"{t.schema}.{t.name}" for t in tables if (t.schema, t.name) not in published]


def _published(conn: psycopg.Connection[Any], name: str) -> set[tuple[str, str]]:
    """The tables a publication publishes now, (schema, name)."""
    return {
        (str(s), str(t)) for s, t in conn.execute(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (name,)
        ).fetchall()
    }  # fmt: skip


_UNPUBLISHED_NOW = """
SELECT n.nspname, c.relname, c.relispartition
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND NOT EXISTS (
    SELECT 1 FROM pg_publication_tables t
    WHERE t.pubname = %s AND t.schemaname = n.nspname AND t.tablename = c.relname)
"""


# a publication's entries: each table entry with its table and, through pg_inherits (which,
# unlike pg_partition_tree, takes no lock on a partition another session holds exclusively),
# its partitions; then (PostgreSQL 15) each schema entry with its schema's tables; and the
# publication itself as entry -oid, without tables
_MEMBERS = """
WITH RECURSIVE pub AS (SELECT oid FROM pg_publication WHERE pubname = %(name)s),
tree(entry, relid) AS (
    SELECT r.oid::int8, r.prrelid FROM pg_publication_rel r JOIN pub ON pub.oid = r.prpubid
    UNION ALL
    SELECT t.entry, i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
)
SELECT t.entry, c.oid::int8, n.nspname, c.relname FROM tree t
JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
UNION ALL
SELECT -(oid::int8), 0, '', '' FROM pub
"""
_SCHEMA_MEMBERS = """
UNION ALL
SELECT m.oid::int8, c.oid::int8, n.nspname, c.relname
FROM pg_publication_namespace m JOIN pub ON pub.oid = m.pnpubid
JOIN pg_namespace n ON n.oid = m.pnnspid
JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
"""

# entry oid -> {relation oid: "schema.table"} (`memberships`)
Members = dict[int, dict[int, str]]


def memberships(conn: psycopg.Connection[Any], name: str) -> Members:
    """The publication's entries (a table, or from PostgreSQL 15 a schema) by the oid of
    their catalog row, each with the relations it publishes (a partitioned table's partitions
    too), and the publication itself as ``-oid`` (none when there is no such publication). A
    table taken out of the publication and put back has an entry of another oid (`put_back`).
    Only the publication for FOR ALL TABLES. One statement: one snapshot of the catalog."""
    sql = _MEMBERS + (_SCHEMA_MEMBERS if conn.info.server_version >= 150000 else "")
    out: Members = {}
    for entry, relid, schema, table in conn.execute(sql, {"name": name}).fetchall():
        rels = out.setdefault(int(entry), {})
        if relid:
            rels[int(relid)] = f"{schema}.{table}"
    return out


def put_back(before: Members, now: Members) -> list[str]:
    """The relations published at both looks (``schema.table`` as named now) by none of the
    entries that published them at the first: each of those was dropped in between, so
    their changes were not published for a while (taken out and put back, or moved from
    one entry to another through a moment without). Nothing when the publication itself is
    another one, or gone (dropped, renamed: the stream says so itself)."""
    publication = {e for e in now if e < 0}
    if not publication or publication != {e for e in before if e < 0}:
        return []
    was: dict[int, set[int]] = {}
    for entry, rels in before.items():
        for rel in rels:
            was.setdefault(rel, set()).add(entry)
    names = {rel: name for rels in now.values() for rel, name in rels.items()}
    return sorted(
        names[rel] for rel, entries in was.items() if rel in names and not entries & now.keys()
    )  # fmt: skip


def unpublished_now(
    conn: psycopg.Connection[Any], name: str, captured: Callable[[str, str], bool]
) -> list[tuple[str, str]]:
    """The tables ``captured`` takes that the publication does not publish now (taken out of
    it, or made since it was aligned); none for a FOR ALL TABLES one, or one no longer there
    (the stream fails on that by itself)."""
    from connectors.source.postgres.config import PostgresSourceConfig

    row = conn.execute(
        "SELECT puballtables, pubviaroot FROM pg_publication WHERE pubname = %s", (name,)
    ).fetchone()
    if row is None or row[0]:
        return []
    # (via the partition root it lists roots, not partitions: a captured partition's changes
    # come as its root's, which the stream refuses at the root's first relation message)
    return [
        (s, t) for s, t, part in conn.execute(_UNPUBLISHED_NOW, (name,)).fetchall()
        if not (part and row[1])
        and not PostgresSourceConfig.system_namespace(s) and captured(s, t)
    ]  # fmt: skip


def publish_too(
    conn: psycopg.Connection[Any], cfg: PostgresSourceConfig, tables: list[tuple[str, str]]
) -> bool:
    """Add tables to a filtered publication; False when a lock on one of them held it up
    for a second (a CREATE INDEX, an ALTER TABLE: the stream must not wait; the next check
    tries again)."""
    import psycopg

    name = cfg.publication_name
    listed = ", ".join(f"{_ident(s)}.{_ident(t)}" for s, t in tables)
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '1s'")
            conn.execute(f"ALTER PUBLICATION {_ident(name)} ADD TABLE {listed}")
    except psycopg.errors.LockNotAvailable:
        return False
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _may_not_alter(cfg, name, exc) from None
    return True


def unpublished_problem(name: str, unpublished: list[str]) -> str:
    shown = ", ".join(unpublished[:5]) + (" ..." if len(unpublished) > 5 else "")
    return (
        f"publication {name!r} does not publish {len(unpublished)} captured table(s), {shown}: "
        "the snapshot would read them and their changes never reach the sinks. ALTER "
        f"PUBLICATION {name} ADD TABLE ..., leave them out of table.include.list, or set "
        "publication.autocreate.mode=filtered (hub then keeps the publication to the captured "
        "tables)"
    )


def unpublished_while_streaming(name: str, unpublished: list[str]) -> str:
    shown = ", ".join(unpublished[:5]) + (" ..." if len(unpublished) > 5 else "")
    return (
        f"publication {name!r} no longer publishes {len(unpublished)} captured table(s), "
        f"{shown} (taken out of it while the connector streamed): their changes since are not "
        "published, and lost to the stream. ALTER PUBLICATION "
        f"{name} ADD TABLE ..., then signal an incremental snapshot of them (execute-snapshot, "
        "signal.data.collection) to copy their rows again (the next start says so too); or "
        "leave them out of table.include.list"
    )


def _check_published(
    conn: psycopg.Connection[Any], cfg: PostgresSourceConfig, name: str,
    flags: tuple[Any, ...], tables: list[TableInfo], signal: TableInfo | None = None,
) -> None:  # fmt: skip
    """An existing publication must publish every operation the connector emits (the
    snapshot reads every row, and a change it leaves out would never reach the sinks); a
    row filter or a column list on a captured table (PostgreSQL 15+) is named in a warning:
    the snapshot reads the rows and columns the stream leaves out."""
    skipped = cfg.skipped()
    missing = [
        word for word, op, published in zip(("insert", "update", "delete", "truncate"),
                                            "cudt", flags, strict=True)
        if not published and op not in skipped
    ]  # fmt: skip
    if missing:
        raise ConfigError(
            f"publication {name!r} does not publish {', '.join(w + 's' for w in missing)} "
            f"(its publish parameter): they would never reach the sinks. ALTER PUBLICATION "
            f"{name} SET (publish = 'insert, update, delete, truncate'), or list them in "
            "skipped.operations"
        )
    unpublished = unpublished_tables(conn, name, tables)
    if unpublished and cfg.publication_autocreate_mode != "filtered":  # (filtered: aligned)
        raise ConfigError(unpublished_problem(name, unpublished))
    if (
        signal is not None and cfg.publication_autocreate_mode != "filtered"
        and unpublished_tables(conn, name, [signal])
    ):  # fmt: skip
        # (its rows reach the task through the stream: unpublished, every signal, a REST
        # one too, was ignored without a word)
        raise ConfigError(
            f"publication {name!r} does not publish the signal table {signal.qualified} "
            f"(signal.data.collection): no signal would reach the connector. ALTER "
            f"PUBLICATION {name} ADD TABLE {_ident(signal.schema)}.{_ident(signal.name)}"
        )
    if conn.info.server_version < 150000 or not tables:
        return
    rows = conn.execute(
        "SELECT schemaname, tablename, rowfilter IS NOT NULL, attnames FROM "
        "pg_publication_tables WHERE pubname = %s", (name,),
    ).fetchall()  # fmt: skip
    captured = {(t.schema, t.name): t for t in tables}
    partial = []
    for schema, table, filtered, attnames in rows:
        t = captured.get((schema, table))
        if t is None:
            continue
        if filtered:
            partial.append(f"{schema}.{table} (a row filter)")
        elif attnames is not None and len(attnames) < len(t.columns):
            partial.append(f"{schema}.{table} (a column list)")
    if partial:
        log.warning(
            "publication %s publishes only part of %s: the snapshot reads every row and "
            "column of them, the stream only what is published, so the sinks will hold rows "
            "and values the stream never updates", name, ", ".join(partial),
        )  # fmt: skip


def ensure_publication(
    conn: psycopg.Connection[Any],
    cfg: PostgresSourceConfig,
    tables: list[TableInfo],
    signal: TableInfo | None = None,
) -> list[str]:
    """Create or align the publication per ``publication.autocreate.mode`` (filtered: the
    captured tables and the signal table). Returns the captured tables an existing filtered
    publication did not hold until now (``schema.table``): changes made to them before were
    never published."""
    name = cfg.publication_name
    row = conn.execute(
        "SELECT puballtables, pubviaroot, pubinsert, pubupdate, pubdelete, pubtruncate FROM "
        "pg_publication WHERE pubname = %s", (name,)
    ).fetchone()  # fmt: skip
    if row is not None and row[1]:
        _refuse_via_root(conn, name, tables)
    if row is not None:
        _check_published(conn, cfg, name, row[2:], tables, signal)
    mode = cfg.publication_autocreate_mode
    if mode == "disabled":
        if row is None:
            raise ConfigError(
                f"publication {name!r} does not exist in {cfg.dbname!r} and "
                f"publication.autocreate.mode is disabled: create it (CREATE PUBLICATION {name} "
                f"FOR TABLE ...) or set publication.autocreate.mode"
            )
        return []
    try:
        if mode == "all_tables":
            if row is None:
                conn.execute(f"CREATE PUBLICATION {_ident(name)} FOR ALL TABLES")
                log.info("created publication %s FOR ALL TABLES", name)
            return []
        # filtered: exactly the captured tables
        if not tables:
            raise ConfigError(
                f"no table of {cfg.dbname!r} matches the include/exclude lists, so publication "
                f"{name!r} would be empty: check schema.include.list and table.include.list"
            )
        wanted = [*tables, *([signal] if signal and signal not in tables else [])]
        listed = ", ".join(f"{_ident(t.schema)}.{_ident(t.name)}" for t in wanted)
        if row is None:
            conn.execute(f"CREATE PUBLICATION {_ident(name)} FOR TABLE {listed}")
            log.info("created publication %s for %d table(s)%s", name, len(tables),
                     f" and the signal table {signal.qualified}"
                     if signal is not None and signal not in tables else "")  # fmt: skip
            return []
        if row[0]:
            raise ConfigError(
                f"publication {name!r} is FOR ALL TABLES, but publication.autocreate.mode is "
                f"filtered: drop it, name another publication.name, or use all_tables"
            )
        held = _published(conn, name)
        conn.execute(f"ALTER PUBLICATION {_ident(name)} SET TABLE {listed}")
        return [t.qualified for t in tables if (t.schema, t.name) not in held]
    except Exception as exc:
        import psycopg

        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            raise _may_not_alter(cfg, name, exc) from None
        raise


def _may_not_alter(cfg: PostgresSourceConfig, name: str, exc: Exception) -> ServerSetupError:
    return ServerSetupError(
        f"role {cfg.user!r} may not create or alter publication {name!r} ({exc}): "
        f"FOR ALL TABLES needs a superuser, FOR TABLE the tables' owner; create it as "
        f"such and set publication.autocreate.mode=disabled"
    )
