"""Kafka's ``Filter``: drop every record; used with a predicate to drop some."""

from __future__ import annotations

from hub.runtime.transforms.base import R, Transform
from hub.runtime.transforms.props import Props


class Filter(Transform):
    def __init__(self, props: Props) -> None:
        pass

    def apply(self, record: R) -> R | None:
        return None
