"""The BigQuery dialect (google-cloud-bigquery), on `DeferredDialect`: BigQuery runs a load as a
job of its own and a transaction as one script, so tables are created and altered first, each
batch's changes are loaded into staging tables (a Parquet file from memory, one load job per
staging table), and then ONE script applies them and writes the ``_hub_offsets`` row::

    BEGIN TRANSACTION;
    IF (SELECT COUNT(*) FROM _hub_offsets WHERE <not what this task stored>) > 0 THEN
      SELECT ERROR('hub: …');                    -- another writer moved the offsets: fenced
    END IF;
    MERGE INTO t AS cur USING (SELECT C0 AS k, … FROM stage) AS s ON cur.k = s.k
      WHEN MATCHED AND s.__hub_delete THEN DELETE WHEN MATCHED THEN UPDATE SET …
      WHEN NOT MATCHED AND NOT s.__hub_delete THEN INSERT (…) VALUES (…);
    DELETE FROM _hub_offsets WHERE …; INSERT INTO _hub_offsets VALUES (…);
    COMMIT TRANSACTION;

A script that fails rolls back as a whole. A job keeps running when the client that sent it
dies, so the script first checks that the stored offsets are still the ones this task read
(`expect_offsets`): a batch a killed worker left running that commits late makes the next
worker's transaction fail instead of applying a batch twice; the engine then reads the offsets
again and skips what is in (`OffsetsMovedError`).

Staging tables have positional column names (``C0``, ``C1``…: BigQuery restricts the
characters of column names a Parquet load maps) and expire after a day, so a worker killed
between the load and the drop leaves nothing for good. The values in the script (offsets,
table owners) are literals: BigQuery's scripts take query parameters, but its local emulator's
do not, and both take these literals alike.

Thread safety: one task thread uses the dialect.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import json
import logging
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sink.bigquery import types as bt
from connectors.sink.bigquery.config import BigQuerySinkConfig
from connectors.sink.engine import offsets as offsets_table
from connectors.sink.engine.deferred import DeferredDialect, Statement
from connectors.sink.engine.dialect import Merge, StagedColumn, TableInfo
from connectors.sink.engine.errors import (
    OffsetsMovedError,
    SchemaChangeError,
    SinkConfigError,
    SinkFatalError,
    SinkTransientError,
    column_staged,
)
from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.types import ColumnType

log = logging.getLogger(__name__)

_MOVED = "hub: the stored offsets moved"
_SCOPES = ["https://www.googleapis.com/auth/bigquery"]


class BigQueryDialect(DeferredDialect):
    enforces_keys = False  # (a primary key is information only: not enforced)
    row_id = None
    param = "?"
    max_tables = 90  # BigQuery: 100 per transaction; the offsets and owners tables count too
    primary_keys = False  # not enforced there; its stand-in cannot parse one either
    case_insensitive = True  # column names (table names are not: `folded_twin` finds none)

    def __init__(self, cfg: BigQuerySinkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self._client: Any = None
        self._tag = uuid.uuid4().hex[:12]
        self._n = 0
        # the target's column types per table, as this task knows them (describe, DDL): a
        # JSON value is written as text into a STRING column, parsed into a JSON one
        self._types: dict[TableRef, dict[str, str]] = {}
        self._table: TableRef | None = None  # the table the statement being built writes
        # the client retries rate limits, 5xx and lost connections for up to bigquery.timeout.ms
        # (its own default: 10 minutes); then the batch fails and the runtime's retry takes over
        self._timeout = cfg.timeout_ms / 1000
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

        self._retry = DEFAULT_RETRY.with_timeout(self._timeout)
        self._job_retry = DEFAULT_JOB_RETRY.with_timeout(self._timeout)

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        if self._client is not None:
            return
        from google.cloud import bigquery

        cfg = self.cfg
        kw: dict[str, Any] = {"project": cfg.project, "credentials": self._credentials()}
        if cfg.location:
            kw["location"] = cfg.location
        if cfg.endpoint:
            from google.api_core.client_options import ClientOptions

            kw["client_options"] = ClientOptions(api_endpoint=cfg.endpoint)
        from google.api_core import exceptions as ge

        try:
            client = bigquery.Client(**kw)
            ref = bigquery.DatasetReference(cfg.project, cfg.default_dataset)
            try:  # a role on the dataset alone may read it but not create datasets
                client.get_dataset(ref, retry=self._retry, timeout=self._timeout)
            except ge.NotFound:
                dataset = bigquery.Dataset(ref)
                if cfg.location:
                    dataset.location = cfg.location
                client.create_dataset(
                    dataset, exists_ok=True, retry=self._retry, timeout=self._timeout
                )
        except Exception as exc:  # noqa: BLE001 - every failure is said with the target
            raise self._connect_error(exc) from None
        self._client = client
        try:
            self._end_predecessors()
        except BaseException:
            self.close()  # connected only once no earlier job of the task can still commit
            raise

    @property
    def _job_prefix(self) -> str:
        """This task's job ids begin so (the same in every run of the task, another for a
        sink of the same name writing another dataset: it cancels none of those)."""
        digest = hashlib.sha1(f"{self.cfg.where}/{self.writer}".encode()).hexdigest()[:16]
        return f"hub_{digest}_"

    def _end_predecessors(self) -> None:
        """Cancel this task's jobs that are still running (a killed worker's, or this run's
        own after a timeout) and wait for them to end, so none commits after this run read
        the offsets: the offsets check (`expect_offsets`) cannot see a commit that has not
        happened yet."""
        if not self.writer:
            return
        import datetime as dt

        prefix, deadline = self._job_prefix, time.monotonic() + self._timeout
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        try:
            running = [
                j
                for state in ("running", "pending")
                for j in self._client.list_jobs(
                    state_filter=state,
                    min_creation_time=since,
                    retry=self._retry,
                    timeout=self._timeout,
                )  # fmt: skip
                if j.job_id.startswith(prefix)
            ]
        except Exception as exc:  # noqa: BLE001 - the offsets check still guards what it can
            log.warning("%s: cannot list running jobs: %s", self.cfg.where, _message(exc))
            return
        for job in running:
            log.warning(
                "%s: cancelling job %s, left running by an earlier run of %s",
                self.cfg.where, job.job_id, self.writer,
            )  # fmt: skip
            with contextlib.suppress(Exception):
                self._client.cancel_job(job.job_id, location=job.location, timeout=self._timeout)
            while True:
                job.reload(timeout=self._timeout)
                if job.state == "DONE":
                    break
                if time.monotonic() > deadline:
                    raise SinkTransientError(
                        f"{self.cfg.where}: job {job.job_id} of an earlier run of this task is "
                        "still running; waiting for it"
                    )
                time.sleep(1)

    def _credentials(self) -> Any:
        cfg = self.cfg
        if cfg.source == "FILE" or cfg.source == "JSON":
            from google.oauth2 import service_account

            try:
                if cfg.source == "FILE":
                    return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                        cfg.keyfile, scopes=_SCOPES
                    )
                return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    json.loads(cfg.keyfile), scopes=_SCOPES
                )
            except (ValueError, KeyError, OSError) as exc:
                raise SinkConfigError(
                    "keyfile",
                    f"not a service account key ({type(exc).__name__}); give the JSON key "
                    "file Google Cloud created for the service account",
                ) from None
        if cfg.endpoint and cfg.key_source is None:  # a local emulator: no Google login
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        import google.auth
        import google.auth.exceptions

        try:
            credentials, _ = google.auth.default(scopes=_SCOPES)
        except google.auth.exceptions.DefaultCredentialsError:
            raise SinkConfigError(
                "keyfile",
                "no keyfile and no application default credentials; set keyfile to a service "
                "account key, or run `gcloud auth application-default login` / set "
                "GOOGLE_APPLICATION_CREDENTIALS",
            ) from None
        return credentials

    def _connect_error(self, exc: Exception) -> Exception:
        import google.auth.exceptions as ga
        from google.api_core import exceptions as ge

        text = f"cannot reach {self.cfg.where}: {_message(exc)}"
        if isinstance(exc, ga.RefreshError):
            return SinkFatalError(text + "; the credentials were refused (a revoked key?)")
        if isinstance(exc, (ge.Forbidden, ge.Unauthorized)) and not _rate_limited(exc):
            return SinkFatalError(
                text + "; the credentials need BigQuery Data Editor on the dataset (on the "
                "project to create it) and Job User on the project"
            )
        if isinstance(exc, (ge.BadRequest, ge.NotFound)):
            return SinkFatalError(text + "; check project, defaultDataset and location")
        return SinkTransientError(text)

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def _job_config(self, params: Sequence[Any] = ()) -> Any:
        from google.cloud import bigquery

        return bigquery.QueryJobConfig(
            query_parameters=[_parameter(v) for v in params],
            use_legacy_sql=False,
            default_dataset=f"{self.cfg.project}.{self.cfg.default_dataset}",
            labels={"hub": "sink"},
        )

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # the query made again when it fails as a job may (rate limits, backend errors), by
        # our job retry, bounded by bigquery.timeout.ms: given to the client, that retry also
        # wrapped the job's insertion in the library's own, of 600 s whatever ours said
        return self._job_retry(self._run_once)(sql, params)

    def _run_once(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        job = self._client.query(
            sql,
            job_config=self._job_config(params),
            job_id_prefix=self._job_prefix,
            retry=self._retry,
            job_retry=None,
        )
        try:
            rows = job.result(timeout=self._timeout, retry=self._retry)
        except concurrent.futures.TimeoutError:
            # the job runs on without us: cancel it (the next connect waits for its end)
            with contextlib.suppress(Exception):
                job.cancel(timeout=self._timeout)
            raise
        return [tuple(r.values()) for r in rows]

    def run_transaction(self, statements: Sequence[Statement]) -> None:
        for sql, params in statements:
            if params:  # every held statement is built with literals (see the module doc)
                raise AssertionError(f"a BigQuery script statement with parameters: {sql}")
        body = ";\n".join(sql for sql, _ in statements)
        script = f"BEGIN TRANSACTION;\n{body};\nCOMMIT TRANSACTION;"
        # BigQuery aborts one of two transactions that change one table at once (another task
        # of the connector, another connector's offsets): the script rolled back; run it again
        deadline, pause = time.monotonic() + self._timeout, 0.5
        while True:
            try:
                self.run(script)
                return
            except Exception as exc:
                if not _conflict(exc) or time.monotonic() + pause > deadline:
                    raise
                log.info("%s: transaction aborted by a concurrent one; again", self.cfg.where)
                time.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, 8.0)

    def translate(self, exc: Exception) -> Exception:
        import google.auth.exceptions as ga
        import requests
        from google.api_core import exceptions as ge

        text = _message(exc)
        if _MOVED in text:
            return OffsetsMovedError(f"{self.cfg.where}: {_MOVED} (another writer committed)")
        transient = (
            ge.TooManyRequests,
            ge.InternalServerError,
            ge.BadGateway,
            ge.ServiceUnavailable,
            ge.GatewayTimeout,
            ge.RetryError,
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
            concurrent.futures.TimeoutError,
            TimeoutError,
            ga.TransportError,  # the token's refresh did not reach Google
        )
        if isinstance(exc, ga.RefreshError):  # a revoked or deleted key
            return SinkFatalError(f"{self.cfg.where}: the credentials were refused: {text}")
        if isinstance(exc, transient) or _rate_limited(exc) or _conflict(exc):
            self.close()
            return SinkTransientError(f"{self.cfg.where}: {text}")
        return SinkFatalError(f"{self.cfg.where}: {type(exc).__name__}: {text}")

    # -- names and types ----------------------------------------------------------------------

    def quote(self, name: str) -> str:
        return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"

    def _dataset(self, table: TableRef) -> str:
        return self.cfg.default_dataset if table.schema is None else table.schema

    def _ref(self, table: TableRef) -> Any:
        """The client's reference of ``table`` (a name with dots in it stays one name)."""
        from google.cloud import bigquery

        dataset = bigquery.DatasetReference(self.cfg.project, self._dataset(table))
        return bigquery.TableReference(dataset, table.name)

    def table_name(self, table: TableRef) -> str:
        q = self.quote
        return f"{q(self.cfg.project)}.{q(self._dataset(table))}.{q(table.name)}"

    def create_schema(self, schema: str) -> None:
        loc = self.cfg.location
        where = f" OPTIONS (location = {_literal(loc)})" if loc else ""
        name = f"{self.quote(self.cfg.project)}.{self.quote(schema)}"
        self.ddl(f"CREATE SCHEMA IF NOT EXISTS {name}{where}")

    def create_table(
        self,
        table: TableRef,
        columns: Mapping[str, str],
        pk: Sequence[str],
        *,
        if_not_exists: bool = False,
    ) -> None:
        # IF NOT EXISTS always: another task of the connector may create it first
        super().create_table(table, columns, pk, if_not_exists=True)
        self._types[table] = dict(columns)

    def table_options(self, table: TableRef, columns: Mapping[str, str], pk: Sequence[str]) -> str:
        out = ""
        partition = self._partitioning(table, columns)
        if partition:
            out += f" PARTITION BY {partition}"
        cluster = self._clustering(columns, pk)
        if cluster:
            out += " CLUSTER BY " + ", ".join(self.quote(c) for c in cluster)
        return out

    def _partitioning(self, table: TableRef, columns: Mapping[str, str]) -> str:
        """The PARTITION BY expression for a table with the configured column, or ''."""
        field, unit = self.cfg.partition_field, self.cfg.partitioning_type
        kind = columns.get(field) if field else None
        col = self.quote(field)
        if kind == "TIMESTAMP":
            return f"TIMESTAMP_TRUNC({col}, {unit})"
        if kind == "DATETIME":
            return f"DATETIME_TRUNC({col}, {unit})"
        if kind == "DATE" and unit == "DAY":
            return col
        if kind == "DATE" and unit in ("MONTH", "YEAR"):
            return f"DATE_TRUNC({col}, {unit})"
        if kind is not None:
            raise SinkConfigError(
                "timestampPartitionFieldName",
                f"table {table}: column {field} is {kind}, which BigQuery cannot partition by "
                f"{unit}; name a DATE, DATETIME or TIMESTAMP column (a DATE one by DAY, MONTH "
                "or YEAR)",
            )
        return ""

    def _clustering(self, columns: Mapping[str, str], pk: Sequence[str]) -> list[str]:
        """The configured clustering columns the table has, or its key columns BigQuery can
        cluster by (a MERGE then reads only the blocks of the batch's keys)."""
        wanted = self.cfg.clustering_fields
        if wanted is not None:
            return [c for c in wanted if c in columns]
        ok = [k for k in pk if columns[k] in bt.CLUSTERABLE or "NUMERIC(" in columns[k]]
        return ok[:4]

    def add_column(self, table: TableRef, name: str, sql_type: str) -> None:
        t, c = self.table_name(table), self.quote(name)
        self.ddl(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {sql_type}")  # a race, as above
        self._types.setdefault(table, {})[name] = sql_type

    def rename_column(self, table: TableRef, name: str, new: str) -> None:
        super().rename_column(table, name, new)
        types = self._types.setdefault(table, {})
        if name in types:
            types[new] = types.pop(name)

    def drop_column(self, table: TableRef, name: str) -> None:
        super().drop_column(table, name)
        self._types.get(table, {}).pop(name, None)

    def widen_column(self, table: TableRef, name: str, sql_type: str, have: str = "") -> None:
        have = self._types.get(table, {}).get(name, "") or have
        if sql_type == "STRING" and have != "STRING":  # past 38 digits: BigQuery cannot
            raise SchemaChangeError(
                str(table), name, have, sql_type, "BigQuery cannot change a number to STRING"
            )
        super().widen_column(table, name, sql_type)
        self._types.setdefault(table, {})[name] = sql_type

    def drop_table(self, table: TableRef) -> None:
        super().drop_table(table)
        self._types.pop(table, None)

    def sql_type(self, t: ColumnType) -> str:
        return bt.sql_type(t)

    def column_type(self, sql_type: str) -> ColumnType | None:
        return bt.column_type(sql_type)

    def holds(self, existing: str, t: ColumnType) -> bool:
        return bt.holds(existing, t)

    def describe(self, table: TableRef) -> TableInfo | None:
        from google.api_core import exceptions as ge

        try:
            tb = self._client.get_table(self._ref(table), retry=self._retry, timeout=self._timeout)
        except ge.NotFound:
            self._types.pop(table, None)
            return None
        columns = {
            f.name: bt.spelled(f.field_type, f.mode, f.precision, f.scale) for f in tb.schema
        }
        self._types[table] = columns
        return TableInfo(columns, ())  # BigQuery enforces no primary key

    def select_expr(self, col: StagedColumn, ref: str) -> str:
        target = None if self._table is None else self._types.get(self._table, {}).get(col.name)
        return bt.select_expr(col.type, ref, target)

    def text_expr(self, expr: str) -> str:
        return f"CAST({expr} AS STRING)"

    def json_text_expr(self, expr: str) -> str | None:
        """JSON as its text: the client parses a JSON column, and a document that is a bare
        string or null came back as a Python str or None (hub verify saw differences)."""
        return f"TO_JSON_STRING({expr})"

    def reader_session(self) -> None:
        """BigQuery shows timestamps in UTC."""

    # -- staging ------------------------------------------------------------------------------

    def load(self, name: str, columns: Sequence[StagedColumn]) -> tuple[str, str]:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from google.cloud import bigquery

        self._n += 1
        table = TableRef(None, f"_hub_stage_{self._tag}_{self._n}")
        q, full = self.quote, self.table_name(table)
        positional = [f"C{i}" for i in range(len(columns))]
        arrays = [
            column_staged(c.name, c.type, bt.arrow_array, c.type, c.values, c.name) for c in columns
        ]
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_arrays(arrays, names=positional), buf)  # type: ignore[no-untyped-call]
        buf.seek(0)
        defs = ", ".join(
            f"{q(p)} {bt.staged_type(c.type)}" for p, c in zip(positional, columns, strict=True)
        )
        self.run(
            f"CREATE OR REPLACE TABLE {full} ({defs}) OPTIONS (expiration_timestamp = "
            "TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 DAY))"
        )
        ref = self._ref(table)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            # Parquet decimals to the column's type: NUMERIC alone (the default) fails a load
            # of a BIGNUMERIC column's values past NUMERIC's scale of 9
            decimal_target_types=[
                bigquery.DecimalTargetType.NUMERIC,
                bigquery.DecimalTargetType.BIGNUMERIC,
                bigquery.DecimalTargetType.STRING,
            ],
        )
        job = self._client.load_table_from_file(
            buf, ref, job_config=config, rewind=True, job_id_prefix=self._job_prefix,
            timeout=self._timeout,
        )  # fmt: skip
        job.result(timeout=self._timeout, retry=self._retry)
        names = ", ".join(
            f"{q(p)} AS {q(c.name)}" for p, c in zip(positional, columns, strict=True)
        )
        return f"(SELECT {names} FROM {full})", table.name

    def drop_staged(self, table: str) -> None:
        """``table``: a staging table's name, in the default dataset."""
        self._client.delete_table(
            self._ref(TableRef(None, table)),
            not_found_ok=True,
            retry=self._retry,
            timeout=self._timeout,
        )

    # -- statements ---------------------------------------------------------------------------

    def truncate(self, table: TableRef, *, soft: bool) -> None:
        t = self.table_name(table)
        if soft:
            self.execute(f"UPDATE {t} SET {self.quote('__deleted')} = TRUE WHERE TRUE")
        else:
            self.execute(f"DELETE FROM {t} WHERE TRUE")

    def insert(self, table: TableRef, columns: Sequence[StagedColumn]) -> None:
        rel = self.stage("ins", columns)
        q = self.quote
        self._table = table
        try:
            names = ", ".join(q(c.name) for c in columns)
            exprs = ", ".join(self.select_expr(c, f"s.{q(c.name)}") for c in columns)
        finally:
            self._table = None
        self.execute(
            f"INSERT INTO {self.table_name(table)} ({names}) SELECT {exprs} FROM {rel} AS s"
        )

    def merge(self, m: Merge) -> None:
        self._table = m.table
        try:
            super().merge(m)  # the engine's MERGE (`connectors.sink.engine.merge`)
        finally:
            self._table = None

    def upsert_values(
        self,
        table: TableRef,
        key: Sequence[str],
        names: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        replace: bool,
    ) -> None:
        q, t = self.quote, self.table_name(table)
        cols = ", ".join(q(n) for n in names)
        at = [names.index(k) for k in key]
        for row in rows:
            match = " AND ".join(f"{q(key[j])} = {_literal(row[i])}" for j, i in enumerate(at))
            values = ", ".join(_literal(v) for v in row)
            if replace:
                self.execute(f"DELETE FROM {t} WHERE {match}")
                self.execute(f"INSERT INTO {t} ({cols}) VALUES ({values})")
            else:
                self.execute(
                    f"INSERT INTO {t} ({cols}) SELECT {values} "
                    f"FROM (SELECT 1) WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {match})"
                )

    def expect_offsets(
        self, connector: str, expected: Mapping[tuple[str, int], int | None]
    ) -> None:
        """Fail the batch's script if ``_hub_offsets`` holds for these partitions anything but
        what this task read (None: no row)."""
        if not expected:
            return
        q = self.quote
        topic, part, nxt = q("topic"), q("partition"), q("next_offset")
        moved = []
        for (t, p), off in sorted(expected.items()):
            same = f"{topic} = {_literal(t)} AND {part} = {p}"
            moved.append(f"({same})" if off is None else f"({same} AND {nxt} <> {int(off)})")
        self.hold_first(
            f"IF (SELECT COUNT(*) FROM {self.table_name(offsets_table.REF)} WHERE "
            f"{q('connector')} = {_literal(connector)} AND ({' OR '.join(moved)})) > 0 THEN "
            f"SELECT ERROR({_literal(_MOVED)}); END IF"
        )


