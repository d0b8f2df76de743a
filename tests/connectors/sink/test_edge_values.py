"""Edge values of PostgreSQL types, as the PostgreSQL source emits them, into each sink: each
lands as the same value (compared as text) or fails with a per-column error; never as a
different value. The pipeline-wide matrix is test_type_matrix_sinks.py; these are the cases
one at a time, so a failure names the type and the value."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from connectors.sink.engine.errors import ValueNotHeldError
from connectors.source.postgres.types import Oid
from hub.runtime.api import SinkRecord
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable


class Refused:
    """The sink refuses the value: a `ValueNotHeldError` whose message holds ``words``."""

    def __init__(self, words: str) -> None:
        self.words = words

    def __repr__(self) -> str:
        return f"Refused({self.words!r})"


SAME = object()  # read back as the source's text


def _numeric(precision: int, scale: int) -> int:
    """The typmod of numeric(precision, scale)."""
    return ((precision << 16) | (scale & 0x7FF)) + 4


NUM_3_5, NUM_38_40 = _numeric(3, 5), _numeric(38, 40)
NOT_HELD_TS = Refused("a timestamp beyond 64-bit microseconds")

# type OID, typmod, PostgreSQL text, DuckDB's text of it, PostgreSQL's text of it
CASES: list[tuple[int, int, str, Any, Any]] = [
    (Oid.TIMESTAMP, -1, "9999-12-31 23:59:59.999999", SAME, SAME),
    (Oid.TIMESTAMP, -1, "1600-06-15 12:34:56.789123", SAME, SAME),
    (Oid.TIMESTAMP, -1, "0044-03-15 12:00:00.000001 BC", "0044-03-15 (BC) 12:00:00.000001",
     SAME),
    (Oid.TIMESTAMP, -1, "4713-01-01 00:00:00 BC", "4713-01-01 (BC) 00:00:00", SAME),
    (Oid.TIMESTAMP, -1, "infinity", SAME, SAME),
    (Oid.TIMESTAMP, -1, "-infinity", SAME, SAME),
    (Oid.TIMESTAMP, 3, "infinity", SAME, SAME),
    (Oid.TIMESTAMP, -1, "294247-01-10 04:00:54.775806", SAME, SAME),
    # (in millis: past int64 microseconds the source refuses it)
    (Oid.TIMESTAMP, 3, "294276-12-31 23:59:59.999", NOT_HELD_TS, SAME),
    (Oid.DATE, -1, "infinity", SAME, SAME),
    (Oid.DATE, -1, "-infinity", SAME, SAME),
    (Oid.DATE, -1, "4713-01-01 BC", "4713-01-01 (BC)", SAME),
    (Oid.DATE, -1, "5874897-12-31", SAME, SAME),
    (Oid.TIME, -1, "24:00:00", SAME, SAME),
    (Oid.TIME, -1, "23:59:59.999999", SAME, SAME),
    (Oid.TIMESTAMPTZ, -1, "infinity", SAME, SAME),
    (Oid.TIMESTAMPTZ, -1, "-infinity", SAME, SAME),
    (Oid.TIMESTAMPTZ, -1, "0044-03-15 12:00:00+00 BC", "0044-03-15 (BC) 12:00:00+00", SAME),
    (Oid.TIMESTAMPTZ, -1, "21016-11-04 13:51:30.123456+07", "21016-11-04 06:51:30.123456+00",
     "21016-11-04 06:51:30.123456+00"),
    (Oid.TIMESTAMPTZ, -1, "9999-12-31 23:59:59.999999+00", SAME, SAME),
    # year 0 (1 BC): "0000-..." in the event, which PostgreSQL does not read as a year
    (Oid.TIMESTAMPTZ, -1, "0001-06-01 00:00:00+00 BC", "0001-06-01 (BC) 00:00:00+00", SAME),
    (Oid.TIMESTAMPTZ, -1, "0001-01-01 00:00:00+05", "0001-12-31 (BC) 19:00:00+00",
     "0001-12-31 19:00:00+00 BC"),
    (1185, -1, '{"0001-01-01 00:00:00+05","0001-06-01 12:00:00.5+00 BC"}',
     "['0001-12-31 (BC) 19:00:00+00', '0001-06-01 (BC) 12:00:00.5+00']",
     '{"0001-12-31 19:00:00+00 BC","0001-06-01 12:00:00.5+00 BC"}'),
    # numeric(p,s) with s > p (PostgreSQL 15): DuckDB holds it as DECIMAL(s,s) up to 38
    # digits (and prints a DECIMAL(s,s) without the 0 before the point), else as text
    (Oid.NUMERIC, NUM_3_5, "0.00123", ".00123", SAME),
    (Oid.NUMERIC, NUM_3_5, "-0.00999", "-.00999", SAME),
    (1231, NUM_3_5, "{0.00123,NULL}", "[.00123, NULL]", SAME),
    (Oid.NUMERIC, NUM_38_40, "0.0012345678901234567890123456789012345678", SAME, SAME),
    (1231, NUM_38_40, "{-0.0000000000000000000000000000000000000001}",
     "[-0.0000000000000000000000000000000000000001]", SAME),
    (Oid.INTERVAL, -1, "1 day 00:00:00.000001", "24:00:00.000001", "24:00:00.000001"),
    # MicroDuration in exact integers: a month is 30.4375 days, 2 629 800 000 000 µs (an
    # interval past int64 µs stops the source: tests/connectors/postgres/test_type_matrix.py)
    (Oid.INTERVAL, -1, "100000 days 00:00:00.000001", "2400000:00:00.000001",
     "2400000:00:00.000001"),
    (Oid.INTERVAL, -1, "35 years 00:00:00.000007", "306810:00:00.000007",
     "306810:00:00.000007"),
    (Oid.INTERVAL, -1, "-1 mons -00:00:00.000001", "-730:30:00.000001", "-730:30:00.000001"),
    (Oid.INTERVAL, -1, "2562047788:00:54.775807", SAME, SAME),
    (Oid.INTERVAL, -1, "-2562047788:00:54.775807", SAME, SAME),
    (Oid.JSON, -1, '{"a": "\\u0000"}', SAME, Refused("\\u0000 (NUL) cannot be held by")),
    (Oid.BIT, 8, "00000000", SAME, SAME),
    (Oid.BIT, 10, "0000000011", SAME, SAME),
    (1007, -1, "{{1,2},{3,4}}", Refused("a multidimensional array"), SAME),
    (1007, -1, "{}", "[]", SAME),
    (1561, 8, "{00000000,10000001,NULL}", "[00000000, 10000001, NULL]", SAME),
    (1182, -1, "{infinity,-infinity,NULL}", "[infinity, -infinity, NULL]", SAME),
    (1182, -1, "{\"0044-03-15 BC\"}", "['0044-03-15 (BC)']", SAME),
    (1115, -1, '{"0044-03-15 12:00:00 BC",infinity}', "['0044-03-15 (BC) 12:00:00', infinity]",
     SAME),
    (1185, -1, '{"21016-11-04 13:51:30+00",-infinity}',
     "['21016-11-04 13:51:30+00', -infinity]", SAME),
]  # fmt: skip


# the texts compared are DuckDB's and PostgreSQL's; the warehouses' stand-ins would print their
# DuckDB's, not the warehouse's: their edge values are `test_warehouses_...` below
TEXT_TARGETS = pytest.mark.parametrize(
    "sink", ["duckdb", "postgres", "postgres-merge"], indirect=True
)


@TEXT_TARGETS
@pytest.mark.parametrize(
    ("oid", "typmod", "text", "duck", "pg"),
    CASES,
    ids=[f"{oid}({tm})={text}" for oid, tm, text, _, _ in CASES],
)
def test_edge_value_lands_as_itself_or_is_refused(
    sink: Sink, oid: int, typmod: int, text: str, duck: Any, pg: Any
) -> None:
    want = duck if sink.kind == "duckdb" else pg
    want = text if want is SAME else want
    t = PgTable("edge", [("id", Oid.INT4, -1), ("v", oid, typmod)])
    record = t.insert(0, {"id": 1, "v": text})
    if isinstance(want, Refused):
        with pytest.raises(ValueNotHeldError) as info:
            sink.put([record])
        assert want.words in str(info.value)
        assert "table srv_public_edge, column v:" in str(info.value)
        return
    sink.put([record])
    cast = "CAST(v AS VARCHAR)" if sink.kind == "duckdb" else "v::text"
    assert sink.query(f"SELECT {cast} FROM srv_public_edge") == [(want,)]


def _shown(stamp: str) -> str:
    """A timestamp as both targets print it: no trailing zeros in the fraction."""
    return stamp.rstrip("0").rstrip(".") if "." in stamp else stamp


@TEXT_TARGETS
def test_a_batch_of_timestamps_lands_exactly(sink: Sink) -> None:
    """Many values at once take the PostgreSQL sink's batch path (Arrow formats the column
    when every value is in years 1..9999); one out of range sends the batch the slow way."""
    stamps = [
        f"{y:04d}-{1 + y % 12:02d}-28 {y % 24:02d}:59:59.{y * 7919 % 10**6:06d}"
        for y in range(1, 10000, 250)
    ] + ["9999-12-31 23:59:59.999999", "0001-01-01 00:00:00"]
    days = [s[:10] for s in stamps]
    t = PgTable("many", [("id", Oid.INT4, -1), ("ts", Oid.TIMESTAMP, -1), ("d", Oid.DATE, -1)])
    batches = [stamps, stamps[:-1] + ["infinity"]]
    want = set()
    for b, texts in enumerate(batches):
        rows = [(b * 100 + i, s, d) for i, (s, d) in enumerate(zip(texts, days, strict=True))]
        sink.put([t.insert(i, {"id": i, "ts": s, "d": d}) for i, s, d in rows])
        want |= {(i, _shown(s), d) for i, s, d in rows}
    cast = "CAST({} AS VARCHAR)" if sink.kind == "duckdb" else "{}::text"
    got = sink.query(f"SELECT id, {cast.format('ts')}, {cast.format('d')} FROM srv_public_many")
    assert set(got) == want


@TEXT_TARGETS
def test_nanosecond_zoned_timestamps_are_truncated_to_microseconds(sink: Sink) -> None:
    """A ZonedTimestamp with more than 6 fraction digits (nanoseconds, as other Debezium
    sources write them) loses the digits past the microsecond, as every other path of both
    sinks does: PostgreSQL would round '10:00:00.9999999' up to 10:00:01."""
    t = PgTable("nanos", [("id", Oid.INT4, -1), ("v", Oid.TIMESTAMPTZ, -1), ("a", 1185, -1)])
    t.converters["v"] = lambda raw: None if raw is None else raw.decode()  # the event's text
    t.converters["a"] = lambda raw: None if raw is None else raw.decode().split(" ")
    texts = {
        1: ("2021-01-01T10:00:00.9999999Z", "2021-01-01 10:00:00.999999+00"),
        2: ("2021-12-31T23:59:59.999999999Z", "2021-12-31 23:59:59.999999+00"),
        3: ("1999-06-30T12:00:00.000000500+02:00", "1999-06-30 10:00:00+00"),
        4: ("+10000-01-01T00:00:00.1234569Z", "10000-01-01 00:00:00.123456+00"),
    }
    sink.put([t.insert(i, {"id": i, "v": v, "a": f"{v} {v}"}) for i, (v, _) in texts.items()])
    cast = "CAST({} AS VARCHAR)" if sink.kind == "duckdb" else "{}::text"
    got = sink.query(
        f"SELECT id, {cast.format('v')}, {cast.format('a[1]')} FROM srv_public_nanos ORDER BY id"
    )
    assert got == [(i, want, want) for i, (_, want) in texts.items()]


# PostgreSQL text, what the warehouse holds (read back through its client), or the refusal
# naming the column type (`HELD` below)
WAREHOUSE_CASES: list[tuple[int, str, Any]] = [
    (Oid.TIMESTAMP, "9999-12-31 23:59:59.999999", dt.datetime(9999, 12, 31, 23, 59, 59, 999999)),
    (Oid.TIMESTAMP, "0001-01-01 00:00:00", dt.datetime(1, 1, 1)),
    (Oid.TIMESTAMP, "infinity", Refused("timestamp")),
    (Oid.TIMESTAMP, "0044-03-15 12:00:00 BC", Refused("timestamp")),
    (Oid.DATE, "9999-12-31", dt.date(9999, 12, 31)),
    (Oid.DATE, "-infinity", Refused("date")),
    (Oid.DATE, "4713-01-01 BC", Refused("date")),
    (Oid.TIME, "23:59:59.999999", dt.time(23, 59, 59, 999999)),
    (Oid.TIME, "24:00:00", Refused("time")),
    (Oid.TIMESTAMPTZ, "2024-02-29 13:14:15.123456+02",
     dt.datetime(2024, 2, 29, 11, 14, 15, 123456, tzinfo=dt.UTC)),
    (Oid.TIMESTAMPTZ, "21016-11-04 13:51:30+07", Refused("timestamptz")),
    (Oid.TIMESTAMPTZ, "infinity", Refused("timestamptz")),
    (1182, "{infinity}", Refused("date")),
]  # fmt: skip
HELD = {
    "snowflake": {"timestamp": "Snowflake TIMESTAMP_NTZ", "date": "Snowflake DATE",
                  "time": "Snowflake TIME", "timestamptz": "Snowflake TIMESTAMP_TZ"},
    "bigquery": {"timestamp": "BigQuery DATETIME", "date": "BigQuery DATE",
                 "time": "BigQuery TIME", "timestamptz": "BigQuery TIMESTAMP"},
    "redshift": {"timestamp": "Redshift timestamp without", "date": "Redshift date",
                 "time": "Redshift time without", "timestamptz": "Redshift timestamp with"},
}  # fmt: skip


@pytest.mark.parametrize("sink", ["snowflake", "bigquery", "redshift"], indirect=True)
@pytest.mark.parametrize(
    ("oid", "text", "want"), WAREHOUSE_CASES, ids=[f"{o}={t}" for o, t, _ in WAREHOUSE_CASES]
)
def test_warehouses_hold_years_1_to_9999_and_refuse_the_rest(
    sink: Sink, oid: int, text: str, want: Any
) -> None:
    t = PgTable("edge", [("id", Oid.INT4, -1), ("v", oid, -1)])
    record = t.insert(0, {"id": 1, "v": text})
    if isinstance(want, Refused):
        with pytest.raises(ValueNotHeldError, match=HELD[sink.kind][want.words]):
            sink.put([record])
        return
    sink.put([record])
    (got,) = sink.query('SELECT "v" FROM "srv_public_edge"')[0]
    if isinstance(got, dt.datetime) and got.tzinfo is not None:
        got = got.astimezone(dt.UTC)
    assert got == want


@pytest.mark.parametrize("sink", ["duckdb"], indirect=True)
@pytest.mark.parametrize(
    ("typmod", "text"),
    [(_numeric(5, 2), "10000.00"), (_numeric(38, 0), "1" + "0" * 38),
     (_numeric(38, 0), "-" + "9" * 39)],
)  # fmt: skip
def test_a_decimal_past_its_precision_is_refused_not_wrapped(
    sink: Sink, typmod: int, text: str
) -> None:
    # (masked to 128 bits, 10**40 was stored as 131811359292784559562136384478721867776)
    t = PgTable("edge", [("id", Oid.INT4, -1), ("v", Oid.NUMERIC, typmod)])
    with pytest.raises(ValueNotHeldError, match="a decimal of more than"):
        sink.put([t.insert(0, {"id": 1, "v": text})])


def _stamps(offset: int, unit: str, value: int) -> SinkRecord:
    """An insert into srv.public.units whose array column is of ``unit`` timestamps."""
    items = {"type": "int64", "optional": True, "name": f"io.debezium.time.{unit}"}
    row = {"type": "struct", "optional": True, "name": "srv.public.units.Value", "fields": [
        {"type": "int32", "optional": False, "field": "id"},
        {"type": "array", "optional": True, "items": items, "field": "a"},
    ]}  # fmt: skip
    vs = {"type": "struct", "optional": False, "name": "srv.public.units.Envelope", "fields": [
        {**row, "field": "before"}, {**row, "field": "after"},
        {"type": "string", "optional": False, "field": "op"},
    ]}  # fmt: skip
    ks = {"type": "struct", "optional": False, "name": "k", "fields": [
        {"type": "int32", "optional": False, "field": "id"}]}  # fmt: skip
    value = {"before": None, "after": {"id": offset, "a": [value]}, "op": "c"}
    return SinkRecord("srv.public.units", 0, offset, 0, {"id": offset}, value, (), ks, vs)


@pytest.mark.parametrize("sink", ["duckdb"], indirect=True)
def test_arrays_of_timestamps_in_other_units_in_one_batch_each_read_in_their_own(
    sink: Sink,
) -> None:
    # one second both: the millis array's conversion applied to the nanos made 1970-01-12
    sink.put([_stamps(1, "Timestamp", 1000), _stamps(2, "NanoTimestamp", 10**9)])
    got = sink.query("SELECT id, CAST(a AS VARCHAR) FROM srv_public_units ORDER BY id")
    assert got == [(1, "['1970-01-01 00:00:01']"), (2, "['1970-01-01 00:00:01']")]


@pytest.mark.parametrize("sink", ["snowflake", "bigquery", "redshift"], indirect=True)
def test_warehouses_refuse_nan_in_a_float_array(sink: Sink) -> None:
    # (their arrays travel as JSON, which has no number for NaN: orjson wrote null)
    t = PgTable("edge", [("id", Oid.INT4, -1), ("v", 1022, -1)])  # float8[]
    with pytest.raises(ValueNotHeldError, match="nan in an array"):
        sink.put([t.insert(0, {"id": 1, "v": "{1.5,NaN}"})])


@pytest.mark.parametrize("sink", ["snowflake"], indirect=True)
def test_snowflake_keeps_a_decimal_of_38_fraction_digits_as_exact_text(sink: Sink) -> None:
    # (Snowflake's NUMBER has at most 37 fraction digits: NUMBER(38,38) failed the batch)
    t = PgTable("edge", [("id", Oid.INT4, -1), ("v", Oid.NUMERIC, _numeric(38, 38))])
    text = "0.12345678901234567890123456789012345678"
    sink.put([t.insert(0, {"id": 1, "v": text})])
    assert sink.query('SELECT "v" FROM "srv_public_edge"') == [(text,)]
