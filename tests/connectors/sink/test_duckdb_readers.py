"""DuckDB's one-writer-or-many-readers rule: the sink lets go of the file when idle, a reader
in another process attaches read-only, and the sink waits for it before the next batch."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.connectors.sink.conftest import Sink
from tests.connectors.sink.events import people
from tests.connectors.sink.targets import TARGETS

READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute('SELECT count(*) FROM "srv_public_people"').fetchone()[0], flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_a_reader_attaches_while_idle_and_the_sink_waits_for_it(tmp_path: Path) -> None:
    path = tmp_path / "sink.duckdb"
    sink = Sink(
        TARGETS["duckdb"], {"connection.url": f"duckdb://{path}"}, **{"duckdb.idle.release.ms": 50}
    )
    t = people()
    try:
        sink.put([t.insert(0, {"id": 1, "name": "a", "score": "1"})])
        time.sleep(0.3)  # idle: the file is released
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(path), "1.0"], stdout=subprocess.PIPE, text=True
        )
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "1"  # attached, sees the committed row
        t0 = time.monotonic()
        sink.put([t.insert(1, {"id": 2, "name": "b", "score": "2"})])  # waits for the reader
        assert reader.wait(10) == 0
        reader.stdout.close()
        assert time.monotonic() - t0 > 0.3
        assert [r[0] for r in sink.rows("srv_public_people")] == [1, 2]
    finally:
        sink.stop()
