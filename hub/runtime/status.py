"""Task and connector states as Kafka Connect reports them (RUNNING, FAILED, PAUSED, ...),
with the counters the CLI's status line and /metrics show. Thread-safe."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TaskStatus:
    id: int
    state: str
    trace: str | None
    records: int
    records_per_second: float
    last_commit_age_s: float | None
    lag: int | None  # records between the committed offsets and the log end (sinks)
    errors: int  # records that failed and were tolerated (errors.tolerance=all)
    failures: int = 0  # times the task failed (and was restarted)
    last_batch_size: int | None = None  # records in the last non-empty poll/batch
    metrics: dict[str, float] = field(default_factory=dict)  # the task's own (Task.metrics)
    error: str | None = None  # the last failure's message, one line, scrubbed
    permanent: bool = False  # the last failure was one retrying will not fix (a config error)
    last_apply_ms: float | None = None  # a sink: how long its last batch took to write
    # the worker running it, when not this one (distributed workers: read from the status
    # topic, with none of the figures above)
    worker_id: str | None = None


class TaskState:
    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        self._lock = threading.Lock()
        self.state = "UNASSIGNED"
        self.trace: str | None = None
        self.records = 0
        self._window: list[tuple[float, int]] = [(time.monotonic(), 0)]
        self._last_commit: float | None = None
        self.lag: int | None = None
        self.failures = 0
        self.last_batch_size: int | None = None
        self.last_apply_ms: float | None = None
        self.error_source: object = None  # the task's ErrorReporter (counts skipped records)
        self.metrics_source: object = None  # the connector's task (Task.metrics)
        self.error: str | None = None
        self.permanent = False

    def running(self) -> None:
        with self._lock:
            self.state, self.trace, self.error, self.permanent = "RUNNING", None, None, False

    def failed(self, trace: str, error: str | None = None, permanent: bool = False) -> None:
        with self._lock:
            self.state, self.trace, self.error, self.permanent = "FAILED", trace, error, permanent
            self.failures += 1

    def stopped(self) -> None:
        with self._lock:
            if self.state != "FAILED":
                self.state = "STOPPED"

    def add_records(self, n: int) -> None:
        with self._lock:
            self.records += n
            self.last_batch_size = n
            now = time.monotonic()
            self._window.append((now, self.records))
            while len(self._window) > 2 and now - self._window[0][0] > 10:
                self._window.pop(0)

    def committed(self) -> None:
        with self._lock:
            self._last_commit = time.monotonic()

    def snapshot(self) -> TaskStatus:
        with self._lock:
            now = time.monotonic()
            # over the last 10 s: from the window's last point older than that (it had been
            # its first, kept until records came again: an idle task's rate fell off slowly,
            # 9 records/s 5 minutes after its last record, and never showed 0)
            t0, n0 = self._window[0]
            for t, n in self._window:
                if t > now - 10:
                    break
                t0, n0 = t, n
            rate = (self.records - n0) / (now - t0) if now > t0 else 0.0
            age = None if self._last_commit is None else now - self._last_commit
            errors = int(getattr(self.error_source, "errors", 0))
            source = self.metrics_source
        metrics: dict[str, float] = {}
        if source is not None and self.state == "RUNNING":
            try:
                metrics = dict(source.metrics())  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - a task's metrics must never break status
                metrics = {}
        return TaskStatus(
            self.task_id, self.state, self.trace, self.records, rate, age, self.lag, errors,
            self.failures, self.last_batch_size, metrics, self.error, self.permanent,
            self.last_apply_ms,
        )  # fmt: skip
