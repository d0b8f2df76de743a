"""Single message transforms (SMTs) and predicates, configured as in Kafka Connect/Debezium.

::

    chain = build_chain(connector_config)      # TransformConfigError lists every problem
    record = chain.apply(record)               # a new record, or None: dropped
    chain.properties()                         # the config keys the chain consumed

Transforms: ``ExtractNewRecordState`` (``unwrap``), ``RegexRouter``, ``TimestampRouter``,
``InsertField$Key/$Value``, ``ReplaceField$Key/$Value``, ``MaskField$Key/$Value``,
``ValueToKey``, ``Filter``. Predicates: ``TopicNameMatches``, ``RecordIsTombstone``,
``HasHeaderKey``. Each is named by its Kafka/Debezium class name or its short name.

The transforms themselves (``registry``: ~30 ms of imports) load when a config names one, or
when ``PREDICATES``/``TRANSFORMS`` is read: a connector without transforms never loads them.
"""

from typing import TYPE_CHECKING, Any

from hub.runtime.transforms.base import KEY, VALUE, Predicate, Side, Transform
from hub.runtime.transforms.chain import Stage, TransformChain, build_chain
from hub.runtime.transforms.errors import TransformConfigError, TransformError

if TYPE_CHECKING:
    from hub.runtime.transforms.registry import PREDICATES, TRANSFORMS


def __getattr__(name: str) -> Any:
    if name in ("PREDICATES", "TRANSFORMS"):
        from hub.runtime.transforms import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "KEY",
    "PREDICATES",
    "TRANSFORMS",
    "VALUE",
    "Predicate",
    "Side",
    "Stage",
    "Transform",
    "TransformChain",
    "TransformConfigError",
    "TransformError",
    "build_chain",
]
