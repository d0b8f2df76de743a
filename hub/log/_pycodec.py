"""Pure-Python reference codec for the records section of a Kafka v2 record batch.

`hub.log._speedups` (C) implements the same functions byte for byte and is used when it was
built; this module is the fallback and the reference the C code is tested against.

A record (Kafka message format v2), all varints zigzag-encoded::

    length: varint          bytes that follow, up to the end of the record
    attributes: int8        unused, 0
    timestampDelta: varlong timestamp - batch.firstTimestamp
    offsetDelta: varint     offset - batch.baseOffset
    keyLength: varint       -1 for a null key
    key: bytes
    valueLength: varint     -1 for a null value (a tombstone)
    value: bytes
    headerCount: varint
    [headerKeyLength: varint, headerKey: utf-8, headerValueLength: varint, headerValue: bytes]
"""

from __future__ import annotations

import math
import types
from collections.abc import Sequence
from typing import Any

Header = tuple[str, bytes | None]
Encoded = tuple[bytes, int, int, int]  # records bytes, count, first timestamp, max timestamp
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit int."""
    if not isinstance(data, bytes):
        data = memoryview(data).tobytes()  # bytes, not items; TypeError for non-buffers
    length = len(data)
    m = 0x5BD1E995
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    n4 = length & ~3
    for i in range(0, n4, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[n4 + 2] << 16
    if rest >= 2:
        h ^= data[n4 + 1] << 8
    if rest >= 1:
        h ^= data[n4]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def _varint(out: bytearray, value: int) -> None:
    v = (value << 1) ^ (value >> 63)  # zigzag (value fits in 64 bits)
    v &= 0xFFFFFFFFFFFFFFFF
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _bytes(out: bytearray, data: Any) -> None:
    if data is None:
        _varint(out, -1)
        return
    if not isinstance(data, bytes):
        data = memoryview(data).tobytes()  # bytes, not items; TypeError for non-buffers
    _varint(out, len(data))
    out += data


def _encode_one(
    out: bytearray,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[Header] | None,
    ts_delta: int,
    offset_delta: int,
) -> None:
    if not _INT64_MIN <= ts_delta <= _INT64_MAX:
        raise ValueError("timestamp delta does not fit in 64 bits")
    body = bytearray(b"\x00")
    _varint(body, ts_delta)
    _varint(body, offset_delta)
    _bytes(body, key)
    _bytes(body, value)
    if headers:
        _varint(body, len(headers))
        for hkey, hvalue in headers:
            _bytes(body, hkey.encode())
            _bytes(body, hvalue)
    else:
        _varint(body, 0)
    _varint(out, len(body))
    out += body


def _ts(timestamps: int | Sequence[int], i: int) -> int:
    return timestamps if isinstance(timestamps, int) else timestamps[i]


SeqHeader = tuple[str, bytes, int]


def _seq_headers(
    seq_header: SeqHeader | None, headers: Sequence[Sequence[Header] | None] | None, n: int
) -> Sequence[Sequence[Header] | None] | None:
    """The headers ``seq_header`` stands for: record i's one header is
    ``(key, prefix + b"%d" % (first_seq + i))``."""
    if seq_header is None:
        return headers
    if (
        type(seq_header) is not tuple or len(seq_header) != 3
        or not isinstance(seq_header[0], str) or type(seq_header[1]) is not bytes
        or not isinstance(seq_header[2], int)
    ):  # fmt: skip
        raise TypeError("seq_header must be a (str, bytes, int) tuple or None")
    if headers is not None:
        raise ValueError("seq_header needs headers=None")
    key, prefix, first = seq_header
    if not 0 <= first <= _INT64_MAX - n:
        raise ValueError("seq_header's first seq out of range")
    return [((key, prefix + b"%d" % (first + i)),) for i in range(n)]


def encode_records(
    keys: Sequence[bytes | None],
    values: Sequence[bytes | None],
    headers: Sequence[Sequence[Header] | None] | None,
    timestamps: int | Sequence[int],
    seq_header: SeqHeader | None = None,
) -> Encoded:
    """Encode records with offset deltas 0..n-1; timestamps is one int or one per record.
    With ``seq_header`` (key, prefix, first_seq) and no ``headers``, record i gets the one
    header ``(key, prefix + b"%d" % (first_seq + i))``."""
    n = len(values)
    if len(keys) != n or (headers is not None and len(headers) != n):
        raise ValueError("keys, values and headers must have the same length")
    if not isinstance(timestamps, int) and len(timestamps) != n:
        raise ValueError("timestamps must be an int or have one entry per record")
    if n == 0:
        return b"", 0, -1, -1
    headers = _seq_headers(seq_header, headers, n)
    first = _ts(timestamps, 0)
    max_ts = first
    out = bytearray()
    for i in range(n):
        ts = _ts(timestamps, i)
        if not _INT64_MIN <= ts <= _INT64_MAX:
            raise ValueError("timestamp does not fit in 64 bits")
        max_ts = max(max_ts, ts)
        _encode_one(out, keys[i], values[i], headers[i] if headers else None, ts - first, i)
    return bytes(out), n, first, max_ts


def partition_encode(
    keys: Sequence[bytes | None],
    values: Sequence[bytes | None],
    headers: Sequence[Sequence[Header] | None] | None,
    timestamps: int | Sequence[int],
    num_partitions: int,
    sticky: int,
    seq_header: SeqHeader | None = None,
) -> list[Encoded | None]:
    """Split records by Kafka's default partitioner and encode each partition's share.

    A keyed record goes to ``(murmur2(key) & 0x7fffffff) % num_partitions``; a record without a
    key goes to ``sticky``. Returns one entry per partition, None where it got no record.
    ``seq_header`` as in `encode_records`, numbered in the input's order.
    """
    n = len(values)
    if len(keys) != n or (headers is not None and len(headers) != n):
        raise ValueError("keys, values and headers must have the same length")
    if not isinstance(timestamps, int) and len(timestamps) != n:
        raise ValueError("timestamps must be an int or have one entry per record")
    if num_partitions <= 0 or not 0 <= sticky < num_partitions:
        raise ValueError("num_partitions must be positive and sticky a valid partition")
    if n:
        headers = _seq_headers(seq_header, headers, n)
    groups: list[list[int]] = [[] for _ in range(num_partitions)]
    for i, key in enumerate(keys):
        p = sticky if key is None else (murmur2(key) & 0x7FFFFFFF) % num_partitions
        groups[p].append(i)
    result: list[Encoded | None] = []
    for idx in groups:
        if not idx:
            result.append(None)
            continue
        result.append(
            encode_records(
                [keys[i] for i in idx],
                [values[i] for i in idx],
                [headers[i] for i in idx] if headers is not None else None,
                timestamps if isinstance(timestamps, int) else [timestamps[i] for i in idx],
            )
        )
    return result


def _packed_item(buf: bytes | None, ends: Any, i: int, head: bytes, tail: bytes) -> bytes | None:
    if buf is None:
        return None
    lo = ends[i - 1] if i > 0 else 0
    hi = ends[i]
    if not 0 <= lo <= hi <= len(buf):
        raise ValueError("packed ends out of order or past their buffer")
    return head + buf[lo:hi] + tail


def encode_packed(
    values: bytes,
    value_ends: Any,
    keys: bytes | None,
    key_ends: Any,
    start: int,
    stop: int,
    wrap: tuple[bytes, bytes, bytes, bytes],
    header_key: str | None,
    header_prefix: bytes,
    first_seq: int,
    timestamp: int,
    num_partitions: int,
    sticky: int,
    max_bytes: int,
    max_count: int,
) -> tuple[list[list[Encoded] | None], int]:
    """Encode records ``start..stop-1`` of packed buffers (`hub.log.packed.Packed`).

    Record i's value is ``wrap[0] + values[value_ends[i-1]:value_ends[i]] + wrap[1]`` (from 0
    for i = 0; the ends are native int64 arrays) and its key likewise from ``keys`` between
    ``wrap[2]`` and ``wrap[3]``, or None for all when ``keys`` is None. Each record gets one
    header, ``(header_key, header_prefix + b"%d" % (first_seq + i - start))``, unless
    ``header_key`` is None, and ``timestamp``. Records are partitioned as `partition_encode`
    does, and each partition's share is cut in order into records sections of at most
    ``max_count`` records and ``max_bytes`` bytes (a single record may be bigger).

    Returns (per partition its sections as `encode_records` gives them, or None, the largest
    record's key + value + header bytes)."""
    if num_partitions <= 0 or not 0 <= sticky < num_partitions:
        raise ValueError("num_partitions must be positive and sticky a valid partition")
    if max_count <= 0:
        raise ValueError("max_count must be positive")
    vends = memoryview(value_ends).cast("B").cast("q")
    kends = memoryview(key_ends).cast("B").cast("q") if keys is not None else None
    if not 0 <= start <= stop <= len(vends) or (kends is not None and len(kends) != len(vends)):
        raise ValueError("start and stop must lie within the packed records")
    if not _INT64_MIN <= timestamp <= _INT64_MAX:
        raise ValueError("timestamp does not fit in 64 bits")
    parts: list[list[Encoded] | None] = [None] * num_partitions
    current: list[tuple[bytearray, int] | None] = [None] * num_partitions
    hkey = header_key.encode() if header_key is not None else b""
    largest = 0
    for i in range(start, stop):
        value = _packed_item(values, vends, i, wrap[0], wrap[1])
        key = _packed_item(keys, kends, i, wrap[2], wrap[3])
        assert value is not None
        headers: list[Header] | None = None
        size = len(value) + (len(key) if key is not None else 0)
        if header_key is not None:
            hv = header_prefix + b"%d" % (first_seq + i - start)
            headers = [(header_key, hv)]
            size += len(hkey) + len(hv)
        largest = max(largest, size)
        p = sticky if key is None else (murmur2(key) & 0x7FFFFFFF) % num_partitions
        cur = current[p]
        buf, count = cur if cur is not None else (bytearray(), 0)
        rec = bytearray()
        _encode_one(rec, key, value, headers, 0, count)
        if count and (count >= max_count or len(buf) + len(rec) > max_bytes):
            sections = parts[p] = parts[p] or []
            sections.append((bytes(buf), count, timestamp, timestamp))
            buf, count, rec = bytearray(), 0, bytearray()
            _encode_one(rec, key, value, headers, 0, 0)
        buf += rec
        current[p] = (buf, count + 1)
    for p, cur in enumerate(current):
        if cur is not None:
            sections = parts[p] = parts[p] or []
            sections.append((bytes(cur[0]), cur[1], timestamp, timestamp))
    return parts, largest


def _read_varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    shift = 0
    raw = 0
    while True:
        if pos >= end:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        raw |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
    return (raw >> 1) ^ -(raw & 1), pos


def _read_bytes(buf: Any, pos: int, end: int) -> tuple[bytes | None, int]:
    length, pos = _read_varint(buf, pos, end)
    if length < 0:
        if length != -1:
            raise ValueError("negative length")
        return None, pos
    if pos + length > end:
        raise ValueError("length past the end of the record")
    return bytes(buf[pos : pos + length]), pos + length


def decode_records(
    buf: Any,
    pos: int,
    end: int,
    count: int,
    base_offset: int,
    first_timestamp: int,
    topic: str,
    partition: int,
    cls: Any,
) -> list[Any]:
    """Decode ``count`` records from ``buf[pos:end]`` into ``cls(topic, partition, offset,
    timestamp, key, value, headers)`` tuples. Raises ValueError on any malformation."""
    if not 0 <= pos <= end <= len(buf):
        raise ValueError("records section outside the buffer")
    out = []
    for _ in range(count):
        length, pos = _read_varint(buf, pos, end)
        rec_end = pos + length
        if length < 1 or rec_end > end:
            raise ValueError("record length past the end of the batch")
        pos += 1  # attributes
        ts_delta, pos = _read_varint(buf, pos, rec_end)
        off_delta, pos = _read_varint(buf, pos, rec_end)
        key, pos = _read_bytes(buf, pos, rec_end)
        value, pos = _read_bytes(buf, pos, rec_end)
        nh, pos = _read_varint(buf, pos, rec_end)
        if nh < 0:
            raise ValueError("negative header count")
        headers: tuple[Header, ...] = ()
        if nh:
            hs = []
            for _h in range(nh):
                hk, pos = _read_bytes(buf, pos, rec_end)
                if hk is None:
                    raise ValueError("null header key")
                hv, pos = _read_bytes(buf, pos, rec_end)
                hs.append((hk.decode(), hv))
            headers = tuple(hs)
        if pos != rec_end:
            raise ValueError("record length does not match its contents")
        out.append(
            cls(
                topic,
                partition,
                base_offset + off_delta,
                first_timestamp + ts_delta,
                key,
                value,
                headers,
            )
        )
    if pos != end:
        raise ValueError("trailing bytes after the last record")
    return out


def _members(cls: type, names: tuple[str, ...]) -> list[Any]:
    """The member descriptors (``__slots__``) ``names`` of ``cls``, in order."""
    out = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError("slot names must be str")
        d = next((c.__dict__[name] for c in cls.__mro__ if name in c.__dict__), None)
        if not isinstance(d, types.MemberDescriptorType):
            raise TypeError(f"{cls.__name__}.{name} is not a __slots__ member")
        if not issubclass(cls, d.__objclass__):
            raise TypeError(f"{cls.__name__}.{name} is another class's slot")
        out.append(d)
    return out


def nonfinite(obj: Any, depth: int = 0) -> bool:
    """Whether ``obj`` holds a float that is NaN or infinite, itself or in dict values and
    list or tuple items at any depth (True also past a depth of 256, where orjson stops)."""
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if not isinstance(obj, dict | list | tuple):
        return False
    if depth > 256:
        return True
    items = obj.values() if isinstance(obj, dict) else obj
    return any(nonfinite(x, depth + 1) for x in items)


def slot_columns(objects: list[Any], cls: type, names: tuple[str, ...]) -> list[list[Any]] | None:
    """The values of the ``__slots__`` members ``names`` of every object in the list
    ``objects``, one list per name; None when an object is not exactly of type ``cls`` or one
    of those slots is unset (what the runners read of records a batch at a time)."""
    if type(objects) is not list or not isinstance(cls, type) or type(names) is not tuple:
        raise TypeError("slot_columns(list, type, tuple of str)")
    members = _members(cls, names)
    if any(type(o) is not cls for o in objects):
        return None
    try:
        return [[d.__get__(o, cls) for o in objects] for d in members]
    except AttributeError:  # an unset slot
        return None


def slot_objects(cls: type, names: tuple[str, ...], columns: tuple[list[Any], ...]) -> list[Any]:
    """Objects of ``cls`` whose ``__slots__`` members ``names`` hold ``columns``' values (one
    list a name), without calling ``__init__``: for plain slots classes (a dataclass without
    ``__post_init__``)."""
    if (
        not isinstance(cls, type) or type(names) is not tuple or type(columns) is not tuple
        or len(names) != len(columns) or not names
    ):  # fmt: skip
        raise TypeError("slot_objects(type, tuple of str, tuple of lists of the same size)")
    if cls.__new__ is not object.__new__:  # type: ignore[comparison-overlap]
        raise TypeError(f"{cls.__name__} has its own __new__")
    if any(type(c) is not list or len(c) != len(columns[0]) for c in columns):
        raise TypeError("slot_objects: columns must be lists of one size")
    descriptors = _members(cls, names)
    out: list[Any] = []
    for i in range(len(columns[0])):
        o: Any = object.__new__(cls)
        for d, c in zip(descriptors, columns, strict=True):
            d.__set__(o, c[i])
        out.append(o)
    return out


def value_bytes(records: list[Any]) -> int:
    """The sum of the lengths of the records' values (item 5 of each tuple; None counts 0)."""
    return sum(len(r[5]) for r in records if r[5] is not None)


def last_offsets(records: list[Any]) -> dict[tuple[Any, Any], Any]:
    """{(topic, partition): offset} of the last record of each partition (items 0, 1, 2)."""
    return {(r[0], r[1]): r[2] for r in records}
