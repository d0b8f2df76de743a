"""The source reads text forms whatever the database or role sets for its sessions: the
client encoding (libpq takes the database's, and a LATIN1 one turned stored text into other
characters, read as UTF-8) and the monetary locale (``money``'s text follows lc_monetary: a
German one printed 1234.56 as ``1.234,56 €``)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from connectors.source.postgres.config import PostgresSourceConfig
from tests.connectors.postgres.helpers import events, source_config, start, wait_for
from tests.fixtures.postgres import PgServer

TEXTS = ["Ã©", "Â£ and é", "日本語 😀"]


def test_text_is_exact_when_the_database_sets_another_client_encoding(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        for i, text in enumerate(TEXTS[:2]):  # (LATIN1 holds these)
            pg.execute("INSERT INTO t VALUES (%s, %s)", (i, text))
        # every session of the database from now on, unless the client asks for another
        pg.execute(f"ALTER DATABASE \"{pg_db}\" SET client_encoding = 'LATIN1'")
        worker = start(tmp_path, source_config(pg_server, pg_db))
        try:
            wait_for(lambda: len(events(worker.log, "app.public.t")) == 2, what="the snapshot")
            pg.execute("INSERT INTO t VALUES (10, %s), (11, %s)", TEXTS[:2])
            got = wait_for(
                lambda: e if len(e := events(worker.log, "app.public.t")) == 4 else None,
                what="the streamed rows",
            )
        finally:
            worker.stop()
    assert [(v["op"], v["after"]["v"]) for _, v in got] == [
        ("r", TEXTS[0]), ("r", TEXTS[1]), ("c", TEXTS[0]), ("c", TEXTS[1]),
    ]  # fmt: skip


def test_the_sessions_pin_the_text_forms_they_read(pg_server: PgServer, pg_db: str) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        pg.execute(f"ALTER DATABASE \"{pg_db}\" SET client_encoding = 'LATIN1'")
        pg.execute(f"ALTER DATABASE \"{pg_db}\" SET lc_monetary = 'C.utf8'")
        pg.execute(f"ALTER DATABASE \"{pg_db}\" SET DateStyle = 'SQL, DMY'")
    cfg = PostgresSourceConfig.of(source_config(pg_server, pg_db))
    with psycopg.connect(cfg.conninfo()) as conn:
        shown = [
            conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("client_encoding", "lc_monetary", "DateStyle")
        ]
        assert shown == ["UTF8", "C", "ISO, MDY"]
        assert conn.execute("SELECT 1234.56::money").fetchone() == ("$1,234.56",)
