"""The targets the sink engine tests run against: each a connector (its task builds the
dialect) and the database the fixtures start for it.

``duckdb`` and ``postgres`` are the sinks as shipped (DuckDB applies batches with the
engine's default statements, `MERGE`: connectors/sink/engine/merge.py; PostgreSQL with its
own, ``ON CONFLICT``); ``postgres-merge`` is PostgreSQL with the default statements, which a
warehouse dialect inherits unless it overrides them; ``snowflake`` is the Snowflake sink
against fakesnow's server (tests/fixtures/snowflake.py), ``bigquery`` the BigQuery sink against
bqemulator (tests/fixtures/bigquery.py), ``redshift`` the Redshift sink staging through S3
against PostgreSQL behind a Redshift protocol proxy and moto's S3 (tests/fixtures/redshift.py).
A new warehouse adds one `Target` here and, in `place`, where its tables live.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.sink.bigquery.connector import BigQuerySink
from connectors.sink.duckdb.connector import DuckDBSink
from connectors.sink.engine.dialect import Dialect, default_statements
from connectors.sink.postgres.connector import PostgresSink, PostgresSinkTask
from connectors.sink.redshift.connector import RedshiftSink
from connectors.sink.snowflake.connector import SnowflakeSink
from hub.runtime.api import SinkConnector


class PostgresMergeTask(PostgresSinkTask):
    def make_dialect(self, cfg: Any) -> Dialect:
        return default_statements(super().make_dialect(cfg))


class PostgresMergeSink(PostgresSink):
    name = "postgres-merge"
    aliases = ()
    task_class = PostgresMergeTask


@dataclass(frozen=True)
class Target:
    id: str
    connector: type[SinkConnector]
    # where its tables live: "duckdb" (a file), "postgres", "snowflake", "bigquery", "redshift"
    database: str

    @property
    def connector_class(self) -> str:
        """The ``connector.class`` that names it (importable from the tests)."""
        c = self.connector
        return c.name if c.__module__.startswith("connectors.") else f"{__name__}:{c.__name__}"

    def task(self) -> Any:
        return self.connector.task_class()


TARGETS = {
    t.id: t
    for t in (
        Target("duckdb", DuckDBSink, "duckdb"),
        Target("postgres", PostgresSink, "postgres"),
        Target("postgres-merge", PostgresMergeSink, "postgres"),
        Target("snowflake", SnowflakeSink, "snowflake"),
        Target("bigquery", BigQuerySink, "bigquery"),
        Target("redshift", RedshiftSink, "redshift"),
    )
}


def place(
    target: Target, request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[dict[str, Any], str]:
    """A fresh place for the target's tables: the sink properties that name it
    (``connection.url``, or the warehouse's own), and where a test reads them from
    outside the sink (a DuckDB file's path, a PostgreSQL DSN, a Snowflake schema, a BigQuery
    dataset)."""
    if target.database == "duckdb":
        path = str(tmp_path / "sink.duckdb")
        return {"connection.url": f"duckdb://{path}"}, path
    if target.database == "snowflake":
        server = request.getfixturevalue("snowflake_server")
        schema = request.getfixturevalue("snowflake_schema")
        return server.config(schema), schema
    if target.database == "redshift":
        server = request.getfixturevalue("redshift_server")
        schema = request.getfixturevalue("redshift_schema")
        return server.config(schema), schema
    if target.database == "bigquery":
        server = request.getfixturevalue("bigquery_server")
        dataset = request.getfixturevalue("bigquery_dataset")
        return server.config(dataset), dataset
    server = request.getfixturevalue("pg_server")
    db = request.getfixturevalue("pg_db")
    url = f"postgresql://{server.user}@{server.host}:{server.port}/{db}"
    return {"connection.url": url}, server.dsn(db)
