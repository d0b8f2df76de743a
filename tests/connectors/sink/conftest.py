"""A sink under test against a real target: a DuckDB file in tmp_path or a fresh PostgreSQL
database from the session server (`pg_db`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from connectors.sink.duckdb import DuckDBSinkTask
from connectors.sink.engine.task import EngineSinkTask
from connectors.sink.postgres import PostgresSinkTask
from hub.log import TopicPartition
from hub.runtime.api import SinkRecord, SinkTaskContext
from tests.fixtures.postgres import PgServer


class Sink:
    """Drives a sink task as the runner does (start, open, put, flush) and reads the target
    through the task's own connection (DuckDB lets one process hold the file)."""

    def __init__(self, kind: str, url: str, **config: Any) -> None:
        self.kind, self.url = kind, url
        self.config = {"connection.url": url, **config}
        self.task: EngineSinkTask | None = None

    def start(self, topics: Sequence[str] = (), **config: Any) -> dict[TopicPartition, int]:
        self.stop()
        task = DuckDBSinkTask() if self.kind == "duckdb" else PostgresSinkTask()
        task.start({**self.config, **config}, SinkTaskContext("sink", 0))
        self.task = task
        return task.open({TopicPartition(t, 0) for t in topics})

    def put(self, records: Sequence[SinkRecord]) -> None:
        if self.task is None:
            self.start({r.topic for r in records})
        assert self.task is not None
        self.task.put(records)
        self.task.flush({})

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.task is None:
            self.start()
        assert self.task is not None
        d = self.task.dialect
        d.begin()
        try:
            return d.execute(sql)
        finally:
            d.rollback()

    def rows(self, table: str, order: str = "1") -> list[tuple[Any, ...]]:
        return self.query(f'SELECT * FROM "{table}" ORDER BY {order}')

    def columns(self, table: str) -> dict[str, str]:
        assert self.task is not None
        self.task.tables.clear()
        from connectors.sink.engine.naming import TableRef

        d = self.task.dialect
        d.begin()
        try:
            info = d.describe(TableRef(None, table))
        finally:
            d.rollback()
        return {} if info is None else dict(info.columns)

    def stop(self) -> None:
        if self.task is not None:
            self.task.stop()
            self.task = None


@pytest.fixture(params=["duckdb", "postgres"])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sink]:
    if request.param == "duckdb":
        s = Sink("duckdb", f"duckdb://{tmp_path / 'sink.duckdb'}")
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        db: str = request.getfixturevalue("pg_db")
        s = Sink("postgres", f"postgresql://{server.user}@{server.host}:{server.port}/{db}")
    yield s
    s.stop()


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Sink]:
    s = Sink("duckdb", f"duckdb://{tmp_path / 'sink.duckdb'}")
    yield s
    s.stop()
