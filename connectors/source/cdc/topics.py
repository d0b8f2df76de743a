"""Topic names of captured tables, sanitized as Debezium's topic naming strategy does.

A table's topic is ``<topic.prefix>.<schema>.<table>``. A topic name may only hold ASCII
letters, digits, ``.``, ``_`` and ``-`` (Kafka's rule), so every other character becomes ``_``
(Debezium's ``TopicNamingStrategy.REPLACEMENT_CHAR``; a character outside the BMP counts twice,
as a Java ``String`` holds it in two UTF-16 units) and a name longer than 249 characters is cut
there (``MAX_NAME_LENGTH``). The event's ``source`` block keeps the real schema and table names,
so a sink naming tables by ``${source.table}`` gets the exact name back.

Two tables whose topics come out the same would be merged into one topic: `check_unique`
refuses that at start with a `TopicCollisionError` naming both, and `TopicRegistry` refuses it
for a table that shows up while streaming.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable

from hub.errors import ConfigError

log = logging.getLogger(__name__)

REPLACEMENT_CHAR = "_"
MAX_NAME_LENGTH = 249
_INVALID = re.compile(r"[^A-Za-z0-9._-]")


def _replace(m: re.Match[str]) -> str:
    return REPLACEMENT_CHAR * (2 if ord(m.group()) > 0xFFFF else 1)


@functools.lru_cache(maxsize=4096)  # and so one warning per name
def sanitize(name: str) -> str:
    """``name`` as a legal topic name (Debezium's replacement rules)."""
    out = _INVALID.sub(_replace, name)
    if len(out) > MAX_NAME_LENGTH:
        out = out[:MAX_NAME_LENGTH]
    if out != name:
        log.warning("topic %r is not a valid topic name, replacing it with %r", name, out)
    return out


def topic_name(prefix: str, schema: str, table: str) -> str:
    return sanitize(f"{prefix}.{schema}.{table}")


class TopicCollisionError(ConfigError):
    """Two captured tables would write to one topic."""

    def __init__(self, topic: str, first: str, second: str) -> None:
        self.topic, self.tables = topic, (first, second)
        super().__init__(
            f"tables {first!r} and {second!r} both map to topic {topic!r} (characters outside "
            "[A-Za-z0-9._-] become '_'): their events would be mixed in one topic. Leave one "
            "out with table.exclude.list (or table.include.list), or rename one of them"
        )


class TopicRegistry:
    """The topic of each captured table, seen so far; refuses a second table on a topic."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._owner: dict[str, tuple[str, str]] = {}

    def topic(self, schema: str, table: str) -> str:
        t = topic_name(self.prefix, schema, table)
        owner = self._owner.setdefault(t, (schema, table))
        if owner != (schema, table):
            raise TopicCollisionError(t, ".".join(owner), f"{schema}.{table}")
        return t


def check_unique(prefix: str, tables: Iterable[tuple[str, str]]) -> TopicRegistry:
    """A registry holding ``tables`` (schema, name); `TopicCollisionError` on a shared topic."""
    reg = TopicRegistry(prefix)
    for schema, table in sorted(tables):
        reg.topic(schema, table)
    return reg
