"""The schema history without a server: the DDL parser, the tables' definitions it keeps,
TABLE_MAPs without column names completed from it, and its stored records replayed up to a
position."""

from __future__ import annotations

import orjson
import pytest

from connectors.source.mysql import ddl
from connectors.source.mysql.history import (
    SchemaHistory,
    SchemaHistoryError,
    Schemas,
    TableChange,
    change_json,
    record,
    replay,
)
from connectors.source.mysql.protocol.events import TableMap
from connectors.source.mysql.protocol.values import Column, T


def names(schemas: Schemas, table: str, db: str = "d") -> list[str]:
    t = schemas.get(db, table)
    assert t is not None
    return [c.name for c in t.columns]


def test_create_table_with_every_kind_of_clause() -> None:
    stmt = ddl.parse(
        "CREATE TABLE IF NOT EXISTS `d`.`t` (id INT(11) UNSIGNED NOT NULL AUTO_INCREMENT, "
        "b VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_bin DEFAULT 'x' COMMENT 'it''s', "
        "e ENUM('a','b''c',\"d\") NOT NULL, s SET('x','y'), dd DECIMAL(10,2) UNSIGNED, "
        "n NATIONAL VARCHAR(3), p POINT NOT NULL SRID 0, g int GENERATED ALWAYS AS (id+1) "
        "VIRTUAL, `key` int, `a``b` double precision, vb varchar(4) character set binary, "
        "ts TIMESTAMP(3) NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3), "
        "period int, PRIMARY KEY (id), KEY k (b(3)), UNIQUE KEY (s), CONSTRAINT fk FOREIGN "
        "KEY (b) REFERENCES x(y) ON DELETE CASCADE, CHECK (id > 0)) ENGINE=InnoDB "
        "DEFAULT CHARSET=utf8mb4 /*!50100 PARTITION BY HASH (id) PARTITIONS 4 */"
    )
    assert isinstance(stmt, ddl.CreateTable)
    assert (stmt.db, stmt.name, stmt.primary_key, stmt.charset) == ("d", "t", ("id",), "utf8mb4")
    cols = {c.name: c for c in stmt.columns}
    assert list(cols) == ["id", "b", "e", "s", "dd", "n", "p", "g", "key", "a`b", "vb", "ts",
                          "period"]  # fmt: skip
    assert cols["id"].type_expression == "int(11) unsigned" and not cols["id"].nullable
    assert cols["id"].auto_increment
    assert (cols["b"].charset, cols["b"].default, cols["b"].comment) == ("latin1", "x", "it's")
    assert cols["e"].labels == ("a", "b'c", "d") and cols["e"].type_expression == (
        "enum('a','b''c','d')"
    )
    assert cols["dd"].type_expression == "decimal(10,2) unsigned"
    assert cols["n"].charset == "utf8mb3"
    assert cols["p"].type_name == "point" and cols["g"].generated
    assert cols["a`b"].type_name == "double"
    assert cols["vb"].type_name == "varbinary" and cols["vb"].charset is None
    assert cols["ts"].args == (3,) and cols["ts"].nullable


