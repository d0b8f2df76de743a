"""Validation of a connector config before anything starts: every problem at once.

The flat config splits into the runtime's own properties (``CommonConfig``: Kafka Connect's
names) and the connector's (its ``config_model``). A message names the file, the connector,
the property, the (masked) value and what is allowed. Properties of Kafka Connect or Debezium
that hub does not implement yet get a warning naming them; anything else unknown is an error.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.config import (
    MASK,
    SHOWN_MAX,
    ConnectorSpec,
    is_secret,
    looks_secret,
    scrub,
    shown,
    url_passwords,
)
from hub.errors import ConfigError
from hub.log.files import MAX_PARTITIONS
from hub.runtime.api import Connector, ConnectorConfig, csv_list
from hub.runtime.transforms import TransformChain, TransformConfigError, build_chain


class CommonConfig(BaseModel):
    """Properties every connector has (Kafka Connect's names)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    connector_class: str = Field(alias="connector.class", description="plugin name or class")
    # (bounded: one REST request of tasks.max 10^9 had built that many task configs, 15 GB)
    tasks_max: int = Field(1, alias="tasks.max", ge=1, le=1024, description="most tasks to run")
    key_converter: str = Field("json", alias="key.converter")
    value_converter: str = Field("json", alias="value.converter")
    key_converter_schemas_enable: bool = Field(True, alias="key.converter.schemas.enable")
    value_converter_schemas_enable: bool = Field(True, alias="value.converter.schemas.enable")
    errors_tolerance: Literal["none", "all"] = Field("none", alias="errors.tolerance")
    errors_retry_timeout: int = Field(0, alias="errors.retry.timeout", ge=-1)
    errors_retry_delay_max_ms: int = Field(60_000, alias="errors.retry.delay.max.ms", ge=0)
    errors_log_enable: bool = Field(False, alias="errors.log.enable")
    errors_log_include_messages: bool = Field(False, alias="errors.log.include.messages")
    errors_deadletterqueue_topic_name: str = Field("", alias="errors.deadletterqueue.topic.name")
    errors_deadletterqueue_context_headers_enable: bool = Field(
        False, alias="errors.deadletterqueue.context.headers.enable"
    )
    offset_flush_interval_ms: int = Field(1000, alias="offset.flush.interval.ms", ge=1)
    # KIP-618 (a source on Kafka with the worker's exactly.once.source.support: enabled):
    # "required" refuses to run without transactions there; a transaction ends after each
    # poll's records ("poll") or every transaction.boundary.interval.ms ("interval")
    exactly_once_support: Literal["requested", "required"] = Field(
        "requested", alias="exactly.once.support"
    )
    transaction_boundary: Literal["poll", "interval"] = Field("poll", alias="transaction.boundary")
    transaction_boundary_interval_ms: int | None = Field(
        None, alias="transaction.boundary.interval.ms", ge=1
    )
    topic_creation_default_partitions: int = Field(
        1, alias="topic.creation.default.partitions", ge=1, le=MAX_PARTITIONS
    )
    # copies of each partition of the topics a source creates, and of the dead letter queue
    # (None: the worker's replication.factor; -1: the cluster's default; one machine: ignored)
    topic_creation_default_replication_factor: int | None = Field(
        None, alias="topic.creation.default.replication.factor"
    )
    errors_deadletterqueue_topic_replication_factor: int | None = Field(
        None, alias="errors.deadletterqueue.topic.replication.factor"
    )
    # Kafka Connect's per-connector producer override. Kafka's default is none; hub's is lz4:
    # change events repeat their schema and source block record after record, so batches
    # shrink ~15x for a few percent of a core (bench/pg_source_bench.py), and consumers
    # decompress transparently. A topic's own compression.type, when set, wins.
    producer_compression_type: Literal["none", "gzip", "lz4", "zstd"] = Field(
        "lz4", alias="producer.override.compression.type"
    )
    # sinks
    topics: list[str] = Field(default_factory=list, alias="topics")
    topics_regex: str = Field("", alias="topics.regex")
    # the most records a sink batch takes. Batches are only as big as what piled up while the
    # target applied the previous one, so a high cap costs a quiet pipeline nothing; a low
    # one (Debezium's JDBC sink has 500) left DuckDB behind at 10 000 rows/s (bench/latency.py)
    batch_size: int = Field(5000, alias="batch.size", ge=1)
    # and the most bytes (its records' values; a batch takes at least one record): big rows
    # make smaller batches (2 000 rows of 500 KB had made one of 1 GB)
    batch_max_bytes: int = Field(64 << 20, alias="batch.max.bytes", ge=1)
    batch_max_wait_ms: int = Field(500, alias="batch.max.wait.ms", ge=0)
    # how long a sink batch waits for more records once the durable ones are taken (Kafka's
    # linger.ms): 0 hands them over at once; capped by batch.max.wait.ms
    batch_linger_ms: int = Field(0, alias="batch.linger.ms", ge=0)
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", alias="consumer.override.auto.offset.reset"
    )
    # how long a sink's put (and flush) may take before its group moves its partitions to
    # another member (Kafka's max.poll.interval.ms, Connect's 300 s): None, the embedded
    # log's 300 s or the Kafka client's own setting
    max_poll_interval_ms: int | None = Field(
        None, alias="consumer.override.max.poll.interval.ms", ge=1000
    )

    @field_validator(
        "topic_creation_default_replication_factor",
        "errors_deadletterqueue_topic_replication_factor",
    )
    @classmethod
    def _factor(cls, v: int | None) -> int | None:
        if v is not None and v != -1 and v < 1:
            raise ValueError("must be -1 (the cluster's default) or at least 1")
        return v

    @field_validator("key_converter", "value_converter")
    @classmethod
    def _converter(cls, v: str) -> str:
        from hub.runtime.converters import converter_names

        if v not in converter_names():
            raise ValueError(
                "not a converter hub has: json, string or bytes (or Kafka's class names of "
                "them: org.apache.kafka.connect.json.JsonConverter...)"
            )
        return v

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, v: Any) -> list[str]:
        return csv_list(v)

    @field_validator("topics_regex")
    @classmethod
    def _regex(cls, v: str) -> str:
        if v:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


