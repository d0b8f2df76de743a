"""A row whose event exceeds its topic's max.message.bytes: the task fails with an error
naming the table's topic, the row's key, the size and the property to raise; every restart
resumes the snapshot from its stored position (no row is written twice); once the limit is
raised, the table arrives whole, each row once."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from hub.log import Log
from tests.connectors.postgres.helpers import events, failure, source_config, start, wait_for
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration

TOPIC = "app.public.big"


@pytest.mark.parametrize("transforms", [False, True], ids=["encoded", "values"])
def test_a_record_past_max_message_bytes_never_doubles_the_snapshot(
    pg_server: PgServer, pg_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    transforms: bool,
) -> None:  # fmt: skip
    with Log(str(tmp_path / "data")) as log:
        log.create_topic(TOPIC, 1, {"max.message.bytes": "3000"})
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute("CREATE TABLE big (id int PRIMARY KEY, v text)")
        pg.execute("INSERT INTO big SELECT g, 'small' FROM generate_series(1, 5) g")
        # random hex: lz4 (the default compression) cannot shrink it below the limit
        pg.execute("UPDATE big SET v = (SELECT string_agg(md5(random()::text), '') "
                   "FROM generate_series(1, 300)) WHERE id = 3")  # fmt: skip
        extra = {"snapshot.fetch.size": 2, "offset.flush.interval.ms": 60000}
        if transforms:  # the record path (values, converted by the runner)
            extra |= {"transforms": "f", "transforms.f.type": "InsertField$Value",
                      "transforms.f.static.field": "tag",
                      "transforms.f.static.value": "t"}  # fmt: skip
        worker = start(tmp_path, source_config(pg_server, pg_db, **extra))
        try:
            with caplog.at_level(logging.ERROR):
                # a config error is retried once a minute: restart it by hand meanwhile
                for n in (1, 2, 3):
                    wait_for(lambda n=n: caplog.text.count("task 0 failed") >= n, timeout=20,
                             what=f"failed attempt {n}")  # fmt: skip
                    if n < 3:
                        worker.restart_task("pg", 0)
            trace = failure(worker)
            assert trace is not None
            ids = [k["id"] for k, _ in events(worker.log, TOPIC)]
            # the rows before the big one at most, each once (the packed path writes whole
            # chunks of 2, the record path a poll's records at once or none)
            assert ids in ([], [1, 2]), ids
            line = next(x for x in caplog.text.splitlines() if "task 0 failed" in x)
            assert TOPIC in line and '"id":3' in line.replace(" ", ""), line
            assert "max.message.bytes=3000" in line and "hub topics alter" in line, line
            worker.log.alter_topic(TOPIC, {"max.message.bytes": "100000"})
            worker.restart("pg", include_tasks=True)
            wait_for(lambda: len(events(worker.log, TOPIC)) >= 5, what="the whole table")
            pg.execute("INSERT INTO big VALUES (6, 'streamed')")
            wait_for(lambda: len(events(worker.log, TOPIC)) >= 6, what="the streamed row")
            ids = [k["id"] for k, _ in events(worker.log, TOPIC)]
            assert Counter(ids) == Counter(range(1, 7)), ids
        finally:
            worker.stop()
