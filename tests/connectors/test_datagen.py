"""datagen's rate after a pause: a burst of at most a second's records, not the whole debt."""

from __future__ import annotations

import time

from connectors.source.datagen.connector import DatagenTask
from hub.runtime.api import SourceTaskContext


def _count(task: DatagenTask, seconds: float) -> int:
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        n += sum(len(b.values) for b in task.poll())
    return n


def test_a_paused_generator_does_not_pay_its_debt_at_full_speed() -> None:
    # (a review's: at rate 200 a 5 s pause gave 1 200 records in the next second)
    task = DatagenTask()
    task.start({"topic": "t", "rate": 200}, SourceTaskContext("gen", 0, {}))
    try:
        assert _count(task, 0.5) > 0
        time.sleep(2.0)  # (the runtime paused it, or the log held it back)
        # a second's burst, then the rate (the whole debt was 500 here; a slow machine
        # makes fewer, never more)
        assert _count(task, 0.5) <= 200 + 100 + 20
    finally:
        task.stop()
