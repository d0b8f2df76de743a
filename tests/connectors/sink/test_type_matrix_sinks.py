"""The type matrix end to end: PostgreSQL source → log → DuckDB sink and PostgreSQL sink, in
one worker, compared value by value with the source.

One source table has a column per PostgreSQL type; each column has a few edge values
(extremes, infinities, BC and far-future dates, microseconds, empty and NULL-holding arrays)
and a row of NULLs, plus a TOASTed text column that updates leave alone. The rows go through
the snapshot (ids 1..), again as streamed inserts (ids 101..), and the snapshot rows are then
updated to the values in reverse order (a streamed update, the TOASTed value unchanged, so
pgoutput does not send it). Every value of every sink is then compared with what the README's
type mapping says it is:

* PostgreSQL sink: the value read back as ``::text`` equals the source's ``::text`` where the
  type is the same; the `Col.pg` texts say what it is where the mapping changes the type
  (money → numeric, interval → microseconds, ...);
* DuckDB sink: ``CAST(... AS VARCHAR)`` equals the `Col.duck` texts (or the source's text).

A test per sink and column: a failure names the type, the value, the path and both texts.
Values a target cannot hold are refused per column (see test_edge_values.py; the
multidimensional array below goes through the pipeline).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.config import ConnectorSpec
from hub.runtime.worker import Worker
from tests.connectors.postgres.helpers import failure, source_config, wait_for
from tests.fixtures.postgres import PgServer

pytestmark = pytest.mark.integration

SAME = None  # the target's text is the source's


@dataclass(frozen=True)
class Col:
    """A column: its DDL, its literals (one row each), and the text each sink reads back for
    each literal where it differs from the source's ``::text`` (None: the same)."""

    name: str
    ddl: str
    literals: tuple[str, ...]
    pg: tuple[str, ...] | None = SAME
    duck: tuple[str, ...] | None = SAME


