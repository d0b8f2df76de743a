"""DDL while streaming: each row event is decoded with the columns of its time, also when a
restart replays events from before the DDL: the binlog's TABLE_MAP names them with
binlog_row_metadata=FULL; with MINIMAL or NO_LOG the schema history does (`history.py`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from hub.runtime import json_default
from tests.connectors.mysql.helpers import (
    TOPICS,
    poll,
    poll_for,
    poll_until,
    root,
    source_config,
    start_position,
    start_task,
)
from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


@pytest.fixture(params=["FULL", "MINIMAL", "NO_LOG"])
def row_metadata(request: pytest.FixtureRequest, mariadb_server: MariaDBServer) -> Iterator[str]:
    """The server's binlog_row_metadata for one test (FULL again afterwards)."""
    mariadb_server.client(sql=f"SET GLOBAL binlog_row_metadata = '{request.param}'")
    try:
        yield str(request.param)
    finally:
        mariadb_server.client(sql="SET GLOBAL binlog_row_metadata = 'FULL'")


def test_ddl_mid_stream_and_replayed(
    mariadb_server: MariaDBServer, mariadb_db: str, row_metadata: str
) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, a int, b varchar(10))")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"})
    task = start_task(cfg)
    poll_for(task, 0.3)
    start = task.stream.position()
    statements = [
        "INSERT INTO t VALUES (1, 10, 'x')",
        "ALTER TABLE t ADD COLUMN c int DEFAULT 7",
        "INSERT INTO t VALUES (2, 20, 'y', 8)",
        "ALTER TABLE t DROP COLUMN a",
        "INSERT INTO t VALUES (3, 'z', 9)",
        "ALTER TABLE t RENAME COLUMN b TO bb",
        "UPDATE t SET bb = 'zz' WHERE id = 3",
        "ALTER TABLE t MODIFY c bigint",
        "INSERT INTO t VALUES (4, 'w', 10000000000)",
        "RENAME TABLE t TO t2",
        "INSERT INTO t2 VALUES (5, 'v', 1)",
    ]
    for sql in statements:
        cur.execute(sql)
    want = [
        (f"app.{mariadb_db}.t", {"id": 1, "a": 10, "b": "x"}),
        (f"app.{mariadb_db}.t", {"id": 2, "a": 20, "b": "y", "c": 8}),
        (f"app.{mariadb_db}.t", {"id": 3, "b": "z", "c": 9}),
        (f"app.{mariadb_db}.t", {"id": 3, "bb": "zz", "c": 9}),
        (f"app.{mariadb_db}.t", {"id": 4, "bb": "w", "c": 10000000000}),
        (f"app.{mariadb_db}.t2", {"id": 5, "bb": "v", "c": 1}),
    ]
    try:
        got = [(r.topic, r.value["after"]) for r in poll_until(task, len(want))]
        assert got == want
    finally:
        task.stop()
    c_type = {"type": "int64", "optional": True, "field": "c"}
    task = start_task(cfg, start)  # replay from before the DDL
    try:
        replayed = poll_until(task, len(want))
        assert [(r.topic, r.value["after"]) for r in replayed] == want
        # (MODIFY c bigint dropped its default; the rows it was added to hold 7, which a
        # sink adding it fills them with)
        assert {**c_type, "parameters": {"__hub.fill": "7"}} in (
            replayed[4].value_schema["fields"][0]["fields"]
        )
        # (with its default of that time)
        at_first = {**c_type, "type": "int32", "default": 7}
        assert at_first in replayed[1].value_schema["fields"][0]["fields"]
    finally:
        task.stop()


@pytest.mark.parametrize("skipped", ["none", "t"])
def test_truncate_table_is_a_truncate_event_unless_skipped(
    mariadb_server: MariaDBServer, mariadb_db: str, skipped: str
) -> None:
    """TRUNCATE TABLE is DDL in the binlog: with skipped.operations=none it becomes Debezium's
    truncate event (op t, no key), stored with the position after it; Debezium's default
    (skipped.operations=t) leaves it out. Tables not captured give nothing either way."""
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    cur.execute("CREATE TABLE other (id int PRIMARY KEY)")
    cur.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "skipped.operations": skipped,
        "table.include.list": f"{mariadb_db}.t"})  # fmt: skip
    task = start_task(cfg)
    try:
        poll_for(task, 0.3)
        # the metadata connection, idle while streaming, closed by the server meanwhile
        cur.execute(f"KILL {task.meta.thread_id()}")
        cur.execute(f"TRUNCATE TABLE `{mariadb_db}`.t")
        cur.execute("TRUNCATE other")
        cur.execute("INSERT INTO t VALUES (3, 3)")
        got = poll_until(task, 2 if skipped == "none" else 1)
        ops = [(r.value["op"], r.key) for r in got]
        if skipped == "none":
            assert ops == [("t", None), ("c", {"id": 3})]
            value = got[0].value
            assert value["before"] is None and value["after"] is None
            assert value["source"]["table"] == "t" and value["source"]["db"] == mariadb_db
            assert got[0].value_schema is not None
            assert got[0].topic == f"app.{mariadb_db}.t"
            # stored after it: a restart from its offset does not truncate again
            again = start_task(cfg, dict(got[0].source_offset))
            try:
                assert [r.value["op"] for r in poll_until(again, 1)] == ["c"]
            finally:
                again.stop()
        else:
            assert ops == [("c", {"id": 3})]
    finally:
        task.stop()


