"""Errors of the transforms: a bad ``transforms*``/``predicates*`` config, or a record a
transform cannot handle (Kafka Connect's ``DataException``)."""

from __future__ import annotations

from collections.abc import Sequence

from hub.errors import ConfigError, FatalError


class TransformConfigError(ConfigError):
    """Every problem of a transforms config at once; ``problems`` holds one line each
    (``transforms.route.regex = '(': not a valid regular expression: ...``)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid transforms config:\n{lines}")


class TransformError(FatalError):
    """A record a transform cannot handle: retrying will not help, so it is fatal unless
    ``errors.tolerance`` says to skip it. ``alias`` is set once the chain knows it."""

    def __init__(self, reason: str, *, alias: str | None = None, topic: str | None = None) -> None:
        self.reason = reason
        self.alias = alias
        self.topic = topic
        where = f"transform {alias!r}" if alias else "transform"
        if topic is not None:
            where += f" on a record of topic {topic!r}"
        super().__init__(f"{where}: {reason}")
