"""Partition behaviour: rolling, index lookups, time lookups, durability visibility, retention."""

from __future__ import annotations

import os
import threading
import time

import pytest

from hub.log import (
    Log,
    LogLockedError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
    TopicPartition,
    UnknownPartitionError,
    UnknownTopicError,
    default_partition,
)
from tests.helpers import as_made_before_topic_ids

TP = TopicPartition("t", 0)


NOW = int(time.time() * 1000)


def _fill(log: Log, n: int, size: int = 100, ts: int | None = None, per: int = 10) -> None:
    prod = log.producer()
    for i in range(0, n, per):
        prod.send_many(
            "t", [b"%010d" % j + b"x" * (size - 10) for j in range(i, min(i + per, n))],
            timestamps=ts if ts is not None else NOW + i, partition=0,
        )  # fmt: skip
    prod.flush()


def test_segments_roll_by_size_and_every_offset_is_found(log: Log) -> None:
    log.create_topic("t", 1, {"segment.bytes": "8192", "index.interval.bytes": "1024"})
    _fill(log, 2000)
    part = log.partition("t", 0)
    assert len(part.segments) > 20
    for seg in part.segments:
        assert seg.size <= 8192
    names = sorted(os.listdir(part.directory))
    assert names[0] == "00000000000000000000.index"
    for off in (0, 1, 9, 10, 777, 1999):
        recs, _ = part.records(off, max_bytes=1)
        assert recs[0].offset == off and recs[0].value.startswith(b"%010d" % off)
    with pytest.raises(OffsetOutOfRangeError):
        part.records(2001)
    assert part.records(2000) == ([], 2000)


def test_lookup_reads_only_near_the_target(log: Log) -> None:
    """An offset lookup starts from the sparse index, within index.interval.bytes of the
    target, instead of scanning the segment from its start."""
    log.create_topic("t", 1, {"index.interval.bytes": "4096"})
    _fill(log, 20000)
    seg = log.partition("t", 0).active
    reads: list[int] = []
    orig = seg.read_at
    seg.read_at = lambda pos, size: reads.append(pos) or orig(pos, size)  # type: ignore[method-assign]
    target = seg.find_position(15000)
    assert target is not None and target > 1_000_000
    assert reads and min(reads) >= target - 4096 - 1200  # one index interval + one batch


def test_roll_by_age(log: Log) -> None:
    log.create_topic("t", 1, {"segment.ms": "1"})
    _fill(log, 10)
    time.sleep(0.01)
    _fill(log, 10)
    assert len(log.partition("t", 0).segments) == 2


def test_offsets_for_times(log: Log) -> None:
    log.create_topic("t", 1, {"segment.bytes": "4096", "index.interval.bytes": "512"})
    prod = log.producer()
    for i in range(300):
        prod.send("t", b"v%d" % i, timestamp=10_000 + i * 10, partition=0)
    prod.flush()
    c = log.consumer()
    assert c.offsets_for_times({TP: 0})[TP] == 0
    assert c.offsets_for_times({TP: 10_000 + 1234})[TP] == 124  # first ts >= target
    assert c.offsets_for_times({TP: 10_000 + 2990})[TP] == 299
    assert c.offsets_for_times({TP: 10_000 + 2991})[TP] is None
    c.assign([TP])
    c.seek_to_time(10_000 + 500)
    assert c.poll(0)[0].offset == 50


def test_readers_see_only_durable_records_unless_they_ask(log: Log) -> None:
    log.create_topic("t", 1)
    prod = log.producer()
    prod.send_many("t", [b"a", b"b"], partition=0)
    durable = log.consumer(auto_offset_reset="earliest")
    durable.assign([TP])
    eager = log.consumer(auto_offset_reset="earliest", read_uncommitted=True)
    eager.assign([TP])
    assert durable.poll(0) == []
    assert [r.value for r in eager.poll(0)] == [b"a", b"b"]
    prod.flush()
    assert [r.value for r in durable.poll(0)] == [b"a", b"b"]


def test_flush_messages_policy_makes_each_batch_durable(log: Log) -> None:
    log.create_topic("t", 1, {"flush.messages": "1"})
    log.producer().send_many("t", [b"a"], partition=0)
    assert log.partition("t", 0).high_watermark == 1


def test_background_flusher_applies_flush_interval(data_dir: str) -> None:
    with Log(data_dir, flush_interval_ms=10) as log:
        log.create_topic("t", 1)
        log.producer().send_many("t", [b"a"], partition=0)
        c = log.consumer(auto_offset_reset="earliest")
        c.assign([TP])
        assert [r.value for r in c.poll(timeout=2.0)] == [b"a"]