def _literal(v: Any) -> str:
    """A GoogleSQL literal: strings quoted with ``\\`` and ``'`` escaped; other control
    characters go in as the bytes' base64 (GoogleSQL's ``\\x`` escapes are not understood by
    every engine that speaks it)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if any(ord(c) < 32 or ord(c) == 127 for c in s):
        import base64

        return f"CAST(FROM_BASE64('{base64.b64encode(s.encode()).decode()}') AS STRING)"
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _parameter(v: Any) -> Any:
    from google.cloud import bigquery

    kind = "BOOL" if isinstance(v, bool) else "INT64" if isinstance(v, int) else "STRING"
    return bigquery.ScalarQueryParameter(None, kind, v)


def _conflict(exc: Exception) -> bool:
    """BigQuery aborted the transaction for a concurrent one that changed the same table."""
    text = str(exc)
    return "concurrent update" in text or "aborted due to concurrent" in text


def _rate_limited(exc: Exception) -> bool:
    errors = getattr(exc, "errors", None) or []
    reasons = {e.get("reason") for e in errors if isinstance(e, dict)}
    return bool(reasons & {"rateLimitExceeded", "quotaExceeded", "backendError"})


def _message(exc: BaseException) -> str:
    """One line, without the client's job id and location trailer."""
    text = getattr(exc, "message", None) or str(exc)
    text = str(text).split("\n\nLocation:")[0]
    return " ".join(text.split()) or type(exc).__name__
