"""The Redshift sink's own surface: config errors that name the property (and never show a
secret), names folded as Redshift folds them, staging by INSERT holding the same values as
staging through S3, the staging files deleted (a killed run's too), values past Redshift's
limits refused by column, a wrong bucket named as such, and `hub validate --connect`.

The engine's behaviour (collapse, deletes, evolution, crashes, fencing) is tested against the
Redshift target with every other target (tests/connectors/sink/test_*.py)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sink.engine.errors import SinkConfigError, SinkFatalError, ValueNotHeldError
from connectors.sink.engine.types import (
    ARRAY,
    BITS,
    BOOLEAN,
    BYTES,
    DATE,
    DECIMAL,
    FLOAT32,
    FLOAT64,
    INT16,
    INT32,
    INT64,
    INTERVAL,
    JSON,
    STRING,
    TIME,
    TIMESTAMP,
    TIMESTAMPTZ,
    TIMETZ,
    UUID,
    VDECIMAL,
    ColumnType,
)
from connectors.sink.redshift import types as rt
from connectors.sink.redshift.connector import RedshiftSink
from connectors.sink.redshift.dialect import RedshiftDialect, _key_columns, _s3_error
from connectors.source.postgres.types import Oid
from tests.connectors.sink.conftest import Sink, checks_pass, refuses, validate_sink
from tests.connectors.sink.events import PgTable
from tests.connectors.sink.targets import TARGETS
from tests.connectors.sink.test_types import MATRIX, _table
from tests.fixtures.redshift import BUCKET, RedshiftServer

URL = "jdbc:redshift://analytics.abc123.eu-west-1.redshift.amazonaws.com:5439/dev"
BASE = {"connection.url": URL, "connection.username": "hub", "connection.password": "hunter2"}


def _validate(**config: Any) -> Any:
    return validate_sink("redshift", **config)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({**BASE, "connection.url": "postgresql://h/db"}, ["connection.url", "jdbc:redshift://"]),
        ({**BASE, "connection.url": URL + "?sslmode=maybe"}, ["sslmode=maybe", "verify-full"]),
        ({**BASE, "connection.url": URL + "?sslmode=require"}, ["sslmode=require", "verify-ca"]),
        ({**BASE, "connection.url": "jdbc:redshift:iam://c:5439/dev"}, ["IAM authentication"]),
        ({**BASE, "connection.url": URL + "?tcpKeepAlive=true"}, ["tcpKeepAlive"]),
        ({**BASE, "connection.url": "jdbc:redshift://u:hunter2@h:5439/dev"},
         ["connection.username"]),
        ({**BASE, "redshift.staging": "s3"}, ["s3.bucket.name"]),
        ({"connection.url": URL, "connection.password": "hunter2"}, ["connection.username"]),
        ({**BASE, "s3.bucket.name": "b"}, ["redshift.iam.role", "aws.access.key.id"]),
        ({**BASE, "s3.bucket.name": "b", "aws.access.key.id": "AKIA"},
         ["aws.secret.access.key"]),
        ({**BASE, "s3.bucket.name": "b", "aws.access.key.id": "A",
          "aws.secret.access.key": "hunter2", "s3.endpoint": "localhost:9000"}, ["s3.endpoint"]),
    ],
)  # fmt: skip
def test_bad_configs_name_the_property_and_hide_secrets(
    config: dict[str, Any], words: list[str]
) -> None:
    refuses("redshift", config, words)


def test_debeziums_jdbc_sink_class_with_a_redshift_url_points_to_this_sink() -> None:
    refuses("io.debezium.connector.jdbc.JdbcSinkConnector", BASE, ["connector.class: redshift"])


def test_good_configs_stage_as_asked_and_mask_their_secrets() -> None:
    assert not _validate(**BASE).warnings  # no bucket: staged by INSERT
    role = "arn:aws:iam::123456789012:role/hub-copy"
    assert not _validate(**BASE, **{"s3.bucket.name": "b", "redshift.iam.role": role}).warnings
    assert {"connection.password", "aws.secret.access.key"} <= set(RedshiftSink.secret_properties)


def test_decimals_redshift_cannot_hold_exactly_are_text() -> None:
    """NUMERIC holds 38 digits of which at most 37 after the point: others are their text."""
    assert rt.sql_type(ColumnType(DECIMAL, 38, 37)) == "numeric(38,37)"
    assert rt.sql_type(ColumnType(DECIMAL, 38, 38)) == rt.VARCHAR
    assert rt.sql_type(ColumnType(DECIMAL, 39, 2)) == rt.VARCHAR
    arr = rt.arrow_array(ColumnType(DECIMAL, 38, 38), [5 * 10**37, None], "d", True)
    assert arr.to_pylist() == ["0.50000000000000000000000000000000000000", None]


# Redshift's COPY of Parquet into a column of each type (its documentation's mapping, held
# strictly: a double into a real column, or a zoned timestamp, is refused there; the stand-in
# turns any Parquet value into text and would not notice)
PARQUET_INTO = {
    "bigint": "int64", "double precision": "double", "boolean": "bool",
    "character varying(65535)": "string", "varbyte(1024000)": "binary", "date": "date32[day]",
    "timestamp without time zone": "timestamp[us]",
}  # fmt: skip


@pytest.mark.parametrize(
    "t",
    [ColumnType(kind) for kind in (BOOLEAN, INT16, INT32, INT64, FLOAT32, FLOAT64, VDECIMAL,
                                   STRING, JSON, UUID, BYTES, DATE, TIME, TIMESTAMP,
                                   TIMESTAMPTZ, TIMETZ, INTERVAL)]
    + [ColumnType(BITS, 3), ColumnType(DECIMAL, 10, 2), ColumnType(DECIMAL, 38, 38),
       ColumnType(ARRAY, item=ColumnType(INT32))],
    ids=str,
)  # fmt: skip
def test_each_staged_parquet_column_is_of_the_type_copy_loads(t: ColumnType) -> None:
    staged = rt.staged_type(t, s3=True)
    arrow = str(rt.arrow_array(t, [None], "c", True).type)
    if staged.startswith("numeric("):
        assert arrow.replace(" ", "") == "decimal128" + staged[len("numeric") :]
    else:
        assert PARQUET_INTO[staged] == arrow, (staged, arrow)


def test_s3_errors_a_user_must_fix_name_the_property() -> None:
    from botocore.exceptions import ClientError, NoCredentialsError

    err = _s3_error(NoCredentialsError(), "s3://b/k")
    assert isinstance(err, SinkConfigError) and "aws.access.key.id" in str(err)
    moved = ClientError({"Error": {"Code": "PermanentRedirect", "Message": "x"}}, "PutObject")
    assert "s3.region" in str(_s3_error(moved, "s3://b/k"))
    assert not isinstance(_s3_error(OSError("reset"), "s3://b/k"), SinkConfigError)


def test_primary_key_columns_as_pg_get_constraintdef_prints_them() -> None:
    assert _key_columns("PRIMARY KEY (id)") == ("id",)
    assert _key_columns('PRIMARY KEY (a, "b c", "x""y", "é,f")') == ("a", "b c", 'x"y', "é,f")


@pytest.mark.parametrize("sink", ["redshift"], indirect=True)
def test_names_are_folded_as_redshift_folds_them(sink: Sink) -> None:
    """Redshift keeps ``Orders``/``CustomerId`` as ``orders``/``customerid``: the sink writes
    them folded, finds them again after a restart, and adds a new column once."""
    t = PgTable("Orders", [("Id", Oid.INT4, -1), ("CustomerId", Oid.INT4, -1)], pk=("Id",),
                prefix="Shop")  # fmt: skip
    cfg = {"table.name.format": "${source.table}"}
    sink.start([t.topic], **cfg)
    sink.put([t.insert(0, {"Id": 1, "CustomerId": 7}), t.insert(1, {"Id": 2, "CustomerId": 8})])
    # the same task, then a new one (which reads the folded names from the catalog), take a
    # column spelt otherwise as the same column
    other = PgTable("Orders", [("Id", Oid.INT4, -1), ("CUSTOMERID", Oid.INT4, -1)], pk=("Id",),
                    prefix="Shop")  # fmt: skip
    sink.put([other.update(2, {"Id": 2, "CUSTOMERID": 6})])
    sink.start([t.topic], **cfg)
    wider = PgTable("Orders", [*t.columns, ("Note", Oid.TEXT, -1)], pk=("Id",), prefix="Shop")
    sink.put([t.update(3, {"Id": 1, "CustomerId": 9}), wider.insert(4, {"Id": 3, "Note": "n"})])
    sink.put([other.update(5, {"Id": 2, "CUSTOMERID": 5})])  # (in one batch: two names)
    assert sink.rows("orders") == [(1, 9, None), (2, 5, None), (3, None, "n")]
    sink.put([t.delete(6, {"Id": 2})])
    assert sink.rows("orders") == [(1, 9, None), (3, None, "n")]
    assert list(sink.columns("Orders")) == ["id", "customerid", "note"]
    assert sink.query("SELECT table_name FROM information_schema.tables WHERE "
                      "table_schema = current_schema() ORDER BY 1") == [
        ("_hub_offsets",), ("orders",)]  # fmt: skip


def test_insert_staging_holds_what_s3_staging_holds(
    redshift_server: RedshiftServer, redshift_schema: str
) -> None:
    """The type matrix staged by INSERT (bytes as hex for FROM_HEX) and through S3 (a Parquet
    file COPY'd) ends as the same rows."""
    t = _table()
    values = {c: text for c, _, _, text, _ in MATRIX}
    names = ", ".join(f'"{c}"' for c, *_ in MATRIX)
    got = {}
    for staging in ("s3", "insert"):
        schema = f"{redshift_schema}_{staging}"
        sink = Sink(TARGETS["redshift"], redshift_server.config(schema, staging))
        sink.direct = (redshift_server.pg_dsn, schema)
        try:
            sink.put([t.insert(0, {"id": 1, **values}), t.insert(1, {"id": 2}),
                      t.update(2, {"id": 2, "b": "\\x00ff"})])  # fmt: skip
            got[staging] = sink.query(f'SELECT "id", {names} FROM "srv_public_matrix" ORDER BY 1')
        finally:
            sink.stop()
    assert got["insert"] == got["s3"]
    assert len(got["s3"]) == 2 and got["s3"][0][0] == 1


@pytest.mark.parametrize("sink", ["redshift"], indirect=True)
def test_a_table_named_like_the_statements_aliases_takes_deletes(sink: Sink) -> None:
    for name in ("s", "cur"):
        t = PgTable(name, [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)])
        sink.start([t.topic], **{"table.name.format": "${source.table}"})
        sink.put([t.insert(0, {"id": 1, "v": "a"}), t.insert(1, {"id": 2, "v": "b"})])
        sink.put([t.delete(2, {"id": 1}), t.update(3, {"id": 2, "v": "c"})])
        assert sink.rows(name) == [(2, "c")]