def test_retention_by_size_and_time(log: Log) -> None:
    log.create_topic("t", 1, {"segment.bytes": "4096", "retention.bytes": "20000"})
    _fill(log, 1000)  # ~ 120 KB
    part = log.partition("t", 0)
    before = len(part.segments)
    log.run_maintenance()
    assert len(part.segments) < before
    assert part.size_bytes() >= 20000 - 4096 and part.size_bytes() < 20000 + 4096
    start = part.log_start_offset
    assert start > 0 and part.log_end_offset == 1000
    c = log.consumer(auto_offset_reset="earliest")
    c.assign([TP])
    assert c.poll(0)[0].offset == start
    # a consumer positioned before the log start is reset, not stuck
    log.alter_topic("t", {"retention.ms": "1000", "retention.bytes": "-1"})
    deleted = log.run_maintenance(now=NOW + 10**7)["segments_deleted"]
    assert deleted > 0
    # every record is past retention.ms: the active segment too is rolled and deleted (it
    # had kept a topic nobody wrote to any more for ever), an empty one goes on at the end
    assert len(part.segments) == 1 and part.segments[0].size == 0
    assert (part.log_start_offset, part.log_end_offset) == (1000, 1000)
    assert c.poll(0) == [] and c.position(TP) == 1000
    assert not [n for n in os.listdir(part.directory) if n.endswith(".deleted")]


def test_record_too_large(log: Log) -> None:
    log.create_topic("t", 1, {"max.message.bytes": "1000"})
    with pytest.raises(RecordTooLargeError, match="max.message.bytes=1000"):
        log.producer().send_many("t", [b"x" * 2000], partition=0)


def test_large_sends_are_split_into_batches(log: Log) -> None:
    log.create_topic("t", 1)
    prod = log.producer(max_batch_bytes=10_000)
    prod.send_many("t", [b"x" * 100] * 1000, partition=0)
    prod.flush()
    part = log.partition("t", 0)
    sizes = [h.size for _, h in part.active.iter_batches()]
    assert len(sizes) > 10 and max(sizes) <= 10_000 + 200
    assert part.log_end_offset == 1000


@pytest.mark.parametrize("compression", ["none", "lz4"])
def test_records_that_each_fit_max_message_bytes_are_batched_to_fit_it(
    log: Log, compression: str
) -> None:
    # (cut by the producer's 1 MiB alone, 30 records that each fit made a batch that did not:
    # the flush refused them all, and a second flush reported them written)
    log.create_topic("t", 1, {"max.message.bytes": "1000", "compression.type": compression})
    prod = log.producer()
    for i in range(30):
        prod.send("t", b"value-%02d" % i + b"." * 40, key=b"k%d" % i)
    prod.send_many("t", [b"x" * 50] * 30)
    prod.flush()
    part = log.partition("t", 0)
    assert part.log_end_offset == 60
    assert max(h.size for _, h in part.active.iter_batches()) <= 1000
    values = sorted(r.value or b"" for r in part.records(0, max_bytes=1 << 20)[0])
    assert values == sorted([b"value-%02d" % i + b"." * 40 for i in range(30)] + [b"x" * 50] * 30)


def test_records_refused_at_a_flush_stay_buffered_and_refused(log: Log) -> None:
    log.create_topic("t", 1)
    prod = log.producer()
    prod.send("t", b"x" * 3000, partition=0)
    log.alter_topic("t", {"max.message.bytes": "1000"})  # lowered after the send
    for _ in range(2):  # (the second flush said nothing, the record gone)
        with pytest.raises(RecordTooLargeError):
            prod.flush()
    assert log.partition("t", 0).log_end_offset == 0


def test_a_send_many_with_one_record_too_large_appends_none(log: Log) -> None:
    # batches before the refused one must not land either: the source runner stores the
    # offsets of earlier polls after such a failure, and a restart would write them again
    log.create_topic("t", 3, {"max.message.bytes": "5000"})
    prod = log.producer(batch_records=10)
    values = [b"v%d" % i for i in range(100)] + [b"x" * 6000]
    keys = [b"k%d" % i for i in range(101)]
    with pytest.raises(RecordTooLargeError):
        prod.send_many("t", values, keys=keys)
    with pytest.raises(RecordTooLargeError):
        prod.send_many("t", values, keys=keys, seq_header=("h", b"p/", 1))
    prod.flush()
    assert [log.partition("t", p).log_end_offset for p in range(3)] == [0, 0, 0]


