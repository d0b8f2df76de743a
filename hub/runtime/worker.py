"""The worker: one process, one log, many connectors and their tasks.

Each task runs in its own thread. A task that fails is stopped, its appended records are
committed (sources) or its batch left uncommitted (sinks), and it is restarted after a backoff
(1 s doubling to 60 s) from its stored offsets; its status shows FAILED with the error until
it runs again. ``stop`` (SIGTERM/SIGINT in ``hub run``) stops every task, which flushes and
commits, then closes the log cleanly.

Connector states are Kafka Connect's (3.5+): RUNNING; PAUSED (tasks keep their resources, a
source stops polling and a sink stops consuming); STOPPED (tasks shut down, the config kept,
offsets may be altered); FAILED (the connector itself could not start). Connectors created
over REST are kept in ``__connect_configs`` (hub.runtime.configs) and started again when a
worker opens the same data directory. Lifecycle operations are serialised by one lock; task
threads never take it.

Periodic jobs run on the worker's scheduler (hub.runtime.scheduler), not in the log's thread:
``log-maintenance`` (retention and compaction, every ``log.retention.check.interval.ms``,
default 5 minutes) and ``sink-lag`` (each sink task's lag from its group's committed offsets,
so it moves between commits). ``jobs()`` reports them; ``stop`` shuts the scheduler down,
waiting for a running job, before the log closes.

Distributed (``cluster``: Connect's ``group.id``, on a Kafka backend): several workers share
the connectors of the config topic. Each connector and task has a lease
(hub.runtime.leases) that one live worker holds; a worker runs the tasks whose leases it
holds and writes their status, and every worker computes every connector's tasks. A thread
("cluster") serves the leases every 0.1 s, reads the config topic every 0.5 s and applies
what other workers' REST APIs wrote, and every second compares what it runs with its share
of the tasks (over it for 4 s: it gives tasks up).
docs/distributed.md has the design and its limits.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeGuard

from hub.config import ConnectorSpec, looks_secret, mask, resolve
from hub.errors import ConfigError, FatalError, describe
from hub.log import Log, ProducerFencedError, TopicPartition
from hub.log.backend import Listener, LogBackend, LogConsumer
from hub.runtime.api import (
    Connector,
    EncodedBatch,
    SourceBatch,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from hub.runtime.configs import ConfigStore
from hub.runtime.converters import make_converter
from hub.runtime.errors import ErrorReporter, RetryStopped
from hub.runtime.history import History
from hub.runtime.offsets import ALTERED_KEY, TASK_KEY, OffsetStore, partition_key
from hub.runtime.runner import RunnerContext
from hub.runtime.scheduler import JobStatus, Scheduler
from hub.runtime.sink_runner import SinkRunner
from hub.runtime.source_runner import SourceRunner
from hub.runtime.status import TaskState, TaskStatus
from hub.runtime.storage import StatusStore, StorageTopics, check_storage, status_value
from hub.runtime.validation import (
    ValidatedConnector,
    embedded_topic_configs,
    internal_topic_problems,
    shared_targets,
    topic_creation_configs,
    validate,
)

if TYPE_CHECKING:
    from hub.runtime.leases import TaskLeases

log = logging.getLogger(__name__)

BACKOFF_MIN, BACKOFF_MAX = 1.0, 60.0
RUNNING, PAUSED, STOPPED, FAILED = "RUNNING", "PAUSED", "STOPPED", "FAILED"
STATUS_INTERVAL_S = 1.0  # how often the status topic is brought up to date
LEASE_POLL_S = 0.1  # distributed: how often the leases' groups are served
CONFIG_SYNC_S = 0.5  # distributed: how often the config topic is read for other workers' writes
BALANCE_S = 1.0  # distributed: how often a worker looks for tasks to move
MOVE_DELAY_S = 4.0  # a worker over its share that long gives tasks up
ORPHAN_S = 60.0  # a task no live worker runs that long: its lease group is joined again
FULL_SYNC_S = 10.0  # distributed: how often every connector is compared with its config


class ConnectorNotFoundError(ConfigError):
    def __init__(self, name: str, task_id: int | None = None) -> None:
        self.name, self.task_id = name, task_id
        what = f"Connector {name}" if task_id is None else f"Task {name}-{task_id}"
        super().__init__(f"{what} not found")


class ConnectorExistsError(ConfigError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Connector {name} already exists")


class TaskElsewhereError(ConfigError):
    """A task another worker of the cluster runs (``worker_id``: its REST address, when
    known)."""

    def __init__(self, name: str, task_id: int, worker_id: str | None) -> None:
        self.name, self.task_id, self.worker_id = name, task_id, worker_id
        where = f"worker {worker_id}" if worker_id else "another worker (none has said yet)"
        super().__init__(f"Task {name}-{task_id} runs on {where}")


class ConnectorStateError(ConfigError):
    """An operation the connector's current state does not allow (e.g. offsets while
    RUNNING)."""


@dataclass
class _Task:
    task_id: int
    config: dict[str, Any]
    state: TaskState
    thread: threading.Thread | None = None
    runner: SourceRunner | SinkRunner | None = None
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class ConnectorRuntime:
    name: str
    config: dict[str, Any]  # as given: references unresolved (what GET .../config shows)
    spec: ValidatedConnector | None  # None: the stored config no longer validates
    tasks: list[_Task] = field(default_factory=list)
    state: str = STOPPED
    trace: str | None = None
    error: str | None = None  # why the connector failed to start, one line, scrubbed
    connector: Connector | None = None
    paused: threading.Event = field(default_factory=threading.Event)
    # the topics its tasks on this worker used since the worker started or the last reset
    active_topics: set[str] = field(default_factory=set)

    @property
    def type(self) -> str:
        return str(getattr(self.spec.cls, "type", "unknown")) if self.spec else "unknown"

    @property
    def secret_keys(self) -> set[str]:
        if self.spec is not None:
            return self.spec.secret_keys
        # a stored config that no longer validates: mask whatever may be a secret
        return {k for k in self.config if looks_secret(k)}

    def masked(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return mask(self.config if config is None else config, self.secret_keys)


class _PausableSourceTask(SourceTask):
    """A source task that returns nothing while its connector is paused."""

    def __init__(self, task: SourceTask, paused: threading.Event) -> None:
        self._task, self._paused = task, paused
        self._next_keep_alive = 0.0
        self.replay_neutral = task.replay_neutral
        self.keyless_in_order = task.keyless_in_order

    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self._task.start(config, context)

    def one_partition(self, topic: str) -> str | None:
        return self._task.one_partition(topic)

    def poll(self) -> Sequence[SourceRecord | SourceBatch | EncodedBatch]:
        if self._paused.is_set():
            if time.monotonic() >= self._next_keep_alive:
                # (a PostgreSQL source paused past wal_sender_timeout had lost its stream,
                # and failed when resumed)
                self._next_keep_alive = time.monotonic() + 1.0
                self._task.keep_alive()
            time.sleep(0.05)
            return []
        return self._task.poll()

    def keep_alive(self) -> None:
        self._task.keep_alive()

    def commit(self) -> None:
        self._task.commit()

    def stop(self) -> None:
        self._task.stop()


class _PausableConsumer:
    """A sink's consumer that fetches nothing while its connector is paused; it still takes
    part in its group, so the partitions stay assigned."""

    def __init__(self, consumer: LogConsumer, paused: threading.Event) -> None:
        self._consumer, self._paused = consumer, paused

    def poll(
        self, timeout: float = 0.0, max_records: int | None = None, max_bytes: int | None = None
    ) -> list[Any]:
        if not self._paused.is_set():
            records: list[Any] = self._consumer.poll(timeout, max_records, max_bytes)
            if not records or not self._paused.is_set():
                return records
            # paused while this poll waited: hand nothing over, rewind to the first record
            first: dict[TopicPartition, int] = {}
            for r in records:
                first.setdefault(TopicPartition(r.topic, r.partition), r.offset)
            for tp, offset in first.items():
                self._consumer.seek(tp, offset)
            return []
        self._consumer.heartbeat()  # keep the membership alive
        time.sleep(min(max(timeout, 0.0), 0.1))
        return []

    # the rest as the consumer does it
    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: Listener | None = None,
        on_revoke: Listener | None = None,
        on_lost: Listener | None = None,
    ) -> None:
        self._consumer.subscribe(topics, on_assign, on_revoke, on_lost)

    def assignment(self) -> set[TopicPartition]:
        return self._consumer.assignment()

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._consumer.seek(tp, offset)

    def commit(
        self, offsets: Mapping[TopicPartition, int] | None = None, metadata: str = ""
    ) -> None:
        self._consumer.commit(offsets, metadata)

    def committed(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, tuple[int, str]]:
        return self._consumer.committed(tps)

    def lag(self) -> dict[TopicPartition, int]:
        return self._consumer.lag()

    def heartbeat(self) -> None:
        self._consumer.heartbeat()

    def leave_group_now(self) -> None:
        leave = getattr(self._consumer, "leave_group_now", None)
        if leave is not None:
            leave()

    @property
    def member_id(self) -> str | None:
        return self._consumer.member_id

    def close(self) -> None:
        self._consumer.close()


def _scrubbed(exc: BaseException, rt_spec: ValidatedConnector | None) -> str:
    """A one-line, secret-free description of ``exc`` for the log (no traceback: tracebacks
    quote arguments, and those may be secrets)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if rt_spec is None else _scrub(text, rt_spec)


