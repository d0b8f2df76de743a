"""`CopyOut`: COPY TO STDOUT read in C through psycopg's own libpq, on a real server."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg import errors, pq

from connectors.source.postgres.copyout import CopyOut
from connectors.source.postgres.snapshot import copy_text
from tests.fixtures.postgres import PgServer

if os.environ.get("HUB_REQUIRE_SPEEDUPS") == "1":  # CI: a missing C build fails here
    from connectors.source.postgres import _rowcodec  # type: ignore[attr-defined]  # noqa: F401
else:
    # built only where a C compiler was at install time; without it CopyOut.available is
    # None and the snapshot reads through psycopg's COPY (test_source covers that path)
    pytest.importorskip(
        "connectors.source.postgres._rowcodec",
        reason="the C row codec was not built (no C compiler at install time)",
    )


@pytest.fixture
def conn(pg_server: PgServer, pg_db: str) -> Any:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY, v text, n numeric)")
        c.execute(
            "INSERT INTO t SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE "
            "E'a\\tb\\\\c\\n' || g END, g / 3.0 FROM generate_series(1, 2500) g"
        )
        yield c


def test_copy_gives_psycopgs_copy_text(conn: Any) -> None:
    co = CopyOut.available(conn)
    assert co is not None
    sql = "COPY (SELECT * FROM t WHERE id > %s AND v NOT LIKE '%%z' ORDER BY id) TO STDOUT"
    assert co.copy(conn, sql, (17,)) == copy_text(conn, sql, (17,))
    plain = "COPY (SELECT * FROM t WHERE v LIKE '%%9' ORDER BY id) TO STDOUT"
    assert co.copy(conn, plain) == copy_text(conn, plain)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2500,)  # usable after


def test_rows_cut_one_copy_into_chunks(conn: Any) -> None:
    co = CopyOut.available(conn)
    assert co is not None
    whole = co.copy(conn, "COPY (SELECT * FROM t ORDER BY id) TO STDOUT")
    conn.execute("BEGIN")
    co.start(conn, "COPY (SELECT * FROM t ORDER BY id) TO STDOUT")
    chunks, done = [], False
    while not done:
        text, done = co.rows(conn, 1000)
        chunks.append(text)
    assert [c.count(b"\n") for c in chunks] == [1000, 1000, 500]
    assert b"".join(chunks) == whole
    assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
    conn.execute("COMMIT")
    # and by bytes: a chunk ends once it holds max_bytes (a row at least, whatever its size)
    conn.execute("BEGIN")
    co.start(conn, "COPY (SELECT * FROM t ORDER BY id) TO STDOUT")
    cut, done = [], False
    while not done:
        text, done = co.rows(conn, 1000, 10_000)
        cut.append(text)
    assert b"".join(cut) == whole
    assert all(len(c) < 10_000 + 100 for c in cut) and len(cut) > 5
    assert all(c.count(b"\n") < 1000 for c in cut)
    conn.execute("COMMIT")
    co.start(conn, "COPY (SELECT repeat('x', 50000) FROM t WHERE id <= 3) TO STDOUT")
    assert co.rows(conn, 1000, 10)[0].count(b"\n") == 1  # (one row past the limit)
    assert co.rows(conn, 0)[0].count(b"\n") == 2


def test_an_exact_multiple_ends_with_an_empty_chunk(conn: Any) -> None:
    co = CopyOut.available(conn)
    assert co is not None
    co.start(conn, "COPY (SELECT * FROM t WHERE id <= 2000) TO STDOUT")
    got = [co.rows(conn, 1000) for _ in range(3)]
    assert [(t.count(b"\n"), d) for t, d in got] == [(1000, False), (1000, False), (0, True)]


def test_a_failing_copy_raises_psycopgs_error(conn: Any) -> None:
    co = CopyOut.available(conn)
    assert co is not None
    with pytest.raises(errors.UndefinedTable):
        co.copy(conn, "COPY (SELECT * FROM nope) TO STDOUT")
    with pytest.raises(errors.DivisionByZero):  # fails while rows are being sent
        co.copy(conn, "COPY (SELECT 1 / (2000 - id) FROM t ORDER BY id) TO STDOUT")
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_cancelled_copy_raises_query_canceled(conn: Any) -> None:
    """SnapshotReader.close() cancels a reader stuck in a COPY: it must come out with the
    error (an OperationalError, which the reader reports as a lost connection)."""
    co = CopyOut.available(conn)
    assert co is not None
    slow = "COPY (SELECT g, pg_sleep(0.01) FROM generate_series(1, 100000) g) TO STDOUT"
    timer = threading.Timer(0.3, conn.cancel)
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(errors.QueryCanceled) as got:
        co.copy(conn, slow)
    timer.join()
    assert isinstance(got.value, psycopg.OperationalError)
    assert time.monotonic() - t0 < 10
    assert conn.execute("SELECT 1").fetchone() == (1,)