@pytest.mark.parametrize(
    ("sql", "actions"),
    [
        ("ALTER TABLE t ADD COLUMN c INT UNSIGNED NOT NULL AFTER b",
         [("add", "c", "b")]),
        ("alter table t add c int first, drop column b, modify d bigint after c, change "
         "column e e2 varchar(5), rename column s to s2, algorithm=inplace, lock=none",
         [("add", "c", ""), ("drop", "b"), ("modify", "d", "d", "c"), ("modify", "e", "e2", None),
          ("rename", "s", "s2")]),
        ("ALTER TABLE t ADD COLUMN (a INT, b INT)", [("add", "a", None), ("add", "b", None)]),
        ("ALTER TABLE t ADD PRIMARY KEY (a, b(10)), DROP INDEX i, ADD INDEX j (a)",
         [("pk", ("a", "b"))]),
        ("ALTER TABLE t DROP PRIMARY KEY, ADD CONSTRAINT pk PRIMARY KEY USING BTREE (c)",
         [("pk", None), ("pk", ("c",))]),
        ("ALTER TABLE t CONVERT TO CHARACTER SET latin1", [("convert", "latin1")]),
        ("ALTER TABLE t DEFAULT CHARSET = latin1, ENGINE = InnoDB", [("charset", "latin1")]),
        ("ALTER TABLE t ALTER COLUMN c SET DEFAULT 3, ORDER BY c, FORCE", []),
        ("ALTER TABLE t RENAME TO e.u", [("to", "e", "u")]),
        ("ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT, DROP COLUMN IF EXISTS z",
         [("add", "a", None), ("drop", "z")]),
    ],
)  # fmt: skip
def test_alter_table_actions(sql: str, actions: list[tuple[object, ...]]) -> None:
    stmt = ddl.parse(sql)
    assert isinstance(stmt, ddl.AlterTable)
    got: list[tuple[object, ...]] = []
    for a in stmt.actions:
        if isinstance(a, ddl.AddColumn):
            got.append(("add", a.column.name, a.position))
        elif isinstance(a, ddl.DropColumn):
            got.append(("drop", a.name))
        elif isinstance(a, ddl.ModifyColumn):
            got.append(("modify", a.old, a.column.name, a.position))
        elif isinstance(a, ddl.RenameColumn):
            got.append(("rename", a.old, a.new))
        elif isinstance(a, ddl.PrimaryKey):
            got.append(("pk", a.columns))
        elif isinstance(a, ddl.Convert):
            got.append(("convert", a.charset))
        elif isinstance(a, ddl.DefaultCharset):
            got.append(("charset", a.charset))
        elif isinstance(a, ddl.RenameTo):
            got.append(("to", a.db, a.name))
    assert got == actions


def test_statements_without_effect_on_columns_are_none() -> None:
    for sql in (
        "CREATE INDEX i ON t (a)", "DROP INDEX i ON t", "GRANT SELECT ON *.* TO u",
        "CREATE VIEW v AS SELECT 1", "CREATE DEFINER=`root`@`%` PROCEDURE p() BEGIN END",
        "TRUNCATE TABLE t", "FLUSH TABLES", "ANALYZE TABLE t", "CREATE USER u",
        "SET x = 1",
    ):  # fmt: skip
        assert ddl.parse(sql) is None, sql


def test_alter_column_set_and_drop_default_change_the_default() -> None:
    # (a review's: ALTER [COLUMN] c SET DEFAULT / DROP DEFAULT were skipped, and the history,
    # its schema change events and the events' field defaults kept the old default)
    s = Schemas("utf8mb4", mariadb=True)
    s.apply("CREATE TABLE t (id int, v int NOT NULL DEFAULT 1, w varchar(5) DEFAULT 'a')", "d")
    s.apply("ALTER TABLE t ALTER COLUMN v SET DEFAULT 5, ALTER w DROP DEFAULT", "d")
    t = s.get("d", "t")
    assert t is not None and [c.default for c in t.columns] == [None, "5", None]
    s.apply("ALTER TABLE t ALTER COLUMN w SET DEFAULT 'b', ALTER COLUMN v SET INVISIBLE", "d")
    t = s.get("d", "t")
    assert t is not None and [c.default for c in t.columns] == [None, "5", "b"]
    assert ddl.parse("ALTER TABLE t ALTER INDEX i INVISIBLE") == ddl.AlterTable(None, "t", ())
    # (a hash is cut to the length Debezium's DDL parser gives: an ENUM 1, a SET 2n-1)
    from connectors.source.mysql.history import declared_lengths

    s.apply("CREATE TABLE lens (e enum('large','small'), st set('a','b','c'), v varchar(7), "
            "x text)", "d")  # fmt: skip
    assert declared_lengths(s.get("d", "lens")) == {"e": 1, "st": 5, "v": 7, "x": 65_535}
    # forms the history does not read are left as they were, not refused (a diff review's)
    for odd in ("_latin1 x'41'", "NEXT VALUE FOR s", "'a' 'b'"):
        assert ddl.parse(f"ALTER TABLE t ALTER w SET DEFAULT {odd}, ADD z int") == ddl.AlterTable(
            None, "t", (ddl.AddColumn(ddl.ColumnSpec("z", "int")),)
        ), odd
    # the value the rows got when the column was added is kept, and survives a replay (a
    # sink adding the column fills them with it: a review's, they had got the new default)
    from connectors.source.mysql.history import fills

    s.apply("ALTER TABLE t ADD COLUMN x int DEFAULT 5, ADD COLUMN y int", "d")
    s.apply("ALTER TABLE t ALTER x SET DEFAULT 7, ALTER y SET DEFAULT 3", "d")
    s.apply("ALTER TABLE t MODIFY x bigint DEFAULT 9", "d")
    t = s.get("d", "t")
    assert t is not None and fills(t) == {"v": "1", "w": "a", "x": "5", "y": None}
    again = Schemas("utf8mb4", mariadb=True)
    again.load({"tableChanges": [orjson.loads(orjson.dumps(
        change_json(TableChange("CREATE", "d", "t", t))))]})  # fmt: skip
    assert fills(again.get("d", "t")) == fills(t)