# fmt: off
MATRIX: list[Col] = [
    Col("c_bool", "boolean", ("true", "false")),
    Col("c_int2", "smallint", ("32767", "-32768", "0")),
    Col("c_int4", "integer", ("2147483647", "-2147483648", "0")),
    Col("c_int8", "bigint", ("9223372036854775807", "-9223372036854775808", "0")),
    Col("c_oid", "oid", ("4294967295", "0")),
    Col("c_float4", "real", ("3.3", "'NaN'", "'Infinity'", "'-Infinity'", "0", "1e-45"),
        duck=("3.3", "nan", "inf", "-inf", "0.0", "1e-45")),
    Col("c_float8", "double precision",
        ("1.7976931348623157e308", "'NaN'", "'-Infinity'", "5e-324", "0", "0.1"),
        duck=("1.7976931348623157e+308", "nan", "-inf", "5e-324", "0.0", "0.1")),
    Col("c_num", "numeric(10,2)", ("12345678.90", "-0.01", "0", "1.005")),
    Col("c_num38", "numeric(38,10)",
        ("1234567890123456789012345678.0123456789", "-0.0000000001", "0")),
    Col("c_num_3_5", "numeric(3,5)", ("0.00123", "-0.00999", "0"),  # scale > precision
        duck=(".00123", "-.00999", ".00000")),  # DuckDB DECIMAL(5,5) prints no 0 before "."
    Col("c_num_38_40", "numeric(38,40)", ("0.0012345678901234567890123456789012345678",)),
    Col("c_num40", "numeric(40,2)", ("12345678901234567890123456789012345678.99", "-0.01")),
    Col("c_numv", "numeric",
        ("123456789012345678901234567890.123456789000", "-0.00100", "1e-30", "0", "-12300"),
        # VariableScaleDecimal: Debezium strips trailing zeros (the same number)
        pg=(NUMV := ("123456789012345678901234567890.123456789", "-0.001",
                     "0.000000000000000000000000000001", "0", "-12300")), duck=NUMV),
    Col("c_money", "money", ("1234.11", "-1234.11", "92233720368547758.07", "0"),
        pg=(MONEY := ("1234.11", "-1234.11", "92233720368547758.07", "0.00")), duck=MONEY),
    Col("c_char", "char(3)", ("'ab'", "''", "'xyz'"),  # text keeps char(n)'s padding
        pg=("ab ", "   ", "xyz"), duck=("ab ", "   ", "xyz")),
    Col("c_varchar", "varchar(20)", ("'žš'", "''", "E'tab\\there'")),
    Col("c_text", "text", ("'some text'", "E'line1\\nline2\\\\back\\r'", "'NULL'", "''")),
    Col("c_qchar", '"char"', ("'x'", "E'\\\\'")),
    Col("c_bytea", "bytea", ("'\\x000102ff'", "''", "'\\x5c0a09'"),
        duck=("\\x00\\x01\\x02\\xFF", "", "\\x5C\\x0A\\x09")),
    Col("c_uuid", "uuid",
        ("'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'00000000-0000-0000-0000-000000000000'")),
    Col("c_json", "json", ("'{\"bar\": \"baz\"}'", "'[1, 2.50, \"ž\\n\"]'", "'null'")),
    Col("c_jsonb", "jsonb", ("'{\"b\": 1, \"a\": [1, 2.50]}'", "'\"ž\"'", "'{}'")),
    Col("c_xml", "xml", ("'<foo>bar</foo>'", "''")),
    Col("c_date", "date",
        ("'2016-11-04'", "'10000-01-01'", "'infinity'", "'-infinity'", "'4713-01-01 BC'",
         "'5874897-12-31'", "'0044-03-15 BC'", "'1970-01-01'"),
        duck=("2016-11-04", "10000-01-01", "infinity", "-infinity", "4713-01-01 (BC)",
              "5874897-12-31", "0044-03-15 (BC)", "1970-01-01")),
    Col("c_time", "time", ("'24:00:00'", "'00:00:00.000001'", "'23:59:59.999999'", "'00:00'")),
    Col("c_time3", "time(3)", ("'13:51:30.123'", "'23:59:59.999'")),
    Col("c_timetz", "timetz", ("'13:51:30.123789+02'", "'00:00:00+14'", "'23:59:59.5-03:30'"),
        # ZonedTime is the time in UTC
        pg=(TTZ := ("11:51:30.123789+00", "10:00:00+00", "03:29:59.5+00")), duck=TTZ),
    Col("c_ts", "timestamp",
        ("'9999-12-31 23:59:59.999999'", "'1600-06-15 12:34:56.789123'",
         "'0044-03-15 12:00:00.000001 BC'", "'infinity'", "'-infinity'",
         "'21016-11-04 13:51:30.123457'", "'4713-01-01 00:00:00 BC'", "'1969-12-31 23:59:59.5'"),
        duck=("9999-12-31 23:59:59.999999", "1600-06-15 12:34:56.789123",
              "0044-03-15 (BC) 12:00:00.000001", "infinity", "-infinity",
              "21016-11-04 13:51:30.123457", "4713-01-01 (BC) 00:00:00",
              "1969-12-31 23:59:59.5")),
    Col("c_ts3", "timestamp(3)", ("'2016-11-04 13:51:30.123'", "'infinity'", "'0001-01-01'")),
    Col("c_tstz", "timestamptz",
        ("'2016-11-04 13:51:30.123456+02'", "'infinity'", "'-infinity'",
         "'0044-03-15 12:00:00+00 BC'", "'21016-11-04 13:51:30.123456+07'",
         "'9999-12-31 23:59:59.999999+00'", "'0001-01-01 00:00:00+00'",
         "'0001-01-01 00:00:00+05'"),  # year 0 (1 BC) in UTC
        duck=("2016-11-04 11:51:30.123456+00", "infinity", "-infinity",
              "0044-03-15 (BC) 12:00:00+00", "21016-11-04 06:51:30.123456+00",
              "9999-12-31 23:59:59.999999+00", "0001-01-01 00:00:00+00",
              "0001-12-31 (BC) 19:00:00+00")),
    Col("c_interval", "interval",
        ("'1 year 2 months 3 days 04:05:06.78'", "'-1 days -02:03:04.5'", "'0'",
         "'00:00:00.000001'", "'100000 days 00:00:00.000001'", "'-35 years -00:00:00.000007'",
         "'2562047788:00:54.775807'", "'-2562047788:00:54.775807'"),
        # MicroDuration: months of 30.4375 days, int64 microseconds, exact (past int64 the
        # source stops: tests/connectors/postgres/test_type_matrix.py)
        pg=(IV := ("10303:05:06.78", "-26:03:04.5", "00:00:00", "00:00:00.000001",
                   "2400000:00:00.000001", "-306810:00:00.000007", "2562047788:00:54.775807",
                   "-2562047788:00:54.775807")), duck=IV),
    Col("c_bit1", "bit(1)", ("B'1'", "B'0'"), pg=("true", "false"), duck=("true", "false")),
    Col("c_bit8", "bit(8)", ("B'00000000'", "B'10000001'", "B'11111111'")),
    Col("c_bit10", "bit(10)", ("B'0000000011'", "B'1000000001'")),
    Col("c_varbit", "varbit", ("B'101'", "B'11111111'"),  # Debezium's Bits bytes
        pg=("\\x05", "\\xff"), duck=("\\x05", "\\xFF")),
    Col("c_varbit16", "varbit(16)", ("B'1000'", "B'0001'", "B''"),  # (bit(16)'s schema)
        pg=("\\x08", "\\x01", "\\x"), duck=("\\x08", "\\x01", "")),
    Col("c_inet", "inet", ("'192.168.2.0/12'", "'::1'"),  # inet's own output, as Debezium
        pg=("192.168.2.0/12", "::1"), duck=("192.168.2.0/12", "::1")),
    Col("c_cidr", "cidr", ("'192.168.100.128/25'", "'2001:db8::/32'")),
    Col("c_macaddr", "macaddr", ("'08:00:2b:01:02:03'",)),
    Col("c_range", "daterange", ("'[2019-03-31,infinity)'", "'empty'")),
    Col("c_enum", "mood", ("'sad'", "'happy'")),
    Col("c_name", "name", ("'somename'", "'ž x'")),
    Col("c_macaddr8", "macaddr8", ("'08:00:2b:01:02:03:04:05'",)),
    Col("c_numrange", "numrange", ("'[5.3,6.3)'", "'(,)'")),
    Col("c_tstzrange", "tstzrange", ("'[2019-03-31 00:00:00+00,infinity)'",)),
    Col("c_tstz3", "timestamptz(3)", ("'2016-11-04 13:51:30.1+00'", "'-infinity'"),
        duck=("2016-11-04 13:51:30.1+00", "-infinity")),
    Col("c_enumarr", "mood[]", ("'{sad,ok}'", "'{}'"), duck=("[sad, ok]", "[]")),
    Col("c_byteaarr", "bytea[]", ("array['\\x0001'::bytea, NULL]",),
        duck=("['\\\\x00\\\\x01', NULL]",)),  # DuckDB escapes a BLOB's \ in a list
    Col("c_bpchararr", "char(3)[]", ("'{a,NULL}'",), pg=("{\"a  \",NULL}",),
        duck=("['a  ', NULL]",)),
    Col("c_hstore", "hstore", ("'\"key\" => \"val\"'", "''"),
        pg=('{"key": "val"}', "{}"), duck=('{"key":"val"}', "{}")),
    Col("c_point", "point", ("'(1,1)'", "'(-1.5,1e300)'"),  # geometry: WKB
        pg=("\\x0101000000000000000000f03f000000000000f03f",
            "\\x0101000000000000000000f8bf9c7500883ce4377e"),
        duck=("\\x01\\x01" + "\\x00" * 9 + "\\xF0?" + "\\x00" * 6 + "\\xF0?",
              "\\x01\\x01" + "\\x00" * 9 + "\\xF8\\xBF\\x9Cu\\x00\\x88<\\xE47~")),
    Col("c_dom_num", "posnum", ("'1.5'", "'9999.99'")),
    Col("c_dom_ts", "stamp3", ("'2016-11-04 13:51:30.1234'", "'infinity'")),
    Col("c_int4arr", "int[]", ("'{1,2,3}'", "'{}'", "'{1,NULL,3}'"),
        duck=("[1, 2, 3]", "[]", "[1, NULL, 3]")),
    Col("c_textarr", "text[]", ("'{\"a,b\",\"c\\\"d\",\"NULL\",NULL}'", "'{}'"),
        duck=("['a,b', 'c\"d', 'NULL', NULL]", "[]")),
    Col("c_boolarr", "boolean[]", ("'{t,f,NULL}'",), duck=("[true, false, NULL]",)),
    Col("c_float8arr", "float8[]", ("'{4.44,-1e-300,NaN}'", "'{}'"),
        duck=("[4.44, -1e-300, nan]", "[]")),
    Col("c_numarr", "numeric(10,2)[]", ("'{1.2,NULL,-0.01}'", "'{}'"),
        duck=("[1.20, NULL, -0.01]", "[]")),
    Col("c_varnumarr", "numeric[]", ("'{1.1,0.00100,-12300}'",),
        pg=("{1.1,0.001,-12300}",), duck=("[1.1, 0.001, -12300]",)),
    Col("c_datearr", "date[]",
        ("'{2016-11-04,infinity,-infinity,NULL}'", "'{\"0044-03-15 BC\"}'", "'{}'"),
        duck=("[2016-11-04, infinity, -infinity, NULL]", "['0044-03-15 (BC)']", "[]")),
    Col("c_timearr", "time[]", ("'{24:00:00,00:00:00.000001}'",),
        duck=("['24:00:00', '00:00:00.000001']",)),
    Col("c_tsarr", "timestamp[]",
        ("'{\"9999-12-31 23:59:59.999999\",infinity,\"0044-03-15 12:00:00 BC\"}'", "'{}'"),
        duck=("['9999-12-31 23:59:59.999999', infinity, '0044-03-15 (BC) 12:00:00']", "[]")),
    Col("c_tstzarr", "timestamptz[]",
        ("'{\"2020-04-01 13:51:02+02\",-infinity,\"21016-11-04 13:51:30+00\"}'",
         "'{\"0001-06-01 00:00:00+00 BC\"}'"),
        duck=("['2020-04-01 11:51:02+00', -infinity, '21016-11-04 13:51:30+00']",
              "['0001-06-01 (BC) 00:00:00+00']")),
    Col("c_uuidarr", "uuid[]", ("'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}'",),
        duck=("[a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11, NULL]",)),
    Col("c_jsonbarr", "jsonb[]", ("array['{\"bar\": \"baz\"}', '[1]']::jsonb[]",),
        duck=('[{"bar": "baz"}, [1]]',)),
]
# fmt: on

