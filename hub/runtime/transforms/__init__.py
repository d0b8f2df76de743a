"""Single message transforms (SMTs) and predicates, configured as in Kafka Connect/Debezium.

::

    chain = build_chain(connector_config)      # TransformConfigError lists every problem
    record = chain.apply(record)               # a new record, or None: dropped
    chain.properties()                         # the config keys the chain consumed

Transforms: ``ExtractNewRecordState`` (``unwrap``), ``RegexRouter``, ``TimestampRouter``,
``InsertField$Key/$Value``, ``ReplaceField$Key/$Value``, ``MaskField$Key/$Value``,
``ValueToKey``, ``Filter``. Predicates: ``TopicNameMatches``, ``RecordIsTombstone``,
``HasHeaderKey``. Each is named by its Kafka/Debezium class name or its short name.
"""

from hub.runtime.transforms.base import KEY, VALUE, Predicate, Side, Transform
from hub.runtime.transforms.chain import Stage, TransformChain, build_chain
from hub.runtime.transforms.errors import TransformConfigError, TransformError
from hub.runtime.transforms.registry import PREDICATES, TRANSFORMS

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