@pytest.mark.parametrize("compression", ["lz4", "gzip", "zstd"])
def test_a_compressible_record_past_the_limit_is_refused_by_every_send(
    log: Log, compression: str
) -> None:
    # a record is judged uncompressed whichever way it is sent (as the Kafka producer's
    # check): judged on its compressed batch, a source's snapshot (send_many) took a
    # compressible 2 MB row its stream (send, send_packed) was then refused for good
    log.create_topic("t", 1, {"max.message.bytes": "100000", "compression.type": compression})
    prod = log.producer()
    big = b"a" * 200_000
    with pytest.raises(RecordTooLargeError, match="max.message.bytes=100000"):
        prod.send_many("t", [big], keys=[b"k"])
    with pytest.raises(RecordTooLargeError):
        prod.send_many("t", [b"small"] * 5 + [big], keys=[b"k"] * 6, seq_header=("h", b"p/", 1))
    with pytest.raises(RecordTooLargeError):
        prod.send("t", big, key=b"k")
    prod.send_many("t", [b"a" * 90_000] * 3, keys=[b"k"] * 3)  # each fits: taken
    prod.flush()
    assert log.partition("t", 0).log_end_offset == 3


def test_send_many_seq_header(log: Log) -> None:
    log.create_topic("t", 2)
    prod = log.producer(batch_records=7)  # several chunks: each numbered from its start
    prod.send_many("t", [b"%d" % i for i in range(30)], keys=[b"k%d" % i for i in range(30)],
                   seq_header=("hub.source.seq", b"c/1/", 11))  # fmt: skip
    prod.flush()
    got = {}
    for p in range(2):
        for r in log.partition("t", p).records(0)[0]:
            got[r.value] = r.headers
    assert got == {b"%d" % i: (("hub.source.seq", b"c/1/%d" % (11 + i)),) for i in range(30)}


def test_keys_go_to_kafkas_partition(log: Log) -> None:
    log.create_topic("t", 7)
    prod = log.producer()
    keys = [b"key-%d" % i for i in range(500)]
    for k in keys:
        prod.send("t", b"v", key=k)
    prod.flush()
    for p in range(7):
        recs, _ = log.partition("t", p).records(0, 1 << 20)
        assert {r.key for r in recs} == {k for k in keys if default_partition(k, 7) == p}


def test_unkeyed_records_spread_over_partitions(log: Log) -> None:
    log.create_topic("t", 4)
    prod = log.producer(batch_records=100)
    for _ in range(40):
        prod.send_many("t", [b"v"] * 100)
    counts = [log.partition("t", p).log_end_offset for p in range(4)]
    assert sum(counts) == 4000 and min(counts) == 1000  # sticky per batch, round the partitions


def test_clear_errors(log: Log, data_dir: str) -> None:
    with pytest.raises(UnknownTopicError, match="hub topics create nope"):
        log.producer().send("nope", b"x")
    log.create_topic("t", 2)
    with pytest.raises(UnknownPartitionError, match="0..1"):
        log.producer().send("t", b"x", partition=5)
    with pytest.raises(LogLockedError, match="already open here"):
        Log(data_dir)


