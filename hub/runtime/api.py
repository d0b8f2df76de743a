"""The connector API: what a third-party connector implements, in one file if it likes.

In the spirit of Kafka Connect:

* a ``SourceConnector`` validates its config and splits the work into task configs; each
  ``SourceTask`` returns ``SourceRecord``s from ``poll()``, each with a *source partition* (what
  is being read: a file, a table, a slot) and a *source offset* (how far: a byte position, an
  LSN). The runtime stores offsets only after the records are durable in the log and hands a
  task its last offset on start (``context.offset(partition)``); ``commit()`` tells the task
  that everything it returned so far is durable (PostgreSQL confirms its slot then).
* a ``SinkConnector``'s ``SinkTask`` receives batches in ``put()``; ``flush()`` must make them
  durable in the target. The runtime commits the consumer group's offsets only after that. A
  sink that keeps offsets in its target (exactly-once) returns them from ``open()``.

Sources must replay deterministically: restarted from an offset, a task emits the same
records in the same order. The runtime relies on it to drop records that reached the log
before a crash but whose offset was not yet stored.

Config: a connector declares ``config_model``, a pydantic model whose field aliases are the
property names (``file``, ``topic``, ``database.hostname``); the runtime validates with it
before anything starts and reports every problem at once.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict

from hub.errors import ConfigError
from hub.log.packed import Packed
from hub.log.record import Record, TopicPartition
from hub.runtime.converters import Converter

Header = tuple[str, bytes | None]
# a field schema's parameter holding, as JSON (in the JSON converter's form), the value a sink
# that adds the column fills the rows it has with, where that is not the field's ``default``
# (which keeps Connect's and Debezium's meaning: the column's default today)
FILL = "__hub.fill"
# a field schema's parameter naming the source column's type, as Debezium's
# ``column.propagate.source.type`` does; sources set it where a sink needs it to tell apart
# types whose schemas are alike (a PostgreSQL varbit(n) from a bit(n))
SOURCE_COLUMN_TYPE = "__debezium.source.column.type"
# a record header hub's sources set on a change event whose row holds Debezium's placeholder
# for a value they could not read (PostgreSQL's unchanged TOASTed values): the columns' names,
# a JSON array. An event of hub's (its source.version ends with HUB_VERSION_MARK) without
# it holds none, so that a sink takes a value equal to a placeholder (a text set to the
# placeholder's words, a boolean[] of 28 trues) for the value it is. Events of earlier hubs
# ("2.7.0.hub") set no such header: in them, as in Debezium's, every value equal to a
# placeholder is taken for one (a log may still hold them, a new sink read them from the start).
# ExtractNewRecordState, which drops the source version, sets it (``[]``) on the row state of
# every event of hub's that has none, so that the sink can still tell
UNAVAILABLE_HEADER = "__hub.unavailable"
HUB_VERSION_MARK = ".hub2"
JsonMap = Mapping[str, Any]


# the fields a Debezium envelope may have, and its operations: a schemaless value is an
# envelope only if it has nothing else (a row with columns named op/before/after is a row)
_ENVELOPE_KEYS = frozenset(
    ("before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction", "message")
)
_OPS = frozenset(("c", "r", "u", "d", "t", "m"))


def is_envelope(value: Any, schema: JsonMap | None) -> bool:
    """Debezium's test (SmtManager.isValidEnvelope): a struct schema named ``*.Envelope``.
    Without a schema (schemas.enable=false), a mapping of only envelope fields with a Debezium
    ``op``, a ``source`` and a ``before`` or ``after``."""
    if not isinstance(value, Mapping):
        return False
    if schema is not None:
        return str(schema.get("name") or "").endswith(".Envelope")
    return (
        value.get("op") in _OPS
        and "source" in value
        and ("after" in value or "before" in value)
        and _ENVELOPE_KEYS.issuperset(value)
    )


class ConnectorConfig(BaseModel):
    """Base of connector config models: property names are the field aliases."""

    # defer_build: a model's validator is built when it first validates, not when its module
    # is imported: `hub run` loads every plugin to resolve names, and uses two or three
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True, defer_build=True)

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Self:
        """This connector's properties out of a task config (which holds the runtime's too)."""
        own = {f.alias or n for n, f in cls.model_fields.items()}
        return cls.model_validate({k: v for k, v in config.items() if k in own})


def csv_list(v: Any) -> list[str]:
    """A Connect list property: comma-separated text or a YAML list, blanks dropped."""
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    return [str(p) for p in v]


def masked(text: str, *secrets: str) -> str:
    """``text`` without ``secrets``, nor, for a URL or conninfo among them, its password as
    written, decoded, or in pieces (a driver quotes the part of a URL it misread): for a
    connector's messages, which may quote a value of its config."""
    from hub.config import scrub

    return scrub(text, secrets)