def test_executable_comments_are_read() -> None:
    assert ddl.parse("/*!40000 ALTER TABLE t DISABLE KEYS */") == ddl.AlterTable(None, "t", ())
    stmt = ddl.parse("CREATE TABLE t (a int /*M!100301 INVISIBLE */, b int)")
    assert isinstance(stmt, ddl.CreateTable) and [c.name for c in stmt.columns] == ["a", "b"]


def test_rename_drop_and_databases() -> None:
    assert ddl.parse("RENAME TABLE a TO b, d.c TO e.d") == ddl.RenameTables(
        (((None, "a"), (None, "b")), (("d", "c"), ("e", "d")))
    )
    assert ddl.parse("DROP TABLE IF EXISTS `a`,b /* generated by server */") == ddl.DropTables(
        ((None, "a"), (None, "b"))
    )
    assert ddl.parse("CREATE DATABASE IF NOT EXISTS x DEFAULT CHARACTER SET = latin1") == (
        ddl.Database("CREATE", "x", "latin1", None, True)
    )
    assert ddl.parse("DROP SCHEMA x") == ddl.Database("DROP", "x")
    assert ddl.parse("CREATE TABLE x LIKE y") == ddl.CreateTable(None, "x", like=(None, "y"))


@pytest.mark.parametrize(
    "sql",
    ["ALTER TABLE t ADD COLUMN", "CREATE TABLE t (a int", "ALTER TABLE t ADD c ENUM(",
     "CREATE TABLE t (a int) SELECT 1", "ALTER TABLE t ADD c int d int"],
)  # fmt: skip
def test_statements_that_do_not_parse_say_where(sql: str) -> None:
    with pytest.raises(ddl.DdlError, match="at character"):
        ddl.parse(sql)


def test_alterations_follow_the_server() -> None:
    s = Schemas("latin1", mariadb=True)
    s.databases["d"] = "utf8mb4"
    s.apply("CREATE TABLE t (id int, a int, b varchar(5), PRIMARY KEY (id, a))", "d")
    t = s.get("d", "t")
    assert t is not None and t.charset == "utf8mb4" and t.columns[2].charset == "utf8mb4"
    s.apply("ALTER TABLE t ADD c int FIRST, ADD x text CHARSET latin1 AFTER id", "d")
    assert names(s, "t") == ["c", "id", "x", "a", "b"]
    s.apply("ALTER TABLE t CHANGE A aa bigint unsigned, MODIFY c int AFTER b", "d")
    t = s.get("d", "t")
    assert t is not None and t.primary_key == ("id", "aa")
    assert names(s, "t") == ["id", "x", "aa", "b", "c"] and t.columns[2].unsigned
    s.apply("ALTER TABLE t DROP COLUMN aa, RENAME COLUMN b TO bb", "d")
    t = s.get("d", "t")
    assert t is not None and t.primary_key == ("id",) and names(s, "t") == ["id", "x", "bb", "c"]
    s.apply("ALTER TABLE t CONVERT TO CHARACTER SET latin1", "d")
    t = s.get("d", "t")
    assert t is not None and {c.charset for c in t.columns} == {"latin1", None}
    s.apply("CREATE TABLE u LIKE t", "d")
    s.apply("RENAME TABLE t TO e.t2, u TO t", "d")
    assert s.get("d", "u") is None and names(s, "t2", "e") == names(s, "t")
    s.apply("CREATE DATABASE z CHARACTER SET latin1", "")
    s.apply("CREATE TABLE z.k (v varchar(3), j json)", "")
    k = s.get("z", "k")
    assert k is not None and [c.charset for c in k.columns] == ["latin1", "utf8mb4"]
    assert k.columns[1].type_name == "longtext"  # MariaDB's JSON
    s.apply("CREATE TABLE IF NOT EXISTS z.k (other int)", "")
    assert names(s, "k", "z") == ["v", "j"]
    changes = s.apply("DROP DATABASE z", "")
    assert [(c.type, c.db, c.name) for c in changes] == [("DROP", "z", "k")]
    s.apply("DROP TABLE t, e.t2", "d")
    assert s.tables == {}
    with pytest.raises(SchemaHistoryError, match="does not hold table d.gone"):
        s.apply("ALTER TABLE gone ADD c int", "d")
    assert s.apply("ALTER TABLE mysql.user ADD c int", "d") == []  # system tables: not kept


