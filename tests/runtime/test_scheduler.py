"""The worker's scheduled jobs: retention runs on the scheduler, failures are shown, runs of
one job never overlap, and stop shuts the scheduler down before the log closes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.runtime.scheduler import Scheduler
from hub.runtime.worker import Worker
from tests.helpers import wait_for


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    w = Worker(str(tmp_path / "data"), retention_check_interval_ms=200)
    yield w
    w.stop()


def _job(worker: Worker, name: str) -> Any:
    return next(j for j in worker.jobs() if j.name == name)


def test_maintenance_runs_on_the_scheduler_and_deletes_segments(worker: Worker) -> None:
    assert worker.log.maintenance_interval_ms is None  # the log's own thread only flushes
    worker.log.create_topic("t", 1, {"segment.bytes": "1024", "retention.bytes": "2048"})
    producer = worker.log.producer()
    for i in range(40):  # one batch each: many 1 KiB segments
        producer.send_many("t", [b"x" * 200] * 2, keys=[f"k{i}".encode()] * 2)
        producer.flush()
    part = worker.log.partition("t", 0)
    assert part.log_end_offset == 80  # ~10 KiB written, five times retention.bytes
    wait_for(lambda: part.info().segments <= 3)  # only run_maintenance deletes segments
    assert part.log_start_offset > 0
    assert part.size_bytes() <= 2048 + 1024
    job = _job(worker, "log-maintenance")
    assert job.runs >= 1 and job.last_run is not None and job.last_duration_s is not None
    assert job.last_error is None and job.failures == 0
    assert job.interval_s == pytest.approx(0.2)
    assert job.next_run is not None and job.next_run > job.last_run
    assert job.to_dict()["interval_ms"] == 200


def test_a_failing_job_is_reported_and_the_scheduler_goes_on(
    worker: Worker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = worker.log.run_maintenance

    def broken(*_a: Any, **_k: Any) -> dict[str, int]:
        raise OSError("disk on fire")

    monkeypatch.setattr(worker.log, "run_maintenance", broken)
    wait_for(lambda: _job(worker, "log-maintenance").failures >= 2)
    job = _job(worker, "log-maintenance")
    assert job.last_error == "OSError: disk on fire" and job.failing
    assert worker.scheduler.running
    # (one line a run, not a traceback: out of descriptors, a job had logged one every second)
    assert "scheduled job log-maintenance failed (it runs again in" in caplog.text
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    monkeypatch.setattr(worker.log, "run_maintenance", real)
    wait_for(lambda: not _job(worker, "log-maintenance").failing)
    job = _job(worker, "log-maintenance")
    assert job.last_error == "OSError: disk on fire"  # kept for whoever looks later
    assert job.to_dict()["last_error_time"] is not None


def test_runs_of_one_job_never_overlap() -> None:
    scheduler = Scheduler()
    running, most = 0, 0
    lock = threading.Lock()

    def slow() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.25)
        with lock:
            running -= 1

    scheduler.add("slow", slow, 0.02)
    scheduler.start()
    try:
        wait_for(lambda: scheduler.jobs()[0].runs >= 3)
    finally:
        scheduler.shutdown()
    assert most == 1
    assert not scheduler.running and scheduler.jobs()[0].next_run is None


def test_add_rejects_duplicates_and_bad_intervals() -> None:
    scheduler = Scheduler()
    scheduler.add("a", lambda: None, 1)
    with pytest.raises(ValueError, match="already exists"):
        scheduler.add("a", lambda: None, 1)
    with pytest.raises(ValueError, match="positive"):
        scheduler.add("b", lambda: None, 0)
    scheduler.shutdown()  # never started: nothing to do


def test_stop_shuts_the_scheduler_down_before_the_log_closes(tmp_path: Path) -> None:
    w = Worker(str(tmp_path / "data"), retention_check_interval_ms=50)
    order: list[str] = []
    shutdown, close = w.scheduler.shutdown, w.log.close

    def spy_shutdown(wait: bool = True) -> None:
        shutdown(wait)
        order.append("scheduler")

    def spy_close() -> None:
        order.append("log")
        close()

    w.scheduler.shutdown = spy_shutdown  # type: ignore[method-assign]
    w.log.close = spy_close  # type: ignore[method-assign]
    wait_for(lambda: _job(w, "log-maintenance").runs >= 1)
    w.stop()
    assert order == ["scheduler", "log"]
    assert not w.scheduler.running


def test_a_job_that_does_not_return_holds_a_stop_a_bounded_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # (a job inside a Kafka consumer's call that did not return held a worker's stop for
    # ever: the scheduler's shutdown waited on it)
    scheduler = Scheduler()
    release = threading.Event()
    entered = threading.Event()

    def stuck() -> None:
        entered.set()
        release.wait(30)

    scheduler.add("stuck", stuck, 0.05)
    scheduler.start()
    try:
        assert entered.wait(10)
        t0 = time.monotonic()
        scheduler.shutdown(timeout_s=0.5)
        assert time.monotonic() - t0 < 3
        assert "scheduled job(s) stuck still running" in caplog.text
    finally:
        release.set()
