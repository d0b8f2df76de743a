"""What every engine sink's connector class shares: ``hub verify`` reads its tables back
through the task's dialect, and ``hub validate --connect`` opens the target and tries to
create a table there (`checks`). A sink names its target for those messages (`where`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.sink.engine.task import EngineSinkTask
from hub.runtime.api import Check, SinkConnector

_UNWRAP = ("io.debezium.transforms.ExtractNewRecordState", "ExtractNewRecordState", "unwrap")


def deletes_dropped(config: Mapping[str, Any]) -> list[str]:
    """A warning per ExtractNewRecordState of the config that drops delete events (its
    default, Debezium's ``delete.handling.mode=drop``) in front of an engine sink that deletes
    rows: the target keeps every deleted row, without a word at run time."""
    if str(config.get("delete.enabled", "")).strip().lower() == "false":
        return []
    if str(config.get("primary.key.mode", "")).strip().lower() == "none":
        return []  # (no key: deletes are off by default)
    out = []
    for name in (n.strip() for n in str(config.get("transforms", "")).split(",")):
        at = f"transforms.{name}."
        if not name or str(config.get(at + "type", "")).strip() not in _UNWRAP:
            continue
        modes = ("delete.tombstone.handling.mode", "delete.handling.mode")
        if any(str(config.get(at + m, "")).strip() for m in modes):
            continue
        out.append(
            f"transforms.{name} (ExtractNewRecordState) drops delete events by default "
            "(Debezium's delete.handling.mode=drop), so this sink deletes no row although "
            f"delete.enabled is true: set transforms.{name}.delete.tombstone.handling.mode: "
            "tombstone (or rewrite) to apply deletes, or delete.enabled: false to keep "
            "deleted rows and be told nothing"
        )
    return out


class EngineSink(SinkConnector):
    task_class: ClassVar[type[EngineSinkTask[Any]]]

    @classmethod
    def config_warnings(cls, config: Mapping[str, Any]) -> list[str]:
        return deletes_dropped(config)

    @classmethod
    def where(cls, config: Mapping[str, Any]) -> str:
        """The target as messages name it, without credentials."""
        return f"the {cls.name} target"

    @classmethod
    def verify_target(cls, config: Mapping[str, Any]) -> Any:
        """Its tables as ``hub verify`` reads them back."""
        from connectors.sink.engine.verify import EngineTarget

        return EngineTarget(cls.task_class, config)

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> list[Check]:
        from connectors.sink.engine.checks import check_target

        return check_target(cls.task_class, config, cls.where(config))
