"""`hub verify` reads every sink's table back in the form the source's rows compare in: the
warehouses' arrays (Snowflake's ARRAY and Redshift's SUPER come back as JSON text), Redshift's
VARBYTE (hex text), BigQuery's JSON (parsed by its client) and ISO timestamps. Each had been a
difference in a table whose values were right, so a real one was lost among them."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from connectors.source.postgres.connector import PostgresConnector
from hub.verify.compare import compare
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable

pytestmark = pytest.mark.integration

COLUMNS = [  # (name, type, literal)
    ("ai", "int[]", "'{1,NULL,3}'"),
    ("ab", "bytea[]", "ARRAY['\\x00ff'::bytea, ''::bytea]"),
    ("atz", "timestamptz[]", "'{2024-01-01 00:00:00+05}'"),
    ("ts", "timestamptz", "'1969-12-31 23:59:59.999999+00'"),
    ("by", "bytea", "'\\x00ff'"),
    ("t", "text", "'a\\b'"),
]
JSONS = ["'\"s\"'", "'null'", '\'{"b": [1, 2.5], "a": null}\'']


def test_a_table_the_sink_holds_right_verifies_equal(
    sink: Sink, pg_server: Any, pg_db: str
) -> None:
    cols = ", ".join(f"{n} {t}" for n, t, _ in COLUMNS)
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute(f"CREATE TABLE m (id int PRIMARY KEY, {cols}, j json)")
        for i, j in enumerate(JSONS, 1):
            values = ", ".join(v for _, _, v in COLUMNS)
            pg.execute(f"INSERT INTO m VALUES ({i}, {values}, {j})")
        pg.execute("INSERT INTO m (id) VALUES (9)")
        meta = pg.execute(
            "SELECT attname, atttypid, atttypmod FROM pg_attribute WHERE attrelid = 'm'::regclass "
            "AND attnum > 0 ORDER BY attnum"
        ).fetchall()
        texts = ", ".join(f"CASE WHEN \"{a}\" IS NULL THEN NULL ELSE format('%s', \"{a}\") END"
                          for a, _, _ in meta)  # fmt: skip
        rows = pg.execute(f"SELECT {texts} FROM m ORDER BY id").fetchall()
    table = PgTable("m", [(str(a), int(o), int(tm)) for a, o, tm in meta])
    names = [str(a) for a, _, _ in meta]
    sink.put([table.insert(i, dict(zip(names, r, strict=True))) for i, r in enumerate(rows)])
    source_cfg = {
        "connector.class": "postgres", "database.hostname": pg_server.host,
        "database.port": pg_server.port, "database.user": pg_server.user,
        "database.dbname": pg_db, "topic.prefix": "srv", "slot.name": "unused",
    }  # fmt: skip
    (source,) = [t for t in PostgresConnector.verify_tables(source_cfg, None) if t.table == "m"]
    cfg = {"topics": table.topic, **sink.config}
    sink.stop()
    target = sink.target.connector.verify_target(cfg)
    try:
        found = target.table(source)
        assert found is not None
        result = compare(source, found, limit=10)
    finally:
        target.close()
    assert result.equal, result.differences
    assert (result.source_rows, result.target_rows) == (4, 4)