SETUP = [
    "CREATE EXTENSION hstore",
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    "CREATE DOMAIN posnum AS numeric(6,2) CHECK (VALUE > 0)",
    "CREATE DOMAIN stamp3 AS timestamp(3)",
]
ROWS = max(len(c.literals) for c in MATRIX)
PATHS = {"snapshot": 1, "insert": 101, "update": 1}  # first id of each path's rows
TOAST = "".join(random.Random(18).choices("abcdefghijklmnopqrstuvwxyz0123456789", k=20000))
_RNG = random.Random(18)
TOAST_INTS = "{" + ",".join(str(_RNG.randrange(2**31)) for _ in range(3000)) + "}"


def _literal(c: Col, j: int) -> str:
    return c.literals[j % len(c.literals)]


def _insert(conn: psycopg.Connection[Any], first_id: int) -> None:
    names = ", ".join(c.name for c in MATRIX)
    for j in range(ROWS):
        values = ", ".join(_literal(c, j) for c in MATRIX)
        conn.execute(
            f"INSERT INTO matrix (id, toast, toast_ints, {names}) VALUES (%s, %s, %s, {values})",
            (first_id + j, TOAST, TOAST_INTS),
        )
    conn.execute("INSERT INTO matrix (id) VALUES (%s)", (first_id + ROWS,))