def test_lower_case_table_names() -> None:
    s = Schemas(lower_case_names=True)
    s.apply("CREATE TABLE D.Tab (a int)", "")
    assert s.get("d", "tab") is not None and s.get("D", "TAB") is not None


def _map(*cols: Column) -> TableMap:
    return TableMap(7, "d", "t", cols)


def test_a_table_map_without_names_is_completed_and_checked() -> None:
    s = Schemas("utf8mb4")
    s.apply("CREATE TABLE t (id int unsigned PRIMARY KEY, e enum('x','y'), v varchar(5) "
            "CHARACTER SET latin1, b varbinary(3))", "d")  # fmt: skip
    tm = _map(Column(T.LONG, 0, False), Column(T.STRING, T.ENUM << 8 | 1),
              Column(T.VARCHAR, 5), Column(T.VARCHAR, 3))  # fmt: skip
    done = s.complete(tm)
    assert [c.name for c in done.columns] == ["id", "e", "v", "b"]
    assert done.columns[0].unsigned and done.columns[1].labels == ("x", "y")
    assert done.columns[2].charset == 8 and done.columns[3].charset == 63  # latin1, binary
    assert done.primary_key == (0,) and len(done.decoders) == 4
    with pytest.raises(SchemaHistoryError, match="rows have 3 columns"):
        s.complete(_map(*tm.columns[:3]))
    with pytest.raises(SchemaHistoryError, match="column 'v' is varchar"):
        s.complete(_map(tm.columns[0], tm.columns[1], Column(T.LONGLONG, 0), tm.columns[3]))
    with pytest.raises(SchemaHistoryError, match="does not hold the table"):
        s.complete(TableMap(8, "d", "other", tm.columns))


