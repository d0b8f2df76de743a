"""Kafka's ``RegexRouter``: rename the topic when the whole name matches ``regex``."""

from __future__ import annotations

from dataclasses import replace

from hub.runtime.transforms.base import R, Transform
from hub.runtime.transforms.java_regex import Replacement, parse_replacement
from hub.runtime.transforms.props import Props


class RegexRouter(Transform):
    """``regex`` (a Java pattern, matched against the whole topic name) and ``replacement``
    (``$1``, ``${name}``; ``\\$`` for a dollar sign). Topics that do not match pass as
    they are."""

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
        m = self.regex.fullmatch(record.topic)
        if m is None:
            return record
        return replace(record, topic=self.replacement.expand(m))
