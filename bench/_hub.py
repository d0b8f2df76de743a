"""Hub as its own process for the source benchmarks: ``python -m hub --data-dir D run
config.yaml`` on one connector config, timed from the process start to the moment the last
expected record is durable in the log (polled through a read-only Log: the writer fsyncs every
100 ms), with the process's peak RSS (VmHWM) and CPU time read from /proc."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.log import Log
from hub.runtime.offsets import OffsetStore, partition_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def count(text: str) -> int:
    """``1000000``, ``1_000_000`` or ``1e6``."""
    return int(float(text.replace("_", "")))


def compile_hub() -> None:
    """Hub's bytecode, as a pip install leaves it (an editable checkout under
    PYTHONDONTWRITEBYTECODE=1 would otherwise compile ~120 modules at every start)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "hub", "connectors"], cwd=ROOT,
                   stdout=subprocess.DEVNULL, check=True)  # fmt: skip


def cpu_s(pid: int) -> tuple[float, float, int]:
    """(user, system) CPU seconds a live process has used so far, and its page faults."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0, 0.0, 0
    tick = os.sysconf("SC_CLK_TCK")
    # minflt, majflt, utime, stime
    return int(fields[11]) / tick, int(fields[12]) / tick, int(fields[7]) + int(fields[9])


def hwm_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of a live process, MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Watcher:
    """Records of a topic durable in hub's log, seen through a read-only Log of this
    process (reopened until the topic exists)."""

    def __init__(self, data_dir: str, topic: str) -> None:
        self.data_dir, self.topic = data_dir, topic
        self.log: Log | None = None

    def durable(self) -> int:
        log = self.log
        if log is None or not log.has_topic(self.topic):
            self.close()
            if not os.path.isdir(self.data_dir):
                return 0
            log = self.log = Log(self.data_dir, read_only=True, background=False)
            if not log.has_topic(self.topic):
                return 0
        total = 0
        for p in log.topic(self.topic).partitions:
            part = log.partition(self.topic, p.index)
            part.refresh()
            total += part.high_watermark
        return total

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


class KafkaWatcher:
    """Records of a topic on a Kafka cluster, counted by a consumer reading them from the
    beginning (a broker's high watermark can be reported low: docs/kafka-backend.md)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        import uuid

        from confluent_kafka import Consumer

        self.n, self.topic, self.assigned = 0, topic, False
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
        })  # fmt: skip

    def durable(self) -> int:
        if not self.assigned:  # (no group: every partition assigned once the topic exists)
            from confluent_kafka import OFFSET_BEGINNING, TopicPartition

            md = self.consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
            if md is None or md.error is not None or not md.partitions:
                return 0
            self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING)
                                  for p in md.partitions])  # fmt: skip
            self.assigned = True
        for m in self.consumer.consume(10_000, 0.05):
            if m.error() is None:
                self.n += 1
        return self.n

    def close(self) -> None:
        self.consumer.close()


def child_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def store_offset(
    data_dir: str, connector: str, partition: Mapping[str, Any], offset: Mapping[str, Any]
) -> None:
    """Store a source offset in a new data dir before hub starts on it, as ``PATCH
    /connectors/<name>/offsets`` does for a stopped connector: the task resumes from there."""
    log = Log(data_dir, background=False)
    try:
        OffsetStore(log).write(connector, {partition_key(partition): (partition, offset)})
    finally:
        log.close()


