"""The transforms and predicates hub has, under their Kafka/Debezium class names and short
names; ``$Key``/``$Value`` name the side a field transform works on, as in Kafka."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

from hub.runtime.transforms.base import KEY, VALUE, Predicate, Transform
from hub.runtime.transforms.filter import Filter
from hub.runtime.transforms.insert_field import InsertField
from hub.runtime.transforms.mask_field import MaskField
from hub.runtime.transforms.predicates import HasHeaderKey, RecordIsTombstone, TopicNameMatches
from hub.runtime.transforms.props import Props
from hub.runtime.transforms.regex_router import RegexRouter
from hub.runtime.transforms.replace_field import ReplaceField
from hub.runtime.transforms.timestamp_router import TimestampRouter
from hub.runtime.transforms.unwrap import UNSUPPORTED, ExtractNewRecordState
from hub.runtime.transforms.value_to_key import ValueToKey

T = TypeVar("T", Transform, Predicate)
KAFKA = "org.apache.kafka.connect.transforms."
DEBEZIUM = "io.debezium.transforms."


@dataclass(frozen=True, slots=True)
class Plugin(Generic[T]):
    type_name: str  # the short name messages use
    factory: Callable[[Props], T]
    unsupported: Mapping[str, str] = field(default_factory=dict)
    class_name: str = ""  # Kafka Connect's (or Debezium's) class, as a dead letter names it


def _transforms() -> dict[str, Plugin[Transform]]:
    out: dict[str, Plugin[Transform]] = {}
    unwrap = Plugin("ExtractNewRecordState", ExtractNewRecordState, UNSUPPORTED,
                    DEBEZIUM + "ExtractNewRecordState")  # fmt: skip
    for name in (DEBEZIUM + "ExtractNewRecordState", "ExtractNewRecordState", "unwrap"):
        out[name] = unwrap
    plain: dict[str, Callable[[Props], Transform]] = {
        "RegexRouter": RegexRouter,
        "TimestampRouter": TimestampRouter,
        "ValueToKey": ValueToKey,
        "Filter": Filter,
    }
    for name, cls in plain.items():
        out[KAFKA + name] = out[name] = Plugin(name, cls, class_name=KAFKA + name)
    for base in (InsertField, ReplaceField, MaskField):
        for side in (KEY, VALUE):
            name = base.__name__ + side.suffix
            out[KAFKA + name] = out[name] = Plugin(
                name, partial(base, side=side), class_name=KAFKA + name
            )
    return out


def _predicates() -> dict[str, Plugin[Predicate]]:
    out: dict[str, Plugin[Predicate]] = {}
    for cls in (TopicNameMatches, RecordIsTombstone, HasHeaderKey):
        name = cls.__name__
        out[KAFKA + "predicates." + name] = out[name] = Plugin(name, cls)
    return out


TRANSFORMS = _transforms()
PREDICATES = _predicates()

# Kafka Connect and Debezium transforms hub does not have (yet): named in the message.
NOT_YET = {
    *(KAFKA + n for n in ("DropHeaders", "InsertHeader")),
    *(
        KAFKA + n + side
        for n in ("Cast", "ExtractField", "Flatten", "HeaderFrom", "HoistField")
        + ("SetSchemaMetadata", "TimestampConverter")
        for side in ("$Key", "$Value")
    ),
    *(
        DEBEZIUM + n
        for n in ("ByLogicalTableRouter", "ContentBasedRouter", "ExtractChangedRecordState")
        + ("Filter", "HeaderToValue", "TimezoneConverter", "outbox.EventRouter")
        + ("partitions.PartitionRouting", "partitions.ComputePartition")
    ),
}


def unknown_type(kind: str, name: str, known: Mapping[str, Plugin[T]]) -> str:
    """Why ``name`` is not a type of ``kind`` ("transform", "predicate"), and what is."""
    short = name.rsplit(".", 1)[-1]
    names: list[str] = sorted({p.type_name for p in known.values()})
    if name in NOT_YET or ("." not in name and any(n.endswith("." + short) for n in NOT_YET)):
        why = f"a {kind} hub does not implement yet"
    elif short + "$Value" in known:
        why = f"name the side: {short}$Key or {short}$Value"
    else:
        why = f"unknown {kind} type"
        close = difflib.get_close_matches(short, [*names, *known], n=1)
        if close:
            why += f" (did you mean {close[0]}?)"
    extra = " (also: unwrap)" if kind == "transform" else ""
    return f"{why}; hub has {', '.join(names)}{extra}"
