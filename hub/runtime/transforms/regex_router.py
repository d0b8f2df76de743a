"""Kafka's ``RegexRouter``: rename the topic when the whole name matches ``regex``."""

from __future__ import annotations

from dataclasses import replace

from hub.runtime.transforms.base import R, Transform
from hub.runtime.transforms.java_regex import Replacement, parse_replacement
from hub.runtime.transforms.props import Props


class RegexRouter(Transform):
    """``regex`` (a Java pattern, matched against the whole topic name) and ``replacement``
    (``$1``, ``${name}``; ``\\$`` for a dollar sign), put in place of the first match as
    Kafka's ``replaceFirst`` does. Topics that do not match pass as they are."""

    def __init__(self, props: Props) -> None:
        self.regex = regex = props.regex("regex", required="the pattern topic names must match")
        replacement = props.string("replacement", required="the new topic name, e.g. $1")
        self.replacement: Replacement | None = None
        if regex is not None and replacement is not None:
            self.replacement = props.parse(
                "replacement", replacement, lambda r: parse_replacement(r, regex)
            )

    def apply(self, record: R) -> R | None:
        assert self.regex is not None and self.replacement is not None
        topic = record.topic
        if self.regex.fullmatch(topic) is None:
            return record
        # then Kafka's Matcher.replaceFirst: the first match a search finds (a lazy pattern's
        # shortest, the first alternative), the rest of the name kept; not the whole-name
        # match, whose groups can differ ((.*?)(_v\d+)? with $1: orders_v2 stays orders_v2)
        m = self.regex.search(topic)
        assert m is not None
        return replace(
            record, topic=topic[: m.start()] + self.replacement.expand(m) + topic[m.end() :]
        )
