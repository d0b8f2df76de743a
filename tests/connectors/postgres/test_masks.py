"""Debezium's column masking and truncation on the PostgreSQL source: the snapshot's rows
and the stream's changes, on the encoded path (JSON converters) and the values path."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import psycopg
import pytest

from connectors.source.cdc.masks import java_serialized
from tests.connectors.postgres.helpers import source_config, start_task
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration

MASKS = {
    "column.mask.with.5.chars": r"public\.t\.email",
    "column.truncate.to.3.chars": r"public\.t\.(note|blob)",
    "column.mask.hash.SHA-256.with.salt.pepper": "PUBLIC.T.SECRET",
}


def _hash(value: str) -> str:
    return hashlib.sha256(b"pepper" + java_serialized(value)).hexdigest()


@pytest.mark.parametrize("encoded", [False, True])
def test_masked_and_truncated_columns_in_the_snapshot_and_the_stream(
    pg_server: PgServer, pg_db: str, encoded: bool
) -> None:
    # (they were refused: hub's sources did not mask)
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE t (id int PRIMARY KEY, email varchar(40), note text, "
                    "secret varchar(20), blob bytea, n int)")  # fmt: skip
        sql.execute("INSERT INTO t VALUES (1, 'a@b.c', 'abcdef', 'hello', '\\x01020304', 7)")
        cfg = source_config(pg_server, pg_db, **{"max.batch.size": 10, **MASKS})
        task = start_task(cfg, json_encoding=(False, False) if encoded else None)
        try:
            rows: list[Any] = []
            for _ in range(200):
                rows += [r for r in task.poll() if r.topic]
                if rows:
                    break
            sql.execute("INSERT INTO t VALUES (2, NULL, 'xy', 'world', NULL, 8)")
            for _ in range(200):
                rows += [r for r in task.poll() if r.topic]
                if len(rows) >= 2:
                    break
        finally:
            task.stop()
    # (under JSON converters too, a masked table's rows take the values path: the encoded
    # one writes a NULL as null, where a mask writes asterisks)
    assert not any(r.encoded for r in rows)
    after = [(orjson.loads(r.value)["payload"] if r.encoded else r.value)["after"] for r in rows]
    assert after == [
        {"id": 1, "email": "*****", "note": "abc", "secret": _hash("hello")[:20],
         "blob": b"\x01\x02\x03", "n": 7},
        {"id": 2, "email": "*****", "note": "xy", "secret": _hash("world")[:20], "blob": None,
         "n": 8},
    ]  # fmt: skip
    fields = {f["field"]: f for f in rows[0].value_schema["fields"][1]["fields"]}
    assert fields["email"]["parameters"] == {"masked": "true"}
    assert fields["secret"]["parameters"] == {"masked": "true"}
    assert fields["note"]["parameters"] == {"truncateLength": "3"}
    assert "parameters" not in fields["n"]


def test_a_config_with_masks_is_valid_and_a_bad_one_named() -> None:
    from hub.config import ConnectorSpec
    from hub.errors import ConfigError
    from hub.runtime.validation import validate

    base = {"connector.class": "postgres", "database.hostname": "h", "database.user": "u",
            "database.dbname": "d", "topic.prefix": "p"}  # fmt: skip
    validate(ConnectorSpec("a", {**base, **MASKS}, "a.yaml"))
    with pytest.raises(ConfigError, match="column.mask.hash.SHA-999.with.salt.x: 'SHA-999'"):
        validate(ConnectorSpec("a", {**base, "column.mask.hash.SHA-999.with.salt.x": "a.b.c"},
                               "a.yaml"))  # fmt: skip


def test_enums_json_defaults_and_keys_as_debeziums_masks_take_them(
    pg_server: PgServer, pg_db: str
) -> None:
    # (a review's: an enum (Debezium's VARCHAR) passed unmasked, a json value untruncated, a
    # masked column's default unmasked in its field schema, and a masked key column collapsed
    # every row to one key)
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TYPE mood AS ENUM ('happy', 'sad')")
        sql.execute("CREATE TABLE u (id int PRIMARY KEY, m mood, j json, "
                    "d text DEFAULT 'secret', c \"char\")")  # fmt: skip
        sql.execute("""INSERT INTO u VALUES (1, 'happy', '{"a": 1}', 'x', 'q')""")
        cfg = source_config(pg_server, pg_db, **{
            "column.mask.with.3.chars": r"public\.u\.(m|d)",
            "column.truncate.to.4.chars": r"public\.u\.j",
            "column.mask.hash.v2.MD5.with.salt.s": r"public\.u\.c",
        })  # fmt: skip
        task = start_task(cfg)
        try:
            rows: list[Any] = []
            for _ in range(200):
                rows += [r for r in task.poll() if r.topic]
                if rows:
                    break
        finally:
            task.stop()
        assert rows[0].value["after"] == {
            "id": 1, "m": "***", "j": '{"a"', "d": "***",
            "c": hashlib.md5(b"sq").hexdigest()[:1],  # (cut to "char"'s length, 1)
        }  # fmt: skip
        fields = {f["field"]: f for f in rows[0].value_schema["fields"][1]["fields"]}
        assert fields["d"]["default"] == "***"
        # a key column is left as it is, in the value too (Debezium sends the key's as it is);
        # masked, every row had had the key "***" (a review's), then it stopped the task (the
        # final review's: a wildcard rule naming an integer key had worked before)
        sql.execute("CREATE TABLE k (email text PRIMARY KEY, n int, s text)")
        sql.execute("INSERT INTO k VALUES ('a@b.c', 12345, 'abcdef')")
        keyed = source_config(pg_server, pg_db, **{
            "column.mask.with.3.chars": r"public\.k\..*",
            "column.truncate.to.2.chars": r"public\.k\.n", "table.include.list": r"public\.k",
        })  # fmt: skip
        task = start_task(keyed)
        try:
            got: list[Any] = []
            for _ in range(200):
                got += [r for r in task.poll() if r.topic]
                if got:
                    break
        finally:
            task.stop()
        assert (got[0].key, got[0].value["after"]) == (
            {"email": "a@b.c"},
            {"email": "a@b.c", "n": 12345, "s": "***"},
        )  # (n: a number is not cut)


def test_a_mask_that_names_no_column_is_warned_of(
    pg_server: PgServer, pg_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # (a misspelt expression leaves the column it meant unmasked: said at the start)
    import logging

    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as sql:
        sql.execute("CREATE TABLE t (id int PRIMARY KEY, email text)")
    cfg = source_config(pg_server, pg_db, **{"column.mask.with.3.chars": r"public\.t\.emial"})
    with caplog.at_level(logging.WARNING):
        task = start_task(cfg)
        task.stop()
    assert (
        "column.mask.with.3.chars: 'public\\.t\\.emial' matches no column (did you mean "
        "public.t.email?)" in caplog.text
    )