COMMON = {f.alias for f in CommonConfig.model_fields.values() if f.alias}
# Connect's topic.creation.default.<topic config>: the config of the topics a source creates
TOPIC_CREATION = "topic.creation.default."
_NOT_TOPIC_CONFIGS = {"partitions", "replication.factor", "include", "exclude"}


def topic_creation_configs(raw: dict[str, Any]) -> dict[str, str]:
    """The topic configs a connector gives the topics it creates (``cleanup.policy``,
    ``retention.ms``, ...; on Kafka any topic config, checked by the cluster)."""
    n = len(TOPIC_CREATION)
    return {k[n:]: str(v) for k, v in raw.items()
            if k.startswith(TOPIC_CREATION) and k[n:] not in _NOT_TOPIC_CONFIGS}  # fmt: skip


IGNORED = {"name"}  # Connect repeats the name inside config; allowed, must match

# Known Kafka Connect properties hub does not implement yet: a warning, not an error. Each
# plugin adds its own (`Connector.not_yet`: Debezium's properties for the sources).
NOT_YET = re.compile(
    r"^(header\.converter|config\.action\.reload|exactly\.once\.support|transaction\.boundary"
    r"|offsets\.storage\.topic|producer\.override\..*|consumer\.override\..*"
    r"|topic\.creation\..*|key\.converter\..*|value\.converter\..*|errors\.retry\..*"
    r"|max\.queue\.size)$"
)


def _not_yet(cls: type[Connector], key: str) -> bool:
    return bool(NOT_YET.match(key)) or any(re.fullmatch(p, key) for p in cls.not_yet)


