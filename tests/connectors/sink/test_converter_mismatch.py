"""A sink reading without schemas (``value.converter.schemas.enable: false``) the records a
writer wrote with them: each value is the JSON converter's ``{"schema": ..., "payload": ...}``,
whose two fields had become a table's columns (a keyless table got rows of NULLs and columns
schema and payload). The sink stops, saying which property to set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.config import ConnectorSpec
from hub.runtime.worker import Worker
from tests.connectors.postgres.helpers import failure, source_config
from tests.fixtures.postgres import PgServer
from tests.helpers import wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sink", ["duckdb", "postgres"])
def test_records_with_schemas_read_without_them_stop_the_sink_saying_so(
    pg_server: PgServer, pg_db: str, tmp_path: Path, sink: str
) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE k (v int)")
        sql.execute("ALTER TABLE k REPLICA IDENTITY FULL")
        sql.execute("INSERT INTO k VALUES (1), (2)")
    pg = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{pg_db}"
    url = f"duckdb:{tmp_path / 'w.duckdb'}" if sink == "duckdb" else pg
    config: dict[str, Any] = {
        "connector.class": sink if sink == "duckdb" else "postgres-sink",
        "topics": "app.public.k", "connection.url": url, "table.name.format": "sink_k",
        "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
    }  # fmt: skip
    worker = Worker(str(tmp_path / "data"))
    worker.add(ConnectorSpec("pg", source_config(pg_server, pg_db), "test"))
    worker.add(ConnectorSpec("out", config, "test"))
    try:
        trace = wait_for(lambda: failure(worker, "out"), what="the sink's failure")
    finally:
        worker.stop()
    assert "value.converter.schemas.enable: the records of topic 'app.public.k' are the JSON" in (
        trace
    )


def test_only_the_converters_own_documents_are_taken_for_them() -> None:
    from connectors.sink.engine.records import _converter_envelope

    struct = {"type": "struct", "fields": [{"field": "v", "type": "int32"}], "optional": False}
    assert _converter_envelope({"schema": struct, "payload": {"v": 1}})
    assert _converter_envelope({"schema": struct, "payload": None})  # (a delete's)
    # a document of an application's own with those two names: a row like any other
    assert not _converter_envelope({"schema": {"type": "object"}, "payload": {"v": 1}})
    assert not _converter_envelope({"schema": {"type": "struct"}, "payload": {"v": 1}})
    assert not _converter_envelope({"schema": struct, "payload": [1, 2]})
