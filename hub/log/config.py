"""Per-topic configuration, under Kafka's property names and defaults.

``TopicConfig.parse({"retention.ms": "3600000"})`` validates strings as the CLI passes them;
``to_properties()`` gives back the non-default ones for ``topic.json`` and ``describe``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.errors import ConfigError

DAY_MS = 24 * 3600 * 1000


class TopicConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    cleanup_policy: str = Field(
        "delete",
        alias="cleanup.policy",
        description="delete (retention by time/size), compact (newest record per key), or both",
    )
    retention_ms: int = Field(
        7 * DAY_MS, alias="retention.ms", ge=-1, description="delete segments older; -1 = forever"
    )
    retention_bytes: int = Field(
        -1, alias="retention.bytes", ge=-1, description="per-partition size cap; -1 = none"
    )
    segment_bytes: int = Field(
        1 << 30, alias="segment.bytes", ge=1024, le=(1 << 31) - 1, description="roll at this size"
    )
    segment_ms: int = Field(7 * DAY_MS, alias="segment.ms", ge=1, description="roll at this age")
    index_interval_bytes: int = Field(
        4096, alias="index.interval.bytes", ge=1, description="bytes between offset index entries"
    )
    delete_retention_ms: int = Field(
        DAY_MS, alias="delete.retention.ms", ge=0, description="keep tombstones this long (compact)"
    )
    min_compaction_lag_ms: int = Field(
        0, alias="min.compaction.lag.ms", ge=0, description="never compact younger records"
    )
    min_cleanable_dirty_ratio: float = Field(
        0.5, alias="min.cleanable.dirty.ratio", ge=0, le=1, description="compact above this ratio"
    )
    compression_type: Literal["producer", "none", "gzip", "lz4", "zstd"] = Field(
        "producer", alias="compression.type", description="codec for batches written to the topic"
    )
    max_message_bytes: int = Field(
        1048588, alias="max.message.bytes", ge=100, description="largest record batch accepted"
    )
    flush_messages: int | None = Field(
        None, alias="flush.messages", ge=1, description="fsync after this many records"
    )
    flush_ms: int | None = Field(
        None, alias="flush.ms", ge=0, description="fsync at least this often (ms)"
    )

    @field_validator("cleanup_policy")
    @classmethod
    def _policy(cls, v: str) -> str:
        parts = sorted({p.strip() for p in v.split(",") if p.strip()})
        if not parts or any(p not in ("delete", "compact") for p in parts):
            raise ValueError("must be 'delete', 'compact' or 'compact,delete'")
        return ",".join(parts)

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @classmethod
    def parse(cls, props: Mapping[str, Any], where: str = "topic config") -> TopicConfig:
        """Validate Kafka-style properties; every problem at once in one ConfigError."""
        known = {f.alias for f in cls.model_fields.values()}
        unknown = [k for k in props if k not in known]
        problems = [f"{k}: unknown property (known: {', '.join(sorted(known))})" for k in unknown]
        try:
            if not problems:
                return cls.model_validate(dict(props))
        except ValidationError as exc:
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"])
                problems.append(f"{name}={props.get(name)!r}: {err['msg']}")
        raise ConfigError(f"invalid {where}: " + "; ".join(problems))

    def with_overrides(self, props: Mapping[str, Any]) -> TopicConfig:
        merged = self.to_properties(include_defaults=False)
        merged.update({k: v for k, v in props.items()})
        return TopicConfig.parse(merged)

    def to_properties(self, include_defaults: bool = True) -> dict[str, str]:
        data = self.model_dump(by_alias=True, exclude_defaults=not include_defaults)
        return {k: ("" if v is None else str(v)) for k, v in data.items()}
