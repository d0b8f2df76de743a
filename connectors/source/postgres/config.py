"""The PostgreSQL source's properties: Debezium's ``PostgresConnector`` names and defaults.

A Debezium user's config works as it is; properties Debezium has that hub does not implement
are reported by ``hub validate`` with a warning rather than silently ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from hub.runtime.api import ConnectorConfig

SnapshotMode = Literal["initial", "initial_only", "no_data", "never", "always", "when_needed"]


class PostgresSourceConfig(ConnectorConfig):
    # -- connection ------------------------------------------------------------------------
    hostname: str = Field("localhost", alias="database.hostname", description="server host")
    port: int = Field(5432, alias="database.port", ge=1, le=65535, description="server port")
    user: str = Field("postgres", alias="database.user", description="role with REPLICATION")
    password: str = Field("", alias="database.password", description="password (secret)")
    dbname: str = Field(alias="database.dbname", description="database to capture")
    sslmode: str = Field("prefer", alias="database.sslmode", description="libpq sslmode")
    topic_prefix: str = Field(
        alias="topic.prefix",
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="logical server name: topics are <topic.prefix>.<schema>.<table>",
    )
    # -- slot and publication ---------------------------------------------------------------
    plugin_name: Literal["pgoutput"] = Field(
        "pgoutput", alias="plugin.name", description="logical decoding plugin (pgoutput only)"
    )
    slot_name: str = Field(
        "debezium", alias="slot.name", pattern=r"^[a-z0-9_]{1,63}$",
        description="replication slot (lower-case letters, digits, underscores)",
    )  # fmt: skip
    slot_drop_on_stop: bool = Field(
        False, alias="slot.drop.on.stop", description="drop the slot when the task stops"
    )
    publication_name: str = Field(
        "dbz_publication", alias="publication.name", description="publication to stream"
    )
    publication_autocreate_mode: Literal["all_tables", "filtered", "disabled"] = Field(
        "all_tables",
        alias="publication.autocreate.mode",
        description="all_tables: FOR ALL TABLES; filtered: the captured tables; disabled: "
        "the publication must exist",
    )
    pgoutput_streaming: bool = Field(
        False, alias="pgoutput.streaming",
        description="protocol 2 streaming (PostgreSQL 14+): the server sends a large "
        "transaction as it happens instead of spilling it to its disk until the commit; hub "
        "spills it and emits it at the commit",
    )  # fmt: skip
    status_update_interval_ms: int = Field(
        10_000, alias="status.update.interval.ms", ge=100,
        description="how often the confirmed position is reported to the server",
    )  # fmt: skip
    # -- snapshot ---------------------------------------------------------------------------
    snapshot_mode: SnapshotMode = Field(
        "initial", alias="snapshot.mode", description="when to read the tables' existing rows"
    )
    snapshot_fetch_size: int = Field(
        10_240, alias="snapshot.fetch.size", ge=1, description="rows per snapshot chunk"
    )
    snapshot_max_threads: int = Field(
        1, alias="snapshot.max.threads", ge=1, le=64,
        description="connections reading tables, and a big table's key ranges, side by side "
        "in the snapshot",
    )  # fmt: skip
    # -- incremental snapshots ----------------------------------------------------------------
    signal_data_collection: str = Field(
        "", alias="signal.data.collection",
        description="<schema>.<table> of the signal table (id text PRIMARY KEY, type text, "
        "data text); insert an execute-snapshot row there to snapshot tables while streaming",
    )  # fmt: skip
    incremental_snapshot_chunk_size: int = Field(
        1024, alias="incremental.snapshot.chunk.size", ge=1,
        description="rows per chunk of an incremental snapshot",
    )  # fmt: skip
    # -- filters ----------------------------------------------------------------------------
    schema_include_list: str = Field("", alias="schema.include.list")
    schema_exclude_list: str = Field("", alias="schema.exclude.list")
    table_include_list: str = Field("", alias="table.include.list")
    table_exclude_list: str = Field("", alias="table.exclude.list")
    column_include_list: str = Field("", alias="column.include.list")
    column_exclude_list: str = Field("", alias="column.exclude.list")
    message_key_columns: str = Field(
        "", alias="message.key.columns",
        description="<schema>.<table>:<col>[,<col>...] entries separated by ';'",
    )  # fmt: skip
    skipped_operations: str = Field(
        "t", alias="skipped.operations",
        description="comma-separated ops not to emit: c, u, d, t; 'none' emits all",
    )  # fmt: skip
    # -- events -----------------------------------------------------------------------------
    tombstones_on_delete: bool = Field(True, alias="tombstones.on.delete")
    unavailable_value_placeholder: str = Field(
        "__debezium_unavailable_value", alias="unavailable.value.placeholder",
        description="stands for an unchanged TOASTed value the server did not send",
    )  # fmt: skip
    provide_transaction_metadata: bool = Field(False, alias="provide.transaction.metadata")
    include_messages: bool = Field(
        True, alias="logical.decoding.message.include",
        description="emit pg_logical_emit_message() messages to <topic.prefix>.message",
    )  # fmt: skip
    decimal_handling_mode: Literal["precise", "double", "string"] = Field(
        "precise", alias="decimal.handling.mode"
    )
    time_precision_mode: Literal["adaptive", "adaptive_time_microseconds", "connect"] = Field(
        "adaptive", alias="time.precision.mode"
    )
    binary_handling_mode: Literal["bytes", "base64", "base64-url-safe", "hex"] = Field(
        "bytes", alias="binary.handling.mode"
    )
    hstore_handling_mode: Literal["json", "map"] = Field("json", alias="hstore.handling.mode")
    interval_handling_mode: Literal["numeric", "string"] = Field(
        "numeric", alias="interval.handling.mode"
    )
    money_fraction_digits: int = Field(2, alias="money.fraction.digits", ge=0)
    include_unknown_datatypes: bool = Field(
        False, alias="include.unknown.datatypes",
        description="send columns of types Debezium has no schema for (box, circle, "
        "tsvector, pg_lsn, some arrays) as their text; by default they are left out",
    )  # fmt: skip
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

    @field_validator("signal_data_collection")
    @classmethod
    def _signal(cls, value: str) -> str:
        if value and value.count(".") != 1:
            raise ValueError("use <schema>.<table>, e.g. public.debezium_signal")
        return value

    @model_validator(mode="after")
    def _streaming(self) -> PostgresSourceConfig:
        if self.pgoutput_streaming and self.include_messages:
            # a transactional message in a savepoint that is rolled back before its first row
            # change reaches a streaming client tagged like the transaction's own: which path
            # delivered a transaction would decide whether the message is an event, and a
            # replay must give the same events as the first run
            raise ValueError(
                "pgoutput.streaming cannot tell a logical message of a rolled-back savepoint "
                "from one of its transaction: set logical.decoding.message.include=false to "
                "use it (or pgoutput.streaming=false to keep the messages)"
            )
        return self

    @model_validator(mode="after")
    def _filters(self) -> PostgresSourceConfig:
        """The include/exclude lists and message.key.columns compile as the task will compile
        them, so `hub validate` catches what the running source would refuse."""
        from connectors.source.postgres.filters import Filters, patterns
        from hub.errors import ConfigError

        problems = []
        for kind in ("schema", "table", "column"):
            for which in ("include", "exclude"):
                try:
                    patterns(f"{kind}.{which}.list", getattr(self, f"{kind}_{which}_list"))
                except ConfigError as exc:
                    problems.append(str(exc))
        if not problems:
            try:
                Filters.from_config(self)
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def skipped(self) -> frozenset[str]:
        if self.skipped_operations == "none":
            return frozenset()
        return frozenset(o for o in self.skipped_operations.split(",") if o)

    def conninfo(self, **extra: str) -> str:
        """A libpq connection string (the password included: never log it)."""
        from psycopg.conninfo import make_conninfo

        params: dict[str, str | int] = {
            "host": self.hostname, "port": self.port, "user": self.user,
            "dbname": self.dbname, "sslmode": self.sslmode,
            "application_name": f"hub-{self.topic_prefix}",
            # the text forms the type mapping reads, whatever the database or role sets
            "options": "-c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 "
            "-c bytea_output=hex -c TimeZone=UTC",
        }  # fmt: skip
        if self.password:
            params["password"] = self.password
        params.update(extra)
        return make_conninfo("", **params)

    def where(self) -> str:
        """Where the connector points, for messages (no secret in it)."""
        return f"{self.user}@{self.hostname}:{self.port}/{self.dbname}"
