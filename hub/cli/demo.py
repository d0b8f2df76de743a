"""``hub demo``: produce and consume N records through a new topic, with timings."""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from typing import TYPE_CHECKING

import click

from hub.cli._common import CONTEXT, common_options, current_state, open_log, size, table

if TYPE_CHECKING:
    from hub.log import Log


@click.command(context_settings=CONTEXT)
@click.option(
    "--records",
    "-n",
    type=click.IntRange(min=1),
    metavar="N",
    default=100_000,
    show_default=True,
    help="How many records to produce and consume.",
)
@common_options
def demo(records: int) -> None:
    """Produce and consume N records, with timings.

    Creates a topic with 4 partitions, produces N keyed JSON records, reads them back
    through a consumer group, and prints records/s both ways and the offsets.

    Uses a new temporary directory (kept, so you can look at it) unless --data-dir is
    given on the command line.

    \b
    Example:
      hub demo
      hub demo --records 1000000 --data-dir /tmp/hub-demo
    """
    state = current_state()
    if not state.explicit_data_dir:
        state.data_dir = tempfile.mkdtemp(prefix="hub-demo-")
    path = state.data_dir
    from hub.log import ACCELERATED

    codec = "C accelerator" if ACCELERATED else "pure-Python codec"
    click.echo(f"data directory: {path} (records encoded by the {codec})")
    with open_log(write=True, must_exist=False) as log:
        topic = "demo.orders"
        suffix = 1
        while log.has_topic(topic):
            suffix += 1
            topic = f"demo.orders-{suffix}"
        group = f"{topic}-reader"
        log.create_topic(topic, 4)
        click.echo(f"created topic {topic} with 4 partitions")

        produced, nbytes, elapsed = _demo_produce(log, topic, records)
        click.echo(
            f"produced {produced:,} records ({size(nbytes)}) in {elapsed:.2f} s: "
            f"{produced / max(elapsed, 1e-9):,.0f} records/s, durable (fsync'd)"
        )
        consumed, misrouted, took = _demo_consume(log, topic, group, records)
        click.echo(
            f"consumed {consumed:,} records with group {group} in {took:.2f} s: "
            f"{consumed / max(took, 1e-9):,.0f} records/s, offsets committed"
        )
        info = log.describe(topic)
        lag = log.groups.describe(group)
        committed = {p.partition: p.committed for p in lag.partitions}
        rows = [
            (p.partition, p.start_offset, p.end_offset, committed.get(p.partition),
             size(p.size_bytes))
            for p in info.partitions
        ]  # fmt: skip
        click.echo(table(["PARTITION", "START", "END", "COMMITTED", "SIZE"], rows))
        ok = consumed == records and misrouted == 0
        click.echo(
            f"{'ok' if ok else 'MISMATCH'}: {consumed:,} of {records:,} records read back, "
            f"{misrouted} outside the partition Kafka's murmur2 picks for their key, "
            f"group lag {sum(p.lag or 0 for p in lag.partitions)}"
        )
        some_offset = min(10, info.partitions[0].end_offset)
    hub = f"hub --data-dir {shlex.quote(path)}"
    click.echo(
        "\nLook at the data:\n"
        f"  {hub} topics describe {topic}\n"
        f"  {hub} consume {topic} --from-beginning --print-key --max-messages 5\n"
        f"  {hub} consume {topic} --partition 0 --offset {some_offset} -n 2 --format json\n"
        f"  {hub} groups describe {group}"
        + ("" if state.explicit_data_dir else f"\nRemove it: rm -r {shlex.quote(path)}")
    )
    if not ok:
        click.get_current_context().exit(1)


def _demo_produce(log: Log, topic: str, records: int) -> tuple[int, int, float]:
    """Append keyed JSON orders in chunks, durably; returns (records, bytes, seconds)."""
    producer = log.producer()
    step = max(1, min(10_000, records // 10))
    produced = nbytes = 0
    elapsed = 0.0
    report_every = step * max(1, round(records / 4 / step))
    next_report = report_every
    for start in range(0, records, step):
        ids = range(start, min(start + step, records))
        keys = [f"customer-{i % 1000:04d}".encode() for i in ids]
        values = [
            json.dumps({
                "order_id": i, "customer": keys[n].decode(), "amount_cents": (i * 7919) % 100_000,
                "status": ("new", "paid", "shipped")[i % 3],
            }).encode()
            for n, i in enumerate(ids)
        ]  # fmt: skip
        t0 = time.perf_counter()
        producer.send_many(topic, values, keys)
        producer.flush()
        elapsed += time.perf_counter() - t0
        produced += len(values)
        nbytes += sum(map(len, values)) + sum(map(len, keys))
        if produced >= next_report or produced == records:
            click.echo(f"  produced {produced:>10,} / {records:,}")
            next_report += report_every
    return produced, nbytes, elapsed


def _demo_consume(log: Log, topic: str, group: str, records: int) -> tuple[int, int, float]:
    """Read everything back through a group; returns (records, misrouted, seconds)."""
    from hub.log import default_partition

    consumer = log.consumer(group_id=group, auto_offset_reset="earliest", max_poll_records=10_000)
    consumer.subscribe([topic])
    n = len(log.describe(topic).partitions)
    consumed = misrouted = 0
    t0 = time.perf_counter()
    while consumed < records:
        batch = consumer.poll(1.0)
        if not batch:
            break
        misrouted += sum(
            1 for r in batch if r.key is None or r.partition != default_partition(r.key, n)
        )
        consumed += len(batch)
        consumer.commit()
    took = time.perf_counter() - t0
    consumer.close()
    return consumed, misrouted, took
