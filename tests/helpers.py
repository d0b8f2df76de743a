"""Helpers every test module may use."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson


def loads(doc: bytes | str) -> Any:
    """``json.loads``, through orjson (5-10x faster: tests that read whole topics again and
    again spent most of their time in the stdlib's decoder); what orjson refuses (NaN,
    Infinity) goes to the stdlib. Not for exact integers past 64 bits: orjson reads those as
    floats (use ``json.loads`` there, as the type-matrix tests do)."""
    try:
        return orjson.loads(doc)
    except orjson.JSONDecodeError:
        return json.loads(doc)


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


def freeze(pid: int, timeout: float = 10) -> None:
    """SIGSTOP ``pid`` and return once every thread of it has stopped. The signal stops the
    process a moment after ``kill`` returns, once one of its threads runs again to take it:
    on a loaded machine a broker answered requests sent after the kill (a test then saw a
    write "made while the cluster did not answer")."""
    os.kill(pid, signal.SIGSTOP)

    def stopped() -> bool:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            return True  # (gone: stopped for good)
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue  # (a thread that ended meanwhile)
            if state not in (b"T", b"t", b"Z", b"X"):  # (or ended, not yet reaped)
                return False
        return True

    wait_for(stopped, timeout, f"process {pid} stopped by SIGSTOP", interval=0.001)


def run_killed(
    cmd: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    progress: Callable[[], int],
    kills_at: Sequence[int],
    finished: Callable[[], bool],
) -> None:
    """Run the hub process ``cmd`` (stderr appended to ``log_path``), SIGKILL it each time
    ``progress()`` reaches the next of ``kills_at`` (each kill mid-stream: not yet
    ``finished()``), then once more until ``finished()``, and stop it with SIGTERM, which
    must end it with exit status 0."""
    with log_path.open("ab") as log:

        def alive(proc: subprocess.Popen[bytes]) -> bool:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            return True

        for at in kills_at:
            proc = subprocess.Popen(cmd, env=env, stderr=log)
            try:
                wait_for(lambda p=proc, n=at: alive(p) and progress() >= n, 90, f"{at} done")
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            assert not finished()  # (mid-stream: there was more to do)
        proc = subprocess.Popen(cmd, env=env, stderr=log)
        try:
            wait_for(lambda: alive(proc) and finished(), 120, "the end")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log_path.read_text()[-3000:]


def as_made_before_topic_ids(data_dir: str, topic: str) -> None:
    """Take the id out of an embedded log topic's topic.json, as a topic made by a hub
    before topics had ids."""
    meta = os.path.join(data_dir, topic, "topic.json")
    with open(meta) as f:
        doc = json.load(f)
    del doc["id"]
    with open(meta, "w") as f:
        json.dump(doc, f)