@dataclass(slots=True)
class SourceRecord:
    """Treat as immutable (transforms build new ones with ``dataclasses.replace``); not
    frozen only because a frozen dataclass's ``__init__`` costs four times as much, paid for
    every record a source returns."""

    topic: str
    value: Any
    key: Any = None
    source_partition: JsonMap = field(default_factory=dict)
    source_offset: JsonMap = field(default_factory=dict)
    headers: tuple[Header, ...] = ()
    timestamp: int | None = None
    partition: int | None = None
    key_schema: JsonMap | None = None
    value_schema: JsonMap | None = None
    # False for records a replay from the stored offset would not reproduce (reads of the
    # live table during streaming, as incremental snapshots do): the runtime neither counts
    # them in the replay sequence nor drops them after a crash, so they may repeat
    replayable: bool = True
    # True: key and value are already the bytes the task's converters would write (see
    # SourceTaskContext.json_encoding); the runtime writes them as they are
    encoded: bool = False
    # True: the record must be ordered with every other record of its topic (a change
    # source's truncate event), so the runtime refuses to write it to a topic of several
    # partitions (whatever a transform renamed it to); give it a partition too
    ordered: bool = False


@dataclass(slots=True)
class EncodedBatch:
    """Many records of one topic at once, already encoded (keys and values are the bytes the
    task's JSON converters would write: see `SourceTaskContext.json_encoding`), partitioned
    by key. ``source_offset`` is the offset after the last of them: the runtime stores
    offsets only between polls, so the ones in between are never needed. It saves the
    per-record objects of a bulk read (a snapshot); replayable like `SourceRecord`.

    With ``packed`` set, the records are those of `hub.log.packed.Packed` (keys and values in
    shared buffers, written in one C call) and ``keys``/``values`` are left empty."""

    topic: str
    keys: list[bytes | None]
    values: list[bytes | None]
    source_partition: JsonMap
    source_offset: JsonMap
    timestamp: int | None = None
    packed: Packed | None = None


@dataclass(slots=True)
class SourceBatch:
    """Many records of one topic at once, as columns: record ``i`` has the value
    ``values[i]`` and the key ``keys[i]`` (None: every key None), converted by the task's
    converters as `SourceRecord`'s are, with one schema for all (``key_schema``,
    ``value_schema``), partitioned by key. ``source_offset`` is the offset after the last of
    them: the runtime stores offsets only between polls, so the ones in between are never
    needed (and a batch is written whole or not at all). It saves the object per record of
    `SourceRecord` (a generator, a source reading many rows of one table): a poll of one
    batch is converted a column at a time and written in one call. Transforms see each of
    its records as a `SourceRecord` carrying the batch's offsets. Replayable like
    `SourceRecord`; an empty batch only moves the offset on."""

    topic: str
    values: list[Any]
    keys: list[Any] | None = None
    source_partition: JsonMap = field(default_factory=dict)
    source_offset: JsonMap = field(default_factory=dict)
    timestamp: int | None = None
    key_schema: JsonMap | None = None
    value_schema: JsonMap | None = None

    def __post_init__(self) -> None:
        if not self.topic:
            raise ValueError("SourceBatch: a topic is needed")
        if self.keys is not None and len(self.keys) != len(self.values):
            raise ValueError(
                f"SourceBatch of topic {self.topic!r}: {len(self.keys)} keys for "
                f"{len(self.values)} values (one key a value, or keys=None)"
            )

    def records(self, timestamp: int) -> list[SourceRecord]:
        """The batch as records (``timestamp`` where the batch has none)."""
        keys = self.keys if self.keys is not None else [None] * len(self.values)
        stamp = self.timestamp if self.timestamp is not None else timestamp
        sp, so, ks, vs = (
            self.source_partition,
            self.source_offset,
            self.key_schema,
            self.value_schema,
        )
        return [SourceRecord(self.topic, v, k, sp, so, (), stamp, None, ks, vs)
                for k, v in zip(keys, self.values, strict=True)]  # fmt: skip


