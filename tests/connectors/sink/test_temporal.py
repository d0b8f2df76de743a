"""The sinks' exact calendar arithmetic against datetime (years 1..9999) and PostgreSQL's own
text (BC and far years, checked by hand)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from connectors.sink.engine import temporal
from connectors.sink.engine.types import (
    DATE_NEGATIVE_INFINITY,
    DATE_POSITIVE_INFINITY,
    TIMESTAMP_NEGATIVE_INFINITY,
    TIMESTAMP_POSITIVE_INFINITY,
)

EPOCH = dt.datetime(1970, 1, 1)
MIN_US, MAX_US = -62135596800000000, 253402300799999999


@given(st.integers(-2_000_000_000, 2_000_000_000))
def test_days_round_trip(days: int) -> None:
    assert temporal.days_from_civil(*temporal.civil_from_days(days)) == days


@given(st.integers(MIN_US, MAX_US))
def test_timestamps_in_datetime_range_match_datetime(us: int) -> None:
    want = EPOCH + dt.timedelta(microseconds=us)
    assert dt.datetime.fromisoformat(temporal.pg_timestamp(us)) == want
    assert temporal.zoned_micros(want.isoformat() + "Z") == us
    assert temporal.pg_date(us // temporal.MICROS_PER_DAY) == want.date().isoformat()


def test_text_at_the_edges() -> None:
    assert temporal.pg_date(DATE_POSITIVE_INFINITY) == "infinity"
    assert temporal.pg_date(DATE_NEGATIVE_INFINITY) == "-infinity"
    assert temporal.pg_timestamp(TIMESTAMP_POSITIVE_INFINITY) == "infinity"
    assert temporal.pg_timestamp(TIMESTAMP_NEGATIVE_INFINITY) == "-infinity"
    assert temporal.pg_date(temporal.days_from_civil(-43, 3, 15)) == "0044-03-15 BC"
    assert temporal.pg_date(temporal.days_from_civil(-4712, 1, 1)) == "4713-01-01 BC"
    assert temporal.pg_timestamp(9224318015999999999) == "294276-12-31 23:59:59.999999"
    assert temporal.pg_time(86_400_000_000) == "24:00:00.000000"
    assert temporal.pg_interval(-(2**63)) == "-9223372036854775808 microseconds"
    assert temporal.pg_interval(2**63 - 1) == "2562047788:00:54.775807"
    assert temporal.pg_interval(-1) == "-00:00:00.000001"
    assert temporal.zoned_micros("-0043-03-15T12:00:00.000000Z") == (
        temporal.days_from_civil(-43, 3, 15) * temporal.MICROS_PER_DAY + 12 * 3_600_000_000
    )
    assert temporal.pg_timestamptz("-0043-03-15T12:00:00Z") == "0044-03-15 12:00:00.000000+00 BC"
    assert temporal.pg_timestamptz("+21016-11-04T06:51:30.123456789Z") == (
        "21016-11-04 06:51:30.123456+00"
    )
    assert temporal.zoned_micros("2000-01-01T02:30:00+02:30") == 946684800000000
    assert temporal.pg_timestamptz("2016-11-04T11:51:30.1Z") == "2016-11-04T11:51:30.1Z"
