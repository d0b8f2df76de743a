"""A sink under test against a real target (`targets`): a DuckDB file in tmp_path, a fresh
PostgreSQL database from the session server (`pg_db`), with the dialect's own statements or
the engine's default ``MERGE``, or a fresh schema of the Snowflake stand-in."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.task import EngineSinkTask
from hub.log import TopicPartition
from hub.runtime.api import SinkRecord, SinkTaskContext
from tests.connectors.sink.targets import TARGETS, Target, place


class Sink:
    """Drives a sink task as the runner does (start, open, put, flush) and reads the target
    through the task's own connection (DuckDB lets one process hold the file)."""

    def __init__(self, target: Target, where: Mapping[str, Any], **config: Any) -> None:
        self.target = target
        # what the SQL of a test reads from: duckdb, postgres, snowflake, bigquery, redshift
        self.kind = target.database
        self.config = {**where, **config}
        self.task: EngineSinkTask | None = None
        # (dsn, schema): `query` reads there instead of through the task's connection
        self.direct: tuple[str, str] | None = None

    def start(self, topics: Sequence[str] = (), **config: Any) -> dict[TopicPartition, int]:
        self.stop()
        task = self.target.task()
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
        if self.direct is not None:
            return self._direct(sql)
        if self.task is None:
            self.start()
        assert self.task is not None
        d = self.task.dialect
        if self.kind == "bigquery":  # the tests' SQL quotes names as the other targets do
            sql = re.sub(r'"((?:[^"]|"")*)"', lambda m: d.quote(m[1].replace('""', '"')), sql)
        d.begin()
        try:
            return d.query(sql)
        finally:
            d.rollback()

    def _direct(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the Redshift stand-in's PostgreSQL database directly (the Redshift driver
        hands VARBYTE and SUPER back as text, as Redshift does: the tests compare values)."""
        import psycopg

        assert self.direct is not None
        dsn, schema = self.direct
        with psycopg.connect(dsn, options=f"-c search_path={schema} -c timezone=UTC") as con:
            return [tuple(r) for r in con.execute(sql).fetchall()]

    def rows(self, table: str, order: str = "1") -> list[tuple[Any, ...]]:
        if self.task is None:
            self.start()
        assert self.task is not None
        name = self.task.dialect.table_name(TableRef(None, table))
        return self.query(f"SELECT * FROM {name} ORDER BY {order}")

    def columns(self, table: str) -> dict[str, str]:
        assert self.task is not None
        self.task.tables.clear()
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


@pytest.fixture(params=list(TARGETS))
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sink]:
    """Every target; a test limited to some names them: ``@pytest.mark.parametrize("sink",
    [...], indirect=True)``, saying why."""
    target = TARGETS[request.param]
    where, at = place(target, request, tmp_path)
    s = Sink(target, where)
    if target.database == "redshift":
        s.direct = (request.getfixturevalue("redshift_server").pg_dsn, at)
    yield s
    s.stop()


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Sink]:
    s = Sink(TARGETS["duckdb"], {"connection.url": f"duckdb://{tmp_path / 'sink.duckdb'}"})
    yield s
    s.stop()
