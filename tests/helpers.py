"""Helpers every test module may use."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    cond: Callable[[], Any], timeout: float = 30, what: str = "condition", interval: float = 0.05
) -> Any:
    """Wait until ``cond()`` is true and return what it returned; AssertionError naming
    ``what`` after ``timeout`` seconds. The one way tests wait for something to happen."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
