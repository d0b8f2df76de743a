"""A real value equal to Debezium's placeholder for an unchanged TOASTed value lands as it is.

The sinks keep the target's value where an update's row holds the placeholder (the text
``__debezium_unavailable_value``, its bytes, one array item per byte of it...). A value the
application wrote that equals one (a text set to those words; a boolean[] of 28 trues, the
placeholder of a boolean array) was kept out the same way, silently: the sink kept the old
value for ever. hub's PostgreSQL source now names the columns it put a placeholder in
(`hub.runtime.api.UNAVAILABLE_HEADER`), and an event of hub's without that header holds none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.config import ConnectorSpec
from hub.runtime.worker import Worker
from tests.connectors.postgres.helpers import source_config
from tests.connectors.sink.test_type_matrix_sinks import _db, _drop, _until
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration

WORDS = "__debezium_unavailable_value"
TRUES = "{" + ",".join(["t"] * len(WORDS)) + "}"
SELECT = 'SELECT id, c, flags::text, length("b,ig") FROM {} ORDER BY id'


def _rows(read: Any) -> dict[int, tuple[Any, ...]] | None:
    try:
        return {r[0]: tuple(r[1:]) for r in read()}
    except Exception:  # noqa: BLE001 - (not made yet, or the file held by the worker)
        return None


UNWRAP = {
    "transforms": "unwrap",
    "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
}


@pytest.mark.parametrize("transforms", [{}, UNWRAP], ids=["envelope", "unwrapped"])
def test_a_value_equal_to_the_placeholder_lands_as_it_is(
    pg_server: PgServer, tmp_path: Path, transforms: dict[str, str]
) -> None:
    """The sinks read the events as they are and, through ExtractNewRecordState, their row
    states (which have no source version: the transform keeps what the event said in a
    header)."""
    import duckdb

    src, dst = _db(pg_server), _db(pg_server)
    duck_path = tmp_path / "sink.duckdb"
    worker: Worker | None = None
    try:
        with psycopg.connect(pg_server.dsn(src), autocommit=True) as conn:
            # (a comma in the TOASTed column's name: the header's list of names is JSON)
            conn.execute(
                'CREATE TABLE t (id int PRIMARY KEY, c text, flags boolean[], "b,ig" text)'
            )
            conn.execute('ALTER TABLE t ALTER COLUMN "b,ig" SET STORAGE EXTERNAL')
            conn.execute("INSERT INTO t VALUES (1, 'old', '{f}', 'x'), (2, 'old', '{f}', %s)",
                         ("y" * 20000,))  # fmt: skip
            worker = Worker(str(tmp_path / "data"))
            worker.add(ConnectorSpec("pg", source_config(pg_server, src), "test"))
            sink = {"topics": "app.public.t", "batch.max.wait.ms": 50, **transforms}
            worker.add(ConnectorSpec("duck", {
                "connector.class": "duckdb", "connection.url": f"duckdb://{duck_path}",
                "duckdb.idle.release.ms": 50, **sink}, "test"))  # fmt: skip
            url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{dst}"
            pgsink = {"connector.class": "postgres-sink", "connection.url": url, **sink}
            worker.add(ConnectorSpec("pgsink", pgsink, "test"))

            def pg_rows() -> Any:
                with psycopg.connect(pg_server.dsn(dst)) as con:
                    return con.execute(SELECT.format("app_public_t")).fetchall()

            def duck_rows() -> Any:
                con = duckdb.connect(str(duck_path), read_only=True)
                try:
                    return con.execute(
                        SELECT.format("app_public_t").replace("::text", "::VARCHAR")
                    ).fetchall()
                finally:
                    con.close()

            for read in (pg_rows, duck_rows):
                _until(worker, lambda r=read: _rows(r), lambda r: len(r) == 2, "the snapshot")
            # row 1: values equal to placeholders, nothing unchanged TOASTed; row 2: the same,
            # its big TOASTed text left alone (the placeholder stands for it: kept)
            conn.execute("UPDATE t SET c = %s, flags = %s WHERE id = 1", (WORDS, TRUES))
            conn.execute("UPDATE t SET c = %s, flags = %s WHERE id = 2", (WORDS, TRUES))
            # row 3: made with them (a create's values are all real)
            conn.execute("INSERT INTO t VALUES (3, %s, %s, 'z')", (WORDS, TRUES))
            conn.execute("INSERT INTO t VALUES (4, 'last', NULL, NULL)")
            for name, read in (("postgres", pg_rows), ("duckdb", duck_rows)):
                got = _until(worker, lambda r=read: _rows(r), lambda r: 4 in r, "the updates")
                for i, big in ((1, 1), (2, 20000), (3, 1)):
                    c, flags, length = got[i]
                    flags = flags.replace(" ", "").replace("true", "t")  # (DuckDB's form)
                    assert (c, flags.strip("{}[]").split(","), length) == (
                        WORDS, ["t"] * 28, big), (name, i)  # fmt: skip
    finally:
        if worker is not None:
            worker.stop()
        _drop(pg_server, src)
        _drop(pg_server, dst)


@pytest.mark.parametrize(
    ("version", "headers", "held"),
    [
        ("2.7.0.hub2", (), frozenset()),  # hub's: no header, no placeholder
        ("2.7.0.hub2", (("__hub.unavailable", b'["b,ig","c"]'),), frozenset({"b,ig", "c"})),
        ("2.7.0.hub2", (("__hub.unavailable", b'["renamed"]'),), None),  # (not in the row)
        ("2.7.0.hub", (), None),  # an earlier hub's, still in a log: not said
        ("2.7.0.Final", (), None),  # Debezium's: not said
    ],
)
def test_which_events_say_where_their_placeholders_are(
    version: str, headers: tuple[tuple[str, bytes], ...], held: frozenset[str] | None
) -> None:
    from connectors.sink.engine.config import SinkConfig
    from connectors.sink.engine.records import ChangeReader
    from hub.runtime.api import SinkRecord

    reader = ChangeReader(SinkConfig.of({"connection.url": "duckdb:x.duckdb"}))
    source = {"version": version, "connector": "postgresql", "name": "app", "db": "d",
              "schema": "public", "table": "t"}  # fmt: skip
    after = {"id": 1, "c": WORDS, "b,ig": WORDS}
    value = {"op": "u", "before": None, "after": after, "source": source}
    change = reader.read(SinkRecord("app.public.t", 0, 0, 0, {"id": 1}, value, headers))
    assert change is not None
    assert (change.held, change.exact) == (held, held == frozenset())


@pytest.mark.parametrize(
    ("version", "headers", "exact"),
    [
        ("2.7.0.hub2", (), True),  # hub's insert
        ("2.7.0.hub", (), False),  # an earlier hub's: a re-keyed row's create named no old key
        ("2.7.0.Final", (), True),  # Debezium's: a re-keyed row's create names its old key
        # hub's re-keyed row's create: its placeholders named, or none
        (
            "2.7.0.hub2",
            (("__debezium.oldkey", b'{"id": 0}'), ("__hub.unavailable", b'["c"]')),
            False,
        ),
        ("2.7.0.hub2", (("__debezium.oldkey", b'{"id": 0}'),), True),
    ],
)
def test_which_creates_hold_only_real_values(
    version: str, headers: tuple[tuple[str, bytes], ...], exact: bool
) -> None:
    """Hubs before their events named placeholders gave a re-keyed row's create no old-key
    header: its unchanged TOASTed values were written as the placeholder's text by a sink
    that took every create for real values (an upgrade review: 5 of 5 rows)."""
    from connectors.sink.engine.config import SinkConfig
    from connectors.sink.engine.records import ChangeReader
    from hub.runtime.api import SinkRecord

    reader = ChangeReader(SinkConfig.of({"connection.url": "duckdb:x.duckdb"}))
    source = {"version": version, "connector": "postgresql", "name": "app", "db": "d",
              "schema": "public", "table": "t"}  # fmt: skip
    value = {"op": "c", "before": None, "after": {"id": 1, "c": WORDS}, "source": source}
    change = reader.read(SinkRecord("app.public.t", 0, 0, 0, {"id": 1}, value, headers))
    assert change is not None and change.exact is exact
