"""``hub validate --connect`` for the PostgreSQL source: one `Check` per thing the source will
need from the server, read from the catalogs without changing anything (no slot, no
publication is created)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.source.postgres.config import PostgresSourceConfig
from hub.errors import describe
from hub.runtime.api import Check


def check(config: Mapping[str, Any]) -> list[Check]:
    import psycopg

    cfg = PostgresSourceConfig.of(config)
    where = cfg.where()
    try:
        conn = psycopg.connect(cfg.conninfo(connect_timeout="5"), autocommit=True)
    except psycopg.Error as exc:
        return [Check(f"connect to {where}", False, describe(exc))]
    with conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        return [Check(f"connect to {where}", True, f"PostgreSQL {version}"), *_server(conn, cfg)]


def _server(conn: Any, cfg: PostgresSourceConfig) -> list[Check]:
    from connectors.source.cdc.filters import Filters
    from connectors.source.postgres import catalog

    wal_level, can_replicate, superuser, slots_max, slots_used = conn.execute(
        "SELECT current_setting('wal_level'), r.rolreplication OR r.rolsuper, r.rolsuper, "
        "current_setting('max_replication_slots')::int, "
        "(SELECT count(*) FROM pg_replication_slots) "
        "FROM pg_roles r WHERE r.rolname = current_user"
    ).fetchone()
    out = [
        Check("wal_level is logical", wal_level == "logical", f"it is {wal_level}" + (
            "" if wal_level == "logical"
            else ": run ALTER SYSTEM SET wal_level = logical and restart the server"
        )),
        Check(f"role {cfg.user} may replicate", bool(can_replicate), "" if can_replicate else (
            f"run ALTER ROLE {cfg.user} WITH REPLICATION"
        )),
    ]  # fmt: skip
    slot = conn.execute(
        "SELECT plugin, database, active_pid FROM pg_replication_slots WHERE slot_name = %s",
        (cfg.slot_name,),
    ).fetchone()
    if slot is None:
        free = slots_max - slots_used
        out.append(Check(f"a replication slot can be created ({cfg.slot_name})", free > 0, (
            f"{free} of max_replication_slots={slots_max} free" if free > 0
            else f"all {slots_max} slots are used: drop one or raise max_replication_slots"
        )))  # fmt: skip
    else:
        plugin, database, pid = slot
        ours = plugin == "pgoutput" and database == cfg.dbname
        out.append(Check(f"replication slot {cfg.slot_name} is usable", ours and pid is None, (
            f"it is a {plugin or 'physical'} slot of {database}: choose another slot.name"
            if not ours else f"in use by server process {pid}" if pid is not None
            else "exists, pgoutput, not in use: a connector with a stored position resumes "
            "from it; one without (renamed, a new data directory, offsets reset) drops it, "
            "with a warning, and takes a new snapshot (another pipeline using the slot loses "
            "its position: give each its own slot.name)"
        )))  # fmt: skip
    filters = Filters.from_config(cfg)
    tables = catalog.tables(conn, filters)
    lists = filters.unmatched_check("schema", lambda cols: catalog.names(conn, cols))
    if lists is not None:
        out.append(lists)
    if tables or cfg.publication_autocreate_mode != "all_tables":
        out.append(Check("tables to capture", bool(tables), (
            f"{len(tables)} table(s) match" if tables
            else "no table matches schema/table.include.list and exclude lists"
        )))  # fmt: skip
    else:
        out.append(Check("tables to capture", True, "none yet; tables created later are "
                         "captured (publication.autocreate.mode=all_tables)"))  # fmt: skip
    via_root = catalog.via_root(conn, cfg.publication_name)
    roots, _, unlogged = catalog.uncaptured(conn, filters, not via_root)
    if roots:
        out.append(Check("the lists take partitioned tables' partitions", False, (
            "; ".join(roots) + ": include the partitions in the lists"
        )))  # fmt: skip
    if unlogged:
        out.append(Check("the tables the lists match are logged", False,
                         f"{', '.join(unlogged)}: {catalog.UNLOGGED_LINE}"))  # fmt: skip
    hidden = catalog.row_security(conn, tables)
    if hidden:  # (a policy may show the role every row: said, as the start does)
        out.append(Check(f"row-level security of the tables for role {cfg.user}", True,
                         catalog.row_security_problem(cfg.user, hidden)))  # fmt: skip
    keyless = [t.qualified for t in tables if t.lacks_identity()]
    if keyless:
        out.append(Check("tables without a key have REPLICA IDENTITY FULL", False, (
            f"{', '.join(keyless)}: ALTER TABLE ... REPLICA IDENTITY FULL, add a primary key "
            "(not DEFERRABLE: PostgreSQL takes none as the identity), or exclude them"
        )))  # fmt: skip
    missing = catalog.missing_key_columns(tables, filters)
    if missing:
        out.append(Check("message.key.columns names columns of the tables", False,
                         "; ".join(missing)))  # fmt: skip
    unkeyed = catalog.unkeyed_changes(tables, filters, cfg.skipped())
    if unkeyed:
        out.append(Check("the replica identities hold the tables' keys", False, (
            "; ".join(unkeyed) + ": ALTER TABLE ... REPLICA IDENTITY DEFAULT (or FULL), or "
            "message.key.columns naming the identity's columns"
        )))  # fmt: skip
    unreadable = [
        t.qualified for t in tables
        if not conn.execute("SELECT has_table_privilege(%s, 'SELECT')", (t.oid,)).fetchone()[0]
    ]  # fmt: skip
    out.append(Check(f"role {cfg.user} may read the tables", not unreadable, (
        f"no SELECT on {', '.join(unreadable)}: GRANT SELECT ON ... TO {cfg.user}"
        if unreadable else ""
    )))  # fmt: skip
    out.append(_publication(conn, cfg, tables, superuser))
    if cfg.signal_data_collection:  # (the task's start fails without it)
        schema, _, table = cfg.signal_data_collection.partition(".")
        there = conn.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
            (schema, table),
        ).fetchone() is not None  # fmt: skip
        out.append(Check(
            f"signal table {cfg.signal_data_collection} exists", there,
            "" if there else f"create it: CREATE TABLE {cfg.signal_data_collection} "
            "(id text PRIMARY KEY, type text NOT NULL, data text)",
        ))  # fmt: skip
    return out


def _publication(conn: Any, cfg: PostgresSourceConfig, tables: list[Any], superuser: bool) -> Check:
    name, mode = cfg.publication_name, cfg.publication_autocreate_mode
    row = conn.execute(
        "SELECT puballtables, (SELECT count(*) FROM pg_publication_tables t "
        "WHERE t.pubname = p.pubname) FROM pg_publication p WHERE pubname = %s",
        (name,),
    ).fetchone()
    if row is not None:
        all_tables, n = row
        if all_tables and mode == "filtered":
            return Check(f"publication {name}", False, "it is FOR ALL TABLES but "
                         "publication.autocreate.mode is filtered: use all_tables or another "
                         "publication.name")  # fmt: skip
        from connectors.source.postgres.replication import (
            unpublished_problem,
            unpublished_tables,
        )

        unpublished = [] if mode == "filtered" else unpublished_tables(conn, name, tables)
        if unpublished:
            return Check(f"publication {name}", False, unpublished_problem(name, unpublished))
        return Check(
            f"publication {name}",
            True,
            "exists, FOR ALL TABLES" if all_tables else f"exists, {n} table(s)",
        )
    if mode == "disabled":
        return Check(
            f"publication {name}",
            False,
            "does not exist and publication.autocreate.mode is disabled: CREATE PUBLICATION it",
        )
    if mode == "all_tables":
        return Check(f"publication {name} can be created", bool(superuser), (
            "will be created FOR ALL TABLES" if superuser
            else "FOR ALL TABLES needs a superuser; create it as one, or use filtered"
        ))  # fmt: skip
    not_owned = [
        t.qualified for t in tables
        if not conn.execute(
            "SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = %s", (t.oid,)
        ).fetchone()[0]
    ]  # fmt: skip
    return Check(f"publication {name} can be created", not not_owned, (
        "will be created for the matched tables" if not not_owned
        else f"role {cfg.user} does not own {', '.join(not_owned)}: create the publication as "
        "their owner and set publication.autocreate.mode=disabled"
    ))  # fmt: skip