def _update(conn: psycopg.Connection[Any]) -> None:
    """Snapshot row j takes the literals of row ROWS-1-j; the TOASTed column is not set."""
    for j in range(ROWS):
        sets = ", ".join(f"{c.name} = {_literal(c, ROWS - 1 - j)}" for c in MATRIX)
        conn.execute(f"UPDATE matrix SET {sets} WHERE id = %s", (1 + j,))


def _select(cast: str) -> str:
    cols = ", ".join(cast.format(c) for c in ["toast", "toast_ints"] + [c.name for c in MATRIX])
    return f"SELECT id, {cols} FROM {{}} ORDER BY id"


def _db(server: PgServer) -> str:
    name = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(server.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop(server: PgServer, name: str) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = %s",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


Rows = dict[int, tuple[Any, ...]]


def _pg_rows(dsn: str) -> Rows:
    with psycopg.connect(dsn) as con:
        con.execute("SET TimeZone = 'UTC'")
        try:
            rows = con.execute(_select("{}::text").format("app_public_matrix")).fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
    return {r[0]: r[1:] for r in rows}


def _duck_rows(path: Path) -> Rows | None:
    """The DuckDB target's rows; None while the worker holds the file."""
    import duckdb

    if not path.exists():
        return {}
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        con.execute("SET TimeZone = 'UTC'")
        sql = _select('CAST("{}" AS VARCHAR)').format("app_public_matrix")
        return {r[0]: r[1:] for r in con.execute(sql).fetchall()}
    except duckdb.CatalogException:
        return {}
    finally:
        con.close()


@dataclass
class Landed:
    source: Rows  # after the updates; the inserted rows hold the snapshot's values
    pg: dict[str, Rows]  # by path: its rows as they were right after it
    duck: dict[str, Rows]


def _until(worker: Worker, read: Any, done: Any, what: str) -> Any:
    def check() -> Any:
        for name in ("pg", "duck", "pgsink"):
            trace = failure(worker, name)
            assert trace is None, f"{name} failed:\n{trace}"
        rows = read()
        return rows if rows is not None and done(rows) else None

    return wait_for(check, timeout=60, what=what)


@pytest.fixture(scope="module")
def landed(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Landed]:
    src, dst = _db(pg_server), _db(pg_server)
    tmp = tmp_path_factory.mktemp("matrix")
    duck_path = tmp / "sink.duckdb"
    worker: Worker | None = None
    try:
        with psycopg.connect(pg_server.dsn(src), autocommit=True) as conn:
            for stmt in SETUP:
                conn.execute(stmt)
            body = ", ".join(f"{c.name} {c.ddl}" for c in MATRIX)
            conn.execute(
                f"CREATE TABLE matrix (id int PRIMARY KEY, toast text, toast_ints int[], {body})"
            )
            conn.execute("ALTER TABLE matrix ALTER COLUMN toast SET STORAGE EXTERNAL")
            conn.execute("ALTER TABLE matrix ALTER COLUMN toast_ints SET STORAGE EXTERNAL")
            _insert(conn, PATHS["snapshot"])
            worker = Worker(str(tmp / "data"))
            worker.add(ConnectorSpec("pg", source_config(pg_server, src), "test"))
            sink = {"topics": "app.public.matrix", "batch.max.wait.ms": 50}
            worker.add(ConnectorSpec("duck", {
                "connector.class": "duckdb", "connection.url": f"duckdb://{duck_path}",
                "duckdb.idle.release.ms": 50, **sink}, "test"))  # fmt: skip
            pg_url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{dst}"
            worker.add(
                ConnectorSpec(
                    "pgsink",
                    {"connector.class": "postgres-sink", "connection.url": pg_url, **sink},
                    "test",
                )
            )
            n = ROWS + 1
            snap_pg = _until(
                worker,
                lambda: _pg_rows(pg_server.dsn(dst)),
                lambda r: len(r) == n,
                "the snapshot in the PostgreSQL sink",
            )
            snap_duck = _until(worker, lambda: _duck_rows(duck_path), lambda r: len(r) == n,
                               "the snapshot in the DuckDB sink")  # fmt: skip
            _insert(conn, PATHS["insert"])
            _update(conn)
            conn.execute("INSERT INTO matrix (id) VALUES (999)")  # the last change
            pg = _until(worker, lambda: _pg_rows(pg_server.dsn(dst)), lambda r: 999 in r,
                        "the stream in the PostgreSQL sink")  # fmt: skip
            duck = _until(worker, lambda: _duck_rows(duck_path), lambda r: 999 in r,
                          "the stream in the DuckDB sink")  # fmt: skip
            worker.stop()
            worker = None
            with psycopg.connect(pg_server.dsn(src)) as con:
                con.execute("SET TimeZone = 'UTC'")
                rows = con.execute(_select("{}::text").format("matrix")).fetchall()
            source = {r[0]: r[1:] for r in rows}
            yield Landed(
                source,
                {"snapshot": snap_pg, "insert": pg, "update": pg},
                {"snapshot": snap_duck, "insert": duck, "update": duck},
            )
    finally:
        if worker is not None:
            worker.stop()
        _drop(pg_server, src)
        _drop(pg_server, dst)


def _expected(c: Col, sink: str, j: int, source_text: str | None) -> str | None:
    texts = c.pg if sink == "postgres" else c.duck
    if source_text is None or texts is None:
        return source_text
    return texts[j % len(texts)]


@pytest.mark.parametrize("sink", ["postgres", "duckdb"])
@pytest.mark.parametrize("col", MATRIX, ids=[f"{c.name}:{c.ddl}" for c in MATRIX])
def test_every_value_lands_as_the_mapping_says(landed: Landed, sink: str, col: Col) -> None:
    targets = landed.pg if sink == "postgres" else landed.duck
    k = 1 + 2 + MATRIX.index(col)  # id, toast, toast_ints, then the matrix columns
    problems = []
    for path, first in PATHS.items():
        for j in range(ROWS + 1):
            row = first + j
            literal = "NULL" if j == ROWS else _literal(col, j)
            src_row = j if path != "update" or j == ROWS else ROWS - 1 - j
            src_text = landed.source[PATHS["insert"] + src_row][k - 1]
            want = _expected(col, sink, src_row, src_text)
            got = targets[path].get(row, (None,) * (len(MATRIX) + 2))[k - 1]
            if got != want:
                problems.append(f"{path} {literal}: got {got!r}, want {want!r}")
    problems = list(dict.fromkeys(problems))  # a literal repeats on rows past its count
    assert not problems, f"{sink} {col.name} {col.ddl}:\n" + "\n".join(problems)


@pytest.mark.parametrize("sink", ["postgres", "duckdb"])
def test_toasted_values_survive_an_update_that_leaves_them(landed: Landed, sink: str) -> None:
    """Debezium's placeholders for a text and an int[] the update does not send: the target
    keeps the value it has."""
    targets = landed.pg if sink == "postgres" else landed.duck
    ints = TOAST_INTS if sink == "postgres" else "[" + TOAST_INTS[1:-1].replace(",", ", ") + "]"
    for path, first in PATHS.items():
        for j in range(ROWS):
            text, array = targets[path][first + j][:2]
            assert text == TOAST, f"{sink} {path} row {first + j}: text"
            assert array == ints, f"{sink} {path} row {first + j}: int[] {array[:80]}"


def test_multidimensional_array_lands_whole_or_is_refused_per_column(
    pg_server: PgServer, pg_db: str, tmp_path: Path
) -> None:
    """A PostgreSQL ``int[]`` column holds arrays of any dimension; the event carries them
    nested under Debezium's one-dimensional schema. The PostgreSQL sink keeps the dimensions;
    a DuckDB list column has one depth, so its sink stops with the table and the column."""
    dst = _db(pg_server)
    worker: Worker | None = None
    try:
        with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
            conn.execute("CREATE TABLE grid (id int PRIMARY KEY, g int[])")
            conn.execute("INSERT INTO grid VALUES (1, '{{1,2},{3,4}}'), (2, '{5}')")
        worker = Worker(str(tmp_path / "data"))
        worker.add(ConnectorSpec("pg", source_config(pg_server, pg_db), "test"))
        sink = {"topics": "app.public.grid", "batch.max.wait.ms": 50}
        worker.add(ConnectorSpec("duck", {
            "connector.class": "duckdb", "connection.url": f"duckdb://{tmp_path / 'g.duckdb'}",
            **sink}, "test"))  # fmt: skip
        pg_url = f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/{dst}"
        worker.add(
            ConnectorSpec(
                "pgsink",
                {"connector.class": "postgres-sink", "connection.url": pg_url, **sink},
                "test",
            )
        )

        def landed() -> list[tuple[Any, ...]]:
            with psycopg.connect(pg_server.dsn(dst)) as con:
                try:
                    return con.execute("SELECT id, g::text FROM app_public_grid ORDER BY id")\
                        .fetchall()  # fmt: skip
                except psycopg.errors.UndefinedTable:
                    return []

        assert wait_for(landed, what="the PostgreSQL sink") == [(1, "{{1,2},{3,4}}"), (2, "{5}")]
        trace = wait_for(lambda: failure(worker, "duck"), what="the DuckDB sink's failure")
        assert (
            "table app_public_grid, column g: a multidimensional array cannot be held by "
            "DuckDB INTEGER[]" in trace
        ), trace
    finally:
        if worker is not None:
            worker.stop()
        _drop(pg_server, dst)
