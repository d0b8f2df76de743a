"""The Snowflake dialect (snowflake-connector-python), on `DeferredDialect`: a DDL statement
commits Snowflake's open transaction, so tables are created and altered first, each batch's
changes are loaded into staging tables (a Parquet file PUT to a temporary stage, then
``COPY INTO`` a transient table), and only then one transaction applies them and writes the
``_hub_offsets`` row::

    UPDATE t AS cur SET c = s.c, … FROM stage AS s WHERE cur.k = s.k AND NOT s.__hub_delete
    INSERT INTO t (k, c, …) SELECT … FROM stage AS s WHERE NOT s.__hub_delete
      AND NOT EXISTS (SELECT 1 FROM t AS cur WHERE cur.k = s.k)
    DELETE FROM t AS cur USING stage AS s WHERE cur.k = s.k AND s.__hub_delete

Three statements where a ``MERGE`` would do (`connectors.sink.engine.separate`): the same
effect, and they also run inside a transaction on the local stand-in (fakesnow, whose ``MERGE``
cannot), so the tests run the production path.

Staging tables have positional column names (``C0``, ``C1``…, matched to the Parquet file's by
name) and are read through a subquery that names them as the engine does: any column name
survives, whatever its case. Tables without a key have no row identifier in Snowflake: their
updates and deletes by old row are refused (`keyless`), appends work.

Thread safety: one task thread uses the dialect.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sink.engine import offsets as offsets_table
from connectors.sink.engine.deferred import DeferredDialect, Statement
from connectors.sink.engine.dialect import StagedColumn, TableInfo
from connectors.sink.engine.errors import (
    SchemaChangeError,
    SinkConfigError,
    SinkFatalError,
    SinkTransientError,
    column_staged,
)
from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.separate import SeparateStatements
from connectors.sink.engine.types import ColumnType
from connectors.sink.snowflake import types as st
from connectors.sink.snowflake.config import SnowflakeSinkConfig, identifier

# the client logs every login and query at INFO: hub's log says what matters
logging.getLogger("snowflake.connector").setLevel(logging.WARNING)
log = logging.getLogger(__name__)


_TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "CHAR")
_NUMBER = re.compile(r"(?:NUMBER|DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def _in_place(have: str, want: str) -> bool:
    """Whether Snowflake's ALTER COLUMN ... SET DATA TYPE takes ``have`` to ``want``."""
    h, w = have.strip().upper(), want.strip().upper()
    if h.startswith(_TEXT_TYPES) and w.startswith(_TEXT_TYPES):
        return True
    nh, nw = _NUMBER.fullmatch(h), _NUMBER.fullmatch(w)
    return bool(nh and nw and nh[2] == nw[2] and int(nw[1]) >= int(nh[1]))


