"""Debezium's column masking and truncation, for the change sources (PostgreSQL, MySQL):
``column.truncate.to.<n>.chars``, ``column.mask.with.<n>.chars`` and
``column.mask.hash[.v2].<algorithm>.with.salt.<salt>``, each a list of regular expressions of
fully-qualified column names (``<schema or database>.<table>.<column>``, matched whole and
ignoring case).

As Debezium's ColumnMappers: the first rule that names a column applies (truncations, then
masks, then hashes v1, then v2; within a kind, by property name), after the column's type
mapping. A truncation cuts a text or JSON value to n characters, a binary one to n bytes
(only where the column may hold more; the field schema gets ``truncateLength``); a mask
replaces every value of a text column, a NULL too, with n asterisks; a hash replaces a text
column's value with the hex digest of the salt's bytes then the value's (v1: the value as
Java serializes a String; v2: its UTF-8 bytes), cut to the column's length where it has one.
Masked fields' schemas get ``masked: "true"``. Other columns pass as they are, and so do the
events' key columns, in the value too (Debezium masks the value's copy and sends the key's as
it is: the value's leaks nothing the key does not carry).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.source.cdc.filters import patterns

log = logging.getLogger(__name__)

_TRUNCATE = re.compile(r"column\.truncate\.to\.(\d+)\.chars")
_MASK = re.compile(r"column\.mask\.with\.(\d+)\.chars")
_HASH = re.compile(r"column\.mask\.hash\.(v2\.)?([^.]+)\.with\.salt\.(.+)")
# the properties' names, for the config check (`CdcSourceConnector.patterned`)
PROPERTIES = (_TRUNCATE.pattern, _MASK.pattern, _HASH.pattern)

Convert = Callable[[Any], Any]


def _digest(algorithm: str) -> str:
    """hashlib's name of a Java MessageDigest algorithm (SHA-256, SHA3-512, SHA-512/256, MD5)."""
    import hashlib  # (here: its import costs every start ~3 ms)

    name = algorithm.strip().lower()
    if name.startswith("sha3-"):
        name = "sha3_" + name[5:]
    elif name.startswith("sha-"):
        name = "sha" + name[4:].replace("/", "_")
    if name not in hashlib.algorithms_available:
        raise ValueError(
            f"{algorithm!r} is not a hash algorithm hub knows (SHA-256, SHA-512, SHA-1, MD5, "
            "SHA3-256...)"
        )
    hashlib.new(name)  # (refused by a FIPS build, say)
    return name


def java_serialized(text: str) -> bytes:
    """``text`` as Java's ObjectOutputStream writes a String alone: the stream header, then
    TC_STRING (or TC_LONGSTRING) and its modified UTF-8 (each UTF-16 unit on its own; NUL in
    two bytes)."""
    units = text.encode("utf-16-le", "surrogatepass")
    out = bytearray()
    for i in range(0, len(units), 2):
        u = units[i] | units[i + 1] << 8
        if 0 < u < 0x80:
            out.append(u)
        elif u < 0x800:
            out += bytes((0xC0 | u >> 6, 0x80 | u & 0x3F))
        else:
            out += bytes((0xE0 | u >> 12, 0x80 | u >> 6 & 0x3F, 0x80 | u & 0x3F))
    head = b"\xac\xed\x00\x05"
    if len(out) <= 0xFFFF:
        return head + b"\x74" + len(out).to_bytes(2, "big") + bytes(out)
    return head + b"\x7c" + len(out).to_bytes(8, "big") + bytes(out)


@dataclass(frozen=True)
class Rule:
    prop: str
    kind: str  # truncate, mask, hash
    n: int = 0
    algorithm: str = ""
    salt: bytes = b""
    v2: bool = False
    columns: tuple[re.Pattern[str], ...] = ()

    def names(self, column: str) -> bool:
        return any(p.fullmatch(column) for p in self.columns)

    def converter(self, kind: str, length: int | None) -> tuple[Convert | None, dict[str, str]]:
        """The value converter (after the column's own) and the field schema's parameters
        for a column of ``kind`` (text: masked and truncated; json and binary: truncated
        only; other) and declared ``length`` (None: none, or unbounded); (None, {}) where
        the rule does not apply to it."""
        if self.kind == "truncate":  # (text, JSON and bytes: not a number or a time)
            n = self.n
            if kind == "other" or (length is not None and length <= n):
                return None, {}

            def truncate(value: Any) -> Any:
                return value[:n] if isinstance(value, str | bytes) and len(value) > n else value

            return truncate, {"truncateLength": str(n)}
        if kind != "text":
            return None, {}
        if self.kind == "mask":
            stars = "*" * self.n
            return (lambda value: stars), {"masked": "true"}
        algorithm, salt, v2 = self.algorithm, self.salt, self.v2
        cut = length if length is not None and length > 0 else None

        import hashlib

        def hashed(value: Any) -> Any:
            if value is None:
                return None
            text = value if isinstance(value, str) else str(value)
            h = hashlib.new(algorithm, salt)
            h.update(text.encode("utf-8") if v2 else java_serialized(text))
            return h.hexdigest()[:cut]

        return hashed, {"masked": "true"}


