"""A worker's periodic jobs (log retention and compaction, the sinks' lag) on APScheduler.

Each job runs every ``interval_s`` in the scheduler's thread pool, the first run one interval
after ``start``. Runs of one job never overlap (``max_instances=1``); runs missed meanwhile are
folded into one (``coalesce``). A job that raises is logged and its error kept for ``jobs()``;
the scheduler and the job's later runs go on.

APScheduler is loaded lazily: its import takes ~75 ms of CPU, which would delay a worker's
first records. ``start`` returns at once; a thread of ours imports and starts APScheduler
``LOAD_AHEAD_S`` before the first job is due (at once for shorter intervals), and until then
``jobs()`` reports the runs from our own records. A job's first run is still one interval
after ``add``: APScheduler gets that time as the trigger's start.

Thread safety: all methods may be called from any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hub.errors import TransientError

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)
# APScheduler is loaded this long before the first run is due: half a second, so that with
# the status job's 1 s interval the import does not compete with a connector's first poll
LOAD_AHEAD_S = 0.5
_aps = logging.getLogger("apscheduler")
if _aps.level == logging.NOTSET:  # it logs every run at INFO and, as a warning, every run
    # skipped while the last one still runs (max_instances=1: what we ask for); unless
    # configured, keep it quiet
    _aps.setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class JobStatus:
    name: str
    interval_s: float
    next_run: datetime | None  # None once the scheduler is shut down
    last_run: datetime | None  # when the last run started (UTC); None before the first
    last_duration_s: float | None
    last_error: str | None  # the most recent failure, kept after later successes
    last_error_time: datetime | None
    runs: int
    failures: int

    @property
    def failing(self) -> bool:
        """Whether the last run failed."""
        return self.last_error_time is not None and self.last_error_time == self.last_run

    def to_dict(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "name": self.name,
            "interval_ms": round(self.interval_s * 1000),
            "next_run": iso(self.next_run),
            "last_run": iso(self.last_run),
            "last_duration_ms": (
                None if self.last_duration_s is None else round(self.last_duration_s * 1000, 3)
            ),
            "last_error": self.last_error,
            "last_error_time": iso(self.last_error_time),
            "runs": self.runs,
            "failures": self.failures,
        }


class _Job:
    """One job's function and the record of its runs (guarded by ``_lock``)."""

    def __init__(self, name: str, func: Callable[[], object], interval_s: float) -> None:
        self.name, self.func, self.interval_s = name, func, interval_s
        # the first run: one interval after add (what APScheduler's trigger defaults to)
        self.first_run = datetime.now(UTC) + timedelta(seconds=interval_s)
        self._lock = threading.Lock()
        self.last_run: datetime | None = None
        self.last_duration_s: float | None = None
        self.last_error: str | None = None
        self.last_error_time: datetime | None = None
        self.runs = self.failures = 0
        self.running = 0  # runs in progress

    def __call__(self) -> None:  # in the scheduler's pool; never raises into APScheduler
        started, t0 = datetime.now(UTC), time.monotonic()
        error = None
        with self._lock:
            self.running += 1
        try:
            self.func()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, TransientError | OSError):
                # (a cluster not reachable for a while, a full disk, out of descriptors: one
                # line a run, not a traceback every second)
                log.warning("scheduled job %s failed (it runs again in %.3g s): %s",
                            self.name, self.interval_s, error)  # fmt: skip
            else:
                log.exception("scheduled job %s failed (it runs again in %.3g s)", self.name,
                              self.interval_s)  # fmt: skip
        with self._lock:
            self.running -= 1
            self.last_run, self.last_duration_s = started, time.monotonic() - t0
            self.runs += 1
            if error is not None:
                self.last_error, self.last_error_time = error, started
                self.failures += 1

    def status(self, next_run: datetime | None) -> JobStatus:
        with self._lock:
            return JobStatus(
                self.name, self.interval_s, next_run, self.last_run, self.last_duration_s,
                self.last_error, self.last_error_time, self.runs, self.failures,
            )  # fmt: skip