def test_records_replay_up_to_the_resume_position() -> None:
    s = Schemas("utf8mb4")
    s.databases["d"] = "latin1"
    s.apply("CREATE TABLE t (id int PRIMARY KEY, e enum('a','b') NOT NULL, v varchar(9))", "d")
    h = SchemaHistory(s, "__h", "app", "mariadb", {"server": "app"}, True, False,
                      lambda db, t: True)  # fmt: skip
    stored = [r.value for r in h.baseline(("binlog.000001", 100), {"file": "x", "pos": 1})]
    source = {"db": "", "table": None}
    for at, sql in [(200, "ALTER TABLE t ADD c int"), (300, "ALTER TABLE t RENAME COLUMN c TO k")]:
        out = h.ddl(sql, "d", ("binlog.000001", at), {"file": "binlog.000001", "pos": at + 50},
                    source)  # fmt: skip
        assert [r.topic for r in out] == ["__h", "app"]  # the history's, the change event
        assert out[1].key == {"databaseName": "d"} and out[1].value["ddl"] == sql
        stored.append(out[0].value)
    # a table of another database, from a session whose default database is d: named by
    # its own (a review's: the events had said d, the session's)
    s.databases["e"] = "utf8mb4"
    out = h.ddl("CREATE TABLE e.u (id int)", "d", ("binlog.000001", 400),
                {"file": "binlog.000001", "pos": 450}, source)  # fmt: skip
    assert out[1].key == {"databaseName": "e"} and out[1].value["databaseName"] == "e"
    assert (out[1].value["source"]["db"], out[1].value["source"]["table"]) == ("e", "u")
    stored.append(out[0].value)
    # one event per table, a rename as an ALTER of the new name, as Debezium's (a review's:
    # a DROP and a CREATE in one event, which a consumer applying them carried out so)
    out = h.ddl("CREATE TABLE e.w (id int)", "d", ("binlog.000001", 410),
                {"file": "binlog.000001", "pos": 420}, source)  # fmt: skip
    stored.append(out[0].value)
    out = h.ddl("RENAME TABLE e.u TO e.u2, e.w TO e.w2", "d", ("binlog.000001", 430),
                {"file": "binlog.000001", "pos": 440}, source)  # fmt: skip
    changes = [(r.value["databaseName"], r.value["tableChanges"]) for r in out[1:]]
    assert [(db, [(c["type"], c["id"]) for c in ch]) for db, ch in changes] == [
        ("e", [("ALTER", '"e"."u2"')]), ("e", [("ALTER", '"e"."w2"')]),
    ]  # fmt: skip
    assert changes[0][1][0]["table"]["columns"][0]["name"] == "id"
    stored.append(out[0].value)
    out = h.ddl("DROP TABLE e.u2, e.w2", "d", ("binlog.000001", 450),
                {"file": "binlog.000001", "pos": 460}, source)  # fmt: skip
    dropped = [[(c["type"], c["id"], c["table"]) for c in r.value["tableChanges"]]
               for r in out[1:]]  # fmt: skip
    assert dropped == [[("DROP", '"e"."u2"', None)], [("DROP", '"e"."w2"', None)]]
    stored.append(out[0].value)
    # (a diff review's: a DROP and a CREATE of two different tables, each with one side not
    # captured, had been paired into one ALTER)
    captured_d = SchemaHistory(s, "__h", "app", "mariadb", {"server": "app"}, True, False,
                               lambda db, t: db == "d")  # fmt: skip
    s.apply("CREATE TABLE d.a (id int)", "d")
    s.apply("CREATE TABLE e.z (id int, zz int)", "d")
    moved = captured_d.ddl("RENAME TABLE d.a TO e.a, e.z TO d.c", "d", ("binlog.000001", 445),
                         {"file": "binlog.000001", "pos": 446}, source)  # fmt: skip
    got = [(c["type"], c["id"]) for r in moved[1:] for c in r.value["tableChanges"]]
    assert got == [("DROP", '"d"."a"'), ("CREATE", '"d"."c"')]
    for resume, want in [(100, ["id", "e", "v"]), (200, ["id", "e", "v"]),
                         (250, ["id", "e", "v", "c"]), (999, ["id", "e", "v", "k"])]:  # fmt: skip
        again = Schemas()
        assert replay(stored, ("binlog.000001", resume), again) >= 1
        assert names(again, "t") == want, resume
        assert again.databases == {"d": "latin1"} and again.server_charset == "utf8mb4"
    assert replay(stored, ("binlog.000001", 99), Schemas()) == 0  # before the baseline
    # a later file is later whatever its name's length
    assert names_after(stored, ("binlog.1000000", 4)) == ["id", "e", "v", "k"]
    t = s.get("d", "t")
    assert t is not None
    loaded = Schemas()
    loaded.load(orjson.loads(record("app", {}, ("f.1", 1), 0, "d", "",
                                    [TableChange("CREATE", "d", "t", t)])))  # fmt: skip
    assert loaded.get("d", "t") == t  # a definition survives its record


def names_after(stored: list[bytes | None], resume: tuple[str, int]) -> list[str]:
    s = Schemas()
    replay(stored, resume, s)
    return names(s, "t")