def rule_of(key: str, value: Any) -> Rule | None:
    """The rule a property names; None for another property. ValueError: a bad one."""
    if m := _TRUNCATE.fullmatch(key):
        kind, n, algorithm, salt, v2 = "truncate", int(m[1]), "", b"", False
    elif m := _MASK.fullmatch(key):
        kind, n, algorithm, salt, v2 = "mask", int(m[1]), "", b"", False
    elif m := _HASH.fullmatch(key):
        kind, n, v2 = "hash", 0, bool(m[1])
        algorithm, salt = _digest(m[2]), m[3].encode("utf-8")
    else:
        return None
    from hub.errors import ConfigError

    try:
        columns = patterns(key, str(value or ""))
    except ConfigError as exc:
        raise ValueError(str(exc).partition(": ")[2]) from None
    return Rule(key, kind, n, algorithm, salt, v2, columns)


def problem(key: str, value: Any) -> str | None:
    """What is wrong with a masking property (`hub validate`); None: nothing."""
    try:
        rule_of(key, value)
    except ValueError as exc:
        return str(exc)
    return None


_ORDER = {"truncate": 0, "mask": 1, "hash": 2}


class ColumnMasks:
    """The masking rules of a connector's config, in the order they apply."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = sorted(rules, key=lambda r: (_ORDER[r.kind], r.v2, r.prop))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ColumnMasks:
        rules = []
        for key, value in config.items():
            rule = rule_of(str(key), value)
            if rule is not None and rule.columns:
                rules.append(rule)
        return cls(rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rule(self, namespace: str, table: str, column: str) -> Rule | None:
        name = f"{namespace}.{table}.{column}"
        return next((r for r in self.rules if r.names(name)), None)

    def column(
        self, namespace: str, table: str, column: str, kind: str, length: int | None,
        key: bool = False,
    ) -> tuple[Convert | None, dict[str, str]]:  # fmt: skip
        """A column's masking converter and its field schema's parameters (see `Rule`). A
        column of the events' ``key`` is left as it is, with a warning once (Debezium masks
        the value's copy and sends the key's as it is; masked in both, every row had one
        key)."""
        rule = self.rule(namespace, table, column) if self.rules else None
        if rule is None:
            return None, {}
        mask, params = rule.converter(kind, length)
        if mask is not None and key:
            where = f"{namespace}.{table}"
            if (where, column) not in _WARNED_KEYS:
                _WARNED_KEYS.add((where, column))
                log.warning("table %s: column %s is named by a column mask but is part of the "
                            "events' key: it is not masked (the key carries it as it is, as "
                            "Debezium's does)", where, column)  # fmt: skip
            return None, {}
        return mask, params

    def warn_unmatched(self, connector: str, names: Callable[[bool], Any]) -> None:
        """A warning at a task's start for each expression of a rule that names no column
        of the database (``names(True)``: `Filters.unmatched`'s catalog look-up): a
        misspelt one leaves the column it meant unmasked."""
        import difflib
        import logging

        if not self.rules:
            return
        try:
            _, tables = names(True)
        except Exception:  # noqa: BLE001 - (best effort: the catalog as the user sees it)
            return
        pool = [f"{ns}.{t}.{c}" for ns, t, cs in tables for c in cs]
        for rule in self.rules:
            for p in rule.columns:
                if any(p.fullmatch(n) for n in pool):
                    continue
                close = difflib.get_close_matches(re.sub(r"\\(.)", r"\1", p.pattern), pool,
                                                  n=1, cutoff=0.8)  # fmt: skip
                logging.getLogger(__name__).warning(
                    "%s: %s: '%s' matches no column%s: what it meant is not masked", connector,
                    rule.prop, p.pattern, f" (did you mean {close[0]}?)" if close else " yet",
                )  # fmt: skip


NONE = ColumnMasks([])
_WARNED_KEYS: set[tuple[str, str]] = set()  # (table, column) said once per process


def after(convert: Convert, mask: Convert) -> Convert:
    """``convert`` then ``mask``: a masked column's value, default and fill."""
    return lambda value: mask(convert(value))
