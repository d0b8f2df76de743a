"""``hub validate --connect`` for engine sinks: the target opens, and the sink's role may
create a table where the sink will create its tables (tried in a transaction that is rolled
back, so nothing is left behind)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors.sink.engine.dialect import quote
from hub.errors import describe
from hub.runtime.api import Check

if TYPE_CHECKING:
    from connectors.sink.engine.task import EngineSinkTask


def check_target(
    task_class: type[EngineSinkTask], config: Mapping[str, Any], what: str
) -> list[Check]:
    cfg = task_class.config_class.of(config)
    dialect = task_class().make_dialect(cfg)
    try:
        try:
            dialect.begin()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [Check(f"connect to {what}", False, describe(exc))]
        checks = [Check(f"connect to {what}", True)]
        table = quote(f"_hub_check_{uuid.uuid4().hex[:12]}")
        try:
            dialect.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v VARCHAR)")
            checks.append(Check("may create tables", True))
        except Exception as exc:  # noqa: BLE001
            checks.append(Check("may create tables", False, describe(dialect.translate(exc))))
        return checks
    finally:
        dialect.rollback()
        dialect.close()
