"""The last hour of each connector's figures, kept in memory by the worker for the console's
charts: every ``interval_s`` one sample per connector (events/s of its tasks, and by operation
for a source that counts its events so (`op_events:<op>` metrics: c, u, d, r, t), lag, how far
behind its source, the last batch's size and a sink's time to write it, the WAL a source's
slot keeps on the server, the WAL or binlog bytes a source has still to read, snapshot rows
done). No external time-series
store; a restart starts an empty hour."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

INTERVAL_S = 5.0
KEEP_S = 3600.0


class History:
    def __init__(self, interval_s: float = INTERVAL_S, keep_s: float = KEEP_S) -> None:
        self.interval_s = interval_s
        self._size = max(1, int(keep_s / interval_s))
        self._lock = threading.Lock()
        self._samples: dict[str, deque[dict[str, Any]]] = {}
        # per connector and task: when last sampled and its op_events counts then
        self._ops: dict[tuple[str, int], tuple[int, dict[str, float]]] = {}

    def sample(self, status: Mapping[str, Sequence[Any]], now_ms: int | None = None) -> None:
        """One sample per connector of ``status`` (`Worker.status()`); connectors gone are
        forgotten."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        with self._lock:
            for name in list(self._samples):
                if name not in status:
                    del self._samples[name]
            for key in list(self._ops):
                if key[0] not in status:
                    del self._ops[key]
            for name, tasks in status.items():
                lags = [t.lag for t in tasks if t.lag is not None]
                snapshot = [v for t in tasks for k, v in t.metrics.items()
                            if k.startswith("snapshot_rows_done:")]  # fmt: skip
                behind = [t.metrics["milliseconds_behind_source"] for t in tasks
                          if "milliseconds_behind_source" in t.metrics]  # fmt: skip
                batches = [t.last_batch_size for t in tasks if t.last_batch_size is not None]
                applies = [t.last_apply_ms for t in tasks if t.last_apply_ms is not None]
                retained = [t.metrics["slot_retained_wal_bytes"] for t in tasks
                            if "slot_retained_wal_bytes" in t.metrics]  # fmt: skip
                unread = [t.metrics["lag_bytes"] for t in tasks if "lag_bytes" in t.metrics]
                self._samples.setdefault(name, deque(maxlen=self._size)).append({
                    "t": now_ms,
                    "records_per_second": round(sum(t.records_per_second for t in tasks), 1),
                    "lag": sum(lags) if lags else None,
                    "behind_ms": max(behind) if behind else None,  # (the slowest task)
                    "batch_size": sum(batches) if batches else None,
                    "snapshot_rows": sum(snapshot) if snapshot else None,
                    "apply_ms": round(max(applies), 1) if applies else None,
                    "retained_bytes": max(retained) if retained else None,
                    "unread_bytes": max(unread) if unread else None,  # (WAL or binlog)
                    "ops": self._op_rates(name, tasks, now_ms),
                })  # fmt: skip

    def _op_rates(self, name: str, tasks: Sequence[Any], now_ms: int) -> dict[str, float] | None:
        """Events/s by operation since the last sample, summed over the tasks that count
        them; None when none does (or at a task's first sample). A task whose counts are
        missing (failed, stopped) is forgotten until it counts again; a task with any count
        lower than before was restarted: all it counted since is the interval's."""
        rates: dict[str, float] | None = None
        for t in tasks:
            key = (name, t.id)
            counts = {k[10:]: v for k, v in t.metrics.items() if k.startswith("op_events:")}
            if not counts:
                self._ops.pop(key, None)
                continue
            last = self._ops.get(key)
            self._ops[key] = (now_ms, counts)
            if last is None or now_ms <= last[0]:
                continue
            seconds = (now_ms - last[0]) / 1000
            restarted = any(n < last[1].get(op, 0.0) for op, n in counts.items())
            rates = rates if rates is not None else {}
            for op, n in counts.items():
                done = n if restarted else n - last[1].get(op, 0.0)
                rates[op] = round(rates.get(op, 0.0) + done / seconds, 1)
        ids = {t.id for t in tasks}
        for key in [k for k in self._ops if k[0] == name and k[1] not in ids]:
            del self._ops[key]  # (tasks.max lowered)
        return rates

    def of(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._samples.get(name, ()))
