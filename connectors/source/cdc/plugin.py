"""What the change data capture sources (PostgreSQL, MySQL/MariaDB) share as runtime plugins:
the order their records without a key need, and the partitions their truncates allow."""

from __future__ import annotations

import re
from typing import Any

from connectors.source.cdc.config import one_partition_reason, partitions_problems
from hub.runtime.api import SourceConnector, SourceTask


class CdcSourceTask(SourceTask):
    """A change source's task: its records without a key (a keyless table's changes,
    truncates) stay in order, in one partition; a table's topic has one partition while
    truncates are emitted. ``cfg`` is its `CdcSourceConfig`, set by ``start``."""

    keyless_in_order = True

    def one_partition(self, topic: str) -> str | None:
        cfg = getattr(self, "cfg", None)
        return None if cfg is None else one_partition_reason(cfg, topic)


# Debezium's column.mask.with.<n>.chars, column.mask.hash[.v2].<algorithm>.with.salt.<salt>,
# column.truncate.to.<n>.chars
_MASKING = re.compile(r"column\.(mask|truncate)\..+")


class CdcSourceConnector(SourceConnector):
    """A change source: truncates are refused with topics of several partitions; Debezium's
    column masking and truncation are refused (not implemented: ignoring them would capture
    the values they were set to hide)."""

    @classmethod
    def refused(cls, key: str, value: Any) -> str | None:
        if _MASKING.fullmatch(key):
            return (
                "hub's sources do not mask or truncate columns yet, and capturing the values "
                "as they are is not what this asks: use the MaskField transform instead "
                "(transforms: mask, transforms.mask.type: MaskField, transforms.mask.fields: "
                "<column>, transforms.mask.replacement: ***), or remove it"
            )
        return None

    @classmethod
    def runtime_problems(cls, config: Any, runtime: Any) -> list[str]:
        return partitions_problems(config, runtime.topic_creation_default_partitions)
