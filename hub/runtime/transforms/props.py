"""Reading the properties of one transform or predicate, collecting every problem.

``Props`` sees the properties under one prefix (``transforms.route.``) with the prefix
stripped; each accessor declares a property (so it is known), converts its value the way
Kafka's ``ConfigDef`` would (YAML scalars and lists are accepted as well as strings) and
records a problem naming the full property, the value and what is allowed instead of
raising. ``finish`` reports the properties nobody asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from hub.config import MASK, is_secret, shown
from hub.runtime.transforms.java_regex import compile_java

T = TypeVar("T")


def show(name: str, value: Any) -> str:
    """A value as messages show it: repr, or masked when the property holds a secret."""
    return MASK if is_secret(name) and value not in (None, "") else shown(value)


def text(value: Any) -> str:
    """A scalar as Java would have read it from a properties file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_list(value: Any) -> list[str]:
    """A ConfigDef LIST: comma-separated (blanks dropped) or a YAML list."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [text(v).strip() for v in value if text(v).strip()]
    return [p.strip() for p in text(value).split(",") if p.strip()]


class Props:
    def __init__(self, prefix: str, values: Mapping[str, Any], problems: list[str]) -> None:
        self.prefix = prefix
        self.values = values
        self.problems = problems
        self.known: set[str] = set()

    # -- messages -------------------------------------------------------------------------
    def full(self, key: str) -> str:
        return self.prefix + key

    def problem(self, key: str, message: str) -> None:
        """A problem with a property that is set: ``name = value: message``."""
        name = self.full(key)
        self.problems.append(f"{name} = {show(name, self.values.get(key))}: {message}")

    def ignored(self, key: str, because: str) -> None:
        """A property that is set and left unused, as Kafka Connect or Debezium leave it
        (logged once, at the chain's build)."""
        import logging

        logging.getLogger("hub.runtime.transforms").warning(
            "%s = %s: ignored, %s", self.full(key), show(self.full(key), self.values.get(key)),
            because,
        )  # fmt: skip

    def missing(self, key: str, what: str) -> None:
        self.problems.append(f"{self.full(key)}: required, not set ({what})")

    # -- accessors ------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        self.known.add(key)
        return key in self.values and self.values[key] is not None

    def string(
        self, key: str, default: str | None = None, *, required: str = "", non_empty: bool = False
    ) -> str | None:
        """``required``: what the property is for, said when it is missing."""
        if not self.has(key):
            if required:
                self.missing(key, required)
            return default
        raw = self.values[key]
        if isinstance(raw, list | tuple | dict):
            self.problem(key, "expected a single value, not a list or mapping")
            return default
        value = text(raw)
        if (non_empty or required) and not value.strip():
            self.problem(key, "must not be empty")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        if not self.has(key):
            return default
        raw = self.values[key]
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        self.problem(key, "expected true or false")
        return default

    def choice(self, key: str, allowed: Sequence[str], default: str) -> str:
        """One of ``allowed``, case-insensitive (Debezium's enumerated values)."""
        value = self.string(key)
        if value is None:
            return default
        for option in allowed:
            if option.lower() == value.strip().lower():
                return option
        self.problem(key, f"must be one of {', '.join(allowed)}")
        return default

    def names(self, key: str, *, required: str = "") -> list[str]:
        """A comma-separated list (or YAML list); ``required`` means non-empty."""
        if not self.has(key):
            if required:
                self.missing(key, required)
            return []
        raw = self.values[key]
        if isinstance(raw, dict):
            self.problem(key, "expected a comma-separated list")
            return []
        items = split_list(raw)
        if required and not items:
            self.problem(key, f"must not be empty ({required})")
        return items

    def regex(self, key: str, *, required: str) -> re.Pattern[str] | None:
        """A Java regular expression, translated to Python's ``re``."""
        value = self.string(key, required=required)
        return None if value is None else self.parse(key, value, compile_java)

    def parse(self, key: str, value: str, parser: Callable[[str], T]) -> T | None:
        """``parser(value)``; a ValueError (or re.error) becomes a problem with its message."""
        try:
            return parser(value)
        except (ValueError, re.error) as exc:
            self.problem(key, str(exc))
            return None

    # -- the end --------------------------------------------------------------------------
    def finish(self, type_name: str, unsupported: Mapping[str, str] | None = None) -> None:
        """A problem for every property that no accessor declared."""
        unsupported = unsupported or {}
        allowed = ", ".join(sorted(self.known)) or "none"
        for key in self.values:
            if key in self.known:
                continue
            if key in unsupported:
                self.problem(key, f"{unsupported[key]}; remove it")
            else:  # its value is never shown: it may be a misspelt secret
                self.problems.append(
                    f"{self.full(key)}: unknown property of {type_name} (it has: {allowed})"
                )
