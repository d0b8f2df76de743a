"""Exact calendar arithmetic for the sinks: canonical dates, times and timestamps (integers, see
`types`) to and from text, over the proleptic Gregorian calendar PostgreSQL uses, for every
year a target may hold (BC years, years past 9999) and Debezium's ±infinity markers. Integer
arithmetic only: no float on the path of a timestamp. ``datetime`` does the common years
(1..9999) in C; the rest is computed here.

Years are astronomical (1 BC is 0, 44 BC is -43), as ISO 8601 and java.time write them.
"""

from __future__ import annotations

import datetime as dt
import re

from connectors.calendar import civil_from_days, days_from_civil
from connectors.sink.engine.types import (
    DATE_NEGATIVE_INFINITY,
    DATE_POSITIVE_INFINITY,
    TIMESTAMP_NEGATIVE_INFINITY,
    TIMESTAMP_POSITIVE_INFINITY,
)

MICROS_PER_DAY = 86_400_000_000
INFINITY, NEG_INFINITY = "infinity", "-infinity"
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
_MIN_MICROS = -62135596800000000  # 0001-01-01 00:00:00
_MAX_MICROS = 253402300799999999  # 9999-12-31 23:59:59.999999
_MIN_DAYS, _MAX_DAYS = -719162, 2932896  # 0001-01-01, 9999-12-31


def infinity_of_date(days: int) -> str | None:
    """``infinity``/``-infinity`` for Debezium's date markers, else None."""
    if days == DATE_POSITIVE_INFINITY:
        return INFINITY
    if days == DATE_NEGATIVE_INFINITY:
        return NEG_INFINITY
    return None


def infinity_of_timestamp(micros: int) -> str | None:
    """``infinity``/``-infinity`` for Debezium's timestamp markers, else None."""
    if micros == TIMESTAMP_POSITIVE_INFINITY:
        return INFINITY
    if micros == TIMESTAMP_NEGATIVE_INFINITY:
        return NEG_INFINITY
    return None


def _pg_date(days: int) -> str:
    y, m, d = civil_from_days(days)
    if y <= 0:
        return f"{1 - y:04d}-{m:02d}-{d:02d} BC"
    return f"{y:04d}-{m:02d}-{d:02d}"


def pg_date(days: int) -> str:
    """PostgreSQL's input text of a canonical date (markers: ``infinity``)."""
    if _MIN_DAYS <= days <= _MAX_DAYS:
        return (_EPOCH_DATE + dt.timedelta(days=days)).isoformat()
    return infinity_of_date(days) or _pg_date(days)


def clock(micros_of_day: int) -> str:
    """``HH:MM:SS.ffffff`` of microseconds since midnight (24:00:00 included)."""
    secs, us = divmod(micros_of_day, 1_000_000)
    h, rem = divmod(secs, 3600)
    return f"{h:02d}:{rem // 60:02d}:{rem % 60:02d}.{us:06d}"


def pg_timestamp(micros: int) -> str:
    """PostgreSQL's input text of a canonical timestamp (markers: ``infinity``)."""
    if _MIN_MICROS <= micros <= _MAX_MICROS:
        return (_EPOCH + dt.timedelta(microseconds=micros)).isoformat(" ")
    special = infinity_of_timestamp(micros)
    if special is not None:
        return special
    days, rest = divmod(micros, MICROS_PER_DAY)
    date = _pg_date(days)
    if date.endswith(" BC"):
        return f"{date[:-3]} {clock(rest)} BC"
    return f"{date} {clock(rest)}"


def pg_time(micros: int) -> str:
    return clock(micros)


def pg_interval(micros: int) -> str:
    """An interval of exactly ``micros`` microseconds, all in its time part (as MicroDuration
    means it): ``-2562047788:00:54.775808`` for the smallest int64."""
    if micros == -(2**63):  # the clock form overflows on its way in; this one does not
        return f"{micros} microseconds"
    return ("-" if micros < 0 else "") + clock(abs(micros))


_ZONED = re.compile(
    r"([+-]?)(\d{4,})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?"
    r"(Z|[+-]\d\d(?::?\d\d(?::?\d\d)?)?)"
)


def zoned_micros(s: str) -> int | str:
    """Epoch microseconds of an ISO 8601 instant with an offset (a ZonedTimestamp, years of
    any sign and length; nanoseconds truncated), or ``infinity``/``-infinity`` as given."""
    if s in (INFINITY, NEG_INFINITY):
        return s
    m = _ZONED.fullmatch(s)
    if m is None:
        raise ValueError(f"not an ISO 8601 timestamp with offset: {s!r}")
    sign, year, mo, d, h, mi, sec, frac, off = m.groups()
    y = -int(year) if sign == "-" else int(year)
    days = days_from_civil(y, int(mo), int(d))
    us = int((frac or "").ljust(6, "0")[:6])
    micros = days * MICROS_PER_DAY + ((int(h) * 60 + int(mi)) * 60 + int(sec)) * 1_000_000 + us
    if off != "Z":
        digits = off[1:].replace(":", "")
        secs = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60 + int(digits[4:6] or 0)
        micros -= (secs if off[0] == "+" else -secs) * 1_000_000
    return micros


_PAST_MICROS = re.compile(r"(\.\d{6})\d+")


def pg_timestamptz(s: str) -> str:
    """PostgreSQL's input text of a ZonedTimestamp (BC and far years included): as it is when
    PostgreSQL reads it so (a 4-digit year from 0001: ISO 8601 with its offset; a fraction
    past microseconds truncated, as everywhere else, where PostgreSQL would round it), else
    in UTC (year 0000, 1 BC, is no year to PostgreSQL)."""
    if s[:1].isdigit() and s[4:5] == "-" and not s.startswith("0000"):
        if len(s) > 27 and s[19:20] == ".":  # room for more than 6 fraction digits
            return _PAST_MICROS.sub(r"\1", s, count=1)
        return s
    v = zoned_micros(s)
    if isinstance(v, str):
        return v
    text = pg_timestamp(v)
    if text.endswith(" BC"):
        return text[:-3] + "+00 BC"
    return text + "+00"