class SnowflakeDialect(SeparateStatements, DeferredDialect):
    enforces_keys = False  # (a primary key is information only: not enforced)
    row_id = None
    param = "%s"

    def __init__(self, cfg: SnowflakeSinkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.database = identifier(cfg.database_name)
        self.schema = identifier(cfg.schema_name)
        self._con: Any = None
        self._tag = uuid.uuid4().hex[:12]
        self._n = 0
        self._stage: str | None = None  # the session's temporary stage, once created
        # the offsets the next transaction checks first (`expect_offsets`)
        self._expected: tuple[str, dict[tuple[str, int], int | None]] | None = None

    def widen_column(self, table: TableRef, name: str, sql_type: str, have: str = "") -> None:
        """In place where Snowflake changes a type so: a longer VARCHAR, a NUMBER of more
        digits and the same scale. Its ALTER COLUMN ... SET DATA TYPE refuses a NUMBER's
        scale changed and a NUMBER made text (a stand-in took them: the real service would
        have stopped the batch with its own error); rebuilt in a new column, a crash between
        its statements, each committed on its own, would lose the column's values: refused
        with what to do instead."""
        if have and not _in_place(have, sql_type):
            raise SchemaChangeError(
                str(table), name, have, sql_type,
                "Snowflake changes a column's type in place only to a longer VARCHAR or a "
                "NUMBER of more digits and the same scale: change the column yourself (add a "
                "column of the new type, copy, drop, rename) or route the topic to a new table",
            )  # fmt: skip
        super().widen_column(table, name, sql_type, have)

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        if self._con is not None and not self._con.is_closed():
            return
        import snowflake.connector

        cfg, e = self.cfg, self.cfg.endpoint
        timeout = cfg.timeout_ms // 1000
        kw: dict[str, Any] = {
            "account": e.account,
            "user": cfg.user_name,
            "host": e.host,
            "port": e.port,
            "protocol": e.protocol,
            "login_timeout": timeout,
            "network_timeout": timeout,
            "socket_timeout": timeout,
            "autocommit": True,
            "application": "hub",
            "session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": "hub"},
        }
        if cfg.role_name:
            kw["role"] = cfg.role_name
        if cfg.warehouse_name:
            kw["warehouse"] = cfg.warehouse_name
        if cfg.private_key:
            kw["private_key"] = _private_key(cfg.private_key, cfg.private_key_passphrase)
            kw["authenticator"] = "SNOWFLAKE_JWT"
        else:
            kw["password"] = cfg.password
        try:
            self._con = snowflake.connector.connect(**kw)
        except snowflake.connector.errors.Error as exc:
            raise self._connect_error(exc) from None
        self._stage = None
        self._use_schema()
        self._end_predecessors()
        self._drop_leftovers()

    def _connect_error(self, exc: Exception) -> Exception:
        import snowflake.connector.errors as se

        text = f"cannot connect to {self.cfg.where}: {_message(exc)}"
        if isinstance(exc, se.DatabaseError) and getattr(exc, "errno", 0) in (390100, 390144):
            # wrong user, password or key: retrying will not help
            return SinkFatalError(text + "; check snowflake.user.name and the credentials")
        return SinkTransientError(text)

    @property
    def _txn_name(self) -> str:
        """The name of this task's transactions (Snowflake upper-cases it): the same for every
        worker that runs the task, so the next one finds what a killed one left open, and
        another for every other target (account, database, schema): two deployments whose
        sinks share a connector name and a user had aborted each other's batches."""
        who = f"{self.cfg.where}/{self.writer}"
        return "HUB_" + hashlib.sha1(who.encode()).hexdigest()[:16].upper()

    def _end_predecessors(self) -> None:
        """Abort the transactions of this task that other sessions left open: a killed worker's
        session keeps its transaction, and its locks, until Snowflake ends the session (hours
        later); the next worker's batch would wait for them. A live duplicate of the task (the
        same connector run twice) is fenced off the same way."""
        if not self.writer:
            return
        try:
            me = str(self.run("SELECT CURRENT_SESSION()")[0][0])
            with self._con.cursor() as cur:
                cur.execute("SHOW TRANSACTIONS")
                names = [d[0].lower() for d in cur.description]
                rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        except Exception as exc:  # noqa: BLE001 - not fatal: the next batch may just wait
            log.warning("%s: cannot list open transactions: %s", self.cfg.where, _message(exc))
            return
        for r in rows:
            if str(r.get("name", "")).upper() == self._txn_name and str(r.get("session")) != me:
                log.warning(
                    "%s: aborting transaction %s that an earlier run of %s left open in "
                    "session %s",
                    self.cfg.where, r.get("id"), self.writer, r.get("session"),
                )  # fmt: skip
                try:
                    self.run(f"SELECT SYSTEM$ABORT_TRANSACTION({int(r['id'])})")
                except Exception as exc:  # noqa: BLE001
                    log.warning("%s: cannot abort it: %s", self.cfg.where, _message(exc))

    @property
    def _staging_prefix(self) -> str:
        """Staging tables are named after the task, so its next run finds a killed one's."""
        return f"_hub_stage_{self._txn_name[4:12].lower()}_" if self.writer else "_hub_stage_"

    def _drop_leftovers(self) -> None:
        """Drop the staging tables an earlier run of this task left (killed between the load
        and the drop); this run's own are dropped after each batch."""
        if not self.writer:
            return
        prefix, mine = self._staging_prefix, self._staging_prefix + self._tag
        try:
            rows = self.run(
                f"SELECT table_name FROM {self.database}.INFORMATION_SCHEMA.TABLES "
                "WHERE table_schema = %s AND table_name LIKE %s",
                [_unquoted(self.schema), "%hub%stage%"],
            )
            for (name,) in rows:
                if str(name).startswith(prefix) and not str(name).startswith(mine):
                    self.run(
                        f"DROP TABLE IF EXISTS {self.database}.{self.schema}.{self.quote(name)}"
                    )
        except Exception as exc:  # noqa: BLE001 - a leftover costs storage, not correctness
            log.warning("%s: cannot drop old staging tables: %s", self.cfg.where, _message(exc))

    def _use_schema(self) -> None:
        where = f"{self.database}.{self.schema}"
        try:
            self.run(f"USE SCHEMA {where}")
        except Exception:  # noqa: BLE001 - a missing schema: create it, then say what failed
            try:
                self.run(f"CREATE SCHEMA IF NOT EXISTS {where}")
                self.run(f"USE SCHEMA {where}")
            except Exception as exc:  # noqa: BLE001
                raise SinkConfigError(
                    "snowflake.schema.name",
                    f"cannot use or create the schema {where}: {_message(exc)}; check "
                    "snowflake.database.name, snowflake.schema.name and the role's privileges",
                ) from None

    def close(self) -> None:
        if self._con is not None:
            with contextlib.suppress(Exception):
                self._con.close()
            self._con = None

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._con.cursor() as cur:
            cur.execute(sql, tuple(params) if params else None)
            return list(cur.fetchall()) if cur.description else []

    def run_transaction(self, statements: Sequence[Statement]) -> None:
        expected, self._expected = self._expected, None
        with self._con.cursor() as cur:
            cur.execute(f"BEGIN TRANSACTION NAME {self._txn_name}" if self.writer else "BEGIN")
            try:
                cur.execute("SELECT CURRENT_TRANSACTION()")
                mine = cur.fetchone()[0]
                if expected is not None:
                    self._check_offsets(cur, *expected)
                offsets = self.table_name(offsets_table.REF)
                checked = False
                for sql, params in statements:
                    if not checked and offsets in sql:  # (the offsets are written last)
                        self._still_open(cur, mine)
                        checked = True
                    cur.execute(sql, params or None)
                self._still_open(cur, mine)
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
                raise

    def _still_open(self, cur: Any, mine: Any) -> None:
        """The batch's transaction is still the session's. Another run of the task (a
        duplicate worker) aborts it when it connects (`_end_predecessors`), and what this
        session sends after that runs outside it, each statement on its own: its offsets
        must not be stored then (the aborted part of the batch would be skipped for good).
        Checked before the offsets are written and before COMMIT."""
        cur.execute("SELECT CURRENT_TRANSACTION()")
        if cur.fetchone()[0] != mine:
            raise SinkTransientError(
                f"{self.cfg.where}: the batch's transaction {mine} was aborted by another "
                "session while it ran (another run of this connector's task started: a "
                "duplicate worker?); nothing of it is committed as done, it is retried"
            )

    def begin(self) -> None:
        super().begin()
        self._expected = None

    def expect_offsets(
        self, connector: str, expected: Mapping[tuple[str, int], int | None]
    ) -> None:
        """Checked first in the batch's transaction (`_check_offsets`)."""
        self._expected = (connector, dict(expected))

    def _check_offsets(
        self, cur: Any, connector: str, expected: Mapping[tuple[str, int], int | None]
    ) -> None:
        """Lock the connector's ``_hub_offsets`` rows (an UPDATE waits for a transaction that
        holds them, such as a killed worker's COMMIT still in flight), then read them: any
        other value than this task read means another writer committed since."""
        q, t = self.quote, self.table_name(offsets_table.REF)
        who = f"{q('connector')} = %s"
        cur.execute(
            f"UPDATE {t} SET {q('next_offset')} = {q('next_offset')} WHERE {who}", (connector,)
        )
        cur.execute(
            f"SELECT {q('topic')}, {q('partition')}, {q('next_offset')} FROM {t} WHERE {who}",
            (connector,),
        )
        stored = {(str(tp), int(p)): int(off) for tp, p, off in cur.fetchall()}
        offsets_table.check(self.cfg.where, stored, expected)

    def translate(self, exc: Exception) -> Exception:
        import snowflake.connector.errors as se

        transient = (
            se.OperationalError,
            se.InterfaceError,
            se.InternalServerError,
            se.ServiceUnavailableError,
            se.GatewayTimeoutError,
            se.BadGatewayError,
            se.RequestTimeoutError,
            se.OtherHTTPRetryableError,
        )
        if isinstance(exc, transient) or self._con is None or self._con.is_closed():
            self.close()
            return SinkTransientError(f"{self.cfg.where}: {_message(exc)}")
        return SinkFatalError(f"{self.cfg.where}: {type(exc).__name__}: {_message(exc)}")

    # -- names and types ----------------------------------------------------------------------

    def table_name(self, table: TableRef) -> str:
        schema = self.schema if table.schema is None else self.quote(table.schema)
        return f"{self.database}.{schema}.{self.quote(table.name)}"

    def create_schema(self, schema: str) -> None:
        self.ddl(f"CREATE SCHEMA IF NOT EXISTS {self.database}.{self.quote(schema)}")
        self.run(f"USE SCHEMA {self.database}.{self.schema}")  # CREATE SCHEMA switched to it

    def sql_type(self, t: ColumnType) -> str:
        return st.sql_type(t)

    def column_type(self, sql_type: str) -> ColumnType | None:
        return st.column_type(sql_type)

    def describe(self, table: TableRef) -> TableInfo | None:
        schema = _unquoted(self.schema) if table.schema is None else table.schema
        cols = self.run(
            "SELECT column_name, data_type, numeric_precision, numeric_scale FROM "
            f"{self.database}.INFORMATION_SCHEMA.COLUMNS WHERE table_schema = %s AND "
            "table_name = %s ORDER BY ordinal_position",
            [schema, table.name],
        )
        if not cols:
            return None
        keys = self.run(f"SHOW PRIMARY KEYS IN TABLE {self.table_name(table)}")
        pk = tuple(str(r[4]) for r in sorted(keys, key=lambda r: int(r[5])))
        return TableInfo({str(n): st.spelled(str(t), p, s) for n, t, p, s in cols}, pk)

    def select_expr(self, col: StagedColumn, ref: str) -> str:
        return st.select_expr(col.type, ref)

    def reader_session(self) -> None:
        """The session is opened with TIMEZONE = UTC (`connect`)."""

    # -- staging ------------------------------------------------------------------------------

    def load(self, name: str, columns: Sequence[StagedColumn]) -> tuple[str, str]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._n += 1
        table = f'{self.database}.{self.schema}."{self._staging_prefix}{self._tag}_{self._n}"'
        q = self.quote
        positional = [f"C{i}" for i in range(len(columns))]
        arrays = [
            column_staged(c.name, c.type, st.arrow_array, c.type, c.values, c.name) for c in columns
        ]
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_arrays(arrays, names=positional), buf)  # type: ignore[no-untyped-call]
        buf.seek(0)
        defs = ", ".join(
            f"{q(p)} {st.staged_type(c.type)}" for p, c in zip(positional, columns, strict=True)
        )
        self.run(f"CREATE OR REPLACE TRANSIENT TABLE {table} ({defs})")
        stage = self._ensure_stage()
        prefix = f"{self._tag}_{self._n}"
        with self._con.cursor() as cur:  # the file from memory, never from disk
            cur.execute(
                f"PUT file:///{prefix}.parquet @{stage}/{prefix}/ OVERWRITE = TRUE "
                "AUTO_COMPRESS = FALSE",
                file_stream=buf,
            )
        # the Parquet file's logical types as they are (Snowflake's defaults read a timestamp
        # or time column without the legacy type tag as its integer, bytes as UTF-8 text, and
        # the text \N as NULL)
        self.run(
            f"COPY INTO {table} FROM @{stage}/{prefix}/ FILE_FORMAT = (TYPE = PARQUET "
            "USE_LOGICAL_TYPE = TRUE BINARY_AS_TEXT = FALSE NULL_IF = ()) "
            "MATCH_BY_COLUMN_NAME = CASE_SENSITIVE PURGE = TRUE"
        )
        names = ", ".join(
            f"{q(p)} AS {q(c.name)}" for p, c in zip(positional, columns, strict=True)
        )
        return f"(SELECT {names} FROM {table})", table

    def _ensure_stage(self) -> str:
        if self._stage is None:
            stage = f"{self.database}.{self.schema}.HUB_STAGE_{self._tag.upper()}"
            self.run(f"CREATE TEMPORARY STAGE IF NOT EXISTS {stage}")
            self._stage = stage
        return self._stage

    # -- statements ---------------------------------------------------------------------------

    def insert(self, table: TableRef, columns: Sequence[StagedColumn]) -> None:
        rel = self.stage("ins", columns)
        q = self.quote
        names = ", ".join(q(c.name) for c in columns)
        exprs = ", ".join(self.select_expr(c, f"s.{q(c.name)}") for c in columns)
        self.execute(
            f"INSERT INTO {self.table_name(table)} ({names}) SELECT {exprs} FROM {rel} AS s"
        )


def _unquoted(quoted: str) -> str:
    return quoted[1:-1].replace('""', '"')


def _message(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _private_key(text: str, passphrase: str) -> bytes:
    """The DER (PKCS#8) bytes the client takes, from a PEM key or its base64 body (the
    Snowflake Kafka connector's form: one line, no header)."""
    from cryptography.hazmat.primitives import serialization

    pem = text.strip()
    if "-----BEGIN" not in pem:
        kind = "ENCRYPTED PRIVATE KEY" if passphrase else "PRIVATE KEY"
        body = "".join(pem.split())
        lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        pem = f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n"
    try:
        key = serialization.load_pem_private_key(
            pem.encode(), passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise SinkConfigError(
            "snowflake.private.key",
            f"cannot read the private key ({exc}); give a PKCS#8 PEM key (or its base64 body) "
            "and snowflake.private.key.passphrase if it is encrypted",
        ) from None
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