def test_without_column_names_in_the_binlog_every_ddl_kind_is_followed(
    mariadb_server: MariaDBServer, mariadb_db: str, row_metadata: str
) -> None:
    """Tables created, copied, renamed, dropped and created again, columns added first or in
    the middle, changed in type and name, charsets converted, a key added: each event has
    the columns, types and key of its moment, and a restart from before all of it (the
    history replayed to that position) gives the same events."""
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE a (id int unsigned PRIMARY KEY, e enum('x','y') NOT NULL, "
                "v varchar(10) CHARACTER SET latin1)")  # fmt: skip
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"})
    task = start_task(cfg)
    poll_for(task, 0.3)
    start = task.stream.position()
    statements = [
        "INSERT INTO a VALUES (4294967295, 'y', 'café')",
        "ALTER TABLE a ADD COLUMN f int FIRST, ADD COLUMN m smallint unsigned AFTER e",
        "INSERT INTO a VALUES (7, 1, 'x', 65535, 'é')",
        "ALTER TABLE a CHANGE v w text CHARACTER SET utf8mb4, MODIFY e enum('x','y','z') "
        "NOT NULL AFTER w",
        "INSERT INTO a (id, e, w) VALUES (2, 'z', '🐘')",
        "CREATE TABLE b (k bigint, s set('p','q'), j json)",
        "INSERT INTO b VALUES (1, 'p,q', '{\"a\": 1}')",
        "ALTER TABLE b ADD PRIMARY KEY (k)",
        "UPDATE b SET s = 'q' WHERE k = 1",
        "CREATE TABLE c LIKE a",
        "INSERT INTO c SELECT * FROM a WHERE id = 2",
        "RENAME TABLE a TO a_old, c TO a",
        "INSERT INTO a (id, e) VALUES (3, 'x')",
        "DROP TABLE a_old",
        "ALTER TABLE b CONVERT TO CHARACTER SET latin1",
        "INSERT INTO b (k, s) VALUES (2, '')",
        "DROP TABLE b",
        "CREATE TABLE b (x varchar(3) PRIMARY KEY)",
        "INSERT INTO b VALUES ('new')",
    ]
    for sql in statements:
        cur.execute(sql)
    t = f"app.{mariadb_db}"
    want = [
        (f"{t}.a", {"id": 4294967295}, {"id": 4294967295, "e": "y", "v": "café"}),
        (f"{t}.a", {"id": 7}, {"f": 7, "id": 1, "e": "x", "m": 65535, "v": "é"}),
        (f"{t}.a", {"id": 2}, {"f": None, "id": 2, "m": None, "w": "🐘", "e": "z"}),
        (f"{t}.b", None, {"k": 1, "s": "p,q", "j": '{"a": 1}'}),
        (f"{t}.b", {"k": 1}, {"k": 1, "s": "q", "j": '{"a": 1}'}),
        (f"{t}.c", {"id": 2}, {"f": None, "id": 2, "m": None, "w": "🐘", "e": "z"}),
        (f"{t}.a", {"id": 3}, {"f": None, "id": 3, "m": None, "w": None, "e": "x"}),
        (f"{t}.b", {"k": 2}, {"k": 2, "s": "", "j": None}),
        (f"{t}.b", {"x": "new"}, {"x": "new"}),
    ]
    try:
        got = [(r.topic, r.key, r.value["after"]) for r in poll_until(task, len(want))]
        # (id 7 was inserted with f=7, id=1: the INSERT lists values in the new order)
        want[1] = (f"{t}.a", {"id": 1}, want[1][2])
        assert got == want
    finally:
        task.stop()
    again = start_task(cfg, start)
    try:
        replayed = [(r.topic, r.key, r.value["after"]) for r in poll_until(again, len(want))]
        assert replayed == want
    finally:
        again.stop()


def test_schema_change_events_and_the_stored_history(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "table.include.list": f"{mariadb_db}.t"})  # fmt: skip
    task = start_task(cfg)
    try:
        # the history's baseline, before anything else, stored at once, and the snapshot's
        # schema change events (a review's: Debezium's snapshot writes each captured table's
        # CREATE TABLE there, hub had written none), also under snapshot.mode=no_data
        first = task.poll()
        assert [r.topic for r in first if r.topic] == ["__schema_history.my", "app"]
        (created,) = [r for r in first if r.topic == "app"]
        assert created.key == {"databaseName": mariadb_db}
        assert created.value["ddl"].startswith("CREATE TABLE `t` (")
        assert created.value["source"]["snapshot"] == "true"
        assert (created.value["source"]["db"], created.value["source"]["table"]) == (
            mariadb_db,
            "t",
        )
        (change,) = created.value["tableChanges"]
        assert change["type"] == "CREATE" and change["id"] == f'"{mariadb_db}"."t"'
        assert [c["name"] for c in change["table"]["columns"]] == ["id"]
        cur.execute("ALTER TABLE t ADD COLUMN v varchar(5) NOT NULL DEFAULT 'x' COMMENT 'c'")
        cur.execute("CREATE TABLE other (id int)")  # not captured: no schema change event
        out: list = []
        while not any(r.topic == "__schema_history.my" and b"other" in r.value for r in out):
            out += [r for r in task.poll() if r.topic]
    finally:
        task.stop()
    changes = [r for r in out if r.topic == "app"]
    assert len(changes) == 1
    event = changes[0]
    assert event.key == {"databaseName": mariadb_db}
    assert event.key_schema["name"] == "io.debezium.connector.mariadb.SchemaChangeKey"
    value = event.value
    assert value["ddl"].startswith("ALTER TABLE t ADD COLUMN v")
    assert value["source"]["db"] == mariadb_db and value["source"]["table"] == "t"
    (change,) = value["tableChanges"]
    assert change["type"] == "ALTER" and change["id"] == f'"{mariadb_db}"."t"'
    cols = change["table"]["columns"]
    assert [(c["name"], c["typeName"], c["optional"], c["position"]) for c in cols] == [
        ("id", "INT", False, 1),
        ("v", "VARCHAR", False, 2),
    ]
    assert cols[1]["defaultValueExpression"] == "x" and cols[1]["comment"] == "c"
    assert cols[1]["charsetName"] == "utf8mb4" and cols[1]["length"] == 5
    stored = [orjson.loads(r.value) for r in [*first, *out] if r.topic == "__schema_history.my"]
    assert stored[0]["hub"]["baseline"] and stored[0]["hub"]["reset"]
    ddl = [d for d in stored if d["ddl"]]
    assert [d["ddl"][:25] for d in ddl] == [
        "ALTER TABLE t ADD COLUMN ",
        "CREATE TABLE other (id in",
    ]
    assert ddl[0]["position"]["file"].startswith("binlog") and ddl[0]["databaseName"] == mariadb_db