def test_ddl_that_cannot_be_applied_stops_unless_skipped() -> None:
    s = Schemas()
    s.apply("CREATE TABLE t (id int)", "d")
    strict = SchemaHistory(s, "__h", "app", "mysql", {}, True, False, lambda db, t: True)
    with pytest.raises(SchemaHistoryError, match="skip.unparseable.ddl=true"):
        strict.ddl("ALTER TABLE t ADD c int d", "d", ("f.1", 5), {}, {})
    with pytest.raises(SchemaHistoryError, match="has no column nope"):
        strict.ddl("ALTER TABLE t DROP COLUMN nope", "d", ("f.1", 5), {}, {})
    lenient = SchemaHistory(s, "__h", "app", "mysql", {}, True, True, lambda db, t: True)
    assert lenient.ddl("ALTER TABLE t ADD c int d", "d", ("f.1", 5), {}, {}) == []
    assert names(s, "t") == ["id"]


def test_schema_change_events_only_for_captured_tables() -> None:
    s = Schemas()
    h = SchemaHistory(s, "__h", "app", "mysql", {}, True, False, lambda db, t: t == "keep")
    assert [r.topic for r in h.ddl("CREATE TABLE other (a int)", "d", ("f.1", 1), {}, {})] == [
        "__h"
    ]
    out = h.ddl("CREATE TABLE keep (a int NOT NULL, PRIMARY KEY (a))", "d", ("f.1", 2), {}, {})
    change = out[1].value["tableChanges"][0]
    assert change["type"] == "CREATE" and change["id"] == '"d"."keep"'
    assert change["table"]["primaryKeyColumnNames"] == ["a"]
    assert change["table"]["columns"][0]["typeName"] == "INT"
    assert change["table"]["columns"][0]["optional"] is False
    silent = SchemaHistory(s, "__h", "app", "mysql", {}, False, False, lambda db, t: True)
    assert [r.topic for r in silent.ddl("DROP TABLE keep", "d", ("f.1", 3), {}, {})] == ["__h"]
    assert change_json(TableChange("DROP", "d", "x", None)) == {"type": "DROP", "id": '"d"."x"'}


def test_an_alter_names_the_columns_as_they_were_before_it() -> None:
    """MySQL resolves CHANGE / RENAME / DROP against the table before the statement: two
    renames can swap names (and the key follows its columns)."""
    s = Schemas()
    s.apply("CREATE TABLE t (a int, b bigint, c int, PRIMARY KEY (a))", "d")
    s.apply("ALTER TABLE t RENAME COLUMN a TO b, RENAME COLUMN b TO a", "d")
    t = s.get("d", "t")
    assert t is not None and [(c.name, c.type_name) for c in t.columns] == [
        ("b", "int"), ("a", "bigint"), ("c", "int")]  # fmt: skip
    assert t.primary_key == ("b",)
    s.apply("ALTER TABLE t CHANGE b x int, CHANGE a b bigint, ADD y int AFTER x, DROP c", "d")
    t = s.get("d", "t")
    assert t is not None and names(s, "t") == ["x", "y", "b"] and t.primary_key == ("x",)
    s.apply("ALTER TABLE t DROP INDEX `PRIMARY`", "d")
    t = s.get("d", "t")
    assert t is not None and t.primary_key == ()


def test_table_options_and_binary_conversion_set_charsets() -> None:
    s = Schemas("utf8mb4")
    s.apply("CREATE TABLE t (v varchar(3), e enum('a'), x text)", "d")
    s.apply("ALTER TABLE t ENGINE=InnoDB DEFAULT CHARSET=latin1", "d")
    s.apply("ALTER TABLE t ROW_FORMAT=DYNAMIC, ADD w varchar(3)", "d")
    t = s.get("d", "t")
    assert t is not None and [c.charset for c in t.columns] == [
        "utf8mb4", "utf8mb4", "utf8mb4", "latin1"]  # fmt: skip
    s.apply("ALTER TABLE t CONVERT TO CHARACTER SET binary", "d")
    t = s.get("d", "t")
    assert t is not None and [(c.type_name, c.charset) for c in t.columns] == [
        ("varbinary", None), ("enum", "utf8mb4"), ("blob", None), ("varbinary", None)]  # fmt: skip


