"""The Redshift dialect (redshift_connector, Amazon's Python driver).

Redshift runs DDL (``CREATE TABLE``, ``ADD COLUMN``) and ``COPY`` inside a transaction, so a
batch is one transaction as in PostgreSQL: tables created or altered, each table's changes
staged into a temporary table, applied, and the ``_hub_offsets`` row written, then one
``COMMIT``. Staging (``redshift.staging``):

- ``s3``: the staged columns as one Parquet file from memory, put to
  ``s3://s3.bucket.name/s3.prefix/<task>/<n>.parquet`` (boto3), loaded by
  ``COPY … FORMAT AS PARQUET`` (``IAM_ROLE`` or the access key), deleted once the batch
  commits or rolls back; a killed run's files are deleted when its task starts again;
- ``insert``: multi-row ``INSERT … VALUES`` with bound parameters (at most 32 767 values and
  about 8 MB per statement), for a cluster without a bucket and small volumes.

Redshift's ``MERGE`` takes one ``WHEN MATCHED`` clause, so a batch is applied by ``UPDATE`` /
``INSERT … WHERE NOT EXISTS`` / ``DELETE … USING`` (`SeparateStatements`). Identifiers: Redshift
folds ASCII letters to lower case, quoted or not (unless ``enable_case_sensitive_identifier``):
every name is written folded (``Name`` → ``name``), so other users query the tables without
quotes, and two names the folding makes one are a `NameCollisionError` (``folds_names``).
Tables without a key have no row identifier: their updates and deletes by old row are refused
(`keyless`), appends work. ``ALTER COLUMN … TYPE`` (only ``VARCHAR`` lengths, and not in a
transaction) is not used: a column is widened by adding the wider one, copying, dropping the
old and renaming, in the batch's transaction.

A killed worker's open transaction ends with its connection; one whose ``COMMIT`` is still in
flight when the next worker reads the offsets is caught by `expect_offsets`: every writing
transaction begins with ``LOCK _hub_offsets`` (`_lock_offsets`), so it waits for such a commit
and then sees it, and checks they are still what the task read before it writes them.

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
from connectors.sink.engine import types as k
from connectors.sink.engine.dialect import StagedColumn, TableInfo, fold_ascii, quote
from connectors.sink.engine.errors import (
    SinkConfigError,
    SinkFatalError,
    SinkTransientError,
    column_staged,
)
from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.separate import SeparateStatements
from connectors.sink.engine.types import ColumnType
from connectors.sink.redshift import types as rt
from connectors.sink.redshift.config import RedshiftSinkConfig
from hub.runtime.api import masked

# the driver logs statements at DEBUG (a COPY's text may hold the secret key)
logging.getLogger("redshift_connector").setLevel(logging.WARNING)
log = logging.getLogger(__name__)
_MAX_PARAMS = 32767  # a Bind message's parameter count is a 16-bit integer
_MAX_INSERT_BYTES = 8 << 20  # Redshift takes statements of up to 16 MB
_MAX_NAME = 127  # bytes of a Redshift identifier; a longer one would be cut short
_COMMENT = "hub: the table of "  # + the name it was created for
_KEY_NAME = re.compile(r'"((?:[^"]|"")*)"|([^,\s"]+)')


class RedshiftDialect(SeparateStatements):
    enforces_keys = False  # (a primary key is information only: not enforced)
    row_id = None
    param = "%s"
    alias_delete = False
    case_insensitive = True
    folds_names = True

    def __init__(self, cfg: RedshiftSinkConfig) -> None:
        self.cfg = cfg
        self.s3 = cfg.s3
        self._con: Any = None
        self._client: Any = None  # boto3's S3 client, once needed
        self._n = 0
        self._run = uuid.uuid4().hex[:12]
        self._objects: list[str] = []  # this batch's staging files
        self._offsets_table = False  # _hub_offsets exists: each write transaction locks it

    def key_equal(self, a: str, b: str, kind: str | None) -> str:
        if kind == k.JSON:  # (every batch had failed: "octet_length(super) does not exist")
            raise SinkFatalError(
                f"{self.cfg.where}: key column {a.rpartition('.')[2]} is JSON, which Redshift "
                "holds as SUPER, a type it cannot match rows by: leave it out of the key "
                "(primary.key.mode=record_value with primary.key.fields naming the others)"
            )
        # Redshift compares VARCHARs ignoring trailing blanks: 'a' and 'a ' were one key
        if kind in (k.STRING, k.UUID, k.BITS):
            return f"({a} = {b} AND OCTET_LENGTH({a}) = OCTET_LENGTH({b}))"
        return f"{a} = {b}"

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> None:
        import redshift_connector

        cfg, e = self.cfg, self.cfg.endpoint
        timeout = max(1, cfg.timeout_ms // 1000)
        kw: dict[str, Any] = {
            "host": e.host,
            "port": e.port,
            "database": e.database,
            "user": cfg.connection_username,
            "password": cfg.connection_password,
            "timeout": timeout,
            "application_name": "hub",
            # no statement cache: its keys are the statements' text (a COPY's may hold a key)
            "max_prepared_statements": 0,
        }
        if e.sslmode == "disable":
            kw["ssl"] = False
        else:
            kw["ssl"], kw["sslmode"] = True, e.sslmode
        try:
            con = redshift_connector.connect(**kw)
        except Exception as exc:  # noqa: BLE001 - the driver raises many kinds
            raise self._connect_error(exc) from None
        con.autocommit = False
        self._con = con
        try:
            self.execute("SET timezone TO 'UTC'")
            self._con.commit()
        except Exception as exc:  # noqa: BLE001
            self.close()
            raise SinkTransientError(f"{self.cfg.where}: {self._masked(_message(exc))}") from None
        if self.read_only:  # hub verify: reads only
            return
        try:
            self._ensure_schema()
            if self.s3:
                self._drop_leftover_files()
        except BaseException:
            self.close()
            raise

    def _ensure_schema(self) -> None:
        """Create the default schema when it is missing (a clear error when that fails)."""
        schema = self.cfg.default_schema
        try:
            if not self.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]):
                self.execute(f"CREATE SCHEMA {self.quote(schema)}")
            self._con.commit()
            # statements name their tables in full; this is for what users run in the session
            self.execute(f"SET search_path TO {self.quote(schema)}")
            self._con.commit()
        except Exception as exc:  # noqa: BLE001
            with contextlib.suppress(Exception):
                self._con.rollback()
            raise SinkConfigError(
                "redshift.schema.name",
                f"cannot use or create the schema {schema} in {self.cfg.where}: "
                f"{self._masked(_message(exc))}; create it or grant the user CREATE on the "
                "database",
            ) from None

    def _connect_error(self, exc: Exception) -> Exception:
        text = f"cannot connect to {self.cfg.where}: {self._masked(_message(exc))}"
        low = text.lower()
        if "password" in low or "authentication" in low or "does not exist" in low:
            return SinkFatalError(
                text + "; check connection.username, connection.password and the database "
                "in connection.url"
            )
        return SinkTransientError(text)

    def begin(self) -> None:
        if self._con is None:
            self._connect()
        self._objects = []
        if not self.read_only:
            self._lock_offsets()

    def _lock_offsets(self) -> None:
        """Start the transaction with ``LOCK _hub_offsets``, before anything that takes its
        snapshot (Redshift: the first read or write): a writer that committed meanwhile (a
        killed worker's COMMIT in flight, another task of the connector) is waited for and
        then seen by `expect_offsets`, under serializable and snapshot isolation alike, instead
        of two transactions both writing the offsets. Writers sharing the table take turns."""
        t = self.table_name(offsets_table.REF)
        if not self._offsets_table:
            schema = fold_ascii(self.cfg.default_schema)
            self._offsets_table = bool(
                self.execute(
                    "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname = %s",
                    [schema, offsets_table.TABLE],
                )
            )
            self._con.commit()  # the lookup's snapshot is not the batch's
            if not self._offsets_table:
                return  # the first transaction creates it
        self.execute(f"LOCK {t}")

    def commit(self) -> None:
        self._con.commit()
        self._delete_files()

    def rollback(self) -> None:
        if self._con is not None:
            try:
                self._con.rollback()
            except Exception:  # noqa: BLE001 - the connection is gone: so is the transaction
                self.close()
        with contextlib.suppress(Exception):
            self._delete_files()

    def close(self) -> None:
        if self._con is not None:
            with contextlib.suppress(Exception):
                self._con.close()
            self._con = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._con.cursor()
        try:
            cur.execute(sql, tuple(params) if params else None)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
        finally:
            cur.close()

    def translate(self, exc: Exception) -> Exception:
        from redshift_connector.error import InterfaceError, OperationalError

        text = self._masked(_message(exc))
        if isinstance(exc, InterfaceError | OperationalError | OSError):
            self.close()
            return SinkTransientError(f"{self.cfg.where}: {text}")
        if "serializable isolation violation" in text.lower() or "'C': '40001'" in text:
            # two writers of one table (a killed run's COMMIT in flight): the batch is retried
            return SinkTransientError(f"{self.cfg.where}: {text}")
        return SinkFatalError(f"{self.cfg.where}: {type(exc).__name__}: {text}")

    def _masked(self, text: str) -> str:
        """``text`` without the password, the URL's and the secret key (a COPY statement
        names it)."""
        secrets = (self.cfg.connection_password, self.cfg.secret_access_key)
        return masked(text, self.cfg.connection_url, *(s for s in secrets if s))

    # -- names and types ----------------------------------------------------------------------

    def quote(self, name: str) -> str:
        folded = fold_ascii(name)
        if len(folded.encode()) > _MAX_NAME:
            raise SinkFatalError(
                f"{self.cfg.where}: the name {name!r} is longer than Redshift's 127 bytes, which "
                "would cut it short; rename it in the source, or route the topic to another "
                "table (table.name.format)"
            )
        return quote(folded)

    def table_name(self, table: TableRef) -> str:
        schema = self.cfg.default_schema if table.schema is None else table.schema
        return f"{self.quote(schema)}.{self.quote(table.name)}"

    def sql_type(self, t: ColumnType) -> str:
        return rt.sql_type(t)

    def column_type(self, sql_type: str) -> ColumnType | None:
        return rt.column_type(sql_type)

    def describe(self, table: TableRef) -> TableInfo | None:
        schema = fold_ascii(self.cfg.default_schema if table.schema is None else table.schema)
        where = (
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s "
            "AND c.relkind = 'r'"
        )
        cols = self.execute(
            f"SELECT a.attname, format_type(a.atttypid, a.atttypmod) {where} AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            [schema, fold_ascii(table.name)],
        )
        if not cols:
            return None
        keys = self.execute(
            "SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_class c ON "
            "c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
            "n.nspname = %s AND c.relname = %s AND k.contype = 'p'",
            [schema, fold_ascii(table.name)],
        )
        pk = _key_columns(str(keys[0][0])) if keys else ()
        return TableInfo({str(n): str(t) for n, t in cols}, pk)

    def select_expr(self, col: StagedColumn, ref: str) -> str:
        return rt.select_expr(col.type, ref, self.s3)

    def create_table(
        self,
        table: TableRef,
        columns: Mapping[str, str],
        pk: Sequence[str],
        *,
        if_not_exists: bool = False,
    ) -> None:
        """Created with its name as the batch spells it in the table's comment: the folded
        name alone cannot tell ``Foo``'s table from ``foo``'s (`folded_twin`)."""
        super().create_table(table, columns, pk, if_not_exists=if_not_exists)
        if not if_not_exists:
            spelled = _literal(_COMMENT + _spelled(table))
            self.ddl(f"COMMENT ON TABLE {self.table_name(table)} IS {spelled}")

    def folded_twin(self, table: TableRef) -> str | None:
        schema = fold_ascii(self.cfg.default_schema if table.schema is None else table.schema)
        rows = self.execute(
            "SELECT d.description FROM pg_description d JOIN pg_class c ON c.oid = d.objoid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND "
            "c.relname = %s AND d.objsubid = 0",
            [schema, fold_ascii(table.name)],
        )
        text = str(rows[0][0]) if rows and rows[0][0] is not None else ""
        if not text.startswith(_COMMENT):
            return None  # not created by hub: taken as the table asked for
        name = text[len(_COMMENT) :]
        return None if name == _spelled(table) else name

    def create_schema(self, schema: str) -> None:
        self.ddl(f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}")

    def widen_column(self, table: TableRef, name: str, sql_type: str, have: str = "") -> None:
        """Add the wider column, copy, drop the old one, rename: the column moves to the end
        of the table (statements name their columns)."""
        t, c = self.table_name(table), self.quote(name)
        tmp = self.quote("__hub_widen_" + hashlib.sha1(name.encode()).hexdigest()[:12])
        self.ddl(f"ALTER TABLE {t} ADD COLUMN {tmp} {sql_type}")
        self.execute(f"UPDATE {t} SET {tmp} = CAST({c} AS {sql_type})")
        self.ddl(f"ALTER TABLE {t} DROP COLUMN {c}")
        self.ddl(f"ALTER TABLE {t} RENAME COLUMN {tmp} TO {c}")

    def expect_offsets(
        self, connector: str, expected: Mapping[tuple[str, int], int | None]
    ) -> None:
        """Read the connector's rows in the transaction that `begin` started by locking the
        table (the first transaction, which created it, locks it now)."""
        if not self._offsets_table:
            self.execute(f"LOCK {self.table_name(offsets_table.REF)}")
        stored = offsets_table.read(self, connector)
        offsets_table.check(self.cfg.where, stored, expected)

    # -- staging ------------------------------------------------------------------------------

    def stage(self, name: str, columns: Sequence[StagedColumn]) -> str:
        self._n += 1
        q = self.quote
        rel = q(f"_hub_stage_{name}_{self._n}")
        defs = ", ".join(f"{q(c.name)} {rt.staged_type(c.type, self.s3)}" for c in columns)
        arrays = [
            column_staged(c.name, c.type, rt.arrow_array, c.type, c.values, c.name, self.s3)
            for c in columns
        ]
        self.execute(f"CREATE TEMPORARY TABLE {rel} ({defs})")
        if self.s3:
            self._copy(rel, arrays)
        else:
            self._insert(rel, columns, arrays)
        return rel

    def unstage(self, relation: str) -> None:
        self.execute(f"DROP TABLE {relation}")

    def _insert(self, rel: str, columns: Sequence[StagedColumn], arrays: list[Any]) -> None:
        values = [rt.bound(a, c.type) for a, c in zip(arrays, columns, strict=True)]
        per = max(1, _MAX_PARAMS // max(1, len(columns)))
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        chunk: list[Any] = []
        size = 0
        for row in zip(*values, strict=True):
            chunk.append(row)
            size += sum(len(v) for v in row if isinstance(v, str))
            if len(chunk) >= per or size >= _MAX_INSERT_BYTES:
                self._insert_rows(rel, one, chunk)
                chunk, size = [], 0
        if chunk:
            self._insert_rows(rel, one, chunk)

    def _insert_rows(self, rel: str, one: str, rows: list[Any]) -> None:
        self.execute(
            f"INSERT INTO {rel} VALUES {', '.join([one] * len(rows))}",
            [v for row in rows for v in row],
        )

    def _copy(self, rel: str, arrays: list[Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = [f"c{i}" for i in range(len(arrays))]
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_arrays(arrays, names=names), buf)  # type: ignore[no-untyped-call]
        key = f"{self._prefix}{self._run}/{self._n}.parquet"
        bucket = self.cfg.bucket_name
        try:
            self._s3().put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
        except Exception as exc:  # noqa: BLE001 - boto3's errors are many
            raise _s3_error(exc, f"s3://{bucket}/{key}") from None
        self._objects.append(key)
        self.execute(
            f"COPY {rel} FROM 's3://{bucket}/{key}' {self._credentials()} FORMAT AS PARQUET"
        )

    def _credentials(self) -> str:
        cfg = self.cfg
        if cfg.iam_role:
            return "IAM_ROLE " + _literal(cfg.iam_role)
        return (
            f"ACCESS_KEY_ID {_literal(cfg.access_key_id)} "
            f"SECRET_ACCESS_KEY {_literal(cfg.secret_access_key)}"
        )

    @property
    def _prefix(self) -> str:
        """This task's staging prefix (a killed run's files are found by the next)."""
        base = self.cfg.prefix.strip("/")
        task = hashlib.sha1((self.writer or "hub").encode()).hexdigest()[:16]
        return f"{base}/{task}/" if base else f"{task}/"

    def _s3(self) -> Any:
        if self._client is None:
            import boto3

            cfg = self.cfg
            kw: dict[str, Any] = {}
            if cfg.region:
                kw["region_name"] = cfg.region
            if cfg.s3_endpoint:
                kw["endpoint_url"] = cfg.s3_endpoint
            if cfg.access_key_id:
                kw["aws_access_key_id"] = cfg.access_key_id
                kw["aws_secret_access_key"] = cfg.secret_access_key
            self._client = boto3.client("s3", **kw)
        return self._client

    def _delete_files(self) -> None:
        objects, self._objects = self._objects, []
        if objects:
            self._delete(objects)

    def _delete(self, keys: Sequence[str]) -> None:
        try:
            for i in range(0, len(keys), 1000):
                self._s3().delete_objects(
                    Bucket=self.cfg.bucket_name,
                    Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True},
                )
        except Exception as exc:  # noqa: BLE001 - a leftover file costs storage, not data
            log.warning("%s: cannot delete staging files: %s", self.cfg.where,
                        self._masked(_message(exc)))  # fmt: skip

    def _drop_leftover_files(self) -> None:
        """Delete the staging files an earlier run of this task left (killed mid-batch)."""
        try:
            pages = (
                self._s3()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.cfg.bucket_name, Prefix=self._prefix)
            )
            keys = [o["Key"] for p in pages for o in p.get("Contents", ())]
        except Exception as exc:  # noqa: BLE001
            raise _s3_error(exc, f"s3://{self.cfg.bucket_name}/{self._prefix}") from None
        mine = f"{self._prefix}{self._run}/"
        old = [k for k in keys if not k.startswith(mine)]
        if old:
            self._delete(old)


def _key_columns(definition: str) -> tuple[str, ...]:
    """The columns of ``PRIMARY KEY (a, "b c")`` as pg_get_constraintdef prints them."""
    inner = definition[definition.index("(") + 1 : definition.rindex(")")]
    return tuple(
        quoted.replace('""', '"') if quoted else bare for quoted, bare in _KEY_NAME.findall(inner)
    )


def _spelled(table: TableRef) -> str:
    """How a table was named when created: ``Foo``, or ``Sales.Foo`` with its schema."""
    return table.name if table.schema is None else f"{table.schema}.{table.name}"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _message(exc: BaseException) -> str:
    """The driver's message on one line (what it quotes of the config is masked by the
    dialect's `_masked`: every error had been "authentication failed" when it held the word
    "password", a NOT NULL violation of a column password_hash included)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _s3_error(exc: Exception, where: str) -> Exception:
    """A boto3 error: what the user must fix (bucket, region, credentials) is a
    `SinkConfigError` naming the property, the rest transient."""
    text = f"S3 {where}: {_message(exc)}"
    if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
        return SinkConfigError(
            "aws.access.key.id",
            text + "; set aws.access.key.id and aws.secret.access.key, or give boto3 "
            "credentials (AWS_ACCESS_KEY_ID…, ~/.aws, an instance role)",
        )
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraint"):
        return SinkConfigError("s3.region", text + "; set s3.region to the bucket's region")
    if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return SinkConfigError(
            "s3.bucket.name",
            text + "; check s3.bucket.name, s3.region and the credentials (aws.access.key.id)",
        )
    return SinkTransientError(text)
