"""The MySQL/MariaDB source's properties: Debezium's ``MySqlConnector`` (and
``MariaDbConnector``) names and defaults, on the common CDC properties (`cdc.config`)."""

from __future__ import annotations

import zlib
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from connectors.source.cdc.config import CdcSourceConfig

SnapshotMode = Literal[
    "initial", "initial_only", "no_data", "never", "always", "when_needed", "recovery"
]
HistoryClass = Literal["io.debezium.storage.kafka.history.KafkaSchemaHistory"]
SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})


class MySqlSourceConfig(CdcSourceConfig):
    namespace: ClassVar[str] = "database"
    # -- connection ------------------------------------------------------------------------
    hostname: str = Field("localhost", alias="database.hostname", description="server host")
    port: int = Field(3306, alias="database.port", ge=1, le=65535, description="server port")
    user: str = Field(
        alias="database.user",
        description="user with SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE and "
        "REPLICATION CLIENT (MariaDB: BINLOG MONITOR)",
    )
    password: str = Field("", alias="database.password", description="password (secret)")
    server_id: int | None = Field(
        None, alias="database.server.id", ge=1, le=2**32 - 1,
        description="the replica id this connector registers with; unique among the "
        "server's replicas (default: derived from topic.prefix)",
    )  # fmt: skip
    connect_timeout_ms: int = Field(
        30_000, alias="connect.timeout.ms", ge=100, description="connection timeout"
    )
    ssl_mode: Literal["disabled", "preferred", "required", "verify_ca", "verify_identity"] = (
        Field(
            "preferred", alias="database.ssl.mode",
            description="TLS: disabled; preferred (TLS when the server offers it, unverified); "
            "required (TLS or no connection, unverified); verify_ca (the server's certificate "
            "signed by database.ssl.ca, or the system's CAs); verify_identity (and it names "
            "database.hostname)",
        )
    )  # fmt: skip
    ssl_ca: str = Field(
        "", alias="database.ssl.ca",
        description="PEM file of the CAs that sign the server's certificate (verify_ca, "
        "verify_identity; default: the system's)",
    )  # fmt: skip
    ssl_cert: str = Field(
        "", alias="database.ssl.cert", description="PEM file of a client certificate"
    )
    ssl_key: str = Field(
        "", alias="database.ssl.key",
        description="PEM file of the client certificate's key (default: in database.ssl.cert)",
    )  # fmt: skip
    ssl_key_password: str = Field(
        "", alias="database.ssl.key.password", description="the key's password (secret)"
    )
    # -- filters ----------------------------------------------------------------------------
    database_include_list: str = Field("", alias="database.include.list")
    database_exclude_list: str = Field("", alias="database.exclude.list")
    # -- snapshot ---------------------------------------------------------------------------
    snapshot_mode: SnapshotMode = Field(
        "initial", alias="snapshot.mode", description="when to read the tables' existing rows"
    )

    @field_validator("snapshot_mode", mode="before")
    @classmethod
    def _old_mode_names(cls, v: Any) -> Any:
        # Debezium 2.x's deprecated names, still in many configs: the same modes
        return {"schema_only": "no_data", "schema_only_recovery": "recovery"}.get(v, v)

    snapshot_locking_mode: Literal["minimal", "extended", "none"] = Field(
        "minimal", alias="snapshot.locking.mode",
        description="minimal: a global read lock only while the binlog position is read; "
        "extended: for the whole snapshot; none: no lock (MariaDB still reads a consistent "
        "position; on MySQL only safe when no DDL or non-transactional writes happen)",
    )  # fmt: skip
    snapshot_lock_timeout_ms: int = Field(
        10_000, alias="snapshot.lock.timeout.ms", ge=1,
        description="the longest the snapshot waits for its global read lock (writes wait "
        "behind it meanwhile): a statement writing for longer, or a LOCK TABLES, fails the "
        "snapshot on MySQL and under extended locking, and MariaDB goes on without the lock",
    )  # fmt: skip
    include_query: bool = Field(
        False, alias="include.query",
        description="put the statement behind each row change in source.query (MariaDB: "
        "binlog_annotate_row_events=ON; MySQL: binlog_rows_query_log_events=ON)",
    )  # fmt: skip
    # -- schema history ---------------------------------------------------------------------
    include_schema_changes: bool = Field(
        True, alias="include.schema.changes",
        description="emit each DDL of a captured table as a schema change event to the topic "
        "<topic.prefix> (key: databaseName)",
    )  # fmt: skip
    history_class: HistoryClass = Field(
        "io.debezium.storage.kafka.history.KafkaSchemaHistory", alias="schema.history.internal",
        description="where the schema history is kept: hub keeps it in a topic of its log",
    )  # fmt: skip
    history_topic: str = Field(
        "", alias="schema.history.internal.kafka.topic", pattern=r"^[A-Za-z0-9_.\-]*$",
        description="the log topic of the schema history (every DDL with its binlog "
        "position; infinite retention); default __schema_history.<connector name>",
    )  # fmt: skip
    history_skip_unparseable_ddl: bool = Field(
        False, alias="schema.history.internal.skip.unparseable.ddl",
        description="log and skip a DDL statement hub cannot parse instead of stopping (with "
        "binlog_row_metadata=FULL the binlog still names the columns; otherwise the tables "
        "it changed may be decoded with their former columns)",
    )  # fmt: skip
    # -- types ------------------------------------------------------------------------------
    time_precision_mode: Literal["adaptive_time_microseconds", "connect"] = Field(
        "adaptive_time_microseconds", alias="time.precision.mode"
    )
    bigint_unsigned_handling_mode: Literal["long", "precise"] = Field(
        "long", alias="bigint.unsigned.handling.mode",
        description="long: BIGINT UNSIGNED as int64 (values from 2^63 wrap, as in Debezium); "
        "precise: as Connect Decimal",
    )  # fmt: skip
    # -- streaming --------------------------------------------------------------------------
    heartbeat_period_ms: int = Field(
        1000, alias="binlog.heartbeat.period.ms", ge=100,
        description="how often an idle server sends a heartbeat (the stored position moves on)",
    )  # fmt: skip

    @model_validator(mode="after")
    def _history_apart(self) -> Self:
        """The history topic is the connector's own: not its events' or schema changes'."""
        topic = self.history_topic
        if topic and (topic == self.topic_prefix or topic.startswith(self.topic_prefix + ".")):
            raise ValueError(
                f"schema.history.internal.kafka.topic {topic!r} would hold this connector's "
                f"events too (topic.prefix {self.topic_prefix!r}): choose a topic of its own"
            )
        return self

    @staticmethod
    def system_namespace(name: str) -> bool:
        return name.lower() in SYSTEM_DATABASES

    def replica_id(self) -> int:
        """``database.server.id``, or one derived from topic.prefix (stable across restarts,
        in Debezium's default range 5400-6400 shifted by the name's hash)."""
        if self.server_id is not None:
            return self.server_id
        return 5400 + zlib.crc32(self.topic_prefix.encode()) % 100_000

    def where(self) -> str:
        """Where the connector points, for messages (no secret in it)."""
        return f"{self.user}@{self.hostname}:{self.port}"

    def tls(self) -> tuple[dict[str, Any], bool]:
        """PyMySQL's TLS arguments for ``database.ssl.*`` (a ConfigError naming the property
        whose file cannot be used), and whether TLS is optional (``preferred``: PyMySQL's
        own default, but given a context it refuses a server without TLS)."""
        import ssl

        from hub.errors import ConfigError

        mode = self.ssl_mode
        if mode == "disabled":
            return {"ssl_disabled": True}, False
        if mode == "preferred" and not self.ssl_cert:
            return {}, True
        try:
            ctx = ssl.create_default_context(cafile=self.ssl_ca or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"database.ssl.ca: cannot read CA certificates from {self.ssl_ca!r}: {exc}"
            ) from None
        ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT  # (MySQL's own generated certificates)
        if mode in ("preferred", "required"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif mode == "verify_ca":
            ctx.check_hostname = False
        if self.ssl_cert:
            try:
                ctx.load_cert_chain(self.ssl_cert, self.ssl_key or None,
                                    self.ssl_key_password or None)  # fmt: skip
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"database.ssl.cert: cannot load the client certificate {self.ssl_cert!r}"
                    f"{f' with the key {self.ssl_key!r}' if self.ssl_key else ''}: {exc}"
                ) from None
        return {"ssl": ctx}, mode == "preferred"
