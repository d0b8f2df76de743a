"""Kafka record batch format v2 (magic 2), byte for byte.

Batch header, big-endian, 61 bytes::

    baseOffset: int64            first offset in the batch (outside the CRC; set on append)
    batchLength: int32           bytes after this field
    partitionLeaderEpoch: int32  outside the CRC
    magic: int8                  2
    crc: uint32                  CRC32C (Castagnoli) of everything from `attributes` to the end
    attributes: int16            bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
                                 bit 3 timestamp type, bit 4 transactional, bit 5 control
    lastOffsetDelta: int32
    firstTimestamp: int64
    maxTimestamp: int64
    producerId: int64            -1
    producerEpoch: int16         -1
    baseSequence: int32          -1
    recordCount: int32
    records                      see hub.log._pycodec; compressed as one block when compressed

Because the base offset is not covered by the CRC, a batch is built and checksummed once by the
producer and only its first 8 bytes are patched when the partition assigns offsets, as Kafka's
broker does.
"""

from __future__ import annotations

import gzip
import importlib.machinery
import importlib.util
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.log import codec
from hub.log.record import Record

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LENGTH_PREFIX = 12  # baseOffset + batchLength: bytes not counted in batchLength
CRC_START = 21  # attributes begin here
MAGIC = 2

_OFFSET = struct.Struct(">q")
_PREFIX = struct.Struct(">qi")

COMPRESSION_CODES = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
COMPRESSION_NAMES = {v: k for k, v in COMPRESSION_CODES.items()}
SUPPORTED_COMPRESSION = ("none", "gzip", "lz4", "zstd")
_COMPRESSION_MASK = 0x07
_CONTROL_FLAG = 0x20


def _crc32c_function() -> Callable[..., int]:
    """The crc32c package's C function, its extension module loaded without the package's
    ``__init__``: that one imports importlib.metadata and argparse (for its command line) and
    reads its own version from the installed metadata, ~16 ms of every hub start here (0.6 ms
    this way). Any surprise in the package's layout falls back to the plain import."""
    try:
        spec = importlib.util.find_spec("crc32c")
        for folder in (spec and spec.submodule_search_locations) or ():
            for name in os.listdir(folder):
                if name.startswith("_crc32c.") and name.endswith(
                    tuple(importlib.machinery.EXTENSION_SUFFIXES)
                ):
                    found = importlib.util.spec_from_file_location(
                        "crc32c._crc32c", os.path.join(folder, name)
                    )
                    if found is None or found.loader is None:
                        continue
                    module = importlib.util.module_from_spec(found)
                    found.loader.exec_module(module)
                    function: Callable[..., int] = module.crc32c
                    if function(b"123456789") == 0xE3069283:  # (the CRC-32C check value)
                        return function
    except Exception:  # noqa: BLE001, S110 - the plain import below says what is wrong
        pass
    import crc32c as package

    return package.crc32c


crc32c = _crc32c_function()


@dataclass(frozen=True, slots=True)
class BatchHeader:
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def size(self) -> int:
        """Bytes the whole batch takes on disk."""
        return self.batch_length + LENGTH_PREFIX

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> str:
        return COMPRESSION_NAMES.get(self.attributes & _COMPRESSION_MASK, "unknown")

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & _CONTROL_FLAG)


