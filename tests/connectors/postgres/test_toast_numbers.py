"""Unchanged out-of-line (TOASTed) values of number-like columns: an update that leaves them
alone does not carry them in the WAL (REPLICA IDENTITY DEFAULT), so the event carries
Debezium's placeholder, and the sink keeps what the table holds. A plain numeric came as null
(its VariableScaleDecimal struct had no placeholder) and a numeric(p,s) as the placeholder's
bytes, read as a 68-digit number; an hstore read as a map was overwritten with the
placeholder's map."""

from __future__ import annotations

import base64
from pathlib import Path

import psycopg

from hub.config import ConnectorSpec
from tests.connectors.postgres.helpers import events, failure, source_config, start, wait_for
from tests.fixtures.postgres import PgServer

BIG = "(repeat('7', 6000) || '.5')::numeric"  # (3 kB: past the 2 kB at which TOAST starts)
WIDE = "repeat('3', 1000)::numeric"
BITS = "repeat('10', 20000)::varbit"
COLUMNS = ("n", "d", "b", "h")


def test_unchanged_toasted_numbers_bits_and_maps_keep_their_values_in_the_sink(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    target = f"{pg_db}_sink"  # not the source database: its publication takes all tables
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute("CREATE EXTENSION hstore")
        pg.execute(
            "CREATE TABLE nt (id int PRIMARY KEY, s text, n numeric, d numeric(1000,0), "
            "b varbit, h hstore)"
        )
        for c in COLUMNS:  # out of line, not compressed
            pg.execute(f"ALTER TABLE nt ALTER COLUMN {c} SET STORAGE EXTERNAL")
        # once a row passes 2 kB, TOAST moves values out until it is under this
        pg.execute("ALTER TABLE nt SET (toast_tuple_target = 128)")
        pg.execute("INSERT INTO nt (id, s) VALUES (0, 'before the start')")
        pg.execute(f'CREATE DATABASE "{target}"')
        worker = start(tmp_path, source_config(pg_server, pg_db, **{
            "hstore.handling.mode": "map"}))  # fmt: skip
        worker.add(ConnectorSpec("pgs", {
            "connector.class": "postgres-sink", "topics.regex": r"app\.public\..*",
            "connection.url":
                f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{target}",
            "table.name.format": "${source.table}", "batch.max.wait.ms": 50,
        }, "test"))  # fmt: skip
        try:
            wait_for(lambda: events(worker.log, "app.public.nt"), what="the snapshot")
            hstore = "hstore(array_agg('k' || i), array_agg(repeat('v', 50) || i)) "
            pg.execute(
                f"INSERT INTO nt SELECT 1, 'a', {BIG}, {WIDE}, {BITS}, {hstore}"
                "FROM generate_series(1, 200) i"
            )
            pg.execute("UPDATE nt SET s = 'b' WHERE id = 1")  # the others unchanged
            evs = wait_for(
                lambda: e if len(e := events(worker.log, "app.public.nt")) == 3 else None,
                what="the insert and the update",
            )
            # every one of them out of line and unchanged: the placeholder in its form
            mark = "__debezium_unavailable_value"
            b64 = base64.b64encode(mark.encode()).decode()
            after = evs[2][1]["after"]
            assert after["n"] == {"scale": 0, "value": b64}
            assert (after["d"], after["b"], after["h"]) == (b64, b64, {mark: mark})
            assert evs[2][1]["op"] == "u"
            text = "SELECT id, s, n::text, d::text, {} FROM nt ORDER BY id"
            want = pg.execute(text.format("hstore_to_jsonb(h)::text")).fetchall()
            # (a map is JSON in the sink, a varbit the bytes of the insert's event)
            text = text.format("h::jsonb::text, encode(b, 'hex')")
            want = [(*want[0], None), (*want[1], base64.b64decode(evs[1][1]["after"]["b"]).hex())]
            with psycopg.connect(pg_server.dsn(target), autocommit=True) as out:

                def sunk() -> list[tuple[object, ...]] | None:
                    try:
                        got = out.execute(text).fetchall()
                    except psycopg.errors.UndefinedTable:
                        return None
                    return got if len(got) == 2 and got[1][1] == "b" else None

                assert wait_for(sunk, what="the update in the sink") == want
            assert failure(worker) is None and failure(worker, "pgs") is None
        finally:
            worker.stop()


def test_a_number_type_without_a_placeholder_stops_the_task_rather_than_emit_null(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute("CREATE TABLE nt (id int PRIMARY KEY, s text, n numeric)")
        pg.execute("ALTER TABLE nt ALTER COLUMN n SET STORAGE EXTERNAL")
        pg.execute("INSERT INTO nt VALUES (0, 'before the start', 1)")
        worker = start(tmp_path, source_config(pg_server, pg_db, **{
            "decimal.handling.mode": "double"}))  # fmt: skip
        try:
            wait_for(lambda: events(worker.log, "app.public.nt"), what="the snapshot")
            pg.execute(f"INSERT INTO nt VALUES (1, 'a', {BIG})")
            wait_for(lambda: len(events(worker.log, "app.public.nt")) == 2, what="the insert")
            pg.execute("UPDATE nt SET s = 'b' WHERE id = 1")
            trace = wait_for(lambda: failure(worker), what="the failure")
            assert "table public.nt, column n" in trace, trace
            assert "REPLICA IDENTITY FULL" in trace and "decimal.handling.mode" in trace
            assert len(events(worker.log, "app.public.nt")) == 2  # no update with a null n
        finally:
            worker.stop()


def test_an_update_of_a_row_whose_key_is_toasted_is_an_update(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    # (a review's: a key stored out of line and left as it was comes whole in the old key
    # only, the new tuple says "unchanged": read as a key change, an update of another column
    # went out as a delete of the row and a create keyed by the placeholder)
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute("CREATE TABLE kt (k text PRIMARY KEY, v int)")
        pg.execute("ALTER TABLE kt ALTER COLUMN k SET STORAGE EXTERNAL")
        worker = start(tmp_path, source_config(pg_server, pg_db))
        try:
            wait_for(lambda: worker.status()["pg"][0].state == "RUNNING", what="running")
            key = "k" * 2600  # (out of line past 2 kB, uncompressed; a btree takes 2.7 kB)
            pg.execute("INSERT INTO kt VALUES (%s, 1)", (key,))
            pg.execute("UPDATE kt SET v = 2")
            evs = wait_for(lambda: e if len(e := events(worker.log, "app.public.kt")) >= 2
                           else None, what="the insert and the update")  # fmt: skip
        finally:
            worker.stop()
    assert [(k, v["op"]) for k, v in evs] == [({"k": key}, "c"), ({"k": key}, "u")]
    assert evs[1][1]["after"] == {"k": key, "v": 2}