def run_hub(
    work: Path, name: str, config: Mapping[str, Any], topic: str, expected: int,
    profile_dir: str | None, timeout: float, offset: tuple[dict[str, Any], dict[str, Any]]
    | None = None, kafka: str | None = None, worker_extra: str = "",
) -> tuple[float, float]:  # fmt: skip
    """Start hub on a connector config (``offset``: a (partition, offset) stored first);
    seconds until ``expected`` records of ``topic`` are durable, and the process's peak RSS
    (MB). With ``kafka`` (bootstrap servers) hub runs on that cluster (log.backend: kafka) and
    the records are counted as a consumer reads them there (``worker_extra``: more lines of
    its worker config)."""
    data_dir = str(work / f"data-{name}")
    if offset is not None:
        store_offset(data_dir, name, *offset)
    cfg_path = work / f"{name}.yaml"
    cfg_path.write_text(json.dumps({"name": name, "config": dict(config)}))  # JSON is YAML
    cmd = [sys.executable, "-m", "hub", "--data-dir", data_dir, "run", str(cfg_path)]
    watch: Watcher | KafkaWatcher = Watcher(data_dir, topic)
    if kafka is not None:
        worker = work / f"{name}-worker.yaml"
        worker.write_text(f"log.backend: kafka\nbootstrap.servers: {kafka}\n"
                          "replication.factor: 1\n" + worker_extra)  # fmt: skip
        cmd[-1:-1] = ["--worker-config", str(worker)]
        watch = KafkaWatcher(kafka, topic)
    if profile_dir:
        os.makedirs(profile_dir, exist_ok=True)
        out = os.path.join(profile_dir, f"{name}.txt")
        cmd = ["py-spy", "record", "-r", "200", "--format", "raw", "-o", out, "--", *cmd]
    err = open(work / f"{name}.stderr", "wb")  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=err, stdout=subprocess.DEVNULL)
    peak, pid, first = 0.0, proc.pid, None
    looked, tail, next_look = 0, "", 0.0
    failed_at: tuple[float, int] | None = None  # (when a task failed, records durable then)
    try:
        while True:
            if profile_dir and pid == proc.pid:  # py-spy's child is hub
                pid = child_pid(proc.pid) or pid
            peak = max(peak, hwm_mb(pid))
            done = watch.durable()
            if done and first is None:
                first = time.perf_counter() - t0
            if done >= expected:
                elapsed = time.perf_counter() - t0
                break
            if proc.poll() is not None:
                raise SystemExit(f"hub exited early, see {work / (name + '.stderr')}:\n"
                                 + (work / f"{name}.stderr").read_text()[-3000:])  # fmt: skip
            # a failed task leaves `hub run` up, retrying: a phase that makes no progress
            # for 30 s after a task failed ends then, not at the timeout (the log read from
            # where the last look ended)
            if time.perf_counter() >= next_look:
                next_look = time.perf_counter() + 1.0
                with open(work / f"{name}.stderr", "rb") as f:
                    f.seek(looked)
                    new = f.read()
                looked += len(new)
                tail = (tail + new.decode(errors="replace"))[-3000:]
                if b" failed: " in new and b"(restarting in" in new:
                    failed_at = (time.perf_counter(), done)
                if failed_at is not None and done > failed_at[1]:
                    failed_at = None  # (it went on after the failure)
                if failed_at is not None and time.perf_counter() - failed_at[0] > 30:
                    raise SystemExit(f"a task of hub failed in {name} and made no progress "
                                     f"for 30 s:\n{tail}")  # fmt: skip
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(
                    f"hub did not finish {name} within {timeout:.0f} s "
                    f"({watch.durable()} of {expected}); its log's end:\n{tail}"
                )
            time.sleep(0.05)
        peak = max(peak, hwm_mb(pid))
        user, system, faults = cpu_s(pid)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data_dir)
                   if topic in d for f in fs if f.endswith(".log"))  # fmt: skip
        where = " on Kafka" if kafka else f"; {size / expected:,.0f} B per record in the log"
        print(f"  hub {name}: first record durable after {first:.2f} s{where}; CPU "
              f"{user:.2f} s user + {system:.2f} s system, {faults:,} page faults")  # fmt: skip
    finally:
        watch.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # hub itself (under py-spy: its child)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return elapsed, peak


def rss(mb: float) -> str:
    return f"peak RSS {mb:.0f} MB ({'ok' if mb < 400 else 'OVER 400'})"


def ratio(hub_rate: float, ref_rate: float, target: float, floor: float = 0) -> str:
    r = hub_rate / ref_rate
    ok = r >= target and hub_rate >= floor
    want = f">= {target}x" + (f" and >= {floor:,.0f}/s" if floor else "")
    return f"{r:5.2f}x  (target {want}: {'ok' if ok else 'MISSED'})"
