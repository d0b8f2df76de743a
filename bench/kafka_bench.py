"""The Kafka backend's producer against confluent-kafka's own, the same records to the same
broker in the same run (issue 16's target: >= 0.7x).

    python bench/kafka_bench.py                          # a Tansu broker of its own
    python bench/kafka_bench.py --records 500000
    python bench/kafka_bench.py --bootstrap host:9092    # a real Kafka cluster
    python bench/kafka_bench.py --bootstrap 127.0.0.1:PORT --auto-create
        # librdkafka's mock cluster: a process that made a client with
        # test.mock.num.brokers=1 (and debug=mock logs "bootstrap.servers=...") keeps it up;
        # far faster than Tansu, so the clients' own cost shows

Records: 10-byte keys, 90-byte values, 8 partitions. Both sides produce with the settings a
source task's producer has (idempotent, ``acks=all``, ``linger.ms=5``, Kafka's partitioner)
and end with a flush, so every record is acknowledged:
  * reference: ``confluent_kafka.Producer.produce`` in a loop, then ``flush()``;
  * hub: ``KafkaLog.producer().send_many`` (what the source runner calls: every record
    checked against the topic's max.message.bytes first, delivery failures collected), then
    ``flush()``.
Each side runs three rounds, each into a topic of its own, alternating; the median round
counts (single rounds on Tansu vary by up to 1.7x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _results  # noqa: E402

PARTITIONS = 8


def records(n: int) -> tuple[list[bytes], list[bytes]]:
    keys = [b"key-%06d" % (i % 1_000_000) for i in range(n)]
    values = [((b"%08d" % i) * 12)[:90] for i in range(n)]
    return keys, values


def reference(bootstrap: str, topic: str, keys: list[bytes], values: list[bytes]) -> float:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, "partitioner": "murmur2_random"})  # fmt: skip
    t0 = time.perf_counter()
    for k, v in zip(keys, values, strict=True):
        while True:
            try:
                p.produce(topic, v, k)
                break
            except BufferError:  # the client's queue is full: let it send
                p.poll(0.05)
    left = p.flush(120)
    elapsed = time.perf_counter() - t0
    assert left == 0, f"{left} records not acknowledged"
    return elapsed


def hub_side(
    bootstrap: str, topic: str, keys: list[bytes], values: list[bytes], mock: bool = False
) -> float:
    from hub.log.kafka import DEFAULT_MAX_MESSAGE_BYTES, KafkaLog

    log = KafkaLog({"bootstrap.servers": bootstrap})
    if mock:  # (the mock cluster answers no DescribeConfigs: the limit is Kafka's default)
        log._limits[topic] = DEFAULT_MAX_MESSAGE_BYTES
    try:
        producer = log.producer()
        t0 = time.perf_counter()
        step = 10_000  # (as a source runner hands over its polls)
        for i in range(0, len(keys), step):
            producer.send_many(topic, values[i : i + step], keys=keys[i : i + step])
        producer.flush()
        return time.perf_counter() - t0
    finally:
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--bootstrap", help="a Kafka cluster (default: a Tansu broker started here)")
    ap.add_argument("--auto-create", action="store_true",
                    help="librdkafka's mock cluster: it creates each topic on the first "
                         "record, with its default partitions (4), and answers neither "
                         "CreateTopics nor DescribeConfigs")  # fmt: skip
    _results.add_json_arg(ap)
    args = ap.parse_args()
    if args.auto_create and args.bootstrap is None:
        ap.error("--auto-create is for a mock cluster: give its --bootstrap")
    keys, values = records(args.records)
    with ExitStack() as stack:
        bootstrap = args.bootstrap
        if bootstrap is None:
            from tests.fixtures.kafka import running_tansu

            base = Path(tempfile.mkdtemp(prefix="hub-bench-tansu-"))
            bootstrap = stack.enter_context(running_tansu(base))
        from hub.log.kafka import KafkaLog

        admin = KafkaLog({"bootstrap.servers": bootstrap})
        times: dict[str, list[float]] = {"confluent-kafka": [], "hub": []}
        for _ in range(3):
            for side in ("confluent-kafka", "hub"):
                topic = f"bench-{uuid.uuid4().hex[:8]}"
                if not args.auto_create:
                    admin.create_topic(topic, PARTITIONS)
                times[side].append(
                    reference(bootstrap, topic, keys, values) if side == "confluent-kafka"
                    else hub_side(bootstrap, topic, keys, values, args.auto_create)
                )  # fmt: skip
        admin.close()
    ref = args.records / statistics.median(times["confluent-kafka"])
    hub = args.records / statistics.median(times["hub"])
    parts = "the broker's default" if args.auto_create else PARTITIONS
    print(f"{args.records:,} records of 100 B into {parts} partitions at {bootstrap}")
    for side, ts in times.items():
        print(f"  {side:16s} " + "  ".join(f"{args.records / t:>10,.0f}/s" for t in ts))
    print(f"  hub / confluent-kafka: {hub / ref:.2f}x (median rounds)")
    _results.record("Kafka producer (KafkaLog.send_many)", "confluent-kafka Producer.produce",
                    hub, ref, "records/s", target=0.7)  # fmt: skip
    _results.dump(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