class InvalidBatchError(ValueError):
    """A batch that is torn, malformed or fails its CRC. ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def peek_length(buf: Any, pos: int) -> tuple[int, int] | None:
    """``(base_offset, total_size)`` of the batch at ``pos``, or None if fewer than 12 bytes."""
    if len(buf) - pos < LENGTH_PREFIX:
        return None
    base, length = _PREFIX.unpack_from(buf, pos)
    return base, length + LENGTH_PREFIX


def parse_header(
    buf: Any, pos: int = 0, *, check_crc: bool = True, header_only: bool = False
) -> BatchHeader:
    """Parse and validate the batch at ``pos``: magic 2, sane fields, complete, CRC intact.

    ``header_only`` needs just the 61 header bytes in ``buf`` and checks neither completeness
    nor the CRC (use ``verify_crc`` once the whole batch is at hand).
    """
    avail = len(buf) - pos
    if avail < HEADER_SIZE:
        raise InvalidBatchError(f"torn batch header ({avail} of {HEADER_SIZE} bytes)")
    h = BatchHeader(*HEADER.unpack_from(buf, pos))
    if h.magic != MAGIC:
        raise InvalidBatchError(f"unsupported magic {h.magic} (only v2 record batches)")
    if h.batch_length < HEADER_SIZE - LENGTH_PREFIX:
        raise InvalidBatchError(f"batch length {h.batch_length} is shorter than a header")
    if h.record_count < 0 or h.last_offset_delta < 0 or h.base_offset < 0:
        raise InvalidBatchError("negative record count or offsets")
    if header_only:
        return h
    if h.size > avail:
        raise InvalidBatchError(f"torn batch ({avail} of {h.size} bytes present)")
    if check_crc:
        verify_crc(buf, pos, h)
    return h


def verify_crc(buf: Any, pos: int, h: BatchHeader) -> None:
    actual = crc32c(memoryview(buf)[pos + CRC_START : pos + h.size])
    if actual != h.crc:
        raise InvalidBatchError(f"CRC32C mismatch (stored {h.crc:#010x}, computed {actual:#010x})")


def _compress(data: bytes, compression: str) -> bytes:
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "lz4":
        import lz4.frame

        return bytes(lz4.frame.compress(data))
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6)
    raise ValueError(f"unsupported compression {compression!r}")


def _decompress(data: Any, code: int) -> bytes:
    name = COMPRESSION_NAMES.get(code)
    try:
        if name == "zstd":
            import zstandard

            out: bytes = zstandard.ZstdDecompressor().decompressobj().decompress(bytes(data))
            return out
        if name == "lz4":
            import lz4.frame

            return bytes(lz4.frame.decompress(bytes(data)))
        if name == "gzip":
            return gzip.decompress(bytes(data))
    except Exception as exc:  # any codec failure means a bad batch, never a crash
        raise InvalidBatchError(f"cannot decompress {name} records: {exc}") from exc
    raise InvalidBatchError(f"unsupported compression codec {name or code}")


def build_batch_parts(
    records: bytes,
    count: int,
    first_timestamp: int,
    max_timestamp: int,
    compression: str = "none",
    base_offset: int = 0,
    *,
    compressed: bool = False,
) -> tuple[bytearray, bytes]:
    """A checksummed batch as (61-byte header, records section): written with one pwritev,
    the records are never copied into a combined buffer. With ``compressed``, ``records`` is
    the section already compressed with ``compression``."""
    code = COMPRESSION_CODES[compression]
    body = records if code == 0 or compressed else _compress(records, compression)
    header = bytearray(HEADER_SIZE)
    HEADER.pack_into(
        header, 0, base_offset, HEADER_SIZE - LENGTH_PREFIX + len(body), 0, MAGIC, 0,
        code, count - 1, first_timestamp, max_timestamp, -1, -1, -1, count,
    )  # fmt: skip
    crc = crc32c(body, crc32c(memoryview(header)[CRC_START:]))
    struct.pack_into(">I", header, 17, crc)
    return header, body


def build_batch(
    records: bytes,
    count: int,
    first_timestamp: int,
    max_timestamp: int,
    compression: str = "none",
    base_offset: int = 0,
) -> bytearray:
    """Wrap an encoded records section (offset deltas 0..count-1) into a checksummed batch."""
    header, body = build_batch_parts(
        records, count, first_timestamp, max_timestamp, compression, base_offset
    )
    header += body
    return header


def set_base_offset(batch: bytearray, base_offset: int) -> None:
    _OFFSET.pack_into(batch, 0, base_offset)


def records_of(buf: Any, pos: int, header: BatchHeader) -> tuple[Any, int, int]:
    """The (buffer, start, end) of a batch's records section, decompressed if needed."""
    start = pos + HEADER_SIZE
    end = pos + header.size
    code = header.attributes & _COMPRESSION_MASK
    if code == 0:
        return buf, start, end
    data = _decompress(memoryview(buf)[start:end], code)
    return data, 0, len(data)


def decode_batch(
    buf: Any, pos: int, header: BatchHeader, topic: str, partition: int
) -> list[Record]:
    """All records of the batch at ``pos`` (header already parsed and CRC-checked)."""
    if header.is_control:
        return []
    data, start, end = records_of(buf, pos, header)
    try:
        out: list[Record] = codec.decode_records(
            data, start, end, header.record_count, header.base_offset,
            header.first_timestamp, topic, partition, Record,
        )  # fmt: skip
    except ValueError as exc:
        raise InvalidBatchError(f"malformed records: {exc}") from exc
    return out
