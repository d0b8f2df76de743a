"""Talking to the MySQL/MariaDB server outside the binlog: connections, the checks a CDC
source needs (each failure says what to change), the binlog position, and the catalog of
captured tables."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from connectors.source.cdc.config import initial_statements
from connectors.source.cdc.filters import Filters
from connectors.source.mysql.config import MySqlSourceConfig
from connectors.source.mysql.gtids import gtids_after, same_position
from connectors.source.mysql.protocol.stream import connect_pymysql
from connectors.source.mysql.protocol.values import Column
from connectors.source.mysql.types import catalog_column
from hub.errors import ConfigError, TransientError, describe
from hub.runtime.api import Check

log = logging.getLogger(__name__)


class ServerSetupError(ConfigError):
    """The server or user is not set up for binlog CDC."""


class MySqlConnectionError(TransientError):
    """The connection failed; the task is restarted and resumes."""


class PositionLostError(ConfigError):
    """The binlog the stored position needs is gone from the server."""


def connect(cfg: MySqlSourceConfig, **kwargs: Any) -> Any:
    """A PyMySQL connection, autocommit, session time zone UTC (TIMESTAMP values read in the
    snapshot are UTC, as the binlog's are)."""
    import pymysql

    try:
        con = connect_pymysql(
            cfg.tls(), host=cfg.hostname, port=cfg.port, user=cfg.user,
            password=cfg.password, autocommit=True, connect_timeout=cfg.connect_timeout_ms / 1000,
            init_command="SET time_zone = '+00:00'", charset="utf8mb4", **kwargs,
        )  # fmt: skip
    except pymysql.err.OperationalError as exc:
        raise connection_error(cfg, exc) from None
    # (Debezium's database.initial.statements: each connection but the binlog's)
    statements = initial_statements(cfg.database_initial_statements)
    sql = ""
    try:
        for sql in statements:
            query(con, sql)
        if statements:  # the session as the snapshot's values need it, as the binlog's are
            # (a time_zone of theirs shifted its TIMESTAMPs, PAD_CHAR_TO_FULL_LENGTH padded its
            # CHARs, SET NAMES made its text undecodable)
            for sql in _PINNED:
                query(con, sql)
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        con.close()
        if 2000 <= code < 3000 or code in _PASSING:  # (the connection, or a timeout)
            raise TransientError(
                f"database.initial.statements: {sql!r} on {cfg.where()}: {exc}"
            ) from None
        raise ConfigError(
            f"database.initial.statements: {cfg.where()} refused {sql!r}: {exc}"
        ) from None
    return con


_PINNED = (
    "SET time_zone = '+00:00'", "SET NAMES utf8mb4",
    "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'PAD_CHAR_TO_FULL_LENGTH', '')",
)  # fmt: skip
# server errors that pass: lock wait timeout, deadlock, MariaDB's max_statement_time,
# MySQL's max_execution_time
_PASSING = frozenset({1205, 1213, 1969, 3024})


def connection_error(cfg: MySqlSourceConfig, exc: Exception, what: str = "") -> Exception:
    """The error for a failed connection: a refused login or TLS is the config's (named),
    anything else transient (the task is restarted and retries)."""
    code = exc.args[0] if exc.args else 0
    where = f"{what or 'connect to'} {cfg.where()}"
    if code in (1045, 1044, 1698):  # access denied
        return ConfigError(
            f"cannot log in to {cfg.where()}: {describe(exc)}; check database.user and "
            "database.password"
            + (
                " (the user may need TLS: database.ssl.mode is disabled)"
                if cfg.ssl_mode == "disabled"
                else ""
            )
        )
    text = describe(exc)
    if code == 2026 or "certificate verify failed" in text.lower():  # (2026: no TLS there)
        return ConfigError(
            f"cannot {where} over TLS (database.ssl.mode={cfg.ssl_mode}): {text}; check the "
            "server's TLS settings, database.ssl.ca (the CAs that sign its certificate) and, "
            "for verify_identity, that the certificate names database.hostname"
        )
    return MySqlConnectionError(f"cannot {where}: {text}")


def query(con: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with con.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def variables(con: Any, *names: str) -> dict[str, str]:
    like = " OR ".join(["Variable_name = %s"] * len(names))
    rows = query(con, f"SHOW GLOBAL VARIABLES WHERE {like}", names)
    return {str(k).lower(): str(v) for k, v in rows}


def is_mariadb(con: Any) -> bool:
    return "mariadb" in str(query(con, "SELECT VERSION()")[0][0]).lower()


# -- checks -----------------------------------------------------------------------------------
def server_checks(con: Any, cfg: MySqlSourceConfig) -> list[Check]:
    mariadb = is_mariadb(con)
    v = variables(
        con, "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata",
        "binlog_transaction_compression", "binlog_row_value_options",
        "server_id",
    )  # fmt: skip
    out = [
        _check("binlog is on (log_bin)", v.get("log_bin", "OFF").upper() in ("ON", "1"),
               "start the server with --log-bin (and a --server-id)"),
        _check("binlog_format is ROW", v.get("binlog_format", "").upper() == "ROW",
               f"it is {v.get('binlog_format')}: SET GLOBAL binlog_format = 'ROW' (and in "
               "the server's config)"),
        _check("binlog_row_image is FULL", v.get("binlog_row_image", "").upper() == "FULL",
               f"it is {v.get('binlog_row_image')}: SET GLOBAL binlog_row_image = 'FULL' "
               "(updates and deletes must carry whole rows)"),
    ]  # fmt: skip
    metadata = v.get("binlog_row_metadata", "not available").upper()
    out.append(Check("binlog_row_metadata", True, "FULL" if metadata == "FULL" else (
        f"{metadata}: column names come from the schema history (hub's DDL parser); FULL "
        "(MySQL 8.0.1+, MariaDB 10.5+) also puts them in the binlog"
    )))  # fmt: skip
    if v.get("binlog_transaction_compression", "OFF").upper() in ("ON", "1"):
        out.append(Check("binlog transaction compression is off", False,
                         "binlog_transaction_compression=ON writes compressed payload events "
                         "hub cannot read: SET GLOBAL binlog_transaction_compression = OFF",
                         ))  # fmt: skip
    if "partial_json" in v.get("binlog_row_value_options", "").lower():
        out.append(Check("binlog_row_value_options is empty", False,
                         "PARTIAL_JSON writes JSON updates as diffs: SET GLOBAL "
                         "binlog_row_value_options = ''"))  # fmt: skip
    if str(cfg.replica_id()) == v.get("server_id"):
        out.append(Check("database.server.id differs from the server's", False,
                         f"the server itself has server_id {cfg.replica_id()}: choose another "
                         "database.server.id"))  # fmt: skip
    out += _grants(con, cfg, mariadb)
    out += _binlog_filters(con, cfg)
    out += _cascades(con, cfg)
    return out


CASCADES = "foreign keys that change rows unlogged"


def _cascades(con: Any, cfg: MySqlSourceConfig) -> list[Check]:
    """`cascading_keys`, said (not failed: the sinks miss only what they change); the start
    logs it as a warning."""
    from connectors.source.cdc.captured import listed
    from connectors.source.cdc.filters import Filters

    try:
        found = cascading_keys(con, Filters.from_config(cfg))
    except Exception:  # noqa: BLE001 - the catalog not readable: the grants' check says so
        return []
    if not found:
        return []
    return [Check(CASCADES, True, (
        f"{listed(found)}: the rows a foreign key's CASCADE or SET NULL changes are changed "
        "below the binlog, which holds none of them, so the sinks keep them as they were "
        "(Debezium's limit too); have the application change the child rows itself, or run "
        "hub verify and an incremental snapshot of such tables now and then (a delete it "
        "cannot bring: rows it lists as not in the source)"
    ))]  # fmt: skip


def _binlog_filters(con: Any, cfg: MySqlSourceConfig) -> list[Check]:
    """The server's binlog_do_db / binlog_ignore_db (SHOW MASTER STATUS): a captured database
    they leave out of the binlog has its rows snapshotted and then no change ever (a review
    saw the task RUNNING, the sinks behind for good). Filtered by the session's default
    database, as the server does for statement-format writes too: said, with what to do."""
    from connectors.source.cdc.filters import Filters

    try:
        rows = binlog_status(con)
    except Exception:  # noqa: BLE001 - no privilege for it: the grants' check says so
        return []
    if not rows or len(rows[0]) < 4:
        return []
    listed = [{d.strip() for d in str(v or "").split(",") if d.strip()} for v in rows[0][2:4]]
    do, ignore = listed
    if not do and not ignore:
        return []
    filters = Filters.from_config(cfg)
    dbs = [str(r[0]) for r in query(con, "SHOW DATABASES") if filters.namespace(str(r[0]))]
    left = sorted(d for d in dbs if d in ignore or (do and d not in do))
    if not left:
        return []
    return [Check(
        "the binlog holds the captured databases", False,
        f"the server's {'binlog_ignore_db' if ignore else 'binlog_do_db'} leaves "
        f"{', '.join(left)} out of the binlog: their changes would never come; remove the "
        "setting from the server's config (--binlog-ignore-db / --binlog-do-db) and restart "
        "it, or leave the databases out (database.exclude.list)",
    )]  # fmt: skip


def names(
    con: Any, cfg: MySqlSourceConfig, columns: bool
) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    """The server's databases, and their base tables with (when ``columns``) their columns'
    names, outside the system databases: names only, for the lists' check
    (`Filters.unmatched`; describing every table of every database had failed a task for a
    column type of a database it does not capture)."""
    system = cfg.system_namespace
    spaces = [str(d) for (d,) in query(con, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
              if not system(str(d))]  # fmt: skip
    found: dict[tuple[str, str], list[str]] = {}
    for db, name in query(con, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                          "WHERE TABLE_TYPE = 'BASE TABLE'"):  # fmt: skip
        if not system(str(db)):
            found[(str(db), str(name))] = []
    if columns:
        for db, name, col in query(con, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM "
                                   "information_schema.COLUMNS"):  # fmt: skip
            if (str(db), str(name)) in found:
                found[(str(db), str(name))].append(str(col))
    return spaces, [(db, name, cols) for (db, name), cols in found.items()]


def _check(name: str, ok: bool, fix: str) -> Check:
    return Check(name, ok, "" if ok else fix)


def _grants(con: Any, cfg: MySqlSourceConfig, mariadb: bool) -> list[Check]:
    text = " ".join(str(r[0]) for r in query(con, "SHOW GRANTS")).upper()
    on_all = [
        g
        for g in text.split("GRANT ")[1:]
        if " ON *.* " in g or g.startswith("ALL PRIVILEGES ON *.*")
    ]
    privileges = " ".join(g.split(" ON ")[0] for g in on_all)

    def has(*names: str) -> bool:
        return "ALL PRIVILEGES" in privileges or any(n in privileges for n in names)

    client = ("REPLICATION CLIENT", "BINLOG MONITOR")
    out = [
        _check("user may read the binlog (REPLICATION SLAVE)", has("REPLICATION SLAVE"),
               f"GRANT REPLICATION SLAVE ON *.* TO '{cfg.user}'"),
        _check("user may read binlog positions (" + ("BINLOG MONITOR" if mariadb else
               "REPLICATION CLIENT") + ")", has(*client),
               f"GRANT {'BINLOG MONITOR' if mariadb else 'REPLICATION CLIENT'} ON *.* TO "
               f"'{cfg.user}'"),
        _check("user may SELECT the tables", has("SELECT") or "SELECT" in text,
               f"GRANT SELECT ON <db>.* TO '{cfg.user}'"),
    ]  # fmt: skip
    if cfg.snapshot_locking_mode != "none" and not mariadb and not has("RELOAD"):
        # (MariaDB reads a consistent binlog position without the lock: RELOAD is optional)
        out.append(Check("user may take the snapshot's global read lock (RELOAD)", False,
                         f"GRANT RELOAD ON *.* TO '{cfg.user}', or set "
                         "snapshot.locking.mode=none"))  # fmt: skip
    return out


def require(checks: list[Check], cfg: MySqlSourceConfig) -> None:
    failed = [c for c in checks if not c.ok]
    if failed:
        raise ServerSetupError(
            f"{cfg.where()} is not ready for change data capture: "
            + "; ".join(f"{c.what}: {c.detail}" for c in failed)
        )


# -- positions --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BinlogPosition:
    file: str
    pos: int
    gtids: str | None  # MariaDB's gtid_binlog_pos / MySQL's gtid_executed at that point


def binlog_status(con: Any) -> list[tuple[Any, ...]]:
    """``SHOW MASTER STATUS`` (file, position, binlog_do_db, binlog_ignore_db[, GTIDs]), or
    ``SHOW BINARY LOG STATUS`` where the server has only that (MySQL 8.4 removed the first;
    8.2 on, and MariaDB, take both). Not run here against MySQL: only MariaDB installs."""
    import pymysql

    try:
        return query(con, "SHOW MASTER STATUS")
    except pymysql.err.ProgrammingError as exc:
        if not exc.args or exc.args[0] != 1064:  # ER_PARSE_ERROR: the statement is gone
            raise
        return query(con, "SHOW BINARY LOG STATUS")


def current_position(con: Any, mariadb: bool) -> BinlogPosition:
    rows = binlog_status(con)
    if not rows:
        raise ServerSetupError("SHOW MASTER STATUS is empty: the binlog is off")
    file, pos = str(rows[0][0]), int(rows[0][1])
    if mariadb:
        gtids = str(query(con, "SELECT @@global.gtid_binlog_pos")[0][0] or "")
    else:
        gtids = str(rows[0][4] or "") if len(rows[0]) > 4 else ""
    return BinlogPosition(file, pos, gtids or None)


def binlog_sizes(con: Any) -> list[tuple[str, int]]:
    """SHOW BINARY LOGS: the server's binlog files, oldest first, with their sizes."""
    return [(str(r[0]), int(r[1])) for r in query(con, "SHOW BINARY LOGS")]


def gtids_kept(con: Any, files: list[str], gtids: str) -> bool:
    """MariaDB: whether the binlogs still hold every transaction after the GTID position
    ``gtids`` (a stored file may have been purged with nothing after it): the oldest file's
    Gtid_list, the position the server stood at when it began the file, is at or before it
    in every domain."""
    if not files:
        return False
    rows = query(con, "SHOW BINLOG EVENTS IN %s LIMIT 4", (files[0],))
    listed = next((str(r[5]) for r in rows if str(r[2]) == "Gtid_list"), None)
    if listed is None or not gtids_after(listed, gtids):
        return False
    # the server's own binlog state holds the position in every domain of it (after RESET
    # MASTER, a domain deleted, or another server, the oldest file's list says nothing)
    state = query(con, "SELECT @@gtid_binlog_state")
    held = str(state[0][0]) if state and state[0][0] is not None else ""
    return gtids_after(f"[{gtids}]", held)


RESET_ADVICE = (
    "the server's binary logs were reset (RESET MASTER) or restored from a backup since "
    "this connector read them: the transactions it has not read are no longer where its "
    "position says, and going on would skip or repeat some without a word. "
)


def history_changed(
    con: Any, binlogs: list[tuple[str, int]], file: str, pos: int, gtids: str,
    server: int | None, thorough: bool = True,
) -> str | None:  # fmt: skip
    """MariaDB: why the binlogs of this server no longer hold the stored position ``file``:
    ``pos`` with ``gtids`` (the GTID position there) as they held it, or None when they do
    (``binlogs``: SHOW BINARY LOGS' files and sizes). Only for a position read from this
    server (``server``, its ``@@server_id`` then: None in an earlier hub's offset): another
    server's files (a failover) are laid out otherwise, and its GTIDs say where to go on. A
    file shorter than the position, or one gone while the oldest file's Gtid_list is empty
    (the binlogs start where the server began them: not purged, reset), says so at once;
    ``thorough``, the binlog at ``file``:``pos`` must hold that GTID position too
    (BINLOG_GTID_POS, which reads the file up to it: none there, or another, after RESET
    MASTER or a restore whose first file has the old one's name)."""
    if server is None:
        return None
    row = query(con, "SELECT @@server_id")
    if not row or int(row[0][0]) != server:
        return None
    sizes = dict(binlogs)
    if file in sizes:
        if sizes[file] < pos:
            return f"binlog {file} holds {sizes[file]} bytes, fewer than the position {pos} read"
        if not thorough:
            return None
        at = gtid_at(con, file, pos)
        if same_position(at, gtids):
            return None
        held = f"GTID position {at}" if at is not None else "no event boundary"
        return f"the binlog at {file}:{pos} holds {held}, not {gtids} as when it was read"
    if binlogs:
        rows = query(con, "SHOW BINLOG EVENTS IN %s LIMIT 4", (binlogs[0][0],))
        listed = next((str(r[5]) for r in rows if str(r[2]) == "Gtid_list"), None)
        if listed is not None and listed.strip("[] ") == "":
            return (
                f"binlog file {file!r} is gone, and the oldest one, {binlogs[0][0]!r}, starts "
                "with no GTID history"
            )
    return None


def gtid_at(con: Any, file: str, pos: int) -> str | None:
    """MariaDB: the GTID position at ``file``:``pos`` (BINLOG_GTID_POS)."""
    row = query(con, "SELECT BINLOG_GTID_POS(%s, %s)", (file, pos))
    return str(row[0][0]) if row and row[0][0] is not None else None


# -- catalog ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CatalogTable:
    db: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    estimated_rows: int

    @property
    def qualified(self) -> str:
        return f"{self.db}.{self.name}"


def refuse_versioned(con: Any, filters: Filters) -> None:
    """`ServerSetupError` naming the captured MariaDB system-versioned tables: their binlog
    rows carry the period columns (row_start, row_end) the catalog does not list, and the
    binlog keys them by (key, row_end); hub does not capture them yet (they were left out
    of the snapshot silently, while their changes streamed)."""
    rows = query(con, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                 "WHERE TABLE_TYPE = 'SYSTEM VERSIONED'")  # fmt: skip
    found = [f"{r[0]}.{r[1]}" for r in rows if filters.table(str(r[0]), str(r[1]))]
    if found:
        raise ServerSetupError(
            f"table(s) {', '.join(found)} are SYSTEM VERSIONED, which hub does not capture "
            "yet: leave them out with table.exclude.list, or ALTER TABLE ... DROP SYSTEM "
            "VERSIONING"
        )


_FOREIGN_KEY = re.compile(
    r"CONSTRAINT `((?:[^`]|``)+)` FOREIGN KEY \([^)]*\) REFERENCES ((?:`(?:[^`]|``)+`\.)?"
    r"`(?:[^`]|``)+`) \([^)]*\)((?: ON (?:DELETE|UPDATE) (?:CASCADE|SET NULL|SET DEFAULT|"
    r"RESTRICT|NO ACTION))*)"
)
_CHANGES_ROWS = re.compile(r"ON (DELETE|UPDATE) (CASCADE|SET NULL|SET DEFAULT)")


def cascading_keys(con: Any, filters: Filters) -> list[str]:
    """The captured tables' foreign keys whose parent's change changes them (ON DELETE or ON
    UPDATE CASCADE, SET NULL, SET DEFAULT), one line each: InnoDB makes those changes below
    the binlog, which holds no row of them (MySQL before 9.x, MariaDB), so the sinks keep
    the rows as they were. The tables with a foreign key from KEY_COLUMN_USAGE, their rules
    from SHOW CREATE TABLE (REFERENTIAL_CONSTRAINTS lists nothing to a user with SELECT
    alone, as the connector's)."""
    rows = query(
        con, "SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE REFERENCED_TABLE_NAME IS NOT NULL ORDER BY TABLE_SCHEMA, TABLE_NAME",
    )  # fmt: skip
    out = []
    for db, table in rows:
        if not filters.table(str(db), str(table)):
            continue
        quoted = ".".join("`" + str(n).replace("`", "``") + "`" for n in (db, table))
        try:
            ddl = str(query(con, f"SHOW CREATE TABLE {quoted}")[0][1])
        except Exception:  # noqa: BLE001 - dropped meanwhile: nothing to say of it
            continue
        for m in _FOREIGN_KEY.finditer(ddl):
            rules = [f"ON {w} {r}" for w, r in _CHANGES_ROWS.findall(m.group(3))]
            if rules:
                name, parent = m.group(1).replace("``", "`"), m.group(2).replace("`", "")
                out.append(f"{db}.{table} ({name} to {parent}: {', '.join(rules)})")
    return out


def captured_pairs(con: Any, filters: Filters) -> list[tuple[str, str]]:
    """The captured base tables, (db, table): `tables`' without describing them (nor their
    row estimates: TABLE_ROWS opens every table, ~3x the time)."""
    return [(db, name) for db, name, _ in _captured(con, filters, None, rows=False)]


def captured_names(con: Any, filters: Filters) -> list[str]:
    """`captured_pairs` as ``db.table``."""
    return [f"{db}.{name}" for db, name in captured_pairs(con, filters)]


def _captured(
    con: Any, filters: Filters, only: tuple[str, str] | None, rows: bool = True
) -> list[tuple[str, str, int]]:
    """(db, table, estimated rows: 0 without ``rows``) of the captured base tables (or
    ``only``), by name."""
    where, args = "", tuple[str, ...]()
    if only is not None:
        where, args = " AND t.TABLE_SCHEMA = %s AND t.TABLE_NAME = %s", only
    else:
        # the captured databases' tables only: information_schema.TABLES opens every table it
        # lists (slow on a server of many databases)
        schemas = [str(r[0]) for r in query(con, "SELECT SCHEMA_NAME FROM "
                                            "information_schema.SCHEMATA")]  # fmt: skip
        args = tuple(s for s in schemas if filters.namespace(s))
        if not args:
            return []
        where = f" AND t.TABLE_SCHEMA IN ({','.join(['%s'] * len(args))})"
    estimate = "COALESCE(t.TABLE_ROWS, 0)" if rows else "0"
    found = query(con,
        f"SELECT t.TABLE_SCHEMA, t.TABLE_NAME, {estimate} "
        "FROM information_schema.TABLES t WHERE t.TABLE_TYPE = 'BASE TABLE'" + where
        + " ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME", args)  # fmt: skip
    names = [(str(r[0]), str(r[1]), int(r[2])) for r in found]
    return [n for n in names if filters.table(n[0], n[1])]


def tables(con: Any, filters: Filters, only: tuple[str, str] | None = None) -> list[CatalogTable]:
    """The captured base tables (or ``only`` = (db, table) if captured), sorted by name."""
    names = _captured(con, filters, only)
    if not names:
        return []
    dbs = sorted({n[0] for n in names})
    marks = ",".join(["%s"] * len(dbs))
    cols: dict[tuple[str, str], list[Column]] = {}
    for r in query(con,
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, "
        "NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_SET_NAME "
        f"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN ({marks}) "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION", dbs):  # fmt: skip
        db, table = str(r[0]), str(r[1])
        try:
            c = catalog_column(str(r[2]), str(r[3]), str(r[4]), r[5] == "YES",
                               _int(r[6]), _int(r[7]), _int(r[8]), r[9])  # fmt: skip
        except ConfigError as exc:
            raise ConfigError(f"table {db}.{table}: {exc}") from None
        cols.setdefault((db, table), []).append(c)
    keys: dict[tuple[str, str], list[str]] = {}
    for r in query(con,
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        f"WHERE INDEX_NAME = 'PRIMARY' AND TABLE_SCHEMA IN ({marks}) "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX", dbs):  # fmt: skip
        keys.setdefault((str(r[0]), str(r[1])), []).append(str(r[2]))
    return [
        CatalogTable(db, t, tuple(cols.get((db, t), ())), tuple(keys.get((db, t), ())), n)
        for db, t, n in names
    ]


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


ROLLS_BACK = ("innodb", "xtradb", "rocksdb", "tokudb")  # engines with transactions


def rollback_ahead(con: Any, file: str, pos: int, page: int = 10_000) -> bool:
    """Does the binlog group that goes on at ``file``:``pos`` (an event's start) hold a
    ROLLBACK (TO SAVEPOINT) before its end? Read with ``SHOW BINLOG EVENTS`` (its types and
    statements, not its rows), ``page`` events a query, to the group's end: an Xid, a COMMIT
    or XA END, or the next group's GTID event. A group is written whole at its commit, so
    what follows the position is all there."""
    while True:
        rows = query(con, f"SHOW BINLOG EVENTS IN %s FROM {int(pos)} LIMIT {int(page)}", (file,))
        for row in rows:
            kind, end, info = str(row[2]), int(row[4]), str(row[5] or "").lstrip().upper()
            if kind in ("Query", "Query_compressed"):
                if info.startswith("ROLLBACK"):
                    return True
                if info.startswith(("COMMIT", "XA END", "XA COMMIT", "XA ROLLBACK")):
                    return False
            elif kind in ("Xid", "Gtid", "Anonymous_Gtid", "XA_prepare", "Rotate", "Stop"):
                return False
            pos = end
        if len(rows) < page:
            return False


def transactional(con: Any, db: str, table: str) -> bool:
    """Does ``db.table``'s engine roll back (InnoDB) rather than keep every change (MyISAM,
    Aria, MEMORY)? A table no longer there is taken to roll back."""
    rows = query(
        con, "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND "
        "TABLE_NAME = %s", (db, table),
    )  # fmt: skip
    return not rows or rows[0][0] is None or str(rows[0][0]).casefold() in ROLLS_BACK