@pytest.mark.parametrize("sink", ["redshift"], indirect=True)
def test_a_json_key_is_refused_naming_its_column(sink: Sink) -> None:
    # (every batch had failed with "function octet_length(super) does not exist")
    t = PgTable("jk", [("doc", Oid.JSONB, -1), ("v", Oid.TEXT, -1)], pk=("doc",))
    with pytest.raises(SinkFatalError, match='key column "doc" is JSON'):
        sink.put([t.insert(0, {"doc": '{"a": 1}', "v": "x"})])


@pytest.mark.parametrize("sink", ["redshift"], indirect=True)
def test_a_name_longer_than_redshift_holds_is_refused(sink: Sink) -> None:
    t = PgTable("t" * 128, [("id", Oid.INT4, -1)])
    with pytest.raises(SinkFatalError, match="longer than Redshift's 127 bytes"):
        sink.put([t.insert(0, {"id": 1})])


@pytest.mark.parametrize("sink", ["redshift"], indirect=True)
def test_an_error_naming_a_password_column_is_shown_as_it_is(sink: Sink) -> None:
    # (every driver error holding the word "password" had become "authentication failed":
    # a NOT NULL violation of the table's password_hash sent the user to the credentials)
    t = PgTable("users", [("id", Oid.INT4, -1), ("password_hash", Oid.TEXT, -1)])
    sink.start([t.topic], **{"table.name.format": "${source.table}"})
    sink.execute('CREATE TABLE "users" ("id" int PRIMARY KEY, '
                 '"password_hash" varchar(100) NOT NULL)')  # fmt: skip
    with pytest.raises(Exception) as err:
        sink.put([t.insert(0, {"id": 1, "password_hash": None})])
    assert "password_hash" in str(err.value) and "authentication" not in str(err.value)


