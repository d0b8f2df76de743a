"""A sink under test against a real target (`targets`): a DuckDB file in tmp_path, a fresh
PostgreSQL database from the session server (`pg_db`), with the dialect's own statements or
the engine's default ``MERGE``, or a fresh schema or dataset of a warehouse's stand-in; and
what the warehouse sinks' config and connection tests share (`validate_sink`, `refuses`,
`checks_pass`)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.task import EngineSinkTask
from hub.config import ConnectorSpec
from hub.errors import ConfigError
from hub.log import TopicPartition
from hub.log.record import Record
from hub.runtime.api import Check, EncodedSinkRecords, SinkRecord, SinkTask, SinkTaskContext
from hub.runtime.converters import JsonConverter
from hub.runtime.validation import validate
from tests.connectors.sink.targets import TARGETS, Target, place


def validate_sink(cls: str, **config: Any) -> Any:
    """``hub validate --no-connect`` of one sink named by ``connector.class`` ``cls``."""
    spec = ConnectorSpec("wh", {"connector.class": cls, "topics": "t", **config}, "test.yaml")
    return validate(spec)


def refuses(cls: str, config: Mapping[str, Any], words: Sequence[str]) -> ConfigError:
    """The config is refused with every one of ``words`` and never the secret ``hunter2``."""
    with pytest.raises(ConfigError) as err:
        validate_sink(cls, **config)
    for w in words:
        assert w in str(err.value)
    assert "hunter2" not in str(err.value)
    return err.value


def checks_pass(checks: Sequence[Check]) -> None:
    """``hub validate --connect``'s checks of an engine sink all passed."""
    assert [(c.what, c.ok) for c in checks][1:] == [
        ("may create tables", True),
        ("may load and merge rows", True),
    ]
    assert checks[0].ok


class Sink:
    """Drives a sink task as the runner does (start, open, put, flush) and reads the target
    through the task's own connection (DuckDB lets one process hold the file)."""

    def __init__(self, target: Target, where: Mapping[str, Any], **config: Any) -> None:
        self.target = target
        # what the SQL of a test reads from: duckdb, postgres, snowflake, bigquery, redshift
        self.kind = target.database
        self.config = {**where, **config}
        if target.database == "duckdb":  # its own path for encoded batches, however small
            self.config.setdefault("duckdb.native.min.records", 1)
        self.task: EngineSinkTask | None = None
        self.encoded_batches = 0  # batches `put_encoded` took
        # (dsn, schema): `query` reads there instead of through the task's connection
        self.direct: tuple[str, str] | None = None

    def start(
        self,
        topics: Sequence[str] = (),
        topic_ids: Mapping[str, tuple[str, ...]] | None = None,
        **config: Any,
    ) -> dict[TopicPartition, int]:
        """A new task; ``topic_ids``: the log's ids of the topics (none by default)."""
        self.stop()
        task = self.target.task()
        ids = dict(topic_ids or {})
        task.start({**self.config, **config}, SinkTaskContext("sink", 0, lambda t: ids.get(t, ())))
        self.task = task
        return task.open({TopicPartition(t, 0) for t in topics})

    def put(self, records: Sequence[SinkRecord]) -> None:
        """As the runner hands a batch over: still encoded to `put_encoded` first (a sink's
        own path: DuckDB's), which takes it or declines it; then ``put``."""
        if self.task is None:
            self.start({r.topic for r in records})
        assert self.task is not None
        if not self.put_encoded(records):
            self.task.put(records)
        self.task.flush({})

    def put_encoded(self, records: Sequence[SinkRecord]) -> bool:
        """The records encoded by the JSON converter, to the task's `put_encoded`."""
        assert self.task is not None
        if type(self.task).put_encoded is SinkTask.put_encoded or not records:
            return False
        kc, vc = JsonConverter(True), JsonConverter(True)
        encoded = [
            Record(r.topic, r.partition, r.offset, r.timestamp,
                   kc.from_value(r.key, r.key_schema), vc.from_value(r.value, r.value_schema),
                   tuple(r.headers))
            for r in records
        ]  # fmt: skip
        taken = self.task.put_encoded(EncodedSinkRecords(encoded, kc, vc))
        self.encoded_batches += taken
        return taken

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

    def execute(self, *statements: str) -> None:
        """Change the target behind the task's back, in one committed transaction."""
        if self.task is None:
            self.start()
        assert self.task is not None
        d = self.task.dialect
        d.begin()
        try:
            for sql in statements:
                if self.kind == "bigquery":
                    sql = re.sub(r'"((?:[^"]|"")*)"', lambda m: d.quote(m[1].replace('""', '"')),
                                 sql)  # fmt: skip
                d.execute(sql)
            d.commit()
        except BaseException:
            d.rollback()
            raise

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
