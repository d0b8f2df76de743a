"""Type matrix: PostgreSQL values through the PostgreSQL source's own type mapping (Debezium's
schemas and values), through the JSON converter, into each target, and back out exact."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

from connectors.source.postgres.types import Oid, TypeMapper
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import PgTable

ENUM_OID = 90001
MAPPER = TypeMapper(enums={ENUM_OID: ["sad", "happy"]})
UTC = dt.UTC
U = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

# column, type OID, typmod, PostgreSQL text value, expected value read back
MATRIX: list[tuple[str, int, int, str, Any]] = [
    ("b", Oid.BOOL, -1, "t", True),
    ("i2", Oid.INT2, -1, "-32768", -32768),
    ("i4", Oid.INT4, -1, "2147483647", 2147483647),
    ("i8", Oid.INT8, -1, "-9223372036854775808", -9223372036854775808),
    ("f4", Oid.FLOAT4, -1, "1.5", 1.5),
    ("f8", Oid.FLOAT8, -1, "-2.25e-10", -2.25e-10),
    ("n", Oid.NUMERIC, (12 << 16) + 4 + 4, "-12345678.1234", Decimal("-12345678.1234")),
    ("nv", Oid.NUMERIC, -1, "3.14159265358979323846264338327950288",
     Decimal("3.14159265358979323846264338327950288")),
    ("m", Oid.MONEY, -1, "$1,234.56", Decimal("1234.56")),
    ("by", Oid.BYTEA, -1, "\\x00ff10", b"\x00\xff\x10"),
    ("u", Oid.UUID, -1, U, uuid.UUID(U)),
    ("j", Oid.JSONB, -1, '{"a": [1, 2], "b": "é"}', {"a": [1, 2], "b": "é"}),
    ("x", Oid.XML, -1, "<a>1</a>", "<a>1</a>"),
    ("d", Oid.DATE, -1, "1969-07-20", dt.date(1969, 7, 20)),
    ("t", Oid.TIME, -1, "13:14:15.123456", dt.time(13, 14, 15, 123456)),
    ("t3", Oid.TIME, 3, "13:14:15.123", dt.time(13, 14, 15, 123000)),
    ("ts", Oid.TIMESTAMP, -1, "2024-02-29 13:14:15.123456",
     dt.datetime(2024, 2, 29, 13, 14, 15, 123456)),
    ("ts3", Oid.TIMESTAMP, 3, "1969-12-31 23:59:59.999",
     dt.datetime(1969, 12, 31, 23, 59, 59, 999000)),
    ("tz", Oid.TIMESTAMPTZ, -1, "2024-02-29 13:14:15.123456+02",
     dt.datetime(2024, 2, 29, 11, 14, 15, 123456, tzinfo=UTC)),
    ("ttz", Oid.TIMETZ, -1, "13:14:15.5+02", dt.time(11, 14, 15, 500000, tzinfo=UTC)),
    ("iv", Oid.INTERVAL, -1, "1 day 02:03:04.5", dt.timedelta(days=1, seconds=7384.5)),
    ("bit1", Oid.BIT, 1, "1", True),
    ("e", ENUM_OID, -1, "happy", "happy"),
    ("inet", Oid.INET, -1, "10.0.0.1/8", "10.0.0.1/8"),
    ("c", Oid.BPCHAR, 4, "ab  ", "ab  "),
    ("ta", 1009, -1, '{a,"b c",NULL}', ["a", "b c", None]),
    ("ia", 1007, -1, "{1,2,3}", [1, 2, 3]),
    ("da", 1182, -1, "{2024-01-01,1970-01-01}", [dt.date(2024, 1, 1), dt.date(1970, 1, 1)]),
    ("na", 1231, (10 << 16) + 2 + 4, "{1.50,-2.25}", [Decimal("1.50"), Decimal("-2.25")]),
    ("nva", 1231, -1, "{1.5,-2.25}", [Decimal("1.5"), Decimal("-2.25")]),
    ("tsa", 1115, -1, '{"2024-01-01 00:00:00.5"}', [dt.datetime(2024, 1, 1, 0, 0, 0, 500000)]),
]  # fmt: skip


# what the Snowflake, BigQuery and Redshift sinks' mappings make of some
# (connectors/sink/snowflake/types.py, connectors/sink/bigquery/types.py,
# connectors/sink/redshift/types.py): money (a variable-scale decimal) and uuid as text,
# ZonedTime as its ISO text, an interval as microseconds, array items of dates and timestamps as
# ISO text (Snowflake's ARRAY and BigQuery's JSON hold JSON values)
SNOWFLAKE: dict[str, Any] = {
    "m": "1234.56", "u": U, "ttz": "11:14:15.5Z", "iv": 93_784_500_000,
    "da": ["2024-01-01", "1970-01-01"], "tsa": ["2024-01-01T00:00:00.500000"],
}  # fmt: skip


def _table() -> PgTable:
    cols = [("id", Oid.INT4, -1)] + [(c, oid, tm) for c, oid, tm, _, _ in MATRIX]
    return PgTable("matrix", cols, mapper=MAPPER)


def _norm(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return json.loads(v)
        except ValueError:
            return v
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(UTC)
    if isinstance(v, memoryview | bytearray):
        return bytes(v)
    return v


def test_every_type_round_trips_exactly(sink: Sink) -> None:
    t = _table()
    values = {c: text for c, _, _, text, _ in MATRIX}
    sink.put([t.insert(0, {"id": 1, **values}), t.insert(1, {"id": 2})])
    names = ", ".join(f'"{c}"' for c, *_ in MATRIX)
    full, empty = sink.query(f'SELECT {names} FROM "srv_public_matrix" ORDER BY id')
    bad = []
    for (c, *_, expected), got in zip(MATRIX, full, strict=True):
        if c == "nv" and sink.kind in ("duckdb", "snowflake", "bigquery", "redshift"):
            expected = str(expected)  # no unbounded decimal there: exact text
        if sink.kind in ("snowflake", "bigquery", "redshift"):
            expected = SNOWFLAKE.get(c, expected)
        if c == "nva" and sink.kind == "duckdb":
            expected = [str(x) for x in expected]
        if _norm(got) != expected:
            bad.append((c, got, expected))
    assert not bad
    # IS NULL in SQL: the Snowflake stand-in hands a NULL TIMESTAMP_* to the client as 1970
    nulls = " AND ".join(f'"{c}" IS NULL' for c, *_ in MATRIX)
    assert sink.query(f'SELECT "id" FROM "srv_public_matrix" WHERE {nulls}') == [(2,)]
    assert len(empty) == len(MATRIX)


def test_bits_and_geometry_are_bytes(sink: Sink) -> None:
    t = PgTable("bits", [("id", Oid.INT4, -1), ("vb", Oid.VARBIT, -1)], mapper=MAPPER)
    sink.put([t.insert(0, {"id": 1, "vb": "101"})])
    expected = MAPPER.converter(Oid.VARBIT, -1)(b"101")
    assert [bytes(r[1]) for r in sink.rows("srv_public_bits")] == [expected]