@pytest.mark.parametrize("sink", ["redshift"], indirect=True)
def test_staging_files_are_deleted_and_a_killed_runs_too(
    sink: Sink, redshift_server: RedshiftServer
) -> None:
    t = PgTable("items", [("id", Oid.INT4, -1), ("v", Oid.TEXT, -1)])
    sink.put([t.insert(i, {"id": i, "v": "x"}) for i in range(3)])
    assert sink.task is not None
    d = sink.task.dialect
    assert isinstance(d, RedshiftDialect)
    s3 = redshift_server.s3()

    def files() -> list[str]:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=d._prefix)
        return [o["Key"] for o in listed.get("Contents", ())]

    assert files() == []  # each batch's file is deleted once committed
    s3.put_object(Bucket=BUCKET, Key=f"{d._prefix}0123456789ab/7.parquet", Body=b"x")
    other = "someone-else/0123456789ab/7.parquet"
    s3.put_object(Bucket=BUCKET, Key=other, Body=b"x")
    sink.start([t.topic])  # the next run of the task deletes what a killed one left
    sink.put([t.insert(3, {"id": 3, "v": "y"})])
    assert files() == []
    assert s3.get_object(Bucket=BUCKET, Key=other)["Body"].read() == b"x"  # not its own: kept
    s3.close()