@dataclass
class ValidatedConnector:
    name: str
    cls: type[Connector]
    common: CommonConfig
    config: ConnectorConfig
    raw: dict[str, Any]
    spec: ConnectorSpec
    chain: TransformChain | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def secret_keys(self) -> set[str]:
        """Properties to mask: those that used a ${...} reference, those the connector
        declares secret, and those it does not define whose name may hold a secret (besides
        every name that looks like a secret, see hub.config)."""
        known = COMMON | _fields(self.cls)
        unknown = {k for k in self.raw if k not in known and looks_secret(k)}
        return self.spec.secret_keys | set(self.cls.secret_properties) | unknown

    def scrub(self, text: str) -> str:
        """``text`` without a secret of this config, nor the part of one a driver quotes,
        nor the password of a URL in any property (``bigquery.endpoint:
        http://u:pw@host``: an error quoting the endpoint)."""
        secrets = self.secret_keys
        values: list[Any] = []
        for k, v in self.raw.items():
            values.extend([v] if k in secrets or is_secret(k) else url_passwords(v))
        return scrub(text, values)


def _fields(cls: type[Connector]) -> set[str]:
    return {f.alias or n for n, f in cls.config_model.model_fields.items()}


def _unknown(key: str, known: set[str], plugin: str) -> str:
    """The message for a property nobody defines. Its value is never shown: an unknown
    property may be a misspelt secret (``database.pasword``)."""
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]}?" if close else ""
    name = key if len(key) <= SHOWN_MAX else f"{key[:SHOWN_MAX]}..."
    return f"{name}: unknown property for {plugin}{hint}"


def _show(
    key: str, value: Any, spec: ConnectorSpec, declared: tuple[str, ...] | frozenset[str] = ()
) -> str:
    """A value for an error message: masked when the name, a reference or the connector's
    ``secret_properties`` make it a secret."""
    secret = is_secret(key) or key in spec.secret_keys or key in declared
    return MASK if secret and value else shown(value)


def _problems(
    exc: ValidationError, values: dict[str, Any], spec: ConnectorSpec,
    declared: tuple[str, ...] = (),
) -> list[str]:  # fmt: skip
    out = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not name:  # a check of several properties together: its message names them
            out.append(msg)
        elif err["type"] == "missing":
            out.append(f"{name}: required, not set")
        else:
            out.append(f"{name} = {_show(name, values.get(name), spec, declared)}: {msg}")
    return out


