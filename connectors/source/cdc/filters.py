"""Which tables and columns are captured, and which columns form the message key.

As in Debezium: each list is comma-separated regular expressions matched against the whole
name (anchored): ``<ns>`` for the namespace lists, ``<ns>.<table>`` for table lists and
``<ns>.<table>.<column>`` for column lists, where the namespace is what holds a table: a
schema in PostgreSQL (``schema.include.list``), a database in MySQL
(``database.include.list``). Matching ignores case, as Debezium's does (a table ``Orders``
is in ``public.orders``), and a comma inside an expression is written ``\\,``. An include list
and an exclude list of the same kind cannot both be set. System namespaces (``pg_catalog``,
``mysql``...) are never captured. The columns of ``message.key.columns`` are names, matched
exactly first and then ignoring the case of ASCII letters. (Python's IGNORECASE folds
non-ASCII letters too, where Java's CASE_INSENSITIVE does not: an entry ``café`` also names a
table ``CAFÉ`` here, not in Debezium.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.errors import ConfigError

log = logging.getLogger(__name__)


def patterns(prop: str, value: str) -> tuple[re.Pattern[str], ...]:
    """The list's expressions, compiled to match ignoring case (Debezium compiles them with
    CASE_INSENSITIVE); split on the commas not escaped with a backslash (``\\,`` is a comma
    inside an expression, as in Debezium)."""
    out = []
    for item in (v.strip() for v in _split(value)):
        if not item:
            continue
        try:
            out.append(re.compile(item, re.IGNORECASE))
        except re.error as exc:
            raise ConfigError(
                f"{prop}: {item!r} is not a valid regular expression ({exc})"
            ) from None
    return tuple(out)


def _split(value: str) -> list[str]:
    """A list's items as Debezium's RegExSplitter cuts them: at each comma, but one after a
    backslash, which is the comma itself; a backslash before anything else stays with it
    (``\\\\,`` is an escaped backslash, then a cut)."""
    items: list[str] = []
    item: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            after = value[i + 1]
            item.append("," if after == "," else c + after)
            i += 2
            continue
        if c == ",":
            items.append("".join(item))
            item = []
        else:
            item.append(c)
        i += 1
    items.append("".join(item))
    return items


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _spelt(column: str, names: Sequence[str]) -> str:
    """A listed key column as the table spells it: exactly, or else ignoring the case of
    ASCII letters (as Java's CASE_INSENSITIVE, which Debezium matches with)."""
    if column in names:
        return column
    folded = column.translate(_ASCII_LOWER)
    return next((n for n in names if n.translate(_ASCII_LOWER) == folded), column)


def _matches(patterns: tuple[re.Pattern[str], ...], name: str) -> bool:
    return any(p.fullmatch(name) for p in patterns)


@dataclass(frozen=True)
class Filters:
    schema_include: tuple[re.Pattern[str], ...] = ()
    schema_exclude: tuple[re.Pattern[str], ...] = ()
    table_include: tuple[re.Pattern[str], ...] = ()
    table_exclude: tuple[re.Pattern[str], ...] = ()
    column_include: tuple[re.Pattern[str], ...] = ()
    column_exclude: tuple[re.Pattern[str], ...] = ()
    key_columns: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = ()
    system: Callable[[str], bool] = lambda namespace: False

    @classmethod
    def from_config(cls, cfg: Any) -> Filters:
        """From a `CdcSourceConfig`: its ``namespace`` kind names the first lists."""
        ns = cfg.namespace
        for kind in (ns, "table", "column"):
            inc, exc = f"{kind}.include.list", f"{kind}.exclude.list"
            if getattr(cfg, f"{kind}_include_list") and getattr(cfg, f"{kind}_exclude_list"):
                raise ConfigError(f"{inc} and {exc} cannot both be set: keep one of them")
        keys = []
        for entry in (e.strip() for e in cfg.message_key_columns.split(";")):
            if not entry:
                continue
            table, sep, cols = entry.rpartition(":")
            columns = tuple(c.strip() for c in cols.split(",") if c.strip())
            if not sep or not table or not columns:
                raise ConfigError(
                    f"message.key.columns: {entry!r} is not <ns>.<table>:<col>[,<col>...]"
                )
            keys.append((patterns("message.key.columns", table)[0], columns))
        return cls(
            patterns(f"{ns}.include.list", getattr(cfg, f"{ns}_include_list")),
            patterns(f"{ns}.exclude.list", getattr(cfg, f"{ns}_exclude_list")),
            patterns("table.include.list", cfg.table_include_list),
            patterns("table.exclude.list", cfg.table_exclude_list),
            patterns("column.include.list", cfg.column_include_list),
            patterns("column.exclude.list", cfg.column_exclude_list),
            tuple(keys),
            cfg.system_namespace,
        )

    def namespace(self, schema: str) -> bool:
        """May tables of ``schema`` be captured (its include/exclude lists, not a system
        one)?"""
        if self.system(schema):
            return False
        if self.schema_include and not _matches(self.schema_include, schema):
            return False
        return not _matches(self.schema_exclude, schema)

    def unmatched(
        self, ns_kind: str, namespaces: Sequence[str],
        tables: Sequence[tuple[str, str, Sequence[str]]],
    ) -> tuple[list[str], list[str], list[str]]:  # fmt: skip
        """The entries of the namespace, table and column lists that name nothing that exists
        (``namespaces``; ``tables``: namespace, name, columns): (those with a near name, most
        likely misspelt: a misspelt include entry captures nothing of what it meant, a
        column left out of every event; a misspelt exclude entry captures what it meant to
        keep out; the others, which may name what is made later; and those that name
        something only in another case, which an earlier hub, matching case, left out)."""
        import difflib

        names = [f"{ns}.{t}" for ns, t, _ in tables]
        cols = [f"{ns}.{t}.{c}" for ns, t, cs in tables for c in cs]
        typos, others, by_case = [], [], []
        for prop, pats, pool, what in (
            (f"{ns_kind}.include.list", self.schema_include, namespaces, ns_kind),
            (f"{ns_kind}.exclude.list", self.schema_exclude, namespaces, ns_kind),
            ("table.include.list", self.table_include, names, "table"),
            ("table.exclude.list", self.table_exclude, names, "table"),
            ("column.include.list", self.column_include, cols, "column"),
            ("column.exclude.list", self.column_exclude, cols, "column"),
        ):
            for p in pats:
                if any(p.fullmatch(n) for n in pool):
                    exact = re.compile(p.pattern)
                    cased = sorted(n for n in pool if p.fullmatch(n) and not exact.fullmatch(n))
                    if cased:  # (what an earlier hub, matching case, left to the others)
                        by_case.append(
                            f"{prop}: '{p.pattern}' names {', '.join(cased[:5])}"
                            f"{' ...' if len(cased) > 5 else ''} in another case: lists "
                            "match ignoring case, as Debezium's do"
                        )  # fmt: skip
                    continue
                plain = re.sub(r"\\(.)", r"\1", p.pattern)
                close = difflib.get_close_matches(plain, pool, n=1, cutoff=0.8)
                if close:
                    typos.append(f"{prop}: '{p.pattern}' matches no {what} (did you mean "
                                 f"{close[0]}?)")  # fmt: skip
                else:
                    others.append(f"{prop}: '{p.pattern}' matches no {what} yet")
        return typos, others, by_case

    def unmatched_check(self, ns_kind: str, names: Any) -> Any:
        """`unmatched` as a check of `hub validate`: failed for an entry with a near name;
        ``names(columns)``: (namespaces, tables, their columns' names when ``columns``: a
        column list is set), or raising (then no check)."""
        from hub.runtime.api import Check

        try:
            typos, others, by_case = self.unmatched(ns_kind, *names(self._columns_listed))
        except Exception as exc:  # noqa: BLE001 - (best effort: the catalog as the user sees it)
            log.debug("the lists' check could not read the catalog: %s", exc)
            return None
        if not typos and not others and not by_case:
            return None
        return Check("the include and exclude lists name what exists", not typos,
                     "; ".join(typos + by_case + others))  # fmt: skip

    def warn_unmatched(self, connector: str, ns_kind: str, names: Any) -> None:
        """`unmatched` at a task's start: a warning for an entry with a near name, a note for
        the others; never a failure (``names`` as for `unmatched_check`)."""
        try:
            typos, others, by_case = self.unmatched(ns_kind, *names(self._columns_listed))
        except Exception as exc:  # noqa: BLE001
            log.debug("%s: the lists' check could not read the catalog: %s", connector, exc)
            return
        for line in typos + by_case:
            log.warning("%s: %s", connector, line)
        for line in others:
            log.info("%s: %s (a table made later matches it then)", connector, line)

    @property
    def _columns_listed(self) -> bool:
        return bool(self.column_include or self.column_exclude)

    @property
    def lists(self) -> bool:
        """Whether any namespace, table or column list is set."""
        return any((self.schema_include, self.schema_exclude, self.table_include,
                    self.table_exclude, self.column_include, self.column_exclude))  # fmt: skip

    def table(self, schema: str, table: str) -> bool:
        """Is ``schema.table`` captured?"""
        if not self.namespace(schema):
            return False
        name = f"{schema}.{table}"
        if self.table_include and not _matches(self.table_include, name):
            return False
        return not _matches(self.table_exclude, name)

    def column(self, schema: str, table: str, column: str) -> bool:
        name = f"{schema}.{table}.{column}"
        if self.column_include and not _matches(self.column_include, name):
            return False
        return not _matches(self.column_exclude, name)

    def key_override(
        self, schema: str, table: str, names: Sequence[str] = ()
    ) -> tuple[str, ...] | None:
        """The columns ``message.key.columns`` sets as this table's key, if any, as the
        table's ``names`` spell them: a listed column is the one of that name, else the one
        equal to it ignoring case (a name neither holds is returned as listed, for the
        caller's error)."""
        name = f"{schema}.{table}"
        for pattern, columns in self.key_columns:
            if pattern.fullmatch(name):
                return tuple(_spelt(c, names) for c in columns)
        return None

    @property
    def filters_tables(self) -> bool:
        return bool(
            self.schema_include or self.schema_exclude or self.table_include or self.table_exclude
        )
