"""Log append and consume throughput vs raw sequential file I/O on the same disk.

    python bench/log_bench.py                      # 10 M records, 8 partitions, 100 B each
    python bench/log_bench.py --records 2000000    # quicker
    python bench/log_bench.py --open-gb 10         # also: open time and RSS of a 10 GB log

Each record is a 10-byte key + 90-byte value (100 bytes of payload). References, measured in
the same run on the same directory:
  * raw write: the same payload bytes written sequentially in 1 MiB chunks, then fsync;
  * raw read: that file read back sequentially in 1 MiB chunks.
The log side appends through Producer.send_many (keyed, Kafka partitioner, 8 partitions, one
fsync per partition at the end) and reads back through a Consumer assigned all partitions.
Figures: MB/s of payload, records/s, and log/raw ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _results  # noqa: E402
from hub.log import ACCELERATED, Log, TopicPartition  # noqa: E402

CHUNK = 100_000


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_chunk() -> tuple[list[bytes], list[bytes], bytes]:
    keys = [b"key-%06d" % (i % 1_000_000) for i in range(CHUNK)]
    values = [(b"%08d" % i) * 12 for i in range(CHUNK)]
    values = [v[:90] for v in values]
    raw = b"".join(k + v for k, v in zip(keys, values, strict=True))
    return keys, values, raw


def raw_write(path: str, raw: bytes, rounds: int) -> float:
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    mv = memoryview(raw)
    step = 1 << 20
    for _ in range(rounds):
        for i in range(0, len(raw), step):
            os.write(fd, mv[i : i + step])
    os.fsync(fd)
    os.close(fd)
    return time.perf_counter() - t0


def raw_read(path: str) -> float:
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass
    return time.perf_counter() - t0


def log_append(
    data_dir: str, keys: list[bytes], values: list[bytes], rounds: int, parts: int
) -> float:
    # the log as a worker runs it: the background flusher writes and fsyncs every 100 ms
    # (outside the GIL) while the producer encodes; the final flush makes everything durable
    log = Log(data_dir, flush_interval_ms=100)
    log.create_topic("bench", parts)
    prod = log.producer()
    t0 = time.perf_counter()
    for _ in range(rounds):
        prod.send_many("bench", values, keys=keys)
    prod.flush()
    elapsed = time.perf_counter() - t0
    log.close()
    return elapsed


def log_consume(data_dir: str, parts: int, expected: int) -> float:
    log = Log(data_dir, background=False)
    c = log.consumer(
        auto_offset_reset="earliest", max_poll_records=200_000, fetch_max_bytes=4 << 20
    )
    c.assign([TopicPartition("bench", p) for p in range(parts)])
    n = 0
    t0 = time.perf_counter()
    while n < expected:
        batch = c.poll(0)
        if not batch:
            break
        n += len(batch)
    elapsed = time.perf_counter() - t0
    log.close()
    if n != expected:
        raise SystemExit(f"consumed {n} records, expected {expected}")
    return elapsed


def report(name: str, seconds: float, payload: int, records: int, ref: float | None) -> None:
    ratio = f"  {ref / seconds:5.2f}x raw" if ref else ""
    print(
        f"  {name:<28} {seconds:8.2f} s {payload / seconds / 1e6:9.1f} MB/s "
        f"{records / seconds / 1e6:7.2f} M rec/s{ratio}"
    )


def open_probe(data_dir: str) -> None:
    """Child process: open the log, print seconds and RSS growth."""
    before = rss_mb()
    t0 = time.perf_counter()
    log = Log(data_dir, background=False)
    elapsed = time.perf_counter() - t0
    print(f"{elapsed:.3f} {rss_mb() - before:.1f} {rss_mb():.1f}")
    log.close()


def build_big(data_dir: str, gigabytes: float) -> None:
    log = Log(data_dir, background=False)
    log.create_topic("big", 8, {"segment.bytes": str(256 << 20)})
    prod = log.producer(max_batch_bytes=1 << 20)
    value = os.urandom(100_000)
    total = int(gigabytes * (1 << 30))
    written = 0
    while written < total:
        prod.send_many("big", [value] * 80, keys=[b"%d" % i for i in range(80)])
        written += 80 * len(value)
    prod.flush()
    log.close()


def measure_open(base: str, gigabytes: float) -> None:
    print(f"\nopen time and RSS: {gigabytes} GB log vs 10 MB log (fresh process each)")
    for gb in (10 / 1024, gigabytes):
        d = os.path.join(base, f"open-{gb:.3f}")
        build_big(d, gb)
        out = subprocess.run(
            [sys.executable, __file__, "--probe-open", d],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
        print(
            f"  {size / 2**30:7.2f} GiB log: open {float(out[0]) * 1000:7.1f} ms, "
            f"RSS +{out[1]} MB (process RSS {out[2]} MB)"
        )
        shutil.rmtree(d)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument(
        "--dir", default=None, help="where to write (default: a temp dir on /work or /tmp)"
    )
    ap.add_argument("--open-gb", type=float, default=0, help="also measure opening a log this big")
    ap.add_argument("--probe-open", help=argparse.SUPPRESS)
    _results.add_json_arg(ap)
    args = ap.parse_args()
    if args.probe_open:
        open_probe(args.probe_open)
        return
    base = tempfile.mkdtemp(prefix="hub-bench-", dir=args.dir)
    try:
        rounds = max(args.records // CHUNK, 1)
        records = rounds * CHUNK
        keys, values, raw = make_chunk()
        payload = len(raw) * rounds
        print(
            f"hub log benchmark: {records:,} records x {len(raw) // CHUNK} B payload, "
            f"{args.partitions} partitions, C codec={'yes' if ACCELERATED else 'no'}, dir {base}"
        )
        print(f"  machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
        raw_path = os.path.join(base, "raw.bin")
        w_raw = raw_write(raw_path, raw, rounds)
        r_raw = raw_read(raw_path)
        os.unlink(raw_path)
        data_dir = os.path.join(base, "log")
        w_log = log_append(data_dir, keys, values, rounds, args.partitions)
        c_log = log_consume(data_dir, args.partitions, records)
        on_disk = sum(
            os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(data_dir) for f in fs
        )
        print(f"  log on disk: {on_disk / 1e6:.0f} MB for {payload / 1e6:.0f} MB of payload")
        print("write:")
        report("raw sequential write+fsync", w_raw, payload, records, None)
        report("log append (send_many)", w_log, payload, records, w_raw)
        print("read:")
        report("raw sequential read", r_raw, payload, records, None)
        report("log consume (poll)", c_log, payload, records, r_raw)
        print(f"  peak RSS of this process: {rss_mb():.0f} MB (current)")
        _results.record("log append, 100 B records", "raw sequential write+fsync",
                        records / w_log, records / w_raw, "records/s")  # fmt: skip
        _results.record("log consume", "raw sequential read", records / c_log, records / r_raw,
                        "records/s")  # fmt: skip
        _results.dump(args.json)
        if args.open_gb:
            measure_open(base, args.open_gb)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