def _scrub(text: str, rt_spec: ValidatedConnector) -> str:
    return rt_spec.scrub(text)  # (never a secret through a message)


class Worker:
    def __init__(
        self,
        data_dir: str,
        *,
        flush_interval_ms: int | None = 0,
        restore: bool = True,
        worker_id: str = "127.0.0.1:8083",
        retention_check_interval_ms: int = 300_000,
        lag_refresh_interval_ms: int = 5_000,
        history_interval_ms: int = 5_000,
        backend: LogBackend | None = None,
        storage: StorageTopics | None = None,
        cluster: str | None = None,
        task_shutdown_graceful_timeout_ms: int = 5_000,
    ) -> None:
        """``flush_interval_ms`` is the log's flush policy (hub.log.log: 0 fsyncs appended
        records at once, coalescing what arrives meanwhile); ``retention_check_interval_ms`` is
        Kafka's ``log.retention.check.interval.ms``; ``lag_refresh_interval_ms`` how often the
        sinks' lag is recomputed. With ``backend`` (a Kafka cluster, `hub.log.kafka`) the
        worker keeps its topics, offsets and configs there instead of in ``data_dir``.
        ``storage``: the names of its internal topics (Connect's ``*.storage.topic``).
        ``cluster`` (Connect's ``group.id``, a Kafka backend only): a distributed worker,
        which shares the connectors of its config topic and their tasks with the other
        workers of that cluster (see the module's doc). ``task_shutdown_graceful_timeout_ms``:
        Connect's ``task.shutdown.graceful.timeout.ms``, how long a stop waits for its tasks in
        all before it leaves behind those still inside a call (a put or poll that hangs), which
        then commit and write nothing more."""
        self._task_shutdown_s = task_shutdown_graceful_timeout_ms / 1000
        # the process ends at a failure retrying will not fix (hub run --fail-fast, hub
        # demo): its message leaves out the retries every 60 s
        self.fail_fast = False
        self._stop_deadline: float | None = None  # (set by stop: the tasks' one deadline)
        # everything but the embedded log's own maintenance goes through the backend seam
        # (hub.log.backend), so another log (issue 16: Kafka) can take its place
        self.log: Log | None = None
        if backend is None:
            self.log = Log(
                data_dir, flush_interval_ms=flush_interval_ms, maintenance_interval_ms=None
            )
            backend = self.log
        self.backend: LogBackend = backend
        self.storage = storage or StorageTopics()
        s = self.storage
        try:
            check_storage(self.backend, s)  # (refused before any of them is created)
        except BaseException:
            if self.log is not None:
                self.log.close()
            raise
        # (distributed: reading the offsets rewrites nothing another worker may write newer)
        self.offsets = OffsetStore(
            self.backend, s.offsets, s.offsets_replication, repair=cluster is None
        )
        self.configs = ConfigStore(self.backend, s.configs, s.configs_replication)
        self.status_store = StatusStore(self.backend, s.status, s.status_replication)
        self.worker_id = worker_id
        self.connectors: dict[str, ConnectorRuntime] = {}
        self._lock = threading.RLock()
        self.cluster = cluster
        self.leases: TaskLeases | None = None
        self._held: set[tuple[str, int | None]] = set()  # leases held: (connector, task id)
        self._closing = threading.Event()
        self._acquiring = False  # a task lease was got: the cluster loop starts it
        self._status_lock = threading.Lock()
        self._over: float | None = None  # since when this worker holds more than its share
        self._shed: dict[str, float] = {}  # lease given up -> until when its return counts
        self._keep: dict[str, tuple[float, int]] = {}  # lease -> (kept until, times back)
        self._orphans: dict[str, float] = {}  # task lease -> since when nobody runs it
        # distributed: a REST call read the config topic (`_fresh_configs`) and may have
        # written nothing (a refused create): the next `sync` applies what it read
        self._unsynced = False
        if cluster is not None:
            self.leases = self._leases(cluster)
        if restore:
            for name, config in self.configs.configs().items():
                self._restore(name, config)
        self._cluster_thread: threading.Thread | None = None
        if self.leases is not None:
            self._want()
            self._cluster_thread = threading.Thread(
                target=self._serve_cluster, name="cluster", daemon=True
            )
            self._cluster_thread.start()
        self.scheduler = Scheduler()
        if self.log is not None:  # (a Kafka cluster keeps its own retention)
            self.scheduler.add(
                "log-maintenance", self._maintain, retention_check_interval_ms / 1000
            )
        self.scheduler.add("sink-lag", self.refresh_lag, lag_refresh_interval_ms / 1000)
        self.scheduler.add("status-store", self.publish_status, STATUS_INTERVAL_S)
        # the last hour of each connector's figures, for the console's charts
        self.history = History(history_interval_ms / 1000)
        self.scheduler.add(
            "metrics-history", lambda: self.history.sample(self.status()), self.history.interval_s
        )
        self.started_at = time.time()
        self.scheduler.start()

    # -- creating, updating, deleting -------------------------------------------------------
    @staticmethod
    def spec(name: str, config: Mapping[str, Any], source: str = "REST") -> ConnectorSpec:
        where = f"{source}, connector {name!r}"
        resolved, secrets = resolve({k: v for k, v in config.items()}, where,
                                    strict=source == "REST")  # fmt: skip
        return ConnectorSpec(name, resolved, source, secrets)

    def _restore(self, name: str, config: dict[str, Any]) -> None:
        try:
            valid = validate(self.spec(name, config))
        except ConfigError as exc:
            log.error("stored connector %s no longer validates: %s", name, exc)
            rt = ConnectorRuntime(name, config, None, state=FAILED, trace=str(exc))
            self.connectors[name] = rt
            return
        rt = ConnectorRuntime(name, config, valid)
        self.connectors[name] = rt
        stored = self.configs.state(name)
        self._start(rt, {"PAUSED": PAUSED, "STOPPED": STOPPED}.get(stored, RUNNING))

    def add(
        self,
        spec: ConnectorSpec,
        *,
        persist: bool = False,
        raw: Mapping[str, Any] | None = None,
        valid: ValidatedConnector | None = None,
        initial: str = RUNNING,
    ) -> ConnectorRuntime:
        """Validate and start a connector; ConnectorExistsError when the name is taken.
        ``persist`` keeps ``raw`` (the config as given; default ``spec.config``) in
        ``__connect_configs``. ``valid``: ``validate(spec)`` when the caller has it already
        (``hub run`` validates every file first), so it is not done twice."""
        if valid is None or valid.spec is not spec:
            valid = validate(spec)
        for w in valid.warnings:
            log.warning(w)
        with self._lock:
            if persist and self.leases is not None:
                # distributed: the config topic says what exists, before this worker's sync
                # has caught up with it (created or deleted on another worker a moment ago)
                self._fresh_configs()
                if spec.name in self.configs.configs():
                    raise ConnectorExistsError(spec.name)
                if spec.name in self.connectors:  # deleted elsewhere: as `sync` would
                    log.info("connector %s was deleted", spec.name)
                    self._shutdown(self.connectors.pop(spec.name))
                    self._forget_status(spec.name)
            if spec.name in self.connectors:
                raise ConnectorExistsError(spec.name)
            self._refuse_shared(valid)
            rt = ConnectorRuntime(spec.name, dict(spec.config if raw is None else raw), valid)
            if persist:
                stored = {PAUSED: "PAUSED", STOPPED: "STOPPED"}.get(initial)
                self.configs.put(spec.name, rt.config, state=stored)
            self.connectors[spec.name] = rt
            self._start(rt, initial)
            self._want()
            return rt

    def _refuse_shared(self, valid: ValidatedConnector) -> None:
        """ConfigError when another connector holds a target ``valid``'s must hold alone
        (`Connector.exclusive_targets`: a file two FileStreamSinks write, a slot)."""
        others = [rt.spec for name, rt in self.connectors.items()
                  if name != valid.name and rt.spec is not None]  # fmt: skip
        problems = internal_topic_problems(valid, self.internal_topics())
        problems += shared_targets([valid, *others], of=valid.name)
        if problems:
            raise ConfigError("; ".join(problems))

    def create(
        self, name: str, config: Mapping[str, Any], initial: str = RUNNING
    ) -> ConnectorRuntime:
        """A connector from REST: kept in ``__connect_configs``; ``initial``: RUNNING,
        PAUSED or STOPPED (Connect's ``initial_state``, KIP-980)."""
        return self.add(self.spec(name, config), persist=True, raw=config, initial=initial)

    def put_config(self, name: str, config: Mapping[str, Any]) -> tuple[ConnectorRuntime, bool]:
        """Create or reconfigure (restart with the new config, same target state); returns the
        runtime and whether it was created."""
        spec = self.spec(name, config)
        valid = validate(spec)
        with self._lock:
            self._fresh_configs()
            stored = self.configs.configs().get(name) if self.leases is not None else None
            if name not in self.connectors and stored is not None:
                # created on another worker, not yet started here: this is an update
                self._apply_stored(name, stored)
            old = self.connectors.get(name)
            if old is None:
                return self.create(name, config), True
            self._refuse_shared(valid)
            if (old.config == dict(config) and old.spec is not None and old.state != FAILED
                    and old.spec.raw == valid.raw):  # fmt: skip
                return old, False  # (the same config again, references read alike: its tasks
                # go on, as in Connect; they had reconnected to their databases at every PUT)
            target = self._target_state(old)
            self._shutdown(old)
            self.configs.put(name, dict(config))
            rt = ConnectorRuntime(name, dict(config), valid)
            self.connectors[name] = rt
            self._start(rt, target)
            self._want()
            return rt, False

    def delete(self, name: str) -> None:
        """Stop a connector and forget its config; its offsets stay (as in Kafka Connect)."""
        with self._lock:
            rt = self.get(name)
            self._shutdown(rt)
            del self.connectors[name]
            self.configs.put(name, None)
            self._forget_status(name)
            self._want()

    def remove(self, name: str) -> None:
        with self._lock:
            rt = self.connectors.pop(name)
            self._shutdown(rt)
            self._want()

    @property
    def lock(self) -> threading.RLock:
        """Held while connectors change; hold it to read several of them consistently."""
        return self._lock

    def get(self, name: str) -> ConnectorRuntime:
        rt = self.connectors.get(name)
        if rt is None:
            raise ConnectorNotFoundError(name)
        return rt

    def active_topics(self, name: str) -> list[str]:
        """The topics the connector's tasks on this worker wrote to (a source) or took
        records from (a sink) since the worker started or the last `reset_topics`."""
        return sorted(set(self.get(name).active_topics))

    def reset_topics(self, name: str) -> None:
        """Empty the connector's active topics; each comes back when next used."""
        with self._lock:
            rt = self.get(name)
            rt.active_topics.clear()
            for task in rt.tasks:
                if isinstance(task.runner, SourceRunner):
                    task.runner.forget_topics()

    # -- state changes ----------------------------------------------------------------------
    def pause(self, name: str) -> None:
        with self._lock:
            self._fresh_configs()
            self._target(self.get(name), PAUSED)
            self.configs.put_state(name, "PAUSED")
            self._want()

    def resume(self, name: str) -> None:
        with self._lock:
            self._fresh_configs()
            self._target(self.get(name), RUNNING)
            self.configs.put_state(name, "STARTED")
            self._want()

    def stop_connector(self, name: str) -> None:
        with self._lock:
            self._fresh_configs()
            self._target(self.get(name), STOPPED)
            self.configs.put_state(name, "STOPPED")
            self._want()

    def _fresh_configs(self) -> None:
        """Distributed: read what other workers wrote before a change (a target state
        written as this worker last read it is not skipped as one it already has)."""
        if self.leases is not None and self.configs.refresh():
            self._unsynced = True

    def _target(self, rt: ConnectorRuntime, target: str) -> None:
        """Bring a connector to the target state RUNNING, PAUSED or STOPPED here (a FAILED
        one is started again only by RUNNING's restart)."""
        if target == STOPPED:
            if rt.state != STOPPED:
                self._shutdown(rt)
        elif rt.state == STOPPED:
            self._start(rt, target)
        elif target == PAUSED and rt.state == RUNNING:
            rt.paused.set()
            rt.state = PAUSED
        elif target == RUNNING and rt.state == PAUSED:
            rt.paused.clear()
            rt.state = RUNNING

    def restart(self, name: str, *, include_tasks: bool = False, only_failed: bool = False) -> None:
        """Kafka Connect's restart: the connector, and with ``include_tasks`` its tasks;
        ``only_failed`` restarts only what is FAILED. Distributed: a restart request in the
        config topic, which every worker applies to what it runs (Connect's)."""
        with self._lock:
            rt = self.get(name)
            if self.leases is None:
                self._restart(rt, include_tasks, only_failed)
                return
        self.configs.put_restart(name, include_tasks, only_failed)
        self.sync()  # (this worker's part at once)

    def _target_state(self, rt: ConnectorRuntime) -> str:
        """The state a connector started again (reconfigured, restarted) goes to: the one it
        is in when PAUSED or STOPPED, else its stored target state (a FAILED connector paused
        since stays PAUSED, as Connect starts it; it had run, then come back PAUSED at the
        worker's next start)."""
        if rt.state in (PAUSED, STOPPED):
            return rt.state
        stored = self.configs.state(rt.name)
        return {"PAUSED": PAUSED, "STOPPED": STOPPED}.get(stored, RUNNING)

    def _restart(self, rt: ConnectorRuntime, include_tasks: bool, only_failed: bool) -> None:
        name = rt.name
        if rt.state == STOPPED:
            return
        if not only_failed or rt.state == FAILED:
            target = self._target_state(rt)
            if rt.state == FAILED or include_tasks:
                if rt.spec is None:  # maybe the plugin is installed now (still invalid: the
                    # connector stays FAILED with its reason, nothing stopped)
                    rt.spec = validate(self.spec(name, rt.config))
                self._shutdown(rt)
                self._start(rt, target)
                self._want()
                return
            self._restart_connector(rt)
        if include_tasks:
            for task in list(rt.tasks):
                if not only_failed or task.state.state == FAILED:
                    self._restart_task(rt, task)

    def restart_task(self, name: str, task_id: int) -> None:
        """Restart a task this worker runs; `TaskElsewhereError` when another one does
        (distributed: the REST API forwards the request to it, as Connect does)."""
        with self._lock:
            rt = self.get(name)
            task = self._task(rt, task_id)
            if not self._runs_here(name, task_id):
                raise TaskElsewhereError(name, task_id, self.task_statuses(rt)[
                    rt.tasks.index(task)].worker_id)  # fmt: skip
            self._restart_task(rt, task)

    def _task(self, rt: ConnectorRuntime, task_id: int) -> _Task:
        for t in rt.tasks:
            if t.task_id == task_id:
                return t
        raise ConnectorNotFoundError(rt.name, task_id)

    # -- lifecycle ---------------------------------------------------------------------------
    def _start(self, rt: ConnectorRuntime, target: str) -> None:
        """Start the connector and its tasks (paused when ``target`` is PAUSED). A connector
        restored without a valid config is validated again: ConfigError if still invalid."""
        if rt.spec is None:
            rt.spec = validate(self.spec(rt.name, rt.config))
        valid = rt.spec
        if target == PAUSED:
            rt.paused.set()
        else:
            rt.paused.clear()
        if target == STOPPED:
            rt.state = STOPPED
            return
        try:
            # (a config stored before the check at creation; the configs topic holds configs
            # as sent, literal secrets too)
            named = internal_topic_problems(valid, self.internal_topics())
            if named:
                raise ConfigError(named[0])
            connector = valid.cls()
            connector.start(valid.raw)
            configs = connector.task_configs(valid.common.tasks_max)[: valid.common.tasks_max]
        except Exception as exc:
            rt.state, rt.trace = FAILED, _scrub("".join(traceback.format_exception(exc)), valid)
            rt.error = _scrub(describe(exc), valid)
            log.error("connector %s failed to start: %s", rt.name, rt.error)
            return
        rt.connector, rt.state, rt.trace = connector, target, None
        files = valid.cls.local_files(valid.raw) if self.leases is not None else []
        if files:  # (a path a secret reference gave is masked)
            log.warning(_scrub(
                f"connector {rt.name} writes {', '.join(files)} on the machine that runs it: in "
                "a cluster of workers its task may move to another machine, which writes its "
                "own. Keep the file on storage every worker shares, or run the connector on "
                "one worker", valid))  # fmt: skip
        rt.tasks = [_Task(i, c, TaskState(i)) for i, c in enumerate(configs)]
        for task in rt.tasks:
            if self._runs_here(rt.name, task.task_id):  # (distributed: its lease's holder)
                self._launch(rt, task)
        log.info(
            "connector %s started with %d task(s)%s: %s",
            rt.name,
            len(rt.tasks),
            # (as Kafka Connect's, a connector makes as many as it can use: the database sinks
            # one, each batch one transaction with its offsets)
            f" (tasks.max {valid.common.tasks_max}: the connector makes {len(rt.tasks)})"
            if valid.common.tasks_max > len(rt.tasks)
            else "",
            mask(valid.raw, valid.secret_keys),
        )

    def _restart_connector(self, rt: ConnectorRuntime) -> None:
        assert rt.spec is not None
        if rt.connector is not None:
            rt.connector.stop()
        rt.connector = rt.spec.cls()
        rt.connector.start(rt.spec.raw)

    def _launch(self, rt: ConnectorRuntime, task: _Task) -> None:
        task.thread = threading.Thread(
            target=self._supervise, args=(rt, task), name=f"{rt.name}-{task.task_id}",
            daemon=True,
        )  # fmt: skip
        task.thread.start()

    def _restart_task(self, rt: ConnectorRuntime, task: _Task) -> None:
        if not self._runs_here(rt.name, task.task_id):
            return  # (its worker restarts it)
        self._stop_tasks([task])
        new = _Task(task.task_id, task.config, TaskState(task.task_id))
        rt.tasks[rt.tasks.index(task)] = new
        self._launch(rt, new)

    def _shutdown(self, rt: ConnectorRuntime) -> None:
        """Stop tasks and the connector; the runtime stays, STOPPED."""
        self._stop_tasks(rt.tasks)
        rt.tasks = []
        if rt.connector is not None:
            try:
                rt.connector.stop()
            except Exception as exc:
                log.error("stopping connector %s raised: %s", rt.name, _scrubbed(exc, rt.spec))
            rt.connector = None
        rt.paused.clear()
        rt.state, rt.trace = STOPPED, None

    def _runner(self, rt: ConnectorRuntime, task: _Task) -> SourceRunner | SinkRunner:
        v = rt.spec
        assert v is not None
        c = v.common
        internal = self.internal_topics()
        key_conv = make_converter(c.key_converter, c.key_converter_schemas_enable)
        value_conv = make_converter(c.value_converter, c.value_converter_schemas_enable)
        ctx = RunnerContext(
            connector=v.name, task_id=task.task_id, config=task.config, common=c, log=self.backend,
            key_converter=key_conv, value_converter=value_conv, state=task.state,
            errors=ErrorReporter(
                v.name, task.task_id, c, self.backend, scrub=lambda text: _scrub(text, v)
            ),
            chain=v.chain if v.chain else None, internal_topics=internal,
            topic_configs=self._topic_configs(v), active_topics=rt.active_topics,
        )  # fmt: skip
        task.state.error_source = ctx.errors
        instance = v.cls.task_class()  # type: ignore[attr-defined]
        task.state.metrics_source = instance
        if rt.type == "source":
            if c.exactly_once_support == "required" and not self._exactly_once:
                raise ConfigError(
                    f"{v.name}: exactly.once.support is 'required', but this worker's source "
                    "tasks do not write in transactions: set exactly.once.source.support: "
                    "enabled in the worker config (log.backend: kafka), or 'requested'"
                )
            source = SourceRunner(ctx, _PausableSourceTask(instance, rt.paused), self.offsets)
            if self.leases is not None:  # (a frozen worker's commits wait for its leases)
                source.may_commit = self.leases.current
            return source
        runner = SinkRunner(ctx, instance)
        runner.consumer = _PausableConsumer(runner.consumer, rt.paused)
        return runner

    def _topic_configs(self, v: ValidatedConnector) -> dict[str, str]:
        """The connector's topic.creation.default.<topic config>s this log takes (the
        embedded log leaves out a Kafka cluster's own, with a warning)."""
        configs = topic_creation_configs(v.raw)
        if self.log is None or not configs:
            return configs
        taken, left = embedded_topic_configs(configs)
        if left:
            log.warning(
                "%s: the embedded log leaves out topic.creation.default.%s (a Kafka cluster's "
                "topic config)", v.name, ", topic.creation.default.".join(sorted(left)),
            )  # fmt: skip
        return taken

    def _supervise(self, rt: ConnectorRuntime, task: _Task) -> None:
        assert rt.spec is not None
        backoff = BACKOFF_MIN
        told = ""  # the permanent failure already explained in the log
        while not task.stop.is_set():
            # (with transactions the runner reads them, after fencing that worker's producer:
            # a transaction it left open would hold this read until Kafka aborts it)
            if (
                self.leases is not None
                and rt.type == "source"
                and self.backend.transaction_prefix is None
            ):
                try:  # from the last commit of the worker that ran it before
                    self.offsets.refresh(repair=(rt.name, task.task_id))
                except Exception as exc:  # noqa: BLE001 - (retried, as a failed run is)
                    log.error("%s task %d: reading the offsets failed: %s (retrying in %.0f s)",
                              rt.name, task.task_id, describe(exc), backoff)  # fmt: skip
                    task.state.failed(describe(exc), describe(exc))
                    if task.stop.wait(backoff):
                        break
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
            started = time.monotonic()
            runner: SourceRunner | SinkRunner | None = None
            try:
                # (built here: a task that cannot be, e.g. its producer refused, fails as one
                # that stopped running does)
                runner = task.runner = self._runner(rt, task)
                if task.stop.is_set():  # stopped while the runner was being built
                    runner.stop()
                runner.run()
            except Exception as exc:
                if isinstance(exc, RetryStopped) and task.stop.is_set():
                    break  # (stopped while retrying: nothing failed)
                text = _scrub("".join(traceback.format_exception(exc)), rt.spec)
                first = _scrub(describe(exc), rt.spec)
                # a config error (wrong password, unknown database, wal_level) does not heal by
                # itself: say so once, then retry at the slowest pace
                permanent = isinstance(exc, ConfigError | FatalError)
                if permanent:
                    backoff = BACKOFF_MAX
                if isinstance(exc, ProducerFencedError) and first != told:
                    told = first  # (no config to change: the task runs in another process)
                    log.error("%s task %d stopped: %s. Trying again in %.0f s unless it moved "
                              "to another worker meanwhile (that would fence the other in "
                              "turn): if two processes run this connector, stop one",
                              rt.name, task.task_id, first, backoff)  # fmt: skip
                elif permanent and first != told:
                    told = first
                    log.error(
                        "%s task %d failed: %s. Retrying will not fix this: change the "
                        "configuration or the server, then restart the connector.%s",
                        rt.name, task.task_id, first, "" if self.fail_fast else (
                            f" Retrying every {backoff:.0f} s meanwhile ('hub run "
                            "--fail-fast' exits instead)."
                        ),
                    )  # fmt: skip
                else:
                    log.error(
                        "%s task %d failed: %s (restarting in %.0f s)",
                        rt.name, task.task_id, first, backoff,
                    )  # fmt: skip
                task.state.failed(text, first, permanent)
                try:
                    if runner is not None:
                        runner.task.stop()
                except Exception as stop_exc:
                    log.error("stopping the failed task raised: %s", _scrubbed(stop_exc, rt.spec))
                if time.monotonic() - started > 60 and not permanent:
                    backoff = BACKOFF_MIN
                if task.stop.wait(backoff):
                    break
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            break
        try:
            if task.runner is not None:
                task.runner.task.stop()
        except Exception as exc:
            log.error(
                "stopping %s task %d raised: %s", rt.name, task.task_id, _scrubbed(exc, rt.spec)
            )
        task.state.stopped()

    @staticmethod
    def _ask_to_stop(tasks: list[_Task]) -> None:
        for task in tasks:
            task.stop.set()
            if task.runner is not None:
                task.runner.stop()

    def _stop_tasks(self, tasks: list[_Task]) -> None:
        self._ask_to_stop(tasks)
        deadline = self._stop_deadline or time.monotonic() + self._task_shutdown_s
        for task in tasks:
            if task.thread is None:
                continue
            task.thread.join(max(deadline - time.monotonic(), 0.0))
            if task.thread.is_alive():  # (inside a call that does not return: left behind,
                # as Kafka Connect does, rather than hold every other operation of the worker)
                runner = task.runner
                if runner is not None:
                    runner.lost = True  # no commit, no flush, nothing more written
                    abandon = getattr(runner, "abandon", None)  # (a sink's: its partitions
                    if abandon is not None:  # go to the group's other members now)
                        abandon()
                log.error(
                    "%s did not stop within %.0f s (task.shutdown.graceful.timeout.ms): left "
                    "behind inside its call, it commits and writes nothing more",
                    task.thread.name, self._task_shutdown_s,
                )  # fmt: skip

    # -- distributed workers -------------------------------------------------------------------
    def _leases(self, cluster: str) -> TaskLeases:
        from hub.runtime.leases import TaskLeases

        client_config = getattr(self.backend, "client_config", None)
        if client_config is None:
            raise ConfigError("group.id (distributed workers) needs log.backend: kafka")
        s = self.storage
        if not self._exactly_once:
            log.warning(
                "cluster %s: exactly.once.source.support is disabled: a worker frozen past its "
                "session (a long GC or VM pause) still sends, once it resumes, what its source "
                "tasks had handed the Kafka client, after the records of the workers that took "
                "them over (duplicates; a keyed row may keep an older value in the sinks until "
                "it changes again); enable it in every worker config of the cluster", cluster,
            )  # fmt: skip
        settings = {  # (what every worker of a cluster must share)
            "exactly.once.source.support": "enabled" if self._exactly_once else "disabled",
            "config.storage.topic": s.configs, "offset.storage.topic": s.offsets,
            "status.storage.topic": s.status,
        }  # fmt: skip
        return TaskLeases(
            client_config(),
            cluster,
            self._acquired,
            self._released,
            member=self.worker_id,
            settings=settings,
        )

    @staticmethod
    def _lease(name: str, task_id: int | None) -> str:
        return f"connector:{name}" if task_id is None else f"task:{name}:{task_id}"

    @staticmethod
    def _leased(lease: str) -> tuple[str, int | None]:
        """(connector, task id or None) of a lease `_lease` named."""
        kind, _, rest = lease.partition(":")
        if kind == "connector":
            return rest, None
        name, _, task_id = rest.rpartition(":")
        return name, int(task_id)

    def _runs_here(self, name: str, task_id: int | None) -> bool:
        """Whether this worker runs the connector (``task_id`` None) or task: always on its
        own, distributed when it holds the lease."""
        return self.leases is None or (name, task_id) in self._held

    def _want(self) -> None:
        """Compete for the lease of every connector (its holder writes its status) and of
        the tasks of those that run (under the lock)."""
        if self.leases is None or self._closing.is_set():
            return
        wanted = set()
        for rt in self.connectors.values():
            wanted.add(self._lease(rt.name, None))
            if rt.state in (RUNNING, PAUSED):
                wanted.update(self._lease(rt.name, t.task_id) for t in rt.tasks)
        self.leases.want(wanted)

    def _acquired(self, lease: str) -> None:
        """This worker got a lease: it runs that task from now on (the cluster thread, under
        the lock; the worker that ran it before has stopped it)."""
        key = self._leased(lease)
        self._held.add(key)
        if key[1] is not None:  # (started by the cluster loop once the configs are read)
            self._acquiring = True
        now = time.monotonic()
        if self._shed.pop(lease, 0.0) > now:  # given up a moment ago and back: no other
            # worker competes for it (its connector failed there?): keep it, longer each time
            times = self._keep.get(lease, (0.0, 0))[1] + 1
            self._keep[lease] = (now + min(30.0 * 2**times, 600.0), times)

    def _launch_held(self) -> None:
        """Start the tasks whose leases this worker got (under the lock; the configs read
        just before, so a connector stopped or deleted meanwhile does not start here)."""
        self._acquiring = False
        for name, task_id in sorted(k for k in self._held if k[1] is not None):
            rt = self.connectors.get(name)
            if rt is None or rt.state not in (RUNNING, PAUSED):
                continue
            for task in rt.tasks:
                if task.task_id == task_id and task.thread is None:
                    log.info("%s task %d runs on this worker now", name, task_id)
                    self._launch(rt, task)

    def _released(self, lease: str) -> None:
        """This worker gave a lease up (revoked: another worker starts the task once this
        returns; lost: this worker's session expired, another may run it already)."""
        key = self._leased(lease)
        name = key[0]
        self._held.discard(key)
        rt = self.connectors.get(name)
        if key[1] is None or rt is None:
            return
        assert self.leases is not None
        for i, task in enumerate(rt.tasks):
            if task.task_id == key[1] and task.thread is not None:
                log.info("%s task %d moves to another worker: stopping it here", name, key[1])
                if self.leases.releasing_lost and task.runner is not None:
                    # another worker may run it already and have committed since: no last
                    # commit (its older offsets would land after the new holder's)
                    task.runner.lost = True
                self._stop_tasks([task])
                rt.tasks[i] = _Task(task.task_id, task.config, TaskState(task.task_id))
        if not self.leases.releasing_lost:  # handed over: no longer running here (its next
            # worker writes RUNNING once this returns; lost: another may run it already, and
            # the status job corrects the record if it still names this worker)
            with self._status_lock:
                status = status_value("UNASSIGNED", None, self.worker_id)
                try:
                    self.status_store.publish({f"status-task-{name}-{key[1]}".encode(): status},
                                              keep_others=True)  # fmt: skip
                except Exception as exc:  # noqa: BLE001 - a status record is no reason to fail
                    log.warning("could not write %s task %d's status: %s", name, key[1], exc)

    def _serve_cluster(self) -> None:
        """Distributed: serve the leases' groups (their callbacks start and stop tasks) and
        apply what other workers wrote to the config topic."""
        assert self.leases is not None
        next_sync = time.monotonic() + CONFIG_SYNC_S
        next_balance = time.monotonic() + BALANCE_S
        next_full = time.monotonic() + FULL_SYNC_S
        while not self._closing.wait(LEASE_POLL_S):
            try:
                with self._lock:
                    if self._closing.is_set():
                        break
                    self.leases.poll()
                    if time.monotonic() >= next_balance:
                        next_balance = time.monotonic() + BALANCE_S
                        self._balance()
                if self._acquiring:  # (the configs first: it may be stopped or gone)
                    self.sync()
                    with self._lock:
                        if not self._closing.is_set():
                            self._launch_held()
                if time.monotonic() >= next_sync:
                    next_sync = time.monotonic() + CONFIG_SYNC_S
                    force = time.monotonic() >= next_full
                    if force:
                        next_full = time.monotonic() + FULL_SYNC_S
                    self.sync(force)
            except Exception as exc:  # noqa: BLE001 - the cluster's work goes on
                log.error("serving the cluster: %s (retrying)", describe(exc))
                self._closing.wait(1.0)

    def _balance(self) -> None:
        """Give up the tasks past this worker's share (the tasks over the live workers,
        rounded up) once it has held too many for a few seconds, those that should run
        elsewhere (`hub.runtime.leases.ideal`) first: a worker that joins gets its share
        (under the lock)."""
        from hub.runtime.leases import ideal

        assert self.leases is not None
        workers = self.leases.members(settled_s=self.leases.session_s)
        tasks = {self._lease(rt.name, t.task_id): (rt.name, t.task_id)
                 for rt in self.connectors.values() if rt.state in (RUNNING, PAUSED)
                 for t in rt.tasks}  # fmt: skip
        now = time.monotonic()
        self._watch(tasks, workers, now)
        share = -(-len(tasks) // len(workers))
        mine = [lease for lease, key in tasks.items() if key in self._held]
        if len(workers) < 2 or len(mine) <= share:
            self._over = None
            return
        if self._over is None:
            self._over = now
        if now - self._over < MOVE_DELAY_S:  # (a view of the workers a moment old settles)
            return
        self._over = None
        target = ideal(tasks, workers)
        mine.sort(key=lambda lease: (target.get(lease) == self.worker_id, lease))
        # (a task given up that came back, no other worker wanting it, is kept a while)
        movable = [lease for lease in mine if self._keep.get(lease, (0.0, 0))[0] <= now]
        for lease in movable[: len(mine) - share]:
            name, task_id = tasks[lease]
            log.info("%s task %d moves to a worker with fewer tasks (%d tasks, %d workers, "
                     "%d here)", name, task_id, len(tasks), len(workers), len(mine))  # fmt: skip
            rest = max(self.leases.session_s, 3.0)
            self._shed[lease] = now + 3 * rest  # (back before then: nobody else took it)
            self.leases.shed(lease, rest)

    def _watch(self, tasks: dict[str, tuple[str, int]], workers: set[str], now: float) -> None:
        """A task no live worker has said it runs (or failed on) for a minute: join its
        group again as a new member, a last resort (a group that gave the lease to nobody)."""
        assert self.leases is not None
        orphans = {}
        for lease, (name, task_id) in tasks.items():
            if (name, task_id) in self._held:
                continue
            doc = self._topic_status(f"status-task-{name}-{task_id}")
            holder = doc.get("worker_id")
            if (
                doc.get("state") in (RUNNING, PAUSED, FAILED)
                and holder in workers
                and holder != self.worker_id
            ):  # (a record of its own: a lease it lost)
                continue
            since = orphans[lease] = self._orphans.get(lease, now)
            # (each worker its own delay: all of them rejoining at once every minute kept
            # the group rebalancing, and the lease stayed nobody's)
            spread = zlib.crc32(f"{self.worker_id}/{lease}".encode()) % 30
            if now - since >= max(4 * self.leases.session_s, ORPHAN_S) + spread:
                log.info("%s task %d runs nowhere: joining its lease's group again",
                         name, task_id)  # fmt: skip
                self.leases.rejoin(lease)
                orphans[lease] = now
        self._orphans = orphans

    def sync(self, force: bool = False) -> None:
        """Distributed: read the config topic and do what it says that this worker does not
        yet do (connectors created, reconfigured, deleted, paused, resumed, stopped or to be
        restarted by another worker's REST API). ``force``: compare everything even when
        nothing new was read (what failed to apply before is tried again)."""
        pending, self._unsynced = self._unsynced, False
        changed = self.configs.refresh() or pending
        restarts = self.configs.restarts()
        if not changed and not restarts and not force:
            return
        with self._lock:
            if self._closing.is_set():
                return
            stored = self.configs.configs()
            for name in [n for n in self.connectors if n not in stored]:
                log.info("connector %s was deleted", name)
                self._shutdown(self.connectors.pop(name))
                self._forget_status(name)
            for name, config in stored.items():
                self._apply_stored(name, config)
            for name, include_tasks, only_failed in restarts:
                rt = self.connectors.get(name)
                if rt is None:
                    continue
                try:
                    self._restart(rt, include_tasks, only_failed)
                except Exception as exc:  # noqa: BLE001 - (the others go on)
                    self._failed(rt, exc)
            self._want()

    def _apply_stored(self, name: str, config: dict[str, Any]) -> None:
        """Bring one connector to its stored config and target state (under the lock); a
        connector that cannot be is FAILED here, the others go on."""
        rt = self.connectors.get(name)
        target = {"PAUSED": PAUSED, "STOPPED": STOPPED}.get(self.configs.state(name), RUNNING)
        try:
            if rt is None:
                log.info("connector %s was created", name)
                self._restore(name, config)
            elif rt.config != config:
                log.info("connector %s was reconfigured", name)
                self._shutdown(rt)
                self.connectors.pop(name)
                self._restore(name, config)
            elif rt.state != target and not (rt.state == FAILED and target == RUNNING):
                self._target(rt, target)  # (a FAILED one waits for a restart, as Connect's)
        except Exception as exc:  # noqa: BLE001 - (the others go on)
            self._failed(self.connectors.get(name) or rt, exc)

    def _failed(self, rt: ConnectorRuntime | None, exc: Exception) -> None:
        if rt is None:
            return
        rt.state = FAILED
        rt.error = describe(exc) if rt.spec is None else _scrub(describe(exc), rt.spec)
        rt.trace = rt.error
        log.error("connector %s failed: %s", rt.name, rt.error)

    def _forget_status(self, name: str) -> None:
        """A deleted connector's records in the status topic: tombstones."""
        with self._status_lock:
            keys = self.status_store.keys_of(name)
            if keys:
                try:
                    self.status_store.publish(dict.fromkeys(keys), keep_others=True)
                except Exception as exc:  # noqa: BLE001 - a status record is no reason to fail
                    log.warning("could not delete connector %s's status records: %s", name, exc)

    def cluster_info(self) -> dict[str, Any] | None:
        """Distributed: the cluster's ``group.id``, its live workers and the connectors and
        tasks this worker runs; None for a worker on its own."""
        if self.leases is None:
            return None
        held = sorted(self._held, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
        return {
            "group.id": self.cluster, "workers": sorted(self.leases.members()),
            "connectors": [n for n, t in held if t is None],
            "tasks": [f"{n}-{t}" for n, t in held if t is not None],
        }  # fmt: skip

    def is_member(self, worker_id: str) -> bool:
        """Distributed: whether ``worker_id`` is a live worker of the cluster (a request is
        forwarded only to one)."""
        return self.leases is not None and worker_id in self.leases.members()

    def connector_status(self, rt: ConnectorRuntime) -> tuple[str, str | None, str | None]:
        """The connector's state, the worker reporting it and its trace: distributed, as its
        lease's holder wrote them to the status topic (this worker's own until it has)."""
        if not self._runs_here(rt.name, None):
            doc = self._topic_status(f"status-connector-{rt.name}")
            if doc.get("worker_id") == self.worker_id and doc.get("state") in (RUNNING, PAUSED):
                return "UNASSIGNED", self.worker_id, None  # (its past: it knows better)
            if doc.get("state"):
                return str(doc["state"]), doc.get("worker_id"), doc.get("trace")
        return rt.state, self.worker_id, rt.trace

    def _topic_status(self, key: str) -> dict[str, Any]:
        raw = self.status_store.get(key.encode())
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        return doc if isinstance(doc, dict) else {}

    # -- status ------------------------------------------------------------------------------
    def task_statuses(self, rt: ConnectorRuntime) -> list[TaskStatus]:
        out = []
        for t in rt.tasks:
            if not self._runs_here(rt.name, t.task_id):  # as its worker says
                doc = self._topic_status(f"status-task-{rt.name}-{t.task_id}")
                state = str(doc.get("state") or "UNASSIGNED")
                if doc.get("worker_id") == self.worker_id and state in (RUNNING, PAUSED):
                    state = "UNASSIGNED"  # (a record of this worker's past: it knows better)
                out.append(TaskStatus(
                    t.task_id, state, doc.get("trace"), 0, 0.0, None, None, 0,
                    worker_id=doc.get("worker_id"),
                ))  # fmt: skip
                continue
            s = t.state.snapshot()
            if rt.state == PAUSED and s.state == RUNNING:
                # (moves nothing: its rate is 0, not the last 10 s' average decaying)
                s = replace(s, state=PAUSED, records_per_second=0.0)
            out.append(s)
        return out

    def failures(self, *, permanent_only: bool = False) -> list[str]:
        """One line per failed connector or task: ``name: message`` (``name task N: ...``).
        ``permanent_only``: only failures retrying will not fix (a connector that could not
        start, a task that failed with a config error)."""
        out = []
        with self._lock:
            for name, rt in sorted(self.connectors.items()):
                if rt.state == FAILED:
                    out.append(f"{name}: {rt.error or 'failed'}")
                    continue
                for s in self.task_statuses(rt):
                    if s.state == FAILED and (s.permanent or not permanent_only):
                        out.append(f"{name} task {s.id}: {s.error or 'failed'}")
        return out

    def status(self) -> dict[str, list[TaskStatus]]:
        with self._lock:
            return {name: self.task_statuses(rt) for name, rt in self.connectors.items()}

    def connector_errors(self) -> dict[str, str]:
        """The connectors that failed to start (their tasks never ran), each with its
        error."""
        with self._lock:
            return {name: rt.error or "failed" for name, rt in self.connectors.items()
                    if rt.state == FAILED}  # fmt: skip

    # -- scheduled jobs ------------------------------------------------------------------------
    def jobs(self) -> list[JobStatus]:
        """The scheduled jobs: name, interval, next and last run, last duration and error."""
        return self.scheduler.jobs()

    def _maintain(self) -> None:
        assert self.log is not None
        stats = self.log.run_maintenance()
        if any(stats.values()):
            log.info(
                "log maintenance: %d segment(s) deleted, %d partition(s) compacted",
                stats["segments_deleted"], stats["partitions_compacted"],
            )  # fmt: skip

    @property
    def _exactly_once(self) -> bool:
        """Whether a source task here is exactly-once against zombies too: the embedded log
        (one writer per data directory) or Kafka transactions (KIP-618)."""
        return self.log is not None or self.backend.transaction_prefix is not None

    def internal_topics(self) -> frozenset[str]:
        """The worker's three storage topics (``*.storage.topic``): no connector's."""
        return frozenset((self.storage.configs, self.storage.offsets, self.storage.status))

    def publish_status(self) -> None:
        """Bring the status topic up to the connectors' and tasks' states (Connect's
        format, hub.runtime.storage); a connector gone has its records deleted.
        Distributed: only what this worker runs, after reading what the others wrote."""
        distributed = self.leases is not None
        if distributed:
            self.status_store.refresh()
        # (one at a time with a deleted connector's tombstones: neither writes over the other)
        with self._status_lock:
            states: dict[bytes, bytes | None] = {}
            for rt in list(self.connectors.values()):
                if self._runs_here(rt.name, None):
                    states[f"status-connector-{rt.name}".encode()] = status_value(
                        rt.state, rt.trace, self.worker_id
                    )
                    if distributed:  # the records of tasks it no longer has (fewer tasks)
                        tasks = {f"status-task-{rt.name}-{t.task_id}".encode() for t in rt.tasks}
                        for key in self.status_store.keys_of(rt.name):
                            if key.startswith(b"status-task-") and key not in tasks:
                                states[key] = None
                for t, st in zip(list(rt.tasks), self.task_statuses(rt), strict=False):
                    if self._runs_here(rt.name, t.task_id):
                        states[f"status-task-{rt.name}-{st.id}".encode()] = status_value(
                            st.state, st.trace, self.worker_id
                        )
                if distributed:
                    states.update(self._stale_claims(rt))
            self.status_store.publish(states, keep_others=distributed, backoff=True)

    def _stale_claims(self, rt: ConnectorRuntime) -> dict[bytes, bytes]:
        """UNASSIGNED for the status records that say this worker runs what it does not (a
        lease lost, not handed over: no record was written then; with no worker holding it,
        as after a broker came back empty, they had said RUNNING on this worker for ever).
        A worker that holds it writes RUNNING again after reading this."""
        out = {}
        keys = [(f"status-connector-{rt.name}", None)] + [
            (f"status-task-{rt.name}-{t.task_id}", t.task_id) for t in rt.tasks
        ]
        for key, task_id in keys:
            if self._runs_here(rt.name, task_id):
                continue
            doc = self._topic_status(key)
            if doc.get("worker_id") == self.worker_id and doc.get("state") in (RUNNING, PAUSED):
                out[key.encode()] = status_value("UNASSIGNED", None, self.worker_id)
        return out

    def refresh_lag(self) -> None:
        """Set each sink task's lag: the records between its partitions' committed offsets and
        their ends (what the runner computes at each commit). Takes no worker lock."""
        for rt in list(self.connectors.values()):
            if rt.type != "sink" or rt.state not in (RUNNING, PAUSED):
                continue
            # a partition with nothing committed yet counts whole (the committed partitions'
            # lags alone had shown 458 for a sink 25 000 behind on a topic it had just
            # found), but for a sink reading from the end on (auto.offset.reset=latest): none
            # of it (its runner's own figure, from its positions, counts what it has left;
            # asking its consumer from this thread had hung a Kafka worker's stop: a
            # librdkafka consumer is the runner's alone)
            latest = rt.spec is not None and rt.spec.common.auto_offset_reset == "latest"
            lags: dict[str, int] = {}
            for p in self.backend.groups.describe(f"connect-{rt.name}").partitions:
                if p.owner is None:
                    continue
                lag = p.lag
                tp = TopicPartition(p.topic, p.partition)
                if lag is None and latest:
                    continue
                if lag is None:  # (read from the start: none of it is written for sure)
                    try:
                        start, end = self.backend.watermarks(tp)
                    except Exception:  # noqa: BLE001 - (deleted meanwhile)
                        continue
                    lag = max(end - start, 0)
                lags[p.owner] = lags.get(p.owner, 0) + lag
            for task in list(rt.tasks):
                runner = task.runner
                member = runner.consumer.member_id if isinstance(runner, SinkRunner) else None
                if member in lags:  # else nothing assigned yet: the runner's figure stands
                    task.state.lag = lags[member]

    # -- offsets (KIP-875) ---------------------------------------------------------------------
    def _stopped(self, rt: ConnectorRuntime) -> None:
        if rt.state != STOPPED:
            raise ConnectorStateError(
                "Connectors must be in the STOPPED state before their offsets can be modified. "
                f"This can be done for the specified connector by issuing a 'PUT' request to "
                f"the '/connectors/{rt.name}/stop' endpoint"
            )
        if self.leases is None:
            return
        # distributed: no worker may still run a task (one that has not read the stop yet
        # would commit over the change)
        tasks = rt.spec.common.tasks_max if rt.spec is not None else 1
        groups = [self.leases.group(self._lease(rt.name, i)) for i in range(tasks)]
        running = [i for i, g in enumerate(groups) if self.backend.groups.has_members(g)]
        if running:
            raise ConnectorStateError(
                f"Connector {rt.name} is STOPPED, but task(s) {running} still run on a worker "
                "of the cluster that has not stopped them yet: try again in a moment"
            )

    def get_offsets(self, name: str) -> list[dict[str, Any]]:
        rt = self.get(name)
        if rt.type == "sink":
            info = self.backend.groups.describe(f"connect-{name}")
            return [
                {
                    "partition": {"kafka_topic": p.topic, "kafka_partition": p.partition},
                    "offset": {"kafka_offset": p.committed},
                }
                for p in info.partitions
                if p.committed is not None
            ]
        return [{"partition": p, "offset": o} for p, o in self.offsets.partitions(name)]

    def signal(self, name: str, kind: str, data: Mapping[str, Any]) -> str:
        """Send a signal through a source connector's own channel (its signal table); its
        id. The source acts on it when its stream reaches it (paused: when resumed)."""
        rt = self.get(name)
        if rt.type != "source" or rt.spec is None:
            raise ConfigError(f"connector {name} is not a source: it takes no signals")
        cls = rt.spec.cls
        assert issubclass(cls, SourceConnector)
        return cls.signal(rt.spec.config, kind, data)

    def target_offsets_warning(self, name: str) -> str | None:
        """What to know before changing the group offsets of ``name``, a sink that resumes
        from offsets kept in its target (`SinkTask.offsets_in_target`) where it has them: the
        group's count only where the target has none (a new or emptied target)."""
        rt = self.connectors.get(name)
        task = getattr(rt.spec.cls, "task_class", None) if rt and rt.spec else None
        if rt is None or rt.type != "sink" or not getattr(task, "offsets_in_target", False):
            return None
        return (
            f"connector {name} resumes from the offsets kept in its target where it has them "
            "(the database sinks: the connector's rows of the table _hub_offsets; "
            "FileStreamSink: its file's size), not from its consumer group's: to replay, also "
            "remove those while it is STOPPED"
        )

    def alter_offsets(self, name: str, offsets: list[dict[str, Any]]) -> str | None:
        """Set (or with a null offset, remove) offsets of a STOPPED connector; a warning to
        pass on (`target_offsets_warning`)."""
        with self._lock:
            rt = self.get(name)
            self._stopped(rt)
            if rt.type == "sink":
                self._alter_sink_offsets(name, offsets)
                return self.target_offsets_warning(name)
            changes: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
            for i, item in enumerate(offsets):
                partition, offset = item.get("partition"), item.get("offset")
                if not isinstance(partition, dict) or not partition:
                    raise ConfigError(f"offsets[{i}].partition: a non-empty object is required")
                if TASK_KEY in partition or ALTERED_KEY in partition:
                    raise ConfigError(  # (a task's own checkpoint: written, it skipped records)
                        f"offsets[{i}].partition: {TASK_KEY} and {ALTERED_KEY} name hub's own "
                        "records of a task's progress, not a source partition: leave them out"
                    )
                if offset is not None and not isinstance(offset, dict):
                    raise ConfigError(f"offsets[{i}].offset: an object or null is required")
                changes[partition_key(partition)] = (partition, offset)
            self.offsets.alter(name, changes)
            return None

    def _alter_sink_offsets(self, name: str, offsets: list[dict[str, Any]]) -> None:
        commits: dict[TopicPartition, int] = {}
        deletes: list[TopicPartition] = []
        for i, item in enumerate(offsets):
            p, o = item.get("partition"), item.get("offset")
            topic = p.get("kafka_topic") if isinstance(p, dict) else None
            part = p.get("kafka_partition") if isinstance(p, dict) else None
            if not isinstance(topic, str) or not _whole(part) or part < 0:
                raise ConfigError(
                    f"offsets[{i}].partition: an object with kafka_topic (a string) and "
                    "kafka_partition (an integer >= 0) is required"
                )
            tp = TopicPartition(topic, part)
            if o is None:
                deletes.append(tp)
                continue
            off = o.get("kafka_offset") if isinstance(o, dict) else None
            if not _whole(off) or off < 0:
                raise ConfigError(f"offsets[{i}].offset: needs kafka_offset (an integer >= 0)")
            # (as Kafka refuses an unknown partition's offset: stored, it failed the group's
            # views and every sink's lag once the topic existed)
            if not self.backend.has_topic(topic):
                raise ConfigError(f"offsets[{i}].partition: no topic {topic!r}")
            count = self.backend.partition_count(topic)
            if part >= count:
                raise ConfigError(
                    f"offsets[{i}].partition: topic {topic!r} has no partition {part} (it has "
                    f"{count}: 0..{count - 1})"
                )
            commits[tp] = off
        group = f"connect-{name}"
        if commits:
            self.backend.groups.commit(group, commits)
        if deletes:
            self.backend.groups.delete_offsets(group, deletes)

    def reset_offsets(self, name: str) -> str | None:
        """Forget a STOPPED connector's offsets; a warning to pass on."""
        with self._lock:
            rt = self.get(name)
            self._stopped(rt)
            if rt.type == "sink":
                self.backend.groups.delete_offsets(f"connect-{name}")
                return self.target_offsets_warning(name)
            self.offsets.forget(name)
            return None

    @property
    def stop_timeout_s(self) -> float:
        """How long `stop` may take: its tasks' graceful timeout, then up to a minute for the
        rest (the last status records, the log's close; a Kafka cluster's calls are bounded
        by 30 s each). A stop past it is stuck (``hub run`` then exits without it)."""
        return self._task_shutdown_s + 60.0

    def stop(self) -> None:
        self._closing.set()  # (distributed: the leases stay held until the tasks stopped)
        if self._cluster_thread is not None:
            self._cluster_thread.join()
        self.scheduler.shutdown(wait=True)  # no job may touch the log once it closes
        with self._lock:
            # every task asked at once, and one graceful timeout for them all (Connect's), not
            # one per connector: a worker's stop is bounded (`stop_timeout_s`)
            self._ask_to_stop([task for rt in self.connectors.values() for task in rt.tasks])
            self._stop_deadline = time.monotonic() + self._task_shutdown_s
            # as Connect's worker leaves them: no longer running anywhere (a FAILED one
            # keeps its state and trace); distributed: what this worker ran
            left = [f"status-connector-{n}" for n, rt in self.connectors.items()
                    if rt.state != FAILED and self._runs_here(n, None)]  # fmt: skip
            left += [f"status-task-{n}-{t.task_id}" for n, rt in self.connectors.items()
                     for t in rt.tasks if t.state.state != FAILED
                     and self._runs_here(n, t.task_id)]  # fmt: skip
            for name in list(self.connectors):
                self.remove(name)
        if not self.status_store.backing_off():  # (a cluster refusing writes: no wait)
            unassigned = status_value("UNASSIGNED", None, self.worker_id)
            try:
                self.status_store.publish({k.encode(): unassigned for k in left},
                                          keep_others=True)  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - a stop goes on (a start rewrites it)
                log.warning("could not write the connectors' final states: %s", exc)
        if self.leases is not None:  # (now the other workers take the tasks)
            with self._lock:
                self.leases.close()
        self.backend.close()


def _whole(value: object) -> TypeGuard[int]:
    """An integer of JSON's, not a boolean (``true`` is an int in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)
