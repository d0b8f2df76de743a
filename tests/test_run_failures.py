"""`hub run` facing errors that retrying cannot fix, and errors it must retry: what the user
sees in the log, and the exit status. Real subprocesses against the test PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.demo.postgres import PgServer

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, port: int, dbname: str, user: str = "postgres") -> Path:
    cfg = tmp_path / "pg.yaml"
    cfg.write_text(
        json.dumps(
            {
                "name": "src",
                "config": {
                    "connector.class": "postgres",
                    "database.hostname": "127.0.0.1",
                    "database.port": port,
                    "database.user": user,
                    "database.dbname": dbname,
                    "topic.prefix": "t",
                },
            }
        )
    )
    return cfg


def _start(tmp_path: Path, cfg: Path, *flags: str) -> subprocess.Popen[bytes]:
    err = (tmp_path / "stderr.txt").open("wb")
    with err:
        return subprocess.Popen(
            [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), "run", *flags,
             str(cfg)],
            stderr=err, stdout=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != "HUB_DATA_DIR"},
        )  # fmt: skip


def _stderr(tmp_path: Path) -> str:
    return (tmp_path / "stderr.txt").read_text()


def _wait_for(tmp_path: Path, needle: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while needle not in _stderr(tmp_path):
        assert time.monotonic() < deadline, f"{needle!r} not seen in: {_stderr(tmp_path)}"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        proc.kill()


def test_fail_fast_exits_on_a_config_error(tmp_path: Path, pg_server: PgServer) -> None:
    proc = _start(
        tmp_path, _config(tmp_path, pg_server.port, "no_such_db", pg_server.user), "--fail-fast"
    )
    try:
        proc.wait(timeout=60)
    finally:
        proc.kill()
    err = _stderr(tmp_path)
    assert proc.returncode == 1, err
    assert 'database "no_such_db" does not exist' in err
    assert "Retrying will not fix this" in err and "--fail-fast: stopping at an error" in err
    assert "Retrying every" not in err  # (it does not: it exits)
    assert "Traceback" not in err


def test_a_config_error_is_explained_once_and_the_exit_status_says_it(
    tmp_path: Path, pg_server: PgServer
) -> None:
    proc = _start(tmp_path, _config(tmp_path, pg_server.port, "no_such_db", pg_server.user))
    _wait_for(tmp_path, "Retrying will not fix this")
    time.sleep(1.5)  # a transient error would have been retried within this
    code = _stop(proc)
    err = _stderr(tmp_path)
    assert code == 1, err
    assert err.count("does not exist") == 2, err  # the failure, then the exit's summary
    assert "stopped; failed: src task 0:" in err
    assert "Retrying every 60 s meanwhile ('hub run --fail-fast' exits instead)" in err


def test_a_refused_connection_keeps_its_cause_and_is_retried(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _start(tmp_path, _config(tmp_path, port, "x"), "--fail-fast")
    _wait_for(tmp_path, "restarting in 2 s")  # retried with backoff: 1 s, then 2 s
    code = _stop(proc)
    err = _stderr(tmp_path)
    assert "Connection refused" in err and "Is the server running" in err
    assert "Retrying will not fix" not in err
    assert code == 1


def test_sigusr1_prints_every_threads_stack_and_the_worker_runs_on(tmp_path: Path) -> None:
    """A worker that seems stuck can be asked where each thread waits (kill -USR1), without
    stopping it."""
    from tests.fixtures.hub_process import start_hub, stop_hub

    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"connectors": [{"name": "gen", "config": {
        "connector.class": "datagen", "topic": "t", "rate": 100}}]}))  # fmt: skip
    proc = start_hub(tmp_path, str(config))
    try:
        log = tmp_path / "worker.log"
        deadline = time.monotonic() + 30
        while "connector gen started" not in log.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGUSR1)
        while "most recent call first" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        text = log.read_text()
        assert "Current thread" in text or "Thread 0x" in text, text
        assert proc.poll() is None  # still running
        stop_hub(proc, tmp_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_stop_stuck_past_its_bound_tells_where_and_exits(tmp_path: Path) -> None:
    """A stop that never ends (a connector's stop() that does not return, a client call that
    hangs) had kept `hub run` alive after SIGTERM for good; past the worker's
    stop_timeout_s the process says so, prints where each thread waits, and exits 1 (what
    it leaves undone, a kill -9 would have left too)."""
    script = (
        "import logging, threading\n"
        "from hub.cli.connect import _stop\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "class Stuck:\n"
        "    stop_timeout_s = 1.0\n"
        "    def stop(self):\n"
        "        threading.Event().wait()  # never set\n"
        "_stop(Stuck())\n"
    )
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=os.getcwd())  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - began < 30
    assert "stopping did not finish within 1 s: exiting without it" in done.stderr
    assert "line 7 in stop" in done.stderr, done.stderr  # where it waited
