"""Per-topic configuration, under Kafka's property names and defaults.

``TopicConfig.parse({"retention.ms": "3600000"})`` validates values as the CLI passes them
(strings) or as Python values; ``to_properties()`` gives back the non-default ones for
``topic.json`` and ``describe``. Plain dataclasses, so importing the log stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from hub.errors import ConfigError

DAY_MS = 24 * 3600 * 1000
_INT_MAX = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class _Prop:
    name: str
    kind: type
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False
    doc: str = ""


_PROPS: dict[str, _Prop] = {
    p.name: p
    for p in (
        _Prop("cleanup.policy", str, doc="delete, compact, or compact,delete"),
        _Prop("retention.ms", int, -1, _INT_MAX, doc="delete segments older; -1 = forever"),
        _Prop("retention.bytes", int, -1, _INT_MAX, doc="per-partition size cap; -1 = none"),
        _Prop("segment.bytes", int, 1024, (1 << 31) - 1, doc="roll a segment at this size"),
        _Prop("segment.ms", int, 1, _INT_MAX, doc="roll a segment at this age"),
        _Prop("index.interval.bytes", int, 1, _INT_MAX, doc="bytes between offset index entries"),
        _Prop("delete.retention.ms", int, 0, _INT_MAX, doc="keep tombstones this long (compact)"),
        _Prop("min.compaction.lag.ms", int, 0, _INT_MAX, doc="never compact younger records"),
        _Prop("min.cleanable.dirty.ratio", float, 0, 1, doc="compact above this dirty ratio"),
        _Prop(
            "compression.type",
            str,
            choices=("producer", "none", "gzip", "lz4", "zstd"),
            doc="codec of batches written to the topic; producer = the producer's choice",
        ),  # fmt: skip
        _Prop("max.message.bytes", int, 100, _INT_MAX, doc="largest record batch accepted"),
        _Prop("flush.messages", int, 1, _INT_MAX, nullable=True, doc="fsync after N records"),
        _Prop("flush.ms", int, 0, _INT_MAX, nullable=True, doc="fsync at least this often (ms)"),
    )
}


@dataclass(frozen=True, slots=True)
class TopicConfig:
    cleanup_policy: str = "delete"
    retention_ms: int = 7 * DAY_MS
    retention_bytes: int = -1
    segment_bytes: int = 1 << 30
    segment_ms: int = 7 * DAY_MS
    index_interval_bytes: int = 4096
    delete_retention_ms: int = DAY_MS
    min_compaction_lag_ms: int = 0
    min_cleanable_dirty_ratio: float = 0.5
    compression_type: str = "producer"
    max_message_bytes: int = 1048588
    flush_messages: int | None = None
    flush_ms: int | None = None

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @staticmethod
    def describe_properties() -> dict[str, str]:
        """Property name -> one-line documentation."""
        return {name: p.doc for name, p in _PROPS.items()}

    @classmethod
    def parse(cls, props: Mapping[str, Any], where: str = "topic config") -> TopicConfig:
        """Validate Kafka-style properties; every problem at once in one ConfigError."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, raw in props.items():
            prop = _PROPS.get(name)
            if prop is None:
                problems.append(f"{name}: unknown property (known: {', '.join(sorted(_PROPS))})")
                continue
            try:
                values[name.replace(".", "_")] = _convert(prop, raw)
            except ValueError as exc:
                problems.append(f"{name}={raw!r}: {exc}")
        if problems:
            raise ConfigError(f"invalid {where}: " + "; ".join(problems))
        return cls(**values)

    def with_overrides(self, props: Mapping[str, Any], where: str = "topic config") -> TopicConfig:
        update = TopicConfig.parse(props, where=where)
        return replace(
            self, **{k.replace(".", "_"): getattr(update, k.replace(".", "_")) for k in props}
        )

    def to_properties(self, include_defaults: bool = True) -> dict[str, str]:
        default = TopicConfig()
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if include_defaults or value != getattr(default, f.name):
                out[f.name.replace("_", ".")] = "" if value is None else str(value)
        return out


def _convert(prop: _Prop, raw: Any) -> Any:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if prop.nullable:
            return None
        raise ValueError("a value is required")
    if prop.kind is str:
        value = str(raw).strip()
        if prop.name == "cleanup.policy":
            parts = sorted({p.strip() for p in value.split(",") if p.strip()})
            if not parts or any(p not in ("delete", "compact") for p in parts):
                raise ValueError("must be 'delete', 'compact' or 'compact,delete'")
            return ",".join(parts)
        if prop.choices and value not in prop.choices:
            raise ValueError(f"must be one of {', '.join(prop.choices)}")
        return value
    try:
        if isinstance(raw, bool):
            raise ValueError
        number: float = prop.kind(str(raw).strip()) if isinstance(raw, str) else prop.kind(raw)
        if prop.kind is int and not isinstance(raw, str) and number != raw:
            raise ValueError
    except ValueError:
        raise ValueError(f"must be {'an integer' if prop.kind is int else 'a number'}") from None
    if prop.minimum is not None and number < prop.minimum:
        raise ValueError(f"must be at least {prop.minimum:g}")
    if prop.maximum is not None and number > prop.maximum:
        raise ValueError(f"must be at most {prop.maximum:g}")
    return number
