"""What every engine sink's connector class shares: ``hub verify`` reads its tables back
through the task's dialect, and ``hub validate --connect`` opens the target and tries to
create a table there (`checks`). A sink names its target for those messages (`where`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.sink.engine.task import EngineSinkTask
from hub.runtime.api import Check, SinkConnector


class EngineSink(SinkConnector):
    task_class: ClassVar[type[EngineSinkTask[Any]]]

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