def test_what_a_restart_replays_is_what_the_live_history_had() -> None:
    """Labels with quotes and backslashes, lower_case_table_names, many tables (a baseline
    in several records), a statement applied whole or not at all."""
    live = Schemas("utf8mb4", lower_case_names=True)
    live.databases["shop"] = "latin1"
    live.apply("CREATE TABLE Shop.Orders (e enum('C:\\\\dir','it''s','x\\\\'), v varchar(2))", "")
    for i in range(300):
        cols = ", ".join(f"c{j} varchar(200) COMMENT '{'x' * 100}'" for j in range(10))
        live.apply(f"CREATE TABLE shop.t{i} ({cols})", "")
    h = SchemaHistory(live, "__h", "app", "mariadb", {}, True, False, lambda db, t: True)
    records = h.baseline(("b.000001", 4), {})
    assert len(records) > 1 and all(not r.replayable for r in records)
    docs = [orjson.loads(r.value) for r in records]
    assert [d["hub"]["reset"] for d in docs] == [True] + [False] * (len(docs) - 1)
    with pytest.raises(SchemaHistoryError, match="exists already"):  # the first is undone
        live.apply("RENAME TABLE shop.t1 TO shop.u1, shop.t2 TO shop.t3", "")
    assert live.get("shop", "t1") is not None and live.get("shop", "u1") is None
    again = Schemas()
    replay([r.value for r in records], ("b.000001", 4), again)
    assert again.lower_case_names and again.get("SHOP", "orders") == live.get("shop", "orders")
    t = again.get("shop", "orders")
    assert t is not None and t.columns[0].labels == ("C:\\dir", "it's", "x\\")
    assert again.tables == live.tables and again.databases == live.databases


def test_with_column_names_in_the_binlog_a_ddl_the_history_cannot_apply_only_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Schemas()
    s.apply("CREATE TABLE t (id int)", "d")
    s.apply("CREATE TABLE u (id int)", "d")
    full = SchemaHistory(s, "__h", "app", "mysql", {}, True, False, lambda db, t: True,
                         required=False)  # fmt: skip
    assert full.ddl("ALTER TABLE t ADD c int d", "d", ("f.1", 5), {}, {}) == []  # unparsed
    out = full.ddl("ALTER TABLE t DROP COLUMN nope", "d", ("f.1", 6), {}, {})
    assert [r.topic for r in out] == ["__h"]  # no schema change event
    doc = orjson.loads(out[0].value)
    assert doc["hub"]["forgotten"] and doc["tableChanges"] == [{"type": "DROP", "id": '"d"."t"'}]
    assert s.get("d", "t") is None and "cannot apply" in caplog.text
    # where the history names the columns, a table not captured is forgotten, not fatal
    minimal = SchemaHistory(s, "__h", "app", "mysql", {}, True, False, lambda db, t: t == "x")
    assert minimal.ddl("ALTER TABLE u DROP COLUMN nope", "d", ("f.1", 7), {}, {})
    assert s.get("d", "u") is None
    assert minimal.ddl("RENAME TABLE a_view TO other_view", "d", ("f.1", 8), {}, {})  # no error


def test_literals_and_clauses_seen_in_real_ddl() -> None:
    stmt = ddl.parse(
        "CREATE TABLE t (a varchar(3) DEFAULT N'x', b varchar(3) DEFAULT _utf8mb4'y' NOT NULL, "
        "c int CHECK (c > 0) NOT ENFORCED, d float(30), e float(10), f float(7,3), "
        "g bit(1) DEFAULT b'1')"
    )
    assert isinstance(stmt, ddl.CreateTable)
    assert [(c.name, c.type_expression, c.default) for c in stmt.columns] == [
        ("a", "varchar(3)", "x"), ("b", "varchar(3)", "y"), ("c", "int", None),
        ("d", "double", None), ("e", "float", None), ("f", "float(7,3)", None),
        ("g", "bit(1)", "b'1'"),
    ]  # fmt: skip
    assert not stmt.columns[1].nullable
