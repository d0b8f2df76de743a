"""Producer: partitions, batches, compresses and appends records.

``send`` buffers a record; batches go to the log when ``batch_records`` records are waiting
for a topic or on ``flush``. ``send_many`` appends a whole list at once through the codec's
one-call partition-and-encode path (the fast path: no per-record Python work).

A failed write (disk full) rolls a partition back to its last durable offset; records this
producer appended there since its last ``flush`` are then gone, and the next append to that
partition or ``flush`` raises LogStorageError: send them again (hub's source runner replays
from its last committed offsets).

Partitioning is Kafka's default: a keyed record goes to
``toPositive(murmur2(key)) % partitions``; records without a key stick to one partition per
batch, and the sticky partition moves on after each batch (KIP-480).

Thread safety: all methods may be called from several threads.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hub.log import batch as _batch
from hub.log import codec
from hub.log.errors import (
    KeylessRecordError,
    LogError,
    LogStorageError,
    RecordTooLargeError,
    UnknownPartitionError,
)
from hub.log.record import AppendInfo, Header, Record

if TYPE_CHECKING:
    from hub.log.log import Log
    from hub.log.packed import Packed
    from hub.log.partition import Partition


_BYTES = (bytes, bytearray, memoryview)
LZ4_MAX_SECTION = (4 << 20) - (64 << 10)  # encode_packed_lz4: one LZ4 block's records


def _check_record(
    topic: str,
    key: object,
    value: object,
    headers: Sequence[Header] | None,
    timestamp: object,
    limit: int,
) -> None:
    size = 100  # record and batch overhead
    for name, v in (("key", key), ("value", value)):
        if v is not None and not isinstance(v, _BYTES):
            raise TypeError(f"record for topic {topic!r}: {name} must be bytes or None, "
                            f"not {type(v).__name__} (encode it first)")  # fmt: skip
        size += len(v) if v is not None else 0
    for h in headers or ():
        if (
            not isinstance(h, tuple | list) or len(h) != 2 or not isinstance(h[0], str)
            or not (h[1] is None or isinstance(h[1], _BYTES))
        ):  # fmt: skip
            raise TypeError(
                f"record for topic {topic!r}: headers must be (str, bytes | None) pairs"
            )
        size += len(h[0]) + (len(h[1]) if h[1] is not None else 0)
    if timestamp is not None and (not isinstance(timestamp, int) or isinstance(timestamp, bool)):
        raise TypeError(f"record for topic {topic!r}: timestamp must be int milliseconds")
    if size > limit:
        raise RecordTooLargeError(topic, size, limit)


class _Pending:
    __slots__ = ("keys", "values", "headers", "timestamps", "has_headers")

    def __init__(self) -> None:
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.headers: list[Sequence[Header] | None] = []
        self.timestamps: list[int] = []
        self.has_headers = False


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Producer:
    def __init__(
        self,
        log: Log,
        *,
        compression: str | None = None,
        batch_records: int = 16384,
        max_batch_bytes: int = 1 << 20,
        keyless_partition: int | None = None,
    ) -> None:
        """``keyless_partition``: the partition of every record without a key (sent without
        a partition), so that they stay in order; None: spread as Kafka's producer does."""
        if compression is not None and compression not in _batch.SUPPORTED_COMPRESSION:
            raise ValueError(
                f"compression {compression!r} is not supported; "
                f"use one of {', '.join(_batch.SUPPORTED_COMPRESSION)}"
            )
        self._log = log
        self._compression = compression
        self._keyless = keyless_partition
        self._batch_records = batch_records
        self._max_batch_bytes = max_batch_bytes
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], _Pending] = {}  # partition -1: by key
        self._sticky: dict[str, int] = {}
        # partitions appended to since the last flush, with their epoch at the first append:
        # a moved epoch means a failed write rolled our records back (Partition._roll_back)
        self._touched: dict[Partition, int] = {}
        # once records of this producer were rolled back, it stays failed: a later flush
        # that finds nothing to write must not look like success to a caller that still
        # counts on those records (it would store offsets past them)
        self._failure: LogStorageError | None = None

    def _keyless_partition(self, topic: str, n: int) -> int:
        """The partition of a send's records without a key, of ``n``: ``keyless_partition``,
        else the next one round the topic's partitions from a random start (Kafka's sticky
        partitioner: a batch each)."""
        if self._keyless is not None:
            return self._keyless
        sticky = self._sticky.get(topic)
        if sticky is None or sticky >= n:
            sticky = random.randrange(n)
        self._sticky[topic] = (sticky + 1) % n
        return sticky

    def _codec_for(self, topic: str) -> str:
        configured = self._log.topic(topic).config.compression_type
        if configured != "producer":
            return configured
        return self._compression or "none"

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] | None = None,
        timestamp: int | None = None,
        partition: int | None = None,
    ) -> None:
        """Buffer one record. It reaches the log at the next batch boundary or ``flush``.

        The record is checked here (types, size against the topic's max.message.bytes), so a
        bad one is refused at the call that made it and never spoils the buffered others."""
        t = self._log.topic(topic)
        if partition is not None:
            t.partition(partition)  # validate early
        _check_record(topic, key, value, headers, timestamp, t.config.max_message_bytes)
        if key is None and t.config.compact:
            raise KeylessRecordError(topic)
        with self._lock:
            slot = (topic, -1 if partition is None else partition)
            p = self._pending.get(slot)
            if p is None:
                self._log.topic(topic)
                p = self._pending[slot] = _Pending()
            p.keys.append(key)
            p.values.append(value)
            p.headers.append(headers)
            p.timestamps.append(now_ms() if timestamp is None else timestamp)
            if headers:
                p.has_headers = True
            if len(p.values) >= self._batch_records:
                self._drain(slot)

    def send_many(
        self,
        topic: str,
        values: Sequence[bytes | None],
        keys: Sequence[bytes | None] | None = None,
        headers: Sequence[Sequence[Header] | None] | None = None,
        timestamps: int | Sequence[int] | None = None,
        partition: int | None = None,
        seq_header: tuple[str, bytes, int] | None = None,
    ) -> list[AppendInfo]:
        """Append many records now (not yet durable: see ``flush``). One timestamp for all
        unless a sequence is given. With ``seq_header`` (key, prefix, first_seq) and no
        ``headers``, record i (from 0) gets the one header ``(key, prefix + b"%d" %
        (first_seq + i))``, written by the codec (as ``send_packed``'s). Every batch is
        checked against the topic's max.message.bytes before any is appended."""
        keys = keys if keys is not None else [None] * len(values)
        ts = now_ms() if timestamps is None else timestamps
        with self._lock:
            return self._append(topic, partition, keys, values, headers, ts, seq_header)

    def send_packed(
        self,
        records: Packed,
        topic: str,
        *,
        header_key: str | None = None,
        header_prefix: bytes = b"",
        first_seq: int = 0,
        timestamp: int | None = None,
        partition: int | None = None,
    ) -> list[AppendInfo]:
        """Append packed records now (not yet durable: see ``flush``), partitioned by key as
        ``send_many`` does. With ``header_key``, record i (from 0) gets the one header
        ``(header_key, header_prefix + b"%d" % (first_seq + i))``. The records are encoded in
        one C call and checked against the topic's max.message.bytes before any is appended."""
        if not len(records):
            return []
        t = self._log.topic(topic)
        n = len(t.partitions)
        if partition is not None and not 0 <= partition < n:
            raise UnknownPartitionError(topic, partition, n)
        if records.keys is None and t.config.compact:
            raise KeylessRecordError(topic)
        ts = now_ms() if timestamp is None else timestamp
        with self._lock:
            compression = self._codec_for(topic)
            parts, sticky = 1, 0
            if partition is None:
                sticky = self._keyless_partition(topic, n)
                parts = n
            args = (
                records.values, records.value_ends, records.keys, records.key_ends,
                records.start, records.stop, records.wrap, header_key, header_prefix,
                first_seq, ts, parts, sticky,
            )  # fmt: skip
            # a section is a batch's records: with its header it must fit the topic's
            # max.message.bytes, compressed or not (compression can add a little)
            limit = t.config.max_message_bytes
            budget = self._budget(limit, compression)
            batches = None
            if (
                compression == "lz4" and codec.encode_packed_lz4 is not None
                and not records.compress_bodies
            ):  # fmt: skip
                # LZ4 frames written from the records' structure: the repeated wrap becomes
                # matches, without an uncompressed copy or a compressor's search (~6x faster
                # than encoding then lz4.frame, for about twice lz4.frame's output size)
                got = codec.encode_packed_lz4(
                    *args, min(budget, LZ4_MAX_SECTION), self._batch_records
                )
                if got is not None:
                    batches = self._packed_batches(got, True, compression, limit, topic)
            if batches is None:  # no C codec, another compression, or a frame past the limit
                got = codec.encode_packed(*args, budget, self._batch_records)
                batches = self._packed_batches(got, False, compression, limit, topic)
                if batches is None:
                    raise RecordTooLargeError(topic, got[1] + 100, limit)
            out: list[AppendInfo] = []
            for p, data in batches:  # all checked: nothing is appended if one is too large
                part = t.partitions[partition if partition is not None else p]
                self._appending(part)
                out.append(part.append_batch(data))
            return out

    @staticmethod
    def _packed_batches(
        got: tuple[list[list[tuple[bytes, int, int, int]] | None], int], precompressed: bool,
        compression: str, limit: int, topic: str,
    ) -> list[tuple[int, tuple[bytearray, bytes]]] | None:  # fmt: skip
        """The batches of `codec.encode_packed`'s sections, per partition index; None when
        one is past ``limit`` (max.message.bytes)."""
        sections, largest = got
        if 100 + largest > limit:
            raise RecordTooLargeError(topic, 100 + largest, limit)
        out = []
        for p, encoded in enumerate(sections):
            for records_, count, first_ts, max_ts in encoded or ():
                data = _batch.build_batch_parts(
                    records_, count, first_ts, max_ts, compression, compressed=precompressed
                )
                if len(data[0]) + len(data[1]) > limit:
                    return None
                out.append((p, data))
        return out

    def _append(
        self,
        topic: str,
        partition: int | None,
        keys: Sequence[bytes | None],
        values: Sequence[bytes | None],
        headers: Sequence[Sequence[Header] | None] | None,
        timestamps: int | Sequence[int],
        seq_header: tuple[str, bytes, int] | None = None,
    ) -> list[AppendInfo]:
        t = self._log.topic(topic)
        n = len(t.partitions)
        if partition is not None and not 0 <= partition < n:
            raise UnknownPartitionError(topic, partition, n)
        if t.config.compact and None in keys:
            raise KeylessRecordError(topic)
        compression = self._codec_for(topic)
        # a batch, header included, must fit the topic's max.message.bytes too, compressed or
        # not (as send_packed's): cut by max_batch_bytes alone, records each of which fit
        # made a batch that did not, and the call refused them all
        limit = t.config.max_message_bytes
        budget = self._budget(limit, compression)
        step = self._batch_records
        if len(values) > 1:
            # big records: cut the input so a chunk's batch fits the budget, rather than
            # encoding it whole and splitting it again in _encoded_batches
            # (map/filter: a generator per record cost as much as the values' encoding)
            size = sum(map(len, filter(None, values)))
            size += sum(map(len, filter(None, keys))) + 70 * len(values)
            fit = int(budget * 0.9 * len(values) / max(size, 1))
            step = max(1, min(step, fit))
        batches: list[tuple[Partition, tuple[bytearray, bytes]]] = []
        for start in range(0, len(values), step):
            stop = start + step
            k, v = keys[start:stop], values[start:stop]
            h = headers[start:stop] if headers is not None else None
            ts = timestamps if isinstance(timestamps, int) else timestamps[start:stop]
            sh = None if seq_header is None else (*seq_header[:2], seq_header[2] + start)
            if partition is not None:
                parts: list[tuple[bytes, int, int, int] | None] = [None] * n
                parts[partition] = codec.encode_records(k, v, h, ts, sh)
            else:
                sticky = self._keyless_partition(topic, n)
                parts = codec.partition_encode(k, v, h, ts, n, sticky, sh)
            for p, enc in enumerate(parts):
                if enc is not None:
                    self._encoded_batches(
                        t.partitions[p], enc, compression, batches, budget, topic, limit
                    )
        # all or nothing: a batch past max.message.bytes fails the call before any is appended
        # (a caller that stores offsets after a refused send relies on it)
        for _, data in batches:
            if len(data[0]) + len(data[1]) > limit:
                raise RecordTooLargeError(topic, len(data[0]) + len(data[1]), limit)
        out: list[AppendInfo] = []
        for part, data in batches:
            self._appending(part)
            try:
                out.append(part.append_batch(data))
            except RecordTooLargeError as exc:
                if not out:
                    raise
                # max.message.bytes lowered meanwhile (alter_topic): part of the call is in
                # the log, which a RecordTooLargeError must not leave unsaid
                raise LogError(
                    f"topic {topic!r}: max.message.bytes changed during a send; {len(out)} of "
                    f"its {len(batches)} batches were appended"
                ) from exc
        return out

    def _encoded_batches(
        self,
        part: Partition,
        enc: tuple[bytes, int, int, int],
        compression: str,
        out: list[tuple[Partition, tuple[bytearray, bytes]]],
        budget: int,
        topic: str,
        limit: int,
    ) -> None:
        records, count, first, max_ts = enc
        if count == 1 and len(records) + _batch.HEADER_SIZE > limit - 100:
            # a record is judged uncompressed, by send's measure (and the Kafka backend's):
            # judged on its compressed batch, a compressible record past the limit went in
            # through here and was refused through the others (a snapshot took a row its
            # stream then failed on); a record past the budget is alone here
            (r,) = codec.decode_records(records, 0, len(records), 1, 0, first, "", 0, Record)
            size = 100 + len(r.key or b"") + len(r.value or b"")
            size += sum(len(k) + len(v or b"") for k, v in r.headers or ())
            if size > limit:
                raise RecordTooLargeError(topic, size, limit)
        if len(records) > budget and count > 1:
            # too big for one batch (skewed keys or big values): halve and re-encode
            recs = codec.decode_records(records, 0, len(records), count, 0, first, "", 0, Record)
            for half in (recs[: count // 2], recs[count // 2 :]):
                sub = codec.encode_records(
                    [r.key for r in half],
                    [r.value for r in half],
                    [r.headers for r in half],
                    [r.timestamp for r in half],
                )
                self._encoded_batches(part, sub, compression, out, budget, topic, limit)
            return
        out.append((part, _batch.build_batch_parts(records, count, first, max_ts, compression)))

    def _budget(self, limit: int, compression: str) -> int:
        """The most bytes of records a batch may hold: max_batch_bytes, and with its header
        the topic's max.message.bytes (compression can add a little)."""
        budget = min(self._max_batch_bytes, limit - _batch.HEADER_SIZE)
        if compression != "none":
            budget = int(budget * 0.99) - 64
        return max(budget, 1)

    def _appending(self, part: Partition) -> None:
        """Note an append to ``part``; raise the partition's write error if records this
        producer appended there since its last flush were rolled back meanwhile."""
        if self._failure is not None:
            raise self._failure
        epoch = self._touched.get(part)
        if epoch is None:
            self._touched[part] = part.epoch
        elif epoch != part.epoch:
            assert part.write_error is not None
            self._failure = part.write_error
            raise part.write_error

    def flush(self, durable: bool = True) -> list[AppendInfo]:
        """Append everything buffered; with ``durable`` make durable every partition this
        producer appended to since its last durable flush (``send_many``'s included), sharing
        an fsync already on its way with the log's flusher or other producers. After a
        LogStorageError (records of this producer were rolled back) every later flush and
        append raises it again: a new producer starts afresh."""
        if self._failure is not None:
            raise self._failure
        with self._lock:
            infos: list[AppendInfo] = []
            for slot in list(self._pending):
                infos.extend(self._drain(slot))
            touched = self._touched if durable else dict(self._touched)
            if durable:  # (not durable: a later durable flush still owes them the fsync)
                self._touched = {}
        failed: LogStorageError | None = None
        for part, epoch in touched.items():  # every partition, even after a failure
            try:
                if durable:  # an fsync that is running and covers them will do
                    part.flush_appended()
                else:
                    part.flush(fsync=False)
            except LogStorageError as exc:
                failed = failed or exc
            if failed is None and part.epoch != epoch:  # rolled back by another flush
                failed = part.write_error
        if failed is not None:
            self._failure = failed
            raise failed
        return infos

    def _drain(self, slot: tuple[str, int]) -> list[AppendInfo]:
        p = self._pending.pop(slot, None)
        if p is None or not p.values:
            return []
        topic, partition = slot
        try:
            return self._append(
                topic,
                None if partition < 0 else partition,
                p.keys,
                p.values,
                p.headers if p.has_headers else None,
                p.timestamps,
            )
        except RecordTooLargeError:  # (refused whole, nothing appended: max.message.bytes
            self._pending.setdefault(slot, p)  # lowered since send) kept, not dropped: a
            raise  # later flush must not report the records written

    def close(self) -> None:
        self.flush()
