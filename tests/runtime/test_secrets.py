"""Secrets never reach logs, status or errors: a value that came from ${env:...} is masked
even inside a failing task's exception message."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path


def test_secret_in_a_failing_task_is_masked_in_logs(tmp_path: Path) -> None:
    secret_dir = tmp_path / "s3cr3t-dir-that-does-not-exist"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        textwrap.dedent("""
        name: leaky
        config:
          connector.class: FileStreamSink
          topics: t
          file: ${env:HUB_TEST_SECRET_FILE}
    """)
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd(), HUB_TEST_SECRET_FILE=str(secret_dir / "out"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), "run", str(cfg)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(4)  # long enough for the task to fail and be restarted once
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert "No such file or directory: '********'" in out  # failed, and masked
    assert "s3cr3t" not in out
    assert "********" in out


def test_a_bad_value_of_a_declared_secret_property_is_masked() -> None:
    """The sink declares connection.url secret (it may hold a password): a wrong type there
    is reported without the value."""
    from hub.config import ConnectorSpec
    from hub.errors import ConfigError
    from hub.runtime.validation import validate

    spec = ConnectorSpec("w", {
        "connector.class": "postgres-sink", "topics": "t",
        "connection.url": ["postgresql://u:hunter2@h/db"],
    }, "test")  # fmt: skip
    try:
        validate(spec)
    except ConfigError as exc:
        assert "connection.url" in str(exc) and "hunter2" not in str(exc)
    else:
        raise AssertionError("a list is not a valid connection.url")
