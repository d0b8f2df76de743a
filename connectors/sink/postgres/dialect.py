"""The PostgreSQL dialect (psycopg 3): batches are COPYed into TEMP staging tables
(``ON COMMIT DROP``), then applied with ``INSERT … ON CONFLICT`` / ``DELETE … USING``
(`statements`) in the same transaction. A lost connection is a `SinkTransientError`;
the next batch reconnects.

Thread safety: one task thread uses the dialect.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from connectors.sink.engine.dialect import StagedColumn, TableInfo
from connectors.sink.engine.errors import (
    SinkConfigError,
    SinkFatalError,
    SinkTransientError,
    ValueNotHeldError,
    column_staged,
)
from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.types import ColumnType
from connectors.sink.postgres import types as ptypes
from connectors.sink.postgres.config import PostgresSinkConfig, conninfo
from connectors.sink.postgres.statements import OnConflict
from hub.errors import describe
from hub.runtime import masked

_CURSORS = itertools.count()


class PostgresDialect(OnConflict):
    row_id = "ctid"
    param = "%s"
    max_name_bytes = 63  # (NAMEDATALEN - 1)
    widens_keys = True

    def __init__(self, cfg: PostgresSinkConfig) -> None:
        self._url = conninfo(cfg.connection_url)
        self._user = cfg.connection_username
        self._password = cfg.connection_password
        self._con: Any = None
        self._stage_n = 0

    def _connect(self) -> Any:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        kw: dict[str, Any] = {}
        if self._user:
            kw["user"] = self._user
        if self._password:
            kw["password"] = self._password
        # the values a column of a type hub does not make (by hand: timestamp(3), text) takes
        # as the server converts them, in UTC whatever the database or role sets (Debezium's
        # JDBC sink's database.time_zone default): in Asia/Tokyo an instant written into a
        # timestamp column was 9 hours off
        # (the URL's options, else PGOPTIONS', as libpq takes them; a TimeZone set there
        # is the user's choice)
        given = str(conninfo_to_dict(self._url).get("options") or os.environ.get("PGOPTIONS", ""))
        if "timezone" not in given.lower():
            kw["options"] = f"{given} -c TimeZone=UTC".strip()
        try:
            return psycopg.connect(self._url, autocommit=False, **kw)
        except psycopg.OperationalError as exc:
            text = masked(describe(exc), self._password, self._url)
            refused = _REFUSED.get(exc.sqlstate or "") or next(
                (prop for words, prop in _REFUSED_WORDS if words in text), None
            )
            if refused is not None:
                # (a wrong password or user, no such database: retrying does not heal it;
                # it was retried as if the server were down, its reason dropped)
                raise SinkConfigError(
                    refused, f"PostgreSQL refused the login: {text}; check connection.url, "
                    "connection.username and connection.password",
                ) from None  # fmt: skip
            raise SinkTransientError(f"cannot connect to PostgreSQL: {text}") from None

    def begin(self) -> None:
        if self._con is None or self._con.closed:
            self._con = self._connect()

    def commit(self) -> None:
        self._con.commit()

    def rollback(self) -> None:
        if self._con is None:
            return
        try:
            self._con.rollback()
        except Exception:
            self._drop()

    def _drop(self) -> None:
        with contextlib.suppress(Exception):
            self._con.close()
        self._con = None

    def close(self) -> None:
        if self._con is not None:
            self._drop()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._con.cursor() as cur:
            cur.execute(sql, list(params) if params else None)
            return list(cur.fetchall()) if cur.description else []

    def sql_type(self, t: ColumnType) -> str:
        return ptypes.sql_type(t)

    # -- reading back (hub verify) ------------------------------------------------------------

    def reader_session(self) -> None:
        # a database's or role's own defaults must not change what is read: with
        # extra_float_digits=0 a float's last digits were hidden (0.3 and 0.30000000000000004
        # read equal), DateStyle changed the text of dates, IntervalStyle iso_8601 failed
        self.execute(
            "SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, MDY', "
            "false), set_config('IntervalStyle', 'postgres', false), "
            "set_config('extra_float_digits', '3', false), set_config('bytea_output', 'hex', "
            "false)"
        )

    def text_array_expr(self, expr: str, depth: int) -> str | None:
        return f"CAST({expr} AS text[])"  # (any number of dimensions)

    def json_text_expr(self, expr: str) -> str | None:
        return f"CAST({expr} AS text)"

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        # a server-side cursor: a table of any size in constant memory
        with self._con.cursor(name=f"hub_verify_{next(_CURSORS)}") as cur:
            cur.itersize = 5000
            cur.execute(sql)
            yield from cur

    def column_type(self, sql_type: str) -> ColumnType | None:
        return ptypes.column_type(sql_type)

    def describe(self, table: TableRef) -> TableInfo | None:
        name = self.table_name(table)
        cols = self.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            [name],
        )
        if not cols:
            return None
        pk = self.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            [name],
        )
        return TableInfo({str(n): str(t) for n, t in cols}, tuple(str(r[0]) for r in pk))

    def stage(self, name: str, columns: Sequence[StagedColumn]) -> str:
        self._stage_n += 1
        q = self.quote
        rel = q(f"_hub_stage_{name}_{self._stage_n}")
        defs = ", ".join(f"{q(c.name)} {ptypes.staged_type(c.type)}" for c in columns)
        names = ", ".join(q(c.name) for c in columns)
        with self._con.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE {rel} ({defs}) ON COMMIT DROP")
            values = [
                column_staged(c.name, c.type, ptypes.staged_values, c.name, c.type, c.values)
                for c in columns
            ]
            try:
                with cur.copy(f"COPY {rel} ({names}) FROM STDIN") as copy:
                    write = copy.write_row
                    for row in zip(*values, strict=True):
                        write(row)
            except Exception as exc:
                nul = _nul_column(columns) if "NUL" in str(exc) else None
                if nul is not None:  # (psycopg's text says which byte, not which column)
                    raise ValueNotHeldError(
                        nul,
                        "a text holding a NUL character (\\u0000)",
                        "a PostgreSQL column (its text, JSON and arrays cannot store one)",
                    ) from None
                raise
            if name == "del":
                # a TEMP table has no statistics: the planner would guess ~1000s of rows and
                # hash-join the whole target for a handful of deleted keys
                cur.execute(f"ANALYZE {rel}")
        return rel

    def expect_offsets(
        self, connector: str, expected: Mapping[tuple[str, int], int | None]
    ) -> None:
        """Lock the connector's partitions first (transaction advisory locks, in one order),
        then read and compare: two writers of one task (a zombie) each read the offsets
        before the other committed, at READ COMMITTED, and both went on (the second
        upsert waited for the first and then overwrote it): a keyless table had the batch
        twice. Now the second reads after the first committed and fails."""
        if expected:
            keys = sorted(f"hub:{connector}:{p}:{t}" for t, p in expected)
            locks = ", ".join(["pg_advisory_xact_lock(hashtextextended(%s, 0))"] * len(keys))
            self.execute(f"SELECT {locks}", keys)  # (items run in order: no deadlock)
        super().expect_offsets(connector, expected)

    def select_expr(self, col: StagedColumn, ref: str) -> str:
        return ptypes.select_expr(col.type, ref)

    def match_expr(self, col: StagedColumn, expr: str) -> str:
        return ptypes.match_expr(col.type, expr)

    def unstage(self, relation: str) -> None:
        self.execute(f"DROP TABLE {relation}")

    def translate(self, exc: Exception) -> Exception:
        import psycopg

        state = getattr(exc, "sqlstate", None) or ""
        if state.startswith("54"):  # program_limit_exceeded (too many columns, a row too
            # big): the same batch fails again (it had been retried for ever)
            return SinkFatalError(f"PostgreSQL: {type(exc).__name__}: {_safe(exc)}")
        if isinstance(exc, psycopg.OperationalError) or (
            self._con is not None and self._con.closed
        ):
            if self._con is not None:
                self._drop()
            return SinkTransientError(f"PostgreSQL: {_safe(exc)}")
        if getattr(exc, "sqlstate", None) in _TARGET_WIDE:
            # (the target's, not a record's: with errors.tolerance=all each record had failed
            # alone and gone to the dead letter queue, its offset committed: lost)
            return SinkTransientError(f"PostgreSQL: {type(exc).__name__}: {_safe(exc)}")
        return SinkFatalError(f"PostgreSQL: {type(exc).__name__}: {_safe(exc)}")

    def duplicate_key(self, exc: Exception, key: Sequence[str]) -> bool:
        # unique_violation, of the key's columns ("Key (a, b)=(...) already exists")
        if getattr(exc, "sqlstate", None) != "23505":
            return False
        detail = getattr(getattr(exc, "diag", None), "message_detail", None) or ""
        names = _key_columns(detail)
        return names is not None and sorted(names) == sorted(key)


def _key_columns(detail: str) -> list[str] | None:
    """The columns a unique violation's detail names, ``Key (a, "B", "c, d")=(...) already
    exists.``: each as PostgreSQL's quote_identifier writes it (a name that needs quoting in
    double quotes, a quote in it doubled), so a name holding ``, `` or ``)=`` is one name."""
    if not detail.startswith("Key ("):
        return None
    names: list[str] = []
    name: list[str] = []
    quoted = False
    i = 5
    while i < len(detail):
        c = detail[i]
        i += 1
        if quoted:
            if c != '"':
                name.append(c)
            elif detail[i : i + 1] == '"':  # a doubled quote: one quote of the name
                name.append(c)
                i += 1
            else:
                quoted = False
        elif c == '"':
            quoted = True
        elif c in ",)":
            names.append("".join(name))
            name = []
            if c == ")":
                return names if detail[i : i + 1] == "=" else None
            if detail[i : i + 1] == " ":
                i += 1
        else:
            name.append(c)
    return None


# errors of the target as a whole, whatever the rows: a privilege revoked, a server or a
# transaction made read-only (a standby promoted elsewhere, default_transaction_read_only)
_TARGET_WIDE = {"42501", "25006"}


# a login the server refused, and the property most likely at fault:
# invalid_authorization_specification (no such role), invalid_password, invalid_catalog_name
# (no such database); libpq's own words where it gives no SQLSTATE
_REFUSED = {"28000": "connection.username", "28P01": "connection.password",
            "3D000": "connection.url"}  # fmt: skip
_REFUSED_WORDS = (
    ("password authentication failed", "connection.password"),
    ("no password supplied", "connection.password"),
    ("no pg_hba.conf entry", "connection.url"),
    ('FATAL:  role "', "connection.username"),  # ... does not exist
    ('FATAL:  database "', "connection.url"),  # ... does not exist
    ('FATAL: role "', "connection.username"),
    ('FATAL: database "', "connection.url"),
)


def _safe(exc: BaseException) -> str:
    """A driver message without the connection string (it may hold a password)."""
    text = describe(exc)
    return text if "password" not in text.lower() else "authentication failed"


def _nul_column(columns: Sequence[StagedColumn]) -> str | None:
    """The first column with a NUL character in a value (or in a nested one), if any."""

    def holds(v: Any) -> bool:
        if isinstance(v, str):
            return "\x00" in v
        if isinstance(v, list | tuple):
            return any(map(holds, v))
        if isinstance(v, dict):
            return any(holds(k) or holds(x) for k, x in v.items())
        return False

    for c in columns:
        if any(map(holds, c.values)):
            return c.name
    return None
