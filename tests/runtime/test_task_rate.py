"""A task's records/s (status, REST, the console, the live view) over the last 10 s."""

from __future__ import annotations

import types

import pytest

from hub.runtime import status


def test_an_idle_tasks_rate_is_zero_ten_seconds_after_its_last_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # (the rate was taken from the window's first point, kept until records came again: an
    # idle sink showed 9 records/s 5 minutes after its last record, never 0)
    clock = [1000.0]
    monkeypatch.setattr(status, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    state = status.TaskState(0)
    for _ in range(20):  # 100 records a second for 20 s
        clock[0] += 1
        state.add_records(100)
    assert 95 <= state.snapshot().records_per_second <= 105
    clock[0] += 5  # quiet for 5 s: the last 10 s held half as many
    assert 45 <= state.snapshot().records_per_second <= 55
    clock[0] += 6  # quiet for 11 s
    assert state.snapshot().records_per_second == 0
    clock[0] += 300
    assert state.snapshot().records_per_second == 0
