"""Java regular expressions and replacement strings, as Kafka's transforms take them.

Python's ``re`` reads most Java patterns as they are. The differences translated here:
named groups ``(?<name>...)`` and back references ``\\k<name>``, quoting ``\\Q...\\E`` and
the end anchor ``\\z``. A Java construct ``re`` would read differently (class intersection
``[a&&b]``, which ``re`` warns about, and nested classes: Java's unions) is refused rather
than silently changed.

Replacement strings follow ``java.util.regex.Matcher.appendReplacement``: ``$n`` (as many
digits as still name a group), ``${name}``, and ``\\x`` for a literal ``x``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def translate(pattern: str) -> str:
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                end = n if end < 0 else end
                out.append(re.escape(pattern[i + 2 : end]))
                i = end + 2
                continue
            m = _NAME.match(pattern, i + 3) if nxt == "k" and not in_class else None
            if m and pattern.startswith("<", i + 2) and pattern.startswith(">", m.end()):
                out.append(f"(?P={m.group()})")
                i = m.end() + 1
                continue
            out.append("\\Z" if nxt == "z" and not in_class else c + nxt)
            i += 2
            continue
        if in_class:
            if c == "[":  # Java: a union ([a-z[0-9]] is [a-z0-9]); re: a literal [ in a class
                raise ValueError(
                    "uses a Java construct hub cannot translate: a nested character class (a "
                    "union such as [a-z[0-9]]); list the characters in one class ([a-z0-9])"
                )
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(" and pattern.startswith("(?<", i):
            m = _NAME.match(pattern, i + 3)
            if m and pattern.startswith(">", m.end()):
                out.append(f"(?P<{m.group()}>")
                i = m.end() + 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def compile_java(pattern: str) -> re.Pattern[str]:
    """Compile a Java pattern; ValueError with a readable reason when it is not valid."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        try:
            return re.compile(translate(pattern))
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        except FutureWarning as exc:
            raise ValueError(f"uses a Java construct hub cannot translate: {exc}") from None


@dataclass(frozen=True, slots=True)
class Group:
    """A reference to a group by number or name; an unmatched group adds nothing."""

    ref: int | str


@dataclass(frozen=True, slots=True)
class Replacement:
    """A parsed replacement: literal text and group references, in order."""

    parts: tuple[str | Group, ...]

    def expand(self, match: re.Match[str]) -> str:
        return "".join(p if isinstance(p, str) else (match.group(p.ref) or "") for p in self.parts)


def parse_replacement(replacement: str, regex: re.Pattern[str]) -> Replacement:
    """Parse ``replacement`` against ``regex``'s groups; ValueError as Java would complain."""
    parts: list[str | Group] = []
    literal: list[str] = []
    i, n = 0, len(replacement)

    def flush() -> None:
        if literal:
            parts.append("".join(literal))
            literal.clear()

    while i < n:
        c = replacement[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("character to be escaped is missing (ends with a backslash)")
            literal.append(replacement[i + 1])
            i += 2
        elif c == "$":
            i += 1
            if i >= n:
                raise ValueError("illegal group reference: '$' at the end; write \\$ for '$'")
            if replacement[i] == "{":
                end = replacement.find("}", i)
                name = replacement[i + 1 : end] if end > 0 else ""
                if end < 0 or not _NAME.fullmatch(name):
                    raise ValueError("illegal group reference: ${ must hold a group name and }")
                if name not in regex.groupindex:
                    raise ValueError(f"no group named {name!r} in regex")
                flush()
                parts.append(Group(name))
                i = end + 1
            elif replacement[i].isdigit():
                ref = int(replacement[i])
                if ref > regex.groups:
                    raise ValueError(f"no group {ref}: regex has {regex.groups} group(s)")
                i += 1
                while i < n and replacement[i].isdigit():
                    longer = ref * 10 + int(replacement[i])
                    if longer > regex.groups:
                        break
                    ref, i = longer, i + 1
                flush()
                parts.append(Group(ref))
            else:
                raise ValueError(
                    "illegal group reference: '$' must be followed by a group number or "
                    "{name}; write \\$ for '$'"
                )
        else:
            literal.append(c)
            i += 1
    flush()
    return Replacement(tuple(parts))
