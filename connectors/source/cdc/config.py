"""The Debezium properties every change-data-capture source has, with Debezium's names and
defaults: topic prefix, filters, snapshot pacing, incremental snapshots, event options,
type handling modes, polling and heartbeats. A connector's config class adds its own
(connection, ``snapshot.mode`` values, namespace lists: ``schema.*`` for PostgreSQL,
``database.*`` for MySQL)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hub.runtime.api import ConnectorConfig

if TYPE_CHECKING:
    from connectors.source.cdc.notifications import Notifier


class CdcSourceConfig(ConnectorConfig):
    namespace: ClassVar[str] = "schema"  # what holds a table: its lists are <ns>.*.list

    topic_prefix: str = Field(
        alias="topic.prefix",
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="logical server name: topics are <topic.prefix>.<namespace>.<table>",
    )
    # -- snapshot ---------------------------------------------------------------------------
    snapshot_fetch_size: int = Field(
        10_240, alias="snapshot.fetch.size", ge=1, description="rows per snapshot chunk"
    )
    snapshot_max_threads: int = Field(
        1, alias="snapshot.max.threads", ge=1, le=64,
        description="connections reading tables side by side in the snapshot (PostgreSQL: "
        "also a big table's key ranges; MySQL: needs the global read lock)",
    )  # fmt: skip
    database_initial_statements: str = Field(
        "", alias="database.initial.statements",
        description="SQL statements run on each connection the task opens to read the "
        "database (not the replication or binlog one), separated by ';' (';;' for a ';' "
        "inside one), e.g. SET statement_timeout = '10min'",
    )  # fmt: skip
    # -- incremental snapshots ----------------------------------------------------------------
    signal_data_collection: str = Field(
        "", alias="signal.data.collection",
        description="<namespace>.<table> of the signal table (id PRIMARY KEY, type, data); "
        "insert an execute-snapshot row there to snapshot tables while streaming",
    )  # fmt: skip
    snapshot_include_collection_list: str = Field(
        "", alias="snapshot.include.collection.list",
        description="regular expressions of the captured tables a snapshot (not an "
        "incremental or blocking one) reads; the others are streamed only. Empty: every one",
    )  # fmt: skip
    incremental_snapshot_chunk_size: int = Field(
        1024, alias="incremental.snapshot.chunk.size", ge=1,
        description="rows per chunk of an incremental snapshot",
    )  # fmt: skip
    # -- filters ----------------------------------------------------------------------------
    table_include_list: str = Field("", alias="table.include.list")
    table_exclude_list: str = Field("", alias="table.exclude.list")
    column_include_list: str = Field("", alias="column.include.list")
    column_exclude_list: str = Field("", alias="column.exclude.list")
    message_key_columns: str = Field(
        "", alias="message.key.columns",
        description="<namespace>.<table>:<col>[,<col>...] entries separated by ';'",
    )  # fmt: skip
    skipped_operations: str = Field(
        "t", alias="skipped.operations",
        description="comma-separated ops not to emit: c, u, d, t; 'none' emits all",
    )  # fmt: skip
    # -- events -----------------------------------------------------------------------------
    tombstones_on_delete: bool = Field(True, alias="tombstones.on.delete")
    provide_transaction_metadata: bool = Field(False, alias="provide.transaction.metadata")
    decimal_handling_mode: Literal["precise", "double", "string"] = Field(
        "precise", alias="decimal.handling.mode"
    )
    binary_handling_mode: Literal["bytes", "base64", "base64-url-safe", "hex"] = Field(
        "bytes", alias="binary.handling.mode"
    )
    # -- pacing -----------------------------------------------------------------------------
    max_batch_size: int = Field(2048, alias="max.batch.size", ge=1, description="records/poll")
    poll_interval_ms: int = Field(
        500, alias="poll.interval.ms", ge=1, description="longest wait for changes per poll"
    )
    heartbeat_interval_ms: int = Field(
        0, alias="heartbeat.interval.ms", ge=0,
        description="when > 0, write a heartbeat record this often on a quiet stream (and run "
        "heartbeat.action.query)",
    )  # fmt: skip
    heartbeat_topics_prefix: str = Field(
        "__debezium-heartbeat", alias="topic.heartbeat.prefix",
        description="heartbeat records go to <topic.heartbeat.prefix>.<topic.prefix>",
    )  # fmt: skip
    heartbeat_action_query: str = Field(
        "", alias="heartbeat.action.query",
        description="SQL run at each heartbeat, e.g. an UPDATE of a heartbeat table",
    )  # fmt: skip
    # -- notifications ----------------------------------------------------------------------
    notification_enabled_channels: str = Field(
        "", alias="notification.enabled.channels",
        description="where snapshot progress notifications go, as Debezium's: sink (records "
        "in notification.sink.topic.name), log (lines in hub's log); comma-separated",
    )  # fmt: skip
    notification_sink_topic_name: str = Field(
        "", alias="notification.sink.topic.name",
        description="the topic of the sink channel's notifications",
    )  # fmt: skip

    @staticmethod
    def system_namespace(name: str) -> bool:
        """The database's own namespaces, never captured."""
        return False

    @field_validator("skipped_operations")
    @classmethod
    def _ops(cls, value: str) -> str:
        ops = {o.strip() for o in value.split(",") if o.strip()}
        if ops == {"none"}:
            return "none"
        bad = ops - {"c", "u", "d", "t"}
        if bad:
            raise ValueError(f"unknown operation(s) {sorted(bad)}: use c, u, d, t or none")
        return ",".join(sorted(ops))

    @field_validator("notification_enabled_channels")
    @classmethod
    def _channels(cls, value: str) -> str:
        from connectors.source.cdc.notifications import channels

        return ",".join(channels(value))

    @model_validator(mode="after")
    def _notification_topic(self) -> Self:
        if "sink" in self.channels() and not self.notification_sink_topic_name.strip():
            raise ValueError(
                "notification.enabled.channels has sink: set notification.sink.topic.name, "
                "the topic its notifications go to"
            )
        return self

    def channels(self) -> tuple[str, ...]:
        """The enabled notification channels."""
        return tuple(c for c in self.notification_enabled_channels.split(",") if c)

    def notifier(self) -> Notifier:
        """A `cdc.notifications.Notifier` for this config's channels."""
        from connectors.source.cdc.notifications import Notifier

        return Notifier(self.channels(), self.notification_sink_topic_name.strip(),
                        self.topic_prefix)  # fmt: skip

    @field_validator("signal_data_collection")
    @classmethod
    def _signal(cls, value: str) -> str:
        if value and value.count(".") != 1:
            raise ValueError(f"use <{cls.namespace}>.<table>, e.g. inventory.debezium_signal")
        return value

    @field_validator(
        "table_include_list", "table_exclude_list", "column_include_list",
        "column_exclude_list", "schema_include_list", "schema_exclude_list",
        "database_include_list", "database_exclude_list", "snapshot_include_collection_list",
        check_fields=False,
    )  # fmt: skip
    @classmethod
    def _patterns(cls, value: str, info: ValidationInfo) -> str:
        """Each include/exclude list compiles as the task will compile it, checked on its
        own: a bad one is reported beside the other properties' problems (as a check of the
        whole model it had been hidden by any of them)."""
        from connectors.source.cdc.filters import patterns
        from hub.errors import ConfigError

        try:
            patterns(str(info.field_name).replace("_", "."), value)
        except ConfigError as exc:
            raise ValueError(str(exc).partition(": ")[2]) from None
        return value

    @model_validator(mode="after")
    def _filters(self) -> Self:
        """message.key.columns and the lists together, as the task will read them, so
        `hub validate` catches what the running source would refuse."""
        from connectors.source.cdc.filters import Filters
        from hub.errors import ConfigError

        try:
            Filters.from_config(self)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    def snapshots(self, table: str) -> bool:
        """Whether a snapshot reads the captured table ``<namespace>.<table>``
        (``snapshot.include.collection.list``: its expressions match the name, or the name
        with each part double-quoted, whole and ignoring case, as Debezium's)."""
        wanted = _snapshot_patterns(self.snapshot_include_collection_list)
        if not wanted:
            return True
        quoted = ".".join(f'"{part}"' for part in table.split(".", 1))
        return any(p.fullmatch(table) or p.fullmatch(quoted) for p in wanted)

    def skipped(self) -> frozenset[str]:
        if self.skipped_operations == "none":
            return frozenset()
        return frozenset(o for o in self.skipped_operations.split(",") if o)