def embedded_topic_configs(configs: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The topic configs the embedded log takes, and those it does not (a Kafka cluster's
    own, such as ``min.insync.replicas``, or a codec it lacks): (taken, left out)."""
    from hub.log.config import TopicConfig

    taken, left = {}, {}
    for k, v in configs.items():
        try:
            TopicConfig.parse({k: v})
            taken[k] = v
        except ConfigError:
            left[k] = v
    return taken, left


def _topic_config_problems(configs: dict[str, str]) -> list[str]:
    """Values the log's topic configs cannot take (names it does not know pass: a Kafka
    cluster knows more, and the embedded log names what it knows when it creates a topic)."""
    from hub.log.config import TopicConfig

    # (compression.type: Kafka knows codecs the embedded log does not; left to the cluster)
    known = set(TopicConfig.parse({}).to_properties()) - {"compression.type"}
    try:
        TopicConfig.parse({k: v for k, v in configs.items() if k in known})
    except ConfigError as exc:
        return [f"{TOPIC_CREATION}*: {exc}"]
    return []


def internal_topic_problems(valid: ValidatedConnector, internal: Collection[str]) -> list[str]:
    """A line when the connector names one of the worker's internal topics (``internal``:
    config/offset/status.storage.topic) as a topic it reads or its dead letter queue ([]
    otherwise): refused before it starts, by hub validate, hub run and REST alike (it had
    been refused only when it started, after REST had stored it)."""
    c = valid.common
    named = sorted({t for t in (*c.topics, c.errors_deadletterqueue_topic_name) if t in internal})
    if not named:
        return []
    return [
        f"{valid.name}: {', '.join(named)} is one of the worker's internal topics "
        "(config/offset/status.storage.topic): a connector may not read or write it"
    ]


def shared_targets(connectors: Sequence[ValidatedConnector], of: str | None = None) -> list[str]:
    """One line per target two or more of ``connectors`` would hold, naming them
    (`Connector.exclusive_targets`); [] when none is shared. ``of``: only the targets the
    connector of that name holds."""
    held: dict[str, list[str]] = {}
    for v in connectors:
        for target in v.cls.exclusive_targets(v.raw):
            held.setdefault(target, []).append(v.name)
    return [
        f"connectors {', '.join(sorted(names))} would both hold {target}: two writers of one "
        "target lose and duplicate records; give each its own"
        for target, names in sorted(held.items())
        if len(names) > 1 and (of is None or of in names)
    ]  # fmt: skip


def validate(spec: ConnectorSpec) -> ValidatedConnector:
    """``spec`` checked; a `ConfigError` listing every problem, none of which quotes a secret
    (a value from a ``${env:...}``/``${file:...}`` reference, a password: a REST client must
    not read the worker's environment or files through ``connector.class: ${env:X}``)."""
    try:
        return _validate(spec)
    except ConfigError as exc:
        text = str(exc)
        secrets = spec.secret_keys
        values: list[Any] = []  # (a URL's password in any property too, as `scrub` masks)
        for k, v in spec.config.items():
            values.extend([v] if k in secrets or is_secret(k) else url_passwords(v))
        clean = scrub(text, values)
        if clean == text:
            raise
        raise ConfigError(clean) from None


def _topic_name_problems(config: Any, common: CommonConfig) -> list[str]:
    """Topic names the log would refuse (at the first record, failing the task): a sink's
    ``topics``, a dead letter queue, a source's ``topic``."""
    from hub.log.files import topic_name_problem

    named = [("topics", t) for t in common.topics]
    dlq = common.errors_deadletterqueue_topic_name
    if dlq:
        named.append(("errors.deadletterqueue.topic.name", dlq))
    own = getattr(config, "topic", None)
    if isinstance(own, str):
        named.append(("topic", own))
    out = []
    for prop, name in named:
        problem = topic_name_problem(name)
        if problem:
            out.append(f"{prop}: {shown(name)} is not a valid topic name: {problem}")
    return out


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _validate(spec: ConnectorSpec) -> ValidatedConnector:
    from hub.runtime import plugins

    where = f"{spec.source}, connector {shown(spec.name)}"
    raw = dict(spec.config)
    problems: list[str] = []
    warnings: list[str] = []
    if "name" in raw and str(raw["name"]) != spec.name:
        problems.append(
            f"name = {shown(raw['name'])}: differs from the connector's name {shown(spec.name)}"
        )
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,200}", spec.name):
        problems.append(f"name {shown(spec.name)}: use letters, digits, '.', '_' and '-'")
    elif not spec.name.strip("."):  # (clients and browsers read /connectors/.. as a step up)
        problems.append(f"name {shown(spec.name)}: a name of dots alone is no URL path segment")
    odd = [k.encode("utf-8", "backslashreplace").decode() for k in raw if not _encodable(k)]
    if odd:  # (every message naming it would fail to encode: these alone)
        raise ConfigError(f"invalid config in {where}:\n" + "\n".join(
            f"  - {k}: a property name with a lone surrogate (\\ud800-\\udfff), no Unicode "
            "text" for k in odd))  # fmt: skip
    for k, v in raw.items():  # (a JSON body's "\ud800": a driver failed on it later, a 500)
        if isinstance(v, str) and not _encodable(v):
            problems.append(f"{k}: holds a lone surrogate (\\ud800-\\udfff), no Unicode text: "
                            "send the character itself, or its UTF-16 pair")  # fmt: skip
    if "connector.class" not in raw:
        raise ConfigError(f"invalid config in {where}:\n  - connector.class: required, not set")
    try:
        cls = plugins.resolve(str(raw["connector.class"]), raw, untrusted=spec.source == "REST")
    except ConfigError as exc:
        raise ConfigError(f"invalid config in {where}:\n  - {exc}") from None
    fields = _fields(cls)
    chain: TransformChain | None = None
    try:
        chain = build_chain(raw)
        chain_keys = chain.properties()
    except TransformConfigError as exc:
        problems += exc.problems
        chain_keys = {k for k in raw if k.startswith(("transforms", "predicates"))}
    common_values = {k: v for k, v in raw.items() if k in COMMON}
    own_values = {k: v for k, v in raw.items() if k in fields}
    topic_configs = topic_creation_configs(raw)
    problems += _topic_config_problems(topic_configs)
    for k in raw:
        if k in COMMON or k in fields or k in IGNORED or k in chain_keys:
            continue
        if k.startswith(TOPIC_CREATION) and k[len(TOPIC_CREATION) :] in topic_configs:
            continue
        refused = cls.refused(k, raw[k])
        if refused is not None:
            problems.append(f"{k}: {refused}")
        elif any(re.fullmatch(p, k) for p in cls.patterned):
            continue
        elif _not_yet(cls, k):
            warnings.append(f"{where}: {k} is not supported yet and is ignored")
        else:
            problems.append(_unknown(k, fields | COMMON, cls.name))
    common: CommonConfig | None = None
    config: ConnectorConfig | None = None
    try:
        config = cls.config_model.model_validate(own_values)
        common_values = {**cls.runtime_defaults(config), **common_values}
    except ValidationError as exc:
        problems += _problems(exc, own_values, spec, tuple(cls.secret_properties))
    except Exception as exc:  # noqa: BLE001 - a check that raised: its text may quote a secret
        problems.append(
            f"the {cls.name} connector's config check failed ({type(exc).__name__}); a bug in "
            "the connector: please report it with the config (secrets removed)"
        )
    try:
        common = CommonConfig.model_validate(common_values)
    except ValidationError as exc:
        problems += _problems(exc, common_values, spec)
    if common is not None and config is not None:
        problems += cls.runtime_problems(config, common)
        problems += _topic_name_problems(config, common)
    if common is not None and cls.type == "sink" and not (common.topics or common.topics_regex):
        problems.append("topics: a sink needs 'topics' (a list) or 'topics.regex'")
    if common is not None and cls.type == "sink" and common.topics and common.topics_regex:
        problems.append(  # (as Kafka Connect refuses them together: one of them was meant)
            "topics and topics.regex: a sink reads the topics of one of them; set only one"
        )
    if common is not None and cls.type == "source" and (common.topics or common.topics_regex):
        warnings.append(
            f"{where}: topics and topics.regex are a sink's and are ignored here; a source "
            "names its topics with its own properties (topic, topic.prefix)"
        )
    dlq = common.errors_deadletterqueue_topic_name if common is not None else ""
    if (
        common is not None
        and cls.type == "sink"
        and dlq
        and (
            dlq in common.topics or (common.topics_regex and re.fullmatch(common.topics_regex, dlq))
        )
    ):  # (as Kafka Connect refuses it: each failed record would come back, for ever)
        named = "topics" if dlq in common.topics else "topics.regex"
        problems.append(
            f"errors.deadletterqueue.topic.name: {dlq!r} is a topic the sink reads ({named}): "
            "its failed records would come back to it for ever; name a queue it does not read"
        )
    if common is not None and cls.type == "source" and dlq:
        warnings.append(
            f"{where}: errors.deadletterqueue.topic.name is ignored: dead letter queues are "
            "for sinks (as in Kafka Connect); a source's records its converters or transforms "
            "refuse under errors.tolerance=all are dropped, and logged with errors.log.enable"
        )
    if problems or common is None or config is None:
        raise ConfigError(f"invalid config in {where}:\n" + "\n".join(f"  - {p}" for p in problems))
    warnings += [f"{where}: {w}" for w in cls.config_warnings(raw)]
    return ValidatedConnector(spec.name, cls, common, config, raw, spec, chain, warnings)
