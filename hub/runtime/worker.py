"""The worker: one process, one log, many connectors and their tasks.

Each task runs in its own thread. A task that fails is stopped, its appended records are
committed (sources) or its batch left uncommitted (sinks), and it is restarted after a backoff
(1 s doubling to 60 s) from its stored offsets; its status shows FAILED with the error until
it runs again. ``stop`` (SIGTERM/SIGINT in ``hub run``) stops every task, which flushes and
commits, then closes the log cleanly.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from hub.config import ConnectorSpec, is_secret, mask
from hub.log import Log
from hub.runtime.converters import make_converter
from hub.runtime.errors import ErrorReporter
from hub.runtime.offsets import OffsetStore
from hub.runtime.runner import RunnerContext
from hub.runtime.sink_runner import SinkRunner
from hub.runtime.source_runner import SourceRunner
from hub.runtime.status import TaskState, TaskStatus
from hub.runtime.validation import ValidatedConnector, validate

log = logging.getLogger(__name__)

BACKOFF_MIN, BACKOFF_MAX = 1.0, 60.0


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
    spec: ValidatedConnector
    tasks: list[_Task]
    state: str = "RUNNING"


class Worker:
    def __init__(self, data_dir: str, *, flush_interval_ms: int = 100) -> None:
        self.log = Log(data_dir, flush_interval_ms=flush_interval_ms)
        self.offsets = OffsetStore(self.log)
        self.connectors: dict[str, ConnectorRuntime] = {}
        self._lock = threading.Lock()

    # -- connectors -----------------------------------------------------------------------
    def add(self, spec: ConnectorSpec) -> ConnectorRuntime:
        valid = validate(spec)
        for w in valid.warnings:
            log.warning(w)
        with self._lock:
            if spec.name in self.connectors:
                from hub.errors import ConfigError

                raise ConfigError(f"connector {spec.name!r} is already running")
            connector = valid.cls()
            connector.start(valid.raw)
            configs = connector.task_configs(valid.common.tasks_max)[: valid.common.tasks_max]
            rt = ConnectorRuntime(valid, [_Task(i, c, TaskState(i)) for i, c in enumerate(configs)])
            rt.connector = connector  # type: ignore[attr-defined]
            self.connectors[spec.name] = rt
        for task in rt.tasks:
            task.thread = threading.Thread(
                target=self._supervise, args=(rt, task), name=f"{spec.name}-{task.task_id}",
                daemon=True,
            )  # fmt: skip
            task.thread.start()
        log.info(
            "connector %s started with %d task(s): %s",
            spec.name,
            len(rt.tasks),
            mask(valid.raw, spec.secret_keys),
        )
        return rt

    def _runner(self, rt: ConnectorRuntime, task: _Task) -> SourceRunner | SinkRunner:
        v = rt.spec
        c = v.common
        key_conv = make_converter(c.key_converter, c.key_converter_schemas_enable)
        value_conv = make_converter(c.value_converter, c.value_converter_schemas_enable)
        ctx = RunnerContext(
            connector=v.name, task_id=task.task_id, config=task.config, common=c, log=self.log,
            key_converter=key_conv, value_converter=value_conv, state=task.state,
            errors=ErrorReporter(v.name, task.task_id, c, self.log),
            chain=v.chain if v.chain else None,
        )  # fmt: skip
        task.state.error_source = ctx.errors
        instance = v.cls.task_class()  # type: ignore[attr-defined]
        if v.cls.type == "source":
            return SourceRunner(ctx, instance, self.offsets)
        return SinkRunner(ctx, instance)

    def _supervise(self, rt: ConnectorRuntime, task: _Task) -> None:
        backoff = BACKOFF_MIN
        while not task.stop.is_set():
            runner = task.runner = self._runner(rt, task)
            started = time.monotonic()
            try:
                runner.run()
            except Exception as exc:
                secrets = rt.spec.spec.secret_keys
                text = "".join(traceback.format_exception(exc))
                for k, v in rt.spec.raw.items():  # never leak a secret through a message
                    if (k in secrets or is_secret(k)) and isinstance(v, str) and v:
                        text = text.replace(v, "********")
                task.state.failed(text)
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                for k, v in rt.spec.raw.items():
                    if (k in secrets or is_secret(k)) and isinstance(v, str) and v:
                        first = first.replace(v, "********")
                log.error(
                    "%s task %d failed: %s (restarting in %.0f s)",
                    rt.spec.name, task.task_id, first, backoff,
                )  # fmt: skip
                try:
                    runner.task.stop()
                except Exception:
                    log.exception("stopping the failed task raised")
                if time.monotonic() - started > 60:
                    backoff = BACKOFF_MIN
                if task.stop.wait(backoff):
                    break
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            break
        try:
            if task.runner is not None:
                task.runner.task.stop()
        except Exception:
            log.exception("stopping %s task %d raised", rt.spec.name, task.task_id)
        task.state.stopped()

    def remove(self, name: str) -> None:
        rt = self.connectors.pop(name)
        self._stop_tasks(rt)
        rt.connector.stop()  # type: ignore[attr-defined]

    def _stop_tasks(self, rt: ConnectorRuntime) -> None:
        for task in rt.tasks:
            task.stop.set()
            if task.runner is not None:
                task.runner.stop()
        for task in rt.tasks:
            if task.thread is not None:
                task.thread.join()

    def status(self) -> dict[str, list[TaskStatus]]:
        return {
            name: [t.state.snapshot() for t in rt.tasks] for name, rt in self.connectors.items()
        }

    def stop(self) -> None:
        for name in list(self.connectors):
            self.remove(name)
        self.log.close()
