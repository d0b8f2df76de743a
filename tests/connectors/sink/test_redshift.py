"""The Redshift sink's own surface: config errors that name the property (and never show a
secret), names folded as Redshift folds them, staging by INSERT holding the same values as
staging through S3, the staging files deleted (a killed run's too), values past Redshift's
limits refused by column, a wrong bucket named as such, and `hub validate --connect`.

The engine's behaviour (collapse, deletes, evolution, crashes, fencing) is tested against the
Redshift target with every other target (tests/connectors/sink/test_*.py)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sink.engine.errors import SinkConfigError, ValueNotHeldError
from connectors.sink.redshift.connector import RedshiftSink
from connectors.sink.redshift.dialect import RedshiftDialect, _key_columns
from connectors.source.postgres.types import Oid
from hub.config import ConnectorSpec
from hub.errors import ConfigError
from hub.runtime.validation import validate
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable
from tests.connectors.sink.targets import TARGETS
from tests.connectors.sink.test_types import MATRIX, _table
from tests.fixtures.redshift import BUCKET, RedshiftServer

URL = "jdbc:redshift://analytics.abc123.eu-west-1.redshift.amazonaws.com:5439/dev"
BASE = {"connection.url": URL, "connection.username": "hub", "connection.password": "hunter2"}


def _validate(**config: Any) -> Any:
    spec = ConnectorSpec("rs", {"connector.class": "redshift", "topics": "t", **config}, "x.yaml")
    return validate(spec)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({**BASE, "connection.url": "postgresql://h/db"}, ["connection.url", "jdbc:redshift://"]),
        ({**BASE, "connection.url": URL + "?sslmode=maybe"}, ["sslmode=maybe", "verify-full"]),
        ({**BASE, "connection.url": URL + "?tcpKeepAlive=true"}, ["tcpKeepAlive"]),
        ({**BASE, "connection.url": "jdbc:redshift://u:hunter2@h:5439/dev"},
         ["connection.username"]),
        ({**BASE, "redshift.staging": "s3"}, ["s3.bucket.name"]),
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
    with pytest.raises(ConfigError) as err:
        _validate(**config)
    for w in words:
        assert w in str(err.value)
    assert "hunter2" not in str(err.value)


def test_good_configs_stage_as_asked_and_mask_their_secrets() -> None:
    assert not _validate(**BASE).warnings  # no bucket: staged by INSERT
    role = "arn:aws:iam::123456789012:role/hub-copy"
    assert not _validate(**BASE, **{"s3.bucket.name": "b", "redshift.iam.role": role}).warnings
    assert {"connection.password", "aws.secret.access.key"} <= set(RedshiftSink.secret_properties)


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
    sink.start([t.topic], **cfg)  # a new task: what it knows it reads from the catalog
    wider = PgTable("Orders", [*t.columns, ("Note", Oid.TEXT, -1)], pk=("Id",), prefix="Shop")
    sink.put([t.update(2, {"Id": 1, "CustomerId": 9}), wider.insert(3, {"Id": 3, "Note": "n"}),
              t.delete(4, {"Id": 2})])  # fmt: skip
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
    assert [(c.what, c.ok) for c in checks][1:] == [
        ("may create tables", True),
        ("may load and merge rows", True),
    ]
    assert checks[0].ok
    with psycopg.connect(redshift_server.pg_dsn) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [redshift_schema],
        ).fetchall()
    assert tables == []  # created in the check's transaction, rolled back
