"""The records-section codec: the C accelerator when built, else the pure-Python reference.

Both produce identical bytes (tests/log/test_codec.py checks it). ``ACCELERATED`` tells which
one is in use; set ``HUB_PURE_PYTHON=1`` to force the reference implementation.
"""

from __future__ import annotations

import os

from hub.log import _pycodec

ACCELERATED = False
if not os.environ.get("HUB_PURE_PYTHON"):
    try:
        from hub.log import _speedups as _impl  # type: ignore[attr-defined]

        ACCELERATED = True
    except ImportError:  # no compiler at install time: same bytes, slower
        _impl = _pycodec
else:
    _impl = _pycodec

murmur2 = _impl.murmur2
encode_records = _impl.encode_records
partition_encode = _impl.partition_encode
encode_packed = _impl.encode_packed
# LZ4 frames straight from packed records (C only; None with the reference codec)
encode_packed_lz4 = getattr(_impl, "encode_packed_lz4", None)
decode_records = _impl.decode_records
# the runners' per-record attribute work, a batch at a time
slot_columns = _impl.slot_columns
slot_objects = _impl.slot_objects
# what a sink runner reads of every record of a batch: the values' bytes, each partition's
# last offset
value_bytes = _impl.value_bytes
last_offsets = _impl.last_offsets
# whether a value holds NaN or an infinity (which orjson would write as null)
nonfinite = _impl.nonfinite
# JSON documents checked without decoding them, for sinks that write them as they are (C
# only; None with the reference codec: such a sink decodes instead)
json_valid = getattr(_impl, "json_valid", None)
json_lines = getattr(_impl, "json_lines", None)
# a JSON array's elements, each as bytes: a batch of values encoded in one call, then split
# (C only; None with the reference codec: the converters encode one value at a time)
json_split = getattr(_impl, "json_split", None)

__all__ = [
    "ACCELERATED",
    "decode_records",
    "encode_packed",
    "encode_packed_lz4",
    "encode_records",
    "json_lines",
    "json_split",
    "json_valid",
    "last_offsets",
    "murmur2",
    "nonfinite",
    "partition_encode",
    "slot_columns",
    "slot_objects",
    "value_bytes",
]
