"""datagen -> log -> FileStreamSink throughput, against the log's own append rate.

    python bench/connect_bench.py --records 1000000

Reference, measured in the same run: appending the records datagen makes, encoded beforehand,
straight into the log with Producer.send_many, 10 000 a call (the ceiling for any source; the
median of three rounds). Then a worker runs
datagen (unthrottled, JSON values) into a topic and FileStreamSink out of it; the figure is
records/s end to end (the last line in the file), with both connectors' exactly-once
bookkeeping on.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import orjson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _results  # noqa: E402
from connectors.source.datagen.connector import DatagenTask  # noqa: E402
from hub.config import ConnectorSpec  # noqa: E402
from hub.log import Log  # noqa: E402
from hub.runtime import _gc  # noqa: E402
from hub.runtime.api import SourceTaskContext  # noqa: E402
from hub.runtime.worker import Worker  # noqa: E402


class LineCounter:
    """Lines of a growing file, reading only what was added since the last look (re-reading
    the whole file at each look took the GIL from the worker being measured: ~12 % of the
    samples at 300 k records)."""

    def __init__(self, path: str) -> None:
        self.path, self.pos, self.lines = path, 0, 0

    def __call__(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    self.lines += chunk.count(b"\n")
                    self.pos += len(chunk)
        except FileNotFoundError:
            pass
        return self.lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--dir", default=None)
    _results.add_json_arg(ap)
    args = ap.parse_args()
    n = args.records
    base = tempfile.mkdtemp(prefix="hub-connect-bench-", dir=args.dir)
    try:
        # the reference writes the records datagen makes (their keys and values encoded
        # beforehand, untimed): identical records would compress to nothing and flatter it
        gen = DatagenTask()
        gen.start({"topic": "ref", "rate": 0, "keys": 1000, "value.size": 64, "batch.size": n},
                  SourceTaskContext("ref", 0, {}))  # fmt: skip
        (batch,) = gen.poll()
        keys = [orjson.dumps(k) for k in batch.keys or ()]
        values = [orjson.dumps(v) for v in batch.values]
        del batch, gen
        value = values[0]
        runs = []
        for round_ in range(3):  # the median of three: the first is often slower (page cache)
            log = Log(os.path.join(base, f"ref{round_}"))
            log.create_topic("ref", 1)
            prod = log.producer()
            t0 = time.perf_counter()
            for i in range(0, n, 10_000):
                prod.send_many("ref", values[i : i + 10_000], keys=keys[i : i + 10_000])
            prod.flush()
            runs.append(time.perf_counter() - t0)
            log.close()
        ref = sorted(runs)[1]
        del keys, values

        out = os.path.join(base, "out.jsonl")
        _gc.tune()  # as hub run does
        worker = Worker(os.path.join(base, "data"))
        t0 = time.perf_counter()
        worker.add(ConnectorSpec("gen", {
            "connector.class": "datagen", "topic": "events", "rate": 0, "keys": 1000,
            "value.size": 64, "max.records": n, "batch.size": 2000,
            "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
        }, "bench"))  # fmt: skip
        worker.add(ConnectorSpec("out", {
            "connector.class": "FileStreamSink", "topics": "events", "file": out,
            "batch.size": 5000, "value.converter.schemas.enable": "false",
            "key.converter.schemas.enable": "false",
        }, "bench"))  # fmt: skip
        count_lines = LineCounter(out)
        while count_lines() < n:
            time.sleep(0.05)
        e2e = time.perf_counter() - t0
        src = worker.status()["gen"][0]
        worker.stop()
        print(f"connect benchmark: {n:,} records of ~{len(value)} B, {os.cpu_count()} cores")
        print(f"  log append (send_many, reference) {ref:7.2f} s {n / ref:12,.0f} rec/s")
        print(
            f"  datagen -> log -> file sink       {e2e:7.2f} s {n / e2e:12,.0f} rec/s"
            f"   {ref / e2e:5.2f}x the log's append rate"
        )
        print(f"  (source task counted {src.records:,} records)")
        _results.record("datagen -> log -> FileStreamSink", "log append (send_many)", n / e2e,
                        n / ref, "records/s", 0.3)  # fmt: skip
        _results.dump(args.json)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