class Scheduler:
    """Named interval jobs on a ``BackgroundScheduler`` (daemon threads, UTC)."""

    def __init__(self, max_workers: int = 4) -> None:
        self._max_workers = max_workers
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # a job added, or shutdown
        self._loader: threading.Thread | None = None  # set by start()
        self._stopped = False  # set by shutdown()
        self._scheduler: BackgroundScheduler | None = None  # once the loader made it

    def add(self, name: str, func: Callable[[], object], interval_s: float) -> None:
        """Run ``func`` every ``interval_s`` seconds; ValueError if ``name`` is taken."""
        if interval_s <= 0:
            raise ValueError(f"job {name!r}: the interval must be positive, not {interval_s}")
        with self._lock:
            if name in self._jobs:
                raise ValueError(f"job {name!r} already exists")
            job = self._jobs[name] = _Job(name, func, interval_s)
            if self._scheduler is not None:
                self._add_job(self._scheduler, job)
            else:  # the loader hands it over; it may be due sooner than the others
                self._wake.notify_all()

    @staticmethod
    def _add_job(scheduler: BackgroundScheduler, job: _Job) -> None:
        scheduler.add_job(
            job, "interval", seconds=job.interval_s, start_date=job.first_run, id=job.name,
            name=job.name,
        )  # fmt: skip

    def start(self) -> None:
        """Start running the jobs (returns at once; see the module's docstring)."""
        with self._lock:
            if self._loader is not None:
                raise RuntimeError("the scheduler has been started already")
            self._loader = threading.Thread(target=self._load, name="hub-scheduler", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        """The loader thread: wait until the first run is near, then start APScheduler."""
        with self._lock:
            while not self._stopped:
                first = min((j.first_run for j in self._jobs.values()), default=None)
                if first is None:
                    self._wake.wait()
                    continue
                ahead = (first - datetime.now(UTC)).total_seconds() - LOAD_AHEAD_S
                if ahead <= 0:
                    break
                self._wake.wait(ahead)
            if self._stopped:
                return
        try:
            from apscheduler.executors.pool import ThreadPoolExecutor
            from apscheduler.schedulers.background import BackgroundScheduler

            scheduler = BackgroundScheduler(
                timezone=UTC,
                executors={"default": ThreadPoolExecutor(self._max_workers)},
                job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            )
            with self._lock:
                if self._stopped:
                    return
                for job in self._jobs.values():
                    self._add_job(scheduler, job)
                scheduler.start()
                self._scheduler = scheduler
        except Exception:
            log.exception("the scheduler could not start; scheduled jobs will not run")

    @property
    def running(self) -> bool:
        with self._lock:
            if self._scheduler is not None:
                return bool(self._scheduler.running)
            return self._loader is not None and not self._stopped and self._loader.is_alive()

    def shutdown(self, wait: bool = True, timeout_s: float = 15.0) -> None:
        """Stop scheduling; with ``wait``, return once running jobs finished, or after
        ``timeout_s`` naming those that have not (a job inside a client call that does not
        return, as a Kafka consumer's asked from another thread, had held a worker's stop
        for ever). Idempotent."""
        with self._lock:
            self._stopped = True
            self._wake.notify_all()
            loader = self._loader
        if loader is not None:
            loader.join()  # at once, unless it is loading APScheduler right now
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        if not wait:
            return
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                busy = [j.name for j in self._jobs.values() if j.running]
            if not busy or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if busy:
            log.error(
                "scheduled job(s) %s still running %.0f s into the stop: left behind (a call of "
                "theirs that does not return)", ", ".join(busy), timeout_s,
            )  # fmt: skip

    def jobs(self) -> list[JobStatus]:
        running = self.running
        with self._lock:
            jobs = list(self._jobs.values())
            scheduler = self._scheduler
        out = []
        for job in jobs:
            next_run = None
            if running and scheduler is None:  # not loaded yet: the first run is ahead
                next_run = job.first_run
            elif running and scheduler is not None:
                scheduled = scheduler.get_job(job.name)
                next_run = scheduled.next_run_time if scheduled is not None else None
            out.append(job.status(next_run))
        return out
