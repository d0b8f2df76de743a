"""The topic a connector's records end in after its topic routers (RegexRouter), so that
``hub verify`` finds the table a sink writes when a transform renamed the topic."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def topic_router(config: Mapping[str, Any]) -> Callable[[str], str]:
    """``config``'s RegexRouter stages (with their predicates) applied to a topic name; the
    name itself when it has none. Other transforms do not rename topics here; TimestampRouter
    names a topic per record time, which one table cannot stand for: refused."""
    from hub.errors import ConfigError
    from hub.runtime.api import SinkRecord
    from hub.runtime.transforms.chain import build_chain
    from hub.runtime.transforms.regex_router import RegexRouter
    from hub.runtime.transforms.timestamp_router import TimestampRouter

    stages = build_chain(config).stages
    for st in stages:
        if isinstance(st.transform, TimestampRouter):
            raise ConfigError(
                f"transforms.{st.alias} (TimestampRouter) writes a table per period: hub verify "
                "compares a source table with one sink table"
            )
    routers = [st for st in stages if isinstance(st.transform, RegexRouter)]
    if not routers:
        return lambda topic: topic

    def route(topic: str) -> str:
        record = SinkRecord(topic, 0, 0, 0, None, None)
        for st in routers:
            record = st.apply(record) or record
        return record.topic

    return route
