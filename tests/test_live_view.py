"""`hub run`'s live view: what it draws from a worker's status, and that a terminal gets it
while a pipe gets plain lines."""

from __future__ import annotations

import io
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from connectors.source.datagen.connector import Datagen
from hub.cli.live import LiveView
from hub.errors import ConfigError
from hub.runtime.status import TaskStatus


def _text(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=140, color_system=None).print(renderable)
    return out.getvalue()


def _task(state: str, records: int, **metrics: float) -> TaskStatus:
    return TaskStatus(0, state, None, records, 250.0, None, None, 0, metrics=dict(metrics))


def test_snapshot_bars_with_eta_and_failed_tasks() -> None:
    view = LiveView()
    types = {"src": "source", "sink": "sink"}
    snap = {"snapshot_running": 1.0, "snapshot_rows_estimated:public.orders": 10_000.0}
    first = view.render(
        {"src": [_task("RUNNING", 1000, **snap, **{"snapshot_rows_done:public.orders": 1000.0})],
         "sink": [TaskStatus(0, "FAILED", "trace", 10, 0.0, None, 5, 0,
                             error="cannot connect to the target: Connection refused")]},
        types, now=100.0,
    )  # fmt: skip
    text = _text(first)
    assert "RUNNING (snapshot)" in text and "FAILED" in text
    assert "Connection refused" in text
    assert "public.orders" in text and "1,000 / ~10,000 rows" in text and "ETA" not in text
    second = view.render(
        {"src": [_task("RUNNING", 3000, **snap, **{"snapshot_rows_done:public.orders": 3000.0})]},
        types, now=102.0,
    )  # fmt: skip
    assert "3,000 / ~10,000 rows  ETA 7 s" in _text(second)  # 1 000 rows/s, 7 000 to go


@pytest.mark.integration
def test_a_terminal_gets_the_live_view(tmp_path: Path) -> None:
    cfg = tmp_path / "gen.yaml"
    cfg.write_text("name: gen\nconfig: {connector.class: datagen, topic: t, rate: 100, keys: 5}\n")
    parent, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), "run", str(cfg)],
        stdin=subprocess.DEVNULL, stdout=child, stderr=child, close_fds=True,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )  # fmt: skip
    os.close(child)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"RUNNING" not in seen or b"rate/s" not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            if select.select([parent], [], [], 0.2)[0]:
                seen += os.read(parent, 65536)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(parent)
    text = seen.decode(errors="replace")
    assert "connector" in text and "gen" in text and "source" in text
    assert " INFO " not in text  # log lines go through the view's console, not raw


def test_a_connector_that_failed_to_start_is_shown_failed_with_its_error(
    tmp_path: Path,
) -> None:
    """It has no task: the status line logged every 10 s without a terminal took the
    minimum of no states and stopped the whole worker (ValueError); the live view showed it
    UNASSIGNED with no error."""
    from hub.cli.connect import _status_line
    from hub.config import ConnectorSpec
    from hub.runtime.worker import Worker

    worker = Worker(str(tmp_path / "data"))
    try:
        worker.add(ConnectorSpec("bad", {"connector.class": f"{__name__}:RefusingSource",
                                         "topic": "t"}, "test"))  # fmt: skip
        assert _status_line(worker).startswith("bad: FAILED 0 rec")
        text = _text(LiveView().render(worker.status(), {"bad": "source"},
                                       failed=worker.connector_errors()))  # fmt: skip
        assert "FAILED" in text and "no such table" in text
    finally:
        worker.stop()


class RefusingSource(Datagen):
    """A source whose connector refuses to start (as one naming a missing table does)."""

    def start(self, config: Mapping[str, Any]) -> None:
        raise ConfigError("table.include.list: no such table")