@dataclass(frozen=True, slots=True)
class EncodedSinkRecords:
    """A sink's batch as the log holds it, for `SinkTask.put_encoded`: ``records`` are the
    log's (topic, partition, offset, timestamp, key, value, headers; keys and values the
    bytes the converters read), in log order; ``key_converter``/``value_converter`` are the
    task's, for the task to read those bytes as they would."""

    records: Sequence[Record]
    key_converter: Converter
    value_converter: Converter


@dataclass(slots=True)
class SinkRecord:
    """Treat as immutable, as `SourceRecord`.

    ``original_topic``/``original_partition``/``original_offset`` are where the record is in
    the log when a transform may have changed ``topic`` (Connect's ``originalTopic()``,
    KIP-793; set by the runner when the connector has transforms, None otherwise): a task
    that keeps offsets keys them by `position`, never by a renamed topic."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: Any
    value: Any
    headers: tuple[Header, ...] = ()
    key_schema: JsonMap | None = None
    value_schema: JsonMap | None = None
    original_topic: str | None = None
    original_partition: int | None = None
    original_offset: int | None = None

    @property
    def position(self) -> tuple[str, int, int]:
        """(topic, partition, offset) of the record in the log, before any transform."""
        if self.original_topic is None:
            return self.topic, self.partition, self.offset
        return self.original_topic, self.original_partition, self.original_offset  # type: ignore[return-value]


def offset_update(partition: JsonMap, offset: JsonMap) -> SourceRecord:
    """A record that writes nothing but moves ``partition``'s offset (e.g. past changes a
    filter dropped, or to the server's position while idle). It takes part in ordering like
    any record: its offset is stored with the next commit, after the records before it."""
    return SourceRecord("", None, source_partition=partition, source_offset=offset)


class SourceTaskContext:
    """What a source task may ask the runtime."""

    def __init__(
        self,
        connector: str,
        task_id: int,
        offsets: Mapping[str, JsonMap],
        on_inexact_replay: Callable[[], None] | None = None,
        json_encoding: tuple[bool, bool] | None = None,
        on_commit_request: Callable[[], None] | None = None,
        internal_topic: Callable[[str, Mapping[str, str]], list[bytes | None]] | None = None,
        topic_written: Callable[[str], bool] | None = None,
    ) -> None:
        self.connector = connector
        self.task_id = task_id
        self._offsets = offsets
        self._on_inexact_replay = on_inexact_replay
        self._on_commit_request = on_commit_request
        self._internal_topic = internal_topic
        self._topic_written = topic_written
        self.json_encoding = json_encoding
        """(key schemas.enable, value schemas.enable) when both converters are Kafka's
        JsonConverter and no transform sits between the task and the log: the task may then
        return ``encoded`` records holding the exact bytes those converters would write
        (``{"schema": ..., "payload": ...}`` or the bare payload, compact, as orjson writes
        it), skipping the Python values. None: return values."""

    def replay_is_inexact(self) -> None:
        """Say, from ``start``, that the records that follow the stored offset will not be
        the ones a crashed run emitted after it (e.g. a snapshot resumed in a new database
        snapshot). The runtime then writes them all instead of dropping those it finds
        already in the log: at-least-once for that stretch instead of a wrong skip."""
        if self._on_inexact_replay is not None:
            self._on_inexact_replay()

    def request_commit(self) -> None:
        """Ask for a commit as soon as the records of the current ``poll`` are written, rather
        than at the next ``offset.flush.interval.ms``: at a boundary worth making durable at
        once, such as the end of a snapshot (Kafka Connect's
        ``TransactionContext.commitTransaction`` plays this part for its sources)."""
        if self._on_commit_request is not None:
            self._on_commit_request()

    def internal_topic(self, name: str, config: Mapping[str, str]) -> list[bytes | None]:
        """The values of the task's own single-partition topic ``name`` (created with
        ``config`` if missing), in order: state the task keeps in the log, such as a source's
        schema history. The task writes to it by returning ``encoded`` records for it (bytes
        as they are, stored with its other records and its offsets)."""
        if self._internal_topic is None:
            return []
        return self._internal_topic(name, config)

    def topic_written(self, topic: str) -> bool:
        """Whether records were ever written to ``topic`` (it exists, a partition's end offset
        past 0, whatever retention removed since): a source starting without a stored
        position (renamed, its offsets reset) whose snapshot writes its rows again learns
        that sinks may hold them already."""
        return self._topic_written is not None and self._topic_written(topic)

    def offset(self, partition: JsonMap) -> JsonMap | None:
        """The last stored offset of ``partition`` (None: start from the beginning)."""
        from hub.runtime.offsets import partition_key

        return self._offsets.get(partition_key(partition))


class SinkTaskContext:
    def __init__(
        self,
        connector: str,
        task_id: int,
        topic_ids: Callable[[str], tuple[str, ...]] | None = None,
    ) -> None:
        self.connector = connector
        self.task_id = task_id
        self._topic_ids = topic_ids

    def topic_ids(self, topic: str) -> tuple[str, ...]:
        """The topic's id in the log (`hub.log.TopicInfo.id`), then the ids of the topics it
        continues (copied with every offset kept by ``hub log import``); () when the log
        keeps none. A task that keeps its offsets in its target stores the id with them: an
        id not among these on its next start means the topic was deleted and made again (or
        the log's data emptied), and the stored offsets are of records that are gone."""
        return self._topic_ids(topic) if self._topic_ids is not None else ()

    @staticmethod
    def another_topic(held: str | None, ids: tuple[str, ...]) -> bool:
        """Whether offsets stored with topic id ``held`` are of another topic than the one
        of ``ids`` (`topic_ids`); False when either side has no id."""
        return held is not None and bool(ids) and held not in ids


class Task(ABC):
    @abstractmethod
    def stop(self) -> None: ...

    def metrics(self) -> Mapping[str, float]:
        """The task's own gauges, read from other threads (REST, /metrics): plain attribute
        reads only. A name may carry one label after a colon (``snapshot_rows:public.t``)."""
        return {}


class SourceTask(Task):
    # config properties whose change alters neither the records the task emits nor their
    # order (a poll's size, a wait, a rate): after a crash, the records of the unfinished
    # commit the log holds are still recognised (by their place in the sequence) when only
    # these changed, instead of being written again
    replay_neutral: frozenset[str] = frozenset()
    # True: the task's records without a key must stay in the order written, all in one
    # partition of their topic (the first), where a topic has several: a change data
    # capture source's (the changes of a table without a key, which a sink applies in
    # order); otherwise they are spread over the partitions, as Kafka's producer spreads them
    keyless_in_order: bool = False

    def one_partition(self, topic: str) -> str | None:
        """Why every record of ``topic`` must be in one partition, from ``start`` on (a change
        source's truncate events, which a sink would apply out of order with the table's
        changes in other partitions); the runtime then refuses to write to a topic of
        several, naming the reason. None (default): any number of partitions."""
        return None

    @abstractmethod
    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None: ...

    @abstractmethod
    def poll(self) -> Sequence[SourceRecord | SourceBatch | EncodedBatch]:
        """Return new records, or an empty list after waiting briefly (<= ~1 s) for some."""

    def commit(self) -> None:
        """Everything returned by ``poll`` so far is durable in the log."""

    def keep_alive(self) -> None:
        """Called about once a second while the connector is paused, when ``poll`` is not: a
        task whose connection a server ends when it is quiet (a PostgreSQL replication
        stream, after ``wal_sender_timeout``) keeps it open here, reading nothing."""


class SinkTask(Task):
    # True when ``open`` returns offsets kept in the target, which the runner resumes from:
    # changing the consumer group's committed offsets would not move such a task, so the
    # runtime refuses it (KIP-875: a connector that keeps its own offsets handles them)
    offsets_in_target: ClassVar[bool] = False
    # True when ``put`` skips records below the offsets ``open`` returned (as written): a
    # stored offset past the log's end (a topic made again) then stops the task, which
    # would otherwise skip the new records
    skips_below_stored: ClassVar[bool] = False
    # True when ``put`` writes a batch whole or not at all (one transaction), and raises an
    # error that is not a ConfigError (nor an OSError) only for what some record of it holds:
    # with errors.tolerance=all the runner then puts a failed batch again one record at a
    # time and sends the records that fail alone to the dead letter queue. Otherwise, as in
    # Kafka Connect, errors.tolerance does not cover ``put``: its error fails the task (a
    # put that wrote part of the batch, put again, wrote it twice)
    isolates_failures: ClassVar[bool] = False

    @abstractmethod
    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None: ...

    def open(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Partitions assigned to this task. Return offsets kept in the target (next offset
        to read per partition) to resume from them instead of the group's committed ones."""
        return {}

    def close(self, partitions: set[TopicPartition]) -> None:
        """Partitions taken away from this task (after a final flush)."""

    @abstractmethod
    def put(self, records: Sequence[SinkRecord]) -> None: ...

    def put_encoded(self, batch: EncodedSinkRecords) -> bool:
        """Optional: write a batch still encoded (no `SinkRecord` made), with the same
        result as ``put`` of the decoded records. Return False, having written nothing, to
        have the runtime decode the batch and call ``put`` (a batch the fast path does not
        cover); an exception is handled as ``put``'s. Only called when the connector has no
        transforms. The default declines every batch."""
        return False

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Make everything ``put`` so far durable; ``offsets`` are the next offsets to read."""


@dataclass(frozen=True, slots=True)
class Check:
    """One thing ``hub validate --connect`` checked against the real system: what, whether it
    passed, and what was found (on failure: what to do)."""

    what: str
    ok: bool
    detail: str = ""


class Connector(ABC):
    """Metadata and task planning. ``name`` is the short name configs use."""

    name: ClassVar[str]
    type: ClassVar[str]  # "source" or "sink"
    aliases: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "0.1.0"
    config_model: ClassVar[builtins.type[ConnectorConfig]]
    # properties that hold secrets: masked as ******** in logs, errors, status and REST
    secret_properties: ClassVar[tuple[str, ...]] = ()
    # the plugin's properties (regular expressions, whole names) that users of the tool it
    # follows (Debezium...) may set and hub does not implement yet: a warning, not an error
    not_yet: ClassVar[tuple[str, ...]] = ()
    # the plugin's properties named by a pattern (regular expressions, whole names: Debezium's
    # column.mask.with.<n>.chars...), which its tasks read from the config ``start`` is given
    # and `refused` checks
    patterned: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def config_warnings(cls, config: Mapping[str, Any]) -> list[str]:
        """What a valid config should know (`hub validate`'s and the start's warnings): the
        defaults it runs with where they differ from those of the tool whose class name it
        gives... Default: none."""
        return []

    @classmethod
    def refused(cls, key: str, value: Any) -> str | None:
        """Why a property of the tool the plugin follows is refused, rather than ignored
        with a warning as `not_yet`'s are: one that protects data (encryption, masking),
        whose absence would send or capture what the user asked not to. None: not refused."""
        return None

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> list[Check]:
        """Check the systems a (valid) config points at: reachable, set up, permissions, one
        `Check` each (``hub validate --connect``). Reports what it finds instead of raising,
        and changes nothing there. The default checks nothing."""
        return []

    @classmethod
    def runtime_defaults(cls, config: ConnectorConfig) -> dict[str, Any]:
        """The runtime's own properties (``batch.size``, ``batch.linger.ms``…) that this
        connector defaults otherwise, from its valid config; a property the user sets wins.
        Default: none (a warehouse sink that merges once a minute sets its batching)."""
        return {}

    @classmethod
    def runtime_problems(cls, config: ConnectorConfig, runtime: Any) -> list[str]:
        """What is wrong with this valid config together with the runtime's properties
        (``runtime``: the validated ``CommonConfig``), each a line for the config error.
        Default: nothing."""
        return []

    @classmethod
    def local_files(cls, config: Mapping[str, Any]) -> list[str]:
        """Files on the worker's own machine its tasks write (a DuckDB database, a
        FileStreamSink's file), from its valid config: distributed workers warn that a task
        moved to another machine writes that machine's. Default: none."""
        return []

    @classmethod
    def exclusive_targets(cls, config: Mapping[str, Any]) -> list[str]:
        """What this connector's tasks must hold alone, from its valid config, each a phrase
        naming it (``file /data/out.txt``, ``replication slot hub on db:5432/shop``): two
        connectors holding one lose or duplicate records, so a second is refused. Default:
        none (a DuckDB database takes several sinks: their offsets are theirs)."""
        return []

    def start(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        """One config per task; the default is one task with the connector's config."""
        return [dict(self.config)]

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what ``start`` took."""


class SourceConnector(Connector):
    type: ClassVar[str] = "source"
    task_class: ClassVar[builtins.type[SourceTask]]

    @classmethod
    def signal(cls, config: ConnectorConfig, kind: str, data: Mapping[str, Any]) -> str:
        """Send a signal (Debezium's: ``execute-snapshot`` with ``{"data-collections": [...]}``)
        through the connector's own channel; returns its id. The default has none."""
        raise ConfigError(f"the {cls.name} connector takes no signals")


class SinkConnector(Connector):
    type: ClassVar[str] = "sink"
    task_class: ClassVar[builtins.type[SinkTask]]
