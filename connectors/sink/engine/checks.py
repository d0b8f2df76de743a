"""``hub validate --connect`` for engine sinks: the target opens, and the sink's role may
create a table where the sink will create its tables and load and merge a row into it (tried in
a transaction that is rolled back, so nothing is left behind; on a warehouse, whose DDL
commits, the table is dropped again)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors.sink.engine.dialect import Merge, StagedColumn
from connectors.sink.engine.naming import TableRef
from connectors.sink.engine.types import INT32, STRING, ColumnType
from hub.errors import describe
from hub.runtime.api import Check

if TYPE_CHECKING:
    from connectors.sink.engine.task import EngineSinkTask


def check_target(
    task_class: type[EngineSinkTask[Any]], config: Mapping[str, Any], what: str
) -> list[Check]:
    cfg = task_class.config_class.of(config)
    dialect = task_class().make_dialect(cfg)
    try:
        try:
            dialect.begin()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [Check(f"connect to {what}", False, describe(exc))]
        checks = [Check(f"connect to {what}", True)]
        table = TableRef(None, f"_hub_check_{uuid.uuid4().hex[:12]}")
        types = {"id": ColumnType(INT32), "v": ColumnType(STRING)}
        try:
            dialect.create_table(table, {n: dialect.sql_type(t) for n, t in types.items()}, ["id"])
            checks.append(Check("may create tables", True))
        except Exception as exc:  # noqa: BLE001
            checks.append(Check("may create tables", False, describe(dialect.translate(exc))))
            return checks
        try:
            try:  # one row staged (a bulk load on a warehouse) and merged into the table
                rows = [StagedColumn(n, t, [1 if n == "id" else "x"]) for n, t in types.items()]
                dialect.merge(Merge(table, ("id",), rows, [], {}, False, True))
                if not dialect.transactional_ddl:
                    dialect.commit()  # a warehouse runs its writes at commit
                checks.append(Check("may load and merge rows", True))
            except Exception as exc:  # noqa: BLE001
                what = describe(dialect.translate(exc))
                checks.append(Check("may load and merge rows", False, what))
        finally:
            if not dialect.transactional_ddl:  # committed: no rollback takes it away
                try:
                    dialect.begin()
                    dialect.drop_table(table)
                except Exception as exc:  # noqa: BLE001
                    checks.append(Check(f"drop the test table {table}", False, describe(exc)))
        return checks
    finally:
        dialect.rollback()
        dialect.close()
