"""The DuckDB sink's file on a full disk (a real, tiny tmpfs): a batch that cannot be
committed is a transient failure, retried, and written once when space returns.

Needs root to mount (CI runs as root); without it the test fails, it is never skipped.
"""

from __future__ import annotations

import contextlib
import os
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.sink.engine.errors import SinkTransientError
from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import people
from tests.connectors.sink.targets import TARGETS
from tests.fixtures.tmpfs import Tmpfs, tmpfs_dir  # noqa: F401

T = "srv_public_people"


def test_a_duckdb_file_on_a_full_disk_is_retried_and_written_once_space_returns(
    tmpfs_dir: Tmpfs,  # noqa: F811
) -> None:
    # (DuckDB raises a commit whose WAL cannot be written as a TransactionException: it was
    # taken for a configuration error, "Retrying will not fix this", retried once a minute
    # and fatal under --fail-fast)
    tmpfs_dir.resize("16m")
    path = tmpfs_dir.path / "sink.duckdb"
    sink = Sink(TARGETS["duckdb"], {"connection.url": f"duckdb://{path}"})
    t = people()
    try:
        sink.put([t.insert(0, {"id": 0, "name": "first", "score": "1"})])
        filler = Path(tmpfs_dir.path) / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 65536)
        os.close(fd)
        batch = [t.insert(i, {"id": i, "name": "x" * 2000, "score": "2"}) for i in range(1, 400)]
        with pytest.raises(SinkTransientError, match="No space left on device") as failed:
            sink.put(batch)
        assert f"free disk space under {tmpfs_dir.path}" in str(failed.value)
        assert "Retrying will not fix" not in str(failed.value)
        filler.unlink()
        sink.put(batch)  # (the runner's retry: the same batch again)
        rows = sink.rows(T)
        assert len(rows) == 400
        assert rows[0] == (0, "first", Decimal("1.00"))
        assert sink.query('SELECT next_offset FROM "_hub_offsets"') == [(400,)]
    finally:
        sink.stop()
