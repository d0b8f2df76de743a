"""What the change data capture sources (PostgreSQL, MySQL/MariaDB) share as runtime plugins:
the order their records without a key need, and the partitions their truncates allow."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.source.cdc import masks
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


# Debezium's properties that change which rows, values or names are captured, or where they
# go: refused with what to do, never ignored (a config brought from Debezium would capture
# other data with no word). Each: (the value that asks for what hub does anyway, or None:
# refused whatever its value but empty; why and what to do).
_CHANGES_WHAT: dict[str, tuple[tuple[str, ...] | None, str]] = {
    r"snapshot\.select\.statement\.overrides(\..+)?": (None,
        "hub snapshots every row of a captured table and does not run a given SELECT (the "
        "rows it leaves out would be captured): remove it"),
    r"converters": (None,
        "hub runs no Debezium custom converters (Java classes): each column keeps its standard "
        "mapping; remove it"),
    r"gtid\.source\.(includes|excludes)": (None,
        "hub captures the transactions of every GTID source; remove it"),
    r"table\.ignore\.builtin": (("true",),
        "hub never captures the server's system tables; remove it"),
    r"topic\.naming\.strategy": (("(the connector's default)",),  # (see `refused`)
        "hub names a table's topic <topic.prefix>.<schema or database>.<table>, as the "
        "connector's default strategy in Debezium does: remove it, and rename topics with a "
        "RegexRouter transform"),
    r"enable\.time\.adjuster": (("false",),
        "hub keeps the years below 100 of dates and times as the server stores them (Debezium "
        "moves them to 1970-2069 under this, its default): remove it, or set false"),
    r"publish\.via\.partition\.root": (("false",),
        "hub captures each partition as a table of its own; for a partitioned table's changes "
        "under its root's topic, create the publication yourself WITH "
        "(publish_via_partition_root = true), set publication.autocreate.mode: disabled, and "
        "leave the partitions out with table.exclude.list"),
    r"(field|schema)\.name\.adjustment\.mode": (("none",),
        "hub does not adjust field or schema names (names invalid in Avro pass as they "
        "are): remove it, or set none"),
    r"(column|datatype)\.propagate\.source\.type": (None,
        "hub adds no __debezium.source.column.* parameters to its schemas: remove it"),
    r"heartbeat\.topics\.prefix": (("__debezium-heartbeat",),
        "the property is named topic.heartbeat.prefix since Debezium 2.0: use that name"),
}  # fmt: skip
_CHANGES_WHAT_RE = [(re.compile(k), ok, why) for k, (ok, why) in _CHANGES_WHAT.items()]


class CdcSourceConnector(SourceConnector):
    """A change source: truncates are refused with topics of several partitions; Debezium's
    column masking and truncation are read by the tasks (`cdc.masks`), a bad one refused;
    its properties that change what is captured are refused (`_CHANGES_WHAT`)."""

    patterned: ClassVar[tuple[str, ...]] = masks.PROPERTIES

    # Debezium's topic.naming.strategy default for this connector (the other strategy names
    # topics otherwise: <prefix>.<table>)
    default_topic_naming: ClassVar[str] = "io.debezium.schema.SchemaTopicNamingStrategy"

    @classmethod
    def refused(cls, key: str, value: Any) -> str | None:
        if any(re.fullmatch(p, key) for p in masks.PROPERTIES):
            return masks.problem(key, value)
        for pattern, ok, why in _CHANGES_WHAT_RE:
            # (of the connector's Debezium properties only: another's is an unknown one)
            if pattern.fullmatch(key) and any(re.fullmatch(p, key) for p in cls.not_yet):
                given = str(value).strip()
                if key == "topic.naming.strategy":
                    ok = (cls.default_topic_naming,)
                if not given or (ok is not None and given.lower() in (o.lower() for o in ok)):
                    return None  # (what hub does: ignored with not_yet's warning)
                return why
        return None

    @classmethod
    def config_warnings(cls, config: Mapping[str, Any]) -> list[str]:
        channels = str(config.get("notification.enabled.channels", "")).lower().split(",")
        if "jmx" in (c.strip() for c in channels):
            return [
                "notification.enabled.channels: hub has no JMX, so the jmx channel is left out "
                "(the REST API's status and the console show a snapshot's progress; the log "
                "and sink channels send Debezium's notifications)"
            ]
        return []

    @classmethod
    def runtime_problems(cls, config: Any, runtime: Any) -> list[str]:
        return partitions_problems(config, runtime.topic_creation_default_partitions)
