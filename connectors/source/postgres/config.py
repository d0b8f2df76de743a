"""The PostgreSQL source's properties: Debezium's ``PostgresConnector`` names and defaults.

A Debezium user's config works as it is; properties Debezium has that hub does not implement
are reported by ``hub validate`` with a warning rather than silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from connectors.source.cdc.config import CdcSourceConfig

SnapshotMode = Literal["initial", "initial_only", "no_data", "never", "always", "when_needed"]


class PostgresSourceConfig(CdcSourceConfig):
    namespace: ClassVar[str] = "schema"
    # -- connection ------------------------------------------------------------------------
    hostname: str = Field("localhost", alias="database.hostname", description="server host")
    port: int = Field(5432, alias="database.port", ge=1, le=65535, description="server port")
    user: str = Field("postgres", alias="database.user", description="role with REPLICATION")
    password: str = Field("", alias="database.password", description="password (secret)")
    dbname: str = Field(alias="database.dbname", description="database to capture")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "prefer", alias="database.sslmode",
        description="libpq's sslmode: verify-ca checks the server's certificate against "
        "database.sslrootcert, verify-full also that it names database.hostname",
    )  # fmt: skip
    sslrootcert: str = Field(
        "", alias="database.sslrootcert",
        description="PEM file of the CAs that sign the server's certificate",
    )  # fmt: skip
    sslcert: str = Field("", alias="database.sslcert", description="PEM client certificate")
    sslkey: str = Field("", alias="database.sslkey", description="the client certificate's key")
    sslpassword: str = Field(
        "", alias="database.sslpassword", description="the key's password (secret)"
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
    # -- filters (and the table, column and key lists every CDC source has) -----------------
    schema_include_list: str = Field("", alias="schema.include.list")
    schema_exclude_list: str = Field("", alias="schema.exclude.list")
    # -- events -----------------------------------------------------------------------------
    unavailable_value_placeholder: str = Field(
        "__debezium_unavailable_value", alias="unavailable.value.placeholder",
        description="stands for an unchanged TOASTed value the server did not send",
    )  # fmt: skip
    include_messages: bool = Field(
        True, alias="logical.decoding.message.include",
        description="emit pg_logical_emit_message() messages to <topic.prefix>.message",
    )  # fmt: skip
    message_prefix_include_list: str = Field(
        "", alias="message.prefix.include.list",
        description="only the messages whose prefix one of these regular expressions matches",
    )  # fmt: skip
    message_prefix_exclude_list: str = Field(
        "", alias="message.prefix.exclude.list",
        description="not the messages whose prefix one of these regular expressions matches",
    )  # fmt: skip
    time_precision_mode: Literal["adaptive", "adaptive_time_microseconds", "connect"] = Field(
        "adaptive", alias="time.precision.mode"
    )
    hstore_handling_mode: Literal["json", "map"] = Field("json", alias="hstore.handling.mode")
    interval_handling_mode: Literal["numeric", "string"] = Field(
        "numeric", alias="interval.handling.mode"
    )
    money_fraction_digits: int = Field(2, alias="money.fraction.digits", ge=0)
    include_unknown_datatypes: bool = Field(
        False, alias="include.unknown.datatypes",
        description="send columns of types Debezium has no schema for: box, circle, "
        "tsvector, pg_lsn as their text's bytes in binary.handling.mode's form (as Debezium), "
        "some arrays (interval[], money[]...) as arrays of their items; by default they are "
        "left out",
    )  # fmt: skip

    @model_validator(mode="after")
    def _prefixes(self) -> PostgresSourceConfig:
        from hub.errors import ConfigError

        if self.message_prefix_include_list and self.message_prefix_exclude_list:
            raise ValueError(
                "message.prefix.include.list and message.prefix.exclude.list cannot both be "
                "set: keep one of them"
            )
        try:
            self.message_wanted()
        except ConfigError as exc:  # (a bad regular expression: named, as a field's error)
            raise ValueError(str(exc)) from None
        return self

    def message_wanted(self) -> Callable[[str], bool]:
        """Whether a logical decoding message of a prefix is an event (the prefix lists,
        matched as Debezium's: whole, ignoring case)."""
        from connectors.source.cdc.filters import patterns

        inc = patterns("message.prefix.include.list", self.message_prefix_include_list)
        exc = patterns("message.prefix.exclude.list", self.message_prefix_exclude_list)
        if inc:
            return lambda prefix: any(p.fullmatch(prefix) for p in inc)
        return lambda prefix: not any(p.fullmatch(prefix) for p in exc)

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

    @staticmethod
    def system_namespace(name: str) -> bool:
        return name in ("pg_catalog", "information_schema", "pg_toast") or name.startswith(
            "pg_temp"
        )

    def conninfo(self, **extra: str) -> str:
        """A libpq connection string (the password included: never log it)."""
        from psycopg.conninfo import make_conninfo

        params: dict[str, str | int] = {
            "host": self.hostname, "port": self.port, "user": self.user,
            "dbname": self.dbname, "sslmode": self.sslmode,
            "application_name": f"hub-{self.topic_prefix}",
            # the text forms the type mapping reads, whatever the database or role sets:
            # UTF-8 text (libpq takes the database's encoding: a LATIN1 one's bytes read as
            # UTF-8 were other characters), money as the C locale prints it
            "client_encoding": "UTF8",
            "options": "-c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 "
            "-c bytea_output=hex -c TimeZone=UTC -c lc_monetary=C",
        }  # fmt: skip
        if self.password:
            params["password"] = self.password
        for name in ("sslrootcert", "sslcert", "sslkey", "sslpassword"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        if "PGCONNECT_TIMEOUT" not in os.environ:  # (hub validate sets its own)
            params["connect_timeout"] = 30  # libpq waits forever by default; Debezium's 30 s
        params.update(extra)
        return make_conninfo("", **params)

    def where(self) -> str:
        """Where the connector points, for messages (no secret in it)."""
        return f"{self.user}@{self.hostname}:{self.port}/{self.dbname}"