def test_second_process_cannot_open_for_writing_but_can_read(log: Log, data_dir: str) -> None:
    import subprocess
    import sys

    log.create_topic("t", 1)
    log.producer().send_many("t", [b"hello"], partition=0)
    log.flush()
    code = (
        "import sys\nfrom hub.log import Log, LogLockedError, TopicPartition\n"
        "try:\n    Log(sys.argv[1])\nexcept LogLockedError as e:\n    print('LOCKED', e)\n"
        "r = Log(sys.argv[1], read_only=True)\nc = r.consumer(auto_offset_reset='earliest')\n"
        "c.assign([TopicPartition('t', 0)])\nprint([x.value for x in c.poll(1.0)])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, data_dir], capture_output=True, text=True, check=True,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    ).stdout  # fmt: skip
    where = os.path.abspath(data_dir)
    assert f"LOCKED log directory {where} is locked for writing by process {os.getpid()}" in out
    assert "[b'hello']" in out


def test_concurrent_producers_and_consumers(log: Log) -> None:
    log.create_topic("t", 4)
    n_threads, per_thread = 4, 2000

    def produce(t: int) -> None:
        prod = log.producer()
        for i in range(per_thread):
            prod.send("t", b"%d-%d" % (t, i), key=b"%d-%d" % (t, i % 50))
            if i % 300 == 0:
                prod.flush()
        prod.flush()

    seen: list[list[bytes]] = [[], []]

    def consume(slot: int, group: str) -> None:
        c = log.consumer(group_id=group, auto_offset_reset="earliest")
        c.subscribe(["t"])
        while len(seen[slot]) < n_threads * per_thread:
            seen[slot].extend(r.value for r in c.poll(0.5))
        c.close()

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(n_threads)]
    threads += [threading.Thread(target=consume, args=(s, f"g{s}")) for s in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    expected = {b"%d-%d" % (t, i) for t in range(n_threads) for i in range(per_thread)}
    for s in range(2):  # fan-out: each group got every record exactly once
        assert len(seen[s]) == len(expected) and set(seen[s]) == expected


def test_a_bad_record_is_refused_at_send_and_spoils_nothing(log: Log) -> None:
    log.create_topic("t", 1, {"max.message.bytes": "1000"})
    prod = log.producer()
    for i in range(5):
        prod.send("t", b"good-%d" % i, partition=0)
    with pytest.raises(TypeError, match="value must be bytes or None, not str"):
        prod.send("t", "text", partition=0)  # type: ignore[arg-type]
    with pytest.raises(RecordTooLargeError):
        prod.send("t", b"x" * 5000, partition=0)
    prod.flush()
    recs, _ = log.partition("t", 0).records(0)
    assert [r.value for r in recs] == [b"good-%d" % i for i in range(5)]


def test_reserved_and_suffix_topic_names(data_dir: str) -> None:
    from hub.log import InvalidTopicError

    with Log(data_dir, background=False) as log:
        for bad in (".lock", ".clean_shutdown", ".trash-x"):
            with pytest.raises(InvalidTopicError, match="reserved"):
                log.create_topic(bad, 1)
        log.create_topic("orders-to-delete", 1)
        log.producer().send_many("orders-to-delete", [b"keep me"], partition=0)
        log.flush()
        log.create_topic("gone", 1)
        log.delete_topic("gone")
    with Log(data_dir, background=False) as log:  # a topic named *-delete survives a restart
        assert log.topics() == ["orders-to-delete"]
        assert log.partition("orders-to-delete", 0).log_end_offset == 1


def test_a_topic_has_an_id_of_its_own_incarnation(data_dir: str) -> None:
    """Kept across alters and restarts; another after a delete and create under the same
    name; given to a topic made before ids when the log opens writable; the ids a copy
    continues (hub log import) follow its own, and go with a delete."""

    with Log(data_dir, background=False) as log:
        log.create_topic("t", 1)
        [first] = log.topic_ids("t")
        assert log.describe("t").id == first
        assert log.alter_topic("t", {"retention.ms": 1000}).id == first
        log.continue_topic("t", ["elsewhere", first, "elsewhere"])
        assert log.topic_ids("t") == (first, "elsewhere")
    with Log(data_dir, background=False) as log:
        assert log.topic_ids("t") == (first, "elsewhere")
        log.alter_topic("t", {"retention.ms": 2000})
        assert log.topic_ids("t") == (first, "elsewhere")
        log.delete_topic("t")
        log.create_topic("t", 1)
        [second] = log.topic_ids("t")
        assert second != first
        with pytest.raises(UnknownTopicError):
            log.topic_ids("nope")
    as_made_before_topic_ids(data_dir, "t")
    with Log(data_dir, read_only=True, background=False) as log:
        assert log.topic_ids("t") == ()
    with Log(data_dir, background=False) as log:
        [given] = log.topic_ids("t")
        assert given != second
    with Log(data_dir, background=False) as log:
        assert log.topic_ids("t") == (given,)


def test_segment_ms_counts_from_the_first_record_across_restarts(tmp_path) -> None:
    # (it counted from the process's start: a worker restarted more often than segment.ms
    # never rolled a slow topic by time, and a compacted one's records were never cleaned)
    from hub.log import Log

    d = str(tmp_path / "log")
    old = int(time.time() * 1000) - 120_000
    with Log(d, background=False) as log:
        log.create_topic("c", 1, {"segment.ms": "60000"})
        p = log.producer()
        p.send("c", b"v1", key=b"k", timestamp=old)
        p.flush()
    with Log(d, background=False) as log:
        p = log.producer()
        p.send("c", b"v2", key=b"k")
        p.flush()
        assert log.describe("c").partitions[0].segments == 2
