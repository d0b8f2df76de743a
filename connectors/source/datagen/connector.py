"""Deterministic generated records: record ``n`` of task ``t`` depends only on (seed, t, n),
so a restarted task replays exactly what it produced before (the offset is ``n``).

Key ``{"id": "key-<k>"}``; value ``{"seq": n, "task": t, "key": "key-<k>", "payload": "..."}``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.source.datagen.config import DatagenConfig
from hub.runtime.api import SourceBatch, SourceConnector, SourceTask, SourceTaskContext

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class DatagenTask(SourceTask):
    replay_neutral = frozenset({"rate", "batch.size"})

    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.cfg: DatagenConfig = DatagenConfig.of(config)
        self.task = int(config.get("task.id", 0))
        self.partition = {"datagen": self.cfg.topic, "task": self.task}
        offset = context.offset(self.partition)
        self.next = int(offset["seq"]) if offset else 0
        self._t0 = time.monotonic()
        self._n0 = self.next
        rnd = random.Random(f"{self.cfg.seed}/{self.task}")
        self._salt = rnd.getrandbits(32)
        self._pool = "".join(rnd.choices(_ALPHABET, k=self.cfg.value_size + 4093))
        self._pool_span = 4093
        # key name and key document per key, made on first use (keys may be many: bounded)
        self._keys: dict[int, tuple[str, dict[str, str]]] = {}

    def _records(self, a: int, b: int) -> SourceBatch:
        # cheap and deterministic: a multiplicative hash picks the key, the payload is a
        # slice of a seeded random pool (record n always gets the same key and payload);
        # one loop with locals, the key dicts shared (records are treated as immutable),
        # the records as one batch (columns: no object per record but its value)
        cfg = self.cfg
        task, salt = self.task, self._salt
        nkeys, pool, span, size = cfg.keys, self._pool, self._pool_span, cfg.value_size
        known = self._keys
        if len(known) > 65536:
            known.clear()
        values: list[Any] = []
        keys: list[Any] = []
        add_value, add_key = values.append, keys.append
        for n in range(a, b):
            h = (n * 0x9E3779B1 + salt) & 0xFFFFFFFF
            k = h % nkeys
            got = known.get(k)
            if got is None:
                name = f"key-{k}"
                got = known[k] = (name, {"id": name})
            key, doc = got
            start = h % span
            add_value({"seq": n, "task": task, "key": key, "payload": pool[start : start + size]})
            add_key(doc)
        return SourceBatch(cfg.topic, values, keys, self.partition, {"seq": b})

    def poll(self) -> Sequence[SourceBatch]:
        cfg = self.cfg
        count = cfg.batch_size
        if cfg.max_records >= 0:
            count = min(count, cfg.max_records - self.next)
            if count <= 0:
                time.sleep(0.1)
                return []
        if cfg.rate > 0:
            now = time.monotonic()
            due = int((now - self._t0) * cfg.rate) - (self.next - self._n0)
            if due > cfg.rate:  # (behind by more than a second's: paused, or held back by
                # the log; the debt is forgiven, not paid at full speed)
                self._t0, self._n0 = now - 1, self.next
                due = int(cfg.rate)
            if due <= 0:
                time.sleep(min(1 / cfg.rate, 0.1))
                return []
            count = min(count, due)
        out = self._records(self.next, self.next + count)
        self.next += count
        return [out]

    def stop(self) -> None:
        pass


class Datagen(SourceConnector):
    name = "datagen"
    aliases = ("DatagenConnector", "io.confluent.kafka.connect.datagen.DatagenConnector")
    config_model = DatagenConfig
    task_class = DatagenTask

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        return [{**self.config, "task.id": i} for i in range(max_tasks)]
