"""Records without a key: spread over a topic's partitions as Kafka's producer spreads them,
or all in one (``keyless_partition``) where their order matters (a change source's keyless
tables and truncates): through every way a producer appends."""

from __future__ import annotations

from typing import Any

from hub.log import Log
from tests.log.test_packed import packed


def _partitions(log: Log, topic: str) -> list[list[tuple[bytes | None, bytes | None]]]:
    out = []
    for p in range(4):
        records, _ = log.partition(topic, p).records(0)
        out.append([(r[4], r[5]) for r in records])
    return out


def test_keyless_records_stay_in_one_partition_in_order(tmp_path: Any) -> None:
    log = Log(str(tmp_path / "data"), background=False)
    try:
        for t in ("many", "one", "packed", "spread"):
            log.create_topic(t, 4)
        keys = [None if i % 3 == 0 else b"k%d" % i for i in range(600)]
        values = [b"v%d" % i for i in range(600)]
        pinned = log.producer(keyless_partition=0, batch_records=50)
        for start in range(0, 600, 50):  # (the spreading producer moves on each send)
            pinned.send_many("many", values[start : start + 50], keys=keys[start : start + 50])
        for k, v in zip(keys, values, strict=True):
            pinned.send("one", v, key=k)
        for start in range(0, 600, 50):
            pinned.send_packed(packed(None, values[start : start + 50]), "packed")
        spreading = log.producer(batch_records=50)
        for start in range(0, 600, 50):
            spreading.send_many("spread", values[start : start + 50], keys=keys[start : start + 50])
        pinned.flush()
        spreading.flush()
        keyless = [v for k, v in zip(keys, values, strict=True) if k is None]
        for topic in ("many", "one"):
            parts = _partitions(log, topic)
            assert [v for k, v in parts[0] if k is None] == keyless  # all, in order
            assert all(k is not None for part in parts[1:] for k, _ in part)
            assert sum(map(len, parts)) == 600 and all(parts)  # the keyed ones spread
        assert [v for _, v in _partitions(log, "packed")[0]] == values
        spread = _partitions(log, "spread")
        assert sum(1 for part in spread if any(k is None for k, _ in part)) > 1
    finally:
        log.close()
