"""Debezium's column masking and truncation on the MySQL/MariaDB source: the snapshot's
rows and the stream's changes, on the encoded path (JSON converters) and the values path."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest

from tests.connectors.mysql.helpers import context, poll, root, source_config
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("encoded", [False, True])
def test_masked_and_truncated_columns_in_the_snapshot_and_the_stream(
    mariadb_server: MariaDBServer, mariadb_db: str, encoded: bool
) -> None:
    # (they were refused: hub's sources did not mask)
    from connectors.source.mysql import MariaDbSourceTask

    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, email varchar(40), note text, "
                "secret varchar(20), blob_ varbinary(10), n int)")  # fmt: skip
    cur.execute("INSERT INTO t VALUES (1, 'a@b.c', 'abcdef', 'hello', x'01020304', 7)")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "column.mask.with.5.chars": rf"{mariadb_db}\.t\.email",
        "column.truncate.to.3.chars": rf"{mariadb_db}\.t\.(note|blob_)",
        "column.mask.hash.v2.SHA-256.with.salt.pepper": rf"{mariadb_db.upper()}\.T\.SECRET",
    })  # fmt: skip
    task = MariaDbSourceTask()
    task.start(cfg, context(cfg, {}, json_encoding=(False, False) if encoded else None))
    rows: list[Any] = []
    try:
        deadline = time.monotonic() + 20
        while not rows and time.monotonic() < deadline:
            rows += [r for r in poll(task) if r.topic]
        cur.execute("INSERT INTO t VALUES (2, NULL, 'xy', 'world', NULL, 8)")
        while len(rows) < 2 and time.monotonic() < deadline:
            rows += [r for r in poll(task) if r.topic]
    finally:
        task.stop()
        con.close()

    def hashed(v: str) -> str:
        return hashlib.sha256(b"pepper" + v.encode()).hexdigest()[:20]  # (varchar(20))

    assert not any(r.encoded for r in rows)  # (the values path: a NULL is masked too)
    assert [r.value["after"] for r in rows] == [
        {"id": 1, "email": "*****", "note": "abc", "secret": hashed("hello"),
         "blob_": b"\x01\x02\x03", "n": 7},
        {"id": 2, "email": "*****", "note": "xy", "secret": hashed("world"), "blob_": None,
         "n": 8},
    ]  # fmt: skip
    fields = {f["field"]: f for f in rows[1].value_schema["fields"][1]["fields"]}
    assert fields["email"]["parameters"] == {"masked": "true"}
    assert fields["note"]["parameters"] == {"truncateLength": "3"}