def test_a_snapshots_create_table_event_is_read_with_its_table_changes(
    mariadb_server: MariaDBServer, mariadb_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot's CREATE TABLE text is read under the lock with the catalog its
    tableChanges come from: an ALTER TABLE just after the lock's release changes neither
    (it comes as its own event). Read after the lock, the text had the new column and the
    tableChanges not (a consumer building the table from the ddl got another table)."""
    from connectors.source.mysql import connector

    con = root(mariadb_server, mariadb_db)
    con.cursor().execute("CREATE TABLE t (id int PRIMARY KEY)")
    real = connector.begin

    def then_alter(*args: Any, **kwargs: Any) -> Any:
        begun = real(*args, **kwargs)
        con.cursor().execute("ALTER TABLE t ADD COLUMN late int")
        return begun

    monkeypatch.setattr(connector, "begin", then_alter)
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "table.include.list": f"{mariadb_db}.t"})  # fmt: skip
    task = start_task(cfg)
    try:
        out: list = []
        while not any(r.topic == "app" and r.value["ddl"].startswith("ALTER") for r in out):
            out += [r for r in task.poll() if r.topic]
    finally:
        task.stop()
    created, altered = [r.value for r in out if r.topic == "app"]
    assert "`late`" not in created["ddl"] and created["ddl"].startswith("CREATE TABLE `t`")
    assert [c["name"] for c in created["tableChanges"][0]["table"]["columns"]] == ["id"]
    assert [c["name"] for c in altered["tableChanges"][0]["table"]["columns"]] == ["id", "late"]


def test_a_lost_history_without_column_names_is_an_error_until_recovery(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"})
    task = start_task(cfg)
    poll_for(task, 0.3)
    start = task.stream.position()
    task.stop()
    del TOPICS[(mariadb_db, "__schema_history.my")]  # the history topic deleted
    mariadb_server.client(sql="SET GLOBAL binlog_row_metadata = 'MINIMAL'")
    try:
        from connectors.source.mysql.history import SchemaHistoryError

        with pytest.raises(SchemaHistoryError, match="snapshot.mode=recovery"):
            start_task(cfg, start)
        cur.execute("INSERT INTO t VALUES (1, 2)")
        task = start_task({**cfg, "snapshot.mode": "recovery"}, start)
        try:
            assert [r.value["after"] for r in poll_until(task, 1)] == [{"id": 1, "v": 2}]
        finally:
            task.stop()
    finally:
        mariadb_server.client(sql="SET GLOBAL binlog_row_metadata = 'FULL'")


def test_the_catalog_and_the_ddl_parser_agree(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    """The history learns a table from the catalog (a snapshot's baseline) or from its DDL
    (created while streaming): both must give the same definition, for every column type."""
    from connectors.source.mysql.history import Schemas, from_catalog
    from tests.connectors.mysql.test_types import MATRIX

    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cols = ", ".join(f"c{i} {d}" for i, (d, *_) in enumerate(MATRIX))
    cur.execute(f"CREATE TABLE m (id int PRIMARY KEY, {cols}) DEFAULT CHARSET=latin1")
    cur.execute("CREATE TABLE k (a int NOT NULL, b varchar(3) COLLATE utf8mb4_bin, "
                "g int AS (a + 1) VIRTUAL, n bigint unsigned AUTO_INCREMENT, "
                "PRIMARY KEY (n, a), UNIQUE KEY (b))")  # fmt: skip
    catalog = from_catalog(con, True)
    parsed = Schemas(catalog.server_charset, True)
    parsed.databases = dict(catalog.databases)
    for table in ("m", "k"):
        cur.execute(f"SHOW CREATE TABLE {table}")
        parsed.apply(cur.fetchone()[1], mariadb_db)
        a, b = catalog.get(mariadb_db, table), parsed.get(mariadb_db, table)
        assert a is not None and b is not None
        assert (a.primary_key, a.charset) == (b.primary_key, b.charset)
        for x, y in zip(a.columns, b.columns, strict=True):
            key = ("name", "type_expression", "charset", "nullable", "labels", "auto_increment",
                   "generated")  # fmt: skip
            assert [getattr(x, k) for k in key] == [getattr(y, k) for k in key]


def test_constant_column_defaults_are_in_the_field_schemas(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # as Debezium's: a sink that adds the column fills the rows it has with the default (the
    # source's rows got it from the ALTER TABLE, and no change of theirs says so)
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE d (id int PRIMARY KEY)")
    cur.execute("INSERT INTO d VALUES (0)")  # (a row the ALTER fills)
    task = start_task(source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"}))
    try:
        poll_for(task, 0.5)
        cur.execute(
            "ALTER TABLE d ADD COLUMN i int NOT NULL DEFAULT -5, ADD COLUMN s varchar(10) "
            "DEFAULT 'it''s', ADD COLUMN n decimal(10,2) DEFAULT 1.5, ADD COLUMN e "
            "enum('p','q') DEFAULT 'q', ADD COLUMN f double DEFAULT 2.5, ADD COLUMN at "
            "datetime DEFAULT CURRENT_TIMESTAMP, ADD COLUMN u varchar(36) DEFAULT (uuid()), "
            "ADD COLUMN plain int, ADD COLUMN day date DEFAULT '2024-02-29', ADD COLUMN dt "
            "datetime(3) DEFAULT '2024-02-29 01:02:03.5', ADD COLUMN tm time DEFAULT "
            "'-01:02:03', ADD COLUMN zero date DEFAULT '0000-00-00', ADD COLUMN b bit(12) "
            "DEFAULT b'100000000001', ADD COLUMN b1 bit(1) DEFAULT 1, ADD COLUMN vb "
            "varbinary(4) DEFAULT x'00ff', ADD COLUMN bn binary(3) DEFAULT 0x61, ADD COLUMN "
            "bs varbinary(4) DEFAULT 'ab', "
            # NOT NULL without DEFAULT: the server fills the rows it has with the type's
            # implicit default, and so must the sinks (they had filled NULL)
            "ADD COLUMN qi int NOT NULL, ADD COLUMN qs varchar(5) NOT NULL, ADD COLUMN qe "
            "enum('lo','hi') NOT NULL, ADD COLUMN qd decimal(5,2) NOT NULL, ADD COLUMN qset "
            "set('a','b') NOT NULL, ADD COLUMN qf double NOT NULL, ADD COLUMN qdt datetime "
            "NOT NULL, ADD COLUMN qb varbinary(3) NOT NULL, ADD COLUMN qbn binary(3) NOT NULL, "
            "ADD COLUMN qy year NOT NULL, ADD COLUMN qbit bit(3) NOT NULL, ADD COLUMN qt time "
            "NOT NULL, ADD COLUMN qday date NOT NULL, ADD COLUMN zdt datetime NOT NULL "
            "DEFAULT '0000-00-00 00:00:00', ADD COLUMN zts timestamp NOT NULL DEFAULT "
            "'0000-00-00 00:00:00', ADD COLUMN qts timestamp NOT NULL"
        )
        cur.execute("UPDATE d SET plain = 1 WHERE id = 0")  # (its before image: the fill)
        cur.execute("INSERT INTO d (id, qi, qs, qe, qd, qset, qf, qdt, qb, qbn, qy, qbit, qt, "
                    "qday, qts) VALUES (1, 1, 'x', 'hi', 1, 'a', 1, '2024-01-01', 'x', 'y', "
                    "2024, b'1', '01:00:00', '2024-01-02', NOW())")  # fmt: skip
        out = poll_for(task, 2.0)
    finally:
        task.stop()
    updated, event = (r for r in out if r.topic == f"app.{mariadb_db}.d" and r.value)
    after = next(f for f in event.value_schema["fields"] if f["field"] == "after")
    defaults = {f["field"]: f.get("default") for f in after["fields"]}
    # what the server filled the row it had with (in the JSON converter's form) is the
    # default, for every column that has one
    filled = orjson.loads(orjson.dumps(updated.value["before"], default=json_default))
    assert {k: filled[k] for k, v in defaults.items() if v is not None} == {
        k: v for k, v in defaults.items() if v is not None
    }
    days = (dt.date(2024, 2, 29) - dt.date(1970, 1, 1)).days
    assert defaults == {"id": None, "i": -5, "s": "it's", "n": "AJY=", "e": "q", "f": 2.5,
                        "at": None, "u": None, "plain": None, "day": days,
                        "dt": days * 86_400_000 + 3_723_500, "tm": -3_723_000_000,
                        "zero": None, "b": "AQg=", "b1": True, "vb": "AP8=", "bn": "YQAA",
                        "bs": None, "qi": 0, "qs": "", "qe": "lo", "qd": "AA==", "qset": "",
                        "qf": 0.0, "qdt": 0, "qb": "", "qbn": "AAAA", "qy": 0,
                        "qbit": "AA==", "qt": 0, "qday": 0, "zdt": 0,
                        "zts": "1970-01-01T00:00:00Z", "qts": "1970-01-01T00:00:00Z"}  # fmt: skip
    # (bits little-endian, as Debezium's Bits; binary as the binlog holds it: BINARY padded;
    # a binary default written as text depends on the DDL session's charset: left out)
    assert event.value["after"]["b"] == (0b100000000001).to_bytes(2, "little")
    assert event.value["after"]["bn"] == b"a\0\0"
    assert event.value["after"]["i"] == -5 and event.value["after"]["s"] == "it's"


def _streamed(
    server: MariaDBServer, db: str, before: list[str], statements: list[str]
) -> tuple[Any, list[Any]]:
    """Run ``before``, start a task (no snapshot), run ``statements`` in one session and
    poll for 2 s: (that session's cursor, what the task emitted)."""
    cur = root(server, db).cursor()
    for sql in before:
        cur.execute(sql)
    task = start_task(source_config(server, db, **{"snapshot.mode": "no_data"}))
    try:
        poll_for(task, 0.5)
        for sql in statements:
            cur.execute(sql)
        return cur, poll_for(task, 2.0)
    finally:
        task.stop()


def test_timestamp_columns_added_under_explicit_defaults_for_timestamp_off(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (the session's explicit_defaults_for_timestamp is in the Query event: OFF, a TIMESTAMP
    # column not declared NULL is NOT NULL, the table's first one defaults to
    # CURRENT_TIMESTAMP and any other to the zero TIMESTAMP, which the server writes into the
    # rows it has; hub read them as nullable without a default, and the sinks filled NULL)
    cur, out = _streamed(mariadb_server, mariadb_db, [
        "CREATE TABLE d (id int PRIMARY KEY)", "INSERT INTO d VALUES (0)",
    ], [
        "SET SESSION explicit_defaults_for_timestamp = OFF",
        "ALTER TABLE d ADD COLUMN first timestamp, ADD COLUMN other timestamp, "
        "ADD COLUMN open timestamp NULL, ADD COLUMN plain int",
        "SET SESSION explicit_defaults_for_timestamp = ON",
        "ALTER TABLE d ADD COLUMN later timestamp", "UPDATE d SET plain = 1 WHERE id = 0",
    ])  # fmt: skip
    (updated,) = (r for r in out if r.topic == f"app.{mariadb_db}.d" and r.value)
    fields = {f["field"]: f for f in updated.value_schema["fields"][0]["fields"]}
    cur.execute(f"SELECT COLUMN_NAME, IS_NULLABLE FROM information_schema.COLUMNS WHERE "
                f"TABLE_SCHEMA = '{mariadb_db}' AND TABLE_NAME = 'd'")  # fmt: skip
    server = {name: nullable == "YES" for name, nullable in cur.fetchall()}
    assert (
        {k: f["optional"] for k, f in fields.items() if k != "id"}
        == {k: v for k, v in server.items() if k != "id"}
        == {"first": False, "other": False, "open": True, "plain": True, "later": True}
    )
    # the zero TIMESTAMP the server filled the row with is the default the sinks fill
    assert updated.value["before"]["other"] == "1970-01-01T00:00:00Z"
    assert fields["other"]["default"] == "1970-01-01T00:00:00Z"
    assert "default" not in fields["later"] and updated.value["before"]["later"] is None
    # (the first one's rows got the ALTER's time: no constant default to fill with)
    assert "default" not in fields["first"] and updated.value["before"]["first"] is not None


def test_explicit_defaults_for_timestamp_off_spares_on_update_generated_and_unchanged_columns(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (the review of the OFF rules: a first TIMESTAMP with ON UPDATE only is not promoted to
    # CURRENT_TIMESTAMP, the server gives it the zero TIMESTAMP, and so its rows; a generated
    # one stays nullable; an ALTER that adds or changes no column, ADD INDEX, changes no
    # default; hub had promoted the first two, and every ALTER)
    cur, out = _streamed(mariadb_server, mariadb_db, [
        "CREATE TABLE e (id int PRIMARY KEY, n int)",
        "CREATE TABLE f (id int PRIMARY KEY, x timestamp NOT NULL, n int)",
        "INSERT INTO e VALUES (0, 0)", "INSERT INTO f VALUES (0, '2024-01-01 00:00:00', 0)",
    ], [
        "SET SESSION explicit_defaults_for_timestamp = OFF",
        "ALTER TABLE e ADD COLUMN u timestamp ON UPDATE CURRENT_TIMESTAMP, "
        "ADD COLUMN g timestamp AS (u) VIRTUAL",
        "ALTER TABLE f ADD INDEX (n)", "SET SESSION explicit_defaults_for_timestamp = ON",
        "UPDATE e SET n = 1", "UPDATE f SET n = 1",
    ])  # fmt: skip
    for table, column in (("e", "u"), ("f", "x")):
        (event,) = (r for r in out if r.topic == f"app.{mariadb_db}.{table}" and r.value)
        fields = {f["field"]: f for f in event.value_schema["fields"][0]["fields"]}
        cur.execute(f"SELECT COLUMN_NAME, IS_NULLABLE, COLUMN_DEFAULT FROM "
                    f"information_schema.COLUMNS WHERE TABLE_SCHEMA = '{mariadb_db}' AND "
                    f"TABLE_NAME = '{table}'")  # fmt: skip
        server = {name: (nullable == "YES", default) for name, nullable, default in cur}
        assert {k: f["optional"] for k, f in fields.items() if k != "id"} == {
            k: v[0] for k, v in server.items() if k != "id"
        }, table
        if table == "e":  # (the row the ALTER filled, as the server filled it)
            assert event.value["before"]["u"] == "1970-01-01T00:00:00Z"
            assert "'0000-00-00 00:00:00'" in str(server["u"][1])
        assert fields[column].get("default") == "1970-01-01T00:00:00Z", (table, server)


def test_defaults_are_the_values_the_server_stores_not_the_ddls_text(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (the review of MySQL's types: the server rounds, pads, orders or reads the DDL's
    # literal before storing it, and the sinks filled the rows a table had with the text:
    # 'ab   ' for 'ab', 1.00 for 1.01, 'b,a' for 'a,b', NULL for 'y', 69 for 2069 ...; and
    # with `_latin1 0xE9` or NCHAR VARCHAR the statement did not parse: no default at all)
    _, out = _streamed(mariadb_server, mariadb_db, [
        "CREATE TABLE d (id int PRIMARY KEY, v int)", "INSERT INTO d VALUES (0, 0)",
    ], [
        "ALTER TABLE d ADD a_char CHAR(5) DEFAULT 'ab   ', ADD a_dec DECIMAL(5,2) DEFAULT "
        "1.005, ADD a_set SET('a','b') DEFAULT 'b,a', ADD a_enum ENUM('x','y') DEFAULT "
        "'Y', ADD a_yr YEAR DEFAULT 69, ADD a_yr2 YEAR DEFAULT 70, ADD a_tm TIME DEFAULT "
        "'23:00:00.7', ADD a_tm2 TIME(2) DEFAULT '01:00:00.789', ADD a_dt DATETIME "
        "DEFAULT '2000-01-01 00:00:00.7', ADD a_date DATE DEFAULT '2000-1-2', ADD a_ti "
        "TINYINT DEFAULT 1e2, ADD a_bu BIGINT UNSIGNED DEFAULT 0xFFFFFFFFFFFFFFFF, "
        "ADD a_i INT DEFAULT 2.5, ADD a_hex VARCHAR(4) DEFAULT X'6869', ADD a_lat "
        "VARCHAR(5) CHARACTER SET latin1 DEFAULT _latin1 0xE9, ADD a_n NCHAR VARCHAR(5) "
        "DEFAULT 'n', ADD a_dbl DOUBLE(10,2) DEFAULT 1.25, ADD a_ie INT DEFAULT 2.5e0, "
        "ADD a_hx VARCHAR(4) DEFAULT 0x6869, ADD a_bb VARCHAR(4) DEFAULT b'0110100001101001', "
        "ADD a_l2 VARCHAR(4) CHARACTER SET latin1 DEFAULT _latin1 0b11101001, "
        # (the server's own rounding, and a YEAR's quotes the history does not keep: none)
        "ADD x_dbl DOUBLE(5,1) DEFAULT 0.35, ADD x_y0 YEAR DEFAULT '0'",
        "UPDATE d SET v = 1 WHERE id = 0",  # (its before image: the fill)
    ])  # fmt: skip
    (event,) = (r for r in out if r.topic == f"app.{mariadb_db}.d" and r.value)
    fields = {f["field"]: f for f in event.value_schema["fields"][0]["fields"]}
    filled = orjson.loads(orjson.dumps(event.value["before"], default=json_default))
    added = [k for k in filled if k.startswith("a_")]
    assert len(added) == 21 and filled["a_hex"] == filled["a_hx"] == filled["a_bb"] == "hi"
    assert filled["a_lat"] == filled["a_l2"] == "é" and filled["a_ie"] == 2
    assert {k: fields[k].get("default") for k in added} == {k: filled[k] for k in added}
    assert (filled["x_dbl"], filled["x_y0"]) == (0.4, 2000)
    assert "default" not in fields["x_dbl"] and "default" not in fields["x_y0"]


def test_snapshot_and_stream_events_of_a_table_have_the_same_schema(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    # (the snapshot's events had no field defaults, the stream's had them: every consumer saw
    # the schema change at the snapshot's end, and a sink creating the table from a snapshot
    # event had no default to fill added rows with)
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 7, s varchar(5) "
                "DEFAULT 'x', q enum('lo','hi') NOT NULL, d date NOT NULL)")  # fmt: skip
    cur.execute("INSERT INTO t (id, d) VALUES (1, '2024-01-01')")
    task = start_task(source_config(mariadb_server, mariadb_db))
    try:
        (snapshot,) = poll_until(task, 1)
        cur.execute("INSERT INTO t (id, d) VALUES (2, '2024-01-02')")
        (streamed,) = poll_until(task, 1)
    finally:
        task.stop()
    assert snapshot.value["op"] == "r" and streamed.value["op"] == "c"
    assert snapshot.value_schema == streamed.value_schema
    fields = {f["field"]: f.get("default") for f in snapshot.value_schema["fields"][0]["fields"]}
    assert fields == {"id": None, "n": 7, "s": "x", "q": "lo", "d": 0}


@pytest.mark.parametrize("client", ["latin1", "cp1251", "utf8mb4"])
def test_ddl_reads_in_the_character_set_of_the_client_that_sent_it(
    mariadb_server: MariaDBServer, mariadb_db: str, client: str
) -> None:
    # (every statement was read as UTF-8: a latin1 client's column names, ENUM labels and
    # defaults came out as U+FFFD, silently)
    import time

    import pymysql

    names = {"latin1": ("prénom", "thé"), "cp1251": ("имя", "чай"), "utf8mb4": ("名前", "茶😀")}
    column, label = names[client]
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"})
    task = start_task(cfg)
    try:
        task.poll()
        con = pymysql.connect(unix_socket=str(mariadb_server.socket), user="root",
                              database=mariadb_db, autocommit=True, charset=client)  # fmt: skip
        cur = con.cursor()
        cur.execute(f"CREATE TABLE t (id int PRIMARY KEY, `{column}` varchar(10) "
                    f"DEFAULT '{label}', e enum('{label}', 'x') DEFAULT '{label}') "
                    "CHARACTER SET utf8mb4")  # fmt: skip
        cur.execute("INSERT INTO t (id) VALUES (1)")
        out: list = []
        deadline = time.monotonic() + 10
        while not any(r.topic.startswith("app.") for r in out) and time.monotonic() < deadline:
            out += [r for r in task.poll() if r.topic]
    finally:
        task.stop()
    (ddl_event,) = [r for r in out if r.topic == "app"]
    assert f"`{column}`" in ddl_event.value["ddl"]
    cols = ddl_event.value["tableChanges"][0]["table"]["columns"]
    assert [c["name"] for c in cols] == ["id", column, "e"]
    assert cols[1]["defaultValueExpression"] == label
    (row,) = [r for r in out if r.topic.startswith("app.")]
    assert row.value["after"] == {"id": 1, column: label, "e": label}
    fields = {f["field"]: f for f in row.value_schema["fields"][0]["fields"]}
    assert fields[column]["default"] == label and fields["e"]["default"] == label


@pytest.mark.parametrize("row_metadata", ["NO_LOG"], indirect=True)
def test_enum_set_labels_and_defaults_from_ddl_are_the_servers(
    mariadb_server: MariaDBServer, mariadb_db: str, row_metadata: str
) -> None:
    """Without column metadata in the binlog, a table created while streaming has its ENUM /
    SET labels and string defaults from its DDL: they must be the server's reading of it (a
    backslash escapes, but ``\\%`` and ``\\_`` keep theirs; under sql_mode
    NO_BACKSLASH_ESCAPES it is a character; a member's trailing spaces are stripped), or every
    event of those rows carries another string than the row holds."""
    cur = root(mariadb_server, mariadb_db).cursor()
    task = start_task(source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"}))
    tables = {
        "e1": r"e enum('a\\b', 'c\'d', 'e''f', 'pct\%', 'us\_', 't\tab'), s set('x\\y', 'z'), "
        r"d varchar(10) DEFAULT 'p\%q\_\\'",
        "e2": r"e enum('a\b', 'c''d', 'n\n'), s set('x\y', 'z'), d varchar(10) DEFAULT 'p\n'",
        "e3": "e enum('trail  ', '  lead', 'mid  x'), s set('sp ', 'q'), d varchar(10)",
    }
    try:
        poll_for(task, 0.3)
        for name, columns in tables.items():
            if name == "e2":
                cur.execute("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
            cur.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, {columns})")
            cur.execute("SET SESSION sql_mode = DEFAULT")
            for i in range(1, columns.split("), s ")[0].count(",") + 2):  # each label
                cur.execute(f"INSERT INTO {name} (id, e, s) VALUES ({i}, {i}, 3)")
        server: dict[tuple[str, int], dict[str, object]] = {}
        for name in tables:
            cur.execute(f"SELECT id, e, s, d FROM {name}")
            for id_, e, s, d in cur.fetchall():
                server[(name, id_)] = {"id": id_, "e": e, "s": s, "d": d}
        got = poll_until(task, len(server))
    finally:
        task.stop()
    assert {(r.topic.rsplit(".", 1)[1], r.key["id"]): r.value["after"] for r in got} == server
    assert server[("e1", 1)]["e"] == "a\\b" and server[("e1", 4)]["e"] == "pct\\%"  # (the SQL)
    for r in got:  # the rows took the column's default: the field schema's must be the same
        fields = {f["field"]: f for f in r.value_schema["fields"][0]["fields"]}
        assert fields["d"].get("default") == r.value["after"]["d"]


@pytest.mark.parametrize("row_metadata", ["FULL", "NO_LOG"], indirect=True)
@pytest.mark.parametrize(
    ("table", "statement"),
    [
        ("v", "ALTER TABLE v ADD SYSTEM VERSIONING"),
        ("n", "CREATE TABLE n (id int PRIMARY KEY, a int) WITH SYSTEM VERSIONING"),
        ("n", "CREATE TABLE n (id int PRIMARY KEY, a int WITH SYSTEM VERSIONING)"),
        ("n", "CREATE TABLE n LIKE hv"),
        ("n", "RENAME TABLE hv TO n"),
    ],
)
def test_a_table_made_system_versioned_while_streaming_stops_the_task_by_name(
    mariadb_server: MariaDBServer, mariadb_db: str, row_metadata: str, table: str, statement: str
) -> None:
    """As at start (test_types), a captured table that becomes SYSTEM VERSIONED is refused by
    name, before any event of it after the DDL: its binlog rows carry the history (an update
    or delete came as an insert of the old row, a deleted row came back)."""
    import time

    from connectors.source.mysql.server import ServerSetupError

    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE v (id int PRIMARY KEY, a int)")
    cur.execute("CREATE TABLE hv (id int PRIMARY KEY, a int) WITH SYSTEM VERSIONING")
    cfg = source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "table.exclude.list": rf"{mariadb_db}\.hv"})  # fmt: skip
    task = start_task(cfg)
    try:
        poll_for(task, 0.3)
        cur.execute("INSERT INTO v VALUES (1, 1)")
        assert [r.value["after"] for r in poll_until(task, 1)] == [{"id": 1, "a": 1}]
        cur.execute(statement)
        cur.execute(f"INSERT INTO {table} VALUES (2, 2)")
        cur.execute(f"UPDATE {table} SET a = 20 WHERE id = 2")
        cur.execute(f"DELETE FROM {table} WHERE id = 2")
        out: list = []
        deadline = time.monotonic() + 10
        with pytest.raises(ServerSetupError) as failed:
            while time.monotonic() < deadline:
                out += poll(task)
    finally:
        task.stop()
    message = str(failed.value)
    assert f"{mariadb_db}.{table} became SYSTEM VERSIONED" in message
    assert "table.exclude.list" in message
    assert [r for r in out if r.topic.startswith("app.")] == []


@pytest.mark.parametrize("row_metadata", ["NO_LOG"], indirect=True)
def test_mariadb_if_exists_clauses_are_followed_as_the_server_decides_them(
    mariadb_server: MariaDBServer, mariadb_db: str, row_metadata: str
) -> None:
    """MariaDB's ``ALTER TABLE IF EXISTS``, ``ADD CONSTRAINT IF NOT EXISTS`` (both stopped
    the task: a DDL the history could not parse) and IF [NOT] EXISTS clauses, each decided
    against the table before the statement (``DROP COLUMN IF EXISTS v, ADD COLUMN IF NOT
    EXISTS v`` drops v, then adds it when run again): each row's event has its columns."""
    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    task = start_task(source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"}))
    statements = [
        "ALTER TABLE IF EXISTS t ADD w int",
        "ALTER TABLE IF EXISTS nope ADD w int",
        "ALTER TABLE t ADD CONSTRAINT IF NOT EXISTS ck CHECK (v > 0), ADD x int",
        "ALTER TABLE t DROP COLUMN IF EXISTS v, ADD COLUMN IF NOT EXISTS v varchar(3) FIRST",
        "ALTER TABLE t DROP COLUMN IF EXISTS v, ADD COLUMN IF NOT EXISTS v varchar(3) FIRST",
        "ALTER TABLE t MODIFY COLUMN IF EXISTS nope bigint, MODIFY COLUMN IF EXISTS w bigint, "
        "ADD COLUMN IF NOT EXISTS w2 int, ADD COLUMN IF NOT EXISTS w2 int",
        "ALTER TABLE t CHANGE COLUMN IF EXISTS x x3 int, ADD COLUMN IF NOT EXISTS x3 int AFTER id",
    ]
    want = []
    try:
        poll_for(task, 0.3)
        for i, sql in enumerate(statements):
            cur.execute(sql)
            cur.execute(f"INSERT INTO t (id) VALUES ({i})")
            cur.execute(f"SELECT * FROM t WHERE id = {i}")
            want.append(dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True)))
        got = [r.value["after"] for r in poll_until(task, len(want))]
    finally:
        task.stop()
    assert got == want
    assert list(want[-1]) == ["v", "id", "w", "x3", "w2"]


def test_schema_changes_no_row_event_reports_are_warned_of(
    mariadb_server: MariaDBServer, mariadb_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # (as the PostgreSQL source does: the sinks silently kept the old table's rows under a
    # re-created or swapped table's keys, and a re-added column's old values)
    import logging

    cur = root(mariadb_server, mariadb_db).cursor()
    for t in ("readd", "ren", "recreate", "replaced", "moved", "fine", "orders", "_orders_new"):
        cur.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, s int)")
        cur.execute(f"INSERT INTO {t} VALUES (1, 1)")
    task = start_task(source_config(mariadb_server, mariadb_db, **{
        "snapshot.mode": "no_data", "table.exclude.list": rf"{mariadb_db}\._.*",
    }))  # fmt: skip
    try:
        poll_for(task, 0.5)
        with caplog.at_level(logging.WARNING):
            cur.execute("ALTER TABLE readd DROP COLUMN s")
            cur.execute("ALTER TABLE readd ADD COLUMN s int DEFAULT 7")
            cur.execute("ALTER TABLE ren RENAME COLUMN s TO s2")
            cur.execute("DROP TABLE recreate")
            cur.execute("CREATE TABLE recreate (id int PRIMARY KEY, s int)")
            cur.execute("CREATE OR REPLACE TABLE replaced (id int PRIMARY KEY, s int)")
            cur.execute("RENAME TABLE moved TO moved2")
            # an online schema change's cut-over, its helper tables not captured
            cur.execute("RENAME TABLE orders TO _orders_old, _orders_new TO orders")
            cur.execute("ALTER TABLE fine ADD COLUMN c int DEFAULT 5, MODIFY s bigint")
            cur.execute("INSERT INTO fine (id) VALUES (2)")
            got = poll_until(task, 1)
            while not any(r.topic.endswith(".fine") for r in got):
                got += poll_until(task, 1)
        said = [r.getMessage() for r in caplog.records if "incremental snapshot" in r.getMessage()]
        for table, words in [
            ("readd", "column 's' was dropped and added again"),
            ("ren", "column 's' was renamed 's2'"),
            ("recreate", "it was dropped"),
            ("replaced", "it was replaced"),
            ("moved", f"it was renamed {mariadb_db}.moved2: the sinks keep its rows"),
            ("orders", f"it was renamed {mariadb_db}._orders_old, which is not captured"),
            ("orders", f"{mariadb_db}._orders_new, which is not captured, was renamed to it"),
        ]:
            assert any(f"{mariadb_db}.{table}:" in m and words in m for m in said), (table, said)
        assert not any(f"{mariadb_db}.fine" in m for m in said)  # (a default: filled)
    finally:
        task.stop()


@pytest.mark.parametrize("row_metadata", ["FULL", "MINIMAL"], indirect=True)
def test_ddl_on_a_temporary_table_leaves_the_table_it_hides_alone(
    mariadb_server: MariaDBServer, mariadb_db: str, row_metadata: str
) -> None:
    # (a review's: a MIXED session's ALTER of its temporary t, which hides the captured t,
    # was applied to the captured t's history: under MINIMAL its later rows came with their
    # values in each other's columns; and TRUNCATE of the temporary t emptied the sinks' t)
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, a varchar(10), b varchar(10))")
    cur.execute("INSERT INTO t VALUES (1, 'a1', 'b1')")
    cur.execute("CREATE TABLE tx (id int PRIMARY KEY)")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"})
    task = start_task(cfg)
    try:
        poll_for(task, 0.3)
        other = root(mariadb_server, mariadb_db)
        session = other.cursor()
        session.execute("SET SESSION binlog_format = 'MIXED'")
        session.execute("CREATE TEMPORARY TABLE t (id int PRIMARY KEY, a varchar(10), "
                        "b varchar(10))")  # fmt: skip
        for statement in (
            "ALTER TABLE t MODIFY b varchar(10) AFTER id",
            "TRUNCATE TABLE t",
            "ALTER TABLE t ADD COLUMN c int",
            "CREATE INDEX ia ON t (a)",
            "DROP TABLE t",  # (the temporary one)
        ):
            session.execute(statement)
        cur.execute("INSERT INTO t VALUES (2, 'a2', 'b2')")
        cur.execute("UPDATE t SET b = 'b1x' WHERE id = 1")
        session.execute("BEGIN")  # (inside a transaction, which goes on)
        session.execute("CREATE TEMPORARY TABLE t (id int PRIMARY KEY, b varchar(10))")
        # (UUID(): unsafe for a statement, so MIXED logs the rows)
        rows = f"INSERT INTO `{mariadb_db}`.tx SELECT %s FROM DUAL WHERE UUID() IS NOT NULL"
        session.execute(rows, (3,))
        session.execute("ALTER TABLE t ADD COLUMN c int")
        session.execute(rows, (4,))
        session.execute("COMMIT")
        other.close()
        cur.execute("INSERT INTO t VALUES (5, 'a5', 'b5')")
        got = [r for r in poll_for(task, 1.5) if r.topic]
    finally:
        task.stop()
    events = [(r.value["op"], r.value["after"]) for r in got if r.topic == f"app.{mariadb_db}.t"]
    assert events == [
        ("c", {"id": 2, "a": "a2", "b": "b2"}),
        ("u", {"id": 1, "a": "a1", "b": "b1x"}),
        ("c", {"id": 5, "a": "a5", "b": "b5"}),
    ]
    assert [r.value["after"]["id"] for r in got if r.topic == f"app.{mariadb_db}.tx"] == [3, 4]


@pytest.mark.parametrize("row_metadata", ["FULL", "MINIMAL"], indirect=True)
def test_a_truncate_read_after_its_table_was_renamed_or_altered_is_its_tables_of_then(
    mariadb_server: MariaDBServer, mariadb_db: str, row_metadata: str
) -> None:
    # (a review's: the truncate event was built from the catalog as it is when read; a table
    # renamed or dropped since gave none, so the sinks kept the rows the source had deleted,
    # and one altered since gave the new columns. Debezium's builds it from its schema)
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(5))")
    cur.execute("CREATE TABLE u (id int PRIMARY KEY, v varchar(5))")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data",
                                                       "skipped.operations": "none"})  # fmt: skip
    start = start_position(cfg)
    cur.execute("INSERT INTO t VALUES (1, 'a')")
    cur.execute("TRUNCATE TABLE t")
    cur.execute("RENAME TABLE t TO t_old")
    cur.execute("TRUNCATE TABLE u")
    cur.execute("ALTER TABLE u CHANGE id k bigint")
    task = start_task(cfg, start)
    try:
        got = [r for r in poll_for(task, 1.5) if r.topic and r.value]
    finally:
        task.stop()
    truncates = [r for r in got if r.value["op"] == "t"]
    assert [r.topic for r in truncates] == [f"app.{mariadb_db}.t", f"app.{mariadb_db}.u"]
    after = truncates[1].value_schema["fields"][1]  # (the envelope's after: u's columns then)
    assert [(f["field"], f["type"]) for f in after["fields"]] == [("id", "int32"), ("v", "string")]


@pytest.mark.parametrize("row_metadata", ["FULL", "MINIMAL"], indirect=True)
def test_a_columns_default_changed_after_it_was_added_fills_the_sinks_rows_as_then(
    mariadb_server: MariaDBServer, mariadb_db: str, row_metadata: str
) -> None:
    # (a review's: ADD COLUMN x DEFAULT 5 then SET DEFAULT 7: the sinks filled the rows they
    # had with 7, the source's rows hold 5; the field now says 7 as Debezium's, and its FILL
    # parameter 5, which a sink adding the column fills with)
    from connectors.sink.engine.types import columns_of

    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
    cfg = source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"})
    task = start_task(cfg)
    try:
        poll_for(task, 0.3)
        cur.execute("INSERT INTO t VALUES (1)")
        cur.execute("ALTER TABLE t ADD COLUMN x int DEFAULT 5, ADD COLUMN y int")
        cur.execute("ALTER TABLE t ALTER COLUMN x SET DEFAULT 7, ALTER y SET DEFAULT 3")
        cur.execute("INSERT INTO t (id) VALUES (2)")
        got = poll_until(task, 2)
    finally:
        task.stop()
    assert got[1].value["after"] == {"id": 2, "x": 7, "y": 3}
    columns = {c.name: c for c in columns_of(got[1].value_schema["fields"][1])}
    assert (columns["x"].default, columns["y"].default) == (5, None)  # (as the rows were)
    fields = {f["field"]: f for f in got[1].value_schema["fields"][1]["fields"]}
    assert (fields["x"]["default"], fields["y"]["default"]) == (7, 3)


def test_a_column_added_with_a_default_each_row_gets_its_own_of_is_warned_of(
    mariadb_server: MariaDBServer, mariadb_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # (a review's: the sinks' rows had it NULL with no word; the PostgreSQL source warns)
    import logging

    cur = root(mariadb_server, mariadb_db).cursor()
    cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
    cur.execute("INSERT INTO t VALUES (1)")
    task = start_task(source_config(mariadb_server, mariadb_db, **{"snapshot.mode": "no_data"}))
    try:
        poll_for(task, 0.3)
        with caplog.at_level(logging.WARNING):
            cur.execute("ALTER TABLE t ADD COLUMN at timestamp DEFAULT CURRENT_TIMESTAMP, "
                        "ADD COLUMN n int DEFAULT 5")  # fmt: skip
            cur.execute("INSERT INTO t (id) VALUES (2)")
            poll_until(task, 1)
    finally:
        task.stop()
    said = [r.getMessage() for r in caplog.records if "not a constant" in r.getMessage()]
    assert len(said) == 1 and "column 'at' was added with a default that is not a" in said[0]
    assert "'n'" not in said[0]