@functools.lru_cache(maxsize=16)
def _snapshot_patterns(value: str) -> tuple[re.Pattern[str], ...]:
    from connectors.source.cdc.filters import patterns

    return patterns("snapshot.include.collection.list", value)


def partitions_problems(cfg: CdcSourceConfig, partitions: int) -> list[str]:
    """A change source whose topics get several partitions but that emits truncates: a
    truncate is one record in one partition, so a sink would apply it out of order with the
    table's changes in the others (deleting rows written after it)."""
    if partitions > 1 and "t" not in cfg.skipped():
        return [
            f"topic.creation.default.partitions = {partitions} with truncate events "
            "(skipped.operations leaves 't' out): a truncate is one record in one partition, "
            "so a sink would apply it out of order with the table's changes in the other "
            "partitions (deleting rows written after it); keep 1 partition, or skip truncates "
            "(skipped.operations: t)"
        ]
    return []


def one_partition_reason(cfg: CdcSourceConfig, topic: str) -> str | None:
    """`SourceTask.one_partition` of a change source: a table's topic, while truncates are
    emitted (its truncate event is one record in one partition): known by its name, at the
    first write (a topic a routing transform gives is checked at its first truncate, which
    is `SourceRecord.ordered`)."""
    prefix = cfg.topic_prefix
    own = (prefix + ".transaction", prefix + ".message")  # (metadata, logical messages)
    table = topic.startswith(prefix + ".") and topic not in own
    if "t" in cfg.skipped() or not table:
        return None
    return "the connector writes truncate events to it (skipped.operations leaves 't' out)"


def initial_statements(text: str) -> list[str]:
    """``database.initial.statements`` split as Debezium splits it: at each ';', a doubled
    ';;' standing for a ';' inside a statement; blank ones dropped."""
    out, cur, i = [], [], 0
    while i < len(text):
        if text[i] == ";":
            if text[i + 1 : i + 2] == ";":
                cur.append(";")
                i += 2
                continue
            out.append("".join(cur))
            cur = []
        else:
            cur.append(text[i])
        i += 1
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]
