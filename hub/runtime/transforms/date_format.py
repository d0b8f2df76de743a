"""``java.text.SimpleDateFormat`` patterns, formatted in UTC as Kafka's TimestampRouter does.

Supported letters: ``G y M L d D u E a H k K h m s S z Z X``; text in single quotes is
literal (``''`` is a quote) and any other non-letter is literal. Letters whose Java meaning
depends on the locale's week rules (``Y w W F``) are refused with a message, as are the
letters Java itself does not know.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Piece = Callable[[datetime], str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _const(value: str) -> Piece:
    return lambda d: value


def _num(get: Callable[[datetime], int], width: int) -> Piece:
    return lambda d: str(get(d)).zfill(width)


def _text(names: list[str], get: Callable[[datetime], int], width: int, short: int) -> Piece:
    return lambda d: names[get(d)] if width >= 4 else names[get(d)][:short]


def _letter(c: str, width: int) -> Piece:
    if c == "y":
        return (lambda d: f"{d.year % 100:02d}") if width == 2 else _num(lambda d: d.year, width)
    if c in "ML":
        if width >= 3:
            return _text(list(calendar.month_name), lambda d: d.month, width, 3)
        return _num(lambda d: d.month, width)
    if c == "E":
        return _text(list(calendar.day_name), lambda d: d.weekday(), width, 3)
    numbers: dict[str, Callable[[datetime], int]] = {
        "d": lambda d: d.day,
        "D": lambda d: d.timetuple().tm_yday,
        "u": lambda d: d.isoweekday(),
        "H": lambda d: d.hour,
        "k": lambda d: d.hour or 24,
        "K": lambda d: d.hour % 12,
        "h": lambda d: d.hour % 12 or 12,
        "m": lambda d: d.minute,
        "s": lambda d: d.second,
        "S": lambda d: d.microsecond // 1000,
    }
    if c in numbers:
        return _num(numbers[c], width)
    fixed = {
        "G": "AD",
        "z": "Coordinated Universal Time" if width >= 4 else "UTC",
        "Z": "+0000",
        "X": "Z",
    }
    if c in fixed:
        return _const(fixed[c])
    if c == "a":
        return lambda d: "AM" if d.hour < 12 else "PM"
    if c in "YwWF":
        raise ValueError(
            f"pattern letter {c!r} depends on the locale's week rules and is not supported"
            + ("; for the calendar year use 'y'" if c == "Y" else "")
        )
    raise ValueError(f"illegal pattern character {c!r} (quote literal text: 'T')")


def compile_date_format(pattern: str) -> Callable[[int], str]:
    """A function formatting epoch milliseconds with ``pattern``; ValueError if it is bad."""
    pieces: list[Piece] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if pattern.startswith("''", i):
                pieces.append(_const("'"))
                i += 2
                continue
            end = i + 1
            literal = []
            while True:
                if end >= n:
                    raise ValueError("unterminated quote")
                if pattern.startswith("''", end):
                    literal.append("'")
                    end += 2
                elif pattern[end] == "'":
                    break
                else:
                    literal.append(pattern[end])
                    end += 1
            pieces.append(_const("".join(literal)))
            i = end + 1
        elif c.isascii() and c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            pieces.append(_letter(c, j - i))
            i = j
        else:
            pieces.append(_const(c))
            i += 1

    def format_ms(ms: int) -> str:
        d = _EPOCH + timedelta(milliseconds=ms)
        return "".join(p(d) for p in pieces)

    return format_ms