@pytest.mark.parametrize("sink", ["redshift"], indirect=True)
@pytest.mark.parametrize(
    ("oid", "value", "words"),
    [
        (Oid.TEXT, "é" * 40_000, "a value of 80000 bytes cannot be held by Redshift character"),
        (Oid.JSONB, '{"k": "' + "x" * 70_000 + '"}', "cannot be held by Redshift character"),
    ],
    # (short ids: pytest puts the test's id in PYTEST_CURRENT_TEST, and an 80 kB one made
    # the environment too big to start the session's PostgreSQL from this test: E2BIG)
    ids=["text", "jsonb"],
)
def test_values_past_redshifts_limits_are_refused_by_column(
    sink: Sink, oid: int, value: str, words: str
) -> None:
    """Redshift's longest VARCHAR is 65 535 bytes (JSON is loaded through one): a longer value
    fails the batch naming the column, never written cut short."""
    t = PgTable("big", [("id", Oid.INT4, -1), ("v", oid, -1)])
    with pytest.raises(ValueNotHeldError, match=words) as err:
        sink.put([t.insert(0, {"id": 1, "v": value})])
    assert "column v" in str(err.value)
    sink.put([t.insert(1, {"id": 2, "v": "é" * 30_000 if oid == Oid.TEXT else "{}"})])
    assert sink.query('SELECT "id" FROM "srv_public_big"') == [(2,)]


def test_a_missing_bucket_is_named_and_no_secret_is_shown(
    redshift_server: RedshiftServer, redshift_schema: str
) -> None:
    config = {**redshift_server.config(redshift_schema), "s3.bucket.name": "no-such-bucket"}
    sink = Sink(TARGETS["redshift"], config)
    t = PgTable("items", [("id", Oid.INT4, -1)])
    try:
        with pytest.raises(SinkConfigError) as err:
            sink.put([t.insert(0, {"id": 1})])
    finally:
        sink.stop()
    assert "s3.bucket.name" in str(err.value) and "no-such-bucket" in str(err.value)
    assert config["aws.secret.access.key"] not in str(err.value)


def test_validate_connect_creates_and_drops_a_table(
    redshift_server: RedshiftServer, redshift_schema: str
) -> None:
    import psycopg

    config = {"topics": "t", **redshift_server.config(redshift_schema)}
    checks = RedshiftSink.check(config)
    checks_pass(checks)
    with psycopg.connect(redshift_server.pg_dsn) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [redshift_schema],
        ).fetchall()
    assert tables == []  # created in the check's transaction, rolled back
